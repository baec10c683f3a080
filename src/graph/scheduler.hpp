// graph/scheduler.hpp — the task graph of a Worker: records, dependencies, eligibility, pushing to
// children, failure propagation and retirement.
//
// The life of a task:
//   submit   validate the arguments (shapes, tags, sizes, that every tensor lies in memory strata shares);
//            take a task-ring slot (back-pressure: wait for retirements, at most timeouts.submit); allocate
//            OUTPUTs with a null address from the run heap; encode one frame per part (into the
//            FrameRing, whose room is waited for with the slot); look its producers up in the DepMap
//            and enter it; arm its status-board entry.
//   eligible once every producer has been pushed. A task waits in the queue of its child (or of "any
//            child", or of groups) until that child has room and at most kMaxFrameDeps of its producers
//            are unfinished.
//   pushed   its frame is in the child's request ring, naming the producers still unfinished; the child
//            waits for those on the status board. A task only ever waits for tasks pushed before it and
//            group parts are pushed together, so the oldest unfinished task can always run: pushing ahead
//            cannot deadlock.
//   finished every part's completion is in (or its child was lost). A failure is recorded, poisons every
//            consumer, and — with fail_fast — cancels every task not yet pushed; the next submit throws.
//   retired  strictly in id order, which frees the ring slot and the heap of closed scopes.
//
// The scheduler never talks to processes: it reaches children through a graph::Link and learns of
// completions and losses through on_completion() and on_lost(), which the link calls only from inside
// Link::poll() and Link::wait(). So it runs unchanged against a fake link in unit tests. Owned by the
// Worker's thread; not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "graph/dep_map.hpp"
#include "graph/frame_ring.hpp"
#include "graph/link.hpp"
#include "graph/task_ring.hpp"
#include "ipc/board.hpp"
#include "ipc/channel.hpp"
#include "ipc/task_failure.hpp"
#include "memory/heap_ring.hpp"
#include "memory/memory_map.hpp"
#include "strata/errors.hpp"
#include "strata/status.hpp"
#include "strata/types.hpp"
#include "strata/worker.hpp"
#include "trace/observer.hpp"
#include "util/private_pages.hpp"

namespace strata::graph {

/// How a task ended.
enum class Outcome : uint8_t { Pending, Ok, Failed, Poisoned, Cancelled };
const char* outcome_name(Outcome o) noexcept;

struct SchedulerOptions {
  uint32_t ring_slots = 4096;
  bool fail_fast = true;
  int64_t submit_timeout_ns = 30'000'000'000;
  int level = 3;  // of the Worker (the frames of its TaskErrors)
};

/// One submit: `parts[i]` runs on `members[i]` (a single part may name kAnyWorker).
struct Submission {
  ChildKind kind = ChildKind::Chip;
  uint32_t callable = 0;
  const std::string* name = nullptr;  // outlives the run (the Worker's callable table)
  std::span<TaskArgs> parts;
  CallConfig cfg;
  std::span<const int> members;
  const char* what = "submit";  // the API call, for messages
};

/// The first failure of a run, as run() reports it.
struct RunFailure {
  uint64_t task = 0;
  std::string name;
  ChildKind kind = ChildKind::Chip;
  int child = -1;  // -1: no child ran it
  int rank = -1;   // a pod over MPI: the rank of that child
  std::string message;
  Outcome outcome = Outcome::Failed;
  std::string error_type;    // the exception's type, "" if none
  std::vector<Frame> inner;  // the levels below the child, when it is a Worker
  /// The TaskError run() throws for it, in a Worker of `level`.
  TaskError error(int level) const;
};

class Scheduler {
 public:
  Scheduler(Link& link, ipc::Board* board, memory::HeapRing heap, const memory::MemoryMap* memory,
            SchedulerOptions opts);

  // ---- runs ----
  void begin_run();
  /// Forgets the run's dependencies and heap (every task has finished).
  void end_run() noexcept;
  TaskRef submit(const Submission& s);
  Tensor alloc(std::span<const int64_t> shape, DType dtype);
  uint32_t scope_open() noexcept { return ++scope_depth_; }
  void scope_close(uint32_t depth);
  /// Waits until every task of the run has finished.
  void drain();
  /// Cancels the run: every task not yet pushed finishes as cancelled, and later submits and allocs of
  /// the run throw Error saying `reason` (Worker::cancel_run kills the children that owe the rest).
  void cancel(const std::string& reason);
  /// Waits until task `id` has finished (or is not live).
  void wait_finished(uint64_t id);
  /// Waits until every task an access of `base` must follow has finished (copies: `write` for copy_to).
  void wait_accessors(const void* base, bool write);

  // ---- from the link ----
  void on_completion(uint64_t id, uint32_t part, ChildKind kind, int child, ipc::Status status,
                     std::string_view message, uint64_t detail, int64_t start_ns, int64_t end_ns);
  /// A child is gone: `ids` were in flight on it (in order; control ids are ignored), `running` the one
  /// it ran. `running_msg` / `queued_msg` become the failures' messages.
  void on_lost(ChildKind kind, int child, std::span<const uint64_t> ids, uint64_t running, int64_t running_start_ns,
               const std::string& running_msg, const std::string& queued_msg);

  /// Reports submits, finished parts, drains, back-pressure and counters to `obs` (null: nothing).
  void set_observer(trace::Observer* obs) noexcept { obs_ = obs; }
  void set_run(uint64_t run) noexcept { run_ = run; }

