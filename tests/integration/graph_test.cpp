// Integration tests of the task graph: dependencies inferred from tags across chip processes, OUTPUT
// auto-allocation and scopes, NO_DEP, group tasks and task-ring back-pressure. Every expected value is
// computed here, in the test process, from the same inputs.
#include <chrono>
#include <cstdint>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <strata/strata.hpp>
#include <string>
#include <vector>

#include "integration/integration_util.hpp"

namespace {

using strata::DType;
using strata::TaskArgs;
using strata::Tensor;
using strata::test::capture;
using strata::test::kHandshakeTimeout;
using strata::test::slice;
using strata::test::zero;

class GraphTest : public strata::test::LeakCheckedTest {};

// y[i] = x[i] * x[i] + c
STRATA_KERNEL(g_square_plus) {
  const int64_t* x = ctx.data<int64_t>(0);
  int64_t* y = ctx.data<int64_t>(1);
  const int64_t c = ctx.scalar<int64_t>(0);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) y[i] = x[i] * x[i] + c;
}

// out[0] = sum of in (block 0 only, so block_dim does not matter)
STRATA_KERNEL(g_sum) {
  if (ctx.block_idx() != 0) return;
  const int64_t* in = ctx.data<int64_t>(0);
  int64_t s = 0;
  for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) s += in[i];
  *ctx.data<int64_t>(1) = s;
}

// z[i] = y[i] * scale - total[0]
STRATA_KERNEL(g_center) {
  const int64_t* y = ctx.data<int64_t>(0);
  const int64_t total = *ctx.data<int64_t>(1);
  int64_t* z = ctx.data<int64_t>(2);
  const int64_t scale = ctx.scalar<int64_t>(0);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) z[i] = y[i] * scale - total;
}

// x[i] = a * i + b
STRATA_KERNEL(g_fill_affine) {
  int64_t* x = ctx.data<int64_t>(0);
  const int64_t a = ctx.scalar<int64_t>(0), b = ctx.scalar<int64_t>(1);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim())
    x[i] = a * static_cast<int64_t>(i) + b;
}

// dst[i] = src[i]
STRATA_KERNEL(g_copy) {
  const int64_t* src = ctx.data<int64_t>(0);
  int64_t* dst = ctx.data<int64_t>(1);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) dst[i] = src[i];
}

// x[i] = x[i] * mul + add (not commutative across calls: the order of a chain shows in the result)
STRATA_KERNEL(g_affine_inplace) {
  int64_t* x = ctx.data<int64_t>(0);
  const int64_t mul = ctx.scalar<int64_t>(0), add = ctx.scalar<int64_t>(1);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) x[i] = x[i] * mul + add;
}

// flags[1] = 1000 + scalar, once flags[0] has been set by a task that runs at the same time.
STRATA_KERNEL(g_wait_flag_then_mark) {
  uint64_t* flags = ctx.data<uint64_t>(0);
  if (!strata::test::wait_flag_at_least(&flags[0], 1, kHandshakeTimeout))
    throw std::runtime_error("flag never set: the NO_DEP task did not run while this one was running");
  flags[1] = 1000 + ctx.scalar<uint64_t>(0);
}

// flags[0] = 1
STRATA_KERNEL(g_set_flag) { strata::test::store_flag(&ctx.data<uint64_t>(0)[0], 1); }

// out[0] = in[1]
STRATA_KERNEL(g_copy_second) { ctx.data<uint64_t>(1)[0] = ctx.data<uint64_t>(0)[1]; }

// One part of a group: arrive at a barrier shared by all parts (so the parts provably run at the same
// time), then record who ran it.
STRATA_KERNEL(g_group_part) {
  uint64_t* barrier = ctx.data<uint64_t>(0);
  int64_t* out = ctx.data<int64_t>(1);
  strata::test::add_flag(barrier, 1);
  if (!strata::test::wait_flag_at_least(barrier, ctx.parts(), kHandshakeTimeout))
    throw std::runtime_error("group part " + std::to_string(ctx.part()) +
                             " waited alone: parts did not start together");
  out[0] = ctx.part();
  out[1] = ctx.parts();
  out[2] = ctx.worker_index();
  out[3] = 7 * ctx.scalar<int64_t>(0);
}

// dst = concat(src0, src1)
STRATA_KERNEL(g_concat2) {
  const size_t n0 = ctx.tensor(0).numel(), n1 = ctx.tensor(1).numel();
  int64_t* dst = ctx.data<int64_t>(2);
  for (size_t i = 0; i < n0; ++i) dst[i] = ctx.data<int64_t>(0)[i];
  for (size_t i = 0; i < n1; ++i) dst[n0 + i] = ctx.data<int64_t>(1)[i];
}

