// strata/comm_kernel.hpp — the kernel-side toolkit over a communication domain: reaching peers' windows,
// signals (64-bit flags in each rank's signal area), waits that time out instead of hanging, and a
// reusable barrier. The collective kernels strata ships (strata_allreduce, strata_reduce_scatter,
// strata_broadcast, strata_allgather, strata_alltoall) are built on it; docs/comm-kernels.md describes
// them.
//
// A kernel gets its domain as a scalar holding the address of a strata_comm_context (comm_context.h):
//
// @code
//   STRATA_KERNEL(shift_right) {  // rank r writes its buffer into rank r+1's "inbox"
//     strata::CommView comm = strata::CommView::from_task(ctx, /*scalar_index=*/0);
//     const float* mine = ctx.data<float>(0);  // both buffers live in this rank's window
//     float* inbox = ctx.data<float>(1);
//     const size_t n = ctx.tensor(0).numel();
//     comm.barrier(ctx.block_idx());  // every rank's input is ready and every inbox is free
//     float* dst = comm.peer(inbox, (comm.rank() + 1) % comm.size());
//     for (size_t i = 0; i < n; ++i) dst[i] = mine[i];
//     comm.barrier(ctx.block_idx());  // every inbox is filled
//   }
// @endcode
//
// Memory model. Every window, and the signal area that follows it, is addressable from every member;
// plain loads and stores reach peers' memory. Ordering between ranks comes only from the signals:
// signal_set/signal_add are release operations (sequentially consistent), wait_ge and signal_read are
// acquire operations, and barrier() orders everything before it on every rank before everything after
// it on every rank.
//
// Signal area. Each rank's window of `window_size` bytes is followed by STRATA_COMM_SIGNAL_SLOTS slots
// of 64 bytes (CommSignalSlot), zeroed with the window. Slots are reserved by range:
//   slots  0..15  barrier(), one slot per block index (kCommBarrierSlotBase, kCommMaxBarrierBlocks)
//   slots 16..31  reserved for strata's collectives and future toolkit use (do not touch)
//   slots 32..63  free for user kernels (kCommUserSlotBase, kCommUserSlotCount)
// Counters only grow: a kernel that uses a user slot as a flag should wait for "value >= n" with an
// epoch it can derive (e.g. from the slot's own value), so no reset is ever needed.
//
// Waits. A wait spins a few microseconds, then yields the CPU (sched_yield) for a while, then sleeps on
// a futex in the slot (strata's event count: wake_seq and sleepers); a signaller issues the wake-up
// system call only when a waiter sleeps. This keeps domains with more chips than cores (or many ranks
// as threads) fast. Every wait has a timeout (kCommDefaultTimeout unless given): past it, the wait
// throws std::runtime_error naming the rank, slot, the value expected and the value seen, so the
// kernel's task fails with that message instead of hanging. Timeouts are upper bounds for lost peers,
// never a way to pace a kernel. Every wait also watches the domain's abort word (CommContext::abort_flag),
// which strata sets when a member dies or is declared lost: the wait then throws at once (within a few
// milliseconds) saying the domain was aborted.
//
// Blocks. A kernel runs as block_dim blocks that may or may not run concurrently (the sim backend runs
// them in index order on a small pool). The rule: block b only ever synchronises with block b of the
// other ranks — barrier(b) uses slot b — and every member runs the same sequence of barriers and
// collectives with the same block_dim. Then no block waits for a block that has not been started,
// whatever the pool size. At most kCommMaxBarrierBlocks block indices have a barrier; the collectives
// use min(block_dim, kCommMaxBarrierBlocks) blocks and leave the others idle.
//
// Thread use: a CommView is a small immutable value; any block may make or copy one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "strata/comm_context.h"
#include "strata/kernel.hpp"

