// What a raw entry of a layer directory means in overlay terms, with every
// on-disk form normalized: a kernel whiteout (char 0/0), an OCI `.wh.NAME`
// file, an xattr-marked whiteout; an opaque directory by xattr or by a
// `.wh..wh..opq` marker file.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

namespace strata::tools {

enum class EntryKind {
  kRegular,
  kDirectory,
  kSymlink,
  kCharDevice,
  kBlockDevice,
  kFifo,
  kSocket,
  kWhiteout,      // deletes `target` (the entry's own name, or NAME of `.wh.NAME`)
  kOpaqueMarker,  // `.wh..wh..opq`: makes its directory opaque
};

struct ClassifiedEntry {
  EntryKind kind;
  std::string target;  // the merged-view name this entry is about
};

// `parent_fd` holds `name`; `st` is its lstat. Reads xattrs only when needed.
ClassifiedEntry ClassifyEntry(int parent_fd, const std::string& name, const struct stat& st);

// Is the directory open at `dir_fd` opaque (any xattr form or marker file)?
bool IsOpaqueDir(int dir_fd);

// One letter / word per kind, for listings and digests.
char KindLetter(EntryKind kind);
const char* KindName(EntryKind kind);
EntryKind KindFromMode(mode_t mode);

}  // namespace strata::tools
