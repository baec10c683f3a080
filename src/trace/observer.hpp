// trace/observer.hpp — the one interface through which the core reports what happens in a run.
//
// The supervisor, the scheduler, the domain manager and the Worker call an Observer at fixed points: a
// child started or went, a task was submitted, a task part ran (with the start and end the child
// stamped itself), a task ended without running, a span of parent-side work (a run, a drain, a domain
// phase, a copy, back-pressure), and counters. They hold a pointer that is null when nothing observes,
// and call it only through STRATA_OBSERVE, which compiles to nothing when the build leaves tracing out
// (STRATA_TRACE=OFF): no other part of the core knows about tracing. The recorder (trace/recorder.hpp)
// is the one implementation.
//
// Called on the Worker's thread only. Times are CLOCK_MONOTONIC nanoseconds, the clock every process of
// the host shares.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "strata/errors.hpp"
#include "strata/types.hpp"

#ifndef STRATA_TRACE_ENABLED
#define STRATA_TRACE_ENABLED 1
#endif

namespace strata::trace {

inline constexpr bool kCompiledIn = STRATA_TRACE_ENABLED != 0;

/// How a task (or part) ended, as the trace shows it.
enum class Status : uint8_t { Ok, Failed, Poisoned, Cancelled };
const char* status_name(Status s) noexcept;

/// Parent-side work shown as a slice on the orchestrator's track.
enum class Span : uint8_t { Init, Run, Drain, Backpressure, DomainPrepare, DomainCommit, DomainFree, Copy, Respawn };
const char* span_name(Span s) noexcept;

/// Moments shown as instant events on a child's track.
enum class Mark : uint8_t { Died, Lost, Respawned };
const char* mark_name(Mark m) noexcept;

struct Submitted {
  uint64_t task = 0;
  uint64_t run = 0;
  const std::string* name = nullptr;  // outlives the Worker's runs
  ChildKind kind = ChildKind::Chip;
  uint32_t block_dim = 1;
  std::span<const TaskArgs> parts;      // part i's arguments
  std::span<const int> members;         // the child of each part, when fixed at submit (kAnyWorker: any)
  std::span<const uint64_t> producers;  // tasks it waits for (unfinished when submitted)
  int64_t ns = 0;
};

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void child_started(ChildKind kind, int index, int pid, uint32_t generation, const std::string& name) = 0;
  virtual void submitted(const Submitted& s) = 0;
  /// A part ran on a child from `start_ns` to `end_ns` (the child's own stamps).
  virtual void part_done(uint64_t task, uint32_t part, ChildKind kind, int child, int64_t start_ns, int64_t end_ns,
                         Status status, std::string_view message) = 0;
  /// A task ended without its parts running (poisoned, cancelled, or its child was gone).
  virtual void task_done(uint64_t task, Status status, std::string_view message, int64_t ns) = 0;
  virtual void span(Span kind, int64_t begin_ns, int64_t end_ns, std::string_view detail) = 0;
  virtual void mark(Mark kind, ChildKind child_kind, int child, int64_t ns, std::string_view what) = 0;
  /// Counters: tasks in the ring, heap bytes in use, frames in flight per child (chips, subs, workers).
  virtual void counters(int64_t ns, uint64_t ring_in_flight, uint64_t heap_used, std::span<const uint32_t> depths) = 0;
};

}  // namespace strata::trace

/// Calls `obs->call` if tracing is compiled in and `obs` is set.
#define STRATA_OBSERVE(obs, call)                 \
  do {                                            \
    if constexpr (::strata::trace::kCompiledIn) { \
      if (obs) (obs)->call;                       \
    }                                             \
  } while (0)
