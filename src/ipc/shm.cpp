#include "ipc/shm.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <utility>

#include "util/sys.hpp"

namespace strata::ipc {
SharedMapping::SharedMapping(size_t bytes) {
  const size_t p = sys::page_size();
  size_ = (bytes + p - 1) / p * p;
  if (size_ == 0) size_ = p;
  void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    size_ = 0;
    sys::throw_errno("mmap of shared memory");
  }
  data_ = m;
}

SharedMapping::SharedMapping(SharedMapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SharedMapping& SharedMapping::operator=(SharedMapping&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SharedMapping::~SharedMapping() { reset(); }

void SharedMapping::reset() noexcept {
  if (data_) munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

void SharedMapping::release_pages(size_t offset, size_t bytes) noexcept {
  const size_t p = sys::page_size();
  size_t begin = (offset + p - 1) / p * p;
  size_t end = (offset + bytes) / p * p;
  if (end > size_) end = size_ / p * p;
  if (begin < end) madvise(static_cast<char*>(data_) + begin, end - begin, MADV_REMOVE);
}

void prefault(const void* p, size_t bytes) noexcept {
  if (!p || bytes == 0) return;
  const size_t page = sys::page_size();
  const auto begin = reinterpret_cast<uintptr_t>(p) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(p) + bytes + page - 1) / page * page;
  madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
}

}  // namespace strata::ipc
