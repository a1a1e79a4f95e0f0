#include "fs/chunked/chunked_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fs/chunked/chunk_copy.h"
#include "fs/sys/syscalls.h"

namespace strata::chunked {

namespace {

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

Status PreadFull(int fd, char* buf, size_t size, off_t off, size_t* got) {
  *got = 0;
  while (*got < size) {
    ssize_t n = ::pread(fd, buf + *got, size - *got, off + static_cast<off_t>(*got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::Last();
    }
    if (n == 0) break;
    *got += static_cast<size_t>(n);
  }
  return Status::Ok();
}

bool SameOrigin(const struct stat& st, const ChunkedXattr& h) {
  return S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == h.lower_size &&
         st.st_ino == h.lower_ino && st.st_mtim.tv_sec == h.lower_mtime_sec &&
         st.st_mtim.tv_nsec == h.lower_mtime_nsec;
}

// The first lower layer holding the origin with its recorded identity.
Result<UniqueFd> FindOrigin(std::span<const int> lower_roots, const ChunkedXattr& h) {
  bool seen = false;
  for (int root : lower_roots) {
    // O_NONBLOCK: a fifo put where the file was must not hang the daemon.
    auto fd = sys::OpenBeneath(root, h.lower_relpath.c_str(), O_RDONLY | O_NONBLOCK);
    if (!fd.ok()) continue;
    auto st = sys::StatFd(fd->get());
    if (st.ok() && SameOrigin(*st, h)) return std::move(*fd);
    seen = true;
  }
  spdlog::error("chunked file {}: origin '{}' {} (recorded size {}, inode {}, mtime {}.{:09})",
                h.id, h.lower_relpath, seen ? "changed in the lower layers" : "not found",
                h.lower_size, h.lower_ino, h.lower_mtime_sec, h.lower_mtime_nsec);
  return Errno(EIO);
}

// `v` in ascending order without duplicates.
template <class T>
std::vector<T> SortedUnique(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// Calls run(first, count) for each run of consecutive indices in `sorted`
// (ascending, no duplicates): map bytes and data are then moved one run per
// syscall, not one chunk per syscall.
template <class F>
Status ForEachRun(const std::vector<uint64_t>& sorted, F&& run) {
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j] == sorted[j - 1] + 1) ++j;
    STRATA_RETURN_IF_ERROR(run(sorted[i], static_cast<uint64_t>(j - i)));
    i = j;
  }
  return Status::Ok();
}

}  // namespace

ChunkedFile::ChunkedFile(UniqueFd upper, UniqueFd lower, UniqueFd state_dir, ChunkedXattr origin,
                         std::optional<ChunkMapFile> map, std::vector<uint8_t> present,
                         bool durable)
    : upper_(std::move(upper)),
      lower_(std::move(lower)),
      state_dir_(std::move(state_dir)),
      chunk_size_(origin.chunk_size),
      lower_size_(origin.lower_size),
      durable_(durable),
      origin_(std::move(origin)),
      map_(std::move(map)),
      present_(new std::atomic<uint8_t>[present.size()]()),
      chunk_count_(present.size()),
      lower_chunks_(0),
      missing_(0) {
  // The array starts zeroed (value-initialized). Relaxed stores:
  // nobody else sees the object yet, and a seq_cst store per chunk (a locked
  // exchange on x86) cost 2 ms for a 1 GiB file of 4 KiB chunks.
  for (size_t i = 0; i < present.size(); ++i) {
    if (present[i] == kChunkMissing) continue;
    present_[i].store(1, std::memory_order_relaxed);
    // Left pending by a daemon killed earlier in this boot: made durable with
    // this file's next fsync, as if written now.
    if (present[i] == kChunkPending) pending_.push_back(i);
  }
}

