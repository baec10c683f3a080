// Integration tests of observation: the trace file of known graphs (every task part once, on the child
// that ran it, with its status; flows with both ends; slices that nest; consumers after producers), a
// trace written after failures, a death and an exception out of run(), one file for a level-4 pod,
// Worker::status() and on_progress during a run, the stall report and timeouts.stall, and no recorder
// at all when tracing is off.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <strata/strata.hpp>
#include <string>
#include <thread>
#include <vector>

#include "integration/integration_util.hpp"
#include "integration/internals.hpp"
#include "integration/trace_checker.hpp"
#include "trace/recorder.hpp"
#include "trace_analysis.hpp"
#include "trace_svg.hpp"

namespace {

namespace fs = std::filesystem;
using strata::ChildKind;
using strata::TaskArgs;
using strata::test::capture;
using strata::test::child_pid;
using strata::test::load_and_check_trace;
using strata::test::TraceFile;
using strata::test::zero;

class TraceTest : public strata::test::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    dir_ = fs::temp_directory_path() / ("strata-trace-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    LeakCheckedTest::TearDown();
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// Adds 1 to element 0 of tensor 0, once per task: only block 0 writes (blocks may run on several threads).
STRATA_KERNEL(tr_add) {
  if (ctx.block_idx() == 0) ++*ctx.data<int64_t>(0);
}
STRATA_KERNEL(tr_fail) {
  (void)ctx;
  throw std::runtime_error("tr_fail fired");
}
// Raises flag 0 (tensor 0), then sleeps `scalar 0` milliseconds.
STRATA_KERNEL(tr_flag_then_sleep) {
  strata::test::store_flag(ctx.data<uint64_t>(0), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(ctx.scalar<int64_t>(0)));
}
// Waits until flag 0 (tensor 0) is raised by someone else (at most the hand-shake bound).
STRATA_KERNEL(tr_wait_flag) {
  if (!strata::test::wait_flag_at_least(ctx.data<uint64_t>(0), 1, std::chrono::seconds(30)))
    throw std::runtime_error("tr_wait_flag: the flag was never raised");
}
// Never returns (until killed).
STRATA_KERNEL(tr_hang) {
  (void)ctx;
  for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

const strata::test::TraceSlice* only(const std::vector<const strata::test::TraceSlice*>& v) {
  return v.size() == 1 ? v[0] : nullptr;
}

// ---- known graphs -------------------------------------------------------------------------------------

TEST_F(TraceTest, EveryTaskPartAppearsOnceOnTheChildThatRanIt) {
  const std::string file = path("known.json");
  // Each run starts behind a gate that the run's first wait opens (on_progress runs inside it): every
  // task is submitted before any runs, so every chain task waits for its producer.
  strata::Buffer<uint64_t>* gate = nullptr;
  strata::Worker w({.chips = 3, .sub_workers = 1, .trace_path = file, .on_progress = [&](const strata::RunProgress&) {
                      strata::test::store_flag(gate->data(), 1);
                    }});
  auto add = w.register_kernel("tr_add");
  auto wait = w.register_kernel("tr_wait_flag");
  auto host = w.register_host([](const strata::TaskContext& c) { ++*c.data<int64_t>(0); }, "tr_host_add");
  w.init();
  auto x = w.create_buffer<int64_t>(16);
  zero(x);
  auto flag = w.create_buffer<uint64_t>(1);
  gate = &flag;
  struct Expect {
    uint64_t id;
    std::vector<std::string> children;  // per part; "chip *": any chip
  };
  std::vector<Expect> expected;
  for (int run = 0; run < 2; ++run) {
    zero(flag);
    w.run([&](strata::Orchestrator& o) {
      o.submit(wait, TaskArgs().input(flag.tensor()).inout(x.tensor({1})), {}, 0);
      // A chain alternating between chips 0 and 1.
      for (int i = 0; i < 6; ++i)
        expected.push_back(
            {o.submit(add, TaskArgs().inout(x.tensor({1})), {}, i % 2).id, {"chip " + std::to_string(i % 2)}});
      // Independent tasks on any chip.
      for (int i = 0; i < 4; ++i)
        expected.push_back(
            {o.submit(add, TaskArgs().inout(strata::test::slice(x, 2 + static_cast<size_t>(i), 1))).id, {"chip *"}});
      // A group over the three chips, each part on its own element.
      std::vector<TaskArgs> parts;
      for (int c = 0; c < 3; ++c)
        parts.push_back(TaskArgs().inout(strata::test::slice(x, 8 + static_cast<size_t>(c), 1)));
      expected.push_back({o.submit_group(add, parts, {.block_dim = 2}, {0, 1, 2}).id, {"chip 0", "chip 1", "chip 2"}});
      // A host callable on the sub, after the chain.
      expected.push_back({o.submit_host(host, TaskArgs().inout(x.tensor({1}))).id, {"sub 0"}});
    });
  }
  EXPECT_EQ(x[0], 2 * 7);
  w.close();

  const TraceFile t = load_and_check_trace(file);
  for (const char* track : {"orchestrator", "chip 0", "chip 1", "chip 2", "sub 0"})
    EXPECT_TRUE(t.has_track(track)) << "no track '" << track << "'";
  for (const Expect& e : expected) {
    auto slices = t.task(e.id);
    ASSERT_EQ(slices.size(), e.children.size()) << "task #" << e.id;
    for (const auto* s : slices) {
      EXPECT_EQ(s->args["status"], "ok") << "task #" << e.id;
      EXPECT_TRUE(s->args["ran"].get<bool>());
      const uint32_t part = s->args.value("part", 0u);
      const std::string track = t.track_of(*s);
      if (e.children[part] == "chip *")
        EXPECT_EQ(track.rfind("chip ", 0), 0u) << "task #" << e.id << " ran on " << track;
      else
        EXPECT_EQ(track, e.children[part]) << "task #" << e.id << " part " << part;
      EXPECT_EQ(s->args["worker"], track);
      ASSERT_TRUE(s->args.contains("tensors"));
      EXPECT_EQ(s->args["tensors"].size(), 1u);
      EXPECT_EQ(s->args["tensors"][0], "INOUT i64 [1]");
    }
    // Submitted on the orchestrator's track, with a flow to where it started.
    EXPECT_EQ(t.flows.count(":submit-" + std::to_string(e.id)), 1u) << "task #" << e.id;
  }
  // The group's parts carry its block_dim and their place.
  const auto group = t.task(expected[10].id);
  ASSERT_EQ(group.size(), 3u);
  EXPECT_EQ(group[0]->args["block_dim"], 2);
  EXPECT_EQ(group[0]->args["parts"], 3);
  // The chain's dependencies are flows from producer to consumer.
  EXPECT_EQ(t.flows.count(":dep-" + std::to_string(expected[0].id) + "-" + std::to_string(expected[1].id)), 1u);
  EXPECT_EQ(t.count("parent", "run"), 2u);
  EXPECT_EQ(t.count("parent", "drain"), 2u);
  EXPECT_EQ(t.count("parent", "init"), 1u);
  EXPECT_EQ(t.root["otherData"]["dropped_events"], 0);
}

TEST_F(TraceTest, FailedPoisonedAndCancelledTasksHaveTheirStatus) {
  const std::string file = path("failures.json");
  strata::Buffer<uint64_t>* gates = nullptr;
  strata::Worker* self = nullptr;
  // Both chips start behind a gate that only the run's waits open (on_progress runs inside them, after
  // every submit): chip 0 first, so the failure happens after everything was submitted; chip 1 once
  // the failure has been seen (two tasks finished: only chip 0's gate and the failure can finish before
  // chip 1's gate opens), so the task held back for it is cancelled, not run.
  strata::Worker w({.chips = 2, .trace_path = file, .on_progress = [&](const strata::RunProgress&) {
                      strata::test::store_flag(gates->data(), 1);
                      if (self->status().finished >= 2) strata::test::store_flag(gates->data() + 1, 1);
                    }});
  self = &w;
  auto add = w.register_kernel("tr_add");
  auto fail = w.register_kernel("tr_fail");
  auto wait = w.register_kernel("tr_wait_flag");
  w.init();
  auto flags = w.create_buffer<uint64_t>(2);
  gates = &flags;
  zero(flags);
  auto x = w.create_buffer<int64_t>(16);
  zero(x);
  uint64_t failed = 0, poisoned = 0, cancelled = 0;
  auto e = capture<strata::TaskError>([&] {
    w.run([&](strata::Orchestrator& o) {
      o.submit(wait, TaskArgs().input(strata::test::slice(flags, 0, 1)), {}, 0);
      o.submit(wait, TaskArgs().input(strata::test::slice(flags, 1, 1)), {}, 1);
      // Nine producers queued on chip 1 behind its gate: their consumer is held back by the parent.
      TaskArgs reads;
      for (size_t i = 0; i < 9; ++i) {
        o.submit(add, TaskArgs().inout(strata::test::slice(x, 4 + i, 1)), {}, 1);
        reads.input(strata::test::slice(x, 4 + i, 1));
      }
      failed = o.submit(fail, TaskArgs().output_existing(strata::test::slice(x, 0, 1)), {}, 0).id;
      poisoned = o.submit(add, TaskArgs().inout(strata::test::slice(x, 0, 1)), {}, 0).id;
      cancelled = o.submit(add, reads.output_existing(strata::test::slice(x, 1, 1)), {}, 0).id;
    });
  });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->task_id(), failed);
  w.close();
  const TraceFile t = load_and_check_trace(file);
  const auto* f = only(t.task(failed));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->args["status"], "failed");
  EXPECT_TRUE(f->args["ran"].get<bool>());
  EXPECT_NE(f->args["error"].get<std::string>().find("tr_fail fired"), std::string::npos);
  EXPECT_EQ(t.track_of(*f), "chip 0");
  const auto* p = only(t.task(poisoned));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->args["status"], "poisoned");
  EXPECT_FALSE(p->args["ran"].get<bool>());
  EXPECT_EQ(p->dur, 0);
  EXPECT_EQ(t.track_of(*p), "chip 0");
  const auto* c = only(t.task(cancelled));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->args["status"], "cancelled");
  EXPECT_FALSE(c->args["ran"].get<bool>());
  EXPECT_EQ(c->args["deps"].size(), 9u);
}

