// strata which PATH...: the layer that provides each path of the merged view.
#include <cstdio>
#include <optional>
#include <vector>

#include "tools/cli_flags.h"
#include "tools/commands.h"
#include "tools/json_writer.h"
#include "tools/layer_args.h"
#include "tools/layer_which.h"

namespace strata::tools {

namespace {

constexpr const char* kName = "which";

constexpr FlagSpec kFlags[] = {
    {"help", false, 'h'}, {"json", false, 'j'}, kLowerFlag, kUpperFlag, kMountFlag,
};

void PrintHelp() {
  std::printf(
      "usage: strata which [STACK] [--json] PATH...\n"
      "       strata which [--json] MNT/PATH...     (absolute paths on a running stratafs)\n\n"
      "For each PATH of the merged view: the layer that provides it, every copy in\n"
      "the layers below that it shadows, and the whiteout or opaque directory that\n"
      "hides a path or a lower copy. For a directory: the layers whose instances\n"
      "merge and how many entries each one contributes. Lookup is the daemon's own\n"
      "(top-down, whiteouts stop it, directories merge down to an opaque one).\n"
      "Exit status 1 when some PATH is not in the merged view.\n\n"
      "%s\n"
      "Options:\n"
      "  -j, --json     JSON output\n"
      "  -h, --help     this text\n",
      StackFlagsHelp());
}

std::string Describe(EntryKind kind, const struct stat& st) {
  char buf[96];
  if (kind == EntryKind::kRegular)
    std::snprintf(buf, sizeof buf, "%s, %llu bytes, mode %04o", KindName(kind),
                  static_cast<unsigned long long>(st.st_size), st.st_mode & 07777);
  else
    std::snprintf(buf, sizeof buf, "%s, mode %04o", KindName(kind), st.st_mode & 07777);
  return buf;
}

}  // namespace

int RunWhich(int argc, char** argv) {
  int exit_code = 0;
  auto flags = ParseCommandLine(argc, argv, kName, kFlags, PrintHelp, &exit_code);
  if (!flags) return exit_code;
  std::string error;
  if (flags->positional.empty()) return UsageError(kName, "no PATH given (see --help)");
  // Refuse bad paths before printing anything for the good ones.
  for (const auto& path : flags->positional)
    if (path == ".." || path.starts_with("../") || path.ends_with("/..") || path.find("/../") != std::string::npos)
      return UsageError(kName, "'" + path + "': '..' is not allowed (paths are inside the merged view)");
  std::vector<std::string> paths = flags->positional;
  std::optional<StackArgs> args;
  if (!flags->has("lower") && !flags->has("upper") && !flags->has("mount")) {
    // No stack given: absolute paths on a running stratafs name their own.
    std::string mount;
    for (auto& path : paths) {
      std::string inside;
      std::string m = FindStratafsMountFor(path, &inside);
      if (m.empty() || (!mount.empty() && m != mount))
        return UsageError(kName, "no layers given (--lower/--upper or --mount), and '" + path +
                                     "' is not on " + (mount.empty() ? "a stratafs mount" : "the stratafs mount " + mount));
      mount = m;
      path = inside;
    }
    args = StackArgsFromMount(mount, &error);
  } else {
    args = StackArgsFromFlags(*flags, false, &error);
  }
  if (!args) return UsageError(kName, error);
  auto stack = OpenStack(*args, &error);
  if (!stack) return Failure(kName, error);

  const bool json = flags->has("json");
  JsonWriter w;
  if (json) w.BeginArray();
  int status = 0;
  for (const auto& path : paths) {
    auto r = Which(*stack, path, &error);
    if (!r) return UsageError(kName, error);
    if (!r->found) status = 1;
    if (json) {
      w.BeginObject().Field("path", r->path).Field("found", r->found);
      if (r->found) {
        w.Key("provider").BeginObject().Field("layer", stack->label(r->provider));
        w.Field("layer_path", stack->path(r->provider)).Field("kind", KindName(r->kind));
        w.Field("mode", static_cast<uint64_t>(r->st.st_mode & 07777));
        if (r->kind == EntryKind::kRegular) w.Field("size", static_cast<uint64_t>(r->st.st_size));
        w.EndObject();
      } else {
        w.Field("missing_reason", r->missing_reason);
      }
      if (!r->merged_layers.empty()) {
        w.Key("merged").BeginArray();
        for (const auto& [layer, n] : r->contributions)
          w.BeginObject().Field("layer", stack->label(layer)).Field("layer_path", stack->path(layer))
              .Field("entries", n).EndObject();
        w.EndArray();
      }
      w.Key("hidden").BeginArray();
      for (const auto& h : r->hidden) {
        w.BeginObject().Field("layer", stack->label(h.layer)).Field("layer_path", stack->path(h.layer));
        w.Field("kind", KindName(h.kind));
        if (h.kind == EntryKind::kRegular) w.Field("size", h.size);
        w.Field("reason", h.reason).EndObject();
      }
      w.EndArray().EndObject();
      continue;
    }
    std::printf("%s\n", r->path.c_str());
    if (r->found) {
      std::printf("  provided by  %-9s %s  (%s)\n", stack->label(r->provider).c_str(),
                  stack->path(r->provider).c_str(), Describe(r->kind, r->st).c_str());
      if (r->kind == EntryKind::kDirectory) {
        std::printf("  merged from ");
        for (size_t i = 0; i < r->contributions.size(); ++i)
          std::printf("%s%s (%llu %s)", i ? ", " : " ", stack->label(r->contributions[i].first).c_str(),
                      static_cast<unsigned long long>(r->contributions[i].second),
                      r->contributions[i].second == 1 ? "entry" : "entries");
        std::printf("\n");
      }
    } else {
      std::printf("  not in the merged view: %s\n", r->missing_reason.c_str());
    }
    for (const auto& h : r->hidden)
      std::printf("  hides        %-9s %s  (%s%s)  %s\n", stack->label(h.layer).c_str(),
                  stack->path(h.layer).c_str(), KindName(h.kind),
                  h.kind == EntryKind::kRegular ? (", " + std::to_string(h.size) + " bytes").c_str() : "",
                  h.reason.c_str());
  }
  if (json) std::printf("%s\n", w.EndArray().str().c_str());
  return status;
}

}  // namespace strata::tools
