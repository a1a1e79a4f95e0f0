#include "fs/ops/op_stats.h"

#include <bit>
#include <cmath>

namespace strata::ops {

const char* OpName(OpKind k) {
  static constexpr const char* kNames[] = {
      "lookup", "forget", "getattr", "setattr", "readlink", "mknod", "mkdir", "symlink", "link",
      "unlink", "rmdir", "rename", "open", "create", "read", "write", "flush", "release", "fsync",
      "fallocate", "lseek", "copy_file_range", "opendir", "readdir", "readdirplus", "releasedir",
      "fsyncdir", "statfs", "getxattr", "listxattr", "setxattr", "removexattr"};
  static_assert(sizeof kNames / sizeof kNames[0] == static_cast<size_t>(OpKind::kCount));
  return kNames[static_cast<int>(k)];
}

int OpStats::Bucket(uint64_t micros) {
  if (micros < 4) return static_cast<int>(micros);
  const int msb = 63 - std::countl_zero(micros);           // >= 2
  const int sub = static_cast<int>((micros >> (msb - 2)) & 3);  // next two bits
  int b = 4 * (msb - 1) + sub;
  return b < kBuckets ? b : kBuckets - 1;
}

double OpStats::BucketUpperMicros(int bucket) {
  if (bucket < 4) return bucket + 1;
  const int msb = bucket / 4 + 1;
  const int sub = bucket % 4;
  return std::ldexp(1.0, msb) * (1.0 + (sub + 1) / 4.0);
}

void OpStats::Record(OpKind kind, uint64_t nanos) {
  PerOp& op = ops_[static_cast<size_t>(Index(kind))];
  op.count.fetch_add(1, std::memory_order_relaxed);
  op.total_nanos.fetch_add(nanos, std::memory_order_relaxed);
  op.buckets[static_cast<size_t>(Bucket(nanos / 1000))].fetch_add(1, std::memory_order_relaxed);
}

double OpStats::PercentileMicros(OpKind kind, double p) const {
  const PerOp& op = ops_[static_cast<size_t>(Index(kind))];
  uint64_t total = 0;
  for (const auto& b : op.buckets) total += b.load(std::memory_order_relaxed);
  if (total == 0) return 0;
  const double want = total * p / 100.0;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += op.buckets[static_cast<size_t>(i)].load(std::memory_order_relaxed);
    if (static_cast<double>(seen) >= want) return BucketUpperMicros(i);
  }
  return BucketUpperMicros(kBuckets - 1);
}

}  // namespace strata::ops
