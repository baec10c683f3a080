// memory/heap_ring.hpp — the run heap: a ring allocator for runtime-owned tensors (Orchestrator::alloc and
// OUTPUT tensors submitted with a null address), with nested lifetime scopes.
//
// Allocations are carved in FIFO order from a circular region of shared memory. Each belongs to the
// scope open when it was made (depth 0 is the run itself). Closing a scope stamps its allocations with
// the last task id submitted so far; an allocation is reclaimed once it is stamped and every task up to
// its stamp has been retired, and only from the front of the ring (FIFO): an allocation still open
// holds back the space of everything allocated after it. When no space is left, the submitter waits for
// tasks to retire (back-pressure). Owned by the Worker's thread; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace strata::memory {

class HeapRing {
 public:
  static constexpr size_t kAlign = 64;

  HeapRing(void* base, size_t bytes) noexcept;

  /// An aligned block of `bytes` in the current scope at `depth`, or nullptr if it does not fit now.
  void* try_alloc(size_t bytes, uint32_t depth);
  /// Closes every allocation made at `depth` or deeper: reclaimable once task `release_after` retires.
  void close_scope(uint32_t depth, uint64_t release_after) noexcept;
  /// Reclaims, from the front, closed allocations whose stamp is below `retired_before` (every task id
  /// below it has been retired). Returns the bytes given back.
  size_t reclaim(uint64_t retired_before) noexcept;
  /// Forgets every allocation (end of run: every task has retired).
  void reset() noexcept;

  size_t capacity() const noexcept { return bytes_; }
  /// Bytes between the oldest live allocation and the end of the newest (padding included).
  size_t used() const noexcept { return used_; }
  size_t live_allocations() const noexcept { return live_.size(); }
  /// True if an allocation of `bytes` could ever fit (it is not larger than the heap).
  bool could_fit(size_t bytes) const noexcept { return round_up(bytes) <= bytes_; }

 private:
  static size_t round_up(size_t n) noexcept { return (n + kAlign - 1) / kAlign * kAlign; }
  struct Block {
    size_t offset;
    size_t bytes;  // including the end of the region skipped after it when the next one wrapped
    uint32_t depth;
    uint64_t release_after;  // UINT64_MAX while its scope is open
  };
  char* base_;
  size_t bytes_;
  size_t head_ = 0;  // where the next allocation starts
  size_t used_ = 0;
  std::deque<Block> live_;
};

}  // namespace strata::memory
