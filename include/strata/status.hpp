// strata/status.hpp — what a Worker is doing right now: the data behind the stall report.
//
// Worker::status() fills a WorkerStatus from the Worker's own state (no child is asked anything): each
// child's state, the task it runs and for how long, the tasks of the run not finished yet with what
// each still waits for, and the domain requests waiting for an answer. A run that makes no progress
// for WorkerOptions::timeouts.stall_warn logs to_string() of it; one past timeouts.stall fails with it in the
// TimeoutError's message. Call status() on the Worker's thread: between runs, from the orchestration
// function, or from an on_progress callback.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "strata/errors.hpp"

namespace strata {

struct ChildStatus {
  ChildKind kind = ChildKind::Chip;
  int index = 0;
  std::string name;           // "chip 1"
  std::string state;          // "idle", "starting", "ready", "lost", "dead"
  int pid = 0;                // 0: no process
  uint32_t generation = 0;    // 0, then +1 per respawn
  uint64_t owed = 0;          // frames sent to it and not answered yet (the running one included)
  uint64_t running_task = 0;  // the task it runs now (0: none)
  std::string running_name;
  double running_for_s = 0;
  std::string gone;          // Lost or Dead: how ("died: killed by signal 9 (Killed)")
  double stopped_for_s = 0;  // > 0: its process has been stopped (SIGSTOP) this long while it owes work
};

struct PendingTask {
  uint64_t id = 0;
  std::string name;
  std::string child;                // where it runs (or will): "chip 1", "chip 0, chip 1", "any sub"
  bool pushed = false;              // sent to its child; false: still held by the parent
  std::vector<uint64_t> waits_for;  // producers not finished yet
};

struct RequestStatus {
  std::string child;
  std::string what;  // "a domain allocation", "a copy", ...
  double waited_s = 0;
};

struct WorkerStatus {
  bool in_run = false;
  uint64_t run = 0;             // the current (or last) run, counted from 1
  uint64_t submitted = 0;       // tasks submitted in that run
  uint64_t finished = 0;        // of which finished
  double since_progress_s = 0;  // in a run: since a task was last submitted or anything finished
  std::vector<ChildStatus> children;
  std::vector<PendingTask> unfinished;  // the run's unfinished tasks, oldest first (the first 50)
  uint64_t unfinished_total = 0;        // how many there are in all
  std::vector<RequestStatus> requests;
  /// A readable report: a line per child, unfinished task and request.
  std::string to_string() const;
};

/// What an on_progress callback is told while a run waits.
struct RunProgress {
  uint64_t run = 0;
  uint64_t submitted = 0;
  uint64_t finished = 0;
  double elapsed_s = 0;  // since the run started
};

}  // namespace strata