TEST_F(TraceTest, ADeathIsMarkedAndTheTraceIsStillWritten) {
  const std::string file = path("death.json");
  {
    strata::Worker w({.chips = 2, .trace_path = file});
    auto sleep = w.register_kernel("tr_flag_then_sleep");
    auto add = w.register_kernel("tr_add");
    w.init();
    auto flag = w.create_buffer<uint64_t>(1);
    auto x = w.create_buffer<int64_t>(1);
    zero(flag);
    uint64_t victim_task = 0;
    auto e = capture<strata::TaskError>([&] {
      w.run([&](strata::Orchestrator& o) {
        victim_task = o.submit(sleep, TaskArgs().output_existing(flag.tensor()).scalar(int64_t{60000}), {}, 1).id;
        o.submit(add, TaskArgs().inout(x.tensor()), {}, 0);
        ASSERT_TRUE(strata::test::wait_flag_at_least(flag.data(), 1, std::chrono::seconds(30)));
        kill(child_pid(w, ChildKind::Chip, 1), SIGKILL);
      });
    });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->task_id(), victim_task);
    // No close(): the destructor writes the trace too.
  }
  const TraceFile t = load_and_check_trace(file);
  bool died = false;
  for (const auto& i : t.instants)
    if (i.value("name", "") == "died" && t.tracks.at(i["pid"].get<int>()) == "chip 1") died = true;
  EXPECT_TRUE(died) << "no 'died' mark on chip 1's track";
  size_t failed = 0;
  for (const auto& s : t.slices)
    if (s.cat == "task" && s.args["status"] == "failed") {
      ++failed;
      EXPECT_NE(s.args["error"].get<std::string>().find("died"), std::string::npos);
      EXPECT_GT(s.dur, 0);
    }
  EXPECT_EQ(failed, 1u);
}

