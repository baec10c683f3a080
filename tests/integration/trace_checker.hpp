// tests/integration/trace_checker.hpp — reads a trace file strata wrote and checks the rules every trace
// must keep, independently of the runtime's own code (parsed with nlohmann-json):
//   - it is a Chrome trace-event JSON object with a traceEvents array and strata's otherData;
//   - every flow (s/f pair) has both ends, once each;
//   - the complete slices of one track nest (each one lies inside the one it starts in, or after it);
//   - a task never starts before a producer it depends on has ended (args.deps), and a flow joins them.
// The tests then look tasks up by (graph, id) to check their child, status and count.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace strata::test {

struct TraceSlice {
  std::string name;
  std::string cat;
  int pid = 0;
  double ts = 0, dur = 0;
  nlohmann::json args;
};

struct TraceFile {
  nlohmann::json root;
  std::map<int, std::string> tracks;  // pid -> track name
  std::vector<TraceSlice> slices;     // every "X" event
  std::vector<nlohmann::json> instants;
  std::map<std::string, std::pair<int, int>> flows;  // id -> (starts, finishes)

  /// Slices of task `id` in `graph` (one per part; a task that never ran has one with ran=false).
  std::vector<const TraceSlice*> task(uint64_t id, const std::string& graph = "") const {
    std::vector<const TraceSlice*> out;
    for (const TraceSlice& s : slices)
      if (s.cat == "task" && s.args.value("task", uint64_t{0}) == id && s.args.value("graph", std::string()) == graph)
        out.push_back(&s);
    return out;
  }
  std::string track_of(const TraceSlice& s) const {
    auto it = tracks.find(s.pid);
    return it == tracks.end() ? "?" : it->second;
  }
  size_t count(const std::string& cat, const std::string& name) const {
    return static_cast<size_t>(std::count_if(slices.begin(), slices.end(),
                                             [&](const TraceSlice& s) { return s.cat == cat && s.name == name; }));
  }
  bool has_track(const std::string& name) const {
    for (const auto& [pid, n] : tracks)
      if (n == name) return true;
    return false;
  }
};

/// Loads `path` and checks the rules above (each failure is a test failure naming the culprit).
inline TraceFile load_and_check_trace(const std::string& path) {
  TraceFile t;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "no trace file at " << path;
  if (!in.good()) return t;
  t.root = nlohmann::json::parse(in, nullptr, false);
  EXPECT_FALSE(t.root.is_discarded()) << path << " is not valid JSON";
  if (t.root.is_discarded()) return t;
  EXPECT_TRUE(t.root.contains("traceEvents") && t.root["traceEvents"].is_array());
  EXPECT_TRUE(t.root.contains("otherData") && t.root["otherData"].contains("dropped_events"));
  for (const auto& e : t.root["traceEvents"]) {
    const std::string ph = e.value("ph", "");
    if (ph == "M" && e.value("name", "") == "process_name") {
      t.tracks[e["pid"].get<int>()] = e["args"]["name"].get<std::string>();
    } else if (ph == "X") {
      TraceSlice s{e.value("name", ""),   e.value("cat", ""),     e["pid"].get<int>(),
                   e["ts"].get<double>(), e["dur"].get<double>(), e.value("args", nlohmann::json::object())};
      EXPECT_GE(s.dur, 0) << "slice '" << s.name << "' has a negative duration";
      t.slices.push_back(std::move(s));
    } else if (ph == "s" || ph == "f") {
      auto& f = t.flows[e["id"].get<std::string>()];
      (ph == "s" ? f.first : f.second)++;
    } else if (ph == "i") {
      t.instants.push_back(e);
    }
  }
  for (const auto& [id, ends] : t.flows)
    EXPECT_TRUE(ends.first == 1 && ends.second == 1)
        << "flow '" << id << "' has " << ends.first << " starts and " << ends.second << " ends";
  // Nesting per track: sorted by start (longer first on ties), each slice starts after the enclosing
  // ones end, or ends inside them. Times are in microseconds with nanosecond decimals.
  constexpr double kSlack = 0.002;
  std::map<int, std::vector<const TraceSlice*>> by_track;
  for (const TraceSlice& s : t.slices) by_track[s.pid].push_back(&s);
  for (auto& [pid, list] : by_track) {
    std::sort(list.begin(), list.end(), [](const TraceSlice* a, const TraceSlice* b) {
      return a->ts != b->ts ? a->ts < b->ts : a->dur > b->dur;
    });
    std::vector<const TraceSlice*> open;
    for (const TraceSlice* s : list) {
      while (!open.empty() && open.back()->ts + open.back()->dur <= s->ts + kSlack) open.pop_back();
      if (!open.empty()) {
        const TraceSlice* outer = open.back();
        EXPECT_LE(s->ts + s->dur, outer->ts + outer->dur + kSlack)
            << "on track '" << t.track_of(*s) << "', '" << s->name << "' at " << s->ts << " overlaps '" << outer->name
            << "' at " << outer->ts << " without nesting in it";
      }
      open.push_back(s);
    }
  }
  // Dependencies: a consumer starts after each producer (of its graph) has ended.
  std::map<std::pair<std::string, uint64_t>, double> end_of;
  for (const TraceSlice& s : t.slices)
    if (s.cat == "task" && s.args.value("ran", false)) {
      auto key = std::make_pair(s.args.value("graph", std::string()), s.args["task"].get<uint64_t>());
      end_of[key] = std::max(end_of[key], s.ts + s.dur);
    }
  for (const TraceSlice& s : t.slices) {
    if (s.cat != "task" || !s.args.value("ran", false) || !s.args.contains("deps")) continue;
    const std::string graph = s.args.value("graph", std::string());
    for (const auto& d : s.args["deps"]) {
      auto it = end_of.find({graph, d.get<uint64_t>()});
      if (it == end_of.end()) continue;  // a producer that did not run (the consumer was poisoned)
      EXPECT_LE(it->second, s.ts + kSlack) << "task #" << s.args["task"] << " '" << s.name << "' started at " << s.ts
                                           << ", before its producer #" << d << " ended at " << it->second;
      const std::string flow =
          graph + ":dep-" + std::to_string(d.get<uint64_t>()) + "-" + std::to_string(s.args["task"].get<uint64_t>());
      EXPECT_EQ(t.flows.count(flow), 1u) << "no flow '" << flow << "' for a dependency";
    }
  }
  return t;
}

}  // namespace strata::test
