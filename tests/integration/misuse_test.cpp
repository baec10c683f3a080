// Integration tests of API misuse: each mistake is a UsageError with a message that says what was wrong,
// and nothing is lost — the same Worker then runs correctly.
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <strata/strata.hpp>
#include <string>

#include "integration/integration_util.hpp"
#include "support/proc_scan.hpp"

namespace {

using strata::DType;
using strata::TaskArgs;
using strata::Tensor;
using strata::test::capture;
using strata::test::zero;

class MisuseTest : public strata::test::LeakCheckedTest {};

// x[i] = v * i + 1
STRATA_KERNEL(m_fill) {
  int64_t* x = ctx.data<int64_t>(0);
  const int64_t v = ctx.scalar<int64_t>(0);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim())
    x[i] = v * static_cast<int64_t>(i) + 1;
}

void m_unregistered_fn(const strata::TaskContext&) {}

/// Runs m_fill with `v` on `chip` over a fresh buffer and checks the result: the Worker still works.
void expect_worker_runs(strata::Worker& w, strata::Kernel fill, int64_t v, int chip = 0) {
  auto x = w.create_buffer<int64_t>(50);
  zero(x);
  w.run([&](strata::Orchestrator& o) { o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(v), {}, chip); });
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], v * static_cast<int64_t>(i) + 1) << "element " << i;
}

TEST_F(MisuseTest, RunBeforeInit) {
  strata::Worker w({.chips = 1});
  auto fill = w.register_kernel("m_fill");
  auto err = capture<strata::UsageError>([&] { w.run([](strata::Orchestrator&) {}); }, "run() before init()");
  ASSERT_TRUE(err);
  STRATA_EXPECT_CONTAINS(err->what(), "init");
  w.init();
  expect_worker_runs(w, fill, 3);
  w.close();
}

TEST_F(MisuseTest, RegisterHostAfterInit) {
  strata::Worker w({.chips = 1, .sub_workers = 1});
  auto fill = w.register_kernel("m_fill");
  w.init();
  auto err = capture<strata::UsageError>([&] { w.register_host([](const strata::TaskContext&) {}, "m_late_host"); },
                                         "register_host() after init()");
  ASSERT_TRUE(err);
  STRATA_EXPECT_CONTAINS(err->what(), "init");
  expect_worker_runs(w, fill, 4);
  w.close();
}

TEST_F(MisuseTest, RegisterKernelFunctionAfterInit) {
  strata::Worker w({.chips = 1});
  w.init();
  auto err = capture<strata::UsageError>([&] { w.register_kernel("m_late_fn", &m_unregistered_fn); },
                                         "register_kernel(name, fn) after init()");
  ASSERT_TRUE(err);
  STRATA_EXPECT_CONTAINS(err->what(), "init");
  // A kernel linked into the program by STRATA_KERNEL may still be registered after init().
  auto fill = w.register_kernel("m_fill");
  expect_worker_runs(w, fill, 5);
  w.close();
}

TEST_F(MisuseTest, RegisterOrchAndAddWorkerAfterInit) {
  STRATA_SKIP_UNDER_TSAN();  // the node forks its chip from a forked process
  strata::Worker pod({.level = 4});
  strata::Worker& node = pod.add_worker({.chips = 1});
  auto fill = node.register_kernel("m_fill");
  auto orch = pod.register_orch(
      [fill](strata::Orchestrator& o, const strata::TaskContext& c) {
        o.submit(fill, TaskArgs().output_existing(c.tensor(0)).scalar(int64_t{6}), {}, 0);
      },
      "m_orch");
  pod.init();
  auto late_orch = capture<strata::UsageError>(
      [&] { pod.register_orch([](strata::Orchestrator&, const strata::TaskContext&) {}, "m_late_orch"); },
      "register_orch() after init()");
  ASSERT_TRUE(late_orch);
  STRATA_EXPECT_CONTAINS(late_orch->what(), "init");
  auto late_worker = capture<strata::UsageError>([&] { pod.add_worker({.chips = 1}); }, "add_worker() after init()");
  ASSERT_TRUE(late_worker);
  STRATA_EXPECT_CONTAINS(late_worker->what(), "init");

  auto x = pod.create_buffer<int64_t>(20);
  zero(x);
  pod.run([&](strata::Orchestrator& o) { o.submit(orch, TaskArgs().output_existing(x.tensor()), {}, 0); });
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], 6 * static_cast<int64_t>(i) + 1);
  pod.close();
}

TEST_F(MisuseTest, UnknownKernelName) {
  strata::Worker w({.chips = 1});
  auto before = capture<strata::UsageError>([&] { w.register_kernel("m_no_such_kernel"); }, "register_kernel(unknown)");
  ASSERT_TRUE(before);
  STRATA_EXPECT_CONTAINS(before->what(), "m_no_such_kernel");
  auto fill = w.register_kernel("m_fill");
  w.init();
  auto after = capture<strata::UsageError>([&] { w.register_kernel("m_still_no_such_kernel"); },
                                           "register_kernel(unknown) after init()");
  ASSERT_TRUE(after);
  STRATA_EXPECT_CONTAINS(after->what(), "m_still_no_such_kernel");
  expect_worker_runs(w, fill, 7);
  w.close();
}

