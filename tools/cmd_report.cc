// strata report: per-layer sizes, wasted space and warnings.
#include <cstdio>
#include <cstring>

#include "tools/cli_flags.h"
#include "tools/commands.h"
#include "tools/json_writer.h"
#include "tools/layer_args.h"
#include "tools/layer_report.h"

namespace strata::tools {

namespace {

constexpr const char* kName = "report";

constexpr FlagSpec kFlags[] = {{"help", false, 'h'}, {"json", false, 'j'}, {"top", true, 'n'},
                               {"large-layer", true, 0}, kLowerFlag, kUpperFlag, kMountFlag};

void PrintHelp() {
  std::printf(
      "usage: strata report [STACK] [--json] [--top N] [--large-layer SIZE]\n\n"
      "Per layer, bottom (base) first: files and bytes it adds, lower bytes it\n"
      "shadows with its own copies or deletes (whiteouts, opaque directories), its\n"
      "own bytes that layers above make invisible (wasted), its largest files, and\n"
      "warnings: large layers, files deleted by a later layer, secret-looking names\n"
      "(*.pem, *.key, id_rsa, .env, ...).\n\n"
      "%s\n"
      "Options:\n"
      "  -n, --top N            largest files to list per layer (default 5)\n"
      "      --large-layer SIZE warn above SIZE bytes of file data (default 512M)\n"
      "  -j, --json             JSON output\n"
      "  -h, --help             this text\n",
      StackFlagsHelp());
}

std::string Human(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(b) / (1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace

int RunReport(int argc, char** argv) {
  int exit_code = 0;
  auto flags = ParseCommandLine(argc, argv, kName, kFlags, PrintHelp, &exit_code);
  if (!flags) return exit_code;
  std::string error;
  if (!flags->positional.empty())
    return UsageError(kName, "unexpected argument '" + flags->positional[0] + "' (see --help)");
  ReportOptions options;
  if (flags->has("top")) {
    auto n = ParseSize(flags->get("top"));
    if (!n || *n > 100000) return UsageError(kName, "--top: expected a number");
    options.top_files = static_cast<size_t>(*n);
  }
  if (flags->has("large-layer")) {
    auto n = ParseSize(flags->get("large-layer"));
    if (!n) return UsageError(kName, "--large-layer: expected a size such as 200M");
    options.large_layer_bytes = *n;
  }
  auto args = StackArgsFromFlags(*flags, true, &error);
  if (!args) return UsageError(kName, error);
  auto stack = OpenStack(*args, &error);
  if (!stack) return Failure(kName, error);
  auto report = BuildReport(*stack, options, &error);
  if (!report.ok()) return Failure(kName, error);

  if (flags->has("json")) {
    JsonWriter w;
    w.BeginObject().Field("total_bytes", report->total_bytes).Field("visible_bytes", report->visible_bytes);
    w.Field("wasted_bytes", report->wasted_bytes).Key("layers").BeginArray();
    for (const auto& l : report->layers) {
      w.BeginObject().Field("layer", stack->label(l.layer)).Field("path", stack->path(l.layer));
      w.Field("files", l.files).Field("directories", l.directories).Field("bytes", l.bytes);
      w.Field("whiteouts", l.whiteouts).Field("shadowed_bytes", l.shadowed_bytes);
      w.Field("deleted_bytes", l.deleted_bytes).Field("wasted_bytes", l.wasted_bytes);
      w.Key("largest").BeginArray();
      for (const auto& f : l.largest) w.BeginObject().Field("path", "/" + f.path).Field("size", f.size).EndObject();
      w.EndArray().Key("warnings").BeginArray();
      for (const auto& m : l.warnings) w.String(m);
      w.EndArray().EndObject();
    }
    std::printf("%s\n", w.EndArray().EndObject().str().c_str());
    return 0;
  }
  std::printf("%-9s %8s %10s %10s %10s %10s  %s\n", "LAYER", "FILES", "SIZE", "SHADOWS", "DELETES", "WASTED", "PATH");
  for (const auto& l : report->layers)
    std::printf("%-9s %8llu %10s %10s %10s %10s  %s\n", stack->label(l.layer).c_str(),
                static_cast<unsigned long long>(l.files), Human(l.bytes).c_str(),
                Human(l.shadowed_bytes).c_str(), Human(l.deleted_bytes).c_str(),
                Human(l.wasted_bytes).c_str(), stack->path(l.layer).c_str());
  std::printf("\nstored %s, visible %s, wasted %s (%.0f%%)\n", Human(report->total_bytes).c_str(),
              Human(report->visible_bytes).c_str(), Human(report->wasted_bytes).c_str(),
              report->total_bytes ? 100.0 * static_cast<double>(report->wasted_bytes) /
                                        static_cast<double>(report->total_bytes)
                                  : 0.0);
  for (const auto& l : report->layers) {
    if (l.largest.empty() && l.warnings.empty()) continue;
    std::printf("\n%s (%s)\n", stack->label(l.layer).c_str(), stack->path(l.layer).c_str());
    for (const auto& f : l.largest) std::printf("  %10s  /%s\n", Human(f.size).c_str(), f.path.c_str());
    for (const auto& m : l.warnings) std::printf("  warning: %s\n", m.c_str());
  }
  return 0;
}

}  // namespace strata::tools
