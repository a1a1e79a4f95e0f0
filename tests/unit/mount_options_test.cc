// Command line (DESIGN.md §1): the exact invocations engines and mount(8)
// use, every overlay option, silent generic flags, unknown options collected,
// invalid values rejected with one line.
#include "fs/options/mount_options.h"

#include <gtest/gtest.h>

#include <initializer_list>

#include "tests/unit/layer_fixture.h"

namespace strata {
namespace {

using Strings = std::vector<std::string>;

class MountOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override { unittest::MakeDirs(mnt_); }

  // Parses argv; expects success.
  MountOptions Parse(std::initializer_list<std::string> args) {
    std::string error;
    auto o = TryParse(args, &error);
    EXPECT_TRUE(o.has_value()) << error;
    return o.value_or(MountOptions{});
  }
  // Parses argv; expects failure and returns the error line.
  std::string ParseError(std::initializer_list<std::string> args) {
    std::string error;
    auto o = TryParse(args, &error);
    EXPECT_FALSE(o.has_value());
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(error.find('\n'), std::string::npos) << "one line: " << error;
    return error;
  }
  std::optional<MountOptions> TryParse(std::initializer_list<std::string> args, std::string* error) {
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    bool exit_now = true;
    auto o = ParseMountOptions(static_cast<int>(argv.size()), argv.data(), error, &exit_now);
    EXPECT_FALSE(exit_now);
    return o;
  }
  // A read/write stack's -o value followed by `extra`.
  static std::string Opts(const std::string& extra) {
    return "lowerdir=/l,upperdir=/u,workdir=/w" + (extra.empty() ? "" : "," + extra);
  }

