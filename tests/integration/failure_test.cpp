// Integration tests of failure (SPEC §3): a kernel or host callable that throws, a chip that crashes, a
// task past its timeout. Each checks the exception run() throws (task, child, message), that dependents
// did not run (their side effects are absent), and what the Worker does next.
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <strata/strata.hpp>
#include <string>

#include "integration/integration_util.hpp"

namespace {

using strata::TaskArgs;
using strata::test::capture;
using strata::test::Clock;
using strata::test::ms_since;
using strata::test::slice;
using strata::test::zero;

class FailureTest : public strata::test::LeakCheckedTest {};

// x[i] = v + i
STRATA_KERNEL(f_fill) {
  int64_t* x = ctx.data<int64_t>(0);
  const int64_t v = ctx.scalar<int64_t>(0);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) x[i] = v + static_cast<int64_t>(i);
}

// dst[i] = src[i] + 1
STRATA_KERNEL(f_copy_add) {
  const int64_t* src = ctx.data<int64_t>(0);
  int64_t* dst = ctx.data<int64_t>(1);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) dst[i] = src[i] + 1;
}

STRATA_KERNEL(f_throw) { throw std::runtime_error("boom " + std::to_string(ctx.scalar<int64_t>(0))); }

STRATA_KERNEL(f_crash) {
  (void)ctx;
  raise(SIGSEGV);
}

// Never returns by itself: only killing its chip ends it.
STRATA_KERNEL(f_block_forever) {
  (void)ctx;
  for (;;) pause();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

TEST_F(FailureTest, KernelThatThrowsFailsRunAndItsDependentsDoNotRun) {
  constexpr size_t kN = 64;
  strata::Worker w({.chips = 3, .sub_workers = 1});
  auto fill = w.register_kernel("f_fill");
  auto thrower = w.register_kernel("f_throw");
  auto copy_add = w.register_kernel("f_copy_add");
  auto mark = w.register_host([](const strata::TaskContext& c) { *c.data<int64_t>(1) = 1; }, "f_mark");
  w.init();
  auto x = w.create_buffer<int64_t>(kN);
  auto y = w.create_buffer<int64_t>(kN);
  auto z = w.create_buffer<int64_t>(kN);
  auto side = w.create_buffer<int64_t>(1);
  zero(x), zero(y), zero(z), zero(side);

  uint64_t thrower_id = 0;
  auto err = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{10}), {}, 0);
          thrower_id = o.submit(thrower, TaskArgs().inout(x.tensor()).scalar(int64_t{17}), {}, 1).id;
          o.submit(copy_add, TaskArgs().input(x.tensor()).output_existing(y.tensor()), {},
                   2);  // depends on the thrower
          o.submit(copy_add, TaskArgs().input(y.tensor()).output_existing(z.tensor()), {}, 0);  // depends on that one
          o.submit_host(mark, TaskArgs().input(z.tensor()).output_existing(side.tensor()));     // and so on
        });
      },
      "run() with a throwing kernel");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->task_id(), thrower_id);
  EXPECT_EQ(err->task_name(), "f_throw");
  EXPECT_EQ(err->child_kind(), strata::ChildKind::Chip);
  EXPECT_EQ(err->child_index(), 1);
  STRATA_EXPECT_CONTAINS(err->message(), "boom 17");
  STRATA_EXPECT_CONTAINS(err->what(), "f_throw");
  STRATA_EXPECT_CONTAINS(err->what(), "chip 1");
  STRATA_EXPECT_CONTAINS(err->what(), "boom 17");

  for (size_t i = 0; i < kN; ++i) {
    ASSERT_EQ(x[i], 10 + static_cast<int64_t>(i)) << "the producer before the failure ran";
    ASSERT_EQ(y[i], 0) << "a direct dependent of the failed task ran";
    ASSERT_EQ(z[i], 0) << "a transitive dependent of the failed task ran";
  }
  EXPECT_EQ(side[0], 0) << "the host task at the end of the poisoned chain ran";

  // The children are alive: the next run on the same Worker works.
  w.run([&](strata::Orchestrator& o) {
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{-3}), {}, 1);
    o.submit(copy_add, TaskArgs().input(x.tensor()).output_existing(y.tensor()), {}, 2);
    o.submit_host(mark, TaskArgs().input(y.tensor()).output_existing(side.tensor()));
  });
  for (size_t i = 0; i < kN; ++i) ASSERT_EQ(y[i], static_cast<int64_t>(i) - 2);
  EXPECT_EQ(side[0], 1);
  w.close();
}

