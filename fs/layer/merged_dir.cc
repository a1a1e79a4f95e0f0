#include "fs/layer/merged_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <xxhash.h>

#include <algorithm>
#include <unordered_map>

#include "fs/layer/origin_map.h"
#include "fs/sys/syscalls.h"

namespace strata::layer {

namespace {

constexpr size_t kHidden = static_cast<size_t>(-1);

unsigned char TypeFromMode(mode_t m) { return static_cast<unsigned char>(IFTODT(m)); }


}  // namespace

Result<std::vector<MergedEntry>> ListMerged(const LayerStack& stack,
                                            std::span<const DirInstance> dirs) {
  std::vector<MergedEntry> out;
  // name -> index in `out`, or kHidden for a whiteout seen above.
  std::unordered_map<std::string, size_t> seen;
  // Upper regular files may be copy-ups (renamed ones too): their reported
  // inode number comes from the origin xattr, as Resolve does.
  std::vector<std::pair<size_t, ino_t>> upper_files;  // index, upper inode number
  // Upper directories with a directory below: they report the lower one's
  // number if they merge with it (not opaque), as Resolve does.
  struct LowerDir {
    size_t index;
    ino_t ino;
  };
  std::vector<LowerDir> upper_dirs;
  // Marks an upper entry whose lower counterpart has been dealt with.
  auto settle = [&](MergedEntry& above) {
    if (above.layer == LayerStack::kUpper && stack.has_upper()) above.layer = -1 - above.layer;
  };

  for (const DirInstance& inst : dirs) {
    const bool is_upper = stack.has_upper() && inst.layer == LayerStack::kUpper;
    auto entries = sys::ReadDir(inst.fd.get());
    if (!entries.ok()) return Errno(entries.error());
    std::vector<std::string> layer_whiteouts;
    bool saw_wh_names = false;
    for (auto& e : *entries) {
      if (IsWhiteoutFileName(e.name)) {
        saw_wh_names = true;
        if (e.name != kOpaqueMarkerFile) layer_whiteouts.push_back(e.name.substr(kWhiteoutPrefix.size()));
        continue;
      }
      auto it = seen.find(e.name);
      if (it != seen.end()) {
        if (it->second == kHidden) continue;
        MergedEntry& above = out[it->second];
        if (above.layer == LayerStack::kUpper && stack.has_upper() && !is_upper) {
          if (above.type == DT_DIR && e.type == DT_DIR)
            upper_dirs.push_back({it->second, stack.ReportedIno(inst.layer, e.ino)});
          settle(above);  // a non-directory below ends the merge
        }
        continue;
      }
      unsigned char type = e.type;
      if (type == DT_UNKNOWN || type == DT_CHR || (type == DT_REG && inst.markers.xattr_whiteouts)) {
        struct stat st;
        if (::fstatat(inst.fd.get(), e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
          if (errno == ENOENT) continue;  // removed while we read
          return Errno::Last();
        }
        if (IsDeviceWhiteout(st) ||
            (inst.markers.xattr_whiteouts && IsXattrWhiteout(inst.fd.get(), e.name.c_str(), st))) {
          seen.emplace(std::move(e.name), kHidden);
          continue;
        }
        type = TypeFromMode(st.st_mode);
      }
      if (is_upper && type != DT_DIR) upper_files.push_back({out.size(), e.ino});
      seen.emplace(e.name, out.size());
      out.push_back(MergedEntry{std::move(e.name), type, inst.layer,
                                stack.ReportedIno(inst.layer, e.ino), 0});
    }
    // `.wh.NAME` deletes NAME from the layers below this one only (and so
    // ends the merge of an upper directory NAME above).
    for (auto& w : layer_whiteouts) {
      auto [it, inserted] = seen.emplace(std::move(w), kHidden);
      if (!inserted && it->second != kHidden) settle(out[it->second]);
    }
    // Lower layers never change: remember whether lookups must probe `.wh.NAME`.
    if (!is_upper)
      inst.oci_whiteouts.store(saw_wh_names ? DirInstance::kHasWhiteoutFiles
                                            : DirInstance::kNoWhiteoutFiles,
                               std::memory_order_relaxed);
  }
  // Before sorting: the indices above refer to the order of discovery.
  const int top_fd = dirs.empty() ? -1 : dirs.front().fd.get();
  // Copied-up objects keep the number they had below (origin_map.h).
  for (const auto& [i, real_ino] : upper_files)
    if (ino_t origin = GetOrigin(stack.origins(), top_fd, out[i].name.c_str(), real_ino))
      out[i].ino = origin;
  for (const LowerDir& d : upper_dirs) {
    auto inst = OpenDirInstance(LayerStack::kUpper, top_fd, out[d.index].name.c_str());
    if (inst.ok() && !inst->markers.opaque) out[d.index].ino = d.ino;
  }
  for (auto& e : out) {
    if (e.layer < 0) e.layer = -1 - e.layer;
    e.offset = (XXH3_64bits(e.name.data(), e.name.size()) >> 2) + kFirstEntryOffset;
  }
  std::sort(out.begin(), out.end(), [](const MergedEntry& a, const MergedEntry& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.name < b.name;
  });
  // Keep offsets strictly increasing even for the rare hash collision.
  for (size_t i = 1; i < out.size(); ++i)
    if (out[i].offset <= out[i - 1].offset) out[i].offset = out[i - 1].offset + 1;
  return out;
}

}  // namespace strata::layer
