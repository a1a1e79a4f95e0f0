#include "tools/cli_flags.h"

#include <getopt.h>

#include <cstdio>
#include <cstdlib>

namespace strata::tools {

std::string ParsedFlags::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  if (it == values.end() || it->second.empty()) return fallback;
  return it->second.back();
}

std::optional<ParsedFlags> ParseFlags(int argc, char** argv, std::span<const FlagSpec> specs,
                                      std::string* error) {
  std::vector<struct option> longopts;
  std::string shortopts = "+:";  // '+': stop at nothing, keep positional order; ':': report missing values
  for (size_t i = 0; i < specs.size(); ++i) {
    const FlagSpec& s = specs[i];
    // getopt_long returns val; long options return 1000+index so the two never clash.
    longopts.push_back({s.name, s.takes_value ? required_argument : no_argument, nullptr,
                        static_cast<int>(1000 + i)});
    if (s.short_name) {
      shortopts += s.short_name;
      if (s.takes_value) shortopts += ':';
    }
  }
  longopts.push_back({nullptr, 0, nullptr, 0});
  // "+" stops at the first positional; we loop so flags may follow positionals.
  ParsedFlags out;
  ::opterr = 0;
  ::optind = 0;  // full re-initialisation: main may have run getopt before
  for (;;) {
    int c = ::getopt_long(argc, argv, shortopts.c_str(), longopts.data(), nullptr);
    if (c == -1) {
      if (::optind < argc) {
        std::string arg = argv[::optind];
        if (arg == "--") {
          for (int i = ::optind + 1; i < argc; ++i) out.positional.push_back(argv[i]);
          break;
        }
        out.positional.push_back(arg);
        ++::optind;
        continue;
      }
      break;
    }
    if (c == '?') {
      std::string bad = ::optopt ? std::string("-") + static_cast<char>(::optopt)
                                 : std::string(argv[::optind - 1]);
      *error = "unknown option '" + bad + "' (see --help)";
      return std::nullopt;
    }
    if (c == ':') {
      *error = "option '" + std::string(argv[::optind - 1]) + "' needs a value";
      return std::nullopt;
    }
    const FlagSpec* spec = nullptr;
    if (c >= 1000) {
      spec = &specs[static_cast<size_t>(c - 1000)];
    } else {
      for (const auto& s : specs)
        if (s.short_name == c) spec = &s;
    }
    if (!spec) {
      *error = "unexpected option (see --help)";
      return std::nullopt;
    }
    out.values[spec->name].push_back(spec->takes_value && ::optarg ? ::optarg : "");
  }
  return out;
}

std::optional<ParsedFlags> ParseCommandLine(int argc, char** argv, const char* command,
                                            std::span<const FlagSpec> specs,
                                            void (*print_help)(), int* exit_code) {
  std::string error;
  auto flags = ParseFlags(argc, argv, specs, &error);
  if (!flags) {
    *exit_code = UsageError(command, error);
    return std::nullopt;
  }
  if (flags->has("help")) {
    print_help();
    *exit_code = 0;
    return std::nullopt;
  }
  return flags;
}

std::optional<uint64_t> ParseSize(const std::string& text) {
  if (text.empty() || text[0] == '-') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno || end == text.c_str()) return std::nullopt;
  std::string suffix(end);
  uint64_t mult = 1;
  if (suffix.empty()) mult = 1;
  else if (suffix == "K" || suffix == "k" || suffix == "KiB") mult = 1ull << 10;
  else if (suffix == "M" || suffix == "MiB") mult = 1ull << 20;
  else if (suffix == "G" || suffix == "GiB") mult = 1ull << 30;
  else if (suffix == "T" || suffix == "TiB") mult = 1ull << 40;
  else return std::nullopt;
  return static_cast<uint64_t>(v) * mult;
}

int UsageError(const char* command, const std::string& message) {
  std::fprintf(stderr, "strata %s: %s\n", command, message.c_str());
  return 2;
}

int Failure(const char* command, const std::string& message) {
  std::fprintf(stderr, "strata %s: %s\n", command, message.c_str());
  return 1;
}

}  // namespace strata::tools
