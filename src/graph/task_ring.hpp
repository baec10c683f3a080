// graph/task_ring.hpp — the bounded ring of task ids a Worker has in flight.
//
// Ids are handed out in submission order starting at 1; a task occupies slot `id % capacity` from
// acquire() until it is retired. Tasks finish in any order, but are retired strictly in id order, so a
// slot is reused only once every older task has finished: that is what lets a child that waits on a
// task's status board entry tell "finished" from "retired" (see ipc/mailbox.hpp). When the ring is full
// the submitter waits (back-pressure). Owned by the Worker's thread; not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace strata::graph {

class TaskRing {
 public:
  explicit TaskRing(uint32_t capacity);

  uint32_t capacity() const noexcept { return capacity_; }
  bool full() const noexcept { return next_ - tail_ == capacity_; }
  bool empty() const noexcept { return next_ == tail_; }
  /// Tasks acquired and not yet retired.
  uint64_t in_flight() const noexcept { return next_ - tail_; }
  /// The id the next acquire() returns.
  uint64_t next() const noexcept { return next_; }
  /// The oldest id not yet retired (== next() when empty). Every id below it is retired.
  uint64_t tail() const noexcept { return tail_; }
  uint32_t slot(uint64_t id) const noexcept { return static_cast<uint32_t>(id % capacity_); }
  /// True for an id acquired and not yet retired.
  bool live(uint64_t id) const noexcept { return id >= tail_ && id < next_; }

  /// Takes the next id. Precondition: !full().
  uint64_t acquire() noexcept;
  /// Records that a live task finished.
  void mark_finished(uint64_t id) noexcept;
  bool finished(uint64_t id) const noexcept;
  /// Retires finished tasks from the tail, in order, calling on_retire(id) for each; returns how many.
  template <class F>
  uint64_t retire(F&& on_retire) {
    uint64_t n = 0;
    while (tail_ != next_ && finished_[slot(tail_)]) {
      finished_[slot(tail_)] = 0;
      on_retire(tail_);
      ++tail_;
      ++n;
    }
    return n;
  }

 private:
  uint32_t capacity_;
  uint64_t next_ = 1;
  uint64_t tail_ = 1;
  std::vector<uint8_t> finished_;
};

}  // namespace strata::graph
