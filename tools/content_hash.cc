#include "tools/content_hash.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>

#include "fs/sys/syscalls.h"

namespace strata::tools {

namespace {

// Large enough to amortize the syscall, small enough to stay in L2 so the
// hash reads what read() just wrote while it is still cached.
constexpr size_t kReadChunk = 256 * 1024;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace

std::string HashBytes(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  return std::string(reinterpret_cast<const char*>(c.digest), sizeof c.digest);
}

std::string HashHex(XXH128_hash_t h) {
  static const char kHex[] = "0123456789abcdef";
  std::string bytes = HashBytes(h);
  std::string out;
  out.reserve(32);
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Result<XXH128_hash_t> HashFd(int fd, const std::function<void(uint64_t)>& on_bytes) {
  std::unique_ptr<char, FreeDeleter> buf(static_cast<char*>(std::aligned_alloc(4096, kReadChunk)));
  if (!buf) return Errno(ENOMEM);
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), XXH3_freeState);
  if (!state) return Errno(ENOMEM);
  XXH3_128bits_reset(state.get());
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kReadChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::Last();
    }
    if (n == 0) break;
    XXH3_128bits_update(state.get(), buf.get(), static_cast<size_t>(n));
    if (on_bytes) on_bytes(static_cast<uint64_t>(n));
  }
  return XXH3_128bits_digest(state.get());
}

void HashFiles(int root_fd, std::vector<FileToHash>& files, unsigned threads,
               const std::function<void(uint64_t)>& on_bytes) {
  // Largest first, so one big file does not start last and finish alone.
  std::vector<size_t> order(files.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return files[a].size > files[b].size; });

  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (;;) {
      size_t k = next.fetch_add(1);
      if (k >= order.size()) return;
      FileToHash& f = files[order[k]];
      auto fd = sys::OpenBeneath(root_fd, f.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NOCTTY);
      if (!fd.ok()) {
        f.error = fd.error();
        continue;
      }
      ::posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
      auto h = HashFd(fd->get(), on_bytes);
      if (!h.ok()) f.error = h.error();
      else f.hash = *h;
    }
  };

  if (threads == 0) threads = std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
  uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  // Threads only pay off with real work to share.
  constexpr uint64_t kParallelThreshold = 4 << 20;
  if (total < kParallelThreshold || files.size() < 2) threads = 1;
  threads = static_cast<unsigned>(std::min<size_t>(threads, files.size()));
  if (threads <= 1) {
    worker();
    return;
  }
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
}

}  // namespace strata::tools
