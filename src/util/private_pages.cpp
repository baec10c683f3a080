#include "util/private_pages.hpp"

#include <sys/mman.h>

#include "util/sys.hpp"

namespace strata::util {
namespace {

/// `bytes` rounded up to whole pages (at least one); 0 when that overflows.
size_t rounded(size_t bytes) noexcept {
  const size_t p = sys::page_size();
  if (bytes > static_cast<size_t>(-1) - p) return 0;
  return bytes == 0 ? p : (bytes + p - 1) / p * p;
}

}  // namespace

void* PrivatePages::map(size_t bytes) {
  const size_t n = rounded(bytes);
  if (n == 0) throw std::bad_alloc();
  // MAP_POPULATE: every page faulted in by one system call, about twenty times cheaper than a fault per
  // page on a VM.
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  madvise(p, n, MADV_DONTFORK);
  return p;
}

void PrivatePages::unmap(void* p, size_t bytes) noexcept {
  if (p) munmap(p, rounded(bytes));
}

PrivatePages::PrivatePages(size_t bytes) : data_(map(bytes)), size_(rounded(bytes)) {}

PrivatePages& PrivatePages::operator=(PrivatePages&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void PrivatePages::reset() noexcept {
  unmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace strata::util
