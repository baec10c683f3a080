#include "support/victim.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <utility>

#include "support/wait.hpp"

namespace strata::test {

std::string ExitInfo::describe() const {
  if (signaled) return "killed by signal " + std::to_string(value) + " (" + strsignal(value) + ")";
  return "exited with status " + std::to_string(value);
}

Victim Victim::spawn(const std::function<int()>& body) {
  const pid_t parent = getpid();
  std::fflush(nullptr);  // buffered output would otherwise be written by both processes
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(72);
    int rc = 71;
    try {
      rc = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "victim %d: uncaught exception: %s\n", static_cast<int>(getpid()), e.what());
    } catch (...) {
      std::fprintf(stderr, "victim %d: uncaught non-std exception\n", static_cast<int>(getpid()));
    }
    std::fflush(nullptr);
    _exit(rc);
  }
  Victim v;
  v.pid_ = pid;
  v.pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (v.pidfd_ < 0) {
    const int err = errno;
    v.release();
    throw std::runtime_error(std::string("pidfd_open: ") + std::strerror(err));
  }
  return v;
}

Victim::Victim(Victim&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::exchange(other.pidfd_, -1)) {}

Victim& Victim::operator=(Victim&& other) noexcept {
  if (this != &other) {
    release();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
  }
  return *this;
}

Victim::~Victim() { release(); }

void Victim::release() noexcept {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (pidfd_ >= 0) close(pidfd_);
  pid_ = -1;
  pidfd_ = -1;
}

void Victim::signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

std::optional<ExitInfo> Victim::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  pollfd p{pidfd_, POLLIN, 0};
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const int r = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (r > 0) break;
    if (r == 0) return std::nullopt;
    if (errno != EINTR) return std::nullopt;
  }
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  ExitInfo info;
  info.signaled = WIFSIGNALED(status);
  info.value = info.signaled ? WTERMSIG(status) : WEXITSTATUS(status);
  close(pidfd_);
  pid_ = -1;
  pidfd_ = -1;
  return info;
}

void* shared_block_map(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("mmap: ") + std::strerror(errno));
  return p;
}

void shared_block_unmap(void* p, size_t bytes) noexcept { munmap(p, bytes); }

void disable_core_dumps() {
  rlimit lim{};
  getrlimit(RLIMIT_CORE, &lim);
  lim.rlim_cur = 0;
  setrlimit(RLIMIT_CORE, &lim);
}

}  // namespace strata::test