  unittest::TempDir dir_;
  std::string mnt_ = dir_ / "mnt";
};

TEST_F(MountOptionsTest, ContainersStorageInvocation) {
  MountOptions o = Parse({"stratafs", "-o", "lowerdir=/A:/B:/C,upperdir=/U,workdir=/W,,volatile", mnt_});
  EXPECT_EQ(o.lowerdirs, (Strings{"/A", "/B", "/C"}));
  EXPECT_EQ(o.upperdir, "/U");
  EXPECT_EQ(o.workdir, "/W");
  EXPECT_FALSE(o.sync_writes);
  EXPECT_FALSE(o.read_only);
  EXPECT_EQ(o.mountpoint, mnt_);
  EXPECT_EQ(o.source, "stratafs");
  EXPECT_TRUE(o.unknown.empty());
  EXPECT_FALSE(o.foreground);
}

TEST_F(MountOptionsTest, MountFuse3InvocationWithASourceWord) {
  MountOptions o = Parse({"stratafs", "stratafs", mnt_, "-o", "rw,lowerdir=/A:/B,dev,suid"});
  EXPECT_EQ(o.source, "stratafs");
  EXPECT_EQ(o.mountpoint, mnt_);
  EXPECT_EQ(o.lowerdirs, (Strings{"/A", "/B"}));
  EXPECT_TRUE(o.read_only);  // no upperdir
  EXPECT_TRUE(o.unknown.empty());

  o = Parse({"/usr/bin/stratafs", "mystack", mnt_, "-o", "lowerdir=/A"});
  EXPECT_EQ(o.source, "mystack");
  EXPECT_EQ(o.mountpoint, mnt_);
}

TEST_F(MountOptionsTest, OptionsBeforeOrAfterAndAttached) {
  MountOptions o = Parse({"stratafs", mnt_, "-olowerdir=/A:/B", "-f"});
  EXPECT_EQ(o.lowerdirs, (Strings{"/A", "/B"}));
  EXPECT_TRUE(o.foreground);
  EXPECT_FALSE(o.debug);
  // Several -o are combined.
  o = Parse({"stratafs", "-o", "lowerdir=/A", "-o", "upperdir=/U", "-o", "workdir=/W", mnt_, "-d"});
  EXPECT_EQ(o.upperdir, "/U");
  EXPECT_EQ(o.workdir, "/W");
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(o.foreground);
}

TEST_F(MountOptionsTest, ColonEscapesInLowerdir) {
  MountOptions o = Parse({"stratafs", "-o", R"(lowerdir=/a\:b:/c\:d\:e:/f)", mnt_});
  EXPECT_EQ(o.lowerdirs, (Strings{"/a:b", "/c:d:e", "/f"}));
  o = Parse({"stratafs", R"(-olowerdir=/x\:y:/z)", mnt_});
  EXPECT_EQ(o.lowerdirs, (Strings{"/x:y", "/z"}));
}

TEST_F(MountOptionsTest, SplitLowerdirs) {
  EXPECT_EQ(SplitLowerdirs("/a"), (Strings{"/a"}));
  EXPECT_EQ(SplitLowerdirs("/a:/b"), (Strings{"/a", "/b"}));
  EXPECT_EQ(SplitLowerdirs(R"(/a\:b)"), (Strings{"/a:b"}));
  EXPECT_EQ(SplitLowerdirs(R"(/a\\:b)"), (Strings{R"(/a\)", "b"}));
  EXPECT_EQ(SplitLowerdirs("/a::/b"), (Strings{"/a", "", "/b"}));
}

TEST_F(MountOptionsTest, EveryOverlayOptionIsAccepted) {
  MountOptions o = Parse(
      {"stratafs", "-o",
       Opts("volatile,ro,rw,noatime,nodev,nosuid,dev,suid,exec,noexec,"
            "context=system_u:object_r:container_file_t:s0,uidmapping=0:100000:65536,"
            "gidmapping=0:100000:65536,squash_to_root,squash_to_uid=7,squash_to_gid=8,"
            "static_nlink,noxattrs,timeout=5,threaded=1,writeback=1"),
       mnt_});
  EXPECT_TRUE(o.unknown.empty()) << o.unknown.front();
  EXPECT_FALSE(o.sync_writes);
  EXPECT_TRUE(o.read_only);
  EXPECT_TRUE(o.noatime);
  EXPECT_TRUE(o.nodev);
  EXPECT_TRUE(o.nosuid);
  EXPECT_TRUE(o.noexec);
  EXPECT_EQ(o.context, "system_u:object_r:container_file_t:s0");
  EXPECT_EQ(o.uidmapping, "0:100000:65536");
  EXPECT_EQ(o.gidmapping, "0:100000:65536");
  EXPECT_TRUE(o.squash_to_root);
  EXPECT_EQ(o.squash_to_uid, 7);
  EXPECT_EQ(o.squash_to_gid, 8);
  EXPECT_TRUE(o.static_nlink);
  EXPECT_TRUE(o.noxattrs);
  EXPECT_DOUBLE_EQ(o.timeout, 5.0);
  EXPECT_EQ(o.threads, 1u);
  EXPECT_TRUE(o.writeback);
}

TEST_F(MountOptionsTest, Defaults) {
  MountOptions o = Parse({"stratafs", "-o", Opts(""), mnt_});
  EXPECT_TRUE(o.sync_writes);
  EXPECT_FALSE(o.read_only);
  EXPECT_FALSE(o.nodev);
  EXPECT_FALSE(o.nosuid);
  EXPECT_FALSE(o.noexec);
  EXPECT_FALSE(o.writeback);
  EXPECT_TRUE(o.passthrough);
  EXPECT_TRUE(o.cpu_local);
  EXPECT_FALSE(o.readdir_attrs_all);
  EXPECT_FALSE(o.noxattrs);
  EXPECT_EQ(o.squash_to_uid, -1);
  EXPECT_EQ(o.squash_to_gid, -1);
}

TEST_F(MountOptionsTest, PassthroughValues) {
  EXPECT_FALSE(Parse({"stratafs", "-o", Opts("passthrough=0"), mnt_}).passthrough);
  EXPECT_TRUE(Parse({"stratafs", "-o", Opts("passthrough=1"), mnt_}).passthrough);
}

TEST_F(MountOptionsTest, CpuLocalValues) {
  EXPECT_FALSE(Parse({"stratafs", "-o", Opts("cpu_local=0"), mnt_}).cpu_local);
  EXPECT_TRUE(Parse({"stratafs", "-o", Opts("cpu_local=1"), mnt_}).cpu_local);
}

TEST_F(MountOptionsTest, ReaddirAttrsValues) {
  EXPECT_TRUE(Parse({"stratafs", "-o", Opts("readdir_attrs=all"), mnt_}).readdir_attrs_all);
  EXPECT_FALSE(Parse({"stratafs", "-o", Opts("readdir_attrs=auto"), mnt_}).readdir_attrs_all);
}

TEST_F(MountOptionsTest, FsyncValues) {
  EXPECT_FALSE(Parse({"stratafs", "-o", Opts("fsync=0"), mnt_}).sync_writes);
  EXPECT_TRUE(Parse({"stratafs", "-o", Opts("fsync=1"), mnt_}).sync_writes);
}

TEST_F(MountOptionsTest, GenericMountFlagsAreAcceptedSilently) {
  MountOptions o = Parse({"stratafs", "stratafs", mnt_, "-o",
                          Opts("lazytime,relatime,strictatime,sync,async,dirsync,defaults,"
                               "nodiratime,auto,noauto,nofail,_netdev,user,users,"
                               "x-systemd.automount")});
  EXPECT_TRUE(o.unknown.empty()) << o.unknown.front();
}

TEST_F(MountOptionsTest, UnknownOptionsAreCollectedNotFatal) {
  MountOptions o = Parse({"stratafs", "-o", Opts("frobnicate,colour=blue"), mnt_});
  EXPECT_EQ(o.unknown, (Strings{"frobnicate", "colour=blue"}));
  EXPECT_EQ(o.upperdir, "/u");
}

TEST_F(MountOptionsTest, InvalidValuesAreRejected) {
  for (const char* bad : {"fsync=2", "fsync=", "threaded=x", "threaded=-1", "timeout=-1",
                          "timeout=abc", "uidmapping=bad", "gidmapping=0:1", "squash_to_uid=x",
                          "writeback=maybe", "passthrough=2", "passthrough=", "cpu_local=2",
                          "cpu_local=", "readdir_attrs=some", "readdir_attrs="}) {
    SCOPED_TRACE(bad);
    std::string e = ParseError({"stratafs", "-o", Opts(bad), mnt_});
    std::string key(bad, std::string_view(bad).find('='));
    EXPECT_NE(e.find(key), std::string::npos) << "the message names the option: " << e;
  }
}

TEST_F(MountOptionsTest, MissingOrBadMountPoint) {
  std::string e = ParseError({"stratafs", "-o", Opts("")});
  EXPECT_NE(e.find("mount point"), std::string::npos) << e;
  e = ParseError({"stratafs", "-o", Opts(""), dir_ / "nonexistent"});
  EXPECT_NE(e.find("nonexistent"), std::string::npos) << e;
  unittest::WriteFile(dir_ / "file");
  e = ParseError({"stratafs", "-o", Opts(""), dir_ / "file"});
  EXPECT_NE(e.find("not a directory"), std::string::npos) << e;
  ParseError({"stratafs", "src", mnt_, "extra", "-o", Opts("")});
}

TEST_F(MountOptionsTest, ImpossibleLayerCombinations) {
  std::string e = ParseError({"stratafs", "-o", "lowerdir=/l,upperdir=/u", mnt_});
  EXPECT_NE(e.find("workdir"), std::string::npos) << e;
  e = ParseError({"stratafs", "-o", "lowerdir=/l,workdir=/w", mnt_});
  EXPECT_NE(e.find("upperdir"), std::string::npos) << e;
  e = ParseError({"stratafs", "-o", "upperdir=/u,workdir=/w", mnt_});
  EXPECT_NE(e.find("lowerdir"), std::string::npos) << e;
  ParseError({"stratafs", "-o", "lowerdir=", mnt_});
  ParseError({"stratafs", "-o", "lowerdir=/l", "--no-such-flag", mnt_});
}

TEST_F(MountOptionsTest, HelpAndVersionExitAtOnce) {
  for (const char* flag : {"-h", "--help", "-V", "--version"}) {
    SCOPED_TRACE(flag);
    const char* argv[] = {"stratafs", flag};
    std::string text;
    bool exit_now = false;
    EXPECT_FALSE(ParseMountOptions(2, argv, &text, &exit_now).has_value());
    EXPECT_TRUE(exit_now);
    EXPECT_FALSE(text.empty());
  }
}

TEST_F(MountOptionsTest, FuseMountOptions) {
  MountOptions o = Parse({"stratafs", "mysrc", mnt_, "-o", Opts("")});
  std::string s = o.FuseMountOptions();
  auto has = [&](const std::string& opt) {
    std::string padded = "," + s + ",";
    return padded.find("," + opt + ",") != std::string::npos;
  };
  EXPECT_TRUE(has("subtype=stratafs")) << s;
  EXPECT_TRUE(has("fsname=mysrc")) << s;
  EXPECT_TRUE(has("default_permissions")) << s;
  ASSERT_EQ(::geteuid(), 0u) << "these tests run as root";
  EXPECT_TRUE(has("allow_other")) << s;
  // Root's mount honours device nodes and setuid files like kernel overlayfs.
  EXPECT_TRUE(has("dev")) << s;
  EXPECT_TRUE(has("suid")) << s;
  EXPECT_FALSE(has("ro")) << s;
  EXPECT_FALSE(has("nodev")) << s;
  EXPECT_FALSE(has("nosuid")) << s;

  o = Parse({"stratafs", mnt_, "-o", "lowerdir=/l,nodev,nosuid,noexec,noatime,context=ctx"});
  s = o.FuseMountOptions();
  EXPECT_TRUE(has("ro")) << s;
  EXPECT_TRUE(has("nodev")) << s;
  EXPECT_TRUE(has("nosuid")) << s;
  EXPECT_TRUE(has("noexec")) << s;
  EXPECT_TRUE(has("noatime")) << s;
  EXPECT_TRUE(has("context=ctx")) << s;
  EXPECT_TRUE(has("fsname=stratafs")) << s;
  EXPECT_FALSE(has("dev")) << s;
  EXPECT_FALSE(has("suid")) << s;
}

TEST_F(MountOptionsTest, FsnameEscapesCommas) {
  MountOptions o = Parse({"stratafs", "a,b", mnt_, "-o", "lowerdir=/l"});
  EXPECT_EQ(o.source, "a,b");
  EXPECT_NE(o.FuseMountOptions().find(R"(fsname=a\,b)"), std::string::npos) << o.FuseMountOptions();
}

TEST_F(MountOptionsTest, ParseSize) {
  uint64_t v = 0;
  EXPECT_TRUE(ParseSize("4096", &v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(ParseSize("512k", &v));
  EXPECT_EQ(v, 512u << 10);
  EXPECT_TRUE(ParseSize("10M", &v));
  EXPECT_EQ(v, 10u << 20);
  EXPECT_TRUE(ParseSize("2G", &v));
  EXPECT_EQ(v, 2ull << 30);
  EXPECT_TRUE(ParseSize("1T", &v));
  EXPECT_EQ(v, 1ull << 40);
  for (const char* bad : {"", "k", "-1", "1.5G", "12X", "99999999999999999999"})
    EXPECT_FALSE(ParseSize(bad, &v)) << bad;
}

}  // namespace
}  // namespace strata
