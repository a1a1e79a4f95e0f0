// Per-operation counters and latency histograms, kept by the FUSE glue and
// read by `strata stats` (see status_xattr.h). Recording is lock-free.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace strata::ops {

enum class OpKind : int {
  kLookup, kForget, kGetattr, kSetattr, kReadlink, kMknod, kMkdir, kSymlink, kLink, kUnlink,
  kRmdir, kRename, kOpen, kCreate, kRead, kWrite, kFlush, kRelease, kFsync, kFallocate, kLseek,
  kCopyFileRange, kOpendir, kReaddir, kReaddirplus, kReleasedir, kFsyncdir, kStatfs, kGetxattr,
  kListxattr, kSetxattr, kRemovexattr, kCount
};

const char* OpName(OpKind k);

class OpStats {
 public:
  // Latency buckets: 4 per power of two of microseconds (about 19% wide).
  static constexpr int kBuckets = 4 * 40;

  void Record(OpKind kind, uint64_t nanos);
  uint64_t count(OpKind kind) const { return ops_[Index(kind)].count.load(std::memory_order_relaxed); }
  // Upper bound of the bucket holding the p-th percentile (0 < p < 100), in µs.
  double PercentileMicros(OpKind kind, double p) const;

  std::atomic<int64_t> open_files{0};
  std::atomic<int64_t> open_dirs{0};
  // READDIRPLUS replies with entries that gave every entry's attributes,
  // and those that gave only the directories' (core/stat_after_listing.h).
  std::atomic<uint64_t> listings_with_attrs{0};
  std::atomic<uint64_t> listings_bare{0};

 private:
  static int Index(OpKind k) { return static_cast<int>(k); }
  static int Bucket(uint64_t micros);
  static double BucketUpperMicros(int bucket);
  struct PerOp {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> total_nanos{0};
    std::array<std::atomic<uint64_t>, kBuckets> buckets{};
  };
  std::array<PerOp, static_cast<size_t>(OpKind::kCount)> ops_;
};

// Times one operation from construction to destruction.
class OpTimer {
 public:
  OpTimer(OpStats* stats, OpKind kind)
      : stats_(stats), kind_(kind), start_(std::chrono::steady_clock::now()) {}
  ~OpTimer() {
    auto d = std::chrono::steady_clock::now() - start_;
    stats_->Record(kind_, static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  OpStats* stats_;
  OpKind kind_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace strata::ops