TEST_F(TraceTest, AnExceptionOutOfRunStillWritesTheTrace) {
  const std::string file = path("throw.json");
  strata::Worker w({.chips = 1, .trace_path = file});
  auto add = w.register_kernel("tr_add");
  w.init();
  auto x = w.create_buffer<int64_t>(1);
  auto e = capture<std::logic_error>([&] {
    w.run([&](strata::Orchestrator& o) {
      o.submit(add, TaskArgs().inout(x.tensor()));
      throw std::logic_error("orchestration gave up");
    });
  });
  ASSERT_TRUE(e);
  w.close();
  const TraceFile t = load_and_check_trace(file);
  EXPECT_EQ(t.count("task", "tr_add"), 1u);
  EXPECT_EQ(t.count("parent", "run"), 1u);
}

// ---- reading a trace ----------------------------------------------------------------------------------

STRATA_KERNEL(tr_sleep_ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ctx.scalar<int64_t>(0))); }
// Waits for flag tensor 1 to be raised, then sleeps `scalar 0` milliseconds.
STRATA_KERNEL(tr_gated_sleep_ms) {
  if (!strata::test::wait_flag_at_least(ctx.data<uint64_t>(1), 1, std::chrono::seconds(30)))
    throw std::runtime_error("tr_gated_sleep_ms: the gate never opened");
  std::this_thread::sleep_for(std::chrono::milliseconds(ctx.scalar<int64_t>(0)));
}

