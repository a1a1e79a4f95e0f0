// strata stats MOUNT: live counters of a running stratafs.
#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/cli_flags.h"
#include "tools/commands.h"
#include "tools/layer_args.h"

namespace strata::tools {

namespace {

constexpr const char* kName = "stats";

constexpr FlagSpec kFlags[] = {{"help", false, 'h'}, {"json", false, 'j'}, kMountFlag};

void PrintHelp() {
  std::printf(
      "usage: strata stats [--json] MOUNT\n\n"
      "Live counters of the stratafs mounted at MOUNT: operations by kind with\n"
      "latency percentiles, copy-ups and bytes copied, cache hits, nodes, open files,\n"
      "resident memory. The daemon answers through the root-only extended\n"
      "attribute trusted.strata.stats of the mount root: only root can read it,\n"
      "no socket or server is involved.\n\n"
      "Options:\n"
      "  -j, --json   the daemon's JSON document\n"
      "  -h, --help   this text\n");
}

}  // namespace

int RunStats(int argc, char** argv) {
  int exit_code = 0;
  auto flags = ParseCommandLine(argc, argv, kName, kFlags, PrintHelp, &exit_code);
  if (!flags) return exit_code;
  std::string mount = flags->get("mount");
  if (mount.empty() && flags->positional.size() == 1) mount = flags->positional[0];
  if (mount.empty() || flags->positional.size() > 1)
    return UsageError(kName, "expected one MOUNT (see --help)");
  if (!IsStratafsMount(mount)) return Failure(kName, "'" + mount + "' is not a stratafs mount point");
  const char* attr = flags->has("json") ? "trusted.strata.stats" : "trusted.strata.stats.text";
  std::string value(1 << 16, '\0');
  ssize_t n = ::getxattr(mount.c_str(), attr, value.data(), value.size());
  if (n < 0) {
    if (errno == ENODATA || errno == EPERM || errno == EACCES)
      return Failure(kName, "cannot read the statistics of '" + mount + "' (root only)");
    return Failure(kName, "'" + mount + "': " + std::strerror(errno));
  }
  value.resize(static_cast<size_t>(n));
  std::printf("%s%s", value.c_str(), value.empty() || value.back() != '\n' ? "\n" : "");
  return 0;
}

}  // namespace strata::tools
