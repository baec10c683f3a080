// Integration tests of the bring-up at init: per-chip ranks, windows, named buffers and host inputs
// loaded before init() returns; outputs stored on demand and at close(); chip_contexts() and the one
// context type it shares with dynamic domains; fail-fast init() on a chip that fails or crashes (nothing
// left behind); and the validation of the configurations.
//
// The kernels are the test's own: they reach a peer's window through the CommContext at device_ctx.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <span>
#include <stdexcept>
#include <strata/strata.hpp>
#include <string>
#include <vector>

#include "integration/integration_util.hpp"
#include "support/proc_scan.hpp"
#include "support/scoped_env.hpp"

namespace {

using strata::CommContext;
using strata::DType;
using strata::TaskArgs;
using strata::Tensor;
using strata::test::capture;
using strata::test::Clock;
using strata::test::ms_since;
using strata::test::zero;

class BringupTest : public strata::test::LeakCheckedTest {};

// out[0..n) = this rank's "in", out[n..2n) = rank `peer`'s "in" (read through the CommContext),
// out[2n] = rank, out[2n+1] = size, out[2n+2] = windows[rank], out[2n+3] = window_size.
// Tensor 0 is this chip's "in" (i32), tensor 1 the output (i64).
STRATA_KERNEL(bt_read_peer) {
  const auto* c = reinterpret_cast<const CommContext*>(ctx.scalar<uint64_t>(0));
  const auto peer = ctx.scalar<uint32_t>(1);
  const auto* own = ctx.data<int32_t>(0);
  const auto off = reinterpret_cast<uint64_t>(own) - c->windows[c->rank];
  const auto* theirs = reinterpret_cast<const int32_t*>(c->windows[peer] + off);
  auto* out = ctx.data<int64_t>(1);
  const size_t n = ctx.tensor(0).numel();
  for (size_t i = 0; i < n; ++i) {
    out[i] = own[i];
    out[n + i] = theirs[i];
  }
  out[2 * n] = c->rank;
  out[2 * n + 1] = c->size;
  out[2 * n + 2] = static_cast<int64_t>(c->windows[c->rank]);
  out[2 * n + 3] = static_cast<int64_t>(c->window_size);
}

// x[i] = v + i (i64)
STRATA_KERNEL(bt_fill) {
  auto* x = ctx.data<int64_t>(0);
  const auto v = ctx.scalar<int64_t>(0);
  for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) x[i] = v + static_cast<int64_t>(i);
}

// Copies tensor 0's bytes into tensor 1.
STRATA_KERNEL(bt_copy) { std::memcpy(ctx.tensor(1).data, ctx.tensor(0).data, ctx.tensor(0).nbytes()); }

STRATA_KERNEL(bt_throw) {
  (void)ctx;
  throw std::runtime_error("bt boom");
}

constexpr size_t kIn = 64;
constexpr size_t kWindow = 5000;

