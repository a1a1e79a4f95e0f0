// The `strata` command line: help, errors, which, report.
#include <gtest/gtest.h>

#include "tests/tools/test_util.h"

namespace strata::tools {
namespace {

using testing::RunStrata;
using testing::TempDir;

TEST(CliTest, EverySubcommandHasHelp) {
  for (const char* cmd : {"which", "diff", "digest", "report", "import", "commit"}) {
    auto r = RunStrata(std::string(cmd) + " --help");
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_NE(r.out.find("usage: strata " + std::string(cmd)), std::string::npos) << r.out;
  }
  auto top = RunStrata("--help");
  EXPECT_EQ(top.status, 0);
  EXPECT_NE(top.out.find("report"), std::string::npos);
}

TEST(CliTest, BadInputIsOneClearLine) {
  for (const char* args : {"bogus", "which --frobnicate /x", "which /x", "digest", "import only-one",
                           "commit out.tar", "report --top abc --lower /tmp", "which --lower /nonexistent /x"}) {
    auto r = RunStrata(args, true);
    EXPECT_NE(r.status, 0) << args;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << ": " << r.out;
    EXPECT_EQ(r.out.rfind("strata", 0), 0u) << args << ": " << r.out;
  }
}

class StackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteFile(t_ / "base/etc/motd", "base layer\n");
    testing::WriteFile(t_ / "base/var/cache/old.bin", std::string(3000, 'o'));
    testing::WriteFile(t_ / "base/etc/app/old.conf", "old");
    testing::WriteFile(t_ / "app/etc/motd", "app layer\n");
    testing::WriteFile(t_ / "app/opt/app/server.pem", "-----BEGIN");
    testing::MakeDirs(t_ / "app/var/cache");
    ASSERT_TRUE(testing::MakeWhiteout(t_ / "app/var/cache/old.bin"));
    testing::WriteFile(t_ / "config/etc/app/app.conf", "debug=false\n");
    ASSERT_TRUE(testing::SetOpaque(t_ / "config/etc/app"));
    testing::WriteFile(t_ / "upper/etc/motd", "changed\n");
    stack_ = "--lower " + t_ / "config" + ":" + t_ / "app" + ":" + t_ / "base" + " --upper " + t_ / "upper";
  }
  TempDir t_;
  std::string stack_;
};

TEST_F(StackTest, WhichNamesProviderAndShadowedCopies) {
  auto r = RunStrata("which " + stack_ + " /etc/motd");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("provided by  upper"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lower[1]  " + t_ / "app" + "  (file, 10 bytes)  shadowed by upper"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lower[2]  " + t_ / "base" + "  (file, 11 bytes)  shadowed by upper"), std::string::npos) << r.out;
}

TEST_F(StackTest, WhichExplainsWhiteoutsAndOpaqueDirs) {
  auto r = RunStrata("which --json " + stack_ + " /var/cache/old.bin /etc/app/old.conf /etc/app");
  EXPECT_EQ(r.status, 1) << "two paths are not in the view";
  EXPECT_NE(r.out.find("\"missing_reason\":\"whiteout of /var/cache/old.bin in lower[1]\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"missing_reason\":\"opaque directory /etc/app in lower[0]\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("{\"path\":\"/etc/app\",\"found\":true,\"provider\":{\"layer\":\"lower[0]\""),
            std::string::npos) << r.out;
  auto dir = RunStrata("which " + stack_ + " /etc");
  EXPECT_NE(dir.out.find("merged from  upper (1 entry), lower[0] (1 entry)"), std::string::npos) << dir.out;
}

TEST_F(StackTest, ReportCountsWasteAndWarns) {
  auto r = RunStrata("report --json " + stack_);
  EXPECT_EQ(r.status, 0);
  // base stores 11 + 3000 + 3 bytes; all of it is shadowed or deleted above.
  EXPECT_NE(r.out.find("\"layer\":\"lower[2]\",\"path\":\"" + t_ / "base" +
                       "\",\"files\":3,\"directories\":4,\"bytes\":3014,\"whiteouts\":0,"
                       "\"shadowed_bytes\":0,\"deleted_bytes\":0,\"wasted_bytes\":3014"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"deleted_bytes\":3000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/opt/app/server.pem looks like a secret"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/var/cache/old.bin (2.9 KiB) is deleted by lower[1]"), std::string::npos) << r.out;
  auto text = RunStrata("report " + stack_);
  EXPECT_NE(text.out.find("wasted"), std::string::npos);
  auto large = RunStrata("report --json --large-layer 1K " + stack_);
  EXPECT_NE(large.out.find("large layer"), std::string::npos) << large.out;
}

}  // namespace
}  // namespace strata::tools
