#include "memory/memory_map.hpp"

#include <cstdio>

#include "util/text.hpp"

namespace strata::memory {
namespace {

std::string hex(uintptr_t a) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(a));
  return buf;
}

}  // namespace

void MemoryMap::add(const void* base, size_t bytes, std::string label) {
  const auto b = reinterpret_cast<uintptr_t>(base);
  regions_[b] = Region{b + bytes, std::move(label), {}};
}

void MemoryMap::refuse(const void* base, std::string why) {
  auto it = regions_.find(reinterpret_cast<uintptr_t>(base));
  if (it != regions_.end()) it->second.refused = std::move(why);
}

void MemoryMap::remove(const void* base) { regions_.erase(reinterpret_cast<uintptr_t>(base)); }

bool MemoryMap::check(const void* p, size_t bytes, std::string* why) const {
  const auto a = reinterpret_cast<uintptr_t>(p);
  const bool fits = bytes <= UINTPTR_MAX - a;
  const uintptr_t end = fits ? a + bytes : UINTPTR_MAX;
  if (arena_) {
    const uint64_t gen = arena_->generation();
    if (gen == cached_generation_ && a >= cached_lo_ && fits && end <= cached_hi_) return true;
    if (auto buf = arena_->buffer_containing(p)) {
      if (!fits || end > buf->second) {
        *why = "runs past the end of its buffer (" + hex(a) + " + " + std::to_string(bytes) + " bytes; the buffer " +
               "ends at " + hex(buf->second) + ")";
        return false;
      }
      cached_generation_ = gen;
      cached_lo_ = buf->first;
      cached_hi_ = buf->second;
      return true;
    }
    if (arena_->in_heap(p, bytes)) return true;
  }
  // An enclosing Worker's arena: its buffers may have been made after this process was forked, so the
  // copy of its bookkeeping here does not know them; the whole shared region is accepted.
  for (const Arena* outer : inherited_)
    if (outer->in_region(p, bytes)) return true;
  auto it = regions_.upper_bound(a);
  if (it != regions_.begin()) {
    --it;
    if (a < it->second.end) {
      if (!it->second.refused.empty()) {
        *why = "lies in " + it->second.label + ", " + it->second.refused;
        return false;
      }
      if (!fits || end > it->second.end) {
        *why = "runs past the end of " + it->second.label;
        return false;
      }
      return true;
    }
  }
  *why = "at " + hex(a) + " is not in memory strata shares with its children (a buffer from create_buffer, the run " +
         "heap, or a live domain's window); memory of your own, such as a std::vector, is private to this process";
  return false;
}

}  // namespace strata::memory
