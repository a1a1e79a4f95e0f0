// XXH3-128 of file contents, one file or many files in parallel.
#pragma once

#include <xxhash.h>
// On x86-64, Debian's libxxhash exports runtime-dispatched XXH3 (SSE2, AVX2 or
// AVX-512, whichever the CPU has); the header maps the XXH3 names onto them.
// Same hash values, about twice the speed of the SSE2 baseline build.
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>
#endif

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fs/base/result.h"

namespace strata::tools {

// Canonical (big-endian) bytes of a 128-bit hash and their lowercase hex.
std::string HashBytes(XXH128_hash_t h);
std::string HashHex(XXH128_hash_t h);

// Hashes everything readable from `fd` (from its current offset to EOF).
// `on_bytes` is told how much was read, for progress bars.
Result<XXH128_hash_t> HashFd(int fd, const std::function<void(uint64_t)>& on_bytes = {});

struct FileToHash {
  std::string path;  // relative to the root, opened beneath it without symlinks
  uint64_t size = 0;  // for scheduling (largest first) only
  XXH128_hash_t hash{};
  int error = 0;  // errno when it could not be read
};

// Hashes every file of `files` below `root_fd` with up to `threads` workers
// (0: one per CPU, at most 8). Fills hash/error in place.
void HashFiles(int root_fd, std::vector<FileToHash>& files, unsigned threads,
               const std::function<void(uint64_t)>& on_bytes = {});

}  // namespace strata::tools
