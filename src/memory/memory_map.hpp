// memory/memory_map.hpp — the memory a task's tensors may lie in, and why a pointer is refused.
//
// A chip or helper process sees the parent's memory only where strata shares it: the arena's buffers
// (create_buffer), the run heap (Orchestrator::alloc, auto-allocated OUTPUTs) and the windows of live
// communication domains (registered here by the domain manager). A tensor anywhere else — a std::vector,
// a stack array, a buffer already freed — would be read and written in the child's private copy of that
// memory, so submit refuses it with the reason check() gives.
//
// Owned by the Worker's thread (add/refuse/remove/check); the arena it reads is thread-safe. check() keeps
// the last arena buffer it matched and re-validates it only when the arena changed, so a task naming the
// buffers of the previous task costs two comparisons.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "memory/arena.hpp"

namespace strata::memory {

class MemoryMap {
 public:
  explicit MemoryMap(const Arena* arena) noexcept : arena_(arena) {}
  /// Also accepts the buffers and heap of `arena`: an enclosing Worker's arena, which a child Worker and
  /// its chips inherited by fork.
  void add_arena(const Arena* arena) { inherited_.push_back(arena); }

  /// Adds [base, base + bytes) as memory tasks may name (a domain window), `label` naming it in messages.
  void add(const void* base, size_t bytes, std::string label);
  /// Keeps the region at `base` known but refuses tasks that name it, saying `why`.
  void refuse(const void* base, std::string why);
  void remove(const void* base);
  void clear() noexcept { regions_.clear(); }

  /// True when [p, p + bytes) lies inside one region tasks may name; else false and `*why` says why
  /// (a clause to follow "the tensor ...").
  bool check(const void* p, size_t bytes, std::string* why) const;

 private:
  struct Region {
    uintptr_t end;
    std::string label;
    std::string refused;  // non-empty: why tasks may not name it any more
  };
  const Arena* arena_;
  std::vector<const Arena*> inherited_;
  std::map<uintptr_t, Region> regions_;  // by base
  mutable uint64_t cached_generation_ = UINT64_MAX;
  mutable uintptr_t cached_lo_ = 0, cached_hi_ = 0;
};

}  // namespace strata::memory
