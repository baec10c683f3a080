// tests/mpi/pod_cases.cpp — the cases of a pod over MPI, one per run: `mpirun -n 3 pod_cases <case>`
// (tests/mpi/run_case.sh adds the watchdog and the leak check). Every rank runs the same program; rank 0
// checks and prints "pod_cases <case>: PASS" or the failures, and exits 0 only when everything held.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "strata/half.hpp"
#include "strata/strata.hpp"

using namespace strata;

namespace {

int g_failures = 0;
std::string g_case;

void expect(bool ok, const std::string& what) {
  if (!ok) {
    ++g_failures;
    std::printf("  FAIL  %s\n", what.c_str());
  } else {
    std::printf("  ok    %s\n", what.c_str());
  }
  std::fflush(stdout);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

int my_rank() {
  const char* r = std::getenv("OMPI_COMM_WORLD_RANK");
  return r ? std::atoi(r) : 0;
}

// A pod of `chips` chips per rank, with the kernels and orchestration functions every case shares.
struct Pod {
  Worker pod;
  Worker* node;
  Kernel add, fail_on_chip1;
  std::map<std::string, OrchFn> orch;
  explicit Pod(WorkerOptions o = {.level = 4, .transport = Transport::Mpi}) : pod(std::move(o)) {
    node = &pod.add_worker({.chips = 2});
    add = node->register_kernel("pod_case_add");
    fail_on_chip1 = node->register_kernel("pod_case_fail");
  }
};

}  // namespace

// tensors: x (INOUT f32); scalar 0: what to add (f32).
STRATA_KERNEL(pod_case_add) {
  if (ctx.block_idx() != 0) return;
  float* x = ctx.data<float>(0);
  for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) x[i] += ctx.scalar<float>(0);
}

STRATA_KERNEL(pod_case_fail) {
  if (ctx.worker_index() == 1) throw HostError("SentinelError", "chip 1 refuses task " + std::to_string(ctx.task_id()));
}

STRATA_KERNEL(pod_case_extra) { (void)ctx; }

namespace {

// A chain of INOUT tasks that hops ranks: task i adds i + 1 on rank 1 + i % K (a chip task there).
int case_chain() {
  Pod p;
  p.orch["add"] = p.pod.register_orch(
      [&](Orchestrator& o, const TaskContext& ctx) {
        o.submit(p.add, TaskArgs().inout(ctx.tensor(0)).scalar(ctx.scalar<float>(0)), {}, 1);
      },
      "add");
  p.pod.init();
  if (p.pod.pod_rank() != 0) return 0;
  const int k = p.pod.pod_ranks() - 1;
  auto x = p.pod.create_buffer<float>(3000);  // not a multiple of anything in particular
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  const int n = 40;
  p.pod.run([&](Orchestrator& o) {
    for (int i = 0; i < n; ++i)
      o.submit(p.orch["add"], TaskArgs().inout(x.tensor()).scalar(static_cast<float>(i + 1)), {}, i % k);
  });
  bool ok = true;
  for (size_t i = 0; i < x.size(); ++i) ok &= x[i] == static_cast<float>(i) + n * (n + 1) / 2;
  expect(ok, "a chain of " + std::to_string(n) + " INOUT tasks hopping over " + std::to_string(k) +
                 " ranks adds up (x[1] = " + std::to_string(x[1]) + ")");
  p.pod.close();
  return 0;
}

// Write-after-read across ranks: A on rank 1 reads X slowly and writes Y = X + 1; B on rank 2 then writes
// X. Then read-after-write: C on rank 1 reads the X that B wrote.
int case_war() {
  Pod p;
  p.orch["copy_plus_one"] = p.pod.register_orch(
      [](Orchestrator&, const TaskContext& ctx) {
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        const float* x = ctx.data<float>(0);
        float* y = ctx.data<float>(1);
        for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) y[i] = x[i] + 1;
      },
      "copy_plus_one");
  p.orch["set"] = p.pod.register_orch(
      [](Orchestrator&, const TaskContext& ctx) {
        float* x = ctx.data<float>(0);
        for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) x[i] = 100;
      },
      "set");
  p.pod.init();
  if (p.pod.pod_rank() != 0) return 0;
  auto x = p.pod.create_buffer<float>(256), y = p.pod.create_buffer<float>(256), z = p.pod.create_buffer<float>(256);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  p.pod.run([&](Orchestrator& o) {
    o.submit(p.orch["copy_plus_one"], TaskArgs().input(x.tensor()).output_existing(y.tensor()), {}, 0);
    o.submit(p.orch["set"], TaskArgs().output_existing(x.tensor()), {}, 1);
    o.submit(p.orch["copy_plus_one"], TaskArgs().input(x.tensor()).output_existing(z.tensor()), {}, 0);
  });
  bool war = true, raw = true;
  for (size_t i = 0; i < x.size(); ++i) {
    war &= y[i] == static_cast<float>(i) + 1;
    raw &= z[i] == 101 && x[i] == 100;
  }
  expect(war, "write-after-read: the reader on rank 1 saw X before the writer on rank 2 changed it");
  expect(raw, "read-after-write: the next reader on rank 1 saw what rank 2 wrote");
  p.pod.close();
  return 0;
}

