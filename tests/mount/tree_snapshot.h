// A walk of a directory tree (never following symlinks) recording what a
// user can observe of each entry, and a readable diff of two walks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace strata::mounttest {

struct EntryState {
  char type = '?';  // f d l p c b s
  mode_t mode = 0;  // permission and set-id bits only
  uid_t uid = 0;
  gid_t gid = 0;
  off_t size = 0;
  uint64_t content_hash = 0;  // XXH3 of a regular file's data
  std::string link_target;
  nlink_t nlink = 0;
  dev_t rdev = 0;
  int64_t mtime_sec = 0;
  long mtime_nsec = 0;
  std::string read_error;  // set when the data or listing could not be read
  // Listed xattr names; values for user.* (and, raw, for trusted.*).
  std::vector<std::pair<std::string, std::string>> xattrs;
};

using Tree = std::map<std::string, EntryState>;  // relative path ("." = root)

struct SnapshotOptions {
  // Raw layer view: record trusted.* values too (whiteout/opaque markers).
  bool raw_layer = false;
  // Paths (relative, exact) not to descend into, e.g. the upper's "work".
  std::vector<std::string> skip;
};

Tree Snapshot(const std::string& root, const SnapshotOptions& options = {});

// STRATA_MT_IGNORE_DIR_NLINK=1: for validating the harness against
// fuse-overlayfs, which reports real directory link counts where the kernel
// reports 1 for merged directories.
bool DirNlinkComparedByDefault();

struct DiffOptions {
  bool compare_dir_nlink = DirNlinkComparedByDefault();
  bool compare_root = false;  // the root's mode/owner/mtime differ by setup
  size_t max_differences = 25;
};

// "" when equal; else up to max_differences lines
// "path: field expected=... actual=...".
std::string DiffTrees(const Tree& expected, const Tree& actual, const DiffOptions& options = {});

std::string DescribeEntry(const EntryState& entry);

}  // namespace strata::mounttest
