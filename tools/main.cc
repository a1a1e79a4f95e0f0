// strata: inspect and handle the layers of a strata (or overlayfs) stack.
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/commands.h"

namespace {

using strata::tools::Command;

constexpr Command kCommands[] = {
    {"which", "which layer provides a path, and what it shadows", strata::tools::RunWhich},
    {"diff", "the container layer's changes, as `podman diff` prints them", strata::tools::RunDiff},
    {"digest", "reproducible content digest of layer directories", strata::tools::RunDigest},
    {"report", "per-layer sizes, wasted space and warnings", strata::tools::RunReport},
    {"import", "unpack an OCI/Docker layer tarball into a layer directory", strata::tools::RunImport},
    {"commit", "write the container layer as an OCI layer tarball or directory", strata::tools::RunCommit},
    {"stats", "live counters of a running stratafs", strata::tools::RunStats},
    {"materialize", "turn chunked copy-ups of an upper into plain files", strata::tools::RunMaterialize},
};

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "usage: strata COMMAND [OPTIONS]\n\n"
               "Inspect and handle the layers of a strata (kernel overlayfs format) stack.\n\n"
               "Commands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\nRun 'strata COMMAND --help' for the options of one command.\n"
               "Every command prints human-readable text, or JSON with --json.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    PrintUsage(stdout);
    return 0;
  }
  if (cmd == "-V" || cmd == "--version") {
    std::printf("strata 0.1.0\n");
    return 0;
  }
  for (const auto& c : kCommands)
    if (cmd == c.name) return c.run(argc - 1, argv + 1);
  std::fprintf(stderr, "strata: unknown command '%s' (see 'strata --help')\n", cmd.c_str());
  return 2;
}
