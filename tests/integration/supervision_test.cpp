// Integration tests of the supervised core: children killed or stopped from outside (between runs, in a
// long chain, during domain frees, inside a collective), a child writing a malformed completion, the
// task-timeout watchdog, fail-fast, memory strata does not share, and respawn() after each kind of death.
// Signals are sent from outside the child (by the test process), the way the world kills processes.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <strata/comm_kernel.hpp>
#include <strata/strata.hpp>
#include <string>
#include <thread>
#include <vector>

#include "integration/integration_util.hpp"
#include "integration/internals.hpp"

namespace {

using strata::ChildKind;
using strata::TaskArgs;
using strata::test::capture;
using strata::test::child_pid;
using strata::test::Clock;
using strata::test::ms_since;
using strata::test::wait_exited;
using strata::test::zero;

class SupervisionTest : public strata::test::LeakCheckedTest {};

STRATA_KERNEL(s_fill) {
  int64_t* x = ctx.data<int64_t>(0);
  for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) x[i] = ctx.scalar<int64_t>(0);
}
STRATA_KERNEL(s_add_one) { ++*ctx.data<int64_t>(0); }
// Busy for `scalar 0` microseconds (a kernel that computes), then adds one.
STRATA_KERNEL(s_busy_us) {
  const auto until = Clock::now() + std::chrono::microseconds(ctx.scalar<int64_t>(0));
  while (Clock::now() < until) {
  }
  ++*ctx.data<int64_t>(0);
}
STRATA_KERNEL(s_sleep_ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ctx.scalar<int64_t>(0))); }
// Raises flag 0 (tensor 0), then sleeps `scalar 0` milliseconds.
STRATA_KERNEL(s_flag_then_sleep) {
  strata::test::store_flag(ctx.data<uint64_t>(0), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(ctx.scalar<int64_t>(0)));
}
STRATA_KERNEL(s_throw) {
  (void)ctx;
  throw std::runtime_error("s_throw fired");
}
STRATA_KERNEL(s_crash) {
  (void)ctx;
  raise(SIGSEGV);
}
// Raises flag 0 (tensor 0), then waits in a barrier of the domain (scalar 0) for the other members.
STRATA_KERNEL(s_flag_then_barrier) {
  strata::test::store_flag(ctx.data<uint64_t>(0), 1);
  strata::CommView(ctx.scalar<uint64_t>(0)).barrier();
}
// Sums every rank's "x" into its own (an allreduce by hand, two barriers).
STRATA_KERNEL(s_sum_x) {
  strata::CommView comm(ctx.scalar<uint64_t>(0));
  int64_t* x = ctx.data<int64_t>(0);
  comm.barrier();
  int64_t sum = 0;
  for (uint32_t r = 0; r < comm.size(); ++r) sum += *comm.peer(x, r);
  comm.barrier();
  *x = sum;
}

// Kills `pid` with `sig` once `delay` has passed, from a thread of the test process.
std::thread kill_later(pid_t pid, int sig, std::chrono::milliseconds delay) {
  return std::thread([=] {
    std::this_thread::sleep_for(delay);
    kill(pid, sig);
  });
}

// ---- deaths between runs ------------------------------------------------------------------------------

