#include "ipc/event_count.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "ipc/futex.hpp"

namespace strata::ipc {
namespace {

constexpr uint64_t kOneWaiter = uint64_t{1} << 32;

std::atomic_ref<uint64_t> word_of(EventWord* w) noexcept {
  return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(w));
}

timespec to_timespec(int64_t ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  return ts;
}

}  // namespace

uint32_t EventCount::prepare_wait() noexcept {
  return static_cast<uint32_t>(word_of(w_).fetch_add(kOneWaiter, std::memory_order_seq_cst));
}

void EventCount::cancel_wait(uint32_t key) noexcept {
  // Our announcement is still counted only if no notify has bumped the epoch since we made it.
  auto word = word_of(w_);
  uint64_t v = word.load(std::memory_order_seq_cst);
  while (static_cast<uint32_t>(v) == key && (v >> 32) != 0)
    if (word.compare_exchange_weak(v, v - kOneWaiter, std::memory_order_seq_cst)) return;
}

void EventCount::commit_wait(uint32_t key, int64_t timeout_ns) noexcept {
  if (fd_ >= 0) {
    commit_wait_fds(key, {}, timeout_ns);
    return;
  }
  futex_wait(&w_->epoch, key, timeout_ns);
  cancel_wait(key);
}

int EventCount::commit_wait_fds(uint32_t key, std::span<pollfd> fds, int64_t timeout_ns) noexcept {
  // The eventfd is the first descriptor polled; the caller's follow.
  pollfd local[64];
  const size_t n = std::min<size_t>(fds.size(), 63);
  local[0] = pollfd{fd_, POLLIN, 0};
  for (size_t i = 0; i < n; ++i) local[i + 1] = fds[i];
  int rc = 0;
  if (static_cast<uint32_t>(word_of(w_).load(std::memory_order_seq_cst)) == key) {
    timespec ts = to_timespec(timeout_ns < 0 ? 0 : timeout_ns);
    rc = ppoll(local, n + 1, timeout_ns < 0 ? nullptr : &ts, nullptr);
    if (rc < 0 && errno != EINTR) rc = 0;
  }
  uint64_t drained;
  while (read(fd_, &drained, sizeof drained) > 0) {
  }
  for (size_t i = 0; i < n; ++i) fds[i].revents = local[i + 1].revents;
  cancel_wait(key);
  return rc;
}

bool EventCount::fence_and_check_waiters() const noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return (word_of(w_).load(std::memory_order_relaxed) >> 32) != 0;
}

void EventCount::wake() noexcept {
  // Bump the epoch and take every announced waiter in one step: a notify right after this one finds
  // nobody left to wake until one of them announces itself again.
  auto word = word_of(w_);
  uint64_t v = word.load(std::memory_order_seq_cst);
  for (;;) {
    if ((v >> 32) == 0) return;
    const uint64_t next = static_cast<uint32_t>(v + 1);  // epoch + 1, no waiters
    if (word.compare_exchange_weak(v, next, std::memory_order_seq_cst)) break;
  }
  if (fd_ >= 0) {
    const uint64_t one = 1;
    ssize_t ignored = write(fd_, &one, sizeof one);
    (void)ignored;
  } else {
    futex_wake_all(&w_->epoch);
  }
}

void EventCount::notify() noexcept {
  if (fence_and_check_waiters()) wake();
}

void EventCount::notify_after_seq_cst() noexcept {
  if ((word_of(w_).load(std::memory_order_seq_cst) >> 32) != 0) wake();
}

}  // namespace strata::ipc