// Tensors of every tag: INPUT arrives and does not come back, OUTPUT / OUTPUT_EXISTING come back, INOUT
// both ways, NO_DEP not moved either way. Also a large INOUT tensor (several chunks).
int case_tags() {
  Pod p;
  p.orch["probe"] = p.pod.register_orch(
      [](Orchestrator&, const TaskContext& ctx) {
        auto* in = ctx.data<float>(0);
        auto* out = ctx.data<float>(1);
        auto* out_existing = ctx.data<float>(2);
        auto* io = ctx.data<float>(3);
        auto* nodep = ctx.data<float>(4);
        const size_t n = ctx.tensor(0).numel();
        bool in_ok = true;
        for (size_t i = 0; i < n; ++i) in_ok &= in[i] == static_cast<float>(i);
        const bool nodep_moved = nodep[0] == 5;
        for (size_t i = 0; i < n; ++i) {
          in[i] = -1;  // must not reach rank 0
          out[i] = 7;
          out_existing[i] = 8;
          io[i] += 1;
          nodep[i] = 9;  // must not reach rank 0
        }
        out[0] = in_ok ? 1 : 0;
        out[1] = nodep_moved ? 1 : 0;
        auto* big = ctx.data<uint32_t>(5);
        for (size_t i = 0; i < ctx.tensor(5).numel(); ++i) big[i] = big[i] * 3 + 1;
      },
      "probe");
  p.pod.init();
  if (p.pod.pod_rank() != 0) return 0;
  const size_t n = 1000;
  auto in = p.pod.create_buffer<float>(n), out = p.pod.create_buffer<float>(n), oe = p.pod.create_buffer<float>(n),
       io = p.pod.create_buffer<float>(n), nd = p.pod.create_buffer<float>(n);
  const size_t big_n = (size_t{9} << 20) / 4 + 3;  // 9 MiB and a bit: three chunks
  auto big = p.pod.create_buffer<uint32_t>(big_n);
  for (size_t i = 0; i < n; ++i) {
    in[i] = static_cast<float>(i);
    out[i] = 0;
    oe[i] = 0;
    io[i] = static_cast<float>(2 * i);
    nd[i] = 5;
  }
  for (size_t i = 0; i < big_n; ++i) big[i] = static_cast<uint32_t>(i);
  p.pod.run([&](Orchestrator& o) {
    o.submit(p.orch["probe"],
             TaskArgs()
                 .input(in.tensor())
                 .output(out.tensor())
                 .output_existing(oe.tensor())
                 .inout(io.tensor())
                 .no_dep(nd.tensor())
                 .inout(big.tensor()),
             {}, 1);
  });
  bool in_back = true, out_ok = true, oe_ok = true, io_ok = true, nd_ok = true, big_ok = true;
  for (size_t i = 0; i < n; ++i) {
    in_back &= in[i] == static_cast<float>(i);
    if (i >= 2) out_ok &= out[i] == 7;
    oe_ok &= oe[i] == 8;
    io_ok &= io[i] == static_cast<float>(2 * i + 1);
    nd_ok &= nd[i] == 5;
  }
  for (size_t i = 0; i < big_n; ++i) big_ok &= big[i] == static_cast<uint32_t>(i) * 3 + 1;
  expect(out[0] == 1, "INPUT arrived on rank 2 whole");
  expect(in_back, "INPUT did not come back");
  expect(out_ok, "OUTPUT came back");
  expect(oe_ok, "OUTPUT_EXISTING came back");
  expect(io_ok, "INOUT went and came back");
  expect(out[1] == 0, "NO_DEP was not sent to the rank");
  expect(nd_ok, "NO_DEP did not come back");
  expect(big_ok, "a 9 MiB INOUT tensor went and came back in chunks");
  p.pod.close();
  return 0;
}

