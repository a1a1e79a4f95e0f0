// strata import TAR DIR: unpack an OCI/Docker layer tarball into a layer directory.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "tools/cli_flags.h"
#include "tools/commands.h"
#include "tools/json_writer.h"
#include "tools/progress.h"
#include "tools/tar_import.h"

namespace strata::tools {

namespace {

constexpr const char* kName = "import";

constexpr FlagSpec kFlags[] = {{"help", false, 'h'}, {"json", false, 'j'}, {"no-progress", false, 0}};

void PrintHelp() {
  std::printf(
      "usage: strata import [--json] TAR DIR\n\n"
      "Unpacks an OCI/Docker layer tarball (plain, gzip, zstd, xz or bzip2) into the\n"
      "layer directory DIR (created if missing) in the kernel overlay format:\n"
      "'.wh.NAME' becomes a whiteout (char device 0/0 NAME) and '.wh..wh..opq' makes\n"
      "its directory opaque (trusted.overlay.opaque=y). Modes, owners, times, xattrs,\n"
      "hard links, devices and fifos are kept.\n\n"
      "Entries that would leave DIR (absolute paths, '..', paths through a symlink,\n"
      "hard links to outside) are refused: the import stops with an error naming the\n"
      "entry, and nothing is ever written outside DIR (no symlink is followed).\n\n"
      "Options:\n"
      "  -j, --json         JSON summary\n"
      "      --no-progress  never draw a progress bar\n"
      "  -h, --help         this text\n");
}

}  // namespace

int RunImport(int argc, char** argv) {
  int exit_code = 0;
  auto flags = ParseCommandLine(argc, argv, kName, kFlags, PrintHelp, &exit_code);
  if (!flags) return exit_code;
  std::string error;
  if (flags->positional.size() != 2) return UsageError(kName, "expected TAR and DIR (see --help)");
  if (flags->has("no-progress")) Progress::SetEnabled(false);
  const std::string& tar = flags->positional[0];
  const std::string& dir = flags->positional[1];
  struct stat st;
  if (::stat(tar.c_str(), &st) < 0) return UsageError(kName, "'" + tar + "': " + std::strerror(errno));
  Progress progress("import " + tar, static_cast<uint64_t>(st.st_size), true);
  auto stats = ImportLayerTar(tar, dir, &error, [&](uint64_t n) { progress.Set(n); });
  progress.Finish();
  if (!stats.ok()) return Failure(kName, error);
  if (flags->has("json")) {
    JsonWriter w;
    w.BeginObject().Field("archive", tar).Field("layer", dir).Field("entries", stats->entries);
    w.Field("whiteouts", stats->whiteouts).Field("bytes", stats->bytes).EndObject();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("imported %s into %s: %llu entries (%llu whiteout markers), %llu bytes of file data\n",
                tar.c_str(), dir.c_str(), static_cast<unsigned long long>(stats->entries),
                static_cast<unsigned long long>(stats->whiteouts),
                static_cast<unsigned long long>(stats->bytes));
  }
  return 0;
}

}  // namespace strata::tools