// Regression: a chip killed while idle was not reported; the next runs returned normally.
TEST_F(SupervisionTest, ChipKilledBetweenRunsIsReportedByEveryEntryPoint) {
  strata::Worker w({.chips = 3});
  auto fill = w.register_kernel("s_fill");
  w.init();
  auto x = w.create_buffer<int64_t>(4);
  w.run([&](strata::Orchestrator& o) {
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}), {}, 2);
  });
  const pid_t victim = child_pid(w, ChildKind::Chip, 2);
  kill(victim, SIGKILL);
  ASSERT_TRUE(wait_exited(victim));
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto e = capture<strata::ChildDiedError>([&] { w.run([](strata::Orchestrator&) {}); }, "run() after an idle death");
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "chip 2 died");
  }
  auto e1 = capture<strata::ChildDiedError>([&] { (void)w.register_kernel("s_add_one"); }, "register_kernel");
  ASSERT_TRUE(e1);
  STRATA_EXPECT_CONTAINS(e1->what(), "chip 2");
  auto e2 = capture<strata::ChildDiedError>([&] { (void)w.create_buffer<int64_t>(4); }, "create_buffer");
  ASSERT_TRUE(e2);
  STRATA_EXPECT_CONTAINS(e2->what(), "chip 2");
  // respawn() re-forks it in place; a kernel registered by name after that reaches the new chip too.
  w.respawn();
  auto add = w.register_kernel("s_add_one");
  zero(x);
  w.run([&](strata::Orchestrator& o) {
    for (int c = 0; c < 3; ++c) o.submit(add, TaskArgs().inout(x.tensor({1})), {}, c);
  });
  EXPECT_EQ(x[0], 3);
  w.close();
}

// Regression: 2 chips, 2,000 tasks of 80 us, one chip killed 50 ms in: run() never returned (30 of 30).
TEST_F(SupervisionTest, ChipKilledInALongRunFailsItWithinASecondNamingTheChip) {
  for (int graph = 0; graph < 3; ++graph) {  // chained, independent per chip, mixed
    // The killer thread of the previous graph has ended, but under ThreadSanitizer its runtime thread
    // stays; the killer holds no lock across the fork.
    strata::Worker w({.chips = 2, .allow_threads = true});
    auto busy = w.register_kernel("s_busy_us");
    w.init();
    auto cells = w.create_buffer<int64_t>(64);
    zero(cells);
    const pid_t victim = child_pid(w, ChildKind::Chip, graph % 2);
    std::thread killer = kill_later(victim, SIGKILL, std::chrono::milliseconds(50));
    Clock::time_point killed;
    auto e = capture<strata::TaskError>(
        [&] {
          w.run([&](strata::Orchestrator& o) {
            for (int i = 0; i < 2000; ++i) {
              const strata::Tensor t = graph == 0   ? cells.tensor({1})
                                       : graph == 1 ? strata::Tensor::of(cells.data() + 16 * (i % 2), 1)
                                                    : strata::Tensor::of(cells.data() + 16 * (i % 3 == 0), 1);
              o.submit(busy, TaskArgs().inout(t).scalar(int64_t{80}), {}, i % 2);
            }
          });
        },
        "run() while a chip is killed");
    killer.join();
    killed = Clock::now();
    ASSERT_TRUE(e) << "graph " << graph;
    STRATA_EXPECT_CONTAINS(e->what(), "chip " + std::to_string(graph % 2));
    auto later = capture<strata::ChildDiedError>([&] { w.run([](strata::Orchestrator&) {}); }, "the next run");
    ASSERT_TRUE(later);
    w.close();
    EXPECT_LT(ms_since(killed), 5000.0);
  }
}

// ---- stops --------------------------------------------------------------------------------------------

// status() during a run shows a stopped chip as stopped; once it continues, the run ends normally.
TEST_F(SupervisionTest, StatusShowsAStoppedChipAndAContinuedOneFinishesTheRun) {
  pid_t victim = 0;
  std::atomic<bool> seen{false};
  std::string report;
  strata::Worker* self = nullptr;
  strata::Worker w({.chips = 2,
                    .on_progress =
                        [&](const strata::RunProgress&) {
                          if (seen) return;
                          const strata::WorkerStatus st = self->status();
                          if (st.children.size() == 2 && st.children[1].stopped_for_s > 0) {
                            report = st.to_string();
                            seen = true;
                            kill(victim, SIGCONT);
                          }
                        },
                    .timeouts = {.comm = std::chrono::seconds(60)}});
  self = &w;
  auto fill = w.register_kernel("s_fill");
  w.init();
  auto x = w.create_buffer<int64_t>(4);
  victim = child_pid(w, ChildKind::Chip, 1);
  kill(victim, SIGSTOP);
  w.run([&](strata::Orchestrator& o) {
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{5}), {}, 1);
  });
  ASSERT_TRUE(seen) << "the run ended without status() showing the stopped chip";
  STRATA_EXPECT_CONTAINS(report, "chip 1 (pid " + std::to_string(victim) + "): ready, stopped (SIGSTOP) for ");
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(x[i], 5);
  w.close();
}

