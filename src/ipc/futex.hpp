// ipc/futex.hpp — futex wait/wake on 32-bit words in memory shared between processes.
//
// Only ipc/event_count.cpp calls these: every other waiter goes through an EventCount. The words live in
// MAP_SHARED mappings, so these use the shared (non-PRIVATE) futex operations. Callers re-check their
// condition after every return (spurious wake-ups and EINTR are normal).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <ctime>

namespace strata::ipc {

/// Sleeps while `*word == expected`, at most `timeout_ns` (< 0: no limit).
inline void futex_wait(uint32_t* word, uint32_t expected, int64_t timeout_ns) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
    tsp = &ts;
  }
  syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
}

/// Wakes every sleeper on `word`.
inline void futex_wake_all(uint32_t* word) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace strata::ipc
