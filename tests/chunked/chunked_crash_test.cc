// Crash safety: a fork()ed writer is killed with SIGKILL at random points;
// reopening must show every fsync-acknowledged operation, and every byte must
// be either the acknowledged state or the one after the operation in flight
// (a chunk marked present with wrong data would show lower bytes' absence).
#include <linux/falloc.h>
#include <signal.h>
#include <sys/wait.h>

#include "fs/chunked/chunked_file.h"
#include "tests/chunked/chunked_fixture.h"

namespace strata::chunked::testing {
namespace {

constexpr uint32_t kChunk = 8192;
constexpr size_t kLowerSize = 48 * kChunk + 1000;
constexpr int kOpsPerChild = 200;
constexpr int kIterations = 300;

struct Op {
  enum Kind { kWrite, kTruncate, kPunch } kind;
  size_t off, len;
  uint32_t seed;
};

Op NextOp(std::mt19937& rng) {
  uint32_t r = rng() % 20;
  if (r == 0) return {Op::kTruncate, 30 * kChunk + rng() % (26 * kChunk), 0, 0};
  if (r == 1) return {Op::kPunch, rng() % (50 * kChunk), 1 + rng() % (3 * kChunk), 0};
  size_t len = (r < 5) ? kChunk * (1 + rng() % 2) : 1 + rng() % 20000;
  size_t off = (r < 5) ? (rng() % 50) * kChunk : rng() % (52 * kChunk);
  return {Op::kWrite, off, len, static_cast<uint32_t>(rng())};
}

std::string WriteData(const Op& op) {
  std::mt19937 rng(op.seed);
  std::string data(op.len, '\0');
  for (auto& c : data) c = static_cast<char>(rng() | 1);  // never zero: tells data from holes
  return data;
}

void ApplyToModel(std::string* m, const Op& op) {
  switch (op.kind) {
    case Op::kWrite:
      ModelWrite(m, WriteData(op), op.off);
      break;
    case Op::kTruncate:
      m->resize(op.off, '\0');
      break;
    case Op::kPunch:
      if (op.off < m->size())
        std::fill_n(&(*m)[op.off], std::min(op.len, m->size() - op.off), '\0');
      break;
  }
}

Status ApplyToFile(ChunkedFile& f, const Op& op) {
  switch (op.kind) {
    case Op::kWrite: {
      std::string data = WriteData(op);
      auto n = f.Write(data.data(), data.size(), static_cast<off_t>(op.off));
      return n.ok() ? Status::Ok() : Status(Errno(n.error()));
    }
    case Op::kTruncate:
      return f.Truncate(static_cast<off_t>(op.off));
    case Op::kPunch:
      return f.Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(op.off),
                         static_cast<off_t>(op.len));
  }
  return Status::Ok();
}

using ChunkedCrashTest = ChunkedFixture;

TEST_F(ChunkedCrashTest, KillNineAtRandomPointsKeepsAcknowledgedState) {
  const std::string lower = RandomData(kLowerSize, 99);
  UniqueFd up = MakeChunkedCopy("f", "a", lower, kChunk);
  std::string base = lower;
  std::mt19937 master(4242);
  int killed_mid_run = 0, recreated = 0;

  for (int it = 0; it < kIterations; ++it) {
    SCOPED_TRACE("iteration " + std::to_string(it));
    auto chunked = IsChunked(up.get());
    ASSERT_TRUE(chunked.ok());
    if (!*chunked) {  // every chunk got written: start over with a fresh copy-up
      ASSERT_EQ(::unlinkat(upper_dir_.get(), "f", 0), 0);
      up = UniqueFd(::openat(upper_dir_.get(), "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      struct stat st;
      ASSERT_EQ(::fstatat(lower0_.get(), "a", &st, 0), 0);
      ASSERT_TRUE(InitChunkedCopy(up.get(), st, {"a"}, kChunk).ok());
      base = lower;
      ++recreated;
    }
    const uint32_t op_seed = master();
    int pipefd[2];
    ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // the writer: no gtest assertions in here
      ::close(pipefd[0]);
      auto f = ChunkedFile::Open(up.get(), roots_, work_.get(), /*durable=*/true);
      if (!f.ok()) _exit(f.error() == ENODATA ? 3 : 2);
      std::mt19937 rng(op_seed);
      for (int i = 0; i < kOpsPerChild; ++i) {
        if (!ApplyToFile(**f, NextOp(rng)).ok() || !(*f)->Fsync(false).ok()) _exit(4);
        if (::write(pipefd[1], &i, sizeof i) != sizeof i) _exit(5);
      }
      _exit(0);
    }
    ::close(pipefd[1]);
    UniqueFd acks(pipefd[0]);
    // Kill after a random number of acknowledgements plus a random delay, so
    // that the kill lands anywhere inside an operation.
    int acked = 0, index;
    const int wait_for = static_cast<int>(master() % 4);
    while (acked < wait_for && ::read(acks.get(), &index, sizeof index) == sizeof index) ++acked;
    ::usleep(master() % 1500);
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    while (::read(acks.get(), &index, sizeof index) == sizeof index) ++acked;
    if (WIFEXITED(wstatus)) {
      ASSERT_EQ(WEXITSTATUS(wstatus), 0) << "writer failed";
    }
    if (WIFSIGNALED(wstatus) && acked < kOpsPerChild) ++killed_mid_run;

    // The acknowledged state, and the one after the operation in flight.
    std::mt19937 rng(op_seed);
    std::string acked_model = base;
    for (int i = 0; i < acked; ++i) ApplyToModel(&acked_model, NextOp(rng));
    std::string next_model = acked_model;
    if (acked < kOpsPerChild) ApplyToModel(&next_model, NextOp(rng));

    std::string actual;
    chunked = IsChunked(up.get());
    ASSERT_TRUE(chunked.ok());
    if (*chunked) {
      auto f = ChunkedFile::Open(up.get(), roots_, work_.get(), true);
      ASSERT_TRUE(f.ok()) << strerror(f.error());
      actual = ReadAll(**f, next_model.size());
    } else {
      actual = PreadAllPlain(up.get());
    }
    const size_t lo = std::min(acked_model.size(), next_model.size());
    const size_t hi = std::max(acked_model.size(), next_model.size());
    ASSERT_GE(actual.size(), lo);
    ASSERT_LE(actual.size(), hi);
    for (size_t i = 0; i < actual.size(); ++i) {
      bool ok = (i < acked_model.size() && actual[i] == acked_model[i]) ||
                (i < next_model.size() && actual[i] == next_model[i]);
      ASSERT_TRUE(ok) << "byte " << i << " (chunk " << i / kChunk << ") after " << acked
                      << " acknowledged ops";
    }
    base = actual;
  }
  EXPECT_GE(killed_mid_run, kIterations * 3 / 4) << "kills should land mid-run";
  RecordProperty("killed_mid_run", killed_mid_run);
  RecordProperty("recreated", recreated);
  std::printf("kills mid-run: %d of %d, fresh copy-ups: %d\n", killed_mid_run, kIterations,
              recreated);
}

}  // namespace
}  // namespace strata::chunked::testing
