// strata commit --upper U OUT: the container layer as an OCI layer.
#include <cstdio>
#include <cstring>

#include "tools/cli_flags.h"
#include "tools/commands.h"
#include "tools/json_writer.h"
#include "tools/layer_args.h"
#include "tools/progress.h"
#include "tools/tar_export.h"

namespace strata::tools {

namespace {

constexpr const char* kName = "commit";

constexpr FlagSpec kFlags[] = {{"help", false, 'h'}, {"json", false, 'j'}, {"no-progress", false, 0},
                               kLowerFlag, kUpperFlag, kMountFlag};

void PrintHelp() {
  std::printf(
      "usage: strata commit (--upper U | --mount MNT) [--json] OUT\n\n"
      "Writes the upper (container) layer as an OCI image layer: whiteouts become\n"
      "'.wh.NAME' entries, opaque directories get a '.wh..wh..opq' entry, overlay-\n"
      "private xattrs are dropped; modes, owners, times, xattrs, hard links, devices\n"
      "and fifos are kept. OUT is a pax tarball (compressed by extension: .tar.gz,\n"
      ".tgz, .tar.zst; '-' for stdout) or, when it ends with '/' or is a directory,\n"
      "a layer directory in OCI layout. 'podman import OUT.tar' accepts the tarball.\n"
      "Commit a stopped container (or a read-only moment): files that change while\n"
      "being written are not captured consistently.\n\n"
      "%s\n"
      "Options:\n"
      "  -j, --json         JSON summary\n"
      "      --no-progress  never draw a progress bar\n"
      "  -h, --help         this text\n",
      StackFlagsHelp());
}

}  // namespace

int RunCommit(int argc, char** argv) {
  int exit_code = 0;
  auto flags = ParseCommandLine(argc, argv, kName, kFlags, PrintHelp, &exit_code);
  if (!flags) return exit_code;
  std::string error;
  if (flags->positional.size() != 1) return UsageError(kName, "expected one OUT (see --help)");
  if (flags->has("no-progress")) Progress::SetEnabled(false);
  auto args = StackArgsFromFlags(*flags, true, &error);
  if (!args) return UsageError(kName, error);
  if (args->upper.empty()) return UsageError(kName, "no upper layer to commit (--upper DIR)");
  auto stack = OpenStack(StackArgs{{}, args->upper, {}}, &error);
  // OpenStack wants a lower; the upper alone is opened as one.
  if (!stack) stack = OpenStack(StackArgs{{args->upper}, {}, {}}, &error);
  if (!stack) return Failure(kName, error);
  const std::string& out = flags->positional[0];
  Progress progress("commit " + args->upper, 0, true);
  auto stats = ExportLayer(stack->root_fd(0), out, &error, [&](uint64_t n) { progress.Add(n); });
  progress.Finish();
  if (!stats.ok()) return Failure(kName, error);
  if (flags->has("json")) {
    JsonWriter w;
    w.BeginObject().Field("upper", args->upper).Field("output", out);
    w.Field("format", IsDirectoryOutput(out) ? "directory" : "tar");
    w.Field("entries", stats->entries).Field("whiteouts", stats->whiteouts).Field("bytes", stats->bytes);
    std::printf("%s\n", w.EndObject().str().c_str());
  } else if (out != "-") {
    std::printf("committed %s to %s: %llu entries (%llu whiteout markers), %llu bytes of file data\n",
                args->upper.c_str(), out.c_str(), static_cast<unsigned long long>(stats->entries),
                static_cast<unsigned long long>(stats->whiteouts),
                static_cast<unsigned long long>(stats->bytes));
  }
  return 0;
}

}  // namespace strata::tools