ChunkedFile::~ChunkedFile() {
  // The last handle is gone: what was written must not depend on this boot
  // lasting (FORMAT.md §4). Nobody waits for this but FUSE's RELEASE.
  if (!durable_ || finished_.load()) return;
  bool pending;
  {
    std::lock_guard map_lock(map_mu_);
    pending = !pending_.empty();
  }
  // Nothing written since the last sync and nothing to finish: no sync (a
  // file only read must not cost one at close).
  if (!pending && missing_.load() != 0) return;
  Status st = Fsync(/*datasync=*/true);
  if (!st.ok())
    spdlog::warn("chunked file {}: cannot make its written chunks durable: {}", origin_.id,
                 std::strerror(st.error()));
}

Result<std::shared_ptr<ChunkedFile>> ChunkedFile::Open(int upper_fd,
                                                       std::span<const int> lower_roots,
                                                       int workdir_fd, bool durable) {
  auto value = sys::GetXattr(upper_fd, kChunkedXattr);
  if (!value.ok()) return Errno(value.error() == ENOTSUP ? ENODATA : value.error());
  auto origin = ChunkedXattr::Decode(*value);
  if (!origin.ok()) return Errno(origin.error());
  if (workdir_fd < 0) return Errno(EINVAL);
  // One byte of memory per chunk is kept: a forged xattr must not make the
  // daemon allocate without bound (64 Mi chunks is 64 TiB at 1 MiB chunks).
  if (origin->chunk_count() > kMaxTrackedChunks) {
    spdlog::error("chunked file {}: {} chunks, more than the {} tracked: refused", origin->id,
                  origin->chunk_count(), kMaxTrackedChunks);
    return Errno(EIO);
  }
  auto state_dir = OpenStateDir(workdir_fd, /*create=*/true, durable);
  if (!state_dir.ok()) return Errno(state_dir.error());
  std::vector<uint8_t> present;
  uint64_t stored_lower_chunks = 0;
  auto map = ChunkMapFile::Open(state_dir->get(), origin->id, origin->chunk_count(), &present,
                                &stored_lower_chunks);
  if (!map.ok()) {
    spdlog::error("chunked file {}: map in {}/ unreadable: {}", origin->id, kStateDirName,
                  std::strerror(map.error()));
    return Errno(map.error());
  }
  if (!map->has_value()) {
    // No map: no chunk was ever written, or another ChunkedFile of this inode
    // (its last handle closing) just completed the file. Completion removes
    // the xattr before the map, so the xattr says which: without this check
    // the file would read every chunk from the lower again.
    auto still = sys::GetXattrSize(upper_fd, kChunkedXattr);
    if (!still.ok()) return Errno(still.error() == ENOTSUP ? ENODATA : still.error());
  }
  auto st = sys::StatFd(upper_fd);
  if (!st.ok()) return Errno(st.error());
  const ChunkedXattr& h = *origin;

  // A crash between a shrinking ftruncate and the map update leaves a larger
  // lower_chunks than the file: the size is the truth (made durable below,
  // before a later extend could expose lower data again).
  uint64_t lower_chunks = std::min<uint64_t>(
      stored_lower_chunks, CeilDiv(static_cast<uint64_t>(st->st_size), h.chunk_size));
  uint64_t missing = 0;
  for (uint64_t i = 0; i < lower_chunks; ++i) missing += present[i] == 0;

  UniqueFd lower;
  if (missing > 0) {
    auto found = FindOrigin(lower_roots, h);
    if (!found.ok()) return Errno(found.error());
    lower = std::move(*found);
  }
  // An own open of the inode: never O_APPEND (positional writes and
  // copy_file_range need that), whatever the caller's fd is (O_PATH too).
  auto reopened = sys::Reopen(upper_fd, O_RDWR);
  if (!reopened.ok()) return Errno(reopened.error());
  UniqueFd upper = std::move(*reopened);

  std::shared_ptr<ChunkedFile> file(new ChunkedFile(std::move(upper), std::move(lower),
                                                    std::move(*state_dir), std::move(*origin),
                                                    std::move(*map), std::move(present), durable));
  file->lower_chunks_.store(lower_chunks);
  file->missing_.store(missing);
  if (lower_chunks < stored_lower_chunks && missing > 0)
    STRATA_RETURN_IF_ERROR(file->SetLowerChunksDurably(lower_chunks));
  if (missing == 0) STRATA_RETURN_IF_ERROR(file->FinishIfComplete());
  return file;
}