// A failing chip task two levels down comes back with the whole chain.
int case_error() {
  Pod p;
  p.orch["step"] = p.pod.register_orch(
      [&](Orchestrator& o, const TaskContext&) {
        o.submit_group(p.fail_on_chip1, {TaskArgs(), TaskArgs()}, {}, {0, 1});
      },
      "step");
  p.pod.init();
  if (p.pod.pod_rank() != 0) return 0;
  auto x = p.pod.create_buffer<float>(4);
  bool threw = false;
  try {
    p.pod.run([&](Orchestrator& o) {
      o.submit(p.orch["step"], TaskArgs().inout(x.tensor()), {}, 0);
      o.submit(p.orch["step"], TaskArgs().inout(x.tensor()), {}, 1);
    });
  } catch (const TaskError& e) {
    threw = true;
    const std::string what = e.what();
    std::printf("  (what: %s)\n", what.c_str());
    expect(
        contains(what, "'step' failed on rank 1 (L3): task #") && contains(what, "failed on chip 1: SentinelError: "),
        "the error names the pod's task, the rank, the chip's task, the chip and the type");
    expect(e.frames().size() == 2 && e.frames()[0].rank == 1 && e.frames()[0].child_kind == ChildKind::Worker &&
               e.frames()[1].child_kind == ChildKind::Chip && e.frames()[1].child_index == 1,
           "the chain is data: frames()[0].rank == 1, frames()[1] is chip 1");
    expect(e.error_type() == "SentinelError" && contains(e.message(), "chip 1 refuses"),
           "error_type() and message() are the chip's");
  } catch (const std::exception& e) {
    expect(false, std::string("run() threw something else: ") + e.what());
  }
  expect(threw, "run() threw a TaskError");
  // The pod stays usable: both ranks are alive.
  bool second = true;
  try {
    p.pod.run([&](Orchestrator&) {});
  } catch (const std::exception& e) {
    second = false;
  }
  expect(second, "the pod runs again after a task failed");
  p.pod.close();
  return 0;
}

// Rank 2 registers a kernel the others do not: every rank's init() refuses, naming rank 2 and the kernel.
int case_mismatch() {
  Pod p;
  p.orch["step"] = p.pod.register_orch([](Orchestrator&, const TaskContext&) {}, "step");
  if (my_rank() == 2) p.node->register_kernel("pod_case_extra");
  try {
    p.pod.init();
    expect(false, "init() on rank " + std::to_string(my_rank()) + " accepted a pod whose ranks differ");
    if (p.pod.pod_rank() == 0) p.pod.close();
  } catch (const UsageError& e) {
    const std::string what = e.what();
    if (my_rank() == 0) std::printf("  (what: %s)\n", what.c_str());
    expect(contains(what, "rank 2") && contains(what, "kernel 'pod_case_extra'"),
           "rank " + std::to_string(my_rank()) + ": init() refused, naming rank 2 and kernel 'pod_case_extra'");
  }
  return 0;
}

