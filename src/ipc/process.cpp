#include "ipc/process.hpp"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "strata/errors.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata::ipc {
namespace {

std::string describe(const siginfo_t& info) {
  char buf[128];
  if (info.si_code == CLD_EXITED)
    std::snprintf(buf, sizeof buf, "exited with status %d", info.si_status);
  else
    std::snprintf(buf, sizeof buf, "killed by signal %d (%s)", info.si_status, strsignal(info.si_status));
  return buf;
}

}  // namespace

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::exchange(other.pidfd_, -1)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (running()) reap(0);
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (running()) reap(0);
}

ChildProcess ChildProcess::spawn(const std::function<int()>& body) {
  const pid_t parent = getpid();
  // The child inherits the log settings instead of reading (and reporting a bad value) again.
  log::read_settings();
  // Output buffered before fork would otherwise be written twice.
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) sys::throw_errno("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);  // the parent died before prctl took effect
    int rc = 0;
    try {
      rc = body();
    } catch (const std::exception& e) {
      STRATA_LOG_ERROR("proc", "child %d: uncaught exception: %s", static_cast<int>(getpid()), e.what());
      rc = 70;
    } catch (...) {
      rc = 70;
    }
    std::fflush(nullptr);
    _exit(rc);
  }
  ChildProcess child;
  child.pid_ = pid;
  child.pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (child.pidfd_ < 0) {
    const int err = errno;
    child.kill();
    child.reap(0);
    throw SystemError(sys::errno_message("pidfd_open", err));
  }
  return child;
}

bool ChildProcess::try_reap(std::string* how) {
  if (!running()) return false;
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG) != 0) {
    if (errno == ECHILD) {
      *how = "was reaped by someone else";
    } else {
      return false;
    }
  } else if (info.si_pid == 0) {
    return false;
  } else {
    *how = describe(info);
  }
  close(pidfd_);
  pidfd_ = -1;
  pid_ = -1;
  return true;
}

std::string ChildProcess::reap(int timeout_ms) {
  std::string how;
  if (!running()) return how;
  if (timeout_ms > 0) {
    pollfd p{pidfd_, POLLIN, 0};
    while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {
    }
  }
  if (try_reap(&how)) return how;
  kill();
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED) != 0 && errno == EINTR) {
  }
  how = describe(info);
  close(pidfd_);
  pidfd_ = -1;
  pid_ = -1;
  return how;
}

bool ChildProcess::stopped() const noexcept {
  if (!running()) return false;
  siginfo_t info{};
  // WNOWAIT leaves the state to be collected again; Linux reports a stop only while it lasts.
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WSTOPPED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == pid_ && info.si_code == CLD_STOPPED;
}

void ChildProcess::kill() noexcept {
  if (pidfd_ >= 0) syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
}

int process_thread_count() {
  DIR* d = opendir("/proc/self/task");
  if (!d) return 1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

}  // namespace strata::ipc