// Regression: a stop during the drain let run() succeed; with pending frees each cost a timeouts.comm.
TEST_F(SupervisionTest, StoppedChipCostsOneCommTimeoutThenIsDeclaredLost) {
  strata::Worker w(
      {.chips = 2, .timeouts = {.close = std::chrono::milliseconds(200), .comm = std::chrono::milliseconds(1000)}});
  auto fill = w.register_kernel("s_fill");
  w.init();
  auto x = w.create_buffer<int64_t>(4);
  const pid_t victim = child_pid(w, ChildKind::Chip, 1);
  const auto start = Clock::now();
  auto e = capture<strata::Error>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          for (int d = 0; d < 4; ++d)  // four domains released in the run: four frees pending on chip 1
            o.allocate_domain({.name = "d" + std::to_string(d), .workers = {0, 1}, .window_size = 4096}).release();
          o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{2}), {}, 0);
          kill(victim, SIGSTOP);
        });
      },
      "run() with a stopped chip");
  const double elapsed = ms_since(start);
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "chip 1");
  EXPECT_LT(elapsed, 3000.0) << "four pending frees on a stopped chip must cost one timeouts.comm (1 s), not four";
  auto later = capture<strata::ChildDiedError>([&] { w.run([](strata::Orchestrator&) {}); }, "the next run");
  ASSERT_TRUE(later);
  STRATA_EXPECT_CONTAINS(later->what(), "chip 1 was declared lost");
  w.close();
}

TEST_F(SupervisionTest, StopDuringTheDrainMakesRunThrow) {
  strata::Worker w(
      {.chips = 2, .timeouts = {.close = std::chrono::milliseconds(200), .comm = std::chrono::milliseconds(500)}});
  auto sleep_ms = w.register_kernel("s_sleep_ms");
  w.init();
  const pid_t victim = child_pid(w, ChildKind::Chip, 0);
  const auto start = Clock::now();
  auto e = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          for (int i = 0; i < 20; ++i) o.submit(sleep_ms, TaskArgs().scalar(int64_t{5}), {}, 0);
          kill(victim, SIGSTOP);
        });
      },
      "run() whose chip stops while it drains");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->child_index(), 0);
  STRATA_EXPECT_CONTAINS(e->what(), "stopped");
  EXPECT_LT(ms_since(start), 5000.0);
  w.close();
}

// ---- collectives -------------------------------------------------------------------------------------

// Regression: when a domain member died, the survivors waited in barrier() for 120 s.
TEST_F(SupervisionTest, CollectiveAbortsWhenAPeerDies) {
  strata::Worker w({.chips = 2});
  auto flag_barrier = w.register_kernel("s_flag_then_barrier");
  auto flag_sleep = w.register_kernel("s_flag_then_sleep");
  w.init();
  auto flag = w.create_buffer<uint64_t>(1);
  auto flag1 = w.create_buffer<uint64_t>(1);
  zero(flag), zero(flag1);
  const pid_t victim = child_pid(w, ChildKind::Chip, 1);
  std::thread killer([&] {  // once chip 0 waits in its barrier and chip 1 runs its task
    strata::test::wait_flag_at_least(flag.data(), 1, std::chrono::seconds(20));
    strata::test::wait_flag_at_least(flag1.data(), 1, std::chrono::seconds(20));
    kill(victim, SIGKILL);
  });
  const auto start = Clock::now();
  auto e = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          auto d = o.allocate_domain({.name = "ab", .workers = {0, 1}, .window_size = 4096});
          o.submit(flag_barrier, TaskArgs().no_dep(flag.tensor()).scalar(d[0].device_ctx), {}, 0);
          o.submit(flag_sleep, TaskArgs().no_dep(flag1.tensor()).scalar(int64_t{60000}), {}, 1);  // never joins
        });
      },
      "run() whose collective loses a member");
  killer.join();
  ASSERT_TRUE(e);
  EXPECT_LT(ms_since(start), 5000.0) << "the survivor waited in its barrier";
  STRATA_EXPECT_CONTAINS(e->what(), "chip 1 died");
  w.close();
}