constexpr uint64_t kLcgMul = 6364136223846793005ull;

// x[0] = x[0] * kLcgMul + step (mod 2^64)
STRATA_KERNEL(g_lcg_step) {
  uint64_t* x = ctx.data<uint64_t>(0);
  x[0] = x[0] * kLcgMul + ctx.scalar<uint64_t>(0);
}

// out[i] = i * i + 1 for the scalar i; the tensor is NO_DEP (independent tasks on disjoint elements).
STRATA_KERNEL(g_write_square) {
  const uint64_t i = ctx.scalar<uint64_t>(0);
  ctx.data<uint64_t>(0)[i] = i * i + 1;
}

// Waits until flags[0] is set, then counts itself in flags[1].
STRATA_KERNEL(g_block_until_flag) {
  uint64_t* flags = ctx.data<uint64_t>(0);
  if (!strata::test::wait_flag_at_least(&flags[0], 1, std::chrono::seconds(10)))
    throw std::runtime_error("release flag never set");
  strata::test::add_flag(&flags[1], 1);
}

TEST_F(GraphTest, FanOutFanInOverFourChipsAndHostHelper) {
  constexpr int kChips = 4;
  constexpr size_t kPer = 1000, kN = kChips * kPer;
  strata::Worker w({.chips = kChips, .sub_workers = 1});
  auto square = w.register_kernel("g_square_plus");
  auto sum = w.register_kernel("g_sum");
  auto center = w.register_kernel("g_center");
  auto host_total = w.register_host(
      [](const strata::TaskContext& c) {
        int64_t t = 0;
        for (size_t i = 0; i + 1 < c.tensor_count(); ++i) t += *c.data<int64_t>(i);
        *c.data<int64_t>(c.tensor_count() - 1) = t;
      },
      "g_host_total");
  w.init();
  auto x = w.create_buffer<int64_t>(kN);
  auto y = w.create_buffer<int64_t>(kN);
  auto z = w.create_buffer<int64_t>(kN);
  auto partial = w.create_buffer<int64_t>(kChips);
  auto total = w.create_buffer<int64_t>(1);
  for (size_t i = 0; i < kN; ++i) x[i] = static_cast<int64_t>(i % 97) - 40;
  zero(y), zero(z), zero(partial), zero(total);
  constexpr int64_t kC = 3, kScale = 5;

  w.run([&](strata::Orchestrator& o) {
    // Fan out: chip c squares its slice.
    for (int c = 0; c < kChips; ++c)
      o.submit(square, TaskArgs().input(slice(x, c * kPer, kPer)).output_existing(slice(y, c * kPer, kPer)).scalar(kC),
               {.block_dim = 2}, c);
    // Partial sums on the *next* chip: every edge crosses a process boundary.
    for (int c = 0; c < kChips; ++c)
      o.submit(sum, TaskArgs().input(slice(y, c * kPer, kPer)).output_existing(slice(partial, c, 1)), {},
               (c + 1) % kChips);
    // Fan in on the host helper.
    TaskArgs fan_in;
    for (int c = 0; c < kChips; ++c) fan_in.input(slice(partial, c, 1));
    fan_in.output_existing(total.tensor());
    o.submit_host(host_total, fan_in);
    // Fan out again: every chip needs the total.
    for (int c = 0; c < kChips; ++c)
      o.submit(center,
               TaskArgs()
                   .input(slice(y, c * kPer, kPer))
                   .input(total.tensor())
                   .output_existing(slice(z, c * kPer, kPer))
                   .scalar(kScale),
               {.block_dim = 2}, (c + 2) % kChips);
  });

  std::vector<int64_t> ref_y(kN);
  for (size_t i = 0; i < kN; ++i) ref_y[i] = x[i] * x[i] + kC;
  const int64_t ref_total = std::accumulate(ref_y.begin(), ref_y.end(), int64_t{0});
  for (int c = 0; c < kChips; ++c)
    EXPECT_EQ(partial[c], std::accumulate(ref_y.begin() + c * kPer, ref_y.begin() + (c + 1) * kPer, int64_t{0}))
        << "partial sum of chip " << c;
  EXPECT_EQ(total[0], ref_total);
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_EQ(y[i], ref_y[i]) << "y[" << i << "]";
    ASSERT_EQ(z[i], ref_y[i] * kScale - ref_total) << "z[" << i << "]";
  }
  w.close();
}

