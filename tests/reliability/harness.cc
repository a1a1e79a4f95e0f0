#include "tests/reliability/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace strata::reltest {

namespace {

using namespace std::chrono_literals;

}  // namespace

bool RunCommand(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

namespace {

// (mount point, fstype) of every mount of this namespace.
std::vector<std::pair<std::string, std::string>> Mounts() {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    std::string w;
    while (fields >> w) f.push_back(w);
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || dash + 1 == f.end()) continue;
    out.emplace_back(f[4], *(dash + 1));
  }
  return out;
}

std::string Join(const std::vector<std::string>& v, char sep) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += sep;
    s += x;
  }
  return s;
}

}  // namespace

std::string StratafsPath() {
  const char* p = std::getenv("STRATAFS");
  return p && *p ? p : "stratafs";
}

long EnvLong(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return end && *end == '\0' ? n : fallback;
}

ScratchDir::ScratchDir(const std::string& tag) {
  std::string templ = "/tmp/strata-rel-" + tag + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data())) path_ = buf.data();
  // Unprivileged test users must be able to reach the mounts below.
  if (!path_.empty()) ::chmod(path_.c_str(), 0755);
}

ScratchDir::~ScratchDir() {
  if (path_.empty()) return;
  // Deepest mounts first, so nothing below the scratch dir survives it.
  std::vector<std::string> below;
  for (const auto& [mp, type] : Mounts())
    if (mp.rfind(path_ + "/", 0) == 0) below.push_back(mp);
  std::sort(below.begin(), below.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& mp : below) DetachAll(mp);
  RemoveTree(path_);
}

std::string ScratchDir::Sub(const std::string& name) const {
  std::string p = path_ + "/" + name;
  ::mkdir(p.c_str(), 0755);
  return p;
}

void RemoveTree(const std::string& path) {
  // Immutable/append-only flags are never set by these tests; rm is enough.
  RunCommand({"rm", "-rf", "--one-file-system", path});
}

bool IsMounted(const std::string& dir, const std::string& fstype) {
  for (const auto& [mp, type] : Mounts())
    if (mp == dir && (fstype.empty() || type == fstype)) return true;
  return false;
}

void DetachAll(const std::string& dir) {
  for (int i = 0; i < 16 && IsMounted(dir); ++i) ::umount2(dir.c_str(), MNT_DETACH);
}

StrataDaemon::StrataDaemon(std::string mountpoint, StrataConfig config, std::string log_path)
    : mountpoint_(std::move(mountpoint)), config_(std::move(config)), log_path_(std::move(log_path)) {}

StrataDaemon::~StrataDaemon() {
  if (pid_ > 0 && alive()) {
    Stop();
  } else {
    Reap(false);
    DetachAll(mountpoint_);
  }
}

bool StrataDaemon::Start(std::string* error) {
  std::string opts = "lowerdir=" + Join(config_.lowers, ':');
  if (!config_.upper.empty()) opts += ",upperdir=" + config_.upper + ",workdir=" + config_.work;
  if (!config_.extra_opts.empty()) opts += "," + config_.extra_opts;
  const std::string exe = StratafsPath();
  pid_ = ::fork();
  if (pid_ < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid_ == 0) {
    int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    ::setpgid(0, 0);  // keep terminal signals meant for the test away from it
    const char* argv[] = {exe.c_str(), mountpoint_.c_str(), "-f", "-o", opts.c_str(), nullptr};
    ::execv(argv[0], const_cast<char**>(argv));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (IsMounted(mountpoint_, "fuse.stratafs")) return true;
    if (!alive()) {
      *error = "stratafs exited before mounting: " + Log();
      return false;
    }
    std::this_thread::sleep_for(2ms);
  }
  *error = "stratafs did not mount within 15 s: " + Log();
  Kill9();
  Detach();
  return false;
}

bool StrataDaemon::alive() const {
  if (pid_ <= 0) return false;
  siginfo_t info{};
  if (::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == 0;  // nothing to report: still running
}

void StrataDaemon::Reap(bool block) {
  if (pid_ <= 0) return;
  int status;
  pid_t r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) pid_ = -1;
}

void StrataDaemon::Kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Reap(true);
}

void StrataDaemon::Detach() { DetachAll(mountpoint_); }

bool StrataDaemon::Stop() {
  if (::umount2(mountpoint_.c_str(), 0) != 0) DetachAll(mountpoint_);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
    int status;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    std::this_thread::sleep_for(2ms);
  }
  Kill9();
  DetachAll(mountpoint_);
  return false;
}

