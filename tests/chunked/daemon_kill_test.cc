// kill -9 of the daemon during heavy writes into a chunked file, through the
// mount (issue 4.3), checked against a model of what the writer issued and
// what fsync acknowledged.
//
// A 64 MiB lower file (data and 1 MiB holes, a hole at the end) is copied up
// in chunks by a stratafs mount (-o copyup=chunked: the default 4 KiB chunks,
// then phases with chunk_size=64k and 1m, each on a fresh upper). Each round a forked
// writer does random pwrites of versioned 4 KiB blocks (each block holds its
// index and a version, and bytes derived from both; some writes span whole
// chunks), with an fsync or fdatasync now and then, reporting every completed
// call through a pipe; the daemon is SIGKILLed at a random moment, the dead
// mount detached, stratafs mounted again and every block read back. The
// contract checked (whatever the daemon does between fsyncs):
//   - a block is whole: the lower's bytes or exactly one issued version;
//   - it is the version of the last write to it that an fsync acknowledged,
//     or a version issued after that one (never an older one, never one not
//     issued, never the lower's bytes once a write to it was acknowledged);
//   - a block never written equals the lower (holes read as zeros).
// At the end `strata materialize` turns the upper into a plain one and kernel
// overlayfs must show the very bytes stratafs showed last; no map is left.
//
// STRATA_CHUNK_KILLS (default 50) kill points in all, STRATA_CHUNK_SEED the
// seed (printed, to replay).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "tests/reliability/harness.h"