// Rank 2 is killed from outside in the middle of a long run: rank 0's run() throws naming it, fast.
int case_kill() {
  Pod p({.level = 4, .transport = Transport::Mpi});
  p.orch["pid"] =
      p.pod.register_orch([](Orchestrator&, const TaskContext& ctx) { *ctx.data<int64_t>(0) = getpid(); }, "pid");
  p.orch["work"] = p.pod.register_orch(
      [&](Orchestrator& o, const TaskContext& ctx) {
        o.submit(p.add, TaskArgs().inout(ctx.tensor(0)).scalar(1.0f), {}, 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      },
      "work");
  p.pod.init();
  if (p.pod.pod_rank() != 0) return 0;
  auto pid = p.pod.create_buffer<int64_t>(1);
  auto a = p.pod.create_buffer<float>(64), b = p.pod.create_buffer<float>(64);
  p.pod.run([&](Orchestrator& o) { o.submit(p.orch["pid"], TaskArgs().output_existing(pid.tensor()), {}, 1); });
  const pid_t victim = static_cast<pid_t>(pid[0]);
  std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const int delay_ms = 100 + static_cast<int>(rng() % 600);
  std::printf("  (killing rank 2, pid %d, after %d ms)\n", static_cast<int>(victim), delay_ms);
  std::chrono::steady_clock::time_point killed_at;
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    killed_at = std::chrono::steady_clock::now();
    ::kill(victim, SIGKILL);
  });
  std::string what;
  try {
    p.pod.run([&](Orchestrator& o) {
      for (int i = 0; i < 100000; ++i) {
        o.submit(p.orch["work"], TaskArgs().inout(a.tensor()), {}, 0);
        o.submit(p.orch["work"], TaskArgs().inout(b.tensor()), {}, 1);
      }
    });
  } catch (const std::exception& e) {
    what = e.what();
  }
  const auto noticed = std::chrono::steady_clock::now();
  killer.join();
  const double ms = std::chrono::duration<double, std::milli>(noticed - killed_at).count();
  std::printf("  (what: %s)\n", what.c_str());
  expect(contains(what, "rank 2 (L3)"), "run() threw naming rank 2");
  expect(ms < 5000, "within 5 s of the kill (" + std::to_string(static_cast<int>(ms)) + " ms)");
  p.pod.close();
  return 0;
}

// Rank 0's orchestration function throws in the middle of a run and rank 0 leaves without close(): every
// rank shuts down (the destructor closes the pod).
int case_root_throws() {
  Pod p;
  p.orch["work"] = p.pod.register_orch(
      [&](Orchestrator& o, const TaskContext& ctx) {
        o.submit(p.add, TaskArgs().inout(ctx.tensor(0)).scalar(1.0f), {}, 0);
      },
      "work");
  p.pod.init();
  if (p.pod.pod_rank() != 0) return 0;
  auto a = p.pod.create_buffer<float>(64);
  try {
    p.pod.run([&](Orchestrator& o) {
      for (int i = 0; i < 50; ++i) o.submit(p.orch["work"], TaskArgs().inout(a.tensor()), {}, i % 2);
      throw std::runtime_error("the orchestration function gives up");
    });
    expect(false, "run() returned");
  } catch (const std::runtime_error& e) {
    expect(contains(e.what(), "gives up"), "run() rethrew the orchestration function's exception");
  }
  return 0;  // no close(): the Worker's destructor shuts the ranks down
}

