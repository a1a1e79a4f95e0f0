#include "tools/layer_which.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include "fs/layer/merged_dir.h"
#include "fs/layer/resolver.h"
#include "fs/layer/whiteout.h"
#include "fs/sys/syscalls.h"

namespace strata::tools {

namespace {

std::vector<std::string> SplitPath(const std::string& path, std::string* error) {
  std::vector<std::string> out;
  std::istringstream in(path);
  std::string comp;
  while (std::getline(in, comp, '/')) {
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      *error = "'" + path + "': '..' is not allowed (paths are inside the merged view)";
      return {};
    }
    out.push_back(comp);
  }
  return out;
}

std::string Prefix(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += "/" + comps[i];
  return out.empty() ? "/" : out;
}

// What one layer, on its own, holds at the path.
struct Probe {
  enum State { kAbsent, kPresent, kWhiteout } state = kAbsent;
  EntryKind kind = EntryKind::kRegular;
  struct stat st {};
  std::string blocks;  // non-empty when this layer hides the layers below for the path
};

Probe ProbeLayer(const OpenedStack& s, int layer, const std::vector<std::string>& comps) {
  Probe p;
  const std::string& label = s.label(layer);
  UniqueFd dir;
  int fd = s.root_fd(layer);
  if (comps.empty()) {
    p.state = Probe::kPresent;
    p.kind = EntryKind::kDirectory;
    auto st = sys::StatFd(fd);
    if (st.ok()) p.st = *st;
    if (IsOpaqueDir(fd)) p.blocks = "opaque root directory of " + label;
    return p;
  }
  for (size_t i = 0; i < comps.size(); ++i) {
    const bool last = i + 1 == comps.size();
    const std::string& name = comps[i];
    struct stat st;
    bool wh_file = layer::HasWhiteoutFile(fd, name);
    if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (wh_file) {
        if (last) p.state = Probe::kWhiteout;
        p.blocks = "whiteout of " + Prefix(comps, i + 1) + " in " + label;
      }
      return p;
    }
    ClassifiedEntry c = ClassifyEntry(fd, name, st);
    if (c.kind == EntryKind::kWhiteout) {
      if (last) p.state = Probe::kWhiteout;
      p.blocks = "whiteout of " + Prefix(comps, i + 1) + " in " + label;
      return p;
    }
    if (last) {
      p.state = Probe::kPresent;
      p.kind = c.kind;
      p.st = st;
      if (c.kind != EntryKind::kDirectory) {
        if (p.blocks.empty()) p.blocks = "shadowed by " + label;
      } else {
        auto sub = sys::OpenAt(fd, name.c_str(), O_RDONLY | O_DIRECTORY);
        if (p.blocks.empty() && ((sub.ok() && IsOpaqueDir(sub->get())) || wh_file))
          p.blocks = "opaque directory " + Prefix(comps, i + 1) + " in " + label;
      }
      return p;
    }
    if (!S_ISDIR(st.st_mode)) {
      p.blocks = Prefix(comps, i + 1) + " is a " + KindName(c.kind) + " in " + label;
      return p;
    }
    auto sub = sys::OpenAt(fd, name.c_str(), O_RDONLY | O_DIRECTORY);
    if (!sub.ok()) return p;
    dir = std::move(*sub);
    fd = dir.get();
    if (p.blocks.empty() && (IsOpaqueDir(fd) || wh_file))
      p.blocks = "opaque directory " + Prefix(comps, i + 1) + " in " + label;
  }
  return p;
}

}  // namespace

std::optional<WhichResult> Which(const OpenedStack& s, const std::string& path, std::string* error) {
  error->clear();
  std::vector<std::string> comps = SplitPath(path, error);
  if (!error->empty()) return std::nullopt;
  WhichResult out;
  out.path = Prefix(comps, comps.size());

  // 1. The verdict: the core resolver, from the root instances down.
  std::vector<layer::DirInstance> parent;
  for (int i = 0; i < s.size(); ++i) {
    auto inst = layer::OpenDirInstance(i, s.root_fd(i), ".");
    if (!inst.ok()) {
      *error = s.path(i) + ": " + std::strerror(inst.error());
      return std::nullopt;
    }
    bool opaque = inst->markers.opaque;
    parent.push_back(std::move(*inst));
    if (opaque) break;
  }
  std::optional<layer::Resolved> resolved;
  bool found = true;
  for (size_t i = 0; i < comps.size(); ++i) {
    auto r = layer::Resolve(s.stack, parent, comps[i]);
    if (!r.ok()) {
      *error = out.path + ": " + std::strerror(r.error());
      return std::nullopt;
    }
    if (!r->has_value()) {
      found = false;
      break;
    }
    resolved = std::move(*r);
    if (i + 1 < comps.size()) {
      if (!S_ISDIR(resolved->st.st_mode)) {
        found = false;
        out.missing_reason = Prefix(comps, i + 1) + " is not a directory in the merged view";
        break;
      }
      parent = std::move(resolved->dirs);
    }
  }
  if (found) {
    out.found = true;
    if (comps.empty()) {
      out.provider = parent.front().layer;
      out.kind = EntryKind::kDirectory;
      for (const auto& d : parent) out.merged_layers.push_back(d.layer);
      auto st = sys::StatFd(parent.front().fd.get());
      if (st.ok()) out.st = *st;
    } else {
      out.provider = resolved->layer;
      out.st = resolved->st;
      out.kind = KindFromMode(resolved->st.st_mode);
      for (const auto& d : resolved->dirs) out.merged_layers.push_back(d.layer);
    }
    if (out.kind == EntryKind::kDirectory) {
      const auto& dirs = comps.empty() ? parent : resolved->dirs;
      auto listing = layer::ListMerged(s.stack, dirs);
      if (listing.ok()) {
        std::map<int, uint64_t> counts;
        for (const auto& e : *listing) ++counts[e.layer];
        for (int l : out.merged_layers) out.contributions.emplace_back(l, counts[l]);
      }
    }
  }

  // 2. Every copy the view does not show, and what hides it.
  std::string blocked_by;
  for (int i = 0; i < s.size(); ++i) {
    Probe p = ProbeLayer(s, i, comps);
    bool merged = std::find(out.merged_layers.begin(), out.merged_layers.end(), i) != out.merged_layers.end();
    if (p.state == Probe::kPresent && i != out.provider && !merged) {
      std::string reason = blocked_by;
      if (reason.empty()) reason = out.found ? "shadowed by " + s.label(out.provider) : "hidden";
      out.hidden.push_back(HiddenCopy{i, p.kind,
                                      p.kind == EntryKind::kRegular ? static_cast<uint64_t>(p.st.st_size) : 0,
                                      reason});
    }
    if (!out.found && out.missing_reason.empty() && blocked_by.empty() && !p.blocks.empty() &&
        p.state != Probe::kPresent)
      out.missing_reason = p.blocks;
    if (blocked_by.empty() && !p.blocks.empty()) blocked_by = p.blocks;
  }
  if (!out.found && out.missing_reason.empty()) out.missing_reason = "no layer has it";
  return out;
}

}  // namespace strata::tools