bool ChunkedFile::IsMissing(uint64_t chunk) const {
  return chunk < lower_chunks_.load(std::memory_order_acquire) &&
         present_[chunk].load(std::memory_order_acquire) == 0;
}

std::pair<off_t, off_t> ChunkedFile::ChunkRange(uint64_t chunk) const {
  off_t begin = static_cast<off_t>(chunk * chunk_size_);
  return {begin, begin + static_cast<off_t>(chunk_size_)};
}

Status ChunkedFile::FillChunks(uint64_t first, uint64_t count) {
  const off_t begin = ChunkRange(first).first;
  const off_t end = ChunkRange(first + count - 1).second;
  STRATA_RETURN_IF_ERROR(ClearUpperRange(upper_.get(), begin, end));
  struct stat st;
  if (::fstat(upper_.get(), &st) < 0) return Errno::Last();
  // Never past the lower's end (zeros there), never past the file's (no growth).
  off_t copy_end = std::min<off_t>({end, static_cast<off_t>(lower_size_), st.st_size});
  return CopyLowerRange(lower_.get(), upper_.get(), begin, copy_end);
}

std::vector<std::unique_lock<std::mutex>> ChunkedFile::LockStripes(
    const std::vector<uint64_t>& chunks) {
  std::vector<size_t> stripes;
  for (uint64_t c : chunks) stripes.push_back(c % kStripes);
  stripes = SortedUnique(std::move(stripes));  // ascending: the documented lock order
  std::vector<std::unique_lock<std::mutex>> held;
  held.reserve(stripes.size());
  for (size_t s : stripes) held.emplace_back(fill_mu_[s]);
  return held;
}

Result<ChunkMapFile*> ChunkedFile::MapLocked() {
  if (!map_) {
    auto map =
        ChunkMapFile::Create(state_dir_.get(), origin_.id, chunk_count_, lower_chunks_.load());
    if (!map.ok()) return Errno(map.error());
    map_.emplace(std::move(*map));
  }
  return &*map_;
}

Status ChunkedFile::SetLowerChunksDurably(uint64_t lower_chunks) {
  std::lock_guard lock(map_mu_);
  auto map = MapLocked();
  if (!map.ok()) return Errno(map.error());
  STRATA_RETURN_IF_ERROR((*map)->SetLowerChunks(lower_chunks));
  if (durable_) return (*map)->Sync(state_dir_.get());
  map_dirty_.store(true);
  return Status::Ok();
}

bool ChunkedFile::DefersDataSync() const { return durable_ && !CurrentBootId().empty(); }

Status ChunkedFile::MarkPresent(const std::vector<uint64_t>& chunks, bool data_synced) {
  // Volatile mounts promise nothing after a crash of the machine: their
  // marks are "durable" as soon as the data is written.
  const uint8_t state = data_synced || !durable_ ? kChunkDurable : kChunkPending;
  const std::vector<uint64_t> sorted = SortedUnique(chunks);
  std::unique_lock map_lock(map_mu_);
  auto map = MapLocked();
  if (!map.ok()) return Errno(map.error());
  if (state == kChunkPending) pending_.insert(pending_.end(), sorted.begin(), sorted.end());
  map_lock.unlock();  // created once, never replaced: its fd is safe to use unlocked
  return ForEachRun(sorted, [&](uint64_t first, uint64_t count) -> Status {
    STRATA_RETURN_IF_ERROR((*map)->MarkRun(first, count, state));
    map_dirty_.store(true);
    for (uint64_t c = first; c < first + count; ++c) {
      // Only the 0 -> 1 transition counts, and only below lower_chunks_, which
      // cannot move while the caller holds resize_mu_.
      if (present_[c].exchange(1, std::memory_order_acq_rel) == 0 &&
          c < lower_chunks_.load(std::memory_order_acquire))
        missing_.fetch_sub(1);
    }
    return Status::Ok();
  });
}

