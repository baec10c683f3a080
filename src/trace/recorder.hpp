// trace/recorder.hpp — records a Worker's runs and writes them as a Chrome trace-event JSON file (loads in
// ui.perfetto.dev and chrome://tracing).
//
// The Recorder is the one Observer (trace/observer.hpp). It keeps bounded rings — per child, and for the
// orchestrating thread — of what it was told (events_per_track each, STRATA_TRACE_EVENTS); when one
// overflows the oldest events go and the file says how many. Recording allocates nothing per event
// (trace/event_store.hpp). Nothing is written until write(), which the Worker calls from close():
// formatting and writing are never on the dispatch path.
//
// The file: one process track per child ("chip 0", "sub 1", "L3 worker 0", with its pid) and one for the
// orchestrating thread; a complete slice per task part on the child that ran it, from the start to the
// end the child stamped, named by the kernel or callable, with its id, run, worker, block_dim, tensors,
// status and error message; flows from each producer's end to its consumer's start and from submit to
// start; slices for runs, drains, back-pressure, domain phases, frees and copies; instants for deaths,
// losses and respawns; counters for the task ring, the heap and each child's queue.
//
// Pods: a child Worker (inside a level >= 4 Worker) records into a shared "spill" region its parent made
// before fork instead of a file; the parent merges every spill into its own file, so a pod gives one file.
// The child Worker's run is linked by a flow to the task of the parent that ran it. A rank of a pod over MPI
// records into a spill of its own that it sends to rank 0 when the pod closes; its events carry pids moved
// by `pid_base` (pids of different hosts never collide) and times moved onto rank 0's clock by
// `clock_offset_ns` (measured by a ping-pong when the pod starts).
//
// Used from the Worker's thread only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "trace/event_store.hpp"
#include "trace/observer.hpp"

namespace strata::trace {

/// Where a child Worker's trace goes: a region of shared memory its parent reads at close.
struct SpillHeader {
  uint64_t magic;
  uint64_t bytes;    // of JSON event text after the header (events separated by commas)
  uint64_t dropped;  // events left out
  uint64_t reserved;
};
inline constexpr uint64_t kSpillMagic = 0x4c4c495053415453ull;  // "STASPILL"

struct RecorderOptions {
  std::string path;              // the file (top-level Worker), or "" when spilling
  SpillHeader* spill = nullptr;  // a child Worker's region (`spill_bytes` long, header included)
  size_t spill_bytes = 0;
  size_t events_per_track = 1 << 16;
  int level = 3;
  std::string graph;            // this Worker inside a pod ("L3 worker 0"), "" at the top
  std::string parent_graph;     // the graph of the Worker that runs this one ("" at the top)
  int counts[3] = {0, 0, 0};    // chips, subs, workers
  int pid_base = 0;             // added to every pid (a rank of a pod over MPI: rank << 22)
  int64_t clock_offset_ns = 0;  // subtracted from every time (this host's clock minus rank 0's)
};

class Recorder final : public Observer {
 public:
  explicit Recorder(RecorderOptions opts);

  void child_started(ChildKind kind, int index, int pid, uint32_t generation, const std::string& name) override;
  void submitted(const Submitted& s) override;
  void part_done(uint64_t task, uint32_t part, ChildKind kind, int child, int64_t start_ns, int64_t end_ns,
                 Status status, std::string_view message) override;
  void task_done(uint64_t task, Status status, std::string_view message, int64_t ns) override;
  void span(Span kind, int64_t begin_ns, int64_t end_ns, std::string_view detail) override;
  void mark(Mark kind, ChildKind child_kind, int child, int64_t ns, std::string_view what) override;
  void counters(int64_t ns, uint64_t ring_in_flight, uint64_t heap_used, std::span<const uint32_t> depths) override;

  /// The task of the enclosing Worker that the next runs belong to (a child Worker of a pod).
  void set_parent_task(uint64_t task) noexcept { parent_task_ = task; }
  /// The spill regions of this Worker's child Workers, merged into this trace by write().
  void add_child_spill(int worker_index, const SpillHeader* spill) { spills_.emplace_back(worker_index, spill); }

