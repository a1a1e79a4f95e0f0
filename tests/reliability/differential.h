// Differential fixture: the same layers (built once, then copied with cp -a)
// mounted by kernel overlayfs and by stratafs side by side, so each hostile
// case can run on both and compare errno and the resulting state.
#pragma once

#include <dirent.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstring>

#include <functional>
#include <memory>
#include <string>

#include "tests/reliability/harness.h"

namespace strata::reltest {

inline constexpr uid_t kNobody = 65534;
inline constexpr gid_t kNogroup = 65534;

class Differential : public ::testing::Test {
 protected:
  // Fill base()/l1 (top lower), base()/l2 (bottom lower), base()/upper.
  virtual void BuildLayers() = 0;

  void SetUp() override {
    ::umask(0);
    ASSERT_FALSE(dir_.path().empty());
    dir_.Sub("base");
    for (const char* d : {"l1", "l2", "upper"}) dir_.Sub(std::string("base/") + d);
    BuildLayers();
    if (HasFatalFailure()) return;
    for (const char* side : {"k", "s"}) {
      dir_.Sub(side);
      for (const char* d : {"l1", "l2", "upper"})
        ASSERT_TRUE(CopyTree(base() + "/" + d, dir_.path() + "/" + side + "/" + d));
      dir_.Sub(std::string(side) + "/work");
      dir_.Sub(std::string(side) + "/mnt");
    }
    kernel_ = std::make_unique<KernelOverlay>(kmnt(), Config("k"));
    ASSERT_TRUE(kernel_->ok()) << "kernel overlayfs: " << std::strerror(kernel_->error());
    strata_ = std::make_unique<StrataDaemon>(smnt(), Config("s"), dir_.path() + "/daemon.log");
    std::string err;
    ASSERT_TRUE(strata_->Start(&err)) << err;
  }

  void TearDown() override {
    strata_.reset();
    kernel_.reset();
  }

  StrataConfig Config(const std::string& side) const {
    const std::string p = dir_.path() + "/" + side;
    StrataConfig c;
    c.lowers = {p + "/l1", p + "/l2"};
    c.upper = p + "/upper";
    c.work = p + "/work";
    return c;
  }

  std::string base() const { return dir_.path() + "/base"; }
  std::string kmnt() const { return dir_.path() + "/k/mnt"; }
  std::string smnt() const { return dir_.path() + "/s/mnt"; }
  std::string kupper() const { return dir_.path() + "/k/upper"; }
  std::string supper() const { return dir_.path() + "/s/upper"; }

  // Runs fn(mount root) on the kernel mount then on stratafs, as `uid`
  // (root: in this process' child too, so crashes and hangs are contained).
  // Expects the same result; returns the stratafs one.
  int Same(const std::string& what, const std::function<int(const std::string&)>& fn, uid_t uid = 0,
           gid_t gid = 0) {
    const int k = RunAs(uid, gid, [&] { return fn(kmnt()); });
    const int s = RunAs(uid, gid, [&] { return fn(smnt()); });
    ++cases_;
    EXPECT_EQ(k, s) << what << " (uid " << uid << "): kernel overlayfs gives " << Errname(k) << ", stratafs "
                    << Errname(s);
    return s;
  }

  static std::string Errname(int e) {
    if (e < 0) return "a hang or crash of the test child";
    if (e == 0) return "success";
    return std::string(strerrorname_np(e) ? strerrorname_np(e) : "?") + " (" + std::to_string(e) + ")";
  }

  // The daemon must still answer at the end of every test.
  void ExpectServing() {
    struct stat st;
    EXPECT_TRUE(strata_->alive()) << "stratafs died: " << strata_->Log();
    EXPECT_EQ(RunAs(0, 0, [&] { return ::stat((smnt() + "/.").c_str(), &st) == 0 && ::opendir(smnt().c_str()) ? 0 : errno; }), 0);
  }

  ScratchDir dir_{"diff"};
  std::unique_ptr<KernelOverlay> kernel_;
  std::unique_ptr<StrataDaemon> strata_;
  int cases_ = 0;
};

}  // namespace strata::reltest