Result<size_t> ChunkedFile::Read(char* buf, size_t size, off_t off) {
  if (off < 0) return Errno(EINVAL);
  if (size == 0) return size_t{0};
  std::shared_lock lock(resize_mu_);
  const uint64_t first = static_cast<uint64_t>(off) / chunk_size_;
  const uint64_t last = (static_cast<uint64_t>(off) + size - 1) / chunk_size_;
  // Which chunks are missing is decided before reading the upper: a chunk
  // filled meanwhile is then read from the lower, i.e. as before the
  // concurrent write, never as a half-filled upper range.
  std::vector<uint64_t> missing;
  for (uint64_t c = first; c <= last; ++c)
    if (IsMissing(c)) missing.push_back(c);

  if (missing.empty()) {  // all in the upper: one pread, as for a plain file
    size_t got = 0;
    STRATA_RETURN_IF_ERROR(PreadFull(upper_.get(), buf, size, off, &got));
    return got;
  }
  struct stat st;
  if (::fstat(upper_.get(), &st) < 0) return Errno::Last();
  const off_t end = std::min<off_t>(off + static_cast<off_t>(size), st.st_size);
  if (off >= end) return size_t{0};
  // Runs of present chunks come from the upper, missing chunks from the
  // lower (zeros past its end); the upper's holes are never read for them.
  off_t pos = off;
  size_t next_missing = 0;
  while (pos < end) {
    const uint64_t c = static_cast<uint64_t>(pos) / chunk_size_;
    const bool from_lower = next_missing < missing.size() && missing[next_missing] == c;
    off_t run_end = end;
    if (from_lower) {
      // The whole run of consecutive missing chunks in one pread.
      uint64_t last = c;
      while (++next_missing < missing.size() && missing[next_missing] == last + 1) ++last;
      run_end = std::min(end, ChunkRange(last).second);
    } else if (next_missing < missing.size()) {
      run_end = std::min(end, ChunkRange(missing[next_missing]).first);
    }
    char* dst = buf + (pos - off);
    const size_t want = static_cast<size_t>(run_end - pos);
    size_t got = 0;
    if (from_lower) {
      off_t lower_end = std::min<off_t>(run_end, static_cast<off_t>(lower_size_));
      if (pos < lower_end)
        STRATA_RETURN_IF_ERROR(
            PreadFull(lower_.get(), dst, static_cast<size_t>(lower_end - pos), pos, &got));
    } else {
      STRATA_RETURN_IF_ERROR(PreadFull(upper_.get(), dst, want, pos, &got));
    }
    std::memset(dst + got, 0, want - got);
    pos = run_end;
  }
  return static_cast<size_t>(end - off);
}

Result<size_t> ChunkedFile::Write(const char* buf, size_t size, off_t off) {
  if (off < 0) return Errno(EINVAL);
  if (size == 0) return size_t{0};
  {
    std::shared_lock lock(resize_mu_);
    const uint64_t first = static_cast<uint64_t>(off) / chunk_size_;
    const uint64_t last = (static_cast<uint64_t>(off) + size - 1) / chunk_size_;
    std::vector<uint64_t> missing;
    for (uint64_t c = first; c <= last; ++c)
      if (IsMissing(c)) missing.push_back(c);
    if (missing.empty()) {  // the common case once a chunk is there: a plain pwrite
      STRATA_RETURN_IF_ERROR(sys::PwriteAll(upper_.get(), buf, size, off));
      return size;
    }

    auto held = LockStripes(missing);
    std::erase_if(missing, [&](uint64_t c) { return !IsMissing(c); });

    const off_t write_end = off + static_cast<off_t>(size);
    for (uint64_t c : missing) {
      auto [begin, end] = ChunkRange(c);
      if (off <= begin && write_end >= end) continue;  // the write replaces it whole
      STRATA_RETURN_IF_ERROR(FillChunks(c, 1));
    }
    STRATA_RETURN_IF_ERROR(sys::PwriteAll(upper_.get(), buf, size, off));
    // The map may say "present" only once the data it vouches for is written
    // ("pending": valid while this boot lasts) or durable.
    const bool sync_now = durable_ && !DefersDataSync();
    if (sync_now && ::fdatasync(upper_.get()) < 0) return Errno::Last();
    STRATA_RETURN_IF_ERROR(MarkPresent(missing, sync_now));
  }
  // The last missing chunk arrived. Finishing needs every chunk's data
  // durable: with pending marks that waits for the next fsync or the last
  // close, which sync anyway, rather than costing a sync of its own here.
  if (missing_.load() == 0 && !DefersDataSync()) STRATA_RETURN_IF_ERROR(FinishIfComplete());
  return size;
}

