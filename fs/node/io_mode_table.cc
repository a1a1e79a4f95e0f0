#include "fs/node/io_mode_table.h"

namespace strata {

IoModeTable::~IoModeTable() {
  std::lock_guard lock(mu_);
  for (auto& [nodeid, st] : nodes_)
    if (st.passthrough > 0) close_backing_(st.backing_id);
}

IoModeTable::Grant IoModeTable::Open(uint64_t nodeid, int fd, bool eligible) {
  std::lock_guard lock(mu_);
  State& st = nodes_[nodeid];
  if (st.passthrough > 0) {
    // The kernel holds this inode in passthrough mode: a cached open would
    // fail, and so would another backing file.
    ++st.passthrough;
    ++passthrough_opens_;
    return Grant{true, st.backing_id, false};
  }
  bool fallback = false;
  if (eligible && st.cached == 0) {
    auto id = open_backing_(fd);
    if (id.ok()) {
      st.passthrough = 1;
      st.backing_id = *id;
      ++passthrough_opens_;
      return Grant{true, *id, false};
    }
    fallback = true;
  }
  ++st.cached;
  return Grant{false, 0, fallback};
}

void IoModeTable::Release(uint64_t nodeid, bool passthrough) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(nodeid);
  if (it == nodes_.end()) return;
  State& st = it->second;
  if (passthrough && st.passthrough > 0) {
    if (--st.passthrough == 0) close_backing_(st.backing_id);
  } else if (!passthrough && st.cached > 0) {
    --st.cached;
  }
  if (st.cached == 0 && st.passthrough == 0) nodes_.erase(it);
}

void IoModeTable::Demote(uint64_t nodeid) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(nodeid);
  if (it == nodes_.end() || it->second.passthrough == 0) return;
  State& st = it->second;
  if (--st.passthrough == 0) close_backing_(st.backing_id);
  ++st.cached;
}

size_t IoModeTable::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

uint64_t IoModeTable::passthrough_opens() const {
  std::lock_guard lock(mu_);
  return passthrough_opens_;
}

}  // namespace strata
