// Chunked copy-up (issue 4): a copied-up regular file whose data is copied
// from the lower file one chunk at a time, on the first write to each chunk.
//
// The upper file has the full size from the start; chunks never written read
// from the lower file. The map of present chunks and the origin live in
// WORKDIR/strata-chunked/<id>.map, named by the upper file's
// `user.strata.chunked` xattr, so the state follows the inode through
// renames and hard links (FORMAT.md has the layout and the crash argument).
//
// Use from the daemon:
//   copy-up   InitChunkedCopy() on the temporary upper file, before the rename.
//   open      IsChunked(); if so ChunkedFileTable::Get() and route read/write/
//             truncate/fallocate/fsync of that inode through the ChunkedFile.
//   tools     MaterializeTree() for `strata materialize`.
//
// `workdir_fd` everywhere is an fd on WORKDIR itself (the `workdir=` dir), not
// on WORKDIR/work, whose content is wiped at every mount.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fs/base/result.h"
#include "fs/base/thread_annotations.h"
#include "fs/base/unique_fd.h"
#include "fs/chunked/chunk_map.h"

namespace strata::chunked {

// One page: applications mostly write whole blocks (and with writeback=1 the
// kernel sends whole pages), so a write into a missing chunk replaces it and
// copies nothing from the lower; an unaligned one fills at most 4 KiB at each
// end (bench/RESULTS.md: random 4 KiB writes cost what they cost in a plain
// file with the same holes; 64 KiB and 1 MiB chunks, filled first, 3x more).
inline constexpr uint32_t kDefaultChunkSize = 4096;
inline constexpr uint32_t kMinChunkSize = 4096;
inline constexpr uint32_t kMaxChunkSize = 1u << 30;
// The most chunks a chunked file may have (its map is kept in memory).
inline constexpr uint64_t kMaxTrackedChunks = uint64_t{1} << 26;
// The most chunks a copy-up gives a file: a larger file gets larger chunks,
// so that its map (one byte per chunk, on disk and in memory while open)
// stays within 1 MiB. 4 KiB chunks up to 4 GiB, 1 MiB chunks at 1 TiB.
inline constexpr uint64_t kChunksPerFile = uint64_t{1} << 20;

// Where the upper file's data comes from. The identity checked at open (size,
// mtime, inode) is taken from the lower's stat given to InitChunkedCopy.
struct ChunkedOrigin {
  std::string lower_relpath;  // relative to the lower layer's root, no leading '/'
};

// Is `chunk_size` acceptable (a multiple of 4096 in [4 KiB, 1 GiB])?
bool ValidChunkSize(uint64_t chunk_size);

// The chunk size a copy-up of a `file_size`-byte file uses: `configured`
// (the mount's chunk_size), doubled until the file has at most
// kChunksPerFile chunks (and at most kMaxChunkSize).
uint32_t ChunkSizeFor(uint32_t configured, uint64_t file_size);

// Called by copy-up on the temporary upper file (open O_RDWR, empty) before
// it is renamed into place: sizes it (no data) and sets the xattr recording
// the origin. Copies no data and creates no map (the first chunk written
// does). `chunk_size` is the configured one (see ChunkSizeFor). A lower of
// size 0 needs no chunks: the file is left plain. On error
// (e.g. E2BIG: a path too long for the xattr space) fall back to a full copy.
Status InitChunkedCopy(int tmp_fd, const struct stat& lower_st, const ChunkedOrigin& origin,
                       uint32_t chunk_size);

// Does this upper file (any fd, O_PATH included) still have missing chunks?
// False for anything but a regular file.
Result<bool> IsChunked(int upper_fd);
// The same for `name` in `dirfd`, in one syscall and without opening it
// (getxattrat, Linux 6.13; ENOSYS before): for checks on hot paths.
Result<bool> IsChunkedAt(int dirfd, const char* name);

// One per upper inode, shared by all its open handles; thread-safe.
class ChunkedFile {
 public:
  // Opens the state of `upper_fd` (any fd on the upper inode, O_PATH and
  // O_APPEND ones included: it is reopened O_RDWR; the caller keeps its fd)
  // and its origin: the first of `lower_roots` (top first) holding
  // lower_relpath (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) with the
  // recorded size, mtime and inode. ENODATA if the file is not chunked; EIO
  // if the map is missing or damaged or no lower matches.
  static Result<std::shared_ptr<ChunkedFile>> Open(int upper_fd, std::span<const int> lower_roots,
                                                   int workdir_fd, bool durable);
  ~ChunkedFile();

  // Like pread/pwrite on the merged file; short only at end of file.
  Result<size_t> Read(char* buf, size_t size, off_t off);
  Result<size_t> Write(const char* buf, size_t size, off_t off);
  // Shrink drops the chunks beyond; extend reads as zeros, never the lower.
  Status Truncate(off_t size);
  // Modes 0/KEEP_SIZE allocate; PUNCH_HOLE/ZERO_RANGE zero (and make the
  // chunks present); COLLAPSE/INSERT_RANGE need a materialized file (else
  // EOPNOTSUPP).
  Status Fallocate(int mode, off_t off, off_t len);
  Status Fsync(bool datasync);
  // Copies every missing chunk and removes the metadata: a plain
  // kernel-format file (atime/mtime kept). `progress(bytes)` is called after
  // each batch of chunks with the bytes it copied.
  Status Materialize(const std::function<void(uint64_t)>& progress = {});

