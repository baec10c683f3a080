// graph/link.hpp — how the scheduler reaches the children that run its tasks.
//
// The scheduler knows tasks, dependencies and which child a task goes to; it does not know whether a
// child is a forked process, an MPI rank or a test double. The Worker implements Link over its
// supervisor (worker/worker_link.cpp); the scheduler's unit tests implement it in memory.
//
// Progress flows back through the scheduler's on_completion() and on_lost(), which the Link calls from
// inside poll() and wait() — never at any other time, so the scheduler's state only changes where it
// asks for progress. Called from the Worker's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "strata/errors.hpp"

namespace strata::graph {

class Link {
 public:
  virtual ~Link() = default;
  /// Children of a kind.
  virtual int count(ChildKind kind) const noexcept = 0;
  /// Whether the child takes frames: started, and neither dead nor declared lost.
  virtual bool alive(ChildKind kind, int index) const noexcept = 0;
  /// Why it does not, as a clause: "died: killed by signal 9 (Killed)".
  virtual std::string gone(ChildKind kind, int index) const = 0;
  /// The child's name in messages: "chip 3", "sub 0", "L3 worker 1".
  virtual std::string name(ChildKind kind, int index) const = 0;
  /// A pod over MPI: the rank of a child Worker (-1: a local child, or none).
  virtual int pod_rank(ChildKind kind, int index) const noexcept {
    (void)kind;
    (void)index;
    return -1;
  }
  /// Frames posted to the child whose completion has not been consumed.
  virtual uint64_t load(ChildKind kind, int index) const noexcept = 0;
  virtual bool has_room(ChildKind kind, int index) const noexcept = 0;
  /// Frames in flight on every live child together.
  virtual uint64_t in_flight() const noexcept = 0;
  /// Posts a task frame, completing its header with `task` and the producers in `deps`. Not visible to
  /// the child before flush(). Precondition: has_room().
  virtual void post(ChildKind kind, int index, const unsigned char* frame, size_t len, uint64_t task,
                    std::span<const uint64_t> deps) = 0;
  /// Makes posted frames visible to their children.
  virtual void flush() = 0;
  /// Delivers whatever progress is available now, without blocking.
  virtual void poll() = 0;
  /// Delivers progress, sleeping until some may have happened or `deadline_ns` (CLOCK_MONOTONIC, < 0: no
  /// deadline) passes.
  virtual void wait(int64_t deadline_ns) = 0;
};

}  // namespace strata::graph
