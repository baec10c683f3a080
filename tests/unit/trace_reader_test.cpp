// Unit tests of the trace reader (tools/trace): loading trace files, the summary (per-child statistics,
// the critical path, failures, back-pressure), the SVG picture and the `strata trace` command line.
//
// Every trace is synthetic, written by TraceBuilder in the shape strata's recorder gives (absolute
// CLOCK_MONOTONIC microseconds, process tracks, task slices with args, flows and counters to ignore) into
// a temporary folder. The SvgSamples tests also leave their pictures in $TRACE_READER_SVG_DIR when it is
// set: a CTest checks them with Python's XML parser (tests/unit/CMakeLists.txt).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "trace_analysis.hpp"
#include "trace_cmd.hpp"
#include "trace_file.hpp"
#include "trace_svg.hpp"

namespace strata::trace_reader {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr double kBase = 5'000'000'000.0;  // the recorder's timestamps are absolute: 5000 s after boot
constexpr double kMs = 1000.0;

struct TaskSpec {
  std::vector<uint64_t> deps = {};
  std::string status = "ok";
  bool ran = true;
  int64_t run = 1;
  std::string graph = "";
  int part = -1;  // >= 0: one part of a group of `parts`
  int parts = 0;
  std::string error = "";
};

// Writes trace files in the recorder's format. Times are microseconds from kBase.
class TraceBuilder {
 public:
  static constexpr int kOrchestrator = 100;

  TraceBuilder() { track(kOrchestrator, "orchestrator", -1); }

  TraceBuilder& track(int pid, const std::string& name, int sort_index) {
    raw(json{{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"tid", pid}, {"args", {{"name", name}}}});
    raw(json{{"ph", "M"},
             {"name", "process_sort_index"},
             {"pid", pid},
             {"tid", pid},
             {"args", {{"sort_index", sort_index}}}});
    return *this;
  }
  // Tracks "chip 0" .. "chip n-1" with pids 1 .. n.
  TraceBuilder& chips(int n) {
    for (int i = 0; i < n; ++i) track(1 + i, "chip " + std::to_string(i), i);
    return *this;
  }
  TraceBuilder& task(int pid, uint64_t id, const std::string& name, double start_us, double dur_us,
                     const TaskSpec& spec = {}) {
    json args = {{"task", id},      {"ran", spec.ran},   {"status", spec.status}, {"graph", spec.graph},
                 {"run", spec.run}, {"deps", spec.deps}, {"block_dim", 1},        {"tensors", {"in f32 [4, 4]"}},
                 {"worker", "chip"}};
    if (spec.part >= 0) {
      args["part"] = spec.part;
      args["parts"] = spec.parts;
    }
    if (!spec.error.empty()) args["error"] = spec.error;
    raw(json{{"ph", "X"},
             {"cat", "task"},
             {"name", name},
             {"pid", pid},
             {"tid", pid},
             {"ts", kBase + start_us},
             {"dur", spec.ran ? dur_us : 0.0},
             {"args", args}});
    // What the recorder writes around a task, which the reader ignores.
    raw(json{{"ph", "X"},
             {"cat", "submit"},
             {"name", "submit " + name},
             {"pid", kOrchestrator},
             {"tid", kOrchestrator},
             {"ts", kBase + start_us - 5},
             {"dur", 0.001},
             {"args", {{"task", id}, {"graph", spec.graph}}}});
    raw(json{{"ph", "f"},
             {"bp", "e"},
             {"cat", "submit"},
             {"name", "submit"},
             {"id", "s" + std::to_string(id)},
             {"pid", pid},
             {"tid", pid},
             {"ts", kBase + start_us}});
    return *this;
  }
  TraceBuilder& span(const std::string& name, double start_us, double dur_us, int pid = kOrchestrator) {
    raw(json{{"ph", "X"},
             {"cat", "parent"},
             {"name", name},
             {"pid", pid},
             {"tid", pid},
             {"ts", kBase + start_us},
             {"dur", dur_us},
             {"args", {{"detail", "queue full"}}}});
    return *this;
  }
  TraceBuilder& mark(int pid, const std::string& name, double ts_us) {
    raw(json{{"ph", "i"},
             {"s", "p"},
             {"cat", "child"},
             {"name", name},
             {"pid", pid},
             {"tid", pid},
             {"ts", kBase + ts_us},
             {"args", {{"what", "signal 9"}}}});
    return *this;
  }
  TraceBuilder& raw(const json& event) {
    events_.push_back(event.dump());
    return *this;
  }
  // A task slice with only the arguments the reader needs, formatted directly: for traces of many
  // tasks, where building json objects would take seconds.
  TraceBuilder& bulk_task(int pid, uint64_t id, const std::string& name, double start_us, double dur_us,
                          const char* status) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "{\"ph\":\"X\",\"cat\":\"task\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,"
                  "\"args\":{\"task\":%llu,\"ran\":true,\"status\":\"%s\",\"graph\":\"\",\"run\":1}}",
                  name.c_str(), pid, pid, kBase + start_us, dur_us, static_cast<unsigned long long>(id), status);
    events_.emplace_back(line);
    return *this;
  }
  TraceBuilder& dropped(uint64_t n) {
    dropped_ = n;
    return *this;
  }

  // The file, one event a line as the recorder writes it.
  void write(const fs::path& path) const {
    std::ofstream out(path);
    out << "{\"traceEvents\":[";
    for (size_t i = 0; i < events_.size(); ++i) out << (i ? ",\n" : "\n") << events_[i];
    out << "\n],\"displayTimeUnit\":\"ms\",\"otherData\":"
        << json{{"strata_version", "0.1.0"}, {"dropped_events", dropped_}, {"clock", "CLOCK_MONOTONIC, microseconds"}}
               .dump()
        << "}\n";
    ASSERT_TRUE(out.good()) << "cannot write " << path;
  }

 private:
  std::vector<std::string> events_;  // dumped
  uint64_t dropped_ = 0;
};

class TraceReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("trace_reader_test." + std::to_string(getpid()) + "." + info->test_suite_name() + "." + info->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path file(const std::string& name) const { return dir_ / name; }
  Trace load(const TraceBuilder& b, const std::string& name = "trace.json") {
    b.write(file(name));
    return load_trace(file(name).string());
  }
  void write_text(const std::string& name, const std::string& text) { std::ofstream(file(name)) << text; }
  std::string svg_of(const Trace& t) {
    std::ostringstream out;
    write_svg(t, summarize(t).critical_path, out);
    return out.str();
  }
  // Writes an SVG sample where the XML check of tests/unit/CMakeLists.txt finds it (if asked for).
  void keep_sample(const std::string& name, const std::string& svg) {
    const char* dir = std::getenv("TRACE_READER_SVG_DIR");
    if (!dir || !*dir) return;
    fs::create_directories(dir);
    std::ofstream(fs::path(dir) / name) << svg;
  }

  fs::path dir_;
};

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + needle.size())) ++n;
  return n;
}

// The "chain" trace: ten 20 ms tasks alternating between chip 0 and chip 1, each depending on the one
// before (0.4 ms apart); short independent "noise" tasks on chip 2 and, between the chain's tasks, on
// chips 0 and 1. Chain tasks have ids 1..10, noise ids from 100.
TraceBuilder chain_trace() {
  TraceBuilder b;
  b.chips(3);
  uint64_t noise = 100;
  for (int i = 0; i < 10; ++i) {
    const double start = i * 20.4 * kMs;
    const int pid = 1 + i % 2;
    b.task(pid, static_cast<uint64_t>(i + 1), "step", start, 20 * kMs,
           {.deps = i ? std::vector<uint64_t>{static_cast<uint64_t>(i)} : std::vector<uint64_t>{}});
    // While the chain runs on one chip, the other runs two short independent tasks.
    const int other = 1 + (i + 1) % 2;
    b.task(other, noise++, "noise", start + 2 * kMs, 3 * kMs);
    b.task(other, noise++, "noise", start + 8 * kMs, 3 * kMs);
  }
  for (int i = 0; i < 30; ++i) b.task(3, noise++, "noise", i * 6 * kMs, 2 * kMs);
  return b;
}

// ---------------------------------------------------------------------------------------------------------
// Loading

TEST_F(TraceReaderTest, MissingFileSaysSo) {
  try {
    load_trace(file("nope.json").string());
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nope.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_trace(dir_.string()), TraceError);  // a directory
}

