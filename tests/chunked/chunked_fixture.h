// A scratch lower layer, upper layer and work directory on /tmp for the
// chunked copy-up tests; removed in TearDown whatever happened.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fs/base/unique_fd.h"
#include "fs/chunked/chunked_file.h"
#include "fs/sys/syscalls.h"

namespace strata::chunked::testing {

class ChunkedFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strata-chunked-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    for (const char* d : {"lower0", "lower1", "upper", "work"})
      ASSERT_EQ(::mkdir((root_ + "/" + d).c_str(), 0755), 0);
    lower0_ = OpenDir("lower0");
    lower1_ = OpenDir("lower1");
    upper_dir_ = OpenDir("upper");
    work_ = OpenDir("work");
    roots_ = {lower0_.get(), lower1_.get()};
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  UniqueFd OpenDir(const std::string& name) {
    return UniqueFd(::open((root_ + "/" + name).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }

  // Random bytes, with a few all-zero 4 KiB blocks that are written as holes.
  static std::string RandomData(size_t size, uint32_t seed) {
    std::mt19937 rng(seed);
    std::string data(size, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    for (size_t b = 4096; b + 4096 <= size; b += 4096 * 7) std::fill_n(&data[b], 4096, '\0');
    return data;
  }

  // Writes `data` as `name` in lower dir `dirfd`, skipping zero blocks (holes).
  static struct stat MakeLower(int dirfd, const std::string& name, const std::string& data) {
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    EXPECT_TRUE(fd.valid());
    for (size_t off = 0; off < data.size(); off += 4096) {
      size_t n = std::min<size_t>(4096, data.size() - off);
      if (data.compare(off, n, std::string(n, '\0')) == 0) continue;
      EXPECT_TRUE(sys::PwriteAll(fd.get(), data.data() + off, n, static_cast<off_t>(off)).ok());
    }
    EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(data.size())), 0);
    struct stat st;
    EXPECT_EQ(::fstat(fd.get(), &st), 0);
    return st;
  }

  // Creates upper/`name` as a chunked copy of lower0/`relpath` (written from
  // `data`), returns it open O_RDWR.
  UniqueFd MakeChunkedCopy(const std::string& name, const std::string& relpath,
                           const std::string& data, uint32_t chunk_size) {
    struct stat st = MakeLower(lower0_.get(), relpath, data);
    UniqueFd fd(
        ::openat(upper_dir_.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    EXPECT_TRUE(fd.valid());
    Status s = InitChunkedCopy(fd.get(), st, ChunkedOrigin{relpath}, chunk_size);
    EXPECT_TRUE(s.ok()) << strerror(s.error());
    return fd;
  }

  std::shared_ptr<ChunkedFile> OpenChunked(int fd, bool durable = true) {
    auto f = ChunkedFile::Open(fd, roots_, work_.get(), durable);
    EXPECT_TRUE(f.ok()) << strerror(f.error());
    return f.ok() ? *f : nullptr;
  }

  static std::string ReadAll(ChunkedFile& f, size_t size_hint) {
    std::string out(size_hint + 65536, '\0');
    size_t got = 0;
    while (true) {
      auto n = f.Read(out.data() + got, out.size() - got, static_cast<off_t>(got));
      EXPECT_TRUE(n.ok());
      if (!n.ok() || *n == 0) break;
      got += *n;
      if (got == out.size()) out.resize(out.size() * 2);
    }
    out.resize(got);
    return out;
  }

  static std::string PreadAllPlain(int fd) {
    struct stat st;
    EXPECT_EQ(::fstat(fd, &st), 0);
    std::string out(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
  }

  size_t MapFileCount() const {
    size_t n = 0;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(root_ + "/work/strata-chunked", ec)) {
      (void)e;
      ++n;
    }
    return n;
  }

  std::string root_;
  UniqueFd lower0_, lower1_, upper_dir_, work_;
  std::vector<int> roots_;
};

// Applies a write to the in-memory model of a file.
inline void ModelWrite(std::string* model, const std::string& data, size_t off) {
  if (model->size() < off + data.size()) model->resize(off + data.size(), '\0');
  model->replace(off, data.size(), data);
}

}  // namespace strata::chunked::testing
