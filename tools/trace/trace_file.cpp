// tools/trace/trace_file.cpp — streams a strata trace file into a Trace (see trace_file.hpp).
//
// nlohmann-json parses with a callback that sees each value as it completes: an object that completes at
// depth 2 under the top-level key "traceEvents" is one event, handed to the Loader and then discarded, so
// memory holds one event's tree at a time. Everything else (otherData, displayTimeUnit) is kept as parsed.
#include "trace_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

namespace strata::trace_reader {

const char* status_name(TaskStatus s) noexcept {
  switch (s) {
    case TaskStatus::Ok:
      return "ok";
    case TaskStatus::Cancelled:
      return "cancelled";
    case TaskStatus::Poisoned:
      return "poisoned";
    case TaskStatus::Failed:
      return "failed";
  }
  return "?";
}

std::optional<uint32_t> Trace::find_task(uint32_t graph, uint64_t id) const {
  auto it = task_index.find(TaskKey{graph, id});
  if (it == task_index.end()) return std::nullopt;
  return it->second;
}

namespace {

using json = nlohmann::json;

const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string text_field(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

std::optional<double> number_field(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::optional<int64_t> integer_field(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v || !v->is_number_integer()) return std::nullopt;
  return v->get<int64_t>();
}

std::optional<uint64_t> unsigned_field(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer() && v->get<int64_t>() >= 0) return static_cast<uint64_t>(v->get<int64_t>());
  return std::nullopt;
}

TaskStatus parse_status(const std::string& s) {
  if (s.empty() || s == "ok") return TaskStatus::Ok;
  if (s == "cancelled") return TaskStatus::Cancelled;
  if (s == "poisoned") return TaskStatus::Poisoned;
  return TaskStatus::Failed;
}

// Orders lane names with the digits in them compared as numbers ("chip 2" before "chip 10").
bool natural_less(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = a[i] >= '0' && a[i] <= '9', db = b[j] >= '0' && b[j] <= '9';
    if (da && db) {
      size_t ie = i, je = j;
      while (ie < a.size() && a[ie] >= '0' && a[ie] <= '9') ++ie;
      while (je < b.size() && b[je] >= '0' && b[je] <= '9') ++je;
      std::string_view na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      while (na.size() > 1 && na[0] == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb[0] == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

class Loader {
 public:
  explicit Loader(Trace& trace) : t_(trace) {
    t_.graphs.emplace_back();
    graph_ids_.emplace("", 0);
    t_.errors.emplace_back();
  }

  void event(const json& e) {
    const std::string ph = text_field(e, "ph");
    if (ph == "M") {
      metadata(e);
    } else if (ph == "X") {
      const std::string cat = text_field(e, "cat");
      if (cat == "task") {
        task_slice(e);
      } else if (cat == "parent") {
        span(e);
      }
    } else if (ph == "i" || ph == "I") {
      mark(e);
    }
  }

  void other_data(const json& o) {
    t_.strata_version = text_field(o, "strata_version");
    t_.dropped_events = unsigned_field(o, "dropped_events");
  }

  void finish() {
    group_parts_by_task();
    shift_to_origin();
    fill_tracks();
    order_lanes();
  }

 private:
  uint32_t track_of(int64_t pid) {
    auto [it, fresh] = track_ids_.emplace(pid, static_cast<uint32_t>(t_.tracks.size()));
    if (fresh) {
      Track& tr = t_.tracks.emplace_back();
      tr.pid = pid;
      tr.name = "pid " + std::to_string(pid);
    }
    return it->second;
  }

  static uint32_t intern(std::vector<std::string>& table, std::unordered_map<std::string, uint32_t>& ids,
                         const std::string& s) {
    auto [it, fresh] = ids.emplace(s, static_cast<uint32_t>(table.size()));
    if (fresh) table.push_back(s);
    return it->second;
  }

  void metadata(const json& e) {
    const std::optional<int64_t> pid = integer_field(e, "pid");
    const json* args = field(e, "args");
    if (!pid || !args) return;
    const std::string what = text_field(e, "name");
    if (what == "process_name") {
      const json* name = field(*args, "name");
      if (!name || !name->is_string()) return;
      Track& tr = t_.tracks[track_of(*pid)];
      tr.name = name->get<std::string>();
      tr.named = true;
      tr.orchestrator = tr.name == "orchestrator";
    } else if (what == "process_sort_index") {
      if (auto index = integer_field(*args, "sort_index")) t_.tracks[track_of(*pid)].sort_index = *index;
    }
  }

  void task_slice(const json& e) {
    const json* args = field(e, "args");
    const std::optional<double> ts = number_field(e, "ts");
    const std::optional<int64_t> pid = integer_field(e, "pid");
    if (!args || !ts || !pid) return;
    const std::optional<uint64_t> id = unsigned_field(*args, "task");
    if (!id) return;
    const TaskKey key{intern(t_.graphs, graph_ids_, text_field(*args, "graph")), id.value()};
    auto [it, fresh] = t_.task_index.emplace(key, static_cast<uint32_t>(t_.tasks.size()));
    if (fresh) {
      Task& task = t_.tasks.emplace_back();
      task.id = key.id;
      task.graph = key.graph;
      task.name = intern(t_.names, name_ids_, text_field(e, "name"));
      task.run = integer_field(*args, "run").value_or(-1);
      task.first_dep = static_cast<uint32_t>(t_.deps.size());
      if (const json* deps = field(*args, "deps"); deps && deps->is_array())
        for (const json& d : *deps)
          if (d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0))
            t_.deps.push_back(d.get<uint64_t>());
      task.dep_count = static_cast<uint32_t>(t_.deps.size() - task.first_dep);
    }
    Part& p = t_.parts.emplace_back();
    p.task = it->second;
    p.track = track_of(*pid);
    p.start = *ts;
    p.dur = std::max(0.0, number_field(e, "dur").value_or(0));
    p.status = parse_status(text_field(*args, "status"));
    const json* ran = field(*args, "ran");
    p.ran = !(ran && ran->is_boolean() && !ran->get<bool>());
    if (!p.ran) p.dur = 0;
    p.part = static_cast<uint32_t>(unsigned_field(*args, "part").value_or(0));
    if (std::string error = text_field(*args, "error"); !error.empty()) {
      p.error = static_cast<uint32_t>(t_.errors.size());
      t_.errors.push_back(std::move(error));
    }
  }

  void span(const json& e) {
    const std::optional<double> ts = number_field(e, "ts");
    const std::optional<int64_t> pid = integer_field(e, "pid");
    if (!ts || !pid) return;
    Span& s = t_.spans.emplace_back();
    s.name = text_field(e, "name");
    s.track = track_of(*pid);
    s.start = *ts;
    s.dur = std::max(0.0, number_field(e, "dur").value_or(0));
    s.blocked = s.dur;
    if (const json* args = field(e, "args")) {
      s.detail = text_field(*args, "detail");
      s.blocked = std::max(0.0, number_field(*args, "blocked_us").value_or(s.dur));
      s.waits = static_cast<uint32_t>(unsigned_field(*args, "waits").value_or(1));
    }
  }

  void mark(const json& e) {
    const std::optional<double> ts = number_field(e, "ts");
    const std::optional<int64_t> pid = integer_field(e, "pid");
    if (!ts || !pid) return;
    Mark& m = t_.marks.emplace_back();
    m.name = text_field(e, "name");
    if (const json* args = field(e, "args")) m.what = text_field(*args, "what");
    m.track = track_of(*pid);
    m.ts = *ts;
  }

  // Task::first_part/part_count, start, end, status and ran, from the parts (a counting sort by task).
  void group_parts_by_task() {
    for (const Part& p : t_.parts) ++t_.tasks[p.task].part_count;
    uint32_t next = 0;
    for (Task& task : t_.tasks) {
      task.first_part = next;
      next += task.part_count;
      task.part_count = 0;
      task.start = std::numeric_limits<double>::infinity();
      task.end = -std::numeric_limits<double>::infinity();
    }
    t_.task_parts.resize(t_.parts.size());
    for (uint32_t i = 0; i < t_.parts.size(); ++i) {
      const Part& p = t_.parts[i];
      Task& task = t_.tasks[p.task];
      t_.task_parts[task.first_part + task.part_count++] = i;
      task.status = std::max(task.status, p.status);
      if (p.ran && !task.ran) {  // the first part that ran replaces when a part was given up
        task.ran = true;
        task.start = p.start;
        task.end = p.end();
      } else if (p.ran) {
        task.start = std::min(task.start, p.start);
        task.end = std::max(task.end, p.end());
      } else if (!task.ran) {
        task.start = task.end = std::min(task.start, p.start);
      }
    }
  }

  // Time 0 is the first start of a part that ran (or the first timed event, in a trace where none ran).
  void shift_to_origin() {
    double origin = std::numeric_limits<double>::infinity();
    for (const Part& p : t_.parts)
      if (p.ran) origin = std::min(origin, p.start);
    if (origin == std::numeric_limits<double>::infinity()) {
      for (const Part& p : t_.parts) origin = std::min(origin, p.start);
      for (const Span& s : t_.spans) origin = std::min(origin, s.start);
      for (const Mark& m : t_.marks) origin = std::min(origin, m.ts);
    }
    if (origin == std::numeric_limits<double>::infinity()) origin = 0;
    t_.origin_us = origin;
    for (Part& p : t_.parts) p.start -= origin;
    for (Task& task : t_.tasks) {
      task.start -= origin;
      task.end -= origin;
    }
    for (Span& s : t_.spans) s.start -= origin;
    for (Mark& m : t_.marks) m.ts -= origin;
    t_.span_us = 0;
    for (const Part& p : t_.parts)
      if (p.ran) t_.span_us = std::max(t_.span_us, p.end());
  }

  // Track::parts (the parts that ran, by start) and Part::lane_pos.
  void fill_tracks() {
    for (uint32_t i = 0; i < t_.parts.size(); ++i)
      if (t_.parts[i].ran) t_.tracks[t_.parts[i].track].parts.push_back(i);
    for (Track& tr : t_.tracks) {
      std::stable_sort(tr.parts.begin(), tr.parts.end(), [&](uint32_t a, uint32_t b) {
        const Part &pa = t_.parts[a], &pb = t_.parts[b];
        return pa.start != pb.start ? pa.start < pb.start : pa.end() < pb.end();
      });
      for (uint32_t pos = 0; pos < tr.parts.size(); ++pos) t_.parts[tr.parts[pos]].lane_pos = pos;
    }
  }

  // A lane's sort key: its parent's key ("A" for "A / B"), then (sort index, name).
  using Key = std::vector<std::pair<int64_t, const std::string*>>;
  Key lane_key(uint32_t track, const std::unordered_map<std::string_view, uint32_t>& by_name, int depth) const {
    const Track& tr = t_.tracks[track];
    Key key;
    const size_t cut = tr.name.rfind(" / ");
    if (cut != std::string::npos && depth < 16) {
      auto parent = by_name.find(std::string_view(tr.name).substr(0, cut));
      if (parent != by_name.end() && parent->second != track) key = lane_key(parent->second, by_name, depth + 1);
    }
    key.emplace_back(tr.sort_index.value_or(std::numeric_limits<int64_t>::max()), &tr.name);
    return key;
  }

  void order_lanes() {
    std::unordered_map<std::string_view, uint32_t> by_name;
    for (uint32_t i = 0; i < t_.tracks.size(); ++i) {
      const Track& tr = t_.tracks[i];
      if (tr.orchestrator || (!tr.named && tr.parts.empty())) continue;
      t_.lanes.push_back(i);
      by_name.emplace(tr.name, i);
    }
    std::vector<std::pair<Key, uint32_t>> keyed;
    for (uint32_t lane : t_.lanes) keyed.emplace_back(lane_key(lane, by_name, 0), lane);
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
      return std::lexicographical_compare(a.first.begin(), a.first.end(), b.first.begin(), b.first.end(),
                                          [](const auto& x, const auto& y) {
                                            if (x.first != y.first) return x.first < y.first;
                                            return natural_less(*x.second, *y.second);
                                          });
    });
    for (size_t i = 0; i < keyed.size(); ++i) t_.lanes[i] = keyed[i].second;
  }

  Trace& t_;
  std::unordered_map<int64_t, uint32_t> track_ids_;
  std::unordered_map<std::string, uint32_t> graph_ids_, name_ids_;
};

// "[json.exception.parse_error.101] parse error at line 3, column 7: ..." without the bracketed prefix.
std::string plain_message(const std::exception& e) {
  std::string_view what = e.what();
  if (what.starts_with("[json.exception.")) {
    if (size_t close = what.find("] "); close != std::string_view::npos) what.remove_prefix(close + 2);
  }
  return std::string(what);
}

template <class Input>
Trace parse(Input&& input, const std::string& path) {
  Trace trace;
  trace.path = path;
  Loader loader(trace);
  std::string top_key;
  bool have_events = false;
  json::parser_callback_t on_value = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key) {
      top_key = parsed.get<std::string>();
    } else if (top_key == "traceEvents") {
      if (depth == 1 && event == json::parse_event_t::array_start) have_events = true;
      if (depth == 2 && event == json::parse_event_t::object_end) {
        loader.event(parsed);
        return false;  // handled: not kept in the array
      }
      if (depth == 2 && event == json::parse_event_t::value) return false;  // not an event object
    } else if (top_key == "otherData" && depth == 1 && event == json::parse_event_t::object_end) {
      loader.other_data(parsed);
    }
    return true;
  };
  json root;
  try {
    root = json::parse(std::forward<Input>(input), on_value);
  } catch (const json::exception& e) {
    throw TraceError("'" + path + "' is not valid JSON (" + plain_message(e) +
                     "); a trace cut short means its Worker did not close: rerun and let it close");
  }
  if (!root.is_object() || !have_events)
    throw TraceError("'" + path +
                     "' is not a strata trace: it has no \"traceEvents\" array (expected the Chrome trace-event "
                     "JSON file a Worker writes to the path STRATA_TRACE names)");
  loader.finish();
  return trace;
}

}  // namespace

Trace load_trace(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw TraceError("'" + path + "' is a directory, not a trace file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TraceError("cannot open '" + path + "': " + std::strerror(errno) + " (check the path)");
  return parse(in, path);
}

Trace parse_trace(const std::string& text, const std::string& path) { return parse(text, path); }

}  // namespace strata::trace_reader