TEST_F(TraceReaderTest, InvalidJsonSaysWhere) {
  write_text("bad.json", "{\"traceEvents\":[{\"ph\":\"X\",]}");
  try {
    load_trace(file("bad.json").string());
    FAIL() << "no error";
  } catch (const TraceError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("is not valid JSON"), std::string::npos) << what;
    EXPECT_NE(what.find("line 1"), std::string::npos) << what;
    EXPECT_EQ(what.find("[json.exception"), std::string::npos) << what;
  }
  // Cut short, as when the writer was killed.
  chain_trace().write(file("full.json"));
  std::ifstream in(file("full.json"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_text("cut.json", text.substr(0, text.size() / 2));
  EXPECT_THROW(load_trace(file("cut.json").string()), TraceError);
  write_text("empty.json", "");
  EXPECT_THROW(load_trace(file("empty.json").string()), TraceError);
}

TEST_F(TraceReaderTest, JsonThatIsNotATraceSaysSo) {
  for (const std::string text : {"{\"foo\":1}", "[1,2,3]", "42", "{\"traceEvents\":{}}"}) {
    try {
      parse_trace(text, "x.json");
      FAIL() << "no error for " << text;
    } catch (const TraceError& e) {
      EXPECT_NE(std::string(e.what()).find("is not a strata trace"), std::string::npos) << e.what();
    }
  }
}

TEST_F(TraceReaderTest, ToleratesUnknownEventsAndMissingFields) {
  TraceBuilder b;
  b.chips(1)
      .task(1, 1, "k", 0, 10)
      .raw({{"ph", "C"}, {"name", "heap"}, {"pid", 100}, {"ts", kBase}, {"args", {{"bytes", 5}}}})
      .raw({{"ph", "s"}, {"cat", "dep"}, {"id", "x"}, {"pid", 1}, {"ts", kBase}})
      .raw({{"ph", "Q"}, {"weird", true}})
      .raw(json(7))
      .raw({{"ph", "X"}, {"cat", "task"}, {"name", "no id"}, {"pid", 1}, {"ts", kBase}, {"dur", 3}})
      .raw({{"ph", "X"}, {"cat", "task"}, {"name", "bare"}, {"pid", 1}, {"ts", kBase + 20}, {"args", {{"task", 2}}}});
  const Trace t = load(b);
  ASSERT_EQ(t.tasks.size(), 2u);
  EXPECT_EQ(t.tasks[1].run, -1);
  EXPECT_EQ(t.tasks[1].duration(), 0);
  EXPECT_EQ(t.tasks[1].status, TaskStatus::Ok);
  EXPECT_EQ(t.strata_version, "0.1.0");
  ASSERT_TRUE(t.dropped_events.has_value());
  EXPECT_EQ(*t.dropped_events, 0u);
}

TEST_F(TraceReaderTest, TimesStartAtTheFirstTask) {
  TraceBuilder b;
  b.chips(2).task(2, 1, "a", 500, 100).task(1, 2, "b", 300, 50).span("init", 0, 200);
  const Trace t = load(b);
  EXPECT_DOUBLE_EQ(t.origin_us, kBase + 300);
  EXPECT_DOUBLE_EQ(t.span_us, 300);
  EXPECT_DOUBLE_EQ(t.tasks[*t.find_task(0, 1)].start, 200);
  EXPECT_DOUBLE_EQ(t.spans[0].start, -300);
}

TEST_F(TraceReaderTest, LanesFollowSortIndexAndNestPodTracks) {
  TraceBuilder b;
  b.track(7, "L3 worker 0 / chip 1", 1)
      .track(6, "L3 worker 0 / chip 0", 0)
      .track(5, "L3 worker 1", 3)
      .track(4, "L3 worker 0", 2)
      .track(3, "chip 10", 99)
      .track(2, "chip 2", 99)
      .track(1, "chip 0", 0)
      .track(8, "sub 0", 1)
      .track(9, "renamed", 4)
      .track(9, "chip 0 (respawned 1)", 4);
  b.task(11, 1, "unnamed pid", 0, 5);
  const Trace t = load(b);
  std::vector<std::string> names;
  for (uint32_t lane : t.lanes) names.push_back(t.tracks[lane].name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"chip 0", "sub 0", "L3 worker 0", "L3 worker 0 / chip 0", "L3 worker 0 / chip 1",
                                      "L3 worker 1", "chip 0 (respawned 1)", "chip 2", "chip 10", "pid 11"}));
}

TEST_F(TraceReaderTest, GroupPartsMakeOneTask) {
  TraceBuilder b;
  b.chips(2)
      .task(1, 1, "allreduce", 0, 10 * kMs, {.part = 0, .parts = 2})
      .task(2, 1, "allreduce", 1 * kMs, 12 * kMs, {.status = "failed", .part = 1, .parts = 2, .error = "boom"});
  const Trace t = load(b);
  ASSERT_EQ(t.tasks.size(), 1u);
  const Task& task = t.tasks[0];
  EXPECT_EQ(task.part_count, 2u);
  EXPECT_DOUBLE_EQ(task.start, 0);
  EXPECT_DOUBLE_EQ(task.end, 13 * kMs);
  EXPECT_EQ(task.status, TaskStatus::Failed);
  EXPECT_EQ(task_place(t, task), "chip 0 +1");
  const Summary s = summarize(t);
  EXPECT_EQ(s.failed, 1u);
  ASSERT_EQ(s.lanes.size(), 2u);
  EXPECT_EQ(s.lanes[0].parts, 1u);
  EXPECT_EQ(s.lanes[1].parts, 1u);
}

