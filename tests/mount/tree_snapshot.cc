#include "tests/mount/tree_snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "tests/mount/layer_builder.h"

namespace strata::mounttest {
namespace {

char TypeOf(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'f';
    case S_IFDIR: return 'd';
    case S_IFLNK: return 'l';
    case S_IFIFO: return 'p';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFSOCK: return 's';
  }
  return '?';
}

std::string Printable(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

void ReadXattrs(const std::string& path, const SnapshotOptions& options, EntryState* entry) {
  char names[65536];
  ssize_t len = llistxattr(path.c_str(), names, sizeof names);
  if (len < 0) {
    if (errno != ENOTSUP) entry->read_error += std::string("listxattr: ") + strerror(errno) + ";";
    return;
  }
  std::vector<std::string> sorted;
  for (ssize_t pos = 0; pos < len;) {
    std::string name(names + pos);
    pos += name.size() + 1;
    sorted.push_back(name);
  }
  std::sort(sorted.begin(), sorted.end());
  for (const std::string& name : sorted) {
    std::string value;
    bool with_value = name.rfind("user.", 0) == 0 ||
                      (options.raw_layer && name.rfind("trusted.", 0) == 0);
    if (with_value) {
      char buf[65536];
      ssize_t vlen = lgetxattr(path.c_str(), name.c_str(), buf, sizeof buf);
      value = vlen >= 0 ? std::string(buf, vlen) : std::string("<error ") + strerror(errno) + ">";
    }
    entry->xattrs.emplace_back(name, value);
  }
}

void HashFile(const std::string& path, EntryState* entry) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    entry->read_error += std::string("open: ") + strerror(errno) + ";";
    return;
  }
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  char buf[65536];
  ssize_t got;
  off_t total = 0;
  while ((got = read(fd, buf, sizeof buf)) > 0) {
    XXH3_64bits_update(state, buf, got);
    total += got;
  }
  if (got < 0) entry->read_error += std::string("read: ") + strerror(errno) + ";";
  if (total != entry->size) entry->read_error += "read " + std::to_string(total) + " bytes;";
  entry->content_hash = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  close(fd);
}

void Walk(const std::string& root, const std::string& rel, const SnapshotOptions& options,
          Tree* tree) {
  std::string path = rel == "." ? root : root + "/" + rel;
  struct stat st;
  EntryState entry;
  if (lstat(path.c_str(), &st) != 0) {
    entry.read_error = std::string("lstat: ") + strerror(errno);
    (*tree)[rel] = entry;
    return;
  }
  entry.type = TypeOf(st.st_mode);
  entry.mode = st.st_mode & 07777;
  entry.uid = st.st_uid;
  entry.gid = st.st_gid;
  entry.size = entry.type == 'd' ? 0 : st.st_size;  // dir sizes depend on history
  entry.nlink = st.st_nlink;
  entry.rdev = (entry.type == 'c' || entry.type == 'b') ? st.st_rdev : 0;
  entry.mtime_sec = st.st_mtim.tv_sec;
  entry.mtime_nsec = st.st_mtim.tv_nsec;
  ReadXattrs(path, options, &entry);
  if (entry.type == 'f') HashFile(path, &entry);
  if (entry.type == 'l') {
    char target[4096];
    ssize_t len = readlink(path.c_str(), target, sizeof target);
    entry.link_target = len >= 0 ? std::string(target, len) : "<readlink error>";
  }
  std::vector<std::string> children;
  if (entry.type == 'd') {
    DIR* dir = opendir(path.c_str());
    if (dir == nullptr) {
      entry.read_error += std::string("opendir: ") + strerror(errno) + ";";
    } else {
      while (dirent* d = readdir(dir)) {
        std::string name = d->d_name;
        if (name != "." && name != "..") children.push_back(name);
      }
      closedir(dir);
    }
    std::sort(children.begin(), children.end());
    auto dup = std::adjacent_find(children.begin(), children.end());
    if (dup != children.end()) entry.read_error += "readdir lists '" + *dup + "' twice;";
  }
  (*tree)[rel] = entry;
  for (const std::string& name : children) {
    std::string child = rel == "." ? name : rel + "/" + name;
    if (std::find(options.skip.begin(), options.skip.end(), child) != options.skip.end()) continue;
    Walk(root, child, options, tree);
  }
}

