// tests/support/victim.hpp — a forked process for tests that must kill, crash or wait on a whole program.
//
// The victim runs a function in a child of the test process and leaves through _exit() with its return
// value (GoogleTest state, atexit handlers and static destructors of the test never run there). It dies
// with the test process (PR_SET_PDEATHSIG). The test waits for it on a pidfd with a deadline, can signal
// it, and the destructor always kills and reaps it, so a failing test leaves nothing behind.
//
// Also: SharedBlock, an anonymous MAP_SHARED mapping made before the fork, through which the test and
// everything the victim forks (its Worker's children too) hand-shake.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <type_traits>

namespace strata::test {

/// How a process ended.
struct ExitInfo {
  bool signaled = false;  ///< killed by a signal (value is the signal) or exited (value is the status)
  int value = 0;
  std::string describe() const;  ///< "exited with status 3", "killed by signal 9 (Killed)"
  bool exited_with(int status) const { return !signaled && value == status; }
};

class Victim {
 public:
  /// Forks; the child runs `body` and _exit()s with its value (71 if it threw, after printing what()).
  static Victim spawn(const std::function<int()>& body);

  Victim() = default;
  Victim(Victim&& other) noexcept;
  Victim& operator=(Victim&& other) noexcept;
  Victim(const Victim&) = delete;
  Victim& operator=(const Victim&) = delete;
  /// SIGKILLs and reaps the victim if it is still there.
  ~Victim();

  pid_t pid() const { return pid_; }
  /// Sends `sig` to the victim.
  void signal(int sig) const;
  /// Waits up to `timeout` for the victim to end and reaps it; empty if it is still running.
  std::optional<ExitInfo> wait(std::chrono::milliseconds timeout);

 private:
  void release() noexcept;
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

/// An anonymous shared mapping holding one T, constructed in place; visible to every process forked after
/// it was made (including a victim's Worker children). T should be trivially copyable.
template <class T>
class SharedBlock {
 public:
  SharedBlock() : SharedBlock(map_shared(sizeof(T))) {}
  ~SharedBlock() { unmap_shared(ptr_, sizeof(T)); }
  SharedBlock(const SharedBlock&) = delete;
  SharedBlock& operator=(const SharedBlock&) = delete;
  T* get() const { return ptr_; }
  T* operator->() const { return ptr_; }
  T& operator*() const { return *ptr_; }

 private:
  explicit SharedBlock(void* mem) : ptr_(new (mem) T{}) {}
  static void* map_shared(size_t bytes);
  static void unmap_shared(void* p, size_t bytes) noexcept;
  T* ptr_;
};

/// Sets the soft RLIMIT_CORE to 0 for this process and the children it forks from now on, so a test that
/// crashes a chip on purpose leaves no core file behind.
void disable_core_dumps();

void* shared_block_map(size_t bytes);
void shared_block_unmap(void* p, size_t bytes) noexcept;

template <class T>
void* SharedBlock<T>::map_shared(size_t bytes) {
  return shared_block_map(bytes);
}
template <class T>
void SharedBlock<T>::unmap_shared(void* p, size_t bytes) noexcept {
  shared_block_unmap(p, bytes);
}

}  // namespace strata::test