std::vector<unsigned char> bytes_of(const std::vector<int32_t>& v) {
  std::vector<unsigned char> b(v.size() * sizeof(int32_t));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

int32_t input_value(int chip, size_t i) { return chip * 1000 + static_cast<int32_t>(i); }

// One configuration per chip: chip i has rank ranks[i], buffers "in" (i32 x 64) and "aux" (i64 x 16);
// "in" is loaded with input_value(i, k) and "aux" with the i32 -(i + 1) followed by zeros (inputs match
// their buffer exactly).
std::vector<strata::ChipBringup> configs(const std::vector<int>& ranks) {
  std::vector<strata::ChipBringup> out;
  for (size_t i = 0; i < ranks.size(); ++i) {
    std::vector<int32_t> in(kIn);
    for (size_t k = 0; k < kIn; ++k) in[k] = input_value(static_cast<int>(i), k);
    std::vector<int32_t> aux(16 * sizeof(int64_t) / sizeof(int32_t), 0);
    aux[0] = -static_cast<int32_t>(i) - 1;
    out.push_back({.rank = ranks[i],
                   .window_size = kWindow,
                   .buffers = {{"in", DType::I32, kIn}, {"aux", DType::I64, 16}},
                   .inputs = {{"in", bytes_of(in)}, {"aux", bytes_of(aux)}}});
  }
  return out;
}

TEST_F(BringupTest, HappyPathLoadsInputsAndPeersReachEachOther) {
  const std::vector<int> ranks = {2, 0, 3, 1};  // chip i has rank ranks[i]
  const std::vector<int> device_ids = {10, 11, 12, 13};
  strata::Worker w({.device_ids = device_ids, .bringup = configs(ranks)});
  auto read_peer = w.register_kernel("bt_read_peer");
  auto copy = w.register_kernel("bt_copy");
  auto fail = w.register_kernel("bt_throw");
  w.init();
  EXPECT_EQ(w.comm_bringups(), 1);

  const auto& ctxs = w.chip_contexts();
  ASSERT_EQ(ctxs.size(), 4u);
  std::set<uint64_t> device_ctxs, bases;
  std::vector<int> chip_of_rank(4, -1);
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE("chip " + std::to_string(i));
    const strata::ChipContext& c = ctxs[i];
    EXPECT_EQ(c.device_id, device_ids[i]);
    EXPECT_EQ(c.rank, ranks[i]);
    EXPECT_EQ(c.size, 4);
    EXPECT_NE(c.device_ctx, 0u);
    EXPECT_NE(c.window_base, 0u);
    EXPECT_GE(c.window_size, kWindow);
    ASSERT_EQ(c.buffer_ptrs().size(), 2u);
    EXPECT_EQ(c.buffer_ptrs().at("in"), c.window_base) << "first buffer at the window's start";
    EXPECT_EQ(c.buffer_ptrs().at("aux"), c.window_base + kIn * sizeof(int32_t)) << "declaration order";
    device_ctxs.insert(c.device_ctx);
    bases.insert(c.window_base);
    chip_of_rank[static_cast<size_t>(c.rank)] = static_cast<int>(i);
  }
  EXPECT_EQ(device_ctxs.size(), 4u);
  EXPECT_EQ(bases.size(), 4u);

  // Each chip reads its own input and the next rank's, through the CommContext.
  constexpr size_t kOut = 2 * kIn + 4;
  auto out = w.create_buffer<int64_t>(kOut * 4);
  zero(out);
  w.run([&](strata::Orchestrator& o) {
    for (int chip = 0; chip < 4; ++chip) {
      const strata::ChipContext& c = ctxs[static_cast<size_t>(chip)];
      const auto peer = static_cast<uint32_t>((c.rank + 1) % 4);
      const Tensor in = Tensor::make(reinterpret_cast<void*>(c.buffer_ptrs().at("in")), {kIn}, DType::I32);
      o.submit(read_peer,
               TaskArgs()
                   .input(in)
                   .output_existing(strata::test::slice(out, kOut * static_cast<size_t>(chip), kOut))
                   .scalar(c.device_ctx)
                   .scalar(peer),
               {}, chip);
    }
  });
  for (int chip = 0; chip < 4; ++chip) {
    SCOPED_TRACE("chip " + std::to_string(chip));
    const strata::ChipContext& c = ctxs[static_cast<size_t>(chip)];
    const int peer_chip = chip_of_rank[static_cast<size_t>((c.rank + 1) % 4)];
    const size_t o = kOut * static_cast<size_t>(chip);
    for (size_t i = 0; i < kIn; ++i) {
      ASSERT_EQ(out[o + i], input_value(chip, i)) << "own input, element " << i;
      ASSERT_EQ(out[o + kIn + i], input_value(peer_chip, i))
          << "rank " << (c.rank + 1) % 4 << "'s input, element " << i;
    }
    EXPECT_EQ(out[o + 2 * kIn], c.rank);
    EXPECT_EQ(out[o + 2 * kIn + 1], 4);
    EXPECT_EQ(static_cast<uint64_t>(out[o + 2 * kIn + 2]), c.window_base);
    EXPECT_EQ(static_cast<uint64_t>(out[o + 2 * kIn + 3]), c.window_size);
  }

  // A failed run does not sweep the init-time domain (it lives until close()), and a dynamic allocation
  // reuses the communicator brought up at init.
  auto err = capture<strata::TaskError>(
      [&] { w.run([&](strata::Orchestrator& o) { o.submit(fail, TaskArgs(), {}, 3); }); }, "a failing run");
  ASSERT_TRUE(err);
  auto aux = w.create_buffer<int32_t>(32 * 4);  // "aux" (16 x i64) seen as 32 x i32
  std::fill(aux.begin(), aux.end(), -99);
  zero(out);
  w.run([&](strata::Orchestrator& o) {
    auto d = o.allocate_domain({.name = "later", .workers = {3, 1}, .window_size = 4096});
    EXPECT_FALSE(d[3].window_base == ctxs[3].window_base) << "a second window on chip 3 is the first";
    for (int chip = 0; chip < 4; ++chip) {
      const strata::ChipContext& c = ctxs[static_cast<size_t>(chip)];
      const Tensor in = Tensor::make(reinterpret_cast<void*>(c.buffer_ptrs().at("in")), {kIn}, DType::I32);
      o.submit(read_peer,
               TaskArgs()
                   .input(in)
                   .output_existing(strata::test::slice(out, kOut * static_cast<size_t>(chip), kOut))
                   .scalar(c.device_ctx)
                   .scalar(static_cast<uint32_t>(c.rank)),
               {}, chip);
      const Tensor a = Tensor::make(reinterpret_cast<void*>(c.buffer_ptrs().at("aux")), {32}, DType::I32);
      o.submit(copy, TaskArgs().input(a).output_existing(strata::test::slice(aux, 32 * static_cast<size_t>(chip), 32)),
               {}, chip);
    }
  });
  EXPECT_EQ(w.comm_bringups(), 1) << "the communicator is brought up once per Worker";
  for (int chip = 0; chip < 4; ++chip) {
    SCOPED_TRACE("chip " + std::to_string(chip) + " after a failed run");
    for (size_t i = 0; i < kIn; ++i) ASSERT_EQ(out[kOut * static_cast<size_t>(chip) + i], input_value(chip, i)) << i;
    // "aux" got one i32 of input; the rest of the buffer is zero.
    for (size_t i = 0; i < 32; ++i)
      ASSERT_EQ(aux[32 * static_cast<size_t>(chip) + i], i == 0 ? -chip - 1 : 0) << "aux as i32, element " << i;
  }
  w.close();
}

