// gtest base for differential mount tests: a watchdog per test, a session,
// and helpers that turn mismatches into failures carrying the op log.
#pragma once

#include <gtest/gtest.h>
#include <sys/xattr.h>

#include <initializer_list>
#include <memory>
#include <string>

#include "tests/mount/diff_session.h"
#include "tests/mount/watchdog.h"

namespace strata::mounttest {

class DiffTestBase : public ::testing::Test {
 protected:
  static constexpr int kTestLimitSeconds = 60;
  virtual int LimitSeconds() const { return kTestLimitSeconds; }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    watchdog_ = std::make_unique<Watchdog>(std::string(info->test_suite_name()) + "." +
                                               info->name(),
                                           LimitSeconds());
  }
  void TearDown() override {
    session_.reset();  // unmounts before the watchdog stops watching
    watchdog_.reset();
  }

  // Builds both fixtures and mounts them; fails the test (fatally) if a
  // mount cannot be made.
  void StartSession(SessionOptions options = {}) {
    session_ = std::make_unique<DiffSession>("diff", options);
    std::string error = session_->Start();
    ASSERT_EQ(error, "") << "cannot mount";
    started_ = true;
  }

  // Runs ops on both mounts; any disagreement is a failure with the log.
  // (Does nothing once a mount failed: that failure is already recorded.)
  void Run(std::initializer_list<Op> ops) {
    if (!started_) return;
    for (const Op& op : ops) {
      std::string mismatch = session_->Apply(op);
      if (!mismatch.empty()) ADD_FAILURE() << mismatch << "\nop log:\n" << session_->Log();
    }
  }

  // Live trees, then remounts (daemon over its upper, kernel over it).
  void FinishAndCompare() {
    if (!started_) return;
    std::string diff = session_->CompareLiveTrees();
    if (!diff.empty()) ADD_FAILURE() << diff << "op log:\n" << session_->Log();
    std::string after = session_->CheckAfterUnmount();
    if (!after.empty()) ADD_FAILURE() << after << "op log:\n" << session_->Log();
  }

  DiffSession& session() { return *session_; }

  // The daemon's live statistics (JSON, fs/ops/status_xattr.h); empty when
  // they cannot be read.
  std::string DaemonStats() {
    char buf[16384];
    ssize_t n = getxattr(session().daemon_mnt().c_str(), "trusted.strata.stats", buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  // One top-level number of DaemonStats(); -1 when it is not there.
  long StatsNumber(const std::string& key) {
    const std::string stats = DaemonStats();
    const size_t at = stats.find("\"" + key + "\":");
    return at == std::string::npos ? -1 : std::stol(stats.substr(at + key.size() + 3));
  }
  // How many requests of one kind the daemon answered (0 before the first).
  long OpCount(const std::string& op) {
    const std::string stats = DaemonStats();
    const std::string key = "\"" + op + "\":{\"count\":";
    const size_t at = stats.find(key);
    return at == std::string::npos ? 0 : std::stol(stats.substr(at + key.size()));
  }

 private:
  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<DiffSession> session_;
  bool started_ = false;
};

}  // namespace strata::mounttest
