#include "fs/options/mount_options.h"

#include "fs/core/id_map.h"

#include <fuse_opt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace strata {

namespace {

struct ParseState {
  MountOptions* opts;
  std::vector<std::string> positional;
  std::string error;
  bool help = false;
  bool version = false;
};

enum Key { kHelp = 1, kVersion, kForeground, kDebug, kSingleThread };

const struct fuse_opt kSpec[] = {
    FUSE_OPT_KEY("-h", kHelp),           FUSE_OPT_KEY("--help", kHelp),
    FUSE_OPT_KEY("-V", kVersion),        FUSE_OPT_KEY("--version", kVersion),
    FUSE_OPT_KEY("-f", kForeground),     FUSE_OPT_KEY("-d", kDebug),
    FUSE_OPT_KEY("debug", kDebug),       FUSE_OPT_KEY("-s", kSingleThread),
    FUSE_OPT_END,
};

// mount(8) passes these generic flags; they mean nothing to a FUSE daemon or
// are applied by the kernel from the mount flags already.
constexpr std::string_view kIgnoredFlags[] = {
    "lazytime", "nolazytime", "relatime", "norelatime", "strictatime", "nostrictatime",
    "sync",     "async",      "dirsync",  "defaults",   "auto",        "noauto",
    "user",     "nouser",     "users",    "_netdev",    "nofail",      "atime",
    "diratime", "nodiratime", "iversion", "noiversion", "mand",        "nomand",
    "loud",     "silent",     "rw",       "suid",       "dev",         "exec",
    "allow_other", "allow_root", "default_permissions", "userxattr", "index=off",
    "redirect_dir=off", "metacopy=off", "xino=off", "xino=auto",
};

bool ParseUint(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool ParseBool01(std::string_view s, bool* out) {
  if (s == "0" || s == "false" || s == "no") {
    *out = false;
    return true;
  }
  if (s == "1" || s == "true" || s == "yes") {
    *out = true;
    return true;
  }
  return false;
}

// Handles one "-o" option. Returns false (with st->error) for an invalid value.
bool HandleOption(ParseState* st, std::string_view opt) {
  MountOptions& o = *st->opts;
  if (opt.empty()) return true;  // containers-storage passes ",,volatile"
  auto eq = opt.find('=');
  std::string_view key = opt.substr(0, eq);
  std::string_view val = eq == std::string_view::npos ? std::string_view() : opt.substr(eq + 1);
  bool has_val = eq != std::string_view::npos;
  auto bad = [&](const char* why) {
    st->error = "invalid option '" + std::string(opt) + "': " + why;
    return false;
  };
  auto need_val = [&]() { return has_val && !val.empty(); };

  if (key == "lowerdir") {
    if (!need_val()) return bad("needs a list of directories");
    o.lowerdirs = SplitLowerdirs(std::string(val));
    return true;
  }
  if (key == "upperdir") {
    if (!need_val()) return bad("needs a directory");
    o.upperdir = val;
    return true;
  }
  if (key == "workdir") {
    if (!need_val()) return bad("needs a directory");
    o.workdir = val;
    return true;
  }
  if (key == "volatile" && !has_val) {
    o.sync_writes = false;
    return true;
  }
  if (key == "fsync") {
    bool b;
    if (!ParseBool01(val, &b)) return bad("expected fsync=0 or fsync=1");
    o.sync_writes = b;
    return true;
  }
  if (key == "ro" && !has_val) return o.read_only = true;
  if (key == "noatime" && !has_val) return o.noatime = true;
  if (key == "nodev" && !has_val) return o.nodev = true;
  if (key == "nosuid" && !has_val) return o.nosuid = true;
  if (key == "noexec" && !has_val) return o.noexec = true;
  if (key == "context") {
    if (!need_val()) return bad("needs an SELinux context");
    o.context = val;
    return true;
  }
  if (key == "uidmapping" || key == "gidmapping") {
    if (!IdMap::Parse(std::string(val))) return bad("expected HOST:CONTAINER:COUNT[:HOST:CONTAINER:COUNT...]");
    (key == "uidmapping" ? o.uidmapping : o.gidmapping) = val;
    return true;
  }
  if (key == "squash_to_root" && !has_val) return o.squash_to_root = true;
  if (key == "squash_to_uid" || key == "squash_to_gid") {
    uint64_t v;
    if (!ParseUint(val, &v) || v >= UINT32_MAX) return bad("expected a numeric id");
    (key == "squash_to_uid" ? o.squash_to_uid : o.squash_to_gid) = static_cast<int64_t>(v);
    return true;
  }
  if (key == "static_nlink" && !has_val) return o.static_nlink = true;
  if (key == "noxattrs") {
    bool b = true;
    if (has_val && !ParseBool01(val, &b)) return bad("expected noxattrs=0 or noxattrs=1");
    o.noxattrs = b;
    return true;
  }
  if (key == "timeout") {
    char* end = nullptr;
    std::string v(val);
    errno = 0;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno != 0 || d < 0) return bad("expected seconds, e.g. timeout=5");
    o.timeout = d;
    return true;
  }
  if (key == "threaded") {
    uint64_t v;
    if (!ParseUint(val, &v) || v > 1024) return bad("expected a thread count (0 = default)");
    o.threads = static_cast<unsigned>(v);
    return true;
  }
  if (key == "writeback") {
    bool b;
    if (!ParseBool01(val, &b)) return bad("expected writeback=0 or writeback=1");
    o.writeback = b;
    return true;
  }
  if (key == "passthrough") {
    bool b;
    if (!ParseBool01(val, &b)) return bad("expected passthrough=0 or passthrough=1");
    o.passthrough = b;
    return true;
  }
  if (key == "cpu_local") {
    bool b;
    if (!ParseBool01(val, &b)) return bad("expected cpu_local=0 or cpu_local=1");
    o.cpu_local = b;
    return true;
  }
  if (key == "readdir_attrs") {
    if (val == "auto") return !(o.readdir_attrs_all = false);
    if (val == "all") return o.readdir_attrs_all = true;
    return bad("expected readdir_attrs=auto or readdir_attrs=all");
  }
  if (key == "copyup") {
    if (val == "full") return !(o.chunked_copyup = false);
    if (val == "chunked") return o.chunked_copyup = true;
    return bad("expected copyup=full or copyup=chunked");
  }
  if (key == "chunk_size") {
    uint64_t v;
    if (!ParseSize(val, &v) || v < 4096 || v > (1ull << 30) || v % 4096 != 0)
      return bad("expected a multiple of 4k between 4k and 1G, e.g. chunk_size=1M");
    o.chunk_size = v;
    return true;
  }
  if (key == "quota") {
    uint64_t v;
    if (!ParseSize(val, &v) || v == 0) return bad("expected a size, e.g. quota=10G");
    o.quota_bytes = v;
    return true;
  }
  if (key == "quota_inodes") {
    uint64_t v;
    if (!ParseUint(val, &v) || v == 0) return bad("expected a positive inode count");
    o.quota_inodes = v;
    return true;
  }
  if (key == "log_level") {
    static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
    for (auto l : kLevels)
      if (val == l) {
        o.log_level = val;
        return true;
      }
    return bad("expected trace, debug, info, warn, error or off");
  }
  if (key == "log_file") {
    if (!need_val()) return bad("needs a path");
    o.log_file = val;
    return true;
  }
  for (auto f : kIgnoredFlags)
    if (opt == f) return true;
  if (key.starts_with("x-")) return true;  // fstab annotations for userspace
  o.unknown.emplace_back(opt);
  return true;
}

int ProcessArg(void* data, const char* arg, int key, struct fuse_args*) {
  auto* st = static_cast<ParseState*>(data);
  if (!st->error.empty()) return -1;
  switch (key) {
    case kHelp:
      st->help = true;
      return 0;
    case kVersion:
      st->version = true;
      return 0;
    case kForeground:
      st->opts->foreground = true;
      return 0;
    case kDebug:
      st->opts->debug = true;
      st->opts->foreground = true;
      return 0;
    case kSingleThread:
      st->opts->threads = 1;
      return 0;
    case FUSE_OPT_KEY_NONOPT:
      st->positional.emplace_back(arg);
      return 0;
    case FUSE_OPT_KEY_OPT:
      if (arg[0] == '-') {
        st->error = std::string("unknown command-line flag '") + arg + "'";
        return -1;
      }
      return HandleOption(st, arg) ? 0 : -1;
  }
  return 0;
}

}  // namespace