// init() failing on one chip: one error naming it, and nothing left behind (no process, descriptor or
// /dev/shm entry) as soon as init() has thrown, before the Worker is destroyed.
void expect_failed_bringup(const char* faults, int chip, const std::string& message,
                           const strata::test::ResourceSnapshot& baseline) {
  const strata::test::ScopedEnv sim_faults("STRATA_SIM_FAULTS", faults);
  strata::Worker w({.chips = 4, .bringup = configs({0, 1, 2, 3})});
  const auto start = Clock::now();
  auto e = capture<strata::Error>([&] { w.init(); }, "init() with a failing chip");
  ASSERT_TRUE(e);
  EXPECT_LT(ms_since(start), 10000.0) << "init() did not fail fast";
  STRATA_EXPECT_CONTAINS(e->what(), "bring-up of chip " + std::to_string(chip) + " failed: ");
  STRATA_EXPECT_CONTAINS(e->what(), message);
  EXPECT_EQ(strata::test::find_leaks(baseline), "") << "left behind by the failed init()";
  EXPECT_FALSE(w.initialized());
  auto ctx = capture<strata::UsageError>([&] { (void)w.chip_contexts(); }, "chip_contexts() after a failed init()");
  EXPECT_TRUE(ctx);
}

TEST_F(BringupTest, ChipFailingItsWindowFailsInitAndLeavesNothing) {
  expect_failed_bringup("fail_window_alloc=2", 2, "window allocation refused", baseline());
}