// ---- protocol and watchdog ----------------------------------------------------------------------------

// Regression: a corrupted completion made the parent kill the chip and then print the same error forever.
TEST_F(SupervisionTest, MalformedCompletionDeclaresTheChildLostOnce) {
  strata::Worker w({.chips = 2});
  auto fill = w.register_kernel("s_fill");
  w.init();
  auto x = w.create_buffer<int64_t>(4);
  w.run([&](strata::Orchestrator& o) {
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}), {}, 0);
  });
  // Write what a corrupted chip would: a completion for a task it was never given.
  strata::ipc::Channel* ch = strata::test::child_channel(w, ChildKind::Chip, 0);
  const uint64_t head = ch->header.cpl_head.load();
  ch->completions[head % strata::ipc::kCompletionSlots] = strata::ipc::Completion{};
  ch->completions[head % strata::ipc::kCompletionSlots].id = 4575657222473777152ull;
  ::testing::internal::CaptureStderr();
  ch->header.cpl_head.store(head + 1);
  auto e = capture<strata::ChildDiedError>([&] { w.run([](strata::Orchestrator&) {}); }, "the run after it");
  auto e2 = capture<strata::ChildDiedError>([&] { w.run([](strata::Orchestrator&) {}); }, "the run after that");
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "chip 0 was declared lost");
  STRATA_EXPECT_CONTAINS(e->what(), "malformed completion");
  EXPECT_LE(std::count(log.begin(), log.end(), '\n'), 3) << "the failure is logged once:\n" << log;
  w.close();
}

// Regression: the watchdog read (task, deadline) without a lock and could blame the wrong task.
TEST_F(SupervisionTest, WatchdogNeverKillsForATaskWithoutATimeout) {
  strata::Worker w({.chips = 1});
  auto sleep_ms = w.register_kernel("s_sleep_ms");
  w.init();
  w.run([&](strata::Orchestrator& o) {
    for (int i = 0; i < 20; ++i) {
      o.submit(sleep_ms, TaskArgs().scalar(int64_t{0}), {.timeout = std::chrono::milliseconds(50)}, 0);
      o.submit(sleep_ms, TaskArgs().scalar(int64_t{i % 5 == 0 ? 80 : 1}), {}, 0);  // no timeout: may run long
    }
  });
  w.close();
}

// ---- fail fast --------------------------------------------------------------------------------------------

TEST_F(SupervisionTest, FailFastThrowsFromSubmitAndCancelsWhatWasNotPushed) {
  strata::Worker w({.chips = 2, .memory = {.task_ring = 64}});
  auto thrower = w.register_kernel("s_throw");
  auto add = w.register_kernel("s_add_one");
  w.init();
  auto count = w.create_buffer<int64_t>(1);
  zero(count);
  uint64_t failed_id = 0, submit_threw = 0;
  auto e = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          failed_id = o.submit(thrower, TaskArgs(), {}, 0).id;
          try {
            for (int i = 0; i < 1000000; ++i) o.submit(add, TaskArgs().inout(count.tensor()), {}, 1);
          } catch (const strata::TaskError& te) {
            submit_threw = te.task_id();
            throw;
          }
        });
      },
      "run() with fail_fast");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->task_id(), failed_id);
  EXPECT_EQ(submit_threw, failed_id) << "a submit after the failure threw the run's TaskError";
  EXPECT_LT(count[0], 1000000) << "the run went on submitting after its failure";
  w.close();
}