Status ChunkedFile::Truncate(off_t size) {
  if (size < 0) return Errno(EINVAL);
  std::unique_lock lock(resize_mu_);
  struct stat st;
  if (::fstat(upper_.get(), &st) < 0) return Errno::Last();
  if (size >= st.st_size) {
    // Extending: the new range lies past every lower chunk still missing (or
    // past the lower's end inside the last one), so it reads as zeros.
    if (size > st.st_size && ::ftruncate(upper_.get(), size) < 0) return Errno::Last();
    return Status::Ok();
  }
  // Shrinking. A missing chunk cut in the middle is filled first: its head
  // must survive while its tail, if the file grows again, must read zeros.
  const uint64_t boundary = static_cast<uint64_t>(size) / chunk_size_;
  if (size % chunk_size_ != 0 && IsMissing(boundary)) {
    STRATA_RETURN_IF_ERROR(FillChunks(boundary, 1));
    if (durable_ && ::fdatasync(upper_.get()) < 0) return Errno::Last();
    STRATA_RETURN_IF_ERROR(MarkPresent({boundary}, /*data_synced=*/true));
  }
  if (::ftruncate(upper_.get(), size) < 0) return Errno::Last();
  const uint64_t lower_chunks =
      std::min<uint64_t>(lower_chunks_.load(), CeilDiv(static_cast<uint64_t>(size), chunk_size_));
  if (lower_chunks < lower_chunks_.load()) {
    // The smaller size is durable before the map says so (Open trusts the
    // size anyway), and the map is durable before a later extend can be.
    if (durable_ && ::fdatasync(upper_.get()) < 0) return Errno::Last();
    STRATA_RETURN_IF_ERROR(SetLowerChunksDurably(lower_chunks));
    lower_chunks_.store(lower_chunks);
    uint64_t missing = 0;
    for (uint64_t i = 0; i < lower_chunks; ++i) missing += present_[i].load() == 0;
    missing_.store(missing);
  }
  if (missing_.load() == 0) return FinishLocked();
  return Status::Ok();
}

Status ChunkedFile::Fallocate(int mode, off_t off, off_t len) {
  if (off < 0 || len <= 0) return Errno(EINVAL);
  std::unique_lock lock(resize_mu_);
  std::vector<uint64_t> zeroed;
  if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
    // Shifting data would shift the chunk map with it: not for chunked files.
    if (missing_.load() > 0) return Errno(EOPNOTSUPP);
  } else if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
    const off_t end = off + len;
    const uint64_t first = static_cast<uint64_t>(off) / chunk_size_;
    const uint64_t last = static_cast<uint64_t>(end - 1) / chunk_size_;
    for (uint64_t c = first; c <= last; ++c) {
      if (!IsMissing(c)) continue;
      auto [begin, cend] = ChunkRange(c);
      // A chunk zeroed whole needs nothing from the lower.
      if (!(off <= begin && end >= cend)) STRATA_RETURN_IF_ERROR(FillChunks(c, 1));
      zeroed.push_back(c);
    }
  }
  // Plain allocation leaves the content alone: missing chunks stay missing.
  if (::fallocate(upper_.get(), mode, off, len) < 0) return Errno::Last();
  if (!zeroed.empty()) {
    const bool sync_now = durable_ && !DefersDataSync();
    if (sync_now && ::fdatasync(upper_.get()) < 0) return Errno::Last();
    STRATA_RETURN_IF_ERROR(MarkPresent(zeroed, sync_now));
  }
  if (missing_.load() == 0) return FinishLocked();
  return Status::Ok();
}

