// util/buffer_pool.hpp — first-fit allocator of offsets in a fixed region.
//
// Pure bookkeeping over [0, capacity): it never touches the memory. Adjacent free ranges are merged on
// free. Used by the buffer arena (memory/arena.hpp) and by the sim backend for its windows. Sizes that
// would overflow when rounded up are refused like any request that does not fit. Not thread-safe: the
// owner serialises calls.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <utility>

namespace strata::util {

class BufferPool {
 public:
  BufferPool(size_t capacity, size_t align);
  /// Offset of a free range of `bytes` (rounded up to the alignment), or nullopt if none is large enough.
  std::optional<size_t> alloc(size_t bytes);
  /// Returns the range that alloc() gave at `offset`; returns its size (0 if `offset` is not allocated).
  size_t free(size_t offset);
  /// The allocated range [offset, offset + size) that contains `offset`, if any.
  std::optional<std::pair<size_t, size_t>> find(size_t offset) const;
  size_t used() const noexcept { return used_; }
  size_t capacity() const noexcept { return capacity_; }

 private:
  size_t capacity_;
  size_t align_;
  size_t used_ = 0;
  std::map<size_t, size_t> free_;  // offset -> size
  std::map<size_t, size_t> live_;  // offset -> size
};

}  // namespace strata::util
