// tests/unit/child_helpers.hpp — forking helpers for the unit tests that need a second process.
//
// A child made here dies with its parent (PR_SET_PDEATHSIG), kills itself after `alarm_s` seconds
// (SIGALRM) so a lost wake-up cannot hang it, and leaves through _exit() without running the parent's
// GoogleTest state. The parent waits for it on a pidfd with a deadline, SIGKILLs it past the deadline, and
// always reaps it. The fixtures derive from LeakCheckedTest (tests/support), which fails a test that
// leaves a process, a descriptor or a /dev/shm entry behind.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <string>

namespace strata::test {

struct Child {
  pid_t pid = -1;
  int pidfd = -1;
};

/// Forks a child that runs `body` and _exit()s with its result (exit code 99 if it threw).
inline Child fork_child(const std::function<int()>& body, unsigned alarm_s = 20) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return {};
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(98);
    alarm(alarm_s);
    int rc = 99;
    try {
      rc = body();
    } catch (...) {
      rc = 99;
    }
    _exit(rc);
  }
  Child c;
  c.pid = pid;
  c.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  return c;
}

/// Waits up to `timeout_ms` for the child to exit (SIGKILL past that), reaps it and returns its wait
/// status. `*timed_out` says whether it had to be killed.
inline int reap_child(Child* c, int timeout_ms, bool* timed_out = nullptr) {
  if (timed_out) *timed_out = false;
  if (c->pid <= 0) return -1;
  bool exited = false;
  if (c->pidfd >= 0) {
    pollfd p{c->pidfd, POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    exited = r == 1;
  }
  if (!exited) {
    if (timed_out) *timed_out = true;
    kill(c->pid, SIGKILL);
  }
  int status = 0;
  pid_t r;
  do {
    r = waitpid(c->pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (c->pidfd >= 0) close(c->pidfd);
  c->pid = -1;
  c->pidfd = -1;
  return status;
}

/// "exited 0", "exited 3", "killed by signal 9".
inline std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace strata::test
