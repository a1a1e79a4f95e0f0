// A scratch directory under /tmp, removed (recursively, without following
// symlinks) when the owner goes away. Mount tests build layers in it.
#pragma once

#include <string>

namespace strata::mounttest {

class TempDir {
 public:
  // Creates /tmp/strata-mt-<tag>-XXXXXX; aborts the test binary if /tmp is
  // unusable, since nothing else can work then.
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + relative; also creates the directory when asked.
  std::string Sub(const std::string& relative, bool create = false) const;

 private:
  std::string path_;
};

// rm -rf without following symlinks and without crossing into mount points
// (a leaked mount below must not have its contents deleted).
void RemoveTree(const std::string& path);

// mkdir -p with mode 0755; returns false on failure.
bool MakeDirs(const std::string& path);

}  // namespace strata::mounttest
