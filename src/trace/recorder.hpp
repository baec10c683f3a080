// trace/recorder.hpp — records a Worker's runs and writes them as a Chrome trace-event JSON file (loads in
// ui.perfetto.dev and chrome://tracing).
//
// The Recorder is the one Observer (trace/observer.hpp). It keeps bounded rings — per child, and for the
// orchestrating thread — of what it was told (events_per_track each, STRATA_TRACE_EVENTS); when one
// overflows the oldest events go and the file says how many. Nothing is written until write(), which the
// Worker calls from close(): writing is never on the dispatch path.
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
// The child Worker's run is linked by a flow to the task of the parent that ran it.
//
// Used from the Worker's thread only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

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
  size_t events_per_track = 1 << 18;
  int level = 3;
  std::string graph;          // this Worker inside a pod ("L3 worker 0"), "" at the top
  std::string parent_graph;   // the graph of the Worker that runs this one ("" at the top)
  int counts[3] = {0, 0, 0};  // chips, subs, workers
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
  template <class T>
  struct Ring {
    std::vector<T> items;
    size_t next = 0;  // where the next push goes once full
    uint64_t dropped = 0;
    T& push(size_t cap);
    template <class F>
    void for_each(F&& f) const;
  };
  struct TensorMeta {
    uint8_t tag, dtype, ndim;
    int64_t shape[kMaxDims];
  };
  struct SubmitRec {
    uint64_t task = 0, run = 0;
    const std::string* name = nullptr;
    ChildKind kind = ChildKind::Chip;
    uint32_t parts = 1, block_dim = 1;
    int64_t ns = 0;
    std::vector<TensorMeta> tensors;
    std::vector<uint32_t> part_end;  // tensors of part p end at part_end[p]
    std::vector<int> members;
    std::vector<uint64_t> producers;
  };
  struct PartRec {
    uint64_t task = 0;
    uint32_t part = 0;  // UINT32_MAX: the whole task (it never reached a child)
    bool ran = true;    // false: poisoned or cancelled before running (a zero-length mark)
    int pid = 0;
    int64_t start = 0, end = 0;
    Status status = Status::Ok;
    std::string message;
  };
  struct SpanRec {
    Span kind;
    int64_t begin, end;
    std::string detail;
    uint64_t parent_task;
  };
  struct MarkRec {
    Mark kind;
    int pid;
    int64_t ns;
    std::string what;
  };
  struct CounterRec {
    int64_t ns;
    uint64_t ring, heap;
    std::vector<uint32_t> depths;
  };
  struct Track {
    std::string name;
    int pid = 0;
  };

  std::string prefix() const { return opts_.graph.empty() ? std::string() : opts_.graph + " / "; }
  size_t slot(ChildKind kind, int index) const noexcept {
    return static_cast<size_t>(first_[static_cast<int>(kind)] + index);
  }
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
  Ring<SubmitRec> submits_;
  std::vector<Ring<PartRec>> parts_;  // per child slot, plus one for tasks that ran nowhere (last)
  Ring<SpanRec> spans_;
  Ring<MarkRec> marks_;
  Ring<CounterRec> counters_;
  uint64_t parent_task_ = 0;
  std::vector<std::pair<int, const SpillHeader*>> spills_;
};

}  // namespace strata::trace
