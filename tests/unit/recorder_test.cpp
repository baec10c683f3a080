// Unit tests of trace::Recorder on its own (no processes): the Chrome trace-event file it writes for
// what it is told, the bounded rings (the oldest events go, the file counts them), a task that never
// ran shown once per part, and a child Worker's spill region merged into its parent's file.
#include "trace/recorder.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using strata::ChildKind;
using strata::trace::Recorder;
using strata::trace::RecorderOptions;
using strata::trace::Status;

std::string temp_file(const std::string& name) {
  return (fs::temp_directory_path() / ("strata-recorder-" + std::to_string(getpid()) + "-" + name)).string();
}

json read(const std::string& path) {
  std::ifstream in(path);
  json j = json::parse(in);
  fs::remove(path);
  return j;
}

std::vector<json> tasks(const json& trace) {
  std::vector<json> out;
  for (const json& e : trace["traceEvents"])
    if (e.value("cat", "") == "task") out.push_back(e);
  return out;
}

const std::string kName = "k";

strata::trace::Submitted submit(uint64_t id, std::span<const strata::TaskArgs> parts, std::span<const int> members) {
  strata::trace::Submitted s;
  s.task = id;
  s.run = 1;
  s.name = &kName;
  s.parts = parts;
  s.members = members;
  s.ns = 1000 * static_cast<int64_t>(id);
  return s;
}

TEST(Recorder, KeepsTheNewestEventsPerTrackAndCountsTheRest) {
  const std::string path = temp_file("ring.json");
  RecorderOptions o;
  o.path = path;
  o.events_per_track = 4;
  o.counts[0] = 1;
  Recorder r(o);
  r.child_started(ChildKind::Chip, 0, 4242, 0, "chip 0");
  for (uint64_t id = 1; id <= 10; ++id) {
    r.submitted(submit(id, {}, {}));
    r.part_done(id, 0, ChildKind::Chip, 0, static_cast<int64_t>(id) * 1000, static_cast<int64_t>(id) * 1000 + 500,
                Status::Ok, "");
  }
  EXPECT_EQ(r.dropped(), 12u);  // 6 submits and 6 parts
  ASSERT_EQ(r.write(), "");
  const json t = read(path);
  EXPECT_EQ(t["otherData"]["dropped_events"], 12);
  const auto slices = tasks(t);
  ASSERT_EQ(slices.size(), 4u);
  for (size_t i = 0; i < slices.size(); ++i) {
    EXPECT_EQ(slices[i]["args"]["task"], 7 + i) << "the oldest are dropped, the newest kept in order";
    EXPECT_EQ(slices[i]["pid"], 4242);
    EXPECT_EQ(slices[i]["name"], "k");
    EXPECT_DOUBLE_EQ(slices[i]["dur"].get<double>(), 0.5);
  }
  bool said = false;
  for (const json& e : t["traceEvents"]) said |= e.value("name", "") == "events dropped";
  EXPECT_TRUE(said);
}

TEST(Recorder, ATaskThatNeverRanShowsOncePerPartWhereItWasAimed) {
  const std::string path = temp_file("unrun.json");
  RecorderOptions o;
  o.path = path;
  o.counts[0] = 2;
  Recorder r(o);
  r.child_started(ChildKind::Chip, 0, 100, 0, "chip 0");
  r.child_started(ChildKind::Chip, 1, 101, 0, "chip 1");
  std::vector<strata::TaskArgs> parts(2);
  const int members[] = {1, 0};
  r.submitted(submit(5, parts, members));
  r.task_done(5, Status::Cancelled, "not run: the run failed at task #4", 9000);
  ASSERT_EQ(r.write(), "");
  const auto slices = tasks(read(path));
  ASSERT_EQ(slices.size(), 2u);
  for (const json& s : slices) {
    EXPECT_EQ(s["args"]["status"], "cancelled");
    EXPECT_FALSE(s["args"]["ran"].get<bool>());
    EXPECT_EQ(s["dur"], 0);
    const int part = s["args"]["part"];
    EXPECT_EQ(s["pid"], part == 0 ? 101 : 100) << "part " << part;
    EXPECT_EQ(s["args"]["parts"], 2);
  }
}