// ---------------------------------------------------------------------------------------------------------
// Summary

TEST_F(TraceReaderTest, PerChildCountsBusyAndPercentiles) {
  TraceBuilder b;
  b.chips(3);
  // chip 0: 100 tasks of 1..100 us, back to back from 0 (5050 us busy).
  double at = 0;
  for (int i = 1; i <= 100; ++i) {
    b.task(1, static_cast<uint64_t>(i), "k", at, i);
    at += i;
  }
  // chip 1: two tasks, one ending at 10100 us: the span.
  b.task(2, 1000, "k", 0, 100).task(2, 1001, "k", 10000, 100);
  const Trace t = load(b);
  const Summary s = summarize(t);
  EXPECT_DOUBLE_EQ(t.span_us, 10100);
  ASSERT_EQ(s.lanes.size(), 3u);
  const LaneStats& c0 = s.lanes[0];
  EXPECT_EQ(t.tracks[c0.track].name, "chip 0");
  EXPECT_EQ(c0.parts, 100u);
  EXPECT_DOUBLE_EQ(c0.busy_us, 5050);
  EXPECT_NEAR(c0.busy_fraction, 5050.0 / 10100.0, 1e-12);
  EXPECT_DOUBLE_EQ(c0.p50_us, 50);
  EXPECT_DOUBLE_EQ(c0.p99_us, 99);
  EXPECT_DOUBLE_EQ(c0.max_us, 100);
  const LaneStats& c1 = s.lanes[1];
  EXPECT_EQ(c1.parts, 2u);
  EXPECT_NEAR(c1.busy_fraction, 200.0 / 10100.0, 1e-12);
  const LaneStats& c2 = s.lanes[2];  // named, idle
  EXPECT_EQ(c2.parts, 0u);
  EXPECT_EQ(c2.busy_fraction, 0);
  EXPECT_EQ(c2.max_us, 0);
  EXPECT_EQ(s.tasks, 102u);
  ASSERT_EQ(s.longest.size(), 10u);
  EXPECT_EQ(t.tasks[s.longest[0]].duration(), 100);
  EXPECT_EQ(t.tasks[s.longest[9]].duration(), 93);  // 100 (chip 0), 100, 100 (chip 1), 99, ..., 93
}

TEST_F(TraceReaderTest, CriticalPathOfAChainIsTheChain) {
  const Trace t = load(chain_trace());
  const Summary s = summarize(t);
  ASSERT_TRUE(s.critical_path.has_value());
  const CriticalPath& path = *s.critical_path;
  ASSERT_EQ(path.steps.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    const Task& task = t.tasks[path.steps[i].task];
    EXPECT_EQ(task.id, i + 1) << "step " << i;
    EXPECT_EQ(path.steps[i].via, i == 0 ? Via::Start : Via::Dependency) << "step " << i;
    EXPECT_NEAR(path.steps[i].wait_us, i == 0 ? 0 : 0.4 * kMs, 1e-6) << "step " << i;
  }
  EXPECT_NEAR(path.busy_us, 200 * kMs, 1e-6);
  EXPECT_NEAR(path.wait_us, 3.6 * kMs, 1e-6);
  EXPECT_NEAR(path.total_us, 203.6 * kMs, 1e-6);
  EXPECT_EQ(path.run, 1);
  EXPECT_EQ(path.run_ordinal, 1u);
  EXPECT_EQ(path.runs, 1u);
}

TEST_F(TraceReaderTest, WaitingForABusyChildIsALaneStep) {
  TraceBuilder b;
  b.chips(2)
      .task(1, 1, "first", 0, 10 * kMs)
      .task(2, 2, "producer", 0, 2 * kMs)
      // Depends on task 2 (long done) but had to wait for chip 0 to finish task 1.
      .task(1, 3, "second", 10.2 * kMs, 10 * kMs, {.deps = {2}});
  const Trace t = load(b);
  const auto path = summarize(t).critical_path;
  ASSERT_TRUE(path.has_value());
  ASSERT_EQ(path->steps.size(), 2u);
  EXPECT_EQ(t.tasks[path->steps[0].task].id, 1u);
  EXPECT_EQ(t.tasks[path->steps[1].task].id, 3u);
  EXPECT_EQ(path->steps[1].via, Via::Lane);
  EXPECT_EQ(t.tracks[path->steps[1].lane].name, "chip 0");
  EXPECT_NEAR(path->steps[1].wait_us, 0.2 * kMs, 1e-6);
  const json j = summary_json(t, summarize(t));
  EXPECT_EQ(j["critical_path"]["steps"][1]["via"], "waited for chip 0");
}

