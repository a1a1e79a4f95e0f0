// Fuzz target: the chunked copy-up state read back at open (fs/chunked,
// FORMAT.md): the `user.strata.chunked` xattr text (ChunkedXattr::Decode) and
// the map file `ID.map` (ChunkMapFile::Open), chained the way the daemon
// chains them: the decoded xattr names the map and gives its chunk count.
//
// Input: XATTR '\n' MAP. The map bytes are written to STATE/ID.map in a
// scratch directory (no '\n': no map file). Checks beyond "no crash":
//   - a decoded xattr is within the format: 32 hex digits of id, a chunk size
//     the writer accepts, a size a file can have (so the chunk count neither
//     overflows nor wraps), nanoseconds below one second, a relative path;
//     and Decode(Encode(x)) gives x back;
//   - Open: no map file gives "no map"; a map it accepts gives one presence
//     byte per chunk, each 0, 1 or 2 and equal to the file's byte (a 2 may be
//     reset to 0: pending bytes of another boot), lower_chunks <= chunk_count;
//     opening again gives the same result (what Open rewrote is valid);
//     a refused map is left as it was (Open writes nothing before it accepts).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fs/chunked/chunk_map.h"
#include "fs/layer/work_dir.h"

namespace {

using strata::chunked::ChunkedXattr;
using strata::chunked::ChunkMapFile;

[[noreturn]] void Violation(const std::string& what) {
  std::fprintf(stderr, "invariant violated: %s\n", what.c_str());
  std::abort();
}

// Maps larger than this are the caller's memory decision (one byte per
// chunk is held in memory), not the decoder's: not exercised here.
constexpr uint64_t kMaxChunksTried = 1 << 20;

const std::string& Scratch() {
  static const std::string dir = [] {
    // Under $TMPDIR (run_fuzzer.sh points it at a directory it removes, as
    // libFuzzer may end the process without running atexit handlers).
    const char* tmp = std::getenv("TMPDIR");
    std::string t = std::string(tmp && *tmp ? tmp : "/tmp") + "/strata-fuzz-chunkmap-XXXXXX";
    std::string d = ::mkdtemp(t.data()) ? t : "";
    std::atexit([] { (void)strata::layer::RemoveTree(AT_FDCWD, Scratch().c_str()); });
    return d;
  }();
  return dir;
}

std::string ReadAll(int dir, const std::string& name) {
  int fd = ::openat(dir, name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Violation("cannot read back the map file");
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

void CheckDecoded(const ChunkedXattr& x) {
  if (x.id.size() != 32) Violation("id of " + std::to_string(x.id.size()) + " characters");
  for (char c : x.id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) Violation("id not lowercase hex: " + x.id);
  // The writer (InitChunkedCopy) only records multiples of 4 KiB up to 1 GiB.
  if (x.chunk_size < 4096 || x.chunk_size > (1u << 30) || x.chunk_size % 4096 != 0)
    Violation("chunk size the writer never records: " + std::to_string(x.chunk_size));
  if (x.lower_size > static_cast<uint64_t>(INT64_MAX))
    Violation("lower size no file can have: " + std::to_string(x.lower_size));
  const uint64_t n = x.chunk_count();
  if (n != x.lower_size / x.chunk_size + (x.lower_size % x.chunk_size != 0))
    Violation("chunk count " + std::to_string(n) + " wrong for size " + std::to_string(x.lower_size));
  if (x.lower_mtime_nsec < 0 || x.lower_mtime_nsec >= 1000000000)
    Violation("mtime nanoseconds out of range: " + std::to_string(x.lower_mtime_nsec));
  if (x.lower_relpath.empty() || x.lower_relpath.front() == '/' ||
      x.lower_relpath.find('\0') != std::string::npos)
    Violation("origin path not relative: '" + x.lower_relpath + "'");
  auto again = ChunkedXattr::Decode(x.Encode());
  if (!again.ok()) Violation("Decode(Encode(x)) refused");
  if (again->id != x.id || again->chunk_size != x.chunk_size || again->lower_size != x.lower_size ||
      again->lower_ino != x.lower_ino || again->lower_mtime_sec != x.lower_mtime_sec ||
      again->lower_mtime_nsec != x.lower_mtime_nsec || again->lower_relpath != x.lower_relpath)
    Violation("Decode(Encode(x)) != x");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& root = Scratch();
  if (root.empty() || size > (1 << 16)) return 0;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string xattr = input.substr(0, nl);

  auto x = ChunkedXattr::Decode(xattr);
  if (!x.ok()) {
    if (x.error() != EIO) Violation("Decode failed with errno " + std::to_string(x.error()));
    return 0;
  }
  CheckDecoded(*x);
  const uint64_t chunk_count = x->chunk_count();
  if (chunk_count > kMaxChunksTried) return 0;

  const std::string state = root + "/state";
  (void)strata::layer::RemoveTree(AT_FDCWD, state.c_str());
  if (::mkdir(state.c_str(), 0700) != 0) Violation("cannot make the state directory");
  const int dir = ::open(state.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) Violation("cannot open the state directory");
  const std::string name = x->id + ".map";
  std::string map;
  const bool has_map = nl != std::string::npos;
  if (has_map) {
    map = input.substr(nl + 1);
    int fd = ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, map.data(), map.size()) != static_cast<ssize_t>(map.size()))
      Violation("cannot write the map file");
    ::close(fd);
  }

  std::vector<uint8_t> present;
  uint64_t lower_chunks = 0;
  auto opened = ChunkMapFile::Open(dir, x->id, chunk_count, &present, &lower_chunks);
  if (!opened.ok()) {
    if (!has_map) Violation("Open failed without a map file");
    if (ReadAll(dir, name) != map) Violation("a refused map was modified");
  } else if (!opened->has_value()) {
    if (has_map) Violation("an existing map reported as missing");
  } else {
    if (!has_map) Violation("a map reported without a file");
    if (present.size() != chunk_count) Violation("presence vector of the wrong size");
    if (lower_chunks > chunk_count) Violation("lower_chunks above chunk_count");
    for (uint64_t i = 0; i < chunk_count; ++i) {
      const uint8_t b = present[i];
      const uint64_t off = strata::chunked::kHeaderSize + i;
      const uint8_t in_file = off < map.size() ? static_cast<uint8_t>(map[off]) : 0;
      if (b > strata::chunked::kChunkPending) Violation("presence byte " + std::to_string(b));
      if (b != in_file && !(in_file == strata::chunked::kChunkPending && b == strata::chunked::kChunkMissing))
        Violation("presence byte " + std::to_string(i) + " is " + std::to_string(b) + ", the file has " +
                  std::to_string(in_file));
    }
    opened->reset();
    std::vector<uint8_t> present2;
    uint64_t lower_chunks2 = 0;
    auto again = ChunkMapFile::Open(dir, x->id, chunk_count, &present2, &lower_chunks2);
    if (!again.ok() || !again->has_value()) Violation("a map Open accepted (and rewrote) is refused next time");
    if (present2 != present || lower_chunks2 != lower_chunks) Violation("a second Open reads something else");
  }
  ::close(dir);
  return 0;
}
