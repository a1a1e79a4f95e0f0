// ChunkMapFile: the persistent half of a chunked file's state, one file per
// chunked upper inode in WORKDIR/strata-chunked/ (layout in FORMAT.md).
//
// It holds the origin (lower path + identity), the chunk size, how many chunks
// may still come from the lower file, and one byte per chunk saying whether
// the upper already holds that chunk. One byte per chunk (not one bit) so that
// marking a chunk is a single-byte pwrite: it can never tear and never
// read-modify-writes a neighbour that another thread is marking.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"

namespace strata::chunked {

inline constexpr const char* kChunkedXattr = "user.strata.chunked";
inline constexpr const char* kStateDirName = "strata-chunked";
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderSize = 4096;

// The fixed fields of the header; every integer is little-endian on disk.
struct MapHeader {
  std::string id;  // 32 hex digits, also the map file's stem
  uint32_t chunk_size = 0;
  uint64_t lower_size = 0;
  uint64_t lower_ino = 0;
  int64_t lower_mtime_sec = 0;
  int64_t lower_mtime_nsec = 0;
  uint64_t chunk_count = 0;   // chunks of the lower file at copy-up: the map's length
  uint64_t lower_chunks = 0;  // chunks [0, lower_chunks) may still read from the lower
  std::string lower_relpath;  // layer-relative path of the origin
};

class ChunkMapFile {
 public:
  // Creates `<id>.map` in `state_dir` with every chunk missing.
  static Result<ChunkMapFile> Create(int state_dir, const MapHeader& header, bool durable);
  // Opens and validates `<id>.map`; `present` receives one byte per chunk.
  static Result<ChunkMapFile> Open(int state_dir, const std::string& id,
                                   std::vector<uint8_t>* present);

  const MapHeader& header() const { return header_; }
  int fd() const { return fd_.get(); }

  // Marks chunk `index` present (one byte). Not synced: see Sync().
  Status MarkPresent(uint64_t index);
  // Persists a smaller lower_chunks (after a shrinking truncate).
  Status SetLowerChunks(uint64_t lower_chunks);
  Status Sync();

 private:
  ChunkMapFile(UniqueFd fd, MapHeader header) : fd_(std::move(fd)), header_(std::move(header)) {}

  UniqueFd fd_;
  MapHeader header_;
};

// `<id>.map`, the map file's name for an id.
std::string MapFileName(const std::string& id);

// Opens (creating it if asked) WORKDIR/strata-chunked.
Result<UniqueFd> OpenStateDir(int workdir_fd, bool create, bool durable);

// A fresh random 128-bit id as 32 lowercase hex digits.
Result<std::string> NewChunkedId();

// The upper file's xattr value names its map: "v1 <id>".
std::string EncodeXattr(const std::string& id);
Result<std::string> DecodeXattr(const std::string& value);

}  // namespace strata::chunked