Status ChunkedFile::Fsync(bool datasync) {
  {
    std::shared_lock lock(resize_mu_);
    STRATA_RETURN_IF_ERROR(SyncPending(datasync));
  }
  // Complete since the last sync (Write leaves that to us): now a plain file.
  if (missing_.load() == 0) return FinishIfComplete();
  return Status::Ok();
}

Status ChunkedFile::SyncPending(bool datasync) {
  // Taken before the data sync: every chunk listed had its data written
  // before it was listed, so the sync below covers it. Chunks marked later
  // wait for the next fsync.
  std::vector<uint64_t> synced;
  {
    std::lock_guard map_lock(map_mu_);
    synced.swap(pending_);
  }
  auto restore = [&] {
    std::lock_guard map_lock(map_mu_);
    pending_.insert(pending_.end(), synced.begin(), synced.end());
  };
  if ((datasync ? ::fdatasync(upper_.get()) : ::fsync(upper_.get())) < 0) {
    Status st = Errno::Last();
    restore();
    return st;
  }
  if (finished_.load()) return Status::Ok();  // no map any more
  std::lock_guard map_lock(map_mu_);
  if (!synced.empty() && map_) {
    Status st = ForEachRun(SortedUnique(synced), [&](uint64_t first, uint64_t count) {
      return map_->MarkRun(first, count, kChunkDurable);
    });
    if (!st.ok()) {
      pending_.insert(pending_.end(), synced.begin(), synced.end());
      return st;
    }
    map_dirty_.store(true);
  }
  // Map bytes only ever name data that is already durable: sync them after.
  if (map_dirty_.exchange(false)) {
    Status st = map_ ? map_->Sync(state_dir_.get()) : Status::Ok();
    if (!st.ok()) map_dirty_.store(true);
    return st;
  }
  return Status::Ok();
}

uint64_t ChunkedFile::MissingBytes() const {
  std::shared_lock lock(resize_mu_);
  uint64_t bytes = 0;
  const uint64_t lower_chunks = lower_chunks_.load();
  for (uint64_t c = 0; c < lower_chunks; ++c) {
    if (present_[c].load() != 0) continue;
    uint64_t begin = c * chunk_size_;
    bytes += std::min<uint64_t>(begin + chunk_size_, lower_size_) - begin;
  }
  return bytes;
}

Status ChunkedFile::Materialize(const std::function<void(uint64_t)>& progress) {
  struct stat before;
  if (::fstat(upper_.get(), &before) < 0) return Errno::Last();
  bool copied = false;
  // Filled a window at a time under the window's stripes (runs of missing
  // chunks in one copy each, whatever the chunk size), synced and marked
  // every kSyncBytes.
  constexpr uint64_t kWindowBytes = 1u << 20, kSyncBytes = 64u << 20;
  const uint64_t window = std::max<uint64_t>(1, kWindowBytes / chunk_size_);
  const uint64_t per_sync = std::max<uint64_t>(1, kSyncBytes / chunk_size_);
  std::vector<uint64_t> batch;
  uint64_t batch_bytes = 0;
  auto flush = [&]() -> Status {  // caller holds resize_mu_ shared
    if (batch.empty()) return Status::Ok();
    if (durable_ && ::fdatasync(upper_.get()) < 0) return Errno::Last();
    STRATA_RETURN_IF_ERROR(MarkPresent(batch, /*data_synced=*/true));
    if (progress) progress(batch_bytes);
    batch.clear();
    batch_bytes = 0;
    return Status::Ok();
  };
  std::vector<uint64_t> chunks;
  for (uint64_t first = 0; first < chunk_count_; first += window) {
    const uint64_t last = std::min(chunk_count_, first + window);
    std::shared_lock lock(resize_mu_);
    chunks.clear();
    for (uint64_t c = first; c < last; ++c)
      if (IsMissing(c)) chunks.push_back(c);
    if (!chunks.empty()) {
      auto held = LockStripes(chunks);
      // Concurrent writers may refill these chunks before the batch is
      // marked: harmless, they hold the stripes and mark them themselves.
      std::erase_if(chunks, [&](uint64_t c) { return !IsMissing(c); });
      STRATA_RETURN_IF_ERROR(ForEachRun(chunks, [&](uint64_t c, uint64_t n) {
        return FillChunks(c, n);
      }));
      for (uint64_t c : chunks) {
        uint64_t begin = c * chunk_size_;
        batch_bytes += std::min<uint64_t>(begin + chunk_size_, lower_size_) - begin;
      }
      batch.insert(batch.end(), chunks.begin(), chunks.end());
      copied = copied || !chunks.empty();
    }
    if (batch.size() >= per_sync) STRATA_RETURN_IF_ERROR(flush());
  }
  {
    std::shared_lock lock(resize_mu_);
    STRATA_RETURN_IF_ERROR(flush());
  }
  if (copied) {
    // Copying is not a change of the file: keep its times.
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    if (::futimens(upper_.get(), times) < 0) return Errno::Last();
  }
  std::unique_lock lock(resize_mu_);
  if (missing_.load() != 0) return Errno(EAGAIN);  // a truncate raced: caller retries
  return FinishLocked();
}

