// tools/trace/trace_file.hpp — a strata execution trace loaded into memory: the tracks, task parts, tasks,
// parent-side spans and instants of the Chrome trace-event JSON file written by strata's recorder.
//
// load_trace() streams the file (one event object at a time, so a large trace never sits in memory as a
// JSON tree) and keeps what the analysis (trace_analysis.hpp) and the picture (trace_svg.hpp) need. Times
// are microseconds from the start of the first task that ran (the file's are absolute CLOCK_MONOTONIC).
// A task is identified by (graph, task id); it has one part per "task" slice (several for a group, one on
// each child). Parsing is tolerant: unknown events and fields are ignored, optional fields may be missing,
// and "task" slices without a task id are skipped. This library does not link strata itself.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace strata::trace_reader {

/// The file cannot be read, is not JSON, or is not a trace; what() says which and what to do.
class TraceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How a task ended, ordered by severity: a task's status is the worst of its parts'. A status the reader
/// does not know counts as Failed (it is not "ok").
enum class TaskStatus : uint8_t { Ok, Cancelled, Poisoned, Failed };
const char* status_name(TaskStatus s) noexcept;

/// A process track of the file: a child (chip, sub, L3 worker, pod-inner child) or the orchestrator.
struct Track {
  int64_t pid = 0;
  std::string name;                   // the last process_name given, or "pid <pid>"
  std::optional<int64_t> sort_index;  // from process_sort_index
  bool named = false;                 // the file gave it a process_name
  bool orchestrator = false;          // named "orchestrator": the top-level orchestrating thread
  std::vector<uint32_t> parts;        // its parts that ran, by start time (indices into Trace::parts)
};

/// One "task" slice: a task's part as it ran on one child, or a task that never ran (ran == false, dur 0).
struct Part {
  uint32_t task = 0;      // index into Trace::tasks
  uint32_t track = 0;     // index into Trace::tracks
  uint32_t lane_pos = 0;  // position in Track::parts (when ran)
  uint32_t part = 0;      // args.part (0 for a single-part task)
  uint32_t error = 0;     // index into Trace::errors (0: no message)
  double start = 0;       // us since Trace::origin_us
  double dur = 0;         // us
  TaskStatus status = TaskStatus::Ok;
  bool ran = true;
  double end() const noexcept { return start + dur; }
};

/// A task: its parts together.
struct Task {
  uint64_t id = 0;
  uint32_t graph = 0;                       // index into Trace::graphs (0 is "", the top-level graph)
  uint32_t name = 0;                        // index into Trace::names
  int64_t run = -1;                         // args.run, -1 when the file does not say
  double start = 0;                         // the first start of a part that ran (or when it was given up, if none ran)
  double end = 0;                           // the last end of a part that ran
  TaskStatus status = TaskStatus::Ok;       // the worst of its parts'
  bool ran = false;                         // at least one part ran
  uint32_t first_part = 0, part_count = 0;  // its parts: Trace::task_parts[first_part .. +part_count)
  uint32_t first_dep = 0, dep_count = 0;    // its producers' ids: Trace::deps[first_dep .. +dep_count)
  double duration() const noexcept { return end - start; }
};

/// A parent-side span ("run", "drain", "back-pressure", "init", "domain prepare", "copy", ...).
struct Span {
  std::string name;
  std::string detail;
  uint32_t track = 0;
  double start = 0, dur = 0;
  // Back-pressure: strata merges waits less than 20 us apart into one span; args.waits counts them and
  // args.blocked_us is the time they blocked (otherwise 1 and dur).
  uint32_t waits = 1;
  double blocked = 0;
};

/// An instant event: a child "died", was "declared lost", "respawned", "events dropped", ...
struct Mark {
  std::string name;
  std::string what;
  uint32_t track = 0;
  double ts = 0;
};

struct TaskKey {
  uint32_t graph;
  uint64_t id;
  bool operator==(const TaskKey&) const = default;
};
struct TaskKeyHash {
  size_t operator()(const TaskKey& k) const noexcept {
    return std::hash<uint64_t>{}(k.id * 0x9e3779b97f4a7c15ull ^ k.graph);
  }
};

struct Trace {
  std::string path;
  std::string strata_version;              // otherData.strata_version ("" if absent)
  std::optional<uint64_t> dropped_events;  // otherData.dropped_events
  double origin_us = 0;                    // the absolute time (file's clock) of time 0
  double span_us = 0;                      // the last end of a part that ran (the first start is 0)

  std::vector<Track> tracks;
  std::vector<uint32_t> lanes;  // the child tracks, in display order (see load_trace)
  std::vector<Part> parts;
  std::vector<Task> tasks;
  std::vector<uint32_t> task_parts;  // part indices grouped by task (see Task::first_part)
  std::vector<uint64_t> deps;
  std::vector<std::string> names;   // task names (kernels, callables)
  std::vector<std::string> graphs;  // graph names; graphs[0] == ""
  std::vector<std::string> errors;  // error messages; errors[0] == ""
  std::vector<Span> spans;
  std::vector<Mark> marks;
  std::unordered_map<TaskKey, uint32_t, TaskKeyHash> task_index;

  std::span<const uint32_t> parts_of(const Task& t) const { return {task_parts.data() + t.first_part, t.part_count}; }
  std::span<const uint64_t> deps_of(const Task& t) const { return {deps.data() + t.first_dep, t.dep_count}; }
  const std::string& name_of(const Task& t) const { return names[t.name]; }
  /// The task (graph, id), or nullopt when the file has no slice of it.
  std::optional<uint32_t> find_task(uint32_t graph, uint64_t id) const;
};

/// Reads a trace file. Lanes are the tracks other than the orchestrator's that the file names or that ran
/// a part, ordered by process_sort_index (tracks without one last), then by name with numbers compared
/// as numbers; a track "A / B" (a pod's inner child) comes right after track "A", among A's inner ones.
/// Throws TraceError when the file cannot be read, is not JSON, or has no "traceEvents" array.
Trace load_trace(const std::string& path);

/// The same from text already in memory (`path` only names it in messages).
Trace parse_trace(const std::string& text, const std::string& path);

}  // namespace strata::trace_reader