namespace strata {

/// One signal slot: a cache line of a rank's signal area.
struct alignas(64) CommSignalSlot {
  /// The flag. Written by any rank (signal_set / signal_add), waited on by the slot's owner.
  uint64_t value;
  /// Futex word: bumped by a signaller that sees a sleeper, so a sleeping waiter wakes up.
  uint32_t wake_seq;
  /// Waiters blocked (or about to block) on wake_seq; signallers skip the wake-up system call at 0.
  uint32_t sleepers;
  uint64_t reserved[6];
};
static_assert(sizeof(CommSignalSlot) == 64, "a signal slot is one cache line");
static_assert(offsetof(CommSignalSlot, value) == 0 && offsetof(CommSignalSlot, wake_seq) == 8 &&
                  offsetof(CommSignalSlot, sleepers) == 12,
              "signal slot layout");
static_assert(STRATA_COMM_SIGNAL_BYTES == STRATA_COMM_SIGNAL_SLOTS * sizeof(CommSignalSlot), "signal area");

/// Slot reservations (see the header comment).
inline constexpr uint32_t kCommBarrierSlotBase = 0;
inline constexpr uint32_t kCommMaxBarrierBlocks = 16;
inline constexpr uint32_t kCommCollectiveSlotBase = 16;
inline constexpr uint32_t kCommCollectiveSlotCount = 16;
inline constexpr uint32_t kCommUserSlotBase = 32;
inline constexpr uint32_t kCommUserSlotCount = STRATA_COMM_SIGNAL_SLOTS - kCommUserSlotBase;
static_assert(kCommUserSlotBase == kCommCollectiveSlotBase + kCommCollectiveSlotCount &&
              kCommCollectiveSlotBase == kCommBarrierSlotBase + kCommMaxBarrierBlocks);

/// How long a wait or barrier waits for its peers when not told otherwise.
inline constexpr std::chrono::milliseconds kCommDefaultTimeout{120000};

/// strata_allreduce's algorithms (its scalar 1).
enum class AllreduceAlgorithm : uint32_t {
  /// Latency below or at kAllreduceLatencyMaxBytes, bandwidth above it.
  Auto = 0,
  /// Each rank reduces its slice from every window, then every rank gathers the reduced slices.
  Bandwidth = 1,
  /// Each rank sums every window into a temporary, then writes it back.
  Latency = 2,
};
/// Auto picks the latency-optimal algorithm for buffers of at most this many bytes.
inline constexpr size_t kAllreduceLatencyMaxBytes = 32 * 1024;

/// The elements rank `rank` owns when `count` elements are split over `ranks` ranks (reduce-scatter's
/// output, allgather's input): contiguous parts in rank order, the first `count % ranks` ranks taking
/// one element more. With count divisible by ranks every part is count / ranks elements.
struct CollectivePart {
  size_t begin = 0;
  size_t count = 0;
};
inline CollectivePart collective_part(size_t count, uint32_t ranks, uint32_t rank) noexcept {
  const size_t q = count / ranks, rem = count % ranks;
  return {rank * q + (rank < rem ? rank : rem), q + (rank < rem ? 1 : 0)};
}

namespace detail {
/// How a toolkit wait ended.
enum class CommWait { Reached, TimedOut, Aborted };
/// Blocks until `slot->value >= target`, `timeout_ns` passed, or `*abort` (when not null) became
/// non-zero (spin, then futex). `ranks` is the domain's size: the spin yields the CPU between rounds
/// only when there are more ranks than CPUs to run them. `*seen` gets the last value read. Never throws.
CommWait comm_wait_ge(CommSignalSlot* slot, uint64_t target, int64_t timeout_ns, const uint32_t* abort, uint32_t ranks,
                      uint64_t* seen) noexcept;
/// Wakes every waiter sleeping on `slot` (called by signallers that saw sleepers).
void comm_wake(CommSignalSlot* slot) noexcept;
/// "<what> after 12 ms" style duration text for messages.
std::string comm_duration_text(std::chrono::nanoseconds d);
}  // namespace detail

/// A kernel's view of its domain through a strata_comm_context.
class CommView {
 public:
  /// Checks the context (size 1..64, rank < size, windows present and signal areas aligned); throws
  /// std::invalid_argument naming what is wrong.
  explicit CommView(const strata_comm_context* ctx);
  /// The context at `device_ctx`, the address ChipContext::device_ctx holds.
  explicit CommView(uint64_t device_ctx) : CommView(reinterpret_cast<const strata_comm_context*>(device_ctx)) {}
  /// The context whose address is the task's scalar `scalar_index`.
  static CommView from_task(const TaskContext& ctx, size_t scalar_index = 0);

