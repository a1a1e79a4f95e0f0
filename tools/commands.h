// The `strata` subcommands. Each takes argv with argv[0] = its own name and
// returns the process exit code: 0 success, 1 failure while working (or a
// check that did not hold, such as digest --verify), 2 bad input.
#pragma once

namespace strata::tools {

int RunWhich(int argc, char** argv);
int RunDiff(int argc, char** argv);
int RunDigest(int argc, char** argv);
int RunReport(int argc, char** argv);
int RunImport(int argc, char** argv);
int RunCommit(int argc, char** argv);
int RunStats(int argc, char** argv);
int RunMaterialize(int argc, char** argv);

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

}  // namespace strata::tools
