// Writes entries (from a tarball, or from another layer) into a layer
// directory without ever leaving it: names are checked ('..', absolute paths,
// over-long names are refused), parents are opened beneath the root with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) or created one fd-relative
// step at a time with O_NOFOLLOW, entries are created with O_EXCL|O_NOFOLLOW,
// and hard-link targets must already be inside the layer. No symlink is ever
// followed while writing.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fs/base/result.h"
#include "fs/base/unique_fd.h"

namespace strata::tools {

struct LayerEntry {
  std::string path;          // relative, as in the archive ("./a/b" and "a/b/" are fine)
  mode_t mode = 0;           // type and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  struct timespec atime {};
  struct timespec mtime {};
  dev_t rdev = 0;
  uint64_t size = 0;
  std::string symlink;       // target of a symlink (never followed)
  std::string hardlink;      // path of an earlier entry this one is a hard link to
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// Reads up to `size` bytes of a regular entry's data; 0 at the end.
using DataReader = std::function<Result<size_t>(char* buf, size_t size)>;

// A regular entry's data as blocks at offsets, in increasing order; what lies
// between two blocks (and after the last one, up to the entry's size) is a
// hole. `data` stays valid until the next call; size 0 at the end.
struct DataBlock {
  const char* data = nullptr;
  size_t size = 0;
  uint64_t offset = 0;
};
using BlockReader = std::function<Result<DataBlock>()>;

class LayerWriter {
 public:
  // kOverlay turns OCI `.wh.NAME` entries into char 0/0 whiteouts and
  // `.wh..wh..opq` into trusted.overlay.opaque=y (import); kVerbatim writes
  // every name as it is (a directory in OCI layout, for commit OUT/).
  enum class Whiteouts { kOverlay, kVerbatim };

  // `dir` is created if missing (its parent must exist).
  static Result<LayerWriter> Open(const std::string& dir, Whiteouts mode, std::string* error);

  // Writes one entry. On failure *error says which entry and why.
  Status Add(const LayerEntry& entry, const DataReader& data, std::string* error);
  // The same, the data read as blocks: holes stay holes (a sparse archive
  // entry is never expanded on disk).
  Status Add(const LayerEntry& entry, const BlockReader& blocks, std::string* error);

  // Sets directory times (deferred so writing children does not change them).
  Status Finish(std::string* error);

  uint64_t entries() const { return entries_; }
  uint64_t whiteouts() const { return whiteouts_; }

  // Splits and checks an archive path: no absolute path, no '..', names of at
  // most NAME_MAX bytes. Empty result with *error on refusal; {} with no error
  // for the root itself ("./").
  static std::vector<std::string> CheckedComponents(const std::string& path, std::string* error);

 private:
  LayerWriter(UniqueFd root, Whiteouts mode) : root_(std::move(root)), mode_(mode) {}
  // Opens (creating when `create`) the directory made of `comps[0..n)`.
  Result<UniqueFd> OpenDir(const std::vector<std::string>& comps, size_t n, bool create,
                           std::string* error);
  Status ApplyMetadata(int fd, bool is_symlink, const LayerEntry& e, std::string* error);
  // One of `data` and `blocks` is set for a regular entry.
  Status AddEntry(const LayerEntry& e, const DataReader* data, const BlockReader* blocks,
                  std::string* error);

  UniqueFd root_;
  Whiteouts mode_;
  bool privileged_ = false;
  uint64_t entries_ = 0;
  uint64_t whiteouts_ = 0;
  // Directory path -> times to set at the end.
  std::map<std::string, std::pair<struct timespec, struct timespec>> dir_times_;
};

}  // namespace strata::tools
