#include "fs/ops/status_xattr.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace strata::ops {

namespace {

uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool PassthroughOn(const FsContext& ctx) { return ctx.passthrough && ctx.passthrough->enabled(); }

std::string Stats(FsContext& ctx) {
  std::ostringstream o;
  const OpStats& s = ctx.op_stats;
  UnionFsStats& fs = ctx.fs->stats();
  o << "{\"pid\":" << ::getpid() << ",\"mountpoint\":" << JsonString(ctx.mountpoint)
    << ",\"copyups\":" << fs.copyups.load() << ",\"copyup_bytes\":" << fs.copyup_bytes.load()
    << ",\"listing_cache_hits\":" << fs.listing_hits.load()
    << ",\"listing_cache_misses\":" << fs.listing_misses.load()
    << ",\"listings_with_attrs\":" << s.listings_with_attrs.load()
    << ",\"listings_bare\":" << s.listings_bare.load()
    << ",\"nodes\":" << ctx.fs->table().size() << ",\"open_files\":" << s.open_files.load()
    << ",\"open_dirs\":" << s.open_dirs.load() << ",\"resident_bytes\":" << ResidentBytes()
    << ",\"passthrough\":" << (PassthroughOn(ctx) ? "true" : "false")
    << ",\"passthrough_opens\":" << (ctx.io_modes ? ctx.io_modes->passthrough_opens() : 0)
    << ",\"cpu_local_cpus\":" << (ctx.reader ? ctx.reader->cpu_count() : 0)
    << ",\"operations\":{";
  bool first = true;
  for (int i = 0; i < static_cast<int>(OpKind::kCount); ++i) {
    auto k = static_cast<OpKind>(i);
    uint64_t n = s.count(k);
    if (n == 0) continue;
    if (!first) o << ",";
    first = false;
    o << "\"" << OpName(k) << "\":{\"count\":" << n << ",\"p50_us\":" << s.PercentileMicros(k, 50)
      << ",\"p90_us\":" << s.PercentileMicros(k, 90) << ",\"p99_us\":" << s.PercentileMicros(k, 99)
      << "}";
  }
  o << "}}";
  return o.str();
}

std::string StatsText(FsContext& ctx) {
  const OpStats& s = ctx.op_stats;
  UnionFsStats& fs = ctx.fs->stats();
  char line[256];
  std::string out;
  std::snprintf(line, sizeof line, "stratafs on %s (pid %d)\n", ctx.mountpoint.c_str(), ::getpid());
  out += line;
  std::snprintf(line, sizeof line,
                "  copy-ups %llu (%.1f MiB copied)   nodes %zu   open files %lld   resident %.1f MiB\n",
                static_cast<unsigned long long>(fs.copyups.load()), fs.copyup_bytes.load() / 1048576.0,
                ctx.fs->table().size(), static_cast<long long>(s.open_files.load()),
                ResidentBytes() / 1048576.0);
  out += line;
  std::snprintf(line, sizeof line, "  passthrough %s (%llu opens passed through)\n",
                PassthroughOn(ctx) ? "on" : "off",
                static_cast<unsigned long long>(ctx.io_modes ? ctx.io_modes->passthrough_opens() : 0));
  out += line;
  if (ctx.reader)
    std::snprintf(line, sizeof line, "  requests taken on the caller's CPU (workers pinned over %zu CPUs)\n",
                  ctx.reader->cpu_count());
  else
    std::snprintf(line, sizeof line, "  requests taken by any worker (cpu_local off or not applicable)\n");
  out += line;
  std::snprintf(line, sizeof line, "  directory listing cache: %llu hits, %llu misses\n",
                static_cast<unsigned long long>(fs.listing_hits.load()),
                static_cast<unsigned long long>(fs.listing_misses.load()));
  out += line;
  std::snprintf(line, sizeof line,
                "  readdirplus replies: %llu with every entry's attributes, %llu with "
                "directories' only\n",
                static_cast<unsigned long long>(s.listings_with_attrs.load()),
                static_cast<unsigned long long>(s.listings_bare.load()));
  out += line;
  std::snprintf(line, sizeof line, "  %-16s %10s %9s %9s %9s\n", "operation", "count", "p50 us",
                "p90 us", "p99 us");
  out += line;
  for (int i = 0; i < static_cast<int>(OpKind::kCount); ++i) {
    auto k = static_cast<OpKind>(i);
    if (s.count(k) == 0) continue;
    std::snprintf(line, sizeof line, "  %-16s %10llu %9.0f %9.0f %9.0f\n", OpName(k),
                  static_cast<unsigned long long>(s.count(k)), s.PercentileMicros(k, 50),
                  s.PercentileMicros(k, 90), s.PercentileMicros(k, 99));
    out += line;
  }
  return out;
}

std::string Layers(const FsContext& ctx) {
  std::string out;
  for (const auto& l : ctx.lowerdirs) out += "lowerdir=" + l + "\n";
  if (!ctx.upperdir.empty()) out += "upperdir=" + ctx.upperdir + "\n";
  if (!ctx.workdir.empty()) out += "workdir=" + ctx.workdir + "\n";
  out += "pid=" + std::to_string(::getpid()) + "\n";
  return out;
}

}  // namespace

std::optional<std::string> StatusXattr(FsContext& ctx, std::string_view name) {
  if (name == kStatsXattr) return Stats(ctx);
  if (name == kLayersXattr) return Layers(ctx);
  if (name == kStatsTextXattr) return StatsText(ctx);
  return std::nullopt;
}

}  // namespace strata::ops
