#include "tests/mount/chroot_run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "tests/mount/watchdog.h"

namespace strata::mounttest {

ChrootResult RunInChroot(const std::string& root, const std::string& script,
                         int time_limit_seconds) {
  ChrootResult result;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + strerror(errno);
    return result;
  }
  pid_t pid = fork();
  if (pid < 0) {
    result.error = std::string("fork: ") + strerror(errno);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return result;
  }
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    if (chroot(root.c_str()) != 0 || chdir("/") != 0) {
      dprintf(STDERR_FILENO, "chroot %s: %s\n", root.c_str(), strerror(errno));
      _exit(126);
    }
    char* const env[] = {const_cast<char*>("PATH=/bin"), const_cast<char*>("HOME=/"), nullptr};
    execle("/bin/busybox", "sh", "-c", script.c_str(), static_cast<char*>(nullptr), env);
    dprintf(STDERR_FILENO, "exec /bin/busybox: %s\n", strerror(errno));
    _exit(127);
  }
  RegisterChild(pid);
  close(pipe_fds[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(time_limit_seconds);
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      result.error = "timed out after " + std::to_string(time_limit_seconds) + " s";
      break;
    }
    pollfd pfd = {pipe_fds[0], POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t got = read(pipe_fds[0], buf, sizeof buf);
    if (got <= 0) break;  // EOF: the shell and its children are done
    result.output.append(buf, got);
  }
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  UnregisterChild(pid);
  if (result.error.empty() && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace strata::mounttest
