// The layer stack a subcommand works on, named like stratafs names it:
//   --lower TOP:...:BOTTOM [--upper U]   (`\:` escapes a colon), or
//   --mount MNT                          a running stratafs: its layers are read
//                                        from the root-only xattr trusted.strata.layers
//                                        of the mount root (see fs/ops/status_xattr.h).
// The tools only read layers, so the stack is opened read-only without a
// workdir: the upper, when given, is simply the top layer (index 0).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fs/layer/layer.h"
#include "tools/cli_flags.h"

namespace strata::tools {

// Flags every stack-taking subcommand accepts.
inline constexpr FlagSpec kLowerFlag{"lower", true, 'l'};
inline constexpr FlagSpec kUpperFlag{"upper", true, 'u'};
inline constexpr FlagSpec kMountFlag{"mount", true, 'm'};

struct StackArgs {
  std::vector<std::string> lowers;  // top first
  std::string upper;                // empty: none
  std::string mount;                // where the layers came from, when a mount
};

// --lower/--upper, or --mount. Requires lowers unless `upper_only` allows
// an upper alone (e.g. commit needs no lowers). nullopt + *error on bad input.
std::optional<StackArgs> StackArgsFromFlags(const ParsedFlags& flags, bool upper_only,
                                            std::string* error);

// Reads the layer list of the stratafs mounted at `mountpoint`.
std::optional<StackArgs> StackArgsFromMount(const std::string& mountpoint, std::string* error);

// Parses the value of the trusted.strata.layers xattr ("lowerdir=P" lines, top
// first, then "upperdir=P", "workdir=P", "pid=N").
StackArgs ParseLayersXattr(const std::string& text);

// Is `path` the root of a fuse.stratafs mount (per /proc/self/mountinfo)?
bool IsStratafsMount(const std::string& path);

// The stratafs mount holding the absolute `path` (the deepest one), and the
// path inside it ("/etc/motd"). Empty when `path` is on no stratafs mount.
std::string FindStratafsMountFor(const std::string& path, std::string* inside);

struct OpenedStack {
  layer::LayerStack stack;  // index 0 is the upper when has_upper
  bool has_upper = false;
  std::vector<std::string> labels;  // "upper", "lower[0]" (top lower), ...

  const std::string& label(int i) const { return labels[static_cast<size_t>(i)]; }
  const std::string& path(int i) const { return stack.at(static_cast<size_t>(i)).path; }
  int root_fd(int i) const { return stack.at(static_cast<size_t>(i)).root.get(); }
  int size() const { return static_cast<int>(stack.size()); }
};

std::optional<OpenedStack> OpenStack(const StackArgs& args, std::string* error);

// The help text lines describing the stack flags.
const char* StackFlagsHelp();

}  // namespace strata::tools
