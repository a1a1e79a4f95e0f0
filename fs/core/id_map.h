// Owner mapping between what is stored in the layers and what the mount shows,
// as fuse-overlayfs defines it: `uidmapping=HOST:SHOWN:LEN[:HOST:SHOWN:LEN...]`
// (stored ids HOST..HOST+LEN-1 appear as SHOWN..; new files by SHOWN.. are
// stored as HOST..), and `squash_to_root` / `squash_to_uid=` / `squash_to_gid=`
// (everything appears owned by one id; squash_to_uid/gid win over squash_to_root).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace strata {

class IdMap {
 public:
  static constexpr uint32_t kOverflowId = 65534;

  // Parses a mapping; an empty string is the identity. nullopt when malformed.
  static std::optional<IdMap> Parse(const std::string& spec);

  bool identity() const { return ranges_.empty() && !squash_; }
  void set_squash(uint32_t id) { squash_ = id; }

  // Stored id -> shown id.
  uint32_t ToShown(uint32_t stored) const;
  // Shown id (a caller's, or a chown target) -> stored id.
  uint32_t ToStored(uint32_t shown) const;

 private:
  struct Range {
    uint32_t host, shown, len;
  };
  std::vector<Range> ranges_;
  std::optional<uint32_t> squash_;
};

}  // namespace strata