namespace strata::reltest {
namespace {

using namespace std::chrono_literals;

constexpr size_t kBlock = 4096;
constexpr size_t kFileBlocks = 16384;  // 64 MiB
constexpr uint64_t kMagic = 0x6b636f6c62617473ull;  // "stablock"

// Bytes of block `index` at `version` (version 0: the lower's data block).
void FillBlock(char* out, uint64_t index, uint64_t version) {
  uint64_t words[kBlock / 8];
  words[0] = kMagic;
  words[1] = index;
  words[2] = version;
  uint64_t x = (index + 1) * 0x9E3779B97F4A7C15ull ^ (version + 7) * 0xC2B2AE3D27D4EB4Full;
  for (size_t i = 3; i < kBlock / 8; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    words[i] = x;
  }
  std::memcpy(out, words, kBlock);
}

// The lower file's layout: 1 MiB holes every third MiB, and a 4 MiB hole at the end.
bool LowerHole(uint64_t index) {
  const uint64_t mib = index / 256;
  return mib % 3 == 1 || index >= kFileBlocks - 1024;
}

// What a block reads as: its version (0: the lower's content), or -1 when it
// is neither the lower's bytes nor a whole versioned block of this index.
int64_t DecodeBlock(const char* data, uint64_t index) {
  static const std::string zeros(kBlock, '\0');
  char expect[kBlock];
  if (LowerHole(index) && std::memcmp(data, zeros.data(), kBlock) == 0) return 0;
  uint64_t head[3];
  std::memcpy(head, data, sizeof head);
  if (head[0] != kMagic || head[1] != index) return -1;
  if (head[2] == 0 && LowerHole(index)) return -1;
  FillBlock(expect, index, head[2]);
  return std::memcmp(expect, data, kBlock) == 0 ? static_cast<int64_t>(head[2]) : -1;
}

enum class OpKind : int32_t { kWrite, kFsync, kFdatasync };

struct WriterOp {
  OpKind kind = OpKind::kWrite;
  uint32_t first = 0;     // first block
  uint32_t count = 0;     // blocks
  uint64_t version = 0;   // version of the first block; block i gets version + i
};

struct Record {
  int32_t index;
  int32_t err;
};

// Per block: every version issued, and the version an fsync acknowledged.
struct BlockModel {
  uint64_t acked = 0;
  std::vector<uint64_t> issued;  // ascending (versions only grow)
};

class ChunkedDaemonKill : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    lower_ = dir_.Sub("lower");
    mnt_ = dir_.Sub("mnt");
    kmnt_ = dir_.Sub("kmnt");
    // Sparse lower file: data blocks written, holes left alone.
    const std::string path = lower_ + "/big";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    std::vector<char> run(256 * kBlock);
    for (uint64_t mib = 0; mib < kFileBlocks / 256; ++mib) {
      if (LowerHole(mib * 256)) continue;
      for (uint64_t i = 0; i < 256; ++i) FillBlock(&run[i * kBlock], mib * 256 + i, 0);
      ASSERT_EQ(::pwrite(fd, run.data(), run.size(), static_cast<off_t>(mib * 256 * kBlock)),
                static_cast<ssize_t>(run.size()));
    }
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kFileBlocks * kBlock)), 0);
    ASSERT_EQ(::close(fd), 0);
  }

  // Reads the whole file at `path`; the version of every block, or a message.
  std::string ReadVersions(const std::string& path, std::vector<int64_t>* versions) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "open " + path + ": " + std::strerror(errno);
    struct stat st;
    if (::fstat(fd, &st) != 0 || st.st_size != static_cast<off_t>(kFileBlocks * kBlock)) {
      ::close(fd);
      return path + ": size " + std::to_string(st.st_size) + ", expected " +
             std::to_string(kFileBlocks * kBlock);
    }
    versions->assign(kFileBlocks, -1);
    std::vector<char> buf(256 * kBlock);
    for (uint64_t b = 0; b < kFileBlocks; b += 256) {
      size_t got = 0;
      while (got < buf.size()) {
        ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got,
                            static_cast<off_t>(b * kBlock + got));
        if (n <= 0) {
          int e = n < 0 ? errno : EIO;
          ::close(fd);
          return "read " + path + " at block " + std::to_string(b) + ": " + std::strerror(e);
        }
        got += static_cast<size_t>(n);
      }
      for (uint64_t i = 0; i < 256; ++i) (*versions)[b + i] = DecodeBlock(&buf[i * kBlock], b + i);
    }
    ::close(fd);
    return "";
  }

  // Empty when every block is in a state the contract allows.
  static std::string Check(const std::vector<int64_t>& versions, const std::vector<BlockModel>& model) {
    for (uint64_t b = 0; b < kFileBlocks; ++b) {
      const BlockModel& m = model[b];
      const int64_t v = versions[b];
      std::string what;
      if (v < 0) {
        what = "torn or foreign data";
      } else if (static_cast<uint64_t>(v) < m.acked) {
        what = "version " + std::to_string(v) + " older than the acknowledged " + std::to_string(m.acked);
      } else if (v != 0 && !std::binary_search(m.issued.begin(), m.issued.end(), static_cast<uint64_t>(v))) {
        what = "version " + std::to_string(v) + " never issued for it";
      }
      if (what.empty()) continue;
      std::string issued;
      for (size_t i = m.issued.size() > 6 ? m.issued.size() - 6 : 0; i < m.issued.size(); ++i)
        issued += " " + std::to_string(m.issued[i]);
      return "block " + std::to_string(b) + " (byte offset " + std::to_string(b * kBlock) +
             "): " + what + "; acknowledged " + std::to_string(m.acked) + ", last issued:" +
             (issued.empty() ? " none" : issued);
    }
    return "";
  }

  // The writer's ops for one round.
  std::vector<WriterOp> Generate(std::mt19937_64& rng, uint32_t chunk_blocks, size_t count) {
    std::vector<WriterOp> ops;
    while (ops.size() < count) {
      WriterOp op;
      const unsigned r = rng() % 100;
      if (r < 5) {
        op.kind = r < 3 ? OpKind::kFsync : OpKind::kFdatasync;
      } else {
        if (r < 80) {
          op.first = static_cast<uint32_t>(rng() % kFileBlocks);
          op.count = 1;
        } else if (r < 92) {  // a short run, often across a chunk boundary
          op.count = 2 + rng() % 15;
          op.first = static_cast<uint32_t>(rng() % (kFileBlocks - op.count));
        } else {  // whole chunks: no fill from the lower
          const uint32_t chunks = 1 + rng() % 2;
          op.count = std::min<uint32_t>(chunks * chunk_blocks, 64);
          op.first = static_cast<uint32_t>((rng() % (kFileBlocks / chunk_blocks - chunks)) * chunk_blocks);
        }
        op.version = next_version_;
        next_version_ += op.count;
      }
      ops.push_back(op);
    }
    return ops;
  }

  // Runs `ops` in a forked writer on `file`; returns its pid, the records come on *read_fd.
  static pid_t StartWriter(const std::string& file, const std::vector<WriterOp>& ops, int* read_fd) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return -1;
    pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      ::close(p[0]);
      int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) ::_exit(2);
      std::vector<char> buf(64 * kBlock);
      for (size_t i = 0; i < ops.size(); ++i) {
        const WriterOp& op = ops[i];
        int err = 0;
        if (op.kind == OpKind::kWrite) {
          for (uint32_t k = 0; k < op.count; ++k) FillBlock(&buf[k * kBlock], op.first + k, op.version + k);
          const size_t len = op.count * kBlock;
          ssize_t n = ::pwrite(fd, buf.data(), len, static_cast<off_t>(op.first * kBlock));
          err = n == static_cast<ssize_t>(len) ? 0 : (n < 0 ? errno : EIO);
        } else {
          int rc = op.kind == OpKind::kFsync ? ::fsync(fd) : ::fdatasync(fd);
          err = rc == 0 ? 0 : errno;
        }
        Record rec{static_cast<int32_t>(i), err};
        if (::write(p[1], &rec, sizeof rec) != sizeof rec) ::_exit(3);
        if (err != 0) ::_exit(1);
      }
      ::_exit(0);
    }
    ::close(p[1]);
    *read_fd = p[0];
    return pid;
  }

  // Waits (bounded) for the writer; kills it when it hangs. False on a hang,
  // with where the writer was stuck (its kernel stack) in `*stuck`. Collects
  // the writer's records from `rfd` meanwhile: a writer that completed more
  // than a pipe's worth (64 KiB, 8192 records) before the kill blocks on the
  // full pipe until someone reads it, so reading only after it exits would
  // wait forever.
  static bool Reap(pid_t pid, int rfd, std::vector<Record>* recs, std::string* stuck) {
    std::string bytes;
    auto drain = [&](int timeout_ms) {
      pollfd p{rfd, POLLIN, 0};
      char buf[8192];
      while (::poll(&p, 1, timeout_ms) > 0) {
        ssize_t n = ::read(rfd, buf, sizeof buf);
        if (n <= 0) return;  // end of file: the writer is gone
        bytes.append(buf, static_cast<size_t>(n));
        timeout_ms = 0;
      }
    };
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    int status = 0;
    bool reaped = true;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        const std::string proc = "/proc/" + std::to_string(pid);
        *stuck = "state: " + ReadFile(proc + "/stat").value_or("?") +
                 "\nstack:\n" + ReadFile(proc + "/stack").value_or("?");
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        reaped = false;
        break;
      }
      drain(1);
    }
    drain(-1);  // the rest, up to the end of file
    for (size_t at = 0; at + sizeof(Record) <= bytes.size(); at += sizeof(Record)) {
      Record r;
      std::memcpy(&r, bytes.data() + at, sizeof r);
      recs->push_back(r);
    }
    return reaped;
  }

  // One phase: a fresh upper with `chunk_opts`, `kills` kill points, then
  // materialize and the kernel's view.
  void RunPhase(const std::string& tag, const std::string& chunk_opts, uint32_t chunk_blocks, long kills,
                std::mt19937_64& rng) {
    StrataConfig config;
    config.lowers = {lower_};
    config.upper = dir_.Sub("upper-" + tag);
    config.work = dir_.Sub("work-" + tag);
    config.extra_opts = chunk_opts;
    const std::string log = dir_.path() + "/daemon-" + tag + ".log";
    std::vector<BlockModel> model(kFileBlocks);
    std::vector<int64_t> last_seen;
    long survived = 0, syncs = 0, in_flight = 0, writes_lost = 0, unacked_kept = 0;
    std::string err;

    for (long round = 0; round < kills; ++round) {
      SCOPED_TRACE(tag + " round " + std::to_string(round) + " seed " + std::to_string(seed_));
      const std::vector<WriterOp> ops = Generate(rng, chunk_blocks, 50000);
      const auto delay = std::chrono::microseconds(30000 + rng() % 400000);
      StrataDaemon d(mnt_, config, log);
      ASSERT_TRUE(d.Start(&err)) << err;
      int rfd = -1;
      const pid_t writer = StartWriter(mnt_ + "/big", ops, &rfd);
      ASSERT_GT(writer, 0) << std::strerror(errno);
      std::this_thread::sleep_for(delay);
      const bool alive = d.alive();
      d.Kill9();
      std::string stuck;
      std::vector<Record> recs;
      const bool reaped = Reap(writer, rfd, &recs, &stuck);
      ::close(rfd);
      ASSERT_TRUE(alive) << "the daemon died on its own: " << d.Log();
      ASSERT_TRUE(reaped) << "the writer hung after the daemon was killed; " << stuck;

      // Completed calls; the first failed one (and only it) may be half done.
      size_t done = 0;
      for (const Record& r : recs) {
        if (r.err != 0) {
          EXPECT_TRUE(r.err == ENOTCONN || r.err == ECONNABORTED || r.err == EIO)
              << "op " << r.index << " failed with " << std::strerror(r.err);
          break;
        }
        done = static_cast<size_t>(r.index) + 1;
      }
      const size_t issued = std::min(ops.size(), done + 1);
      // What fsync acknowledged: every write completed before the last acknowledged sync.
      size_t synced = 0;
      for (size_t i = 0; i < done; ++i)
        if (ops[i].kind != OpKind::kWrite) synced = i;
      for (size_t i = 0; i < issued; ++i) {
        const WriterOp& op = ops[i];
        if (op.kind != OpKind::kWrite) continue;
        for (uint32_t k = 0; k < op.count; ++k) {
          BlockModel& m = model[op.first + k];
          m.issued.push_back(op.version + k);
          if (i < synced) m.acked = op.version + k;
        }
      }
      for (size_t i = 0; i < done; ++i) syncs += ops[i].kind != OpKind::kWrite;
      in_flight += done < ops.size();

      // A dead mount answers ENOTCONN until it is detached (umount -l).
      struct statfs sfs;
      EXPECT_NE(::statfs(mnt_.c_str(), &sfs), 0);
      d.Detach();
      ASSERT_FALSE(IsMounted(mnt_));

      StrataDaemon again(mnt_, config, log);
      ASSERT_TRUE(again.Start(&err)) << err;
      std::vector<int64_t> versions;
      err = ReadVersions(mnt_ + "/big", &versions);
      ASSERT_TRUE(err.empty()) << err << "\n" << again.Log();
      err = Check(versions, model);
      ASSERT_TRUE(err.empty()) << err;
      // Informational: writes completed but not synced that did not survive.
      for (size_t i = synced; i < done; ++i) {
        const WriterOp& op = ops[i];
        if (op.kind != OpKind::kWrite) continue;
        for (uint32_t k = 0; k < op.count; ++k)
          (versions[op.first + k] >= static_cast<int64_t>(op.version + k) ? unacked_kept : writes_lost) += 1;
      }
      ASSERT_TRUE(again.Stop()) << again.Log();
      last_seen = std::move(versions);
      ++survived;
    }

    // The upper back to the kernel's format: the same bytes through kernel overlayfs.
    const char* strata = std::getenv("STRATA");
    ASSERT_TRUE(strata && *strata) << "STRATA (the strata tool) is not set";
    ASSERT_TRUE(RunCommand({strata, "materialize", config.upper, "--lower", lower_, "--workdir",
                            config.work, "--no-progress"}))
        << "strata materialize failed";
    EXPECT_TRUE(DirIsEmpty(config.work + "/strata-chunked")) << "a chunk map is left after materialize";
    StrataConfig kconfig = config;
    kconfig.work = dir_.Sub("kwork-" + tag);
    {
      KernelOverlay k(kmnt_, kconfig);
      ASSERT_TRUE(k.ok()) << "kernel overlayfs refused the upper: " << std::strerror(k.error());
      std::vector<int64_t> kernel;
      err = ReadVersions(kmnt_ + "/big", &kernel);
      ASSERT_TRUE(err.empty()) << err;
      for (uint64_t b = 0; b < kFileBlocks; ++b)
        ASSERT_EQ(kernel[b], last_seen[b]) << "kernel overlayfs after materialize, block " << b;
    }
    std::printf("%s: %ld kill points (%ld with the writer busy), %ld acknowledged syncs; "
                "block writes completed after the last sync: %ld kept, %ld lost\n",
                tag.c_str(), survived, in_flight, syncs, unacked_kept, writes_lost);
    EXPECT_EQ(in_flight, survived) << "the writer ran out of work before a kill: more ops per round";
    total_kills_ += survived;
  }

  ScratchDir dir_{"chunkkill"};
  std::string lower_, mnt_, kmnt_;
  uint64_t next_version_ = 1;
  long seed_ = 0;
  long total_kills_ = 0;
};