Status ChunkedFile::FinishIfComplete() {
  std::unique_lock lock(resize_mu_);
  if (missing_.load() != 0) return Status::Ok();
  return FinishLocked();
}

Status ChunkedFile::FinishLocked() {
  if (finished_.load()) return Status::Ok();
  // Every chunk's data durable, then the xattr gone (durably), then the map:
  // a crash in between leaves a plain file and an orphan map, never a map
  // naming data that is not there.
  if (durable_ && ::fdatasync(upper_.get()) < 0) return Errno::Last();
  Status st = sys::RemoveXattr(upper_.get(), kChunkedXattr);
  if (!st.ok() && st.error() != ENODATA) return st;
  if (durable_ && ::fsync(upper_.get()) < 0) return Errno::Last();
  if (::unlinkat(state_dir_.get(), MapFileName(origin_.id).c_str(), 0) < 0 && errno != ENOENT)
    spdlog::warn("chunked file {}: cannot remove its map: {}", origin_.id, std::strerror(errno));
  lower_chunks_.store(0);
  missing_.store(0);
  finished_.store(true);
  std::lock_guard map_lock(map_mu_);
  pending_.clear();
  return Status::Ok();
}

Status DropChunkedState(int upper_fd, int workdir_fd) {
  auto value = sys::GetXattr(upper_fd, kChunkedXattr);
  if (!value.ok())
    return value.error() == ENODATA || value.error() == ENOTSUP ? Status::Ok()
                                                                : Status(Errno(value.error()));
  auto origin = ChunkedXattr::Decode(*value);
  if (!origin.ok()) return Errno(origin.error());
  auto state_dir = OpenStateDir(workdir_fd, /*create=*/false, false);
  if (!state_dir.ok())
    return state_dir.error() == ENOENT ? Status::Ok() : Status(Errno(state_dir.error()));
  if (::unlinkat(state_dir->get(), MapFileName(origin->id).c_str(), 0) < 0 && errno != ENOENT)
    return Errno::Last();
  return Status::Ok();
}

Result<std::shared_ptr<ChunkedFile>> ChunkedFileTable::Get(int upper_fd) {
  auto st = sys::StatFd(upper_fd);
  if (!st.ok()) return Errno(st.error());
  const auto key = std::make_pair(st->st_dev, st->st_ino);
  std::lock_guard lock(mu_);
  if (auto it = files_.find(key); it != files_.end()) {
    if (auto file = it->second.lock()) return file;
    files_.erase(it);
  }
  auto file = ChunkedFile::Open(upper_fd, lower_roots_, workdir_fd_, durable_);
  if (!file.ok()) return Errno(file.error());
  files_[key] = *file;
  return file;
}

}  // namespace strata::chunked
