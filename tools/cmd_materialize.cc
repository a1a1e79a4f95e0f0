// strata materialize UPPER --lower L --workdir W: chunked files become plain.
#include <fcntl.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fs/chunked/chunked_file.h"
#include "fs/options/mount_options.h"
#include "fs/sys/syscalls.h"
#include "tools/cli_flags.h"
#include "tools/commands.h"
#include "tools/json_writer.h"
#include "tools/progress.h"

namespace strata::tools {

namespace {

constexpr const char* kName = "materialize";

constexpr FlagSpec kFlags[] = {{"help", false, 'h'},  {"json", false, 'j'},
                               {"no-progress", false, 0}, {"lower", true, 'l'},
                               {"workdir", true, 'w'}};

void PrintHelp() {
  std::printf(
      "usage: strata materialize UPPER --lower TOP:...:BOTTOM --workdir WORK [--json]\n\n"
      "Turns every file of UPPER that a 'copyup=chunked' mount copied up in chunks\n"
      "into a plain file (the missing chunks are copied from the lower layers and\n"
      "strata's metadata is removed), so the upper can be committed or mounted by\n"
      "kernel overlayfs. Run it on an unmounted stack. WORK is the workdir of the\n"
      "mounts that wrote UPPER (it holds the chunk maps).\n\n"
      "Options:\n"
      "  -l, --lower L      the lower layers, top first ('\\:' escapes a colon)\n"
      "  -w, --workdir W    the workdir of the stack\n"
      "  -j, --json         JSON summary\n"
      "      --no-progress  never draw a progress bar\n"
      "  -h, --help         this text\n");
}

Result<UniqueFd> OpenDir(const std::string& path) {
  return sys::OpenAt(AT_FDCWD, path.c_str(), O_RDONLY | O_DIRECTORY);
}

}  // namespace

int RunMaterialize(int argc, char** argv) {
  int exit_code = 0;
  auto flags = ParseCommandLine(argc, argv, kName, kFlags, PrintHelp, &exit_code);
  if (!flags) return exit_code;
  std::string error;
  if (flags->positional.size() != 1) return UsageError(kName, "expected one UPPER (see --help)");
  if (!flags->has("lower")) return UsageError(kName, "--lower is required");
  if (!flags->has("workdir")) return UsageError(kName, "--workdir is required");
  if (flags->has("no-progress")) Progress::SetEnabled(false);
  const std::string upper_path = flags->positional[0];
  auto upper = OpenDir(upper_path);
  if (!upper.ok()) return Failure(kName, "'" + upper_path + "': " + std::strerror(upper.error()));
  auto work = OpenDir(flags->get("workdir"));
  if (!work.ok())
    return Failure(kName, "'" + flags->get("workdir") + "': " + std::strerror(work.error()));
  std::vector<UniqueFd> lowers;
  std::vector<int> lower_fds;
  for (const auto& l : SplitLowerdirs(flags->get("lower"))) {
    auto fd = OpenDir(l);
    if (!fd.ok()) return Failure(kName, "'" + l + "': " + std::strerror(fd.error()));
    lower_fds.push_back(fd->get());
    lowers.push_back(std::move(*fd));
  }
  Progress progress("materialize " + upper_path, 0, true);
  uint64_t done_bytes = 0, total_bytes = 0;
  Status s = chunked::MaterializeTree(upper->get(), lower_fds, work->get(),
                                      [&](uint64_t done, uint64_t total) {
                                        done_bytes = done;
                                        total_bytes = total;
                                        progress.SetTotal(total);
                                        progress.Set(done);
                                      });
  progress.Finish();
  if (!s.ok()) return Failure(kName, "'" + upper_path + "': " + std::strerror(s.error()));
  if (flags->has("json")) {
    JsonWriter w;
    w.BeginObject().Field("upper", upper_path).Field("copied_bytes", done_bytes).EndObject();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("materialized %s: %.1f MiB copied from the lower layers\n", upper_path.c_str(),
                done_bytes / 1048576.0);
  }
  (void)total_bytes;
  return 0;
}

}  // namespace strata::tools