TEST_F(SupervisionTest, WithoutFailFastEveryIndependentTaskRuns) {
  strata::Worker w({.chips = 2, .fail_fast = false});
  auto thrower = w.register_kernel("s_throw");
  auto add = w.register_kernel("s_add_one");
  w.init();
  auto count = w.create_buffer<int64_t>(1);
  zero(count);
  auto e = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          o.submit(thrower, TaskArgs(), {}, 0);
          for (int i = 0; i < 500; ++i) o.submit(add, TaskArgs().inout(count.tensor()), {}, 1);
        });
      },
      "run() without fail_fast");
  ASSERT_TRUE(e);
  EXPECT_EQ(count[0], 500);
  w.close();
}

// ---- cancel_run --------------------------------------------------------------------------------------

// What a front end does on Ctrl-C: cancel_run() from WorkerOptions::on_wait. Without fail_fast, so the
// cancellation alone stops what was not pushed; the idle chip is left alone, the busy one is killed.
TEST_F(SupervisionTest, CancelRunFromOnWaitStopsTheRunAndRespawnRestoresIt) {
  strata::Worker* self = nullptr;
  bool cancel = false;
  strata::WorkerOptions opts{.chips = 2, .fail_fast = false, .memory = {.task_ring = 4}};
  opts.on_wait = [&] {
    if (cancel && self != nullptr) {
      cancel = false;
      self->cancel_run("test");
    }
  };
  strata::Worker w(std::move(opts));
  self = &w;
  auto busy = w.register_kernel("s_busy_us");
  w.init();
  auto count = w.create_buffer<int64_t>(1);
  zero(count);
  constexpr int kTasks = 200;  // 200 x 20 ms, one after the other (each writes count)
  // Waiting in the drain: the run ends at once with the killed task's failure.
  cancel = true;
  auto in_drain = capture<strata::Error>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          for (int i = 0; i < 4; ++i) o.submit(busy, TaskArgs().inout(count.tensor()).scalar(int64_t{100000}), {}, 0);
        });
      },
      "run() cancelled in its drain");
  ASSERT_TRUE(in_drain);
  EXPECT_LT(count[0], 4);
  w.respawn();
  // Waiting for room in submit: that submit throws, saying why.
  zero(count);
  cancel = true;
  std::string submit_error;
  auto in_submit = capture<strata::Error>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          try {
            for (int i = 0; i < kTasks; ++i)
              o.submit(busy, TaskArgs().inout(count.tensor()).scalar(int64_t{20000}), {}, 0);
          } catch (const strata::Error& e) {
            submit_error = e.what();
            throw;
          }
        });
      },
      "run() cancelled in a submit");
  ASSERT_TRUE(in_submit);
  STRATA_EXPECT_CONTAINS(submit_error, "the run was cancelled (test)");
  EXPECT_LT(count[0], kTasks);
  const strata::WorkerStatus st = w.status();
  ASSERT_EQ(st.children.size(), 2u);
  EXPECT_EQ(st.children[0].state, "lost");
  EXPECT_EQ(st.children[1].state, "ready") << "a chip that owed nothing is not killed";
  STRATA_EXPECT_CONTAINS(st.children[0].gone, "the run was cancelled (test)");
  EXPECT_THROW(w.run([](strata::Orchestrator&) {}), strata::ChildDiedError);
  w.respawn();
  zero(count);
  w.run([&](strata::Orchestrator& o) { o.submit(busy, TaskArgs().inout(count.tensor()).scalar(int64_t{1}), {}, 0); });
  EXPECT_EQ(count[0], 1);
  EXPECT_THROW(w.cancel_run("outside"), strata::UsageError);
  w.close();
}

