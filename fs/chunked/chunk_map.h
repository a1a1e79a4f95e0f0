// The persistent state of a chunked file (layout in FORMAT.md):
//
//  - ChunkedXattr, the upper file's `user.strata.chunked` xattr: the origin
//    (lower path + identity), the chunk size and the id naming the map. It is
//    written once, at copy-up, and follows the inode through renames and
//    hard links.
//  - ChunkMapFile, WORKDIR/strata-chunked/<id>.map: how many chunks may still
//    come from the lower file, and one byte per chunk saying whether the
//    upper already holds it. Created on the first chunk copied, so copy-ups
//    that never write data (chmod, chown, utimens) leave no map at all. One
//    byte per chunk (not one bit) so that marking a chunk is a single-byte
//    pwrite: it cannot tear, nor read-modify-write a neighbour another thread
//    is marking.
//
// A presence byte is 1 once its chunk's data is durable, 2 once the data is
// written but maybe only in the page cache. A 2 is trusted only during the
// boot named in the header: a daemon killed keeps the kernel's page cache,
// a machine that went down may not have. fsync turns the 2s into 1s.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"

namespace strata::chunked {

inline constexpr const char* kChunkedXattr = "user.strata.chunked";
inline constexpr const char* kStateDirName = "strata-chunked";
inline constexpr uint32_t kFormatVersion = 2;  // 1 (no pending bytes) is still read
inline constexpr uint8_t kChunkMissing = 0;
inline constexpr uint8_t kChunkDurable = 1;  // the chunk's data is on disk
inline constexpr uint8_t kChunkPending = 2;  // written, durable only if this boot goes on
inline constexpr size_t kHeaderSize = 4096;

struct ChunkedXattr {
  std::string id;  // 32 hex digits, the map file's stem
  uint32_t chunk_size = 0;
  uint64_t lower_size = 0;
  uint64_t lower_ino = 0;
  int64_t lower_mtime_sec = 0;
  int64_t lower_mtime_nsec = 0;
  std::string lower_relpath;  // layer-relative path of the origin

  uint64_t chunk_count() const { return (lower_size + chunk_size - 1) / chunk_size; }
  // "v1 ID CHUNK_SIZE LOWER_SIZE LOWER_INO MTIME_SEC MTIME_NSEC RELPATH"
  std::string Encode() const;
  static Result<ChunkedXattr> Decode(const std::string& value);
};

class ChunkMapFile {
 public:
  // Opens `<id>.map` if it exists (nullopt if not: no chunk was ever
  // recorded); `present` receives one byte per chunk, `lower_chunks` the
  // persisted count (chunk_count when the header never reached the disk).
  // Pending bytes of another boot are reset to missing (durably) and the
  // header then names this boot, so `present` holds only 0, 1 and 2s that
  // are valid now.
  static Result<std::optional<ChunkMapFile>> Open(int state_dir, const std::string& id,
                                                  uint64_t chunk_count,
                                                  std::vector<uint8_t>* present,
                                                  uint64_t* lower_chunks);
  // Creates `<id>.map` with every chunk missing. Not synced (see Sync).
  static Result<ChunkMapFile> Create(int state_dir, const std::string& id, uint64_t chunk_count,
                                     uint64_t lower_chunks);

  // Sets the presence bytes of chunks [first, first + count) to `state`
  // (kChunkDurable or kChunkPending) in one pwrite. Not synced. A torn write
  // leaves some of them marked: harmless, each byte stands on its own.
  Status MarkRun(uint64_t first, uint64_t count, uint8_t state);
  // Persists a smaller lower_chunks (after a shrinking truncate). Not synced.
  Status SetLowerChunks(uint64_t lower_chunks);
  // Makes the map durable; the first time also its directory entry.
  Status Sync(int state_dir);

 private:
  explicit ChunkMapFile(UniqueFd fd) : fd_(std::move(fd)) {}

  UniqueFd fd_;
  bool entry_durable_ = false;  // its name in state_dir known to be on disk
};

// `<id>.map`, the map file's name for an id.
std::string MapFileName(const std::string& id);

// Opens (creating it if asked: durably, once per work directory)
// WORKDIR/strata-chunked.
Result<UniqueFd> OpenStateDir(int workdir_fd, bool create, bool durable);

// A fresh random 128-bit id as 32 lowercase hex digits.
Result<std::string> NewChunkedId();

// This boot's id (/proc/sys/kernel/random/boot_id, 36 characters), read once.
const std::string& CurrentBootId();
// Tests: pretend the machine rebooted (an empty string restores the real id).
void SetBootIdForTesting(const std::string& boot_id);

}  // namespace strata::chunked