bool ParseSize(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t mult = 1;
  switch (s.back()) {
    case 'k': case 'K': mult = 1ull << 10; break;
    case 'm': case 'M': mult = 1ull << 20; break;
    case 'g': case 'G': mult = 1ull << 30; break;
    case 't': case 'T': mult = 1ull << 40; break;
    default: break;
  }
  if (mult != 1) s.remove_suffix(1);
  uint64_t v;
  if (!ParseUint(s, &v) || v > UINT64_MAX / mult) return false;
  *out = v * mult;
  return true;
}

std::vector<std::string> SplitLowerdirs(const std::string& value) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && i + 1 < value.size()) {
      cur.push_back(value[++i]);
    } else if (c == ':') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(std::move(cur));
  return out;
}

std::optional<MountOptions> ParseMountOptions(int argc, const char* const* argv,
                                              std::string* error, bool* exit_now) {
  *exit_now = false;
  MountOptions opts;
  ParseState st{&opts, {}, {}, false, false};

  // fuse_opt turns "\x" into "x" inside -o lists; keep lowerdir's "\:" escape
  // for SplitLowerdirs by doubling its backslash first.
  std::vector<std::string> copies;
  copies.reserve(static_cast<size_t>(argc));
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    bool is_opts = (i > 0 && std::string_view(argv[i - 1]) == "-o") ||
                   (a.size() > 2 && a.compare(0, 2, "-o") == 0);
    if (is_opts) {
      std::string esc;
      for (size_t k = 0; k < a.size(); ++k) {
        if (a[k] == '\\' && k + 1 < a.size() && (a[k + 1] == ':' || a[k + 1] == '\\')) {
          esc += "\\\\";
          esc += a[++k] == ':' ? ":" : "\\\\";
        } else {
          esc += a[k];
        }
      }
      a = esc;
    }
    copies.push_back(std::move(a));
  }
  // "-o" must have a value; say so ourselves (fuse_opt would print its own line).
  for (size_t i = 1; i < copies.size(); ++i) {
    if (copies[i] == "-o" && i + 1 == copies.size()) {
      *error = "-o needs a list of options (e.g. -o lowerdir=DIR)";
      return std::nullopt;
    }
  }
  std::vector<char*> args;
  for (auto& c : copies) args.push_back(c.data());
  struct fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(args.size()), args.data());
  int rc = fuse_opt_parse(&fargs, &st, kSpec, ProcessArg);
  fuse_opt_free_args(&fargs);
  if (rc != 0) {
    *error = st.error.empty() ? "invalid command line" : st.error;
    return std::nullopt;
  }
  if (st.help || st.version) {
    *exit_now = true;
    *error = st.help ? UsageText(argc > 0 ? argv[0] : "stratafs") : "stratafs 0.1.0";
    return std::nullopt;
  }
  // Either MOUNTPOINT or SOURCE MOUNTPOINT (mount.fuse3 passes the source).
  if (st.positional.size() == 1) {
    opts.mountpoint = st.positional[0];
  } else if (st.positional.size() == 2) {
    opts.source = st.positional[0];
    opts.mountpoint = st.positional[1];
  } else if (st.positional.empty()) {
    *error = "no mount point given (usage: stratafs [SOURCE] MOUNTPOINT -o lowerdir=DIR[:DIR...])";
    return std::nullopt;
  } else {
    *error = "too many arguments: '" + st.positional[2] + "'";
    return std::nullopt;
  }
  if (opts.lowerdirs.empty()) {
    *error = "no lowerdir given (-o lowerdir=TOP:...:BOTTOM)";
    return std::nullopt;
  }
  if (opts.upperdir.empty() != opts.workdir.empty()) {
    *error = opts.upperdir.empty() ? "workdir given without upperdir"
                                   : "upperdir needs a workdir (-o workdir=DIR on the same filesystem)";
    return std::nullopt;
  }
  if (opts.upperdir.empty()) opts.read_only = true;
  if ((opts.quota_bytes || opts.quota_inodes) && opts.upperdir.empty()) {
    *error = "quota needs an upperdir";
    return std::nullopt;
  }
  struct stat mst;
  if (::stat(opts.mountpoint.c_str(), &mst) < 0) {
    *error = "mount point '" + opts.mountpoint + "': " + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISDIR(mst.st_mode)) {
    *error = "mount point '" + opts.mountpoint + "' is not a directory";
    return std::nullopt;
  }
  return opts;
}