  // ---- state ----
  const std::optional<RunFailure>& failure() const noexcept { return failure_; }
  /// The run's failure as the exception run() throws.
  [[noreturn]] void throw_failure() const;
  /// Throws Error if the run was cancelled.
  void throw_if_cancelled(const char* what) const;
  bool empty() const noexcept { return ring_.empty(); }
  uint64_t in_flight() const noexcept { return ring_.in_flight(); }
  const TaskRing& ring() const noexcept { return ring_; }
  const memory::HeapRing& heap() const noexcept { return heap_; }
  /// Tasks submitted in the current (or last) run, and how many of them have finished.
  uint64_t submitted() const noexcept { return ring_.next() - run_first_; }
  uint64_t finished_count() const noexcept { return finished_count_; }
  /// The run's unfinished tasks, oldest first, at most `limit` of them (for the stall report), each with
  /// the producers it still waits for. Returns how many there are in all.
  size_t unfinished(std::vector<PendingTask>* out, size_t limit) const;
  Outcome outcome_of(uint64_t id) const noexcept;
  /// The name of live task `id`, or nullptr.
  const std::string* task_name(uint64_t id) const noexcept { return ring_.live(id) ? record(id).name : nullptr; }

 private:
  struct Record {
    uint64_t id = 0;
    ChildKind kind = ChildKind::Chip;
    const std::string* name = nullptr;
    int target = kAnyWorker;   // single-part tasks: a child index, or any
    std::vector<int> members;  // child of each part once pushed (groups: given at submit)
    uint32_t parts = 1;
    uint32_t parts_done = 0;
    uint64_t frames = 0;              // in frames_: part 0's position; each next part's is FrameRing::after()
    uint64_t frames_end = 0;          // frames_.head() after the last part: released when the task retires
    std::vector<uint64_t> producers;  // unfinished when submitted
    std::vector<uint64_t> consumers;  // submitted later, waiting for this one
    uint32_t unpushed_producers = 0;
    uint64_t poisoned_by = 0;  // a producer that failed before this task was pushed
    bool pushed = false;
    bool finished = false;
    Outcome outcome = Outcome::Pending;
    std::string error;
    std::string error_type;
    std::vector<Frame> inner;
    ChildKind fail_kind = ChildKind::Chip;
    int fail_child = -1;
  };
  enum class Push { Pushed, Finished, Blocked };

  Record& record(uint64_t id) noexcept { return records_[ring_.slot(id)]; }
  const Record& record(uint64_t id) const noexcept { return records_[ring_.slot(id)]; }
  bool finished(uint64_t id) const noexcept { return !ring_.live(id) || record(id).finished; }
  bool failed_producer(uint64_t id) const;

  void validate(const Submission& s) const;
  /// Waits for a task-ring slot and room for `parts` frames (back-pressure), at most timeouts.submit.
  void acquire_slot(const char* what, size_t parts);
  /// "; the oldest unfinished task is #7 'step', pushed to chip 1" (or "waiting for its producers"),
  /// for a back-pressure timeout: where the work that holds the ring or the heap is stuck.
  std::string oldest_unfinished() const;
  void* heap_alloc(size_t bytes, const char* what);
  void make_eligible(Record& t);
  void pump();
  Push try_push(Record& t);
  void mark_pushed(Record& t);
  void finish_unpushed(Record& t, Outcome outcome, std::string error, ChildKind kind, int child);
  void part_finished(Record& t, Outcome outcome, std::string error, ChildKind kind, int child,
                     std::string error_type = {}, std::vector<Frame> inner = {});
  void finish(Record& t);
  void cancel_unpushed(const std::string& msg);
  /// Waits for progress while `pending()`; throws TimeoutError naming `knob` past `deadline_ns` (< 0: none).
  template <class Pending>
  void wait_while(Pending&& pending, int64_t deadline_ns);

  void observe_counters();

  Link& link_;
  ipc::Board* board_;
  trace::Observer* obs_ = nullptr;
  uint64_t run_ = 0;
  uint64_t run_first_ = 1;       // the first task id of the current run
  uint64_t finished_count_ = 0;  // tasks of the current run finished
  int64_t counters_ns_ = 0;      // when counters were last reported
  uint32_t pumps_since_counters_ = 0;
  std::vector<uint32_t> depths_;  // scratch for them
  memory::HeapRing heap_;
  const memory::MemoryMap* memory_;
  SchedulerOptions opts_;
  TaskRing ring_;
  // Both in memory present from the start and not shared with the children forked after the Worker
  // made its scheduler: the first few thousand tasks take no page faults either (util::PrivatePages).
  std::vector<Record, util::PrivateAllocator<Record>> records_;
  FrameRing frames_;
  DepMap deps_;
  // Eligible, not yet pushed: per child, "any child" per kind, and groups (all kinds), each in order.
  std::vector<std::deque<uint64_t>> ready_[3];
  std::deque<uint64_t> any_[3];
  std::deque<uint64_t> groups_;
  size_t queued_ = 0;
  uint64_t eligible_added_ = 0;  // tasks ever made eligible (tells pump() whether a pass added work)
  std::unordered_map<uint64_t, Outcome> failed_retired_;  // tasks of this run that failed and retired
  std::optional<RunFailure> failure_;
  bool cancelling_ = false;
  std::string cancelled_;  // why the run was cancelled; empty: it was not
  uint32_t scope_depth_ = 0;
  int rr_[3] = {0, 0, 0};  // round-robin start for kAnyWorker
};

}  // namespace strata::graph
