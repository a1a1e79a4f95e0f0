// Command line of stratafs (DESIGN.md §1): fuse-overlayfs compatible, parsed
// with libfuse's fuse_opt machinery.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace strata {

struct MountOptions {
  std::string source = "stratafs";  // SOURCE word, shown in mountinfo
  std::string mountpoint;
  std::vector<std::string> lowerdirs;  // top first
  std::string upperdir;
  std::string workdir;

  bool foreground = false;
  bool debug = false;

  bool read_only = false;  // ro, or no upperdir
  bool sync_writes = true;  // false with volatile or fsync=0
  bool noatime = false;
  bool nodev = false;
  bool nosuid = false;
  bool noexec = false;
  std::string context;  // SELinux context= for the whole mount

  std::string uidmapping;
  std::string gidmapping;
  bool squash_to_root = false;
  int64_t squash_to_uid = -1;
  int64_t squash_to_gid = -1;
  bool static_nlink = false;
  bool noxattrs = false;
  double timeout = 86400.0;  // entry/attr cache, seconds
  unsigned threads = 0;       // 0: libfuse default pool; 1: single-threaded loop
  bool writeback = false;
  bool passthrough = true;  // FUSE passthrough of upper files' data (kernel 6.9+)
  bool cpu_local = true;    // workers pinned per CPU, per-CPU epoll (sys/cpu_local_reader.h)
  bool readdir_attrs_all = false;  // readdir_attrs=all (core/stat_after_listing.h)
  bool chunked_copyup = false;      // copyup=chunked
  uint64_t chunk_size = 4096;      // chunk_size=SIZE (chunked/chunked_file.h's default)
  uint64_t quota_bytes = 0;   // 0: no limit
  uint64_t quota_inodes = 0;  // 0: no limit

  std::string log_level = "info";
  std::string log_file;

  // Options nobody here understands: warned about in the log, not fatal.
  std::vector<std::string> unknown;

  // Mount options to hand to the kernel through libfuse ("-o" string).
  std::string FuseMountOptions() const;
};

// Parses argv. On bad input returns nullopt with *error set to one line.
// Handles `-h`/`--help` and `-V`/`--version` by setting *exit_now.
std::optional<MountOptions> ParseMountOptions(int argc, const char* const* argv,
                                              std::string* error, bool* exit_now);

// Parses a size such as 4096, 512k, 10M, 2G or 1T (powers of 1024).
bool ParseSize(std::string_view s, uint64_t* out);

// Splits a lowerdir value on ':' honouring `\:` (and `\\`) escapes.
std::vector<std::string> SplitLowerdirs(const std::string& value);

// Text printed by --help.
std::string UsageText(const char* prog);

}  // namespace strata