// ---- memory strata does not share --------------------------------------------------------------------

// Regression: a std::vector made after init() was accepted; the chip wrote its private copy.
TEST_F(SupervisionTest, TensorOverPrivateMemoryIsRefusedAndTheWorkerStaysUsable) {
  strata::Worker w({.chips = 1});
  auto fill = w.register_kernel("s_fill");
  w.init();
  std::vector<int64_t> mine(1024);
  auto e = capture<strata::UsageError>(
      [&] {
        w.run([&](strata::Orchestrator& o) {
          o.submit(fill, TaskArgs().output_existing(strata::Tensor::of(mine.data(), 1024)).scalar(int64_t{3}), {}, 0);
        });
      },
      "a tensor over a std::vector");
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "tensor 0");
  STRATA_EXPECT_CONTAINS(e->what(), "not in memory strata shares");
  auto x = w.create_buffer<int64_t>(4);
  w.run([&](strata::Orchestrator& o) {
    o.submit(fill, TaskArgs().output_existing(x.tensor()).scalar(int64_t{3}), {}, 0);
  });
  EXPECT_EQ(x[3], 3);
  w.close();
}

// ---- respawn ------------------------------------------------------------------------------------------

TEST_F(SupervisionTest, RespawnAfterEachKindOfDeath) {
  strata::test::disable_core_dumps();
  for (int kind = 0; kind < 4; ++kind) {  // killed, crashed, timed out, sub killed
    strata::Worker w({.chips = 2, .sub_workers = 1});
    auto add = w.register_kernel("s_add_one");
    auto crash = w.register_kernel("s_crash");
    auto sleep_ms = w.register_kernel("s_sleep_ms");
    auto host_add = w.register_host([](const strata::TaskContext& c) { ++*c.data<int64_t>(0); }, "s_host_add");
    w.init();
    auto x = w.create_buffer<int64_t>(1);
    zero(x);
    if (kind == 0) {
      const pid_t p = child_pid(w, ChildKind::Chip, 1);
      kill(p, SIGKILL);
      ASSERT_TRUE(wait_exited(p));
      EXPECT_TRUE(capture<strata::ChildDiedError>([&] { w.run([](strata::Orchestrator&) {}); }));
    } else if (kind == 1) {
      EXPECT_TRUE(capture<strata::TaskError>(
          [&] { w.run([&](strata::Orchestrator& o) { o.submit(crash, TaskArgs(), {}, 1); }); }));
    } else if (kind == 2) {
      EXPECT_TRUE(capture<strata::TaskError>([&] {
        w.run([&](strata::Orchestrator& o) {
          o.submit(sleep_ms, TaskArgs().scalar(int64_t{60000}), {.timeout = std::chrono::milliseconds(100)}, 1);
        });
      }));
    } else {
      const pid_t p = child_pid(w, ChildKind::Sub, 0);
      kill(p, SIGKILL);
      ASSERT_TRUE(wait_exited(p));
      auto e = capture<strata::ChildDiedError>([&] { w.run([](strata::Orchestrator&) {}); });
      ASSERT_TRUE(e);
      STRATA_EXPECT_CONTAINS(e->what(), "sub 0");
    }
    w.respawn();
    w.run([&](strata::Orchestrator& o) {
      o.submit(add, TaskArgs().inout(x.tensor()), {}, 0);
      o.submit(add, TaskArgs().inout(x.tensor()), {}, 1);
      o.submit_host(host_add, TaskArgs().inout(x.tensor()));
    });
    EXPECT_EQ(x[0], 3) << "kind " << kind;
    w.close();
  }
}

