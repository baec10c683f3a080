// tools/trace/trace_analysis.hpp — what a strata trace says about a run: per-child load, the critical path,
// the longest tasks, back-pressure, failures; as plain text or as one JSON object.
//
// summarize() computes everything `strata trace summary` prints; print_summary() and summary_json() render
// it. The critical path is defined at critical_path() below. All times are microseconds (see Trace).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "trace_file.hpp"

namespace strata::trace_reader {

/// One child track's load.
struct LaneStats {
  uint32_t track = 0;                         // index into Trace::tracks
  size_t parts = 0;                           // task parts that ran on it
  double busy_us = 0;                         // the sum of their durations
  double busy_fraction = 0;                   // busy_us / Trace::span_us
  double p50_us = 0, p99_us = 0, max_us = 0;  // part durations (nearest-rank percentiles)
};

/// A run of a graph: the tasks of (graph, run) that ran.
struct RunInfo {
  int64_t run = -1;
  double start = 0, end = 0;  // the first start and the last end of its tasks
  uint32_t last_task = 0;     // the task whose end is latest (the critical path's end)
  size_t tasks = 0;
};

/// How the critical path reached a task from the one before it.
enum class Via : uint8_t {
  Start,       // the path's first task
  Dependency,  // the previous task is one of its producers (args.deps)
  Lane,        // the previous task ran just before it on the same child: it waited for that child
};

struct PathStep {
  uint32_t task = 0;  // index into Trace::tasks
  Via via = Via::Start;
  uint32_t lane = 0;   // for Via::Lane: the track it waited for
  double wait_us = 0;  // from the previous task's end to this task's start (>= 0)
};

struct CriticalPath {
  uint32_t graph = 0;
  int64_t run = -1;
  size_t run_ordinal = 0;       // 1-based position of the run among the graph's runs, by run id
  size_t runs = 0;              // how many runs the graph has
  double run_start_us = 0;      // the run's first start
  double run_span_us = 0;       // the run's first start to last end
  std::vector<PathStep> steps;  // first task first
  double busy_us = 0;           // the sum of its tasks' durations
  double wait_us = 0;           // the sum of its steps' waits
  double total_us = 0;          // the first task's start to the last task's end
};

/// One run of the path graph, as the summary lists it.
struct RunLine {
  int64_t run = -1;
  size_t tasks = 0;
  double span_us = 0;     // its first task's start to its last task's end
  size_t path_tasks = 0;  // its critical path: how many tasks
  double path_us = 0;     // and from its first start to its last end
};

struct Summary {
  size_t tasks = 0;                                // tasks (graph, id) in the file, run or not
  size_t ran_parts = 0;                            // task parts that ran
  std::vector<LaneStats> lanes;                    // in Trace::lanes order
  std::optional<CriticalPath> critical_path;       // of the longest run; none when no task ran
  std::vector<RunLine> runs;                       // every run of that graph, by run id (their own paths)
  std::vector<uint32_t> longest;                   // up to ten tasks that ran, longest (end - start) first
  size_t backpressure_waits = 0;                   // the waits of the "back-pressure" spans
  double backpressure_us = 0;                      // the time they blocked
  size_t failed = 0, poisoned = 0, cancelled = 0;  // tasks by (worst) status
};

/// The slack allowed when deciding that one task ended before another started (clocks of different
/// processes, rounding to 1 ns in the file).
inline constexpr double kPathSlackUs = 1.0;

/// The graph whose critical path the summary shows: "" (index 0) if any of its tasks ran, else the graph
/// of the task that ended last. nullopt when no task ran.
std::optional<uint32_t> path_graph(const Trace& trace);

/// The runs of `graph` that ran a task, by run id.
std::vector<RunInfo> runs_of(const Trace& trace, uint32_t graph);

/// The critical path of run `run` of `graph` (nullopt if no task of it ran).
///
/// It ends at the task of the run whose end (its last part's) is latest, and is walked backwards: the
/// predecessor of task T is, among
///   (a) T's producers (args.deps: the producers still unfinished when T was submitted), and
///   (b) for each part of T, the part that ran just before it on the same child track, if that part's
///       task is of the same graph and run (T waited for that child),
/// the one that ended latest but not after T started — a producer's end (its last part's) is compared
/// with T's start (its first part's), a part on the same child with the start of T's part there —
/// allowing kPathSlackUs. A producer wins a tie. The walk stops at a task with no such predecessor (or
/// one already on the path, which only clock skew can cause). Each step's wait is T's start (the part's,
/// for (b)) minus the predecessor's end, at least 0.
std::optional<CriticalPath> critical_path(const Trace& trace, uint32_t graph, int64_t run);

/// Everything `strata trace summary` shows; the critical path is that of path_graph()'s run with the
/// longest span (the first such run on a tie).
Summary summarize(const Trace& trace);

/// "0 us", "850 us", "12.5 ms", "3.20 s": three significant digits, in the unit that fits.
std::string format_duration(double us);

/// The summary as readable text. A critical path of more than `path_rows` tasks shows its first and last
/// path_rows / 2 and a line saying how many are left out between; 0 shows every task.
void print_summary(const Trace& trace, const Summary& summary, std::ostream& out, size_t path_rows = 60);

/// The summary as one JSON object: {"file", "strata_version", "dropped_events", "span_us", "tasks",
/// "ran_parts", "lanes": [{"track", "parts", "busy_us", "busy_percent", "p50_us", "p99_us", "max_us"}],
/// "critical_path": {"graph", "run", "run_ordinal", "runs", "run_span_us", "busy_us", "wait_us",
/// "total_us", "unexplained_us", "steps": [{"task", "name", "track", "start_us", "duration_us", "wait_us", "via"}]} or
/// null, "runs": [{"run", "tasks", "span_us", "path_tasks", "path_us"}],
/// "longest_tasks": [{"task", "graph", "name", "track", "start_us", "duration_us", "status"}], "backpressure":
/// {"waits", "total_us"}, "failed", "poisoned", "cancelled"}. "via" is "start", "dependency" or "waited for <track>";
/// "unexplained_us" is the time from the run's first start to the path's (no task of the trace accounts for it);
/// "dropped_events" is null when the file does not say.
nlohmann::json summary_json(const Trace& trace, const Summary& summary);

/// Where a task ran, for people: its track's name, "chip 0 +3" for a task of four parts.
std::string task_place(const Trace& trace, const Task& task);

}  // namespace strata::trace_reader
