// Command-line flags of one `strata` subcommand, parsed with getopt_long.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace strata::tools {

struct FlagSpec {
  const char* name;   // long name, without "--"
  bool takes_value;
  char short_name;    // 0 when there is none
};

struct ParsedFlags {
  // Every value given for a flag, in order (a flag without value maps to "").
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> positional;

  bool has(const std::string& name) const { return values.count(name) != 0; }
  // The last value given for `name`, or `fallback`.
  std::string get(const std::string& name, const std::string& fallback = "") const;
};

// Parses argv[1..] of a subcommand (argv[0] is its name). On bad input returns
// nullopt and sets *error to one line.
std::optional<ParsedFlags> ParseFlags(int argc, char** argv, std::span<const FlagSpec> specs,
                                      std::string* error);

// The start every subcommand shares: parses its flags and handles --help.
// Returns the flags to go on with, or nullopt with *exit_code set: 2 after
// printing the usage error for bad flags, 0 after printing the help.
std::optional<ParsedFlags> ParseCommandLine(int argc, char** argv, const char* command,
                                            std::span<const FlagSpec> specs,
                                            void (*print_help)(), int* exit_code);

// Parses a non-negative integer with an optional K/M/G/T suffix (powers of 1024).
std::optional<uint64_t> ParseSize(const std::string& text);

// Prints "strata CMD: MESSAGE" on stderr. Returns the exit code for bad input (2)
// or for a failure while working (1), so callers can `return Fail(...)`.
int UsageError(const char* command, const std::string& message);
int Failure(const char* command, const std::string& message);

}  // namespace strata::tools