TEST_F(TraceReaderTest, ProducerOnTheSameChildIsADependency) {
  TraceBuilder b;
  b.chips(1).task(1, 1, "a", 0, 5 * kMs).task(1, 2, "b", 5 * kMs, 5 * kMs, {.deps = {1}});
  const Trace t = load(b);
  const auto path = summarize(t).critical_path;
  ASSERT_TRUE(path.has_value());
  ASSERT_EQ(path->steps.size(), 2u);
  EXPECT_EQ(path->steps[1].via, Via::Dependency);
}

TEST_F(TraceReaderTest, PathStopsWhenNothingEndedBeforeTheStart) {
  TraceBuilder b;
  // Task 2 depends on task 1, which ends 5 us after task 2 starts (beyond the 1 us slack).
  b.chips(2).task(1, 1, "a", 0, 10).task(2, 2, "b", 5, 100, {.deps = {1}});
  const Trace t = load(b);
  const auto path = summarize(t).critical_path;
  ASSERT_TRUE(path.has_value());
  ASSERT_EQ(path->steps.size(), 1u);
  EXPECT_EQ(t.tasks[path->steps[0].task].id, 2u);
}

TEST_F(TraceReaderTest, LongestRunIsChosen) {
  TraceBuilder b;
  b.chips(1)
      .task(1, 1, "r1", 0, 10 * kMs, {.run = 1})
      .task(1, 2, "r3", 20 * kMs, 30 * kMs, {.run = 3})
      .task(1, 3, "r5", 60 * kMs, 5 * kMs, {.run = 5})
      .task(1, 4, "r5", 65 * kMs, 5 * kMs, {.deps = {3}, .run = 5});
  const Trace t = load(b);
  const std::vector<RunInfo> runs = runs_of(t, 0);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2].run, 5);
  EXPECT_EQ(runs[2].tasks, 2u);
  const Summary summary = summarize(t);
  // Every run is listed with its own critical path.
  ASSERT_EQ(summary.runs.size(), 3u);
  EXPECT_EQ(summary.runs[2].run, 5);
  EXPECT_EQ(summary.runs[2].tasks, 2u);
  EXPECT_EQ(summary.runs[2].path_tasks, 2u);
  EXPECT_DOUBLE_EQ(summary.runs[2].path_us, 10 * kMs);
  EXPECT_DOUBLE_EQ(summary.runs[1].span_us, 30 * kMs);
  const auto& path = summary.critical_path;
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(path->run, 3);
  EXPECT_EQ(path->run_ordinal, 2u);
  EXPECT_EQ(path->runs, 3u);
  ASSERT_EQ(path->steps.size(), 1u);  // run 1's task on the same chip is not a predecessor
  const auto other = critical_path(t, 0, 5);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->steps.size(), 2u);
  EXPECT_FALSE(critical_path(t, 0, 4).has_value());
}

TEST_F(TraceReaderTest, PathUsesTheTopLevelGraphOrElseTheLastOne) {
  TraceBuilder b;
  b.track(5, "L3 worker 0", 0).track(6, "L3 worker 0 / chip 0", 0);
  b.task(6, 1, "inner", 0, 50 * kMs, {.graph = "L3 worker 0"});
  const Trace inner_only = load(b, "inner.json");
  ASSERT_TRUE(path_graph(inner_only).has_value());
  EXPECT_EQ(inner_only.graphs[*path_graph(inner_only)], "L3 worker 0");
  b.task(5, 1, "orchestration", 0, 10 * kMs);  // graph "", same id: a different task
  const Trace both = load(b, "both.json");
  EXPECT_EQ(both.tasks.size(), 2u);
  EXPECT_EQ(path_graph(both), 0u);
}

TEST_F(TraceReaderTest, FailuresAreCountedOncePerTask) {
  TraceBuilder b;
  b.chips(2)
      .task(1, 1, "ok", 0, 10)
      .task(1, 2, "bad", 10, 10, {.status = "failed", .error = "kernel returned 3"})
      .task(TraceBuilder::kOrchestrator, 3, "after bad", 20, 0, {.deps = {2}, .status = "poisoned", .ran = false})
      .task(2, 4, "cancelled", 20, 0, {.status = "cancelled", .ran = false})
      .task(1, 5, "group", 30, 5, {.status = "failed", .part = 0, .parts = 2})
      .task(2, 5, "group", 30, 5, {.status = "failed", .part = 1, .parts = 2});
  const Trace t = load(b);
  const Summary s = summarize(t);
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.poisoned, 1u);
  EXPECT_EQ(s.cancelled, 1u);
  EXPECT_EQ(s.ran_parts, 4u);
  ASSERT_EQ(s.lanes.size(), 2u);  // not the orchestrator
  EXPECT_EQ(s.lanes[0].parts, 3u);
  EXPECT_EQ(s.lanes[1].parts, 1u);  // the cancelled task never ran
  EXPECT_EQ(t.errors[t.parts[t.task_parts[t.tasks[1].first_part]].error], "kernel returned 3");
}

