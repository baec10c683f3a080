// memory/arena.hpp — the shared arena behind create_buffer and the run heap.
//
// One anonymous shared mapping, made before the children are forked so that every process sees it at
// the same address: [buffers: buffer_bytes][heap: heap_bytes]. Buffers are carved first-fit and freed
// when their RawBuffer is destroyed; the heap is the run heap's region (memory/heap_ring.hpp).
//
// Shared by the Worker and every RawBuffer (shared_ptr), so buffers stay mapped after close() until they
// are destroyed. Thread-safe: a RawBuffer may be freed from any thread. `generation()` changes whenever
// a buffer is allocated or freed, so a reader can cache what it found (memory/memory_map.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>

#include "ipc/shm.hpp"
#include "util/buffer_pool.hpp"

namespace strata::memory {

class Arena {
 public:
  Arena(size_t buffer_bytes, size_t heap_bytes);

  /// A buffer of `bytes` (64-byte aligned), or nullptr when the buffer region has no room.
  void* alloc(size_t bytes);
  /// Frees a buffer alloc() gave; large buffers give their pages back unless `keep_pages`.
  void free(void* p, bool keep_pages = false) noexcept;
  /// The live buffer [begin, end) containing `p`, if any.
  std::optional<std::pair<uintptr_t, uintptr_t>> buffer_containing(const void* p) const;

  char* base() const noexcept { return static_cast<char*>(map_.data()); }
  char* heap_base() const noexcept { return base() + buffer_bytes_; }
  size_t buffer_bytes() const noexcept { return buffer_bytes_; }
  size_t heap_bytes() const noexcept { return heap_bytes_; }
  size_t buffers_in_use() const;
  bool in_heap(const void* p, size_t bytes) const noexcept;
  /// Whether [p, p + bytes) lies in the mapping (buffers or heap).
  bool in_region(const void* p, size_t bytes) const noexcept;
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  ipc::SharedMapping map_;
  util::BufferPool pool_;
  size_t buffer_bytes_;
  size_t heap_bytes_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace strata::memory