std::string MountOptions::FuseMountOptions() const {
  std::string s = "subtype=stratafs";
  // fsname is a comma-separated mount option: escape what fuse_opt would split.
  std::string fs;
  for (char c : source) {
    if (c == ',' || c == '\\') fs.push_back('\\');
    fs.push_back(c);
  }
  s += ",fsname=" + fs;
  if (::geteuid() == 0) s += ",allow_other";
  s += ",default_permissions";
  if (read_only) s += ",ro";
  if (noatime) s += ",noatime";
  // libfuse mounts nosuid,nodev unless told otherwise; kernel overlayfs mounted
  // by root honours setuid files and device nodes, and so do we.
  const bool root = ::geteuid() == 0;
  s += nodev ? ",nodev" : (root ? ",dev" : "");
  s += nosuid ? ",nosuid" : (root ? ",suid" : "");
  if (noexec) s += ",noexec";
  if (!context.empty()) s += ",context=" + context;
  return s;
}

std::string UsageText(const char* prog) {
  return std::string("usage: ") + prog +
         " [SOURCE] MOUNTPOINT -o lowerdir=TOP:...:BOTTOM[,upperdir=UPPER,workdir=WORK][,OPTIONS] "
         "[-f] [-d]\n"
         "\n"
         "Layers:\n"
         "  lowerdir=A:B:C       read-only layers, leftmost on top ('\\:' escapes a colon)\n"
         "  upperdir=DIR         writable layer (without it the mount is read-only)\n"
         "  workdir=DIR          scratch directory on the upper's filesystem\n"
         "Behaviour:\n"
         "  volatile, fsync=0    skip fsync of copy-ups and of fsync() calls\n"
         "  ro                   read-only mount even with an upperdir\n"
         "  noatime nodev nosuid noexec context=CTX   mount flags\n"
         "  timeout=SECONDS      kernel entry/attribute cache time (default 86400)\n"
         "  threaded=N           worker threads (1 = single-threaded)\n"
         "  writeback=0|1        kernel writeback cache (turns passthrough off)\n"
         "  passthrough=0|1      the kernel reads and writes upper files itself (default 1)\n"
         "  cpu_local=0|1        a request is taken by a worker on its caller's CPU (default 1)\n"
         "  readdir_attrs=auto|all   listings give files' attributes only to callers that\n"
         "                       stat what they list (auto, the default), or always\n"
         "  squash_to_root squash_to_uid=N squash_to_gid=N uidmapping=H:C:N gidmapping=H:C:N\n"
         "  static_nlink noxattrs\n"
         "  quota=SIZE quota_inodes=N   limit the upper layer (ENOSPC beyond)\n"
         "  copyup=full|chunked chunk_size=SIZE   copy whole files, or chunks on first write\n"
         "Logging:\n"
         "  log_level=trace|debug|info|warn|error|off   log_file=PATH\n"
         "  -f                   stay in the foreground, log to stderr\n"
         "  -d                   debug: foreground, libfuse request trace\n";
}

}  // namespace strata
