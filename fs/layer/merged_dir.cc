#include "fs/layer/merged_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <xxhash.h>

#include <algorithm>
#include <unordered_map>

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
  // Upper regular files that also exist below may be copy-ups: their reported
  // inode number comes from the origin xattr.
  std::vector<size_t> maybe_copied;

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
            above.ino = stack.ReportedIno(inst.layer, e.ino);
          else if (above.type == DT_REG)
            maybe_copied.push_back(it->second);
          above.layer = -1 - above.layer;  // mark: lower counterpart handled
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
      seen.emplace(e.name, out.size());
      out.push_back(MergedEntry{std::move(e.name), type, inst.layer,
                                stack.ReportedIno(inst.layer, e.ino), 0});
    }
    // `.wh.NAME` deletes NAME from the layers below this one only.
    for (auto& w : layer_whiteouts) seen.emplace(std::move(w), kHidden);
    // Lower layers never change: remember whether lookups must probe `.wh.NAME`.
    if (!is_upper)
      inst.oci_whiteouts.store(saw_wh_names ? DirInstance::kHasWhiteoutFiles
                                            : DirInstance::kNoWhiteoutFiles,
                               std::memory_order_relaxed);
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
  for (size_t i : maybe_copied) {
    MergedEntry& e = out[i];
    auto fd = sys::OpenAt(dirs.front().fd.get(), e.name.c_str(), O_PATH);
    if (!fd.ok()) continue;
    uint64_t origin = 0;
    auto n = sys::GetXattrRaw(fd->get(), kOriginXattr, &origin, sizeof origin);
    if (n.ok() && *n == sizeof origin) e.ino = static_cast<ino_t>(origin);
  }
  return out;
}

}  // namespace strata::layer