TEST_F(SupervisionTest, RespawnRepeatsTheBringupAndInvalidatesDomainsWithADeadMember) {
  std::vector<strata::ChipBringup> bringup(3);
  for (int i = 0; i < 3; ++i)
    bringup[static_cast<size_t>(i)] = {.rank = i, .window_size = 4096, .buffers = {{"x", strata::DType::I64, 1}}};
  strata::Worker w({.chips = 3, .bringup = bringup});
  auto sum = w.register_kernel("s_sum_x");
  w.init();
  strata::Domain kept;
  w.run([&](strata::Orchestrator& o) {
    kept = o.allocate_domain({.name = "kept", .workers = {0, 1}, .window_size = 4096});
  });
  const pid_t p = child_pid(w, ChildKind::Chip, 1);
  kill(p, SIGKILL);
  ASSERT_TRUE(wait_exited(p));
  EXPECT_TRUE(capture<strata::ChildDiedError>([&] { w.run([](strata::Orchestrator&) {}); }));
  w.respawn();
  auto bad = capture<strata::UsageError>([&] { (void)kept[0]; }, "a domain handle with a dead member");
  ASSERT_TRUE(bad);
  STRATA_EXPECT_CONTAINS(bad->what(), "invalid");
  // The bring-up was repeated: its contexts work for a collective over every chip.
  const auto& ctxs = w.chip_contexts();
  ASSERT_EQ(ctxs.size(), 3u);
  w.run([&](strata::Orchestrator& o) {
    for (int c = 0; c < 3; ++c) {
      const strata::ChipContext& cc = ctxs[static_cast<size_t>(c)];
      const int64_t v = c + 1;
      o.copy_to(strata::DomainBuffer{"x", reinterpret_cast<void*>(cc.buffer_ptrs().at("x")), strata::DType::I64, 1},
                &v);
    }
    for (int c = 0; c < 3; ++c) {
      const strata::ChipContext& cc = ctxs[static_cast<size_t>(c)];
      o.submit(
          sum,
          TaskArgs()
              .inout(strata::Tensor::make(reinterpret_cast<void*>(cc.buffer_ptrs().at("x")), {1}, strata::DType::I64))
              .scalar(cc.device_ctx),
          {}, c);
    }
  });
  w.close();
}

TEST_F(SupervisionTest, RespawnIsRefusedInsideARun) {
  strata::Worker w({.chips = 1});
  w.init();
  auto e = capture<strata::UsageError>([&] { w.run([&](strata::Orchestrator&) { w.respawn(); }); });
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "inside run()");
  w.close();
}

TEST_F(SupervisionTest, RespawnOfAPodRestartsTheDeadNode) {
  STRATA_SKIP_UNDER_TSAN();
  strata::Worker pod({.level = 4});
  strata::Worker& n0 = pod.add_worker({.chips = 1});
  strata::Worker& n1 = pod.add_worker({.chips = 1});
  auto k0 = n0.register_kernel("s_add_one");
  auto k1 = n1.register_kernel("s_add_one");
  (void)k1;
  auto step = pod.register_orch(
      [k0](strata::Orchestrator& o, const strata::TaskContext& c) {
        o.submit(k0, TaskArgs().inout(strata::Tensor::make(c.tensor(0).data, {1}, strata::DType::I64)), {}, 0);
      },
      "s_step");
  pod.init();
  auto x = pod.create_buffer<int64_t>(1);
  zero(x);
  const pid_t p = child_pid(pod, ChildKind::Worker, 1);
  kill(p, SIGKILL);
  ASSERT_TRUE(wait_exited(p));
  auto e = capture<strata::ChildDiedError>([&] { pod.run([](strata::Orchestrator&) {}); });
  ASSERT_TRUE(e);
  STRATA_EXPECT_CONTAINS(e->what(), "L3 worker 1");
  pod.respawn();
  pod.run([&](strata::Orchestrator& o) {
    o.submit(step, TaskArgs().inout(x.tensor()), {}, 0);
    o.submit(step, TaskArgs().inout(x.tensor()), {}, 1);
  });
  EXPECT_EQ(x[0], 2);
  pod.close();
}

}  // namespace
