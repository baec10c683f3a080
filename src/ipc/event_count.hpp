// ipc/event_count.hpp — the one wait primitive of strata: an event count over a futex word.
//
// Every waiter in strata follows the protocol written once here: a child waiting for a request, a chip
// waiting on the status board for a producer, the parent waiting for completions, and a kernel waiting
// for a peer's signal (strata/comm_kernel.hpp).
//
//   waiter:   check; spin for the spin budget (pause, then yield), re-checking;
//             key = prepare_wait(); re-check -> cancel_wait() if ready; else commit_wait(key, slice); repeat
//   notifier: publish the change (a store), then notify(): a sequentially consistent fence, and only if
//             a waiter announced itself, bump the epoch and wake it.
// prepare_wait and notify form a Dekker pair: either the waiter's re-check sees the change or the
// notifier sees the waiter. Nobody sleeps through a change, and a busy pair makes no system call.
// A notify consumes the waiters it wakes (epoch and waiters change in one atomic step), so a second
// notify before those waiters run again makes no system call either: on machines where a wake-up is
// expensive, a waiter woken early (when its producer starts) costs one wake, not two.
//
// The shared state is an EventWord (epoch + waiters, 8 bytes) in memory every process maps; it is plain
// integers accessed through std::atomic_ref, so the same layout can sit in public ABI structs
// (CommSignalSlot). A waiter sleeps on the epoch (futex, shared between processes) or, when it must also
// watch file descriptors (the parent watches child exits through pidfds), in ppoll on an eventfd that
// the notifier then writes: the EventCount is told which when it is made, on both sides.
//
// Every sleep is bounded by the caller's slice, so a waiter also re-checks what a notifier cannot
// signal (an abort word, a deadline, a dead peer). Any thread or process may use an EventCount.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace strata::ipc {

/// The shared part of an event count (in shared memory, zero-initialised), read and written as one 64-bit
/// word: the epoch in the low half (the futex word), the waiters not yet woken in the high half.
struct alignas(8) EventWord {
  uint32_t epoch;    // futex word: bumped by a notify that sees waiters
  uint32_t waiters;  // waiters announced and not yet woken
};
static_assert(sizeof(EventWord) == 8 && offsetof(EventWord, epoch) == 0);

class EventCount {
 public:
  /// `wake_fd` >= 0: waiters sleep in ppoll on that eventfd (commit_wait_fds) and notify writes it.
  explicit EventCount(EventWord* word = nullptr, int wake_fd = -1) noexcept : w_(word), fd_(wake_fd) {}

  /// Announces a waiter; returns the key to pass to commit_wait. Re-check the condition after it.
  uint32_t prepare_wait() noexcept;
  /// Withdraws a prepare_wait whose re-check found the condition true (a no-op if a notify already woke
  /// this waiter).
  void cancel_wait(uint32_t key) noexcept;
  /// Sleeps until notified, `timeout_ns` passes (< 0: no limit) or a signal arrives; then withdraws.
  void commit_wait(uint32_t key, int64_t timeout_ns) noexcept;
  /// Like commit_wait for an eventfd waiter, also returning when one of `fds` polls ready. Returns
  /// ppoll's result (so a caller can tell which fds are ready).
  int commit_wait_fds(uint32_t key, std::span<pollfd> fds, int64_t timeout_ns) noexcept;

  /// After publishing a change: wakes the waiters, if any announced themselves.
  void notify() noexcept;
  /// notify() for a change published by a sequentially consistent store or read-modify-write, which
  /// already orders it before the read of the waiters (no separate fence).
  void notify_after_seq_cst() noexcept;
  /// The first half of notify, for notifiers that wake only under a further condition: a seq_cst fence,
  /// then whether any waiter is announced.
  bool fence_and_check_waiters() const noexcept;
  /// The second half: bumps the epoch and wakes every waiter not yet woken (a system call, if any).
  void wake() noexcept;

  EventWord* word() const noexcept { return w_; }
  int wake_fd() const noexcept { return fd_; }

 private:
  EventWord* w_;
  int fd_;
};

/// How a waiter spins before it sleeps.
struct SpinPolicy {
  int64_t spin_ns = 0;  // the whole spin budget (pause, then yield between rounds)
  /// Of which this much is spent however the condition looks; the rest only while hot() says the
  /// change is near (e.g. the producer is running), so a waiter whose change is far off gives its core
  /// away at once.
  int64_t cold_ns = 0;
  /// Yield the CPU between spin rounds (for a waiter whose producer may need this CPU).
  bool yield = true;
};

/// Waits until `ready()` returns true (returns true), or `deadline_ns` passes (CLOCK_MONOTONIC, < 0:
/// none) or `give_up()` returns true (returns ready()). Spins first (see SpinPolicy), then sleeps on
/// `ec` in slices of at most `slice_ns` (< 0: unbounded), re-checking ready() and give_up() after each
/// and spinning again after every wake-up.
template <class Ready, class GiveUp, class Hot>
bool wait_on(EventCount ec, Ready&& ready, GiveUp&& give_up, Hot&& hot, SpinPolicy spin, int64_t deadline_ns,
             int64_t slice_ns) noexcept;

/// wait_on with a waiter whose condition is always worth spinning for (up to the budget).
template <class Ready, class GiveUp>
bool wait_on(EventCount ec, Ready&& ready, GiveUp&& give_up, int64_t spin_ns, int64_t deadline_ns,
             int64_t slice_ns) noexcept {
  return wait_on(
      ec, ready, give_up, [] { return true; }, SpinPolicy{spin_ns, spin_ns}, deadline_ns, slice_ns);
}

}  // namespace strata::ipc

#include "util/sys.hpp"

namespace strata::ipc {

template <class Ready, class GiveUp, class Hot>
bool wait_on(EventCount ec, Ready&& ready, GiveUp&& give_up, Hot&& hot, SpinPolicy spin, int64_t deadline_ns,
             int64_t slice_ns) noexcept {
  for (int i = 0; i < 64; ++i) {
    if (ready()) return true;
    sys::cpu_relax();
  }
  for (;;) {
    // Spin: pause, then yield the CPU between rounds (on an oversubscribed machine the process we wait
    // for may need this core).
    const int64_t start = sys::now_ns();
    for (;;) {
      for (int i = 0; i < 32; ++i) {
        if (ready()) return true;
        sys::cpu_relax();
      }
      const int64_t spent = sys::now_ns() - start;
      const bool is_hot = hot();  // asked every round: a waiter may act on it (see board_wait)
      if (spent >= spin.spin_ns || (spent >= spin.cold_ns && !is_hot)) break;
      if (spin.yield) sys::yield();
    }
    if (give_up()) return ready();
    int64_t timeout = slice_ns;
    if (deadline_ns >= 0) {
      const int64_t left = deadline_ns - sys::now_ns();
      if (left <= 0) return ready();
      if (timeout < 0 || left < timeout) timeout = left;
    }
    const uint32_t key = ec.prepare_wait();
    if (ready()) {
      ec.cancel_wait(key);
      return true;
    }
    ec.commit_wait(key, timeout);
  }
}

}  // namespace strata::ipc
