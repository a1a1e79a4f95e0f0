// DESIGN §3: readdir offsets stay valid across telldir/seekdir, also when
// the directory changes between calls. Checked on both mounts: after
// seekdir to a saved position, the entries that follow are the ones that
// followed it the first time (minus what was removed meanwhile).
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "tests/mount/diff_test_base.h"

namespace strata::mounttest {
namespace {

class ReaddirOffsets : public DiffTestBase {
 protected:
  // Reads `first` names, saves the position, reads the rest, optionally
  // changes the directory, seeks back and reads again. Returns "" or why
  // the second pass differs.
  static std::string SeekBackAndCompare(const std::string& dir_path, size_t first,
                                        const std::string& remove_path) {
    DIR* dir = opendir(dir_path.c_str());
    if (dir == nullptr) return "opendir failed";
    for (size_t i = 0; i < first; ++i) {
      if (readdir(dir) == nullptr) {
        closedir(dir);
        return "directory too small";
      }
    }
    long position = telldir(dir);
    std::vector<std::string> rest;
    while (dirent* entry = readdir(dir)) rest.emplace_back(entry->d_name);
    if (!remove_path.empty() && unlink(remove_path.c_str()) != 0) {
      closedir(dir);
      return "unlink failed";
    }
    seekdir(dir, position);
    std::vector<std::string> again;
    while (dirent* entry = readdir(dir)) again.emplace_back(entry->d_name);
    closedir(dir);
    if (!remove_path.empty()) {
      std::string removed = remove_path.substr(remove_path.rfind('/') + 1);
      rest.erase(std::remove(rest.begin(), rest.end(), removed), rest.end());
      again.erase(std::remove(again.begin(), again.end(), removed), again.end());
    }
    if (rest == again) return "";
    std::string out = "after seekdir: first pass";
    for (const auto& name : rest) out += " " + name;
    out += " | second pass";
    for (const auto& name : again) out += " " + name;
    return out;
  }
};

TEST_F(ReaddirOffsets, SeekdirReturnsToTheSamePlaceInAMergedDirectory) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  for (size_t first : {0, 1, 5, 17, 30}) {
    EXPECT_EQ(SeekBackAndCompare(session().KernelPath(""), first, ""), "") << "kernel, " << first;
    EXPECT_EQ(SeekBackAndCompare(session().DaemonPath(""), first, ""), "") << "daemon, " << first;
  }
  EXPECT_EQ(SeekBackAndCompare(session().DaemonPath("a"), 2, ""), "");
}

TEST_F(ReaddirOffsets, SeekdirStaysValidWhenEntriesAreRemoved) {
  ASSERT_NO_FATAL_FAILURE(StartSession());
  // Remove a lower entry (becomes a whiteout) and an upper one between
  // telldir and seekdir.
  Run({OpenClose("n_upper", O_CREAT | O_WRONLY), Write("n_upper", 0, 3, 91)});
  EXPECT_EQ(SeekBackAndCompare(session().KernelPath(""), 3, session().KernelPath("size_1")), "");
  EXPECT_EQ(SeekBackAndCompare(session().DaemonPath(""), 3, session().DaemonPath("size_1")), "");
  EXPECT_EQ(SeekBackAndCompare(session().KernelPath(""), 6, session().KernelPath("n_upper")), "");
  EXPECT_EQ(SeekBackAndCompare(session().DaemonPath(""), 6, session().DaemonPath("n_upper")), "");
  FinishAndCompare();
}

}  // namespace
}  // namespace strata::mounttest
