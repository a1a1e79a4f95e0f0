#include "tools/layer_entry.h"

#include "fs/layer/whiteout.h"

namespace strata::tools {

EntryKind KindFromMode(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return EntryKind::kDirectory;
    case S_IFLNK: return EntryKind::kSymlink;
    case S_IFCHR: return EntryKind::kCharDevice;
    case S_IFBLK: return EntryKind::kBlockDevice;
    case S_IFIFO: return EntryKind::kFifo;
    case S_IFSOCK: return EntryKind::kSocket;
    default: return EntryKind::kRegular;
  }
}

ClassifiedEntry ClassifyEntry(int parent_fd, const std::string& name, const struct stat& st) {
  if (name == layer::kOpaqueMarkerFile) return {EntryKind::kOpaqueMarker, ""};
  if (layer::IsWhiteoutFileName(name))
    return {EntryKind::kWhiteout, name.substr(layer::kWhiteoutPrefix.size())};
  if (layer::IsDeviceWhiteout(st)) return {EntryKind::kWhiteout, name};
  // xattr-marked whiteouts only count in a directory that says it holds them,
  // but a zero-size file with the xattr is one in every practical layer.
  if (S_ISREG(st.st_mode) && st.st_size == 0 && layer::IsXattrWhiteout(parent_fd, name.c_str(), st))
    return {EntryKind::kWhiteout, name};
  return {KindFromMode(st.st_mode), name};
}

bool IsOpaqueDir(int dir_fd) {
  auto m = layer::ReadDirMarkers(dir_fd);
  return m.ok() && m->opaque;
}

char KindLetter(EntryKind kind) {
  switch (kind) {
    case EntryKind::kRegular: return 'f';
    case EntryKind::kDirectory: return 'd';
    case EntryKind::kSymlink: return 'l';
    case EntryKind::kCharDevice: return 'c';
    case EntryKind::kBlockDevice: return 'b';
    case EntryKind::kFifo: return 'p';
    case EntryKind::kSocket: return 's';
    case EntryKind::kWhiteout: return 'w';
    case EntryKind::kOpaqueMarker: return 'o';
  }
  return '?';
}

const char* KindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kRegular: return "file";
    case EntryKind::kDirectory: return "directory";
    case EntryKind::kSymlink: return "symlink";
    case EntryKind::kCharDevice: return "char-device";
    case EntryKind::kBlockDevice: return "block-device";
    case EntryKind::kFifo: return "fifo";
    case EntryKind::kSocket: return "socket";
    case EntryKind::kWhiteout: return "whiteout";
    case EntryKind::kOpaqueMarker: return "opaque-marker";
  }
  return "unknown";
}

}  // namespace strata::tools