TEST_F(MisuseTest, WorkerIndexOutOfRange) {
  strata::Worker w({.chips = 2, .sub_workers = 1});
  auto fill = w.register_kernel("m_fill");
  auto host = w.register_host([](const strata::TaskContext& c) { *c.data<int64_t>(0) = 42; }, "m_host");
  w.init();
  auto x = w.create_buffer<int64_t>(10);
  auto h = w.create_buffer<int64_t>(1);
  zero(x), zero(h);

  w.run([&](strata::Orchestrator& o) {
    auto chip2 = capture<strata::UsageError>(
        [&] { o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}), {}, 2); },
        "submit() to chip 2 of 2");
    ASSERT_TRUE(chip2);
    STRATA_EXPECT_CONTAINS(chip2->what(), "2");
    auto negative = capture<strata::UsageError>(
        [&] { o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}), {}, -7); },
        "submit() to chip -7");
    ASSERT_TRUE(negative);
    auto sub1 = capture<strata::UsageError>([&] { o.submit_host(host, TaskArgs().output_existing(h.tensor()), {}, 1); },
                                            "submit_host() to sub 1 of 1");
    ASSERT_TRUE(sub1);
    auto group = capture<strata::UsageError>(
        [&] {
          o.submit_group(fill,
                         {TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}), TaskArgs().scalar(int64_t{1})}, {},
                         {0, 3});
        },
        "submit_group() over chips {0, 3} of 2");
    ASSERT_TRUE(group);
    // Nothing was submitted by the failed calls; valid ones still work in the same run.
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{8}), {}, 1);
    o.submit_host(host, TaskArgs().output_existing(h.tensor()), {}, 0);
  });
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], 8 * static_cast<int64_t>(i) + 1);
  EXPECT_EQ(h[0], 42);
  w.close();
}

TEST_F(MisuseTest, ArgumentsTooLargeForAMailboxFrame) {
  strata::Worker w({.chips = 1});
  auto fill = w.register_kernel("m_fill");
  w.init();
  auto big = w.create_buffer<int64_t>(60);
  auto x = w.create_buffer<int64_t>(10);
  zero(x);

  w.run([&](strata::Orchestrator& o) {
    TaskArgs args;
    for (int i = 0; i < 60; ++i) args.input(Tensor::make(big.data() + i, {1, 1, 1, 1, 1, 1, 1, 1}, DType::I64));
    auto err = capture<strata::UsageError>([&] { o.submit(fill, args, {}, 0); }, "submit() with 60 tensors of 8 dims");
    ASSERT_TRUE(err);
    const std::string what = err->what();
    EXPECT_TRUE(what.find("frame") != std::string::npos || what.find("mailbox") != std::string::npos)
        << "the message does not say what limit was hit: " << what;
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{9}), {}, 0);
  });
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], 9 * static_cast<int64_t>(i) + 1);
  w.close();
}

TEST_F(MisuseTest, SubmitOutsideRun) {
  strata::Worker w({.chips = 1});
  auto fill = w.register_kernel("m_fill");
  w.init();
  auto x = w.create_buffer<int64_t>(10);
  zero(x);
  // A copy of the run's Orchestrator, kept past the run (calling through a dangling reference would be
  // undefined behaviour in the test itself).
  std::optional<strata::Orchestrator> kept;
  w.run([&](strata::Orchestrator& o) { kept.emplace(o); });

  auto submit = capture<strata::UsageError>(
      [&] { kept->submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}), {}, 0); },
      "submit() after its run returned");
  ASSERT_TRUE(submit);
  STRATA_EXPECT_CONTAINS(submit->what(), "run");
  auto alloc = capture<strata::UsageError>([&] { kept->alloc({4}, DType::F32); }, "alloc() after its run returned");
  ASSERT_TRUE(alloc);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], 0) << "a task submitted outside run() ran";

  // The stale Orchestrator stays stale during a later run too.
  w.run([&](strata::Orchestrator& o) {
    auto stale = capture<strata::UsageError>(
        [&] { kept->submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}), {}, 0); },
        "submit() through the previous run's Orchestrator");
    EXPECT_TRUE(stale);
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{2}), {}, 0);
  });
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], 2 * static_cast<int64_t>(i) + 1);
  w.close();
}

TEST_F(MisuseTest, DoubleClose) {
  strata::Worker w({.chips = 2});
  auto fill = w.register_kernel("m_fill");
  w.init();
  expect_worker_runs(w, fill, 10, 1);
  w.close();
  EXPECT_TRUE(strata::test::child_pids(getpid()).empty()) << "close() returned with children left";
  auto err = capture<strata::UsageError>([&] { w.close(); }, "a second close()");
  ASSERT_TRUE(err);
  STRATA_EXPECT_CONTAINS(err->what(), "close");
  auto run = capture<strata::UsageError>([&] { w.run([](strata::Orchestrator&) {}); }, "run() after close()");
  EXPECT_TRUE(run);
}

}  // namespace
