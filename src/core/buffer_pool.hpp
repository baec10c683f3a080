// core/buffer_pool.hpp — first-fit allocator of offsets in a fixed region (the create_buffer arena).
//
// Pure bookkeeping over [0, capacity): it never touches the memory. Adjacent free ranges are merged on
// free. Not thread-safe (BufferOwner in worker_impl.hpp wraps it in a mutex).
#pragma once

#include <cstddef>
#include <map>
#include <optional>

namespace strata::core {

class BufferPool {
 public:
  BufferPool(size_t capacity, size_t align);
  /// Offset of a free range of `bytes` (rounded up to the alignment), or nullopt if none is large enough.
  std::optional<size_t> alloc(size_t bytes);
  /// Returns the range that alloc() gave at `offset`; returns its size (0 if `offset` is not allocated).
  size_t free(size_t offset);
  size_t used() const noexcept { return used_; }
  size_t capacity() const noexcept { return capacity_; }

 private:
  size_t capacity_;
  size_t align_;
  size_t used_ = 0;
  std::map<size_t, size_t> free_;  // offset -> size
  std::map<size_t, size_t> live_;  // offset -> size
};

}  // namespace strata::core