TEST_F(TraceReaderTest, BackPressureIsSummed) {
  TraceBuilder b;
  b.chips(1)
      .task(1, 1, "k", 0, 10 * kMs)
      .span("back-pressure", 1 * kMs, 1.5 * kMs)
      .span("back-pressure", 4 * kMs, 2.5 * kMs)
      .span("drain", 5 * kMs, 9 * kMs)
      .span("run", 0, 10 * kMs);
  // Waits strata merged into one span: what they blocked counts, not the span's length.
  b.raw(json{{"ph", "X"},
             {"cat", "parent"},
             {"name", "back-pressure"},
             {"pid", TraceBuilder::kOrchestrator},
             {"tid", TraceBuilder::kOrchestrator},
             {"ts", kBase + 5.5 * kMs},
             {"dur", 1 * kMs},
             {"args", {{"detail", "task ring full"}, {"waits", 10}, {"blocked_us", 0.25 * kMs}}}});
  const Summary s = summarize(load(b));
  EXPECT_EQ(s.backpressure_waits, 12u);
  EXPECT_DOUBLE_EQ(s.backpressure_us, 4.25 * kMs);
}

TEST_F(TraceReaderTest, DurationsPickTheirUnit) {
  EXPECT_EQ(format_duration(0), "0 us");
  EXPECT_EQ(format_duration(0.5), "0.50 us");
  EXPECT_EQ(format_duration(850), "850 us");
  EXPECT_EQ(format_duration(999.7), "1.00 ms");
  EXPECT_EQ(format_duration(12'500), "12.5 ms");
  EXPECT_EQ(format_duration(204'600), "205 ms");
  EXPECT_EQ(format_duration(3'200'000), "3.20 s");
  EXPECT_EQ(format_duration(125'000'000), "125 s");
}

TEST_F(TraceReaderTest, TextSummaryNamesEverything) {
  TraceBuilder b = chain_trace();
  b.span("back-pressure", 0, 1.5 * kMs).dropped(7);
  const Trace t = load(b, "chain.json");
  std::ostringstream out;
  print_summary(t, summarize(t), out);
  const std::string text = out.str();
  for (const std::string want :
       {"chain.json (strata 0.1.0)", "dropped events: 7", "chip 0", "chip 2", "critical path of run 1 of 1",
        "10 tasks, 200 ms running + 3.60 ms waiting = 204 ms", "dependency", "longest tasks",
        "back-pressure: 1.50 ms blocked in 1 wait", "0 failed, 0 poisoned, 0 cancelled"})
    EXPECT_NE(text.find(want), std::string::npos) << "no '" << want << "' in\n" << text;
  EXPECT_EQ(text.find(" \n"), std::string::npos) << "trailing blanks in\n" << text;
}

TEST_F(TraceReaderTest, LongPathsAreShortenedInText) {
  TraceBuilder b;
  b.chips(1);
  for (uint64_t i = 1; i <= 100; ++i) b.task(1, i, "link", static_cast<double>(i) * 10, 10, {.deps = {i - 1}});
  const Trace t = load(b);
  const Summary s = summarize(t);
  ASSERT_EQ(s.critical_path->steps.size(), 100u);
  std::ostringstream shortened, whole;
  print_summary(t, s, shortened);
  print_summary(t, s, whole, 0);
  EXPECT_NE(shortened.str().find("... 40 more tasks (--all lists them) ..."), std::string::npos) << shortened.str();
  EXPECT_EQ(count(shortened.str(), " link "), 60u + 10);  // + the ten longest tasks
  EXPECT_EQ(whole.str().find("more tasks"), std::string::npos);
  EXPECT_EQ(count(whole.str(), " link "), 100u + 10);
}

TEST_F(TraceReaderTest, JsonSummaryHasTheNumbers) {
  const Trace t = load(chain_trace());
  const json j = summary_json(t, summarize(t));
  EXPECT_EQ(j["lanes"].size(), 3u);
  EXPECT_EQ(j["lanes"][0]["track"], "chip 0");
  EXPECT_EQ(j["lanes"][0]["parts"], 15);
  EXPECT_EQ(j["critical_path"]["steps"].size(), 10u);
  EXPECT_EQ(j["critical_path"]["steps"][3]["via"], "dependency");
  EXPECT_EQ(j["critical_path"]["steps"][0]["via"], "start");
  EXPECT_EQ(j["longest_tasks"].size(), 10u);
  EXPECT_EQ(j["longest_tasks"][0]["name"], "step");
  EXPECT_EQ(j["dropped_events"], 0);
  EXPECT_EQ(j["failed"], 0);
}

// ---------------------------------------------------------------------------------------------------------
// SVG

TEST_F(TraceReaderTest, SvgHasOneLanePerChildAndTheParts) {
  TraceBuilder b = chain_trace();
  b.task(3, 500, "broken", 99 * kMs, 2 * kMs, {.status = "failed", .error = "bad <input>"});
  b.mark(3, "died", 150 * kMs);
  const Trace t = load(b);
  const std::string svg = svg_of(t);
  keep_sample("three_chips.svg", svg);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(count(svg, "<g class=\"lane\""), 3u);
  for (const std::string lane : {"chip 0", "chip 1", "chip 2"})
    EXPECT_NE(svg.find("data-track=\"" + lane + "\">"), std::string::npos) << lane;
  EXPECT_EQ(count(svg, "class=\"task critical\""), 10u);
  EXPECT_EQ(count(svg, "class=\"task failed\""), 1u);
  EXPECT_EQ(count(svg, "<rect class=\"task"), t.parts.size());
  EXPECT_EQ(count(svg, "<title>step\ntask "), 10u);  // every box has its tooltip
  EXPECT_NE(svg.find("bad &lt;input&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">0 ms</text>"), std::string::npos);
  EXPECT_NE(svg.find(">50 ms</text>"), std::string::npos);
  EXPECT_NE(svg.find("class=\"legend\""), std::string::npos);
  EXPECT_NE(svg.find(">noise</text></g>"), std::string::npos);  // a legend entry
  EXPECT_EQ(count(svg, "class=\"mark\""), 1u);
  // The chain hops between chips 0 and 1 at each of its 9 dependencies: a line for each.
  const size_t links = svg.find("<g class=\"critical-links\"");
  ASSERT_NE(links, std::string::npos);
  EXPECT_EQ(count(svg.substr(links, svg.find("</g>", links) - links), "<line "), 9u);
  EXPECT_NE(svg.find("width=\"1600\""), std::string::npos);
  // Balanced elements (Python's XML parser checks the samples fully).
  EXPECT_EQ(count(svg, "<g "), count(svg, "</g>"));
  EXPECT_EQ(count(svg, "<title>"), count(svg, "</title>"));
  EXPECT_EQ(count(svg, "<text "), count(svg, "</text>"));
}

TEST_F(TraceReaderTest, SvgEscapesNames) {
  TraceBuilder b;
  b.track(1, "chip <0> & \"friends\"", 0).task(1, 1, "k<&\">'", 0, 10 * kMs).task(1, 2, "ctl\x01x", 10 * kMs, 1);
  const Trace t = load(b);
  const std::string svg = svg_of(t);
  keep_sample("escaped.svg", svg);
  EXPECT_NE(svg.find("data-track=\"chip &lt;0&gt; &amp; &quot;friends&quot;\""), std::string::npos);
  EXPECT_NE(svg.find("k&lt;&amp;&quot;&gt;&apos;"), std::string::npos);
  EXPECT_EQ(svg.find("k<&"), std::string::npos);
  EXPECT_EQ(svg.find('\x01'), std::string::npos);
  EXPECT_EQ(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
}

TEST_F(TraceReaderTest, SvgOfAHugeTraceStaysSmall) {
  // 200k tasks of 10 us over 4 chips (50k under a sanitizer, which slows this single-threaded code
  // 3-10x and adds nothing to it): each far under a pixel at 1600 px over 0.1-0.5 s.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr int kPerChip = 12'500;
#else
  constexpr int kPerChip = 50'000;
#endif
  TraceBuilder b;
  b.chips(4);
  uint64_t id = 1;
  for (int chip = 0; chip < 4; ++chip)
    for (int i = 0; i < kPerChip; ++i, ++id)
      b.bulk_task(1 + chip, id, "k" + std::to_string(id % 5), i * 10.0, 9.0, id % 10'000 == 0 ? "failed" : "ok");
  const Trace t = load(b);
  ASSERT_EQ(t.tasks.size(), 4u * kPerChip);
  const std::string svg = svg_of(t);
  keep_sample("huge.svg", svg);
  EXPECT_LT(svg.size(), 2u * 1024 * 1024);
  EXPECT_EQ(count(svg, "<g class=\"lane\""), 4u);
  EXPECT_GT(count(svg, "class=\"density\""), 0u);
  EXPECT_LT(count(svg, "<rect"), 4u * 3 * 1400 + 100);
  EXPECT_GT(count(svg, "class=\"failed\""), 0u);
  EXPECT_EQ(count(svg, "<rect class=\"task"), 0u);
}

TEST_F(TraceReaderTest, SvgOfATraceWithoutTasks) {
  TraceBuilder b;
  b.chips(2);
  const std::string svg = svg_of(load(b));
  keep_sample("empty.svg", svg);
  EXPECT_EQ(count(svg, "<g class=\"lane\""), 2u);
  EXPECT_EQ(count(svg, "<rect class=\"task"), 0u);
}

// ---------------------------------------------------------------------------------------------------------
// The command line

int run_trace(std::vector<std::string> args, std::string* out = nullptr, std::string* err = nullptr) {
  args.insert(args.begin(), "trace");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int rc = tool::trace_main(static_cast<int>(args.size()), argv.data());
  const std::string o = ::testing::internal::GetCapturedStdout(), e = ::testing::internal::GetCapturedStderr();
  if (out) *out = o;
  if (err) *err = e;
  return rc;
}

TEST_F(TraceReaderTest, CommandLineUsageAndErrors) {
  std::string out, err;
  EXPECT_EQ(run_trace({"--help"}, &out), 0);
  EXPECT_NE(out.find("summary FILE"), std::string::npos);
  EXPECT_NE(out.find("svg FILE -o OUT.svg"), std::string::npos);
  EXPECT_EQ(run_trace({"summary", "--help"}, &out), 0);
  EXPECT_EQ(run_trace({}, nullptr, &err), 2);
  EXPECT_EQ(err.rfind("strata trace: ", 0), 0u) << err;
  EXPECT_EQ(run_trace({"frobnicate"}, nullptr, &err), 2);
  EXPECT_NE(err.find("unknown command 'frobnicate'"), std::string::npos) << err;
  EXPECT_EQ(run_trace({"summary"}, nullptr, &err), 2);
  EXPECT_EQ(err.rfind("strata trace summary: ", 0), 0u) << err;
  EXPECT_EQ(run_trace({"summary", "a.json", "--bogus"}, nullptr, &err), 2);
  EXPECT_NE(err.find("unknown option '--bogus'"), std::string::npos) << err;
  EXPECT_EQ(run_trace({"summary", "a.json", "b.json"}, nullptr, &err), 2);
  EXPECT_EQ(run_trace({"svg", "a.json"}, nullptr, &err), 2);
  EXPECT_NE(err.find("--output"), std::string::npos) << err;
  EXPECT_EQ(run_trace({"summary", file("missing.json").string()}, nullptr, &err), 1);
  EXPECT_EQ(err.rfind("strata trace: cannot open '", 0), 0u) << err;
  write_text("bad.json", "{");
  EXPECT_EQ(run_trace({"svg", file("bad.json").string(), "-o", file("x.svg").string()}, nullptr, &err), 1);
  EXPECT_EQ(err.rfind("strata trace: ", 0), 0u) << err;
  EXPECT_FALSE(fs::exists(file("x.svg")));
}

TEST_F(TraceReaderTest, CommandLineSummaryAndSvg) {
  chain_trace().write(file("chain.json"));
  std::string out, err;
  ASSERT_EQ(run_trace({"summary", file("chain.json").string()}, &out, &err), 0) << err;
  EXPECT_NE(out.find("critical path of run 1 of 1"), std::string::npos) << out;
  ASSERT_EQ(run_trace({"summary", "--json", file("chain.json").string()}, &out, &err), 0) << err;
  const json j = json::parse(out);
  EXPECT_EQ(j["critical_path"]["steps"].size(), 10u);
  ASSERT_EQ(run_trace({"svg", file("chain.json").string(), "--output=" + file("chain.svg").string()}, &out, &err), 0)
      << err;
  EXPECT_TRUE(out.empty());
  EXPECT_GT(fs::file_size(file("chain.svg")), 1000u);
  ASSERT_EQ(run_trace({"svg", "-o", "-", file("chain.json").string(), "--width", "800"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("width=\"800\""), std::string::npos);
  EXPECT_EQ(run_trace({"svg", file("chain.json").string(), "-o", file("no/such/dir/x.svg").string()}, nullptr, &err),
            1);
  EXPECT_NE(err.find("cannot write"), std::string::npos) << err;
}

}  // namespace
}  // namespace strata::trace_reader
