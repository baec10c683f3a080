// util/private_pages.hpp — memory for a process's hot structures: zeroed, its pages present from the
// start, and left out of every fork.
//
// Two page faults are worth avoiding on the dispatch path: the first touch of fresh memory, and the
// first write after fork() to a page the children still share (the kernel copies it and shoots down
// the TLB of every CPU the process ran on). On virtual machines each costs microseconds — more than a
// whole task's dispatch. A PrivatePages region is populated when it is mapped (MAP_POPULATE: one system
// call instead of a fault per page) and marked MADV_DONTFORK, so a child forked later never shares it.
// Only for memory no child process touches: a child does not have it at all.
//
// PrivateAllocator puts a std::vector's elements there (for arrays sized once, e.g. the scheduler's
// task records). Move-only; unmaps in the destructor.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace strata::util {

class PrivatePages {
 public:
  PrivatePages() = default;
  /// Maps `bytes` (rounded up to the page size; at least one page). Throws std::bad_alloc.
  explicit PrivatePages(size_t bytes);
  PrivatePages(PrivatePages&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  PrivatePages& operator=(PrivatePages&& other) noexcept;
  PrivatePages(const PrivatePages&) = delete;
  PrivatePages& operator=(const PrivatePages&) = delete;
  ~PrivatePages() { reset(); }

  unsigned char* data() const noexcept { return static_cast<unsigned char*>(data_); }
  size_t size() const noexcept { return size_; }
  void reset() noexcept;

  /// The mapping behind PrivateAllocator: `bytes` of private, present pages, or throws std::bad_alloc.
  static void* map(size_t bytes);
  static void unmap(void* p, size_t bytes) noexcept;

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

template <class T>
struct PrivateAllocator {
  using value_type = T;
  PrivateAllocator() noexcept = default;
  template <class U>
  PrivateAllocator(const PrivateAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(PrivatePages::map(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { PrivatePages::unmap(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PrivateAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace strata::util