  const strata_comm_context& context() const noexcept { return *ctx_; }
  uint32_t rank() const noexcept { return ctx_->rank; }
  uint32_t size() const noexcept { return ctx_->size; }
  /// Bytes of each window usable for buffers (the signal area follows).
  uint64_t window_size() const noexcept { return ctx_->window_size; }
  /// True once strata aborted the domain (a member died or was declared lost).
  bool aborted() const noexcept {
    return ctx_->abort_flag != 0 &&
           std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(ctx_->abort_flag)).load(std::memory_order_acquire) !=
               0;
  }
  /// This rank's named buffer `i` (declaration order): address and bytes. Throws std::out_of_range.
  const strata_comm_buffer& buffer(uint32_t i) const;
  /// Rank r's window, as addressable from this chip.
  void* window(uint32_t r) const {
    check_rank(r, "window");
    return reinterpret_cast<void*>(ctx_->windows[r]);
  }
  /// Whether [p, p + bytes) lies in this rank's window.
  bool in_window(const void* p, size_t bytes) const noexcept {
    const uint64_t a = reinterpret_cast<uint64_t>(p), base = ctx_->windows[ctx_->rank];
    return a >= base && a - base <= ctx_->window_size && bytes <= ctx_->window_size - (a - base);
  }
  /// The address at the same offset in rank r's window as `local` in this rank's window. Throws
  /// std::invalid_argument when `local` is not in this rank's window.
  template <class T>
  T* peer(T* local, uint32_t r) const {
    check_rank(r, "peer");
    const uint64_t a = reinterpret_cast<uint64_t>(local), base = ctx_->windows[ctx_->rank];
    if (a < base || a - base >= ctx_->window_size) throw_not_in_window(local);
    return reinterpret_cast<T*>(ctx_->windows[r] + (a - base));
  }

  /// Rank r's signal slot s.
  CommSignalSlot* slot(uint32_t r, uint32_t s) const {
    check_rank(r, "signal");
    check_slot(s);
    return slot_unchecked(r, s);
  }
  /// Sets rank r's slot s to v (release; wakes its waiter).
  void signal_set(uint32_t r, uint32_t s, uint64_t v) const {
    CommSignalSlot* p = slot(r, s);
    std::atomic_ref<uint64_t>(p->value).store(v, std::memory_order_seq_cst);
    wake_if_sleeping(p);
  }
  /// Adds d to rank r's slot s (release; wakes its waiter); returns the value before the addition.
  uint64_t signal_add(uint32_t r, uint32_t s, uint64_t d) const {
    CommSignalSlot* p = slot(r, s);
    const uint64_t old = std::atomic_ref<uint64_t>(p->value).fetch_add(d, std::memory_order_seq_cst);
    wake_if_sleeping(p);
    return old;
  }
  /// Rank r's slot s (acquire).
  uint64_t signal_read(uint32_t r, uint32_t s) const {
    return std::atomic_ref<uint64_t>(slot(r, s)->value).load(std::memory_order_acquire);
  }
  /// Waits until this rank's slot s holds at least `value` (acquire) and returns what it holds. Throws
  /// std::runtime_error after `timeout` naming the rank, slot, expected and seen values.
  uint64_t wait_ge(uint32_t s, uint64_t value, std::chrono::nanoseconds timeout = kCommDefaultTimeout) const;
  /// Waits until every rank has called barrier(block) as many times as this one. Reusable without
  /// reset, across kernels and collectives; blocks synchronise only with the same block index of the
  /// other ranks (block < kCommMaxBarrierBlocks). Throws std::runtime_error after `timeout`.
  void barrier(uint32_t block = 0, std::chrono::nanoseconds timeout = kCommDefaultTimeout) const;

 private:
  CommSignalSlot* slot_unchecked(uint32_t r, uint32_t s) const noexcept {
    return reinterpret_cast<CommSignalSlot*>(ctx_->windows[r] + ctx_->window_size) + s;
  }
  static void wake_if_sleeping(CommSignalSlot* p) noexcept {
    // Pairs with the waiter's sleepers increment then value re-check (both sequentially consistent):
    // either the waiter sees the new value or this load sees the waiter.
    if (std::atomic_ref<uint32_t>(p->sleepers).load(std::memory_order_seq_cst) != 0) detail::comm_wake(p);
  }
  void check_rank(uint32_t r, const char* what) const {
    if (r >= ctx_->size) throw_bad_rank(r, what);
  }
  static void check_slot(uint32_t s) {
    if (s >= STRATA_COMM_SIGNAL_SLOTS) throw_bad_slot(s);
  }
  [[noreturn]] void throw_bad_rank(uint32_t r, const char* what) const;
  [[noreturn]] static void throw_bad_slot(uint32_t s);
  [[noreturn]] void throw_not_in_window(const void* p) const;
  [[noreturn]] void throw_aborted(const char* what) const;
  const uint32_t* abort_word() const noexcept { return reinterpret_cast<const uint32_t*>(ctx_->abort_flag); }

  const strata_comm_context* ctx_;
};

}  // namespace strata
