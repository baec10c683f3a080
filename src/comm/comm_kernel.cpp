// comm/comm_kernel.cpp — the out-of-line half of the kernel toolkit (strata/comm_kernel.hpp): context
// checks, the three-phase wait (spin, yield, futex) and the barrier.
//
// Waits are built for oversubscription: a domain may have 4-16 chip processes (or, in tests, 64 ranks as
// threads) on 2 cores, so a waiter gives its core away after a few microseconds and sleeps after a few
// dozen more. The futex word lives in the signal slot, which is shared between processes, so the
// shared (non-PRIVATE) futex operations are used.
#include "strata/comm_kernel.hpp"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cinttypes>
#include <climits>
#include <cstdio>
#include <ctime>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace strata {
namespace detail {
namespace {

// Spin this long with pause before yielding, and yield until this long before sleeping. The spin
// catches a peer that is a few cache misses behind; the yield phase a peer that is running on the other
// core and almost there, without paying a futex round trip (several microseconds each way).
constexpr int64_t kSpinNs = 3000;
constexpr int64_t kYieldNs = 50000;

int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

uint64_t load_value(CommSignalSlot* slot) noexcept {
  return std::atomic_ref<uint64_t>(slot->value).load(std::memory_order_acquire);
}

}  // namespace

bool comm_wait_ge(CommSignalSlot* slot, uint64_t target, int64_t timeout_ns, uint64_t* seen) noexcept {
  uint64_t v = load_value(slot);
  if (v >= target) {
    *seen = v;
    return true;
  }
  const int64_t start = now_ns();
  const int64_t deadline = timeout_ns > INT64_MAX - start ? INT64_MAX : start + timeout_ns;
  int64_t now = start;
  // Phase 1: spin (the clock is read every 16 pauses).
  while (now - start < kSpinNs && now < deadline) {
    for (int i = 0; i < 16; ++i) {
      cpu_relax();
      if ((v = load_value(slot)) >= target) {
        *seen = v;
        return true;
      }
    }
    now = now_ns();
  }
  // Phase 2: yield.
  while (now - start < kSpinNs + kYieldNs && now < deadline) {
    sched_yield();
    if ((v = load_value(slot)) >= target) {
      *seen = v;
      return true;
    }
    now = now_ns();
  }
  // Phase 3: sleep on the futex word until a signaller that sees us bumps it, or the deadline.
  std::atomic_ref<uint32_t> sleepers(slot->sleepers);
  std::atomic_ref<uint32_t> wake_seq(slot->wake_seq);
  std::atomic_ref<uint64_t> value(slot->value);
  for (;;) {
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t seq = wake_seq.load(std::memory_order_seq_cst);
    v = value.load(std::memory_order_seq_cst);
    now = now_ns();
    if (v >= target || now >= deadline) {
      sleepers.fetch_sub(1, std::memory_order_seq_cst);
      *seen = v;
      return v >= target;
    }
    const int64_t left = deadline - now;
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(left / 1000000000);
    ts.tv_nsec = static_cast<long>(left % 1000000000);
    // Returns at once when wake_seq moved since we read it (a signaller saw us), on a wake-up, on a
    // signal or at the timeout; the loop re-checks in every case.
    syscall(SYS_futex, &slot->wake_seq, FUTEX_WAIT, seq, &ts, nullptr, 0);
    sleepers.fetch_sub(1, std::memory_order_seq_cst);
    if ((v = load_value(slot)) >= target) {
      *seen = v;
      return true;
    }
  }
}

void comm_wake(CommSignalSlot* slot) noexcept {
  std::atomic_ref<uint32_t>(slot->wake_seq).fetch_add(1, std::memory_order_seq_cst);
  syscall(SYS_futex, &slot->wake_seq, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

std::string comm_duration_text(std::chrono::nanoseconds d) {
  const auto ns = d.count();
  char buf[64];
  if (ns % 1000000 == 0)
    std::snprintf(buf, sizeof buf, "%lld ms", static_cast<long long>(ns / 1000000));
  else
    std::snprintf(buf, sizeof buf, "%.3f ms", static_cast<double>(ns) / 1e6);
  return buf;
}

}  // namespace detail

namespace {

std::string rank_text(const strata_comm_context& c) {
  return "rank " + std::to_string(c.rank) + " of " + std::to_string(c.size);
}

}  // namespace

CommView::CommView(const strata_comm_context* ctx) : ctx_(ctx) {
  if (ctx == nullptr)
    throw std::invalid_argument("strata comm: the CommContext pointer is null (pass a domain's device_ctx)");
  if (ctx->size == 0 || ctx->size > STRATA_COMM_MAX_RANKS)
    throw std::invalid_argument("strata comm: CommContext size " + std::to_string(ctx->size) + " is not in 1.." +
                                std::to_string(STRATA_COMM_MAX_RANKS) + " (is the scalar really a device_ctx?)");
  if (ctx->rank >= ctx->size)
    throw std::invalid_argument("strata comm: CommContext rank " + std::to_string(ctx->rank) +
                                " is not below its size " + std::to_string(ctx->size));
  for (uint32_t r = 0; r < ctx->size; ++r) {
    if (ctx->windows[r] == 0)
      throw std::invalid_argument("strata comm: CommContext has no window for rank " + std::to_string(r));
    if ((ctx->windows[r] + ctx->window_size) % alignof(CommSignalSlot) != 0)
      throw std::invalid_argument("strata comm: rank " + std::to_string(r) +
                                  "'s signal area is not 64-byte aligned (window base + window_size)");
  }
}

CommView CommView::from_task(const TaskContext& ctx, size_t scalar_index) {
  if (scalar_index >= ctx.scalar_count())
    throw std::invalid_argument("strata comm: the task has " + std::to_string(ctx.scalar_count()) +
                                " scalars; scalar " + std::to_string(scalar_index) +
                                " should be the domain's device_ctx");
  return CommView(ctx.scalar<uint64_t>(scalar_index));
}

uint64_t CommView::wait_ge(uint32_t s, uint64_t value, std::chrono::nanoseconds timeout) const {
  CommSignalSlot* p = slot(ctx_->rank, s);
  uint64_t seen = 0;
  if (detail::comm_wait_ge(p, value, timeout.count(), &seen)) return seen;
  throw std::runtime_error("strata comm: " + rank_text(*ctx_) + " timed out after " +
                           detail::comm_duration_text(timeout) + " waiting for signal slot " + std::to_string(s) +
                           " >= " + std::to_string(value) + " (last seen " + std::to_string(seen) + ")");
}

void CommView::barrier(uint32_t block, std::chrono::nanoseconds timeout) const {
  if (block >= kCommMaxBarrierBlocks)
    throw std::invalid_argument("strata comm: barrier block " + std::to_string(block) + " is out of range (at most " +
                                std::to_string(kCommMaxBarrierBlocks) + " block indices have a barrier)");
  const uint32_t n = ctx_->size;
  if (n == 1) return;
  const uint32_t s = kCommBarrierSlotBase + block;
  // Rank 0's slot counts arrivals; every other rank's slot holds the last round rank 0 released. Both
  // only grow, so a rank derives its round from them and nothing is ever reset: rank 0's count before
  // its own arrival at round e is (e-1)*n plus the k < n ranks already there (none can be further
  // ahead, as they need rank 0's release of round e first).
  CommSignalSlot* mine = slot_unchecked(ctx_->rank, s);
  uint64_t round = 0, target = 0, seen = 0;
  if (ctx_->rank == 0) {
    round = signal_add(0, s, 1) / n + 1;
    target = round * n;
  } else {
    round = std::atomic_ref<uint64_t>(mine->value).load(std::memory_order_acquire) + 1;
    target = round;
    signal_add(0, s, 1);
  }
  if (!detail::comm_wait_ge(mine, target, timeout.count(), &seen)) {
    std::string state = ctx_->rank == 0
                            ? std::to_string(seen - (round - 1) * n) + " of " + std::to_string(n) + " ranks arrived"
                            : "rank 0 has not released it (it waits for every rank)";
    throw std::runtime_error("strata comm: barrier timed out on " + rank_text(*ctx_) + " (block " +
                             std::to_string(block) + ", round " + std::to_string(round) + ") after " +
                             detail::comm_duration_text(timeout) + ": " + state + "; signal slot " + std::to_string(s) +
                             " = " + std::to_string(seen) + ", expected >= " + std::to_string(target) +
                             ". Every member must run the same barriers and collectives, in the same order and "
                             "with the same block_dim; a missing one is late, stuck or dead");
  }
  if (ctx_->rank == 0)
    for (uint32_t r = 1; r < n; ++r) signal_set(r, s, round);
}

void CommView::throw_bad_rank(uint32_t r, const char* what) const {
  throw std::invalid_argument(std::string("strata comm: ") + what + ": rank " + std::to_string(r) +
                              " is not in the domain (size " + std::to_string(ctx_->size) + ")");
}

void CommView::throw_bad_slot(uint32_t s) {
  throw std::invalid_argument("strata comm: signal slot " + std::to_string(s) + " is out of range (0.." +
                              std::to_string(STRATA_COMM_SIGNAL_SLOTS - 1) + ")");
}

void CommView::throw_not_in_window(const void* p) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  throw std::invalid_argument("strata comm: address " + std::string(buf) + " is not in " + rank_text(*ctx_) +
                              "'s window (peer() translates addresses inside the domain's window only)");
}

}  // namespace strata