TEST_F(FailureTest, KernelThatCrashesItsChipIsReportedAtOnceAndTheChipStaysDead) {
  strata::test::disable_core_dumps();
  constexpr size_t kN = 16;
  strata::Worker w({.chips = 2});
  auto fill = w.register_kernel("f_fill");
  auto crash = w.register_kernel("f_crash");
  auto copy_add = w.register_kernel("f_copy_add");
  w.init();
  auto x = w.create_buffer<int64_t>(kN);
  auto y = w.create_buffer<int64_t>(kN);
  zero(x), zero(y);

  const auto start = Clock::now();
  auto err = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}), {}, 0);
          o.submit(crash, TaskArgs().inout(x.tensor()), {}, 1);
          o.submit(copy_add, TaskArgs().input(x.tensor()).output_existing(y.tensor()), {}, 0);
        });
      },
      "run() with a crashing kernel");
  const double elapsed_ms = ms_since(start);
  ASSERT_TRUE(err);
  // The spec asks for milliseconds; 5 s is only an upper bound that no polling fallback could meet by luck.
  EXPECT_LT(elapsed_ms, 5000.0) << "the chip's death was noticed only after " << elapsed_ms << " ms";
  EXPECT_EQ(err->child_kind(), strata::ChildKind::Chip);
  EXPECT_EQ(err->child_index(), 1);
  EXPECT_EQ(err->task_name(), "f_crash");
  STRATA_EXPECT_CONTAINS(err->what(), "chip 1");
  for (size_t i = 0; i < kN; ++i) ASSERT_EQ(y[i], 0) << "the dependent of the crashed task ran";

  // Every later call says which child died, even a run that would only use the live chip.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto died = capture<strata::ChildDiedError>(
        [&] {
          w.run([&](strata::Orchestrator& o) {
            o.submit(fill, TaskArgs().output_existing(y.tensor()).scalar(int64_t{5}), {}, 0);
          });
        },
        "run() after a chip died");
    ASSERT_TRUE(died);
    STRATA_EXPECT_CONTAINS(died->what(), "chip 1");
  }
  EXPECT_NO_THROW(w.close());
}

TEST_F(FailureTest, HostCallableThatThrowsFailsRunAndTheWorkerStaysUsable) {
  constexpr size_t kN = 8;
  strata::Worker w({.chips = 1, .sub_workers = 2});
  auto fill = w.register_kernel("f_fill");
  auto copy_add = w.register_kernel("f_copy_add");
  auto check = w.register_host(
      [](const strata::TaskContext& c) {
        const int64_t got = c.data<int64_t>(0)[0];
        if (got != 4) throw std::runtime_error("host check failed: expected 4, got " + std::to_string(got));
        *c.data<int64_t>(1) = 1;
      },
      "f_check_four");
  w.init();
  auto x = w.create_buffer<int64_t>(kN);
  auto ok = w.create_buffer<int64_t>(1);
  auto after = w.create_buffer<int64_t>(1);
  zero(x), zero(ok), zero(after);

  auto err = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{3}), {}, 0);
          o.submit_host(check, TaskArgs().input(x.tensor()).output_existing(ok.tensor()), {}, 1);
          o.submit(copy_add, TaskArgs().input(ok.tensor()).output_existing(after.tensor()), {}, 0);  // depends on it
        });
      },
      "run() with a throwing host callable");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->child_kind(), strata::ChildKind::Sub);
  EXPECT_EQ(err->child_index(), 1);
  EXPECT_EQ(err->task_name(), "f_check_four");
  STRATA_EXPECT_CONTAINS(err->message(), "expected 4, got 3");
  STRATA_EXPECT_CONTAINS(err->what(), "expected 4, got 3");
  STRATA_EXPECT_CONTAINS(err->what(), "f_check_four");
  EXPECT_EQ(after[0], 0) << "the dependent of the failed host task ran";

  w.run([&](strata::Orchestrator& o) {
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{4}), {}, 0);
    o.submit_host(check, TaskArgs().input(x.tensor()).output_existing(ok.tensor()), {}, 1);
    o.submit(copy_add, TaskArgs().input(ok.tensor()).output_existing(after.tensor()), {}, 0);
  });
  EXPECT_EQ(ok[0], 1);
  EXPECT_EQ(after[0], 2);
  w.close();
}

TEST_F(FailureTest, TaskPastItsTimeoutFailsRunAndItsChipIsReportedDead) {
  strata::test::disable_core_dumps();
  strata::Worker w({.chips = 2});
  auto block = w.register_kernel("f_block_forever");
  auto fill = w.register_kernel("f_fill");
  w.init();
  auto x = w.create_buffer<int64_t>(4);
  zero(x);

  const auto start = Clock::now();
  auto err = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{9}), {}, 1);
          o.submit(block, TaskArgs(), {.timeout = std::chrono::milliseconds(300)}, 0);
        });
      },
      "run() with a task past its timeout");
  const double elapsed_ms = ms_since(start);
  ASSERT_TRUE(err);
  EXPECT_GE(elapsed_ms, 250.0) << "the task failed before its timeout could have passed";
  EXPECT_LT(elapsed_ms, 5000.0) << "a 300 ms task timeout took " << elapsed_ms << " ms to act";
  EXPECT_EQ(err->task_name(), "f_block_forever");
  EXPECT_EQ(err->child_kind(), strata::ChildKind::Chip);
  EXPECT_EQ(err->child_index(), 0);
  const std::string what = lower(err->what());
  EXPECT_TRUE(what.find("timeout") != std::string::npos || what.find("timed out") != std::string::npos)
      << "the error does not name the timeout: " << err->what();
  STRATA_EXPECT_CONTAINS(err->what(), "chip 0");
  EXPECT_EQ(x[0], 9) << "the independent task on the other chip ran";

  // A hung kernel cannot be taken back: its chip was killed, and the Worker says so.
  auto died = capture<strata::ChildDiedError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}), {}, 1);
        });
      },
      "run() after a task timeout");
  ASSERT_TRUE(died);
  STRATA_EXPECT_CONTAINS(died->what(), "chip 0");
  EXPECT_NO_THROW(w.close());
}

}  // namespace