long StrataDaemon::RssKiB() const {
  if (pid_ <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

std::string StrataDaemon::Log() const {
  auto s = ReadFile(log_path_);
  if (!s) return "(no log)";
  return s->size() > 4000 ? s->substr(s->size() - 4000) : *s;
}

KernelOverlay::KernelOverlay(std::string mountpoint, const StrataConfig& config)
    : mountpoint_(std::move(mountpoint)) {
  std::string data = "lowerdir=" + Join(config.lowers, ':');
  if (!config.upper.empty()) data += ",upperdir=" + config.upper + ",workdir=" + config.work;
  ok_ = ::mount("overlay", mountpoint_.c_str(), "overlay", 0, data.c_str()) == 0;
  if (!ok_) errno_ = errno;
}

KernelOverlay::~KernelOverlay() {
  if (!ok_) return;
  if (::umount2(mountpoint_.c_str(), 0) != 0) DetachAll(mountpoint_);
}

int RunAs(uid_t uid, gid_t gid, const std::function<int()>& fn, std::chrono::seconds limit) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0)
      ::_exit(254);
    ::_exit(fn() & 0xff);
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(1ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

namespace {

void Walk(const std::string& root, const std::string& rel, bool with_data, Tree* out, std::string* error) {
  const std::string full = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(full.c_str());
  if (!d) {
    if (error->empty()) *error = "opendir " + full + ": " + std::strerror(errno);
    return;
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.push_back(e->d_name);
  }
  if (errno && error->empty()) *error = "readdir " + full + ": " + std::strerror(errno);
  ::closedir(d);
  for (const auto& n : names) {
    const std::string r = rel.empty() ? n : rel + "/" + n;
    const std::string p = root + "/" + r;
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      if (error->empty()) *error = "lstat " + p + ": " + std::strerror(errno);
      continue;
    }
    TreeEntry e;
    e.mode = st.st_mode;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.rdev = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? st.st_rdev : 0;
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
      if (n >= 0) e.data.assign(buf, n);
    } else if (S_ISREG(st.st_mode) && with_data) {
      auto data = ReadFile(p);
      if (data) {
        e.data = std::move(*data);
      } else if (error->empty()) {
        *error = "read " + p + ": " + std::strerror(errno);
      }
    }
    (*out)[r] = std::move(e);
    if (S_ISDIR(st.st_mode)) Walk(root, r, with_data, out, error);
  }
}

std::string Describe(const TreeEntry& e) {
  std::ostringstream s;
  s << "mode=" << std::oct << e.mode << std::dec << " uid=" << e.uid << " gid=" << e.gid
    << " rdev=" << e.rdev << " size=" << e.data.size();
  if (S_ISLNK(e.mode)) s << " -> " << e.data;
  return s.str();
}

}  // namespace

Tree Snapshot(const std::string& root, bool with_data, std::string* error) {
  Tree t;
  Walk(root, "", with_data, &t, error);
  return t;
}

std::string DiffTrees(const Tree& a, const Tree& b) {
  for (const auto& [p, e] : a) {
    auto it = b.find(p);
    if (it == b.end()) return "only in first: " + p + " (" + Describe(e) + ")";
    if (!(it->second == e)) {
      std::string d = p + ": " + Describe(e) + " vs " + Describe(it->second);
      if (e.data != it->second.data && S_ISREG(e.mode)) {
        size_t i = 0;
        while (i < e.data.size() && i < it->second.data.size() && e.data[i] == it->second.data[i]) ++i;
        d += " (content differs at byte " + std::to_string(i) + ")";
      }
      return d;
    }
  }
  for (const auto& [p, e] : b)
    if (!a.count(p)) return "only in second: " + p + " (" + Describe(e) + ")";
  return "";
}

bool WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      errno = e;
      return false;
    }
    off += n;
  }
  return ::close(fd) == 0;
}

std::optional<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      errno = e;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  ::close(fd);
  return out;
}

std::string Pattern(uint64_t seed, size_t size) {
  std::string s(size, '\0');
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 1);
  size_t i = 0;
  while (i + 8 <= size) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
    i += 8;
  }
  for (; i < size; ++i) s[i] = static_cast<char>(rng());
  return s;
}

bool CopyTree(const std::string& from, const std::string& to) {
  ::mkdir(to.c_str(), 0755);
  return RunCommand({"cp", "-a", from + "/.", to + "/"});
}

bool DirIsEmpty(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return errno == ENOENT;
  bool empty = true;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) empty = false;
  ::closedir(d);
  return empty;
}

}  // namespace strata::reltest
