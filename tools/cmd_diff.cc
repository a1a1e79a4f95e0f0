// strata diff: the container layer's changes, as `podman diff` reports them.
#include <cstdio>
#include <cstring>

#include "tools/cli_flags.h"
#include "tools/commands.h"
#include "tools/json_writer.h"
#include "tools/layer_args.h"
#include "tools/layer_diff.h"

namespace strata::tools {

namespace {

constexpr const char* kName = "diff";

constexpr FlagSpec kFlags[] = {
    {"help", false, 'h'}, {"json", false, 'j'}, kLowerFlag, kUpperFlag, kMountFlag,
};

void PrintHelp() {
  std::printf(
      "usage: strata diff --upper U --lower TOP:...:BOTTOM [--json]\n"
      "       strata diff --mount MNT [--json]\n\n"
      "Lists the changes of the upper (container) layer against the lower layers as\n"
      "'A PATH' (added), 'C PATH' (changed) and 'D PATH' (deleted) lines sorted by\n"
      "path, by the rules podman uses for overlay containers: whiteouts are D; an\n"
      "opaque directory that replaced a lower one is D followed by its contents;\n"
      "every added or deleted path also reports its parent directories as C.\n"
      "--json prints {\"changed\":[..],\"added\":[..],\"deleted\":[..]} like\n"
      "'podman diff --format json'.\n\n"
      "%s\n"
      "Options:\n"
      "  -j, --json     JSON output\n"
      "  -h, --help     this text\n",
      StackFlagsHelp());
}

}  // namespace

int RunDiff(int argc, char** argv) {
  int exit_code = 0;
  auto flags = ParseCommandLine(argc, argv, kName, kFlags, PrintHelp, &exit_code);
  if (!flags) return exit_code;
  std::string error;
  if (!flags->positional.empty())
    return UsageError(kName, "unexpected argument '" + flags->positional[0] + "' (see --help)");
  auto args = StackArgsFromFlags(*flags, true, &error);
  if (!args) return UsageError(kName, error);
  if (args->upper.empty()) return UsageError(kName, "no upper layer: diff needs --upper DIR or a writable --mount");
  auto stack = OpenStack(*args, &error);
  if (!stack) return Failure(kName, error);
  std::vector<int> lowers;
  for (int i = 1; i < stack->size(); ++i) lowers.push_back(stack->root_fd(i));
  auto changes = UpperChanges(stack->root_fd(0), lowers);
  if (!changes.ok()) return Failure(kName, "walking '" + args->upper + "': " + std::strerror(changes.error()));
  if (flags->has("json")) {
    JsonWriter w;
    w.BeginObject();
    for (auto [key, kind] : {std::pair{"changed", 'C'}, {"added", 'A'}, {"deleted", 'D'}}) {
      w.Key(key).BeginArray();
      for (const auto& c : *changes)
        if (c.kind == kind) w.String(c.path);
      w.EndArray();
    }
    std::printf("%s\n", w.EndObject().str().c_str());
    return 0;
  }
  for (const auto& c : *changes) std::printf("%c %s\n", c.kind, c.path.c_str());
  return 0;
}

}  // namespace strata::tools
