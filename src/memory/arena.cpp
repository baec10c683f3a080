#include "memory/arena.hpp"

#include "strata/errors.hpp"
#include "util/checked.hpp"

namespace strata::memory {
namespace {
size_t arena_bytes(size_t buffer_bytes, size_t heap_bytes) {
  const auto total = util::checked_add(buffer_bytes, heap_bytes);
  if (!total) throw UsageError("buffer_bytes + heap_bytes does not fit in the address space");
  return *total;
}
}  // namespace

Arena::Arena(size_t buffer_bytes, size_t heap_bytes)
    : map_(arena_bytes(buffer_bytes, heap_bytes)),
      pool_(buffer_bytes, 64),
      buffer_bytes_(buffer_bytes),
      heap_bytes_(heap_bytes) {}

void* Arena::alloc(size_t bytes) {
  std::lock_guard lock(mu_);
  auto off = pool_.alloc(bytes);
  if (!off) return nullptr;
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return base() + *off;
}

void Arena::free(void* p, bool keep_pages) noexcept {
  std::lock_guard lock(mu_);
  const size_t offset = static_cast<size_t>(static_cast<char*>(p) - base());
  const size_t bytes = pool_.free(offset);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  // Give large buffers' pages back, so memory does not stay committed. Staging areas keep theirs: the next
  // copy reuses them, and faulting fresh pages in would cost ~1 ms per MiB.
  if (!keep_pages && bytes >= (size_t{1} << 20)) map_.release_pages(offset, bytes);
}

std::optional<std::pair<uintptr_t, uintptr_t>> Arena::buffer_containing(const void* p) const {
  const auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(base());
  if (a < b || a - b >= buffer_bytes_) return std::nullopt;
  std::lock_guard lock(mu_);
  auto r = pool_.find(a - b);
  if (!r) return std::nullopt;
  return std::make_pair(b + r->first, b + r->first + r->second);
}

size_t Arena::buffers_in_use() const {
  std::lock_guard lock(mu_);
  return pool_.used();
}

bool Arena::in_heap(const void* p, size_t bytes) const noexcept {
  const auto a = reinterpret_cast<uintptr_t>(p), h = reinterpret_cast<uintptr_t>(heap_base());
  return a >= h && a - h <= heap_bytes_ && bytes <= heap_bytes_ - (a - h);
}

bool Arena::in_region(const void* p, size_t bytes) const noexcept {
  const auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(base());
  const size_t size = buffer_bytes_ + heap_bytes_;
  return a >= b && a - b <= size && bytes <= size - (a - b);
}

}  // namespace strata::memory
