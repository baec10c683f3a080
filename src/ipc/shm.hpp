// ipc/shm.hpp — anonymous shared mappings: the only shared memory strata makes.
//
// A SharedMapping is MAP_SHARED|MAP_ANONYMOUS, made before fork() so every child inherits it at the same
// address. It has no name: nothing appears in /dev/shm or the file system, and the kernel frees it when
// the last process that maps it exits or unmaps it — a crash leaks nothing. Pages are committed on first
// touch (MAP_NORESERVE), so large reservations are cheap. Move-only; unmaps in the destructor.
#pragma once

#include <cstddef>

namespace strata::ipc {

class SharedMapping {
 public:
  SharedMapping() = default;
  /// Maps `bytes` (rounded up to the page size) of zeroed shared memory. Throws SystemError.
  explicit SharedMapping(size_t bytes);
  SharedMapping(SharedMapping&& other) noexcept;
  SharedMapping& operator=(SharedMapping&& other) noexcept;
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  ~SharedMapping();

  void* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  explicit operator bool() const noexcept { return data_ != nullptr; }
  /// Gives the pages of [offset, offset+bytes) back to the kernel (they read as zero afterwards).
  /// Only whole pages inside the range are released.
  void release_pages(size_t offset, size_t bytes) noexcept;
  void reset() noexcept;

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

/// Maps this process's pages of [p, p + bytes) of a shared mapping now (MADV_POPULATE_WRITE: one system
/// call), so their first use on the dispatch path takes no page fault — each costs microseconds on a
/// VM, and every process that maps the memory takes its own. Best effort: a no-op on kernels before 5.14.
void prefault(const void* p, size_t bytes) noexcept;

}  // namespace strata::ipc
