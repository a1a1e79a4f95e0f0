#include "tools/layer_args.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fs/options/mount_options.h"

namespace strata::tools {

namespace {

constexpr const char* kLayersXattr = "trusted.strata.layers";

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (int k = 1; k <= 3; ++k) {
        char c = s[i + static_cast<size_t>(k)];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

const char* StackFlagsHelp() {
  return "Layer stack (as stratafs takes it):\n"
         "  -l, --lower TOP:...:BOTTOM   lower layers, top first ('\\:' escapes a colon)\n"
         "  -u, --upper DIR              the writable (container) layer, on top\n"
         "  -m, --mount MNT              or: the layers of the stratafs mounted at MNT\n";
}

StackArgs ParseLayersXattr(const std::string& text) {
  StackArgs out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("lowerdir=")) out.lowers.push_back(line.substr(9));
    else if (line.starts_with("upperdir=")) out.upper = line.substr(9);
  }
  return out;
}

namespace {

std::vector<std::string> StratafsMountPoints() {
  std::vector<std::string> out;
  std::ifstream info("/proc/self/mountinfo");
  std::string line;
  while (std::getline(info, line)) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
    std::istringstream f(line);
    std::string id, parent, devno, root, mnt;
    f >> id >> parent >> devno >> root >> mnt;
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype == "fuse.stratafs") out.push_back(UnescapeMountinfo(mnt));
  }
  return out;
}

}  // namespace

bool IsStratafsMount(const std::string& path) {
  char real[PATH_MAX];
  if (!::realpath(path.c_str(), real)) return false;
  for (const auto& m : StratafsMountPoints())
    if (m == real) return true;
  return false;
}

std::string FindStratafsMountFor(const std::string& path, std::string* inside) {
  if (path.empty() || path[0] != '/') return {};
  // Resolve the parent only: the last component may be a symlink (asked
  // about, not followed) or absent from the view.
  size_t slash = path.find_last_of('/');
  std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  std::string last = path.substr(slash + 1);
  char real[PATH_MAX];
  if (!::realpath(parent.c_str(), real)) return {};
  std::string full = std::string(real) == "/" ? "/" + last : std::string(real) + "/" + last;
  std::string best;
  for (const auto& m : StratafsMountPoints()) {
    bool within = full == m || (full.size() > m.size() && full.compare(0, m.size(), m) == 0 && full[m.size()] == '/');
    if (within && m.size() > best.size()) best = m;
  }
  if (!best.empty()) *inside = full.size() == best.size() ? "/" : full.substr(best.size());
  return best;
}

std::optional<StackArgs> StackArgsFromMount(const std::string& mountpoint, std::string* error) {
  if (!IsStratafsMount(mountpoint)) {
    *error = "'" + mountpoint + "' is not the mount point of a running stratafs";
    return std::nullopt;
  }
  std::string value(4096, '\0');
  for (;;) {
    ssize_t n = ::getxattr(mountpoint.c_str(), kLayersXattr, value.data(), value.size());
    if (n >= 0) {
      value.resize(static_cast<size_t>(n));
      break;
    }
    if (errno == ERANGE) {
      value.resize(value.size() * 4);
      continue;
    }
    *error = "cannot read the layers of the stratafs at '" + mountpoint + "' (xattr " +
             kLayersXattr + "): " + std::strerror(errno) +
             (errno == ENODATA || errno == EPERM ? " (needs root)" : "");
    return std::nullopt;
  }
  StackArgs out = ParseLayersXattr(value);
  out.mount = mountpoint;
  if (out.lowers.empty()) {
    *error = "the stratafs at '" + mountpoint + "' reported no lower layers";
    return std::nullopt;
  }
  return out;
}

std::optional<StackArgs> StackArgsFromFlags(const ParsedFlags& flags, bool upper_only,
                                            std::string* error) {
  if (flags.has("mount")) {
    if (flags.has("lower") || flags.has("upper")) {
      *error = "give either --mount or --lower/--upper, not both";
      return std::nullopt;
    }
    return StackArgsFromMount(flags.get("mount"), error);
  }
  StackArgs out;
  for (const auto& value : flags.values.count("lower") ? flags.values.at("lower")
                                                       : std::vector<std::string>{}) {
    for (auto& l : SplitLowerdirs(value)) {
      if (l.empty()) {
        *error = "empty path in --lower '" + value + "'";
        return std::nullopt;
      }
      out.lowers.push_back(std::move(l));
    }
  }
  out.upper = flags.get("upper");
  if (out.lowers.empty() && !(upper_only && !out.upper.empty())) {
    *error = upper_only ? "no layers given: use --upper DIR [--lower TOP:...:BOTTOM] or --mount MNT"
                        : "no layers given: use --lower TOP:...:BOTTOM [--upper DIR] or --mount MNT";
    return std::nullopt;
  }
  return out;
}

std::optional<OpenedStack> OpenStack(const StackArgs& args, std::string* error) {
  std::vector<std::string> all;
  if (!args.upper.empty()) all.push_back(args.upper);
  all.insert(all.end(), args.lowers.begin(), args.lowers.end());
  auto stack = layer::LayerStack::Open(all, "", "", error);
  if (!stack) {
    // The core names every layer "lowerdir"; say which one it really was.
    if (!args.upper.empty() && error->find("'" + args.upper + "'") != std::string::npos)
      *error = "upper" + error->substr(error->find(' '));
    return std::nullopt;
  }
  OpenedStack out{std::move(*stack), !args.upper.empty(), {}};
  if (out.has_upper) out.labels.push_back("upper");
  for (size_t i = 0; i < args.lowers.size(); ++i) out.labels.push_back("lower[" + std::to_string(i) + "]");
  return out;
}

}  // namespace strata::tools
