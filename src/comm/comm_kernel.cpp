// comm/comm_kernel.cpp — the out-of-line half of the kernel toolkit (strata/comm_kernel.hpp): context
// checks, waits and the barrier.
//
// A wait is strata's event count (ipc/event_count.hpp) over the slot's wake_seq/sleepers pair: spin,
// then sleep. How it spins depends on whether the domain's ranks can all run at once:
//   more ranks than CPUs (4-16 chip processes on 2 cores, or in tests 64 ranks as threads): the rank
//     awaited may need this CPU, so the spin yields it between rounds;
//   at most as many ranks as CPUs: the spin only pauses. Yielding would keep two ranks that the
//     scheduler happened to put on one CPU trading it back and forth, both always runnable, so it never
//     moves either (it moves a task to an idle CPU when it wakes it): measured on 2 cores, a 2-chip
//     allgather stayed at ~35 us a call for tens of ms that way, against ~6 us once apart. A rank that
//     sleeps instead is woken onto the idle CPU.
// Sleeps are cut into slices so the domain's abort word is re-read at least every kAbortCheckNs: a peer
// that died cannot signal, strata's parent sets the word instead.
#include "strata/comm_kernel.hpp"

#include <sched.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "ipc/event_count.hpp"
#include "util/sys.hpp"

namespace strata {
namespace detail {
namespace {

constexpr int64_t kAbortCheckNs = 10'000'000;

static_assert(offsetof(CommSignalSlot, wake_seq) % 8 == 0 &&
                  offsetof(CommSignalSlot, sleepers) == offsetof(CommSignalSlot, wake_seq) + 4,
              "wake_seq and sleepers form an event count word");

ipc::EventCount event_of(CommSignalSlot* slot) noexcept {
  return ipc::EventCount(reinterpret_cast<ipc::EventWord*>(&slot->wake_seq));
}

uint64_t load_value(CommSignalSlot* slot) noexcept {
  return std::atomic_ref<uint64_t>(slot->value).load(std::memory_order_acquire);
}

/// CPUs this process may run on (its affinity mask when it first asked).
uint32_t usable_cpus() noexcept {
  static const uint32_t n = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1u;
    return static_cast<uint32_t>(std::max(1, CPU_COUNT(&set)));
  }();
  return n;
}

bool is_aborted(const uint32_t* abort) noexcept {
  return abort && std::atomic_ref<uint32_t>(*const_cast<uint32_t*>(abort)).load(std::memory_order_acquire) != 0;
}

}  // namespace

CommWait comm_wait_ge(CommSignalSlot* slot, uint64_t target, int64_t timeout_ns, const uint32_t* abort, uint32_t ranks,
                      uint64_t* seen) noexcept {
  uint64_t v = load_value(slot);
  if (v >= target) {
    *seen = v;
    return CommWait::Reached;
  }
  const int64_t start = sys::now_ns();
  const int64_t deadline = timeout_ns > INT64_MAX - start ? INT64_MAX : start + timeout_ns;
  bool aborted = false;
  const int64_t spin = sys::spin_budget_ns();
  const bool reached = ipc::wait_on(
      event_of(slot), [&] { return (v = load_value(slot)) >= target; }, [&] { return (aborted = is_aborted(abort)); },
      [] { return true; }, ipc::SpinPolicy{spin, spin, ranks > usable_cpus()}, deadline, kAbortCheckNs);
  *seen = v;
  if (reached) return CommWait::Reached;
  return aborted ? CommWait::Aborted : CommWait::TimedOut;
}

void comm_wake(CommSignalSlot* slot) noexcept { event_of(slot).wake(); }

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

const strata_comm_buffer& CommView::buffer(uint32_t i) const {
  if (i >= ctx_->nbuffers || ctx_->buffers == 0)
    throw std::out_of_range("strata comm: buffer " + std::to_string(i) + " of a domain with " +
                            std::to_string(ctx_->nbuffers) + " buffers");
  return reinterpret_cast<const strata_comm_buffer*>(ctx_->buffers)[i];
}

void CommView::throw_aborted(const char* what) const {
  // The abort word holds the index + 1 of the chip whose loss aborted the domain.
  const uint32_t chip = std::atomic_ref<uint32_t>(*const_cast<uint32_t*>(abort_word())).load(std::memory_order_acquire);
  throw std::runtime_error("strata comm: " + rank_text(*ctx_) + ": the domain was aborted while " + what +
                           ": its member chip " + std::to_string(chip - 1) + " died or was declared lost");
}

uint64_t CommView::wait_ge(uint32_t s, uint64_t value, std::chrono::nanoseconds timeout) const {
  CommSignalSlot* p = slot(ctx_->rank, s);
  uint64_t seen = 0;
  const auto r = detail::comm_wait_ge(p, value, timeout.count(), abort_word(), ctx_->size, &seen);
  if (r == detail::CommWait::Reached) return seen;
  if (r == detail::CommWait::Aborted) throw_aborted(("waiting for signal slot " + std::to_string(s)).c_str());
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
  const auto outcome = detail::comm_wait_ge(mine, target, timeout.count(), abort_word(), n, &seen);
  if (outcome == detail::CommWait::Aborted) throw_aborted(("in barrier (block " + std::to_string(block) + ")").c_str());
  if (outcome == detail::CommWait::TimedOut) {
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