  // Bytes still to come from the lower (what Materialize would copy).
  uint64_t MissingBytes() const;
  // False once every chunk is present and the metadata is gone.
  bool chunked() const { return !finished_.load(); }
  uint32_t chunk_size() const { return chunk_size_; }

 private:
  ChunkedFile(UniqueFd upper, UniqueFd lower, UniqueFd state_dir, ChunkedXattr origin,
              std::optional<ChunkMapFile> map, std::vector<uint8_t> present, bool durable);

  // The map file, created on first use. Requires map_mu_.
  Result<ChunkMapFile*> MapLocked();
  Status SetLowerChunksDurably(uint64_t lower_chunks);

  bool IsMissing(uint64_t chunk) const;
  // Whether chunks are marked pending rather than synced one by one (durable
  // mounts on a machine whose boot id is known).
  bool DefersDataSync() const;
  // Locks the fill stripes of `chunks`, in the documented order.
  std::vector<std::unique_lock<std::mutex>> LockStripes(const std::vector<uint64_t>& chunks);
  std::pair<off_t, off_t> ChunkRange(uint64_t chunk) const;
  // Puts the lower's bytes of the missing chunks [first, first + count) into
  // the upper (not marked yet).
  Status FillChunks(uint64_t first, uint64_t count);
  // Marks chunks present, in memory and in the map, once their data is
  // written: durably marked if `data_synced`, else pending (FORMAT.md §4).
  Status MarkPresent(const std::vector<uint64_t>& chunks, bool data_synced);
  // Syncs the upper's data, then turns the pending marks durable.
  Status SyncPending(bool datasync);
  Status FinishIfComplete() EXCLUDES(resize_mu_);
  Status FinishLocked() REQUIRES(resize_mu_);

  static constexpr size_t kStripes = 64;

  const UniqueFd upper_;
  const UniqueFd lower_;      // invalid when nothing was missing at open
  const UniqueFd state_dir_;  // WORKDIR/strata-chunked
  const uint32_t chunk_size_;
  const uint64_t lower_size_;
  const bool durable_;

  // Lock order: resize_mu_ (shared for I/O, exclusive for truncate/fallocate/
  // finish), then fill_mu_ stripes in ascending index order, then map_mu_.
  mutable std::shared_mutex resize_mu_;
  std::mutex fill_mu_[kStripes];
  const ChunkedXattr origin_;
  std::mutex map_mu_;  // innermost: held only around map file calls
  std::optional<ChunkMapFile> map_ GUARDED_BY(map_mu_);
  // Chunks marked pending in the map, to be made durable by the next fsync
  // (or when the last handle goes).
  std::vector<uint64_t> pending_ GUARDED_BY(map_mu_);
  // present_[i] != 0: chunk i reads from the upper. Chunks >= lower_chunks_
  // always do. Set under chunk i's stripe, cleared never.
  std::unique_ptr<std::atomic<uint8_t>[]> present_;
  const uint64_t chunk_count_;
  std::atomic<uint64_t> lower_chunks_;  // written under exclusive resize_mu_
  std::atomic<uint64_t> missing_;       // missing chunks below lower_chunks_
  std::atomic<bool> map_dirty_{false};  // map bytes written since the last map sync
  std::atomic<bool> finished_{false};
};

// The daemon's table of open chunked files: one ChunkedFile per upper inode
// whatever the number of handles and names (hard links) it has.
class ChunkedFileTable {
 public:
  ChunkedFileTable(std::vector<int> lower_roots, int workdir_fd, bool durable)
      : lower_roots_(std::move(lower_roots)), workdir_fd_(workdir_fd), durable_(durable) {}
  // The shared ChunkedFile of `upper_fd`'s inode (opened on first use).
  Result<std::shared_ptr<ChunkedFile>> Get(int upper_fd);

 private:
  const std::vector<int> lower_roots_;
  const int workdir_fd_;
  const bool durable_;
  std::mutex mu_;
  std::map<std::pair<dev_t, ino_t>, std::weak_ptr<ChunkedFile>> files_ GUARDED_BY(mu_);
};

// Deletes the map of a chunked file about to disappear (call before removing
// the last link of an upper file; no-op for a plain file). Handles still open
// on it keep working.
Status DropChunkedState(int upper_fd, int workdir_fd);

// Materializes every chunked file under the upper dir `upper_root` (for
// `strata materialize UPPER --lower ... --workdir W`), calling
// progress(done_bytes, total_bytes). With workdir_fd == -1 the maps cannot be
// found: EINVAL as soon as a chunked file is met (nothing is changed).
Status MaterializeTree(int upper_root, std::span<const int> lower_roots, int workdir_fd,
                       const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace strata::chunked