TEST_F(BringupTest, ChipCrashingInBringupFailsInitAtOnceAndLeavesNothing) {
  expect_failed_bringup("crash_window_alloc=0", 0, "died", baseline());
}

// The same with a chip that is not the first one init() waits for.
TEST_F(BringupTest, LaterChipCrashingInBringupIsTheOneNamed) {
  expect_failed_bringup("crash_window_alloc=2", 2, "died", baseline());
}

// A chip that never answers its bring-up: init() gives up after timeouts.init, naming the pending chip,
// and leaves nothing behind (the hung chip is killed).
TEST_F(BringupTest, ChipThatNeverAnswersTimesOutNamingThePendingChip) {
  const auto leaks_before = baseline();
  // The deadline leaves every chip time to start, even under a sanitizer on a loaded machine: only the
  // hung one may be named.
  const strata::test::ScopedEnv faults("STRATA_SIM_FAULTS", "hang_window_alloc=1");
  strata::Worker w({.chips = 3, .bringup = configs({0, 1, 2}), .timeouts = {.init = std::chrono::milliseconds(3000)}});
  auto e = capture<strata::TimeoutError>([&] { w.init(); }, "init() with a chip that never answers");
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "still pending: chip 1");
  STRATA_EXPECT_CONTAINS(e->what(), "WorkerOptions::timeouts.init, STRATA_INIT_TIMEOUT_MS");
  EXPECT_EQ(std::string(e->what()).find("chip 0"), std::string::npos) << e->what();
  EXPECT_EQ(strata::test::find_leaks(leaks_before), "") << "left behind by the timed-out init()";
  EXPECT_FALSE(w.initialized());
}

TEST_F(BringupTest, ChipContextsBeforeInitOrWithoutBringupThrow) {
  strata::Worker w({.chips = 2, .bringup = configs({1, 0})});
  auto e = capture<strata::UsageError>([&] { (void)w.chip_contexts(); }, "chip_contexts() before init()");
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "init()");
  EXPECT_EQ(w.comm_bringups(), 0);
  w.init();
  EXPECT_EQ(w.chip_contexts().size(), 2u);
  EXPECT_EQ(w.chip_contexts()[0].rank, 1);
  w.close();

  strata::Worker plain({.chips = 1});
  plain.init();
  auto none = capture<strata::UsageError>([&] { (void)plain.chip_contexts(); }, "chip_contexts() without bring-up");
  ASSERT_TRUE(none);
  STRATA_EXPECT_CONTAINS(none->what(), "bringup");
  plain.close();
}

