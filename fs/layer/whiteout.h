// Whiteout and opaque-directory codec: every on-disk form kernel overlayfs,
// fuse-overlayfs and OCI layers use is read; the kernel's form is written.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "fs/base/result.h"
#include "fs/layer/layer.h"

namespace strata::layer {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr const char* kOpaqueMarkerFile = ".wh..wh..opq";

// Names that are layer metadata, never shown in the merged view: `.wh.NAME`
// whiteouts and the `.wh..wh..opq` marker.
inline bool IsWhiteoutFileName(std::string_view name) { return name.starts_with(kWhiteoutPrefix); }

// A character device 0/0 is the kernel's whiteout.
inline bool IsDeviceWhiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

// Overlay-private xattrs: hidden from the merged view, never copied up.
bool IsPrivateXattr(std::string_view name);

// What the markers of one directory instance say.
struct DirMarkers {
  bool opaque = false;           // hides lower layers' instances
  bool xattr_whiteouts = false;  // may hold xattr-marked whiteouts ("x" form)
};

// Reads the opacity xattrs (trusted./user.overlay.opaque, user.fuseoverlayfs.opaque)
// and the `.wh..wh..opq` marker of the directory open at `dirfd`.
Result<DirMarkers> ReadDirMarkers(int dirfd);

// Is the regular file `name` in `dirfd` an xattr-marked whiteout (a zero-size
// file with an overlay.whiteout xattr, in a directory whose opaque xattr is "x")?
bool IsXattrWhiteout(int dirfd, const char* name, const struct stat& st);

// Is `name` deleted in this layer by a `.wh.NAME` file?
bool HasWhiteoutFile(int dirfd, std::string_view name);

// Writers, in the kernel's format (or the userxattr form).
//
// With `workfd` (WORKDIR/work), a whiteout is a hard link to one 0/0 device
// kept there, `#whiteout`, as kernel overlayfs does since Linux 5.8: a
// deletion then allocates no inode (the costly part of `rm -rf` of a lower
// tree). A missing or full (EMLINK) shared whiteout is made anew; where none
// can be made, each whiteout is its own device.
Status MakeWhiteout(int dirfd, const char* name, MarkerNamespace ns, int workfd = -1);
Status SetOpaque(int dirfd, MarkerNamespace ns);
// Make a whiteout appear atomically in place of whatever `name` is, by
// building it in the work directory and renaming over (RENAME_EXCHANGE-free).
Status MakeWhiteoutVia(int workfd, int dirfd, const char* name, MarkerNamespace ns);

}  // namespace strata::layer
