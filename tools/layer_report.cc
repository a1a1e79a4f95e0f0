#include "tools/layer_report.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "tools/layer_entry.h"
#include "tools/tree_walk.h"

namespace strata::tools {

namespace {

// One visible non-directory of the merged view as built so far.
struct Visible {
  int layer;
  uint64_t size;
};

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool EndsWith(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string HumanBytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(b) / (1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace

bool LooksLikeSecret(const std::string& path) {
  std::string name = BaseName(path);
  static const char* kNames[] = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".env", ".netrc",
                                 ".git-credentials", ".npmrc", ".pypirc", "credentials", ".htpasswd"};
  for (const char* n : kNames)
    if (name == n) return true;
  if (name.starts_with(".env.")) return true;
  static const char* kSuffixes[] = {".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk"};
  for (const char* s : kSuffixes)
    if (EndsWith(name, s)) return true;
  return path.find(".aws/credentials") != std::string::npos ||
         path.find(".docker/config.json") != std::string::npos;
}

Result<StackReport> BuildReport(const OpenedStack& s, const ReportOptions& options, std::string* error) {
  StackReport out;
  // The merged view's non-directories, built bottom-up: path -> who provides it.
  std::map<std::string, Visible> view;
  std::map<std::string, int> added_by;  // path -> bottom-most layer that stored it (for warnings)
  std::vector<LayerReport> reports(static_cast<size_t>(s.size()));

  // Removes `prefix` itself (when `self`) and everything below it from the
  // view, charging the bytes to `by` and remembering who lost files.
  auto remove_tree = [&](const std::string& prefix, bool self, LayerReport& by, int by_layer) {
    auto first = self ? view.lower_bound(prefix) : view.lower_bound(prefix + "/");
    auto it = first;
    while (it != view.end()) {
      const std::string& p = it->first;
      bool inside = (self && p == prefix) || (p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0 &&
                                              p[prefix.size()] == '/');
      if (!inside) {
        if (p.compare(0, prefix.size(), prefix) != 0) break;
        ++it;
        continue;
      }
      by.deleted_bytes += it->second.size;
      LayerReport& owner = reports[static_cast<size_t>(it->second.layer)];
      owner.wasted_bytes += it->second.size;
      if (it->second.size > 0 && by_layer != it->second.layer)
        owner.warnings.push_back("/" + p + " (" + HumanBytes(it->second.size) + ") is deleted by " + s.label(by_layer));
      it = view.erase(it);
    }
  };

  for (int i = s.size() - 1; i >= 0; --i) {
    LayerReport& r = reports[static_cast<size_t>(i)];
    r.layer = i;
    std::vector<ReportFile> files;
    std::vector<std::pair<std::string, bool>> deletions;  // path, whole (true) or contents (opaque)
    std::vector<std::pair<std::string, Visible>> stores;
    std::vector<std::string> dirs;
    Status walked = WalkTree(s.root_fd(i), true, [&](const WalkItem& item) {
      if (item.path.empty()) {
        if (IsOpaqueDir(item.fd)) deletions.emplace_back("", false);
        return WalkAction::kContinue;
      }
      ClassifiedEntry c = ClassifyEntry(item.parent_fd, item.name, item.st);
      std::string dir = item.path.substr(0, item.path.size() - item.name.size());
      if (c.kind == EntryKind::kOpaqueMarker) return WalkAction::kContinue;
      if (c.kind == EntryKind::kWhiteout) {
        ++r.whiteouts;
        deletions.emplace_back(dir + c.target, true);
        return WalkAction::kContinue;
      }
      if (c.kind == EntryKind::kDirectory) {
        ++r.directories;
        dirs.push_back(item.path);
        if (IsOpaqueDir(item.fd)) deletions.emplace_back(item.path, false);
        return WalkAction::kContinue;
      }
      ++r.files;
      uint64_t size = c.kind == EntryKind::kRegular ? static_cast<uint64_t>(item.st.st_size) : 0;
      r.bytes += size;
      files.push_back({item.path, size});
      stores.emplace_back(item.path, Visible{i, size});
      if (LooksLikeSecret(item.path)) r.warnings.push_back("/" + item.path + " looks like a secret");
      return WalkAction::kContinue;
    });
    if (!walked.ok()) {
      *error = s.path(i) + ": " + std::strerror(walked.error());
      return Errno(walked.error());
    }
    // Deletions first: they only concern the layers below.
    for (const auto& [path, whole] : deletions) {
      if (path.empty()) {
        for (auto& [p, v] : view) {
          r.deleted_bytes += v.size;
          reports[static_cast<size_t>(v.layer)].wasted_bytes += v.size;
        }
        view.clear();
        continue;
      }
      remove_tree(path, whole, r, i);
    }
    // A directory here hides a lower non-directory of the same path.
    for (const auto& d : dirs) {
      auto it = view.find(d);
      if (it != view.end()) {
        r.shadowed_bytes += it->second.size;
        reports[static_cast<size_t>(it->second.layer)].wasted_bytes += it->second.size;
        view.erase(it);
      }
    }
    for (auto& [path, v] : stores) {
      auto it = view.find(path);
      if (it != view.end()) {
        r.shadowed_bytes += it->second.size;
        reports[static_cast<size_t>(it->second.layer)].wasted_bytes += it->second.size;
      }
      // A non-directory here also hides a lower directory's contents.
      remove_tree(path, false, r, i);
      view[path] = v;
    }
    std::partial_sort(files.begin(), files.begin() + static_cast<long>(std::min(options.top_files, files.size())),
                      files.end(), [](const ReportFile& a, const ReportFile& b) { return a.size > b.size; });
    files.resize(std::min(options.top_files, files.size()));
    r.largest = std::move(files);
    if (r.bytes > options.large_layer_bytes)
      r.warnings.push_back("large layer: " + HumanBytes(r.bytes) + " of file data");
    out.total_bytes += r.bytes;
  }
  for (const auto& [p, v] : view) out.visible_bytes += v.size;
  out.wasted_bytes = out.total_bytes - out.visible_bytes;
  for (int i = s.size() - 1; i >= 0; --i) out.layers.push_back(std::move(reports[static_cast<size_t>(i)]));
  return out;
}

}  // namespace strata::tools
