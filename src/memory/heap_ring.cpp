#include "memory/heap_ring.hpp"

namespace strata::memory {

HeapRing::HeapRing(void* base, size_t bytes) noexcept
    : base_(static_cast<char*>(base)), bytes_(bytes / kAlign * kAlign) {}

void* HeapRing::try_alloc(size_t bytes, uint32_t depth) {
  const size_t need = round_up(bytes == 0 ? 1 : bytes);
  if (need > bytes_) return nullptr;
  const size_t tail = live_.empty() ? head_ : live_.front().offset;
  size_t offset = head_;
  if (live_.empty()) {
    if (head_ + need > bytes_) offset = 0;
    head_ = offset;
  } else if (head_ > tail || (head_ == tail && used_ == 0)) {
    // Free space is [head_, end) and [0, tail).
    if (head_ + need > bytes_) {
      if (need > tail) return nullptr;
      // The unused end until the wrap is charged to the newest block, so it comes back when that block
      // is reclaimed: once the front is past the wrap, the end is free again.
      live_.back().bytes += bytes_ - head_;
      used_ += bytes_ - head_;
      offset = 0;
    }
  } else {
    // Wrapped: free space is [head_, tail).
    if (head_ + need > tail) return nullptr;
  }
  live_.push_back(Block{offset, need, depth, UINT64_MAX});
  used_ += need;
  head_ = offset + need;
  return base_ + offset;
}

void HeapRing::close_scope(uint32_t depth, uint64_t release_after) noexcept {
  // Allocations at `depth` or deeper were all made after that scope opened, so they are at the back.
  for (auto it = live_.rbegin(); it != live_.rend() && it->depth >= depth; ++it)
    if (it->release_after == UINT64_MAX) it->release_after = release_after;
}

size_t HeapRing::reclaim(uint64_t retired_before) noexcept {
  size_t freed = 0;
  while (!live_.empty() && live_.front().release_after < retired_before) {
    freed += live_.front().bytes;
    used_ -= live_.front().bytes;
    live_.pop_front();
  }
  if (live_.empty()) used_ = 0;
  return freed;
}

void HeapRing::reset() noexcept {
  live_.clear();
  used_ = 0;
  head_ = 0;
}

}  // namespace strata::memory