// 10 tasks of 20 ms alternating between chips 0 and 1, each reading the previous one's output, beside
// independent noise on chip 2 and the sub: the summary's critical path is exactly that chain, and the
// picture is well-formed XML with one lane per child.
TEST_F(TraceTest, TheSummaryFindsAKnownChainAndThePictureHasALanePerChild) {
  const std::string file = path("chain.json");
  std::vector<uint64_t> chain;
  {
    // Two gates, opened from inside the run's waits (on_progress), keep this independent of timing: the
    // chain's first task starts only once everything is submitted (each link then waits for the one
    // before), its last one ends only after all the noise has.
    strata::Buffer<uint64_t>* gates = nullptr;
    strata::Worker* self = nullptr;
    constexpr uint64_t kNoise = 40;
    strata::Worker w({.chips = 3, .sub_workers = 1, .trace_path = file, .on_progress = [&](const strata::RunProgress&) {
                        strata::test::store_flag(gates->data(), 1);
                        if (self->status().finished >= 9 + kNoise) strata::test::store_flag(gates->data() + 1, 1);
                      }});
    self = &w;
    auto sleep = w.register_kernel("tr_sleep_ms");
    auto gated = w.register_kernel("tr_gated_sleep_ms");
    auto noise = w.register_host(
        [](const strata::TaskContext&) { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }, "tr_noise");
    w.init();
    auto x = w.create_buffer<int64_t>(32);
    auto flags = w.create_buffer<uint64_t>(2);
    gates = &flags;
    zero(flags);
    w.run([&](strata::Orchestrator& o) {
      for (int i = 0; i < 10; ++i) {
        TaskArgs link = TaskArgs().inout(x.tensor({1}));
        if (i == 0 || i == 9) link.input(strata::test::slice(flags, i == 0 ? 0 : 1, 1));
        chain.push_back(o.submit(i == 0 || i == 9 ? gated : sleep, link.scalar(int64_t{20}), {}, i % 2).id);
        for (int k = 0; k < 2; ++k) {
          const size_t at = 1 + static_cast<size_t>(i * 2 + k);
          o.submit(sleep, TaskArgs().inout(strata::test::slice(x, at, 1)).scalar(int64_t{1}), {}, 2);
          o.submit_host(noise, TaskArgs());
        }
      }
    });
    w.close();
  }
  (void)load_and_check_trace(file);
  namespace tr = strata::trace_reader;
  const tr::Trace trace = tr::load_trace(file);
  const tr::Summary summary = tr::summarize(trace);
  ASSERT_TRUE(summary.critical_path);
  const tr::CriticalPath& path = *summary.critical_path;
  std::vector<uint64_t> on_path;
  for (const tr::PathStep& step : path.steps) on_path.push_back(trace.tasks[step.task].id);
  EXPECT_EQ(on_path, chain) << "the critical path is not the chain";
  for (size_t i = 1; i < path.steps.size(); ++i) EXPECT_EQ(path.steps[i].via, tr::Via::Dependency);
  EXPECT_GE(path.busy_us, 10 * 20'000.0);
  ASSERT_EQ(summary.lanes.size(), 4u);
  EXPECT_EQ(summary.failed + summary.poisoned + summary.cancelled, 0u);

  const std::string svg = this->path("chain.svg");
  {
    std::ofstream out(svg);
    tr::write_svg(trace, summary.critical_path, out);
  }
#ifdef STRATA_TEST_PYTHON
  const std::string check =
      std::string(STRATA_TEST_PYTHON) +
      " -c \"import sys, xml.etree.ElementTree as ET; "
      "svg = '{http://www.w3.org/2000/svg}'; "
      "lanes = [g.get('data-track') for g in ET.parse(sys.argv[1]).iter(svg + 'g') "
      "if g.get('class') == 'lane']; "
      "sys.exit(0 if lanes == ['chip 0', 'chip 1', 'chip 2', 'sub 0'] else print(lanes) or 1)\" " +
      svg;
  EXPECT_EQ(std::system(check.c_str()), 0) << "the SVG is not XML with one lane per child";
#else
  GTEST_SKIP() << "no Python interpreter to parse the SVG with";
#endif
}

// ---- pods ---------------------------------------------------------------------------------------------

TEST_F(TraceTest, APodWritesOneFileWithEveryLevel) {
  STRATA_SKIP_UNDER_TSAN();  // a node forks its chips from a forked process
  const std::string file = path("pod.json");
  constexpr int kNodes = 2;
  std::vector<uint64_t> pod_tasks;
  {
    strata::Worker pod({.level = 4, .trace_path = file});
    std::vector<strata::Kernel> add(kNodes);
    for (int n = 0; n < kNodes; ++n)
      add[static_cast<size_t>(n)] = pod.add_worker({.chips = 2}).register_kernel("tr_add");
    auto fn = pod.register_orch(
        [add](strata::Orchestrator& o, const strata::TaskContext& c) {
          int64_t* x = c.data<int64_t>(0) + c.worker_index() * 4;
          for (int i = 0; i < 4; ++i)
            o.submit(add[static_cast<size_t>(c.worker_index())], TaskArgs().inout(strata::Tensor::of(x, 1)), {}, i % 2);
        },
        "tr_node_chain");
    pod.init();
    auto x = pod.create_buffer<int64_t>(8);
    zero(x);
    pod.run([&](strata::Orchestrator& o) {
      for (int round = 0; round < 2; ++round)
        for (int n = 0; n < kNodes; ++n) pod_tasks.push_back(o.submit(fn, TaskArgs().inout(x.tensor()), {}, n).id);
    });
    EXPECT_EQ(x[0], 8);
    EXPECT_EQ(x[4], 8);
    pod.close();
  }
  const TraceFile t = load_and_check_trace(file);
  for (const char* track : {"orchestrator", "L3 worker 0", "L3 worker 1", "L3 worker 0 / chip 0",
                            "L3 worker 0 / chip 1", "L3 worker 1 / chip 0", "L3 worker 1 / chip 1"})
    EXPECT_TRUE(t.has_track(track)) << "no track '" << track << "'";
  // The pod's tasks ran on the L3 workers' tracks, each linked to the run it caused.
  for (uint64_t id : pod_tasks) {
    const auto* s = only(t.task(id));
    ASSERT_TRUE(s) << "pod task #" << id;
    EXPECT_EQ(t.track_of(*s).rfind("L3 worker ", 0), 0u);
    EXPECT_EQ(t.flows.count(":runs-" + std::to_string(id)), 1u) << "no flow from pod task #" << id << " to its run";
  }
  // Every level-3 Worker's own tasks are there: 4 per pod task, on its own chips.
  for (int n = 0; n < kNodes; ++n) {
    const std::string graph = "L3 worker " + std::to_string(n);
    size_t tasks = 0;
    for (const auto& s : t.slices)
      if (s.cat == "task" && s.args.value("graph", "") == graph) {
        ++tasks;
        EXPECT_EQ(t.track_of(s).rfind(graph + " / chip ", 0), 0u);
        EXPECT_EQ(s.args["status"], "ok");
      }
    EXPECT_EQ(tasks, 8u) << graph;
  }
  EXPECT_EQ(t.count("parent", "run"), 1u + 4u);  // the pod's run and one per pod task
}

// ---- status, progress and stalls ----------------------------------------------------------------------

TEST_F(TraceTest, StatusShowsTheRunningTaskAndWhatWaitsForIt) {
  strata::WorkerStatus seen;
  bool released = false;
  strata::Worker* self = nullptr;
  strata::Buffer<uint64_t>* flag_ptr = nullptr;
  strata::Worker w({.chips = 2, .on_progress = [&](const strata::RunProgress& p) {
                      // Called while the run waits: look once chip 0 runs the blocker, then let it go.
                      EXPECT_GE(p.submitted, 2u);
                      const strata::WorkerStatus st = self->status();
                      if (released || st.children.empty() || st.children[0].running_task == 0) return;
                      seen = st;
                      strata::test::store_flag(flag_ptr->data(), 1);
                      released = true;
                    }});
  self = &w;
  auto wait = w.register_kernel("tr_wait_flag");
  auto add = w.register_kernel("tr_add");
  w.init();
  auto flag = w.create_buffer<uint64_t>(1);
  flag_ptr = &flag;
  auto x = w.create_buffer<int64_t>(1);
  zero(flag);
  uint64_t blocker = 0, consumer = 0;
  w.run([&](strata::Orchestrator& o) {
    blocker = o.submit(wait, TaskArgs().input(flag.tensor()).output_existing(x.tensor()), {}, 0).id;
    consumer = o.submit(add, TaskArgs().inout(x.tensor()), {}, 1).id;
  });
  ASSERT_TRUE(released) << "on_progress never saw chip 0 running the blocker";
  EXPECT_TRUE(seen.in_run);
  EXPECT_EQ(seen.submitted, 2u);
  EXPECT_EQ(seen.finished, 0u);
  ASSERT_EQ(seen.children.size(), 2u);
  EXPECT_EQ(seen.children[0].name, "chip 0");
  EXPECT_EQ(seen.children[0].state, "ready");
  EXPECT_EQ(seen.children[0].running_task, blocker);
  EXPECT_EQ(seen.children[0].running_name, "tr_wait_flag");
  EXPECT_GT(seen.children[0].pid, 0);
  ASSERT_EQ(seen.unfinished_total, 2u);
  EXPECT_EQ(seen.unfinished[1].id, consumer);
  EXPECT_EQ(seen.unfinished[1].child, "chip 1");
  EXPECT_EQ(seen.unfinished[1].waits_for, std::vector<uint64_t>{blocker});
  const std::string text = seen.to_string();
  STRATA_EXPECT_CONTAINS(text, "chip 0 (pid ");
  STRATA_EXPECT_CONTAINS(text, "running task #" + std::to_string(blocker) + " 'tr_wait_flag'");
  STRATA_EXPECT_CONTAINS(
      text, "#" + std::to_string(consumer) + " 'tr_add' on chip 1, sent, waits for #" + std::to_string(blocker));
  // Between runs: nothing unfinished, the run over.
  const strata::WorkerStatus after = w.status();
  EXPECT_FALSE(after.in_run);
  EXPECT_EQ(after.finished, 2u);
  EXPECT_EQ(after.unfinished_total, 0u);
  w.close();
}

// A kernel that hangs, without a task timeout: the stall report names the chip and the task (within
// timeouts.stall_warn), and timeouts.stall fails the run with it; the Worker can be respawned and closed cleanly.
TEST_F(TraceTest, AHungKernelIsReportedAndStallTimeoutFailsTheRun) {
  strata::Worker w(
      {.chips = 2,
       .timeouts = {.stall_warn = std::chrono::milliseconds(100), .stall = std::chrono::milliseconds(1500)}});
  auto hang = w.register_kernel("tr_hang");
  auto add = w.register_kernel("tr_add");
  w.init();
  auto x = w.create_buffer<int64_t>(2);
  zero(x);
  uint64_t hung = 0;
  testing::internal::CaptureStderr();
  auto e = capture<strata::TimeoutError>([&] {
    w.run([&](strata::Orchestrator& o) {
      o.submit(add, TaskArgs().inout(x.tensor({1})), {}, 0);
      hung = o.submit(hang, TaskArgs().inout(strata::test::slice(x, 1, 1)), {}, 1).id;
    });
  });
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(e);
  const std::string task = "running task #" + std::to_string(hung) + " 'tr_hang'";
  // The warning came first, naming the chip and the task; then the timeout, with the same report.
  STRATA_EXPECT_CONTAINS(log, "has made no progress for");
  STRATA_EXPECT_CONTAINS(log, "chip 1 (pid ");
  STRATA_EXPECT_CONTAINS(log, task);
  STRATA_EXPECT_CONTAINS(e->what(), "no progress for");
  STRATA_EXPECT_CONTAINS(e->what(), "WorkerOptions::timeouts.stall");
  STRATA_EXPECT_CONTAINS(e->what(), task);
  EXPECT_EQ(x[0], 1);
  // The stuck chip was declared lost, as for a task timeout.
  EXPECT_EQ(w.status().children[1].state, "lost");
  w.respawn();
  w.run([&](strata::Orchestrator& o) { o.submit(add, TaskArgs().inout(x.tensor({1})), {}, 1); });
  EXPECT_EQ(x[0], 2);
  w.close();
}

TEST_F(TraceTest, NothingIsRecordedWhenTracingIsOff) {
  if (const char* env = std::getenv("STRATA_TRACE"); env && *env && std::string(env) != "off")
    GTEST_SKIP() << "STRATA_TRACE is set in this environment";
  const fs::path before = fs::current_path();
  fs::current_path(dir_);
  const uint64_t recorders = strata::trace::Recorder::created();
  {
    strata::Worker w({.chips = 2});
    auto add = w.register_kernel("tr_add");
    w.init();
    auto x = w.create_buffer<int64_t>(1);
    w.run([&](strata::Orchestrator& o) {
      for (int i = 0; i < 10; ++i) o.submit(add, TaskArgs().inout(x.tensor()), {}, i % 2);
    });
    w.close();
  }
  fs::current_path(before);
  EXPECT_EQ(strata::trace::Recorder::created(), recorders) << "a recorder was made with tracing off";
  EXPECT_TRUE(fs::is_empty(dir_)) << "a file was written with tracing off";
}

}  // namespace
