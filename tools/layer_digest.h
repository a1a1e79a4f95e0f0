// Reproducible digest of one layer directory: XXH3-128 over a canonical,
// sorted serialization of every entry (name, kind, mode, owner, size, link
// target, device numbers, xattrs, contents, hard-link grouping), with the
// overlay markers normalized: every whiteout form is "whiteout NAME", every
// opacity form is one "opaque" flag. readdir order, timestamps (unless asked),
// inode numbers and overlay-private xattrs (trusted.overlay.*, user.overlay.*,
// user.strata.*, user.fuseoverlayfs.*) do not enter it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fs/base/result.h"
#include "tools/layer_entry.h"

namespace strata::tools {

inline constexpr const char* kDigestPrefix = "xxh3-128:";

struct DigestOptions {
  bool with_times = false;   // also hash mtimes (seconds and nanoseconds)
  bool want_tree = false;    // fill LayerDigest::tree
  unsigned threads = 0;      // file-hashing workers; 0 = automatic
  std::function<void(uint64_t)> on_bytes;   // content bytes hashed so far (progress)
  std::function<void(uint64_t)> on_total;   // total content bytes, once known
};

struct EntryDigest {
  std::string path;  // relative, "" for the root
  EntryKind kind;
  mode_t mode = 0;   // permission bits
  uint64_t size = 0;
  std::string digest;          // of this entry's record (metadata + content)
  std::string content_digest;  // regular files only
};

struct LayerDigest {
  std::string digest;  // "xxh3-128:<32 hex>"
  uint64_t entries = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;
  std::vector<EntryDigest> tree;
};

// On failure returns the errno and sets *error to a message naming the path.
Result<LayerDigest> DigestLayer(int root_fd, const DigestOptions& options, std::string* error);

}  // namespace strata::tools
