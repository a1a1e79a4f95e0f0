// XXH3-128 of file contents, one file or many files in parallel.
#pragma once

#include <xxhash.h>

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
