// Live status of a running stratafs, read as extended attributes of the mount
// root. They live in the trusted.* namespace, which the kernel lets only
// CAP_SYS_ADMIN read, so an unprivileged user of the mount cannot see them;
// no socket or extra server is needed. They are never listed.
//   trusted.strata.stats   JSON: operations, latencies, copy-ups, caches, memory
//   trusted.strata.stats.text  the same as a table for people
//   trusted.strata.layers  lines "lowerdir=PATH" (top first), "upperdir=", "workdir=", "pid="
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "fs/ops/fs_context.h"

namespace strata::ops {

inline constexpr const char* kStatsXattr = "trusted.strata.stats";
inline constexpr const char* kLayersXattr = "trusted.strata.layers";
inline constexpr const char* kStatsTextXattr = "trusted.strata.stats.text";

// The value of a status xattr, or nullopt when `name` is not one.
std::optional<std::string> StatusXattr(FsContext& ctx, std::string_view name);

}  // namespace strata::ops