TEST_F(BringupTest, ConfigurationsAreValidatedWithMessagesNamingTheValue) {
  struct Case {
    const char* what;
    strata::WorkerOptions opts;
    std::vector<std::string> needles;
  };
  auto with = [](std::vector<strata::ChipBringup> b, auto edit) {
    edit(b);
    return strata::WorkerOptions{.chips = static_cast<int>(b.size()), .bringup = std::move(b)};
  };
  std::vector<Case> cases;
  {
    auto opts = strata::WorkerOptions{.chips = 4, .bringup = configs({0, 1, 2})};
    cases.push_back({"three configurations for four chips", opts, {"3 entries for 4 chips"}});
  }
  cases.push_back({"duplicate rank", with(configs({0, 0}), [](auto&) {}), {"bring-up of chip 1", "rank 0"}});
  cases.push_back({"rank out of range", with(configs({0, 2}), [](auto&) {}), {"bring-up of chip 1", "rank 2"}});
  cases.push_back({"rank not set", with(configs({0, -1}), [](auto&) {}), {"bring-up of chip 1", "rank -1"}});
  cases.push_back({"window_size 0",
                   with(configs({0, 1}),
                        [](auto& b) {
                          for (auto& c : b) c.window_size = 0;
                        }),
                   {"bring-up of chip 0", "window_size is 0"}});
  cases.push_back({"buffers larger than the window",
                   with(configs({0, 1}),
                        [](auto& b) {
                          for (auto& c : b) c.window_size = 300;
                        }),
                   {"bring-up of chip 0", "buffer 'aux' (128 bytes at offset 256) overflows the window of 300 bytes"}});
  cases.push_back({"duplicate buffer names",
                   with(configs({0, 1}),
                        [](auto& b) {
                          for (auto& c : b) c.buffers[1].name = "in";
                        }),
                   {"'in'", "twice"}});
  cases.push_back({"configurations that differ",
                   with(configs({0, 1}), [](auto& b) { b[1].window_size = 8192; }),
                   {"bring-up of chip 1", "window_size 8192 differs from chip 0's 5000"}});
  cases.push_back(
      {"input larger than its buffer",
       with(configs({0, 1}), [](auto& b) { b[1].inputs["aux"] = std::vector<unsigned char>(16 * 8 + 1, 1); }),
       {"bring-up of chip 1", "'aux'", "has 129 bytes", "holds 128"}});
  cases.push_back({"input smaller than its buffer (nothing is half-loaded)",
                   with(configs({0, 1}), [](auto& b) { b[1].inputs["aux"] = std::vector<unsigned char>(32, 1); }),
                   {"bring-up of chip 1", "input for 'aux' has 32 bytes", "holds 128", "exactly"}});
  cases.push_back({"output smaller than its buffer",
                   with(configs({0, 1}),
                        [](auto& b) {
                          static std::vector<std::byte> host(64);
                          b[0].outputs["aux"] = std::span<std::byte>(host);
                        }),
                   {"bring-up of chip 0", "output for 'aux' gives 64 bytes", "holds 128"}});
  cases.push_back({"output for an unknown buffer",
                   with(configs({0, 1}),
                        [](auto& b) {
                          static std::vector<std::byte> host(8);
                          b[1].outputs["nope"] = std::span<std::byte>(host);
                        }),
                   {"bring-up of chip 1", "output for unknown buffer 'nope'"}});
  cases.push_back({"a null output",
                   with(configs({0, 1}), [](auto& b) { b[1].outputs["in"] = std::span<std::byte>(); }),
                   {"bring-up of chip 1", "output for 'in' gives a null pointer"}});
  cases.push_back({"one chip's buffer overflows its window",
                   with(configs({0, 1}),
                        [](auto& b) {
                          b[1].buffers = {{"x", DType::U8, 128}};
                          b[1].window_size = 64;
                          b[1].inputs.clear();
                        }),
                   {"bring-up of chip 1: buffer 'x' (128 bytes at offset 0) overflows the window of 64 bytes"}});
  cases.push_back({"input for an unknown buffer",
                   with(configs({0, 1}), [](auto& b) { b[0].inputs["nope"] = std::vector<unsigned char>(4, 1); }),
                   {"bring-up of chip 0", "input for unknown buffer 'nope'"}});
  cases.push_back({"a level 4 Worker", strata::WorkerOptions{.level = 4, .bringup = configs({0})}, {"level 4"}});

  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto e = capture<strata::UsageError>(
        [&] {
          strata::Worker w(c.opts);
          w.init();
        },
        c.what);
    if (!e) continue;
    for (const std::string& n : c.needles) STRATA_EXPECT_CONTAINS(e->what(), n);
    EXPECT_EQ(strata::test::find_leaks(baseline()), "");
  }
}

}  // namespace