TEST_F(ChunkedDaemonKill, AcknowledgedWritesSurviveEveryKill) {
  const long kills = EnvLong("STRATA_CHUNK_KILLS", 50);
  seed_ = EnvLong("STRATA_CHUNK_SEED", static_cast<long>(::time(nullptr) % 100000));
  std::printf("chunked daemon kill: %ld kill points, seed %ld (STRATA_CHUNK_SEED to replay)\n", kills, seed_);
  std::mt19937_64 rng(static_cast<uint64_t>(seed_));
  // Half the kill points with the default (4 KiB, page-sized) chunks, the
  // rest split between 64 KiB and 1 MiB chunks, whose first partial writes
  // copy the rest of the chunk from the lower.
  const long page = kills / 2, mid = kills / 4;
  ASSERT_NO_FATAL_FAILURE(RunPhase("4k", "copyup=chunked", 1, page, rng));
  ASSERT_NO_FATAL_FAILURE(RunPhase("64k", "copyup=chunked,chunk_size=64k", 16, mid, rng));
  ASSERT_NO_FATAL_FAILURE(
      RunPhase("1m", "copyup=chunked,chunk_size=1m", 256, kills - page - mid, rng));
  RecordProperty("kill_points", static_cast<int>(total_kills_));
}

}  // namespace
}  // namespace strata::reltest
