// tools/trace/trace_analysis.cpp — the summary of a trace: lane statistics, the critical path, the longest
// tasks, back-pressure and failures (see trace_analysis.hpp), and its text and JSON forms.
#include "trace_analysis.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_set>

namespace strata::trace_reader {

namespace {

using json = nlohmann::json;

// The nearest-rank percentile of sorted values: the smallest value with at least q of them at or below.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(q * static_cast<double>(sorted.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

LaneStats lane_stats(const Trace& trace, uint32_t track) {
  LaneStats s;
  s.track = track;
  std::vector<double> durations;
  for (uint32_t p : trace.tracks[track].parts) durations.push_back(trace.parts[p].dur);
  std::sort(durations.begin(), durations.end());
  s.parts = durations.size();
  for (double d : durations) s.busy_us += d;
  s.busy_fraction = trace.span_us > 0 ? s.busy_us / trace.span_us : 0;
  s.p50_us = percentile(durations, 0.50);
  s.p99_us = percentile(durations, 0.99);
  s.max_us = durations.empty() ? 0 : durations.back();
  return s;
}

std::string via_text(const Trace& trace, const PathStep& step) {
  switch (step.via) {
    case Via::Start:
      return "start";
    case Via::Dependency:
      return "dependency";
    case Via::Lane:
      return "waited for " + trace.tracks[step.lane].name;
  }
  return "?";
}

std::string graph_text(const Trace& trace, uint32_t graph) {
  return graph == 0 ? std::string("the top-level graph") : "graph '" + trace.graphs[graph] + "'";
}

// The task's id, with its graph when that is not the top level: "12", "12 (L3 worker 0)".
std::string task_text(const Trace& trace, const Task& task) {
  std::string s = std::to_string(task.id);
  if (task.graph != 0) s += " (" + trace.graphs[task.graph] + ")";
  return s;
}

// Names longer than `width` end in "...": the text tables stay readable.
std::string clip(const std::string& s, size_t width) { return s.size() <= width ? s : s.substr(0, width - 3) + "..."; }

// "1 task", "2 tasks".
std::string count_of(size_t n, const char* noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100);
  return buf;
}

// Rows of cells as aligned columns, each row indented by two blanks: the columns whose `left` is true are
// aligned left, the others right. A row of one cell is a note, printed as it is, outside the columns. No
// trailing blanks.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& left) {
  std::vector<size_t> width(left.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; row.size() > 1 && c < row.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    if (row.size() == 1) {
      out << "  " << row[0] << '\n';
      continue;
    }
    std::string line = " ";
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      const size_t pad = width[c] - row[c].size();
      line += ' ';
      if (!left[c]) line.append(pad, ' ');
      line += row[c];
      if (left[c] && c + 1 < row.size()) line.append(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
}

}  // namespace

std::string format_duration(double us) {
  if (us == 0) return "0 us";
  const double a = std::fabs(us);
  double v = us;
  const char* unit = "us";
  if (a >= 999.5e3) {
    v = us / 1e6;
    unit = "s";
  } else if (a >= 999.5) {
    v = us / 1e3;
    unit = "ms";
  }
  const double av = std::fabs(v);
  const int decimals = av >= 99.95 ? 0 : av >= 9.995 ? 1 : 2;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f %s", decimals, v, unit);
  return buf;
}

std::string task_place(const Trace& trace, const Task& task) {
  const auto parts = trace.parts_of(task);
  if (parts.empty()) return "";
  std::string s = trace.tracks[trace.parts[parts[0]].track].name;
  if (parts.size() > 1) s += " +" + std::to_string(parts.size() - 1);
  return s;
}

std::optional<uint32_t> path_graph(const Trace& trace) {
  std::optional<uint32_t> latest;
  for (uint32_t i = 0; i < trace.tasks.size(); ++i) {
    const Task& t = trace.tasks[i];
    if (!t.ran) continue;
    if (t.graph == 0) return 0;
    if (!latest || t.end > trace.tasks[*latest].end) latest = i;
  }
  if (!latest) return std::nullopt;
  return trace.tasks[*latest].graph;
}

std::vector<RunInfo> runs_of(const Trace& trace, uint32_t graph) {
  std::vector<RunInfo> runs;
  std::unordered_map<int64_t, size_t> index;
  for (uint32_t i = 0; i < trace.tasks.size(); ++i) {
    const Task& t = trace.tasks[i];
    if (!t.ran || t.graph != graph) continue;
    auto [it, fresh] = index.emplace(t.run, runs.size());
    if (fresh) runs.push_back(RunInfo{t.run, t.start, t.end, i, 0});
    RunInfo& r = runs[it->second];
    ++r.tasks;
    r.start = std::min(r.start, t.start);
    if (t.end > r.end) {
      r.end = t.end;
      r.last_task = i;
    }
  }
  std::sort(runs.begin(), runs.end(), [](const RunInfo& a, const RunInfo& b) { return a.run < b.run; });
  return runs;
}

std::optional<CriticalPath> critical_path(const Trace& trace, uint32_t graph, int64_t run) {
  const std::vector<RunInfo> runs = runs_of(trace, graph);
  auto it = std::find_if(runs.begin(), runs.end(), [&](const RunInfo& r) { return r.run == run; });
  if (it == runs.end()) return std::nullopt;
  CriticalPath path;
  path.graph = graph;
  path.run = run;
  path.run_ordinal = static_cast<size_t>(it - runs.begin()) + 1;
  path.runs = runs.size();
  path.run_start_us = it->start;
  path.run_span_us = it->end - it->start;

  struct Candidate {
    uint32_t task;
    Via via;
    uint32_t lane;
    double end;    // when the predecessor ended (its part on the lane, for Via::Lane)
    double start;  // what it is compared with: T's start, or its part's on the lane
  };
  std::vector<PathStep> backwards;
  std::unordered_set<uint32_t> on_path;
  uint32_t current = it->last_task;
  PathStep step{current, Via::Start, 0, 0};
  for (;;) {
    on_path.insert(current);
    const Task& t = trace.tasks[current];
    std::optional<Candidate> best;
    auto offer = [&](const Candidate& c) {
      if (c.end <= c.start + kPathSlackUs && (!best || c.end > best->end)) best = c;
    };
    for (uint64_t producer : trace.deps_of(t)) {
      const std::optional<uint32_t> p = trace.find_task(graph, producer);
      if (p && trace.tasks[*p].ran) offer({*p, Via::Dependency, 0, trace.tasks[*p].end, t.start});
    }
    for (uint32_t part_index : trace.parts_of(t)) {
      const Part& part = trace.parts[part_index];
      if (!part.ran || part.lane_pos == 0) continue;
      const Part& before = trace.parts[trace.tracks[part.track].parts[part.lane_pos - 1]];
      const Task& other = trace.tasks[before.task];
      if (before.task == current || other.graph != graph || other.run != run) continue;
      offer({before.task, Via::Lane, part.track, before.end(), part.start});
    }
    if (!best || on_path.contains(best->task)) {
      step.via = Via::Start;
      step.wait_us = 0;
      backwards.push_back(step);
      break;
    }
    step.via = best->via;
    step.lane = best->lane;
    step.wait_us = std::max(0.0, best->start - best->end);
    backwards.push_back(step);
    current = best->task;
    step = PathStep{current, Via::Start, 0, 0};
  }
  path.steps.assign(backwards.rbegin(), backwards.rend());
  for (const PathStep& s : path.steps) {
    path.busy_us += trace.tasks[s.task].duration();
    path.wait_us += s.wait_us;
  }
  path.total_us = trace.tasks[path.steps.back().task].end - trace.tasks[path.steps.front().task].start;
  return path;
}

Summary summarize(const Trace& trace) {
  Summary s;
  s.tasks = trace.tasks.size();
  for (const Part& p : trace.parts) s.ran_parts += p.ran ? 1 : 0;
  for (uint32_t lane : trace.lanes) s.lanes.push_back(lane_stats(trace, lane));

  if (const std::optional<uint32_t> graph = path_graph(trace)) {
    const std::vector<RunInfo> runs = runs_of(trace, *graph);
    auto longest = std::max_element(
        runs.begin(), runs.end(), [](const RunInfo& a, const RunInfo& b) { return a.end - a.start < b.end - b.start; });
    if (longest != runs.end()) s.critical_path = critical_path(trace, *graph, longest->run);
    for (const RunInfo& r : runs) {
      RunLine line{r.run, r.tasks, r.end - r.start, 0, 0};
      if (const std::optional<CriticalPath> p = critical_path(trace, *graph, r.run)) {
        line.path_tasks = p->steps.size();
        line.path_us = p->total_us;
      }
      s.runs.push_back(line);
    }
  }

  std::vector<uint32_t> ran;
  for (uint32_t i = 0; i < trace.tasks.size(); ++i)
    if (trace.tasks[i].ran) ran.push_back(i);
  const size_t top = std::min<size_t>(10, ran.size());
  std::partial_sort(ran.begin(), ran.begin() + static_cast<std::ptrdiff_t>(top), ran.end(),
                    [&](uint32_t a, uint32_t b) {
                      const double da = trace.tasks[a].duration(), db = trace.tasks[b].duration();
                      return da != db ? da > db : a < b;
                    });
  s.longest.assign(ran.begin(), ran.begin() + static_cast<std::ptrdiff_t>(top));

  for (const Span& span : trace.spans) {
    if (span.name != "back-pressure") continue;
    s.backpressure_waits += span.waits;
    s.backpressure_us += span.blocked;
  }
  for (const Task& t : trace.tasks) {
    s.failed += t.status == TaskStatus::Failed ? 1 : 0;
    s.poisoned += t.status == TaskStatus::Poisoned ? 1 : 0;
    s.cancelled += t.status == TaskStatus::Cancelled ? 1 : 0;
  }
  return s;
}

void print_summary(const Trace& trace, const Summary& s, std::ostream& out, size_t path_rows) {
  constexpr size_t kNameWidth = 40;
  out << "trace: " << trace.path;
  if (!trace.strata_version.empty()) out << " (strata " << trace.strata_version << ")";
  out << "\n  " << count_of(s.tasks, "task") << " (" << count_of(s.ran_parts, "part") << " ran) on " << s.lanes.size()
      << (s.lanes.size() == 1 ? " child, " : " children, ") << format_duration(trace.span_us)
      << " from the first task's start to the last task's end\n";
  out << "  dropped events: "
      << (trace.dropped_events ? std::to_string(*trace.dropped_events) : std::string("not recorded")) << "\n\n";

  out << "children (busy: the sum of their task times over the " << format_duration(trace.span_us) << ")\n";
  std::vector<std::vector<std::string>> rows{{"track", "tasks", "busy", "p50", "p99", "max"}};
  for (const LaneStats& l : s.lanes)
    rows.push_back({clip(trace.tracks[l.track].name, kNameWidth), std::to_string(l.parts), percent(l.busy_fraction),
                    format_duration(l.p50_us), format_duration(l.p99_us), format_duration(l.max_us)});
  print_table(out, rows, {true, false, false, false, false, false});

  out << '\n';
  if (s.runs.size() > 1) {
    // Every run with its own critical path; a long list shows the first and the last ten.
    out << "runs (" << graph_text(trace, s.critical_path->graph) << ")\n";
    rows = {{"run", "tasks", "span", "critical path"}};
    const size_t n = s.runs.size();
    for (size_t i = 0; i < n; ++i) {
      if (n > 20 && i == 10) {
        rows.push_back({"...", std::to_string(n - 20) + " more", "", ""});
        i = n - 11;
        continue;
      }
      const RunLine& r = s.runs[i];
      rows.push_back({std::to_string(r.run), std::to_string(r.tasks), format_duration(r.span_us),
                      count_of(r.path_tasks, "task") + ", " + format_duration(r.path_us)});
    }
    print_table(out, rows, {false, false, false, true});
    out << '\n';
  }
  if (const auto& path = s.critical_path) {
    out << "critical path of run " << path->run_ordinal << " of " << path->runs << " (the longest, "
        << format_duration(path->run_span_us) << "; run id " << path->run << ", " << graph_text(trace, path->graph)
        << "): " << count_of(path->steps.size(), "task") << ", " << format_duration(path->busy_us) << " running + "
        << format_duration(path->wait_us) << " waiting = " << format_duration(path->total_us) << '\n';
    rows = {{"start", "duration", "wait", "task", "name", "child", "reached by"}};
    const size_t n = path->steps.size();
    const bool elide = path_rows > 0 && n > path_rows;
    for (size_t i = 0; i < n; ++i) {
      if (elide && i == path_rows / 2) {
        const size_t skip = n - 2 * (path_rows / 2);
        rows.push_back({"... " + std::to_string(skip) + " more tasks (--all lists them) ..."});
        i += skip - 1;
        continue;
      }
      const PathStep& step = path->steps[i];
      const Task& t = trace.tasks[step.task];
      rows.push_back({format_duration(t.start), format_duration(t.duration()),
                      step.via == Via::Start ? "-" : format_duration(step.wait_us), task_text(trace, t),
                      clip(trace.name_of(t), kNameWidth), clip(task_place(trace, t), kNameWidth),
                      via_text(trace, step)});
    }
    print_table(out, rows, {false, false, false, false, true, true, true});
    const double unexplained = trace.tasks[path->steps.front().task].start - path->run_start_us;
    if (unexplained > kPathSlackUs)
      out << "  the path starts " << format_duration(unexplained)
          << " after the run's first task, held up by no recorded task: see when the orchestrator submitted it\n";
  } else {
    out << "critical path: none (no task ran)\n";
  }

  out << "\nlongest tasks\n";
  rows = {{"duration", "start", "task", "name", "child", "status"}};
  for (uint32_t i : s.longest) {
    const Task& t = trace.tasks[i];
    rows.push_back({format_duration(t.duration()), format_duration(t.start), task_text(trace, t),
                    clip(trace.name_of(t), kNameWidth), clip(task_place(trace, t), kNameWidth), status_name(t.status)});
  }
  print_table(out, rows, {false, false, false, true, true, true});

  out << "\nback-pressure: " << format_duration(s.backpressure_us) << " blocked in "
      << count_of(s.backpressure_waits, "wait") << '\n';
  out << "tasks that did not end ok: " << s.failed << " failed, " << s.poisoned << " poisoned, " << s.cancelled
      << " cancelled\n";
}

json summary_json(const Trace& trace, const Summary& s) {
  json j;
  j["file"] = trace.path;
  j["strata_version"] = trace.strata_version;
  j["dropped_events"] = trace.dropped_events ? json(*trace.dropped_events) : json(nullptr);
  j["span_us"] = trace.span_us;
  j["tasks"] = s.tasks;
  j["ran_parts"] = s.ran_parts;
  j["lanes"] = json::array();
  for (const LaneStats& l : s.lanes)
    j["lanes"].push_back({{"track", trace.tracks[l.track].name},
                          {"parts", l.parts},
                          {"busy_us", l.busy_us},
                          {"busy_percent", l.busy_fraction * 100},
                          {"p50_us", l.p50_us},
                          {"p99_us", l.p99_us},
                          {"max_us", l.max_us}});
  j["critical_path"] = nullptr;
  if (const auto& path = s.critical_path) {
    json steps = json::array();
    for (const PathStep& step : path->steps) {
      const Task& t = trace.tasks[step.task];
      steps.push_back({{"task", t.id},
                       {"name", trace.name_of(t)},
                       {"track", task_place(trace, t)},
                       {"start_us", t.start},
                       {"duration_us", t.duration()},
                       {"wait_us", step.wait_us},
                       {"via", via_text(trace, step)}});
    }
    j["critical_path"] = {{"graph", trace.graphs[path->graph]},
                          {"run", path->run},
                          {"run_ordinal", path->run_ordinal},
                          {"runs", path->runs},
                          {"run_span_us", path->run_span_us},
                          {"busy_us", path->busy_us},
                          {"wait_us", path->wait_us},
                          {"total_us", path->total_us},
                          {"unexplained_us", trace.tasks[path->steps.front().task].start - path->run_start_us},
                          {"steps", steps}};
  }
  j["runs"] = json::array();
  for (const RunLine& r : s.runs)
    j["runs"].push_back({{"run", r.run},
                         {"tasks", r.tasks},
                         {"span_us", r.span_us},
                         {"path_tasks", r.path_tasks},
                         {"path_us", r.path_us}});
  j["longest_tasks"] = json::array();
  for (uint32_t i : s.longest) {
    const Task& t = trace.tasks[i];
    j["longest_tasks"].push_back({{"task", t.id},
                                  {"graph", trace.graphs[t.graph]},
                                  {"name", trace.name_of(t)},
                                  {"track", task_place(trace, t)},
                                  {"start_us", t.start},
                                  {"duration_us", t.duration()},
                                  {"status", status_name(t.status)}});
  }
  j["backpressure"] = {{"waits", s.backpressure_waits}, {"total_us", s.backpressure_us}};
  j["failed"] = s.failed;
  j["poisoned"] = s.poisoned;
  j["cancelled"] = s.cancelled;
  return j;
}

}  // namespace strata::trace_reader