TEST(Recorder, AChildWorkersSpillIsMergedIntoTheFile) {
  std::vector<unsigned char> region(1 << 16);
  auto* spill = reinterpret_cast<strata::trace::SpillHeader*>(region.data());
  {
    RecorderOptions inner;
    inner.spill = spill;
    inner.spill_bytes = region.size();
    inner.graph = "L3 worker 0";
    inner.counts[0] = 1;
    Recorder r(inner);
    r.child_started(ChildKind::Chip, 0, 300, 0, "chip 0");
    r.submitted(submit(1, {}, {}));
    r.part_done(1, 0, ChildKind::Chip, 0, 1000, 2000, Status::Ok, "");
    ASSERT_EQ(r.write(), "");
    EXPECT_EQ(spill->magic, strata::trace::kSpillMagic);
  }
  const std::string path = temp_file("pod.json");
  RecorderOptions top;
  top.path = path;
  top.level = 4;
  top.counts[2] = 2;
  Recorder r(top);
  r.child_started(ChildKind::Worker, 0, 200, 0, "L3 worker 0");
  r.child_started(ChildKind::Worker, 1, 201, 0, "L3 worker 1");
  std::vector<unsigned char> never(4096);  // worker 1 never wrote (it was killed)
  r.add_child_spill(0, spill);
  r.add_child_spill(1, reinterpret_cast<strata::trace::SpillHeader*>(never.data()));
  ASSERT_EQ(r.write(), "");
  const json t = read(path);
  bool inner_track = false, inner_task = false, missing = false;
  for (const json& e : t["traceEvents"]) {
    if (e.value("name", "") == "process_name" && e["args"]["name"] == "L3 worker 0 / chip 0") inner_track = true;
    if (e.value("cat", "") == "task" && e["args"]["graph"] == "L3 worker 0" && e["pid"] == 300) inner_task = true;
    if (e.value("name", "") == "child Worker trace missing" && e["args"]["worker"] == 1) missing = true;
  }
  EXPECT_TRUE(inner_track);
  EXPECT_TRUE(inner_task);
  EXPECT_TRUE(missing);
}

TEST(EventStore, RingsKeepTheNewestAndLogsForgetWholeChunksOnly) {
  strata::trace::EventRing<int> ring(3000);  // more than one chunk
  for (int i = 0; i < 5000; ++i) ring.push() = i;
  EXPECT_EQ(ring.size(), 3000u);
  EXPECT_EQ(ring.dropped(), 2000u);
  int expect = 2000;
  ring.for_each([&](int v) { EXPECT_EQ(v, expect++); });
  EXPECT_EQ(expect, 5000);

  strata::trace::ByteLog log;
  std::vector<uint64_t> at;
  std::vector<unsigned char> record(1000);
  for (int i = 0; i < 300; ++i) {  // 300 KB: records straddle the 64 KiB chunks
    std::fill(record.begin(), record.end(), static_cast<unsigned char>(i));
    at.push_back(log.append(record.data(), record.size()));
  }
  log.forget(at[200]);
  for (int i = 200; i < 300; ++i) {
    std::vector<unsigned char> back(1000);
    log.read(at[static_cast<size_t>(i)], back.data(), back.size());
    EXPECT_EQ(std::count(back.begin(), back.end(), static_cast<unsigned char>(i)), 1000) << "record " << i;
  }

  strata::trace::TextLog texts(2);
  EXPECT_EQ(texts.add(""), 0u);
  const uint64_t a = texts.add("a"), b = texts.add("b"), c = texts.add("c");
  EXPECT_EQ(texts.get(a), "");  // forgotten: only two are kept
  EXPECT_EQ(texts.get(b), "b");
  EXPECT_EQ(texts.get(c), "c");
  EXPECT_EQ(texts.get(0), "");
}

TEST(Recorder, AnUnwritablePathIsReportedNotThrown) {
  RecorderOptions o;
  o.path = "/nonexistent-dir-for-strata/trace.json";
  Recorder r(o);
  const std::string err = r.write();
  EXPECT_NE(err.find("cannot open '/nonexistent-dir-for-strata/trace.json'"), std::string::npos) << err;
}

}  // namespace
