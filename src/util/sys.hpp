// util/sys.hpp — small system helpers shared by every layer: clocks, errno messages, the page size, the
// bounded spin that precedes every blocking wait.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

namespace strata::sys {

/// CLOCK_MONOTONIC in nanoseconds (vDSO: no system call).
inline int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/// The size of a memory page (read once).
size_t page_size() noexcept;

/// "what: strerror(err)".
std::string errno_message(const char* what, int err);
/// Throws strata::SystemError with errno_message(what, errno).
[[noreturn]] void throw_errno(const char* what);

/// One step of a spin: a pause instruction.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Bounded spinning before a blocking wait. `ready()` is polled with pauses, then with sched_yield()
/// (so on an oversubscribed machine the process we wait for can run), until `spin_ns` has passed.
/// Returns true if ready() became true while spinning; the caller then blocks otherwise.
template <class Ready>
bool spin_until(Ready&& ready, int64_t spin_ns) noexcept;

/// sched_yield().
void yield() noexcept;
/// Sleeps for `ns` nanoseconds (resumes after a signal).
void sleep_ns(int64_t ns) noexcept;

/// The configured spin budget (STRATA_SPIN_US) in nanoseconds, read once.
int64_t spin_budget_ns() noexcept;

template <class Ready>
bool spin_until(Ready&& ready, int64_t spin_ns) noexcept {
  for (int i = 0; i < 64; ++i) {
    if (ready()) return true;
    cpu_relax();
  }
  if (spin_ns <= 0) return ready();
  const int64_t deadline = now_ns() + spin_ns;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (now_ns() >= deadline) return ready();
    yield();
  }
}

}  // namespace strata::sys