TEST_F(GraphTest, ReadAfterWriteAcrossChips) {
  constexpr int kRounds = 8;
  constexpr size_t kN = 1 << 14;  // large enough that a reader that did not wait would see zeros
  strata::Worker w({.chips = 2});
  auto fill = w.register_kernel("g_fill_affine");
  auto copy = w.register_kernel("g_copy");
  w.init();
  auto x = w.create_buffer<int64_t>(kRounds * kN);
  auto y = w.create_buffer<int64_t>(kRounds * kN);
  zero(x), zero(y);

  w.run([&](strata::Orchestrator& o) {
    for (int r = 0; r < kRounds; ++r) {
      // Writer on one chip, reader on the other; the reader is pushed to its chip before the writer is done.
      o.submit(fill,
               TaskArgs().output_existing(slice(x, r * kN, kN)).scalar(int64_t{r + 3}).scalar(int64_t{11 * r - 5}),
               {.block_dim = 2}, r % 2);
      o.submit(copy, TaskArgs().input(slice(x, r * kN, kN)).output_existing(slice(y, r * kN, kN)), {.block_dim = 2},
               (r + 1) % 2);
    }
  });

  for (int r = 0; r < kRounds; ++r)
    for (size_t i = 0; i < kN; ++i)
      ASSERT_EQ(y[r * kN + i], (r + 3) * static_cast<int64_t>(i) + 11 * r - 5) << "round " << r << ", element " << i;
  w.close();
}

TEST_F(GraphTest, WriteAfterWriteThroughInOutAppliesInSubmissionOrder) {
  constexpr int kChips = 4, kSteps = 24;
  constexpr size_t kN = 512;
  strata::Worker w({.chips = kChips});
  auto step = w.register_kernel("g_affine_inplace");
  auto copy = w.register_kernel("g_copy");
  w.init();
  auto x = w.create_buffer<int64_t>(kN);
  auto out = w.create_buffer<int64_t>(kN);
  std::vector<int64_t> ref(kN);
  for (size_t i = 0; i < kN; ++i) x[i] = ref[i] = static_cast<int64_t>(i) - 100;
  zero(out);

  w.run([&](strata::Orchestrator& o) {
    for (int s = 0; s < kSteps; ++s)
      o.submit(step, TaskArgs().inout(x.tensor()).scalar(int64_t{s % 3 == 0 ? -1 : 2}).scalar(int64_t{s}),
               {.block_dim = 2}, s % kChips);
    o.submit(copy, TaskArgs().input(x.tensor()).output_existing(out.tensor()), {}, 1);
  });

  for (int s = 0; s < kSteps; ++s)
    for (auto& v : ref) v = v * (s % 3 == 0 ? -1 : 2) + s;
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_EQ(x[i], ref[i]) << "x[" << i << "]";
    ASSERT_EQ(out[i], ref[i]) << "out[" << i << "] (the reader after the chain)";
  }
  w.close();
}

TEST_F(GraphTest, OutputWithNullDataIsAllocatedAndReadable) {
  constexpr size_t kN = 3000;
  strata::Worker w({.chips = 4});
  auto fill = w.register_kernel("g_fill_affine");
  auto copy = w.register_kernel("g_copy");
  w.init();
  auto from_output = w.create_buffer<int64_t>(kN);
  auto from_alloc = w.create_buffer<int64_t>(kN);
  zero(from_output), zero(from_alloc);
  Tensor auto_t, alloc_t;

  w.run([&](strata::Orchestrator& o) {
    strata::TaskRef a = o.submit(fill,
                                 TaskArgs()
                                     .output(Tensor::make(nullptr, {static_cast<int64_t>(kN)}, DType::I64))
                                     .scalar(int64_t{5})
                                     .scalar(int64_t{-7}),
                                 {.block_dim = 2}, 0);
    auto_t = a.tensor(0);
    ASSERT_NE(auto_t.data, nullptr) << "an OUTPUT with null data must come back allocated in the TaskRef";
    EXPECT_EQ(auto_t.numel(), kN);
    EXPECT_EQ(auto_t.dtype, DType::I64);
    o.submit(copy, TaskArgs().input(auto_t).output_existing(from_output.tensor()), {}, 1);

    alloc_t = o.alloc({static_cast<int64_t>(kN)}, DType::I64);
    ASSERT_NE(alloc_t.data, nullptr);
    EXPECT_EQ(alloc_t.numel(), kN);
    EXPECT_EQ(alloc_t.nbytes(), kN * sizeof(int64_t));
    o.submit(fill, TaskArgs().output(alloc_t).scalar(int64_t{2}).scalar(int64_t{1}), {}, 2);
    o.submit(copy, TaskArgs().input(alloc_t).output_existing(from_alloc.tensor()), {}, 3);
  });

  // The two heap tensors are live at once: they must not overlap.
  const auto* a0 = static_cast<const char*>(auto_t.data);
  const auto* b0 = static_cast<const char*>(alloc_t.data);
  EXPECT_TRUE(a0 + auto_t.nbytes() <= b0 || b0 + alloc_t.nbytes() <= a0)
      << "auto-allocated and alloc() tensors overlap";
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_EQ(from_output[i], 5 * static_cast<int64_t>(i) - 7)
        << "element " << i << " read from the auto-allocated OUTPUT";
    ASSERT_EQ(from_alloc[i], 2 * static_cast<int64_t>(i) + 1) << "element " << i << " read from the alloc() tensor";
  }
  w.close();
}