// Pod collectives: allreduce (sum, max, avg; f32, i64, bf16) and broadcast across the ranks, and a mismatch.
int case_collective() {
  Pod p;
  p.orch["reduce"] = p.pod.register_orch(
      [](Orchestrator& o, const TaskContext& ctx) {
        const int r = static_cast<int>(ctx.scalar<int64_t>(0));
        float* f = ctx.data<float>(0);
        auto* i = ctx.data<int64_t>(1);
        auto* h = ctx.data<uint16_t>(2);
        float* mx = ctx.data<float>(3);
        float* bc = ctx.data<float>(4);
        for (size_t k = 0; k < ctx.tensor(0).numel(); ++k) {
          f[k] = static_cast<float>(r * 1000 + static_cast<int>(k));
          mx[k] = static_cast<float>(r == 1 ? 5 : -static_cast<int>(k));
          bc[k] = static_cast<float>(r * 10);
        }
        for (size_t k = 0; k < ctx.tensor(1).numel(); ++k) i[k] = r * (int64_t{1} << 40) + static_cast<int64_t>(k);
        for (size_t k = 0; k < ctx.tensor(2).numel(); ++k) h[k] = bf16_from_float(static_cast<float>(r));
        o.pod_allreduce("f", ctx.tensor(0), ReduceOp::Sum);
        o.pod_allreduce("i", ctx.tensor(1), ReduceOp::Sum);
        o.pod_allreduce("h", ctx.tensor(2), ReduceOp::Avg);
        o.pod_allreduce("mx", ctx.tensor(3), ReduceOp::Max);
        o.pod_broadcast("bc", ctx.tensor(4), 2);
      },
      "reduce");
  p.orch["odd"] = p.pod.register_orch(
      [](Orchestrator& o, const TaskContext& ctx) {
        const int r = static_cast<int>(ctx.scalar<int64_t>(0));
        o.pod_allreduce(r == 2 ? "other" : "g", ctx.tensor(0), ReduceOp::Sum);
      },
      "odd");
  p.pod.init();
  if (p.pod.pod_rank() != 0) return 0;
  const size_t n = 1001;
  std::vector<Buffer<float>> f, mx, bc;
  std::vector<Buffer<int64_t>> in;
  std::vector<RawBuffer> h;  // bf16
  for (int r = 1; r <= 2; ++r) {
    f.push_back(p.pod.create_buffer<float>(n));
    in.push_back(p.pod.create_buffer<int64_t>(n));
    h.push_back(p.pod.create_raw_buffer(n * 2));
    mx.push_back(p.pod.create_buffer<float>(n));
    bc.push_back(p.pod.create_buffer<float>(n));
  }
  p.pod.run([&](Orchestrator& o) {
    for (int r = 1; r <= 2; ++r) {
      const auto k = static_cast<size_t>(r - 1);
      o.submit(p.orch["reduce"],
               TaskArgs()
                   .output_existing(f[k].tensor())
                   .output_existing(in[k].tensor())
                   .output_existing(Tensor::make(h[k].data(), {static_cast<int64_t>(n)}, DType::BF16))
                   .output_existing(mx[k].tensor())
                   .output_existing(bc[k].tensor())
                   .scalar(int64_t{r}),
               {}, r - 1);
    }
  });
  bool sum = true, isum = true, avg = true, max = true, bcast = true;
  for (size_t r = 0; r < 2; ++r)
    for (size_t k = 0; k < n; ++k) {
      sum &= f[r][k] == static_cast<float>(3000 + 2 * k);
      isum &= in[r][k] == 3 * (int64_t{1} << 40) + 2 * static_cast<int64_t>(k);
      avg &= float_from_bf16(static_cast<const uint16_t*>(h[r].data())[k]) == 1.5f;
      max &= mx[r][k] == 5;
      bcast &= bc[r][k] == 20;
    }
  expect(sum, "pod_allreduce sum f32 across 2 ranks");
  expect(isum, "pod_allreduce sum i64 (values past 2^40)");
  expect(avg, "pod_allreduce avg bf16");
  expect(max, "pod_allreduce max f32");
  expect(bcast, "pod_broadcast from rank 2");
  std::string what;
  try {
    auto g = p.pod.create_buffer<float>(8);
    auto g2 = p.pod.create_buffer<float>(8);
    p.pod.run([&](Orchestrator& o) {
      o.submit(p.orch["odd"], TaskArgs().inout(g.tensor()).scalar(int64_t{1}), {}, 0);
      o.submit(p.orch["odd"], TaskArgs().inout(g2.tensor()).scalar(int64_t{2}), {}, 1);
    });
  } catch (const TaskError& e) {
    what = e.what();
  }
  std::printf("  (what: %s)\n", what.c_str());
  expect(contains(what, "pod_allreduce('") && contains(what, "'other'"),
         "a mismatched pod collective is an error naming both");
  // A domain across ranks does not exist: asking for one at the pod is a UsageError.
  std::string domain;
  try {
    p.pod.run([&](Orchestrator& o) {
      o.allocate_domain(DomainSpec{.name = "across", .workers = {0, 1}, .window_size = 4096, .buffers = {}});
    });
  } catch (const UsageError& e) {
    domain = e.what();
  }
  std::printf("  (what: %s)\n", domain.c_str());
  expect(contains(domain, "inside a host"), "a domain across ranks is refused with a UsageError");
  p.pod.close();
  return 0;
}

