// ipc/process.hpp — child processes: fork with a death signal tied to the parent, a pidfd to notice
// death without polling, a check for a stopped child, kill and reap.
//
// Called only from the thread that owns the Worker (the supervisor). A child created here gets
// PR_SET_PDEATHSIG(SIGKILL), so it dies when the thread that forked it ends (and therefore when the parent process
// dies), and it leaves through _exit(): no atexit handler or static destructor of the parent runs in a child.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace strata::ipc {

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  /// Kills (SIGKILL) and reaps the child if it is still there.
  ~ChildProcess();

  /// Forks; the child runs `body` and _exit()s with its return value. Throws SystemError in the parent.
  static ChildProcess spawn(const std::function<int()>& body);

  pid_t pid() const noexcept { return pid_; }
  /// A descriptor that polls readable once the child has exited (-1 once reaped).
  int pidfd() const noexcept { return pidfd_; }
  bool running() const noexcept { return pid_ > 0; }
  /// Non-blocking: if the child has exited, reaps it, sets `how` ("exited with status 3", "killed by
  /// signal 11 (Segmentation fault)") and returns true.
  bool try_reap(std::string* how);
  /// Waits up to `timeout_ms` for the child to exit, then SIGKILLs and reaps it. Returns how it ended.
  std::string reap(int timeout_ms);
  void kill() noexcept;
  /// True while the child is stopped by a signal (SIGSTOP, SIGTSTP, ...). Does not reap.
  bool stopped() const noexcept;

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

/// Number of threads of the calling process (from /proc/self/task).
int process_thread_count();

}  // namespace strata::ipc