TEST_F(GraphTest, ScopesLetTheHeapBeReusedWithinOneRun) {
  // 16 allocations of 256 KiB through a 1 MiB heap: fits only if closing a scope frees its memory.
  constexpr int kIters = 16;
  constexpr size_t kN = 32 * 1024;  // int64: 256 KiB
  strata::Worker w({.chips = 2, .timeouts = {.submit = std::chrono::seconds(5)}, .memory = {.heap_bytes = 1 << 20}});
  auto fill = w.register_kernel("g_fill_affine");
  auto sum = w.register_kernel("g_sum");
  w.init();
  auto sums = w.create_buffer<int64_t>(kIters);
  zero(sums);

  w.run([&](strata::Orchestrator& o) {
    for (int i = 0; i < kIters; ++i) {
      strata::Scope s = o.scope();
      Tensor t = o.alloc({static_cast<int64_t>(kN)}, DType::I64);
      o.submit(fill, TaskArgs().output(t).scalar(int64_t{i + 1}).scalar(int64_t{i}), {.block_dim = 2}, i % 2);
      o.submit(sum, TaskArgs().input(t).output_existing(slice(sums, i, 1)), {}, (i + 1) % 2);
    }
  });

  for (int i = 0; i < kIters; ++i) {
    int64_t ref = 0;
    for (size_t k = 0; k < kN; ++k) ref += (i + 1) * static_cast<int64_t>(k) + i;
    EXPECT_EQ(sums[i], ref) << "iteration " << i;
  }
  w.close();
}

TEST_F(GraphTest, NoDepTaskRunsWhileTheWriterItIgnoresIsRunning) {
  strata::Worker w({.chips = 2});
  auto wait_mark = w.register_kernel("g_wait_flag_then_mark");
  auto set_flag = w.register_kernel("g_set_flag");
  auto copy_second = w.register_kernel("g_copy_second");
  w.init();
  auto flags = w.create_buffer<uint64_t>(2);
  auto out = w.create_buffer<uint64_t>(1);
  zero(flags), zero(out);

  w.run([&](strata::Orchestrator& o) {
    // The writer holds flags until the NO_DEP task, which ignores it, sets flags[0]. If NO_DEP waited for
    // the last writer this would deadlock; the kernel's own bound and the task timeout turn that into a
    // failure.
    o.submit(wait_mark, TaskArgs().inout(flags.tensor()).scalar(uint64_t{23}), {.timeout = std::chrono::seconds(10)},
             0);
    o.submit(set_flag, TaskArgs().no_dep(flags.tensor()), {}, 1);
    // A reader after both waits for the writer (the NO_DEP task did not become the last writer).
    o.submit(copy_second, TaskArgs().input(flags.tensor()).output_existing(out.tensor()), {}, 1);
  });

  EXPECT_EQ(flags[0], 1u);
  EXPECT_EQ(flags[1], 1023u);
  EXPECT_EQ(out[0], 1023u) << "the INPUT reader did not wait for the INOUT writer";
  w.close();
}

