#include "graph/task_ring.hpp"

#include <cassert>

#include "strata/errors.hpp"

namespace strata::graph {

TaskRing::TaskRing(uint32_t capacity) : capacity_(capacity), finished_(capacity, 0) {
  if (capacity == 0) throw UsageError("task ring capacity must be at least 1 (WorkerOptions::memory.task_ring)");
}

uint64_t TaskRing::acquire() noexcept {
  assert(!full());
  finished_[slot(next_)] = 0;
  return next_++;
}

void TaskRing::mark_finished(uint64_t id) noexcept {
  assert(live(id));
  finished_[slot(id)] = 1;
}

bool TaskRing::finished(uint64_t id) const noexcept { return id < tail_ || (live(id) && finished_[slot(id)]); }

}  // namespace strata::graph