  /// Recorders ever made in this process (a run without tracing makes none: tests check that).
  static uint64_t created() noexcept;

  /// Writes the trace (to the file, or the spill region). Never throws: returns "" or why it failed.
  std::string write() noexcept;
  size_t dropped() const noexcept;
  const std::string& path() const noexcept { return opts_.path; }

 private:
  // Records are fixed-size; what varies in length lives in a ByteLog (or, for texts, the TextLog), so
  // recording allocates nothing per event (see trace/event_store.hpp).
  struct SubmitRec {
    uint64_t task = 0, run = 0;
    const std::string* name = nullptr;
    int64_t ns = 0;
    uint64_t data = 0;  // in submit_data_: part_end[parts] u32, tensors, members[parts] i32, producers u64
    uint32_t data_bytes = 0, parts = 1, block_dim = 1, tensors = 0, members = 0, producers = 0;
    ChildKind kind = ChildKind::Chip;
  };
  /// A SubmitRec's variable part, decoded (when writing).
  struct SubmitInfo {
    const SubmitRec* rec = nullptr;
    std::vector<uint32_t> part_end;  // the tensors of part p end at part_end[p]
    std::vector<std::string> tensors;
    std::vector<int> members;
    std::vector<uint64_t> producers;
  };
  struct PartRec {
    uint64_t task = 0;
    uint32_t part = 0;  // UINT32_MAX: the whole task (it never reached a child)
    bool ran = true;    // false: poisoned or cancelled before running (a zero-length mark)
    Status status = Status::Ok;
    int pid = 0;
    int64_t start = 0, end = 0;
    uint64_t message = 0;  // in texts_
  };
  struct SpanRec {
    Span kind = Span::Run;
    int64_t begin = 0, end = 0;
    uint64_t detail = 0;  // in texts_
    uint64_t parent_task = 0;
    uint32_t waits = 1;   // back-pressure: the waits merged into this span
    int64_t blocked = 0;  // back-pressure: the time they blocked (the span also covers what ran between)
  };
  struct MarkRec {
    Mark kind = Mark::Died;
    int pid = 0;
    int64_t ns = 0;
    uint64_t what = 0;  // in texts_
  };
  struct CounterRec {
    int64_t ns = 0;
    uint64_t ring = 0, heap = 0;
    uint64_t depths = 0;  // in counter_data_: one u32 per child
  };
  struct Track {
    std::string name;
    int pid = 0;
  };

  std::string prefix() const { return opts_.graph.empty() ? std::string() : opts_.graph + " / "; }
  size_t slot(ChildKind kind, int index) const noexcept {
    return static_cast<size_t>(first_[static_cast<int>(kind)] + index);
  }
  std::unordered_map<uint64_t, SubmitInfo> decode_submits() const;
  /// Streams every event to `f` (the top-level file) or, with f null, to the spill region. Returns how
  /// many events were left out (this Worker's and its child Workers').
  uint64_t write_events(std::FILE* f) const;

  RecorderOptions opts_;
  int first_[3] = {0, 0, 0};
  int pid_ = 0;  // the orchestrating process
  int64_t created_ns_ = 0;
  std::vector<int> child_pid_;           // per child slot, the pid now
  std::vector<Track> tracks_;            // every pid seen, in order
  std::vector<std::string> child_name_;  // per child slot
  EventRing<SubmitRec> submits_;
  ByteLog submit_data_;
  std::vector<EventRing<PartRec>> parts_;  // per child slot, plus one for tasks that ran nowhere (last)
  EventRing<SpanRec> spans_;
  EventRing<MarkRec> marks_;
  EventRing<CounterRec> counters_;
  ByteLog counter_data_;
  TextLog texts_;
  SpanRec* last_span_ = nullptr;        // the span recorded last, while back-pressure waits may merge into it
  std::vector<unsigned char> scratch_;  // a submit's variable part, being encoded
  uint64_t parent_task_ = 0;
  std::vector<std::pair<int, const SpillHeader*>> spills_;
};

}  // namespace strata::trace