TEST_F(GraphTest, GroupTaskRunsAllPartsTogetherAndConsumersWaitForAll) {
  strata::Worker w({.chips = 3});
  auto part = w.register_kernel("g_group_part");
  auto concat = w.register_kernel("g_concat2");
  w.init();
  auto barrier = w.create_buffer<uint64_t>(1);
  auto parts_out = w.create_buffer<int64_t>(8);
  auto result = w.create_buffer<int64_t>(8);
  zero(barrier), zero(parts_out), zero(result);
  const std::vector<int> chips = {2, 1};

  w.run([&](strata::Orchestrator& o) {
    std::vector<TaskArgs> args;
    for (int p = 0; p < 2; ++p)
      args.push_back(
          TaskArgs().no_dep(barrier.tensor()).output_existing(slice(parts_out, 4 * p, 4)).scalar(int64_t{p + 10}));
    o.submit_group(part, std::move(args), {.timeout = std::chrono::seconds(10)}, chips);
    o.submit(concat,
             TaskArgs().input(slice(parts_out, 0, 4)).input(slice(parts_out, 4, 4)).output_existing(result.tensor()),
             {}, 0);
  });

  EXPECT_EQ(barrier[0], 2u) << "both parts must have run";
  for (int p = 0; p < 2; ++p) {
    SCOPED_TRACE("part " + std::to_string(p));
    EXPECT_EQ(result[4 * p + 0], p) << "part()";
    EXPECT_EQ(result[4 * p + 1], 2) << "parts()";
    EXPECT_EQ(result[4 * p + 2], chips[p]) << "worker_index(): part i runs on workers[i]";
    EXPECT_EQ(result[4 * p + 3], 7 * (p + 10)) << "part i gets args[i]";
  }
  w.close();
}

TEST_F(GraphTest, SmallTaskRingAppliesBackPressureWithoutLosingTasks) {
  constexpr int kTasks = 1000;
  strata::Worker w({.chips = 2, .memory = {.task_ring = 8}});
  auto lcg = w.register_kernel("g_lcg_step");
  auto square = w.register_kernel("g_write_square");
  w.init();
  auto state = w.create_buffer<uint64_t>(1);
  auto squares = w.create_buffer<uint64_t>(kTasks);
  zero(squares);
  state[0] = 12345;

  w.run([&](strata::Orchestrator& o) {
    for (uint64_t i = 0; i < kTasks; ++i)
      o.submit(lcg, TaskArgs().inout(state.tensor()).scalar(i), {}, static_cast<int>(i % 2));
    for (uint64_t i = 0; i < kTasks; ++i) o.submit(square, TaskArgs().no_dep(squares.tensor()).scalar(i));
  });

  uint64_t ref = 12345;
  for (uint64_t i = 0; i < kTasks; ++i) ref = ref * kLcgMul + i;
  EXPECT_EQ(state[0], ref) << "the chain of 1000 INOUT tasks did not apply in order";
  for (uint64_t i = 0; i < kTasks; ++i) ASSERT_EQ(squares[i], i * i + 1) << "independent task " << i;
  w.close();
}

TEST_F(GraphTest, FullTaskRingTimesOutNamingTheKnobAndTheWorkerStaysUsable) {
  strata::Worker w({.chips = 2, .timeouts = {.submit = std::chrono::milliseconds(200)}, .memory = {.task_ring = 8}});
  auto block = w.register_kernel("g_block_until_flag");
  auto lcg = w.register_kernel("g_lcg_step");
  w.init();
  auto flags = w.create_buffer<uint64_t>(2);
  zero(flags);
  uint64_t submitted = 0;
  std::string timeout_message;

  auto err = capture<strata::TimeoutError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          try {
            // None of these can finish before flags[0] is set, so the ring fills up.
            for (; submitted < 1000; ++submitted)
              o.submit(block, TaskArgs().no_dep(flags.tensor()), {}, static_cast<int>(submitted % 2));
          } catch (const strata::TimeoutError& e) {
            timeout_message = e.what();
            strata::test::store_flag(&flags[0], 1);
            throw;
          }
          strata::test::store_flag(&flags[0], 1);
        });
      },
      "run() with a full task ring");
  ASSERT_TRUE(err);
  EXPECT_EQ(timeout_message, err->what()) << "run() must rethrow what the orchestration function threw";
  STRATA_EXPECT_CONTAINS(timeout_message, "WorkerOptions::memory.task_ring");
  // Task #1 went to chip 0 and blocks there: the message says where the ring is stuck.
  STRATA_EXPECT_CONTAINS(timeout_message, "the oldest unfinished task is #1 'g_block_until_flag', pushed to chip 0");
  EXPECT_GE(submitted, 1u);
  EXPECT_LT(submitted, 1000u) << "a ring of 8 never filled up";
  // run() drained before it rethrew: every task that was submitted ran.
  EXPECT_EQ(strata::test::load_flag(&flags[1]), submitted);

  auto state = w.create_buffer<uint64_t>(1);
  state[0] = 7;
  w.run([&](strata::Orchestrator& o) {
    for (uint64_t i = 0; i < 20; ++i)
      o.submit(lcg, TaskArgs().inout(state.tensor()).scalar(i), {}, static_cast<int>(i % 2));
  });
  uint64_t ref = 7;
  for (uint64_t i = 0; i < 20; ++i) ref = ref * kLcgMul + i;
  EXPECT_EQ(state[0], ref);
  w.close();
}

}  // namespace