std::string Octal(mode_t mode) {
  char buf[16];
  snprintf(buf, sizeof buf, "%04o", mode);
  return buf;
}

std::string XattrList(const EntryState& entry) {
  std::string out = "{";
  for (const auto& [name, value] : entry.xattrs) {
    if (out.size() > 1) out += ", ";
    out += name + "=" + Printable(value);
  }
  return out + "}";
}

bool FixedTime(const EntryState& entry) { return entry.mtime_sec < kFixedTimeLimit; }

}  // namespace

bool DirNlinkComparedByDefault() {
  const char* ignore = getenv("STRATA_MT_IGNORE_DIR_NLINK");
  return !(ignore && strcmp(ignore, "1") == 0);
}

Tree Snapshot(const std::string& root, const SnapshotOptions& options) {
  Tree tree;
  Walk(root, ".", options, &tree);
  return tree;
}

std::string DescribeEntry(const EntryState& e) {
  std::ostringstream out;
  out << e.type << " " << Octal(e.mode) << " " << e.uid << ":" << e.gid << " size=" << e.size
      << " nlink=" << e.nlink;
  if (e.type == 'f') out << " hash=" << std::hex << e.content_hash << std::dec;
  if (e.type == 'l') out << " -> " << e.link_target;
  if (e.rdev) out << " rdev=" << major(e.rdev) << "," << minor(e.rdev);
  out << " mtime=" << e.mtime_sec;
  if (!e.xattrs.empty()) out << " xattrs=" << XattrList(e);
  if (!e.read_error.empty()) out << " ERROR=" << e.read_error;
  return out.str();
}

std::string DiffTrees(const Tree& expected, const Tree& actual, const DiffOptions& options) {
  std::vector<std::string> lines;
  auto add = [&](const std::string& line) { lines.push_back(line); };
  for (const auto& [path, want] : expected) {
    auto it = actual.find(path);
    if (it == actual.end()) {
      add(path + ": missing (expected " + DescribeEntry(want) + ")");
      continue;
    }
    const EntryState& got = it->second;
    auto field = [&](const char* name, const std::string& w, const std::string& g) {
      if (w != g) add(path + ": " + name + " expected=" + w + " actual=" + g);
    };
    field("type", std::string(1, want.type), std::string(1, got.type));
    if (want.type != got.type) continue;
    field("error", want.read_error, got.read_error);
    bool root = path == ".";
    if (!root || options.compare_root) {
      field("mode", Octal(want.mode), Octal(got.mode));
      field("owner", std::to_string(want.uid) + ":" + std::to_string(want.gid),
            std::to_string(got.uid) + ":" + std::to_string(got.gid));
      if (FixedTime(want) || FixedTime(got)) {
        field("mtime", std::to_string(want.mtime_sec) + "." + std::to_string(want.mtime_nsec),
              std::to_string(got.mtime_sec) + "." + std::to_string(got.mtime_nsec));
      }
    }
    field("size", std::to_string(want.size), std::to_string(got.size));
    if (want.type == 'f' && want.content_hash != got.content_hash) add(path + ": content differs");
    field("symlink target", want.link_target, got.link_target);
    if (want.type != 'd' || options.compare_dir_nlink) {
      field("nlink", std::to_string(want.nlink), std::to_string(got.nlink));
    }
    field("rdev", std::to_string(want.rdev), std::to_string(got.rdev));
    field("xattrs", XattrList(want), XattrList(got));
  }
  for (const auto& [path, got] : actual) {
    if (!expected.count(path)) add(path + ": unexpected entry " + DescribeEntry(got));
  }
  if (lines.empty()) return "";
  std::string out;
  for (size_t i = 0; i < lines.size() && i < options.max_differences; ++i) out += lines[i] + "\n";
  if (lines.size() > options.max_differences) {
    out += "... and " + std::to_string(lines.size() - options.max_differences) + " more\n";
  }
  return out;
}

}  // namespace strata::mounttest