// Rank 2 stops (SIGSTOP) in a run: it is silent past the heartbeat deadline, rank 0 names it.
int case_silent() {
  Pod p({.level = 4, .transport = Transport::Mpi, .timeouts = {.heartbeat = std::chrono::milliseconds(1500)}});
  p.orch["pid"] =
      p.pod.register_orch([](Orchestrator&, const TaskContext& ctx) { *ctx.data<int64_t>(0) = getpid(); }, "pid");
  p.orch["nap"] = p.pod.register_orch(
      [](Orchestrator&, const TaskContext&) { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }, "nap");
  try {
    p.pod.init();
  } catch (const Error& e) {
    // Rank 2, once it runs again, hears that it was dismissed and leaves with an error.
    expect(my_rank() == 2 && contains(e.what(), "the root dismissed it"),
           "rank " + std::to_string(my_rank()) + "'s init() threw: " + e.what());
    return 0;
  }
  if (p.pod.pod_rank() != 0) return 0;
  auto pid = p.pod.create_buffer<int64_t>(1);
  auto a = p.pod.create_buffer<float>(8);
  p.pod.run([&](Orchestrator& o) { o.submit(p.orch["pid"], TaskArgs().output_existing(pid.tensor()), {}, 1); });
  const pid_t victim = static_cast<pid_t>(pid[0]);
  ::kill(victim, SIGSTOP);
  const auto t0 = std::chrono::steady_clock::now();
  std::string what;
  try {
    p.pod.run([&](Orchestrator& o) {
      for (int i = 0; i < 20; ++i) o.submit(p.orch["nap"], TaskArgs().inout(a.tensor()), {}, 1);
    });
  } catch (const std::exception& e) {
    what = e.what();
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ::kill(victim, SIGCONT);  // it then hears that it was dismissed, and leaves
  std::printf("  (what: %s)\n", what.c_str());
  expect(contains(what, "rank 2 (L3)") && contains(what, "stopped answering"), "run() threw naming the silent rank");
  expect(ms >= 1400 && ms < 6000, "after the heartbeat deadline (" + std::to_string(static_cast<int>(ms)) + " ms)");
  p.pod.close();
  return 0;
}

// A pod whose rank 2 cannot start: rank 0's init() throws naming rank 2 (and `also`, when given), rank 2's
// init() throws, rank 1's returns (rank 0 shut it down).
void expect_rank2_refused(Worker& pod, const char* also) {
  try {
    pod.init();
    expect(my_rank() == 1, "rank " + std::to_string(my_rank()) + "'s init() returned");
    if (my_rank() == 0) pod.close();
  } catch (const std::exception& e) {
    if (my_rank() == 0) std::printf("  (what: %s)\n", e.what());
    expect(my_rank() == 2 || (my_rank() == 0 && contains(e.what(), "rank 2 (L3) failed to start") &&
                              (also == nullptr || contains(e.what(), also))),
           "rank " + std::to_string(my_rank()) + "'s init() threw" + (my_rank() == 0 ? " naming rank 2" : ""));
  }
}

// Rank 2's Worker cannot start (its bring-up asks for a window larger than a sim chip's memory): rank 0's
// init() throws naming rank 2, rank 1 is shut down and returns from init(), rank 2's init() throws.
int case_init_fails() {
  WorkerOptions node_opts{.chips = 1};
  if (my_rank() == 2)
    node_opts.bringup = {
        ChipBringup{.rank = 0, .window_size = size_t{1} << 40, .buffers = {}, .inputs = {}, .outputs = {}}};
  Worker pod({.level = 4, .transport = Transport::Mpi});
  pod.add_worker(std::move(node_opts));
  pod.register_orch([](Orchestrator&, const TaskContext&) {}, "step");
  expect_rank2_refused(pod, nullptr);
  return 0;
}

// Rank 2's pod memory differs from rank 0's (its copy could not sit at the same offsets): rank 0's init()
// throws naming rank 2 and the sizes, rank 2's init() throws, rank 1 is shut down.
int case_memory_mismatch() {
  WorkerOptions o{.level = 4, .transport = Transport::Mpi};
  if (my_rank() == 2) o.memory.heap_bytes = size_t{48} << 20;
  Worker pod(std::move(o));
  pod.add_worker({.chips = 1});
  pod.register_orch([](Orchestrator&, const TaskContext&) {}, "step");
  expect_rank2_refused(pod, "pod memory");
  return 0;
}

// A traced pod: one file for the whole pod, each rank's processes under its own names and pids, their
// times on rank 0's clock (inside rank 0's run).
int case_trace() {
  const std::string path = "pod_trace_" + std::to_string(getpid()) + ".json";
  Pod p({.level = 4, .transport = Transport::Mpi, .trace_path = my_rank() == 0 ? path : std::string()});
  p.orch["add"] = p.pod.register_orch(
      [&](Orchestrator& o, const TaskContext& ctx) {
        o.submit(p.add, TaskArgs().inout(ctx.tensor(0)).scalar(1.0f), {}, 0);
      },
      "add");
  p.pod.init();
  if (p.pod.pod_rank() != 0) return 0;
  auto x = p.pod.create_buffer<float>(16);
  p.pod.run([&](Orchestrator& o) {
    for (int i = 0; i < 6; ++i) o.submit(p.orch["add"], TaskArgs().inout(x.tensor()), {}, i % 2);
  });
  p.pod.close();
  nlohmann::json trace;
  try {
    std::ifstream(path) >> trace;
  } catch (const std::exception& e) {
    expect(false, "the trace " + path + " reads as JSON: " + e.what());
    return 0;
  }
  std::remove(path.c_str());
  const auto& events = trace.is_object() ? trace["traceEvents"] : trace;
  std::map<int64_t, std::string> names;  // pid -> process name
  double run_begin = -1, run_end = -1;
  std::vector<std::pair<int64_t, double>> chip_slices;  // pid, ts
  for (const auto& e : events) {
    const std::string ph = e.value("ph", ""), name = e.value("name", "");
    if (ph == "M" && name == "process_name") names[e["pid"].get<int64_t>()] = e["args"]["name"].get<std::string>();
    if (ph == "X" && name == "run" && run_begin < 0) {
      run_begin = e["ts"].get<double>();
      run_end = run_begin + e["dur"].get<double>();
    }
    if (ph == "X" && name == "pod_case_add") chip_slices.emplace_back(e["pid"].get<int64_t>(), e["ts"].get<double>());
  }
  int rank_tracks[3] = {0, 0, 0};
  for (const auto& [pid, name] : names)
    for (int r = 1; r <= 2; ++r)
      if (contains(name, "rank " + std::to_string(r) + " (L3)") && pid >= (int64_t{r} << 22) &&
          pid < (int64_t{r + 1} << 22))
        ++rank_tracks[r];
  expect(rank_tracks[1] >= 2 && rank_tracks[2] >= 2,
         "each rank's processes have tracks of their own, named for the rank, with pids of their own (" +
             std::to_string(rank_tracks[1]) + ", " + std::to_string(rank_tracks[2]) + ")");
  bool inside = !chip_slices.empty() && run_begin >= 0;
  for (const auto& [pid, ts] : chip_slices) inside &= pid >= (int64_t{1} << 22) && ts >= run_begin && ts <= run_end;
  expect(inside, std::to_string(chip_slices.size()) + " chip tasks of the ranks, all inside rank 0's run on its clock");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<int()>> cases = {{"chain", case_chain},
                                                             {"war", case_war},
                                                             {"tags", case_tags},
                                                             {"error", case_error},
                                                             {"mismatch", case_mismatch},
                                                             {"kill", case_kill},
                                                             {"root_throws", case_root_throws},
                                                             {"collective", case_collective},
                                                             {"silent", case_silent},
                                                             {"init_fails", case_init_fails},
                                                             {"trace", case_trace},
                                                             {"memory_mismatch", case_memory_mismatch}};
  if (argc != 2 || !cases.count(argv[1])) {
    std::fprintf(stderr, "usage: mpirun -n 3 %s <case>; cases:", argv[0]);
    for (const auto& [name, fn] : cases) std::fprintf(stderr, " %s", name.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  g_case = argv[1];
  int rc = 0;
  try {
    rc = cases.at(g_case)();
  } catch (const std::exception& e) {
    std::printf("  FAIL  rank %d: %s\n", my_rank(), e.what());
    rc = 1;
  }
  if (g_failures) rc = 1;
  if (my_rank() == 0) std::printf("pod_cases %s: %s\n", g_case.c_str(), rc == 0 ? "PASS" : "FAIL");
  return rc;
}
