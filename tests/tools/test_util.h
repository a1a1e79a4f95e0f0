// Helpers shared by the tools tests: temporary trees and running `strata`.
#pragma once

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace strata::tools::testing {

// A fresh directory under /tmp (ext4 here: trusted.* xattrs work), removed at
// the end without following symlinks.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/strata-tools-test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << data;
  ::chmod(path.c_str(), mode);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void MakeDirs(const std::string& path) { std::filesystem::create_directories(path); }

inline bool MakeWhiteout(const std::string& path) { return ::mknod(path.c_str(), S_IFCHR, makedev(0, 0)) == 0; }

inline bool SetOpaque(const std::string& dir) {
  return ::setxattr(dir.c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0;
}

struct RunResult {
  int status = -1;
  std::string out;
};

// Runs the built `strata` (env STRATA, set by meson) with `args` (shell words,
// quoted by the caller); stderr is merged into `out` when `with_stderr`.
inline RunResult RunStrata(const std::string& args, bool with_stderr = false) {
  const char* exe = std::getenv("STRATA");
  std::string cmd = std::string(exe ? exe : "strata") + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace strata::tools::testing
