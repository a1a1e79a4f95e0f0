// Fuzz target: stratafs command-line parsing (strata::ParseMountOptions) and
// the lowerdir splitter (strata::SplitLowerdirs).
//
// Input: NUL-separated words, handed to ParseMountOptions as argv after the
// program name. Checks beyond "no crash, no sanitizer report":
//   - a successful parse has a mount point and at least one lower layer
//     (empty paths inside lowerdir are refused later, at start-up, with
//     "empty path in lowerdir");
//   - SplitLowerdirs inverts escaping: splitting the escaped join of any list
//     of paths gives that list back.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fs/options/mount_options.h"

namespace {

[[noreturn]] void Violation(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ':' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> words(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\0') words.emplace_back();
    else words.back().push_back(static_cast<char>(data[i]));
  }

  std::vector<const char*> argv = {"stratafs"};
  for (const auto& w : words) argv.push_back(w.c_str());
  std::string error;
  bool exit_now = false;
  auto opts = strata::ParseMountOptions(static_cast<int>(argv.size()), argv.data(), &error, &exit_now);
  if (opts && !exit_now) {
    if (opts->mountpoint.empty()) Violation("parsed without a mount point");
    if (opts->lowerdirs.empty()) Violation("parsed without a lower layer");
  }
  if (!opts && !exit_now && error.empty()) Violation("a refusal without an error message");
  // One line, unless it quotes an argument that itself holds a newline.
  bool newline_in_input = false;
  for (const auto& w : words) newline_in_input |= w.find('\n') != std::string::npos;
  if (!opts && !exit_now && !newline_in_input && error.find('\n') != std::string::npos)
    Violation("an error message of more than one line");

  // Splitting the escaped join gives the words back.
  std::string joined;
  for (size_t i = 0; i < words.size(); ++i) joined += (i ? ":" : "") + Escape(words[i]);
  if (strata::SplitLowerdirs(joined) != words) Violation("SplitLowerdirs(join(escape(parts))) != parts");
  (void)strata::SplitLowerdirs(words.front());  // raw input: must not crash
  return 0;
}