namespace {

TEST_F(BringupTest, OutputsAreStoredOnDemandAndAtClose) {
  constexpr size_t kN = 40;
  std::vector<std::vector<int64_t>> stored(2, std::vector<int64_t>(kN, -1));
  std::vector<strata::ChipBringup> cfgs;
  for (int chip = 0; chip < 2; ++chip)
    cfgs.push_back({.rank = 1 - chip,
                    .window_size = 4096,
                    .buffers = {{"acc", DType::I64, kN}},
                    .outputs = {{"acc", std::as_writable_bytes(std::span(stored[static_cast<size_t>(chip)]))}}});
  strata::Worker w({.chips = 2, .bringup = cfgs});
  auto fill = w.register_kernel("bt_fill");
  w.init();
  // The windows start zeroed: that is what an early store reads.
  w.store_outputs();
  for (const auto& s : stored) EXPECT_EQ(s, std::vector<int64_t>(kN, 0));

  // The bring-up context hands out its buffers as tensors directly.
  const std::vector<strata::ChipContext>& ctxs = w.chip_contexts();
  auto run_fill = [&](int64_t base) {
    w.run([&](strata::Orchestrator& o) {
      for (int chip = 0; chip < 2; ++chip)
        o.submit(fill, TaskArgs().output_existing(ctxs[static_cast<size_t>(chip)].buffer("acc")).scalar(base + chip),
                 {}, chip);
    });
  };
  run_fill(100);
  w.store_outputs();
  for (int chip = 0; chip < 2; ++chip)
    for (size_t i = 0; i < kN; ++i) EXPECT_EQ(stored[static_cast<size_t>(chip)][i], 100 + chip + int64_t(i)) << i;

  run_fill(500);  // not stored by hand: close() stores it
  w.close();
  for (int chip = 0; chip < 2; ++chip)
    for (size_t i = 0; i < kN; ++i) EXPECT_EQ(stored[static_cast<size_t>(chip)][i], 500 + chip + int64_t(i)) << i;
}

TEST_F(BringupTest, StoreOutputsWithoutBringupOrInsideARunIsRefused) {
  strata::Worker plain({.chips = 1});
  plain.init();
  auto e = capture<strata::UsageError>([&] { plain.store_outputs(); }, "store_outputs() without bring-up");
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "no bring-up configuration");
  plain.close();

  strata::Worker w({.chips = 2, .bringup = configs({0, 1})});
  w.init();
  w.run([&](strata::Orchestrator&) {
    auto in_run = capture<strata::UsageError>([&] { w.store_outputs(); }, "store_outputs() inside run()");
    ASSERT_TRUE(in_run);
    STRATA_EXPECT_CONTAINS(in_run->what(), "inside run()");
  });
  w.close();
}

TEST_F(BringupTest, BringupAndDynamicDomainsShareOneContextType) {
  strata::Worker w({.chips = 2, .bringup = configs({1, 0})});
  w.init();
  const strata::ChipContext& boot = w.chip_contexts()[1];
  EXPECT_EQ(boot.domain, "");
  EXPECT_EQ(boot.chip, 1);
  EXPECT_EQ(boot.rank, 0);
  EXPECT_EQ(boot.size, 2);
  EXPECT_EQ(boot.buffer("in").count, kIn);
  EXPECT_EQ(boot.buffer("in").chip, 1);
  std::vector<int32_t> in(kIn);
  w.run([&](strata::Orchestrator& o) {
    o.copy_from(in.data(), boot.buffer("in"));
    strata::Domain d =
        o.allocate_domain({.name = "dyn", .workers = {1}, .window_size = 4096, .buffers = {{"in", DType::I32, kIn}}});
    const strata::ChipContext& dyn = d[1];
    EXPECT_EQ(dyn.domain, "dyn");
    EXPECT_EQ(dyn.chip, boot.chip);
    EXPECT_EQ(dyn.device_id, boot.device_id);
    EXPECT_NE(dyn.window_base, boot.window_base);
    auto e = capture<strata::UsageError>([&] { (void)boot.buffer("nope"); }, "an unknown bring-up buffer");
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "the bring-up has no buffer named 'nope' on chip 1");
  });
  for (size_t i = 0; i < kIn; ++i) EXPECT_EQ(in[i], input_value(1, i)) << i;
  w.close();
}

}  // namespace
