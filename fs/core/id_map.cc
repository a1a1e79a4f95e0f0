#include "fs/core/id_map.h"

#include <charconv>

namespace strata {

std::optional<IdMap> IdMap::Parse(const std::string& spec) {
  IdMap m;
  if (spec.empty()) return m;
  std::vector<uint32_t> nums;
  const char* p = spec.data();
  const char* end = p + spec.size();
  while (p < end) {
    uint32_t v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || next == p) return std::nullopt;
    nums.push_back(v);
    p = next;
    if (p < end) {
      if (*p != ':') return std::nullopt;
      ++p;
      if (p == end) return std::nullopt;
    }
  }
  if (nums.empty() || nums.size() % 3 != 0) return std::nullopt;
  for (size_t i = 0; i < nums.size(); i += 3) {
    if (nums[i + 2] == 0) return std::nullopt;
    m.ranges_.push_back(Range{nums[i], nums[i + 1], nums[i + 2]});
  }
  return m;
}

uint32_t IdMap::ToShown(uint32_t stored) const {
  if (squash_) return *squash_;
  if (ranges_.empty()) return stored;
  for (const Range& r : ranges_)
    if (stored >= r.host && stored - r.host < r.len) return r.shown + (stored - r.host);
  return kOverflowId;
}

uint32_t IdMap::ToStored(uint32_t shown) const {
  if (ranges_.empty()) return shown;
  for (const Range& r : ranges_)
    if (shown >= r.shown && shown - r.shown < r.len) return r.host + (shown - r.shown);
  return kOverflowId;
}

}  // namespace strata
