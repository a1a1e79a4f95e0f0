// Fuzz target: whiteout / opaque decoding and the merged view built on it
// (fs/layer: ReadDirMarkers, IsXattrWhiteout, Resolve, ListMerged).
//
// The input describes two lower layers: a list of entries (layer, kind, name,
// xattr value) made for real in a scratch directory (device whiteouts, `.wh.`
// files, opaque markers in every namespace with fuzzed values, xattr-marked
// whiteouts, symlinks). Checks beyond "no crash":
//   - the merged listing has no duplicate and no `.wh.`-prefixed name;
//   - lookup and listing agree: a name resolves iff it is listed;
//   - metadata names (`.wh.X`, `.wh..wh..opq`) never resolve.
// Needs root (mknod of 0/0 devices, trusted.* xattrs).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "fs/layer/layer.h"
#include "fs/layer/merged_dir.h"
#include "fs/layer/resolver.h"
#include "fs/layer/whiteout.h"
#include "fs/layer/work_dir.h"

namespace {

using strata::layer::DirInstance;

[[noreturn]] void Violation(const std::string& what) {
  std::fprintf(stderr, "invariant violated: %s\n", what.c_str());
  std::abort();
}

const std::string& Scratch() {
  static const std::string dir = [] {
    // Under $TMPDIR (run_fuzzer.sh points it at a directory it removes, as
    // libFuzzer may end the process without running atexit handlers).
    const char* tmp = std::getenv("TMPDIR");
    std::string t = std::string(tmp && *tmp ? tmp : "/tmp") + "/strata-fuzz-XXXXXX";
    std::string d = ::mkdtemp(t.data()) ? t : "";
    std::atexit([] { (void)strata::layer::RemoveTree(AT_FDCWD, Scratch().c_str()); });
    return d;
  }();
  return dir;
}

const char* const kNames[] = {"a", "b", "c", "d", ".wh.a", ".wh.b", ".wh.d", ".wh..wh..opq",
                              "d/a", "d/b", "d/.wh.a", "d/.wh..wh..opq", "d/c"};
const char* const kLookups[] = {"a", "b", "c", "d", ".wh.a", ".wh..wh..opq", ".wh.", "e"};

void Build(const std::string& root, const uint8_t* data, size_t size) {
  size_t i = 0;
  auto next = [&]() -> uint8_t { return i < size ? data[i++] : 0; };
  while (i + 3 <= size) {
    const std::string layer = root + (next() & 1 ? "/l2" : "/l1");
    const unsigned kind = next() % 10;
    const std::string rel = kNames[next() % (sizeof kNames / sizeof *kNames)];
    const std::string p = layer + "/" + rel;
    if (rel.rfind("d/", 0) == 0) ::mkdir((layer + "/d").c_str(), 0755);
    std::string value;
    if (kind >= 6) {
      const unsigned len = next() % 4;
      for (unsigned k = 0; k < len; ++k) value.push_back(static_cast<char>(next() % 4 == 0 ? 'y' : next()));
    }
    switch (kind) {
      case 0: { int fd = ::open(p.c_str(), O_CREAT | O_WRONLY, 0644); if (fd >= 0) ::close(fd); break; }
      case 1: { int fd = ::open(p.c_str(), O_CREAT | O_WRONLY, 0644); if (fd >= 0) { (void)!::write(fd, "x", 1); ::close(fd); } break; }
      case 2: ::mkdir(p.c_str(), 0755); break;
      case 3: ::mknod(p.c_str(), S_IFCHR, makedev(0, 0)); break;
      case 4: ::mknod(p.c_str(), S_IFCHR | 0644, makedev(1, 3)); break;
      case 5: ::symlink("a", p.c_str()); break;
      case 6: case 7: case 8: {
        static const char* const kOpaque[] = {"trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"};
        const std::string target = rel.find('/') != std::string::npos || rel == "d" ? layer + "/d" : layer;
        ::lsetxattr(target.c_str(), kOpaque[kind - 6], value.data(), value.size(), 0);
        break;
      }
      case 9: {
        int fd = ::open(p.c_str(), O_CREAT | O_WRONLY, 0644);
        if (fd >= 0) ::close(fd);
        ::lsetxattr(p.c_str(), value.size() % 2 ? "user.overlay.whiteout" : "trusted.overlay.whiteout", "", 0, 0);
        break;
      }
    }
  }
}

// Checks one merged directory; recurses into "d" once.
void Check(const strata::layer::LayerStack& stack, std::span<const DirInstance> parent, int depth) {
  auto listed = strata::layer::ListMerged(stack, parent);
  if (!listed.ok()) return;
  std::set<std::string> names;
  for (const auto& e : *listed) {
    if (!names.insert(e.name).second) Violation("listed twice: " + e.name);
    if (e.name.rfind(".wh.", 0) == 0) Violation("metadata name listed: " + e.name);
  }
  for (const char* name : kLookups) {
    auto r = strata::layer::Resolve(stack, parent, name);
    if (!r.ok()) continue;
    const bool found = r->has_value();
    if (found && std::string(name).rfind(".wh.", 0) == 0) Violation(std::string("metadata name resolves: ") + name);
    if (found != (names.count(name) == 1))
      Violation(std::string(name) + (found ? " resolves but is not listed" : " is listed but does not resolve"));
    if (found && depth == 0 && std::string(name) == "d" && S_ISDIR((*r)->st.st_mode))
      Check(stack, (*r)->dirs, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& root = Scratch();
  if (root.empty() || size > 4096) return 0;
  (void)strata::layer::RemoveTree(AT_FDCWD, (root + "/l1").c_str());
  (void)strata::layer::RemoveTree(AT_FDCWD, (root + "/l2").c_str());
  ::mkdir((root + "/l1").c_str(), 0755);
  ::mkdir((root + "/l2").c_str(), 0755);
  Build(root, data, size);

  std::string error;
  auto stack = strata::layer::LayerStack::Open({root + "/l1", root + "/l2"}, "", "", &error);
  if (!stack) Violation("two plain lower directories refused: " + error);
  std::vector<DirInstance> parent;
  for (int l = 0; l < 2; ++l) {
    auto inst = strata::layer::OpenDirInstance(l, stack->at(l).root.get(), ".");
    if (!inst.ok()) Violation("cannot open a layer root");
    const bool opaque = inst->markers.opaque;
    parent.push_back(std::move(*inst));
    if (opaque) break;
  }
  Check(*stack, parent, 0);
  return 0;
}
