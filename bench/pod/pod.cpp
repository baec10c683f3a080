// bench/pod/pod.cpp — see pod.hpp.
#include "pod.hpp"

// The C API only (Open MPI would pull in its deprecated C++ bindings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "strata/strata.hpp"

namespace {

using strata::bench::Clock;
using strata::bench::quantile;
using strata::bench::seconds_since;

struct Options {
  int roundtrips = 2000;
  int tasks = 2000;
  int reps = 5;
};

constexpr const char* kAbout =
    "A pod over MPI beside MPI itself, in one mpirun job (start it with mpirun -n 2 or more). Prints one JSON\n"
    "object: mpi_pingpong_us (8 B round trip), mpi_p2p_16mib_GBps (16 MiB each way), pod_roundtrip_us (a\n"
    "run() of one empty task on rank 1), pod_tasks_per_s, pod_inout_16mib_GBps (a 16 MiB INOUT tensor to\n"
    "rank 1 and back), and the ratios roundtrip_vs_mpi (target <= 3) and inout_vs_mpi (target >= 0.5).";

constexpr size_t kBig = size_t{16} << 20;

bool under_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

// Plain MPI between ranks 0 and 1; the other ranks wait at the barrier. Returns seconds (rank 0).
double mpi_roundtrip(int rank, void* buf, size_t bytes) {
  const double t0 = MPI_Wtime();
  if (rank == 0) {
    MPI_Send(buf, static_cast<int>(bytes), MPI_BYTE, 1, 7, MPI_COMM_WORLD);
    MPI_Recv(buf, static_cast<int>(bytes), MPI_BYTE, 1, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  } else if (rank == 1) {
    MPI_Recv(buf, static_cast<int>(bytes), MPI_BYTE, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Send(buf, static_cast<int>(bytes), MPI_BYTE, 0, 7, MPI_COMM_WORLD);
  }
  return MPI_Wtime() - t0;
}

}  // namespace

int bench_pod_main(int argc, char** argv) {
  Options opt;
  const char* prog = strata::bench::bench_name(argc, argv, "bench_pod");
  CLI::App app{kAbout, prog};
  app.add_option("--roundtrips", opt.roundtrips, "round trips timed (MPI and pod)")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  app.add_option("--tasks", opt.tasks, "tasks per throughput run")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  app.add_option("--reps", opt.reps, "runs of the throughput and 16 MiB measurements")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  if (int rc = strata::cli::parse(app, argc, argv); rc >= 0) return rc;
  if (!under_mpirun()) {
    std::fprintf(stderr,
                 "%s: start it under mpirun with 2 ranks or more, e.g. on this machine\n"
                 "  mpirun --oversubscribe -n 2 %s%s\n"
                 "(as root also set OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)\n",
                 prog, argv[0], std::string(argv[0]).ends_with("bench_pod") ? "" : " pod");
    return 2;
  }
  return strata::bench::run_or_report(prog, [&] {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) {
      if (rank == 0) std::fprintf(stderr, "%s: needs 2 ranks or more (mpirun -n 2)\n", prog);
      MPI_Finalize();
      return 2;
    }
    // Plain MPI first, while every rank is free.
    std::vector<char> small(8), big(kBig);
    for (int i = 0; i < 100; ++i) mpi_roundtrip(rank, small.data(), small.size());
    std::vector<double> rt, bw;
    for (int i = 0; i < opt.roundtrips; ++i) rt.push_back(mpi_roundtrip(rank, small.data(), small.size()));
    mpi_roundtrip(rank, big.data(), kBig);
    for (int i = 0; i < opt.reps; ++i) bw.push_back(mpi_roundtrip(rank, big.data(), kBig));
    MPI_Barrier(MPI_COMM_WORLD);
    const double mpi_rt_us = quantile(rt, 0.5) * 1e6;
    const double mpi_bw = 2.0 * static_cast<double>(kBig) / quantile(bw, 0.5) / 1e9;

    int rc = 0;
    {
      strata::Worker pod({.level = 4, .transport = strata::Transport::Mpi});
      pod.add_worker({.chips = 1});
      const strata::OrchFn empty = pod.register_orch([](strata::Orchestrator&, const strata::TaskContext&) {}, "empty");
      const strata::OrchFn touch = pod.register_orch(
          [](strata::Orchestrator&, const strata::TaskContext& ctx) { ++*ctx.data<uint32_t>(0); }, "touch");
      pod.init();
      if (pod.pod_rank() == 0) {
        const int workers = pod.pod_ranks() - 1;
        auto buf = pod.create_buffer<uint32_t>(kBig / 4);
        buf[0] = 0;
        const auto one = [&](strata::Orchestrator& o) { o.submit(empty, strata::TaskArgs(), {}, 0); };
        const auto many = [&](strata::Orchestrator& o) {
          for (int i = 0; i < opt.tasks; ++i) o.submit(empty, strata::TaskArgs(), {}, i % workers);
        };
        const auto inout = [&](strata::Orchestrator& o) {
          o.submit(touch, strata::TaskArgs().inout(buf.tensor()), {}, 0);
        };
        for (int i = 0; i < 100; ++i) pod.run(one);
        std::vector<double> prt, ptp, pbw;
        for (int i = 0; i < opt.roundtrips; ++i) prt.push_back(strata::bench::time_run(pod, one));
        pod.run(many);
        for (int i = 0; i < opt.reps; ++i)
          ptp.push_back(static_cast<double>(opt.tasks) / strata::bench::time_run(pod, many));
        pod.run(inout);
        for (int i = 0; i < opt.reps; ++i)
          pbw.push_back(2.0 * static_cast<double>(kBig) / strata::bench::time_run(pod, inout) / 1e9);
        const bool ok = buf[0] == static_cast<uint32_t>(opt.reps + 1);
        const double pod_rt_us = quantile(prt, 0.5) * 1e6, pod_bw = quantile(pbw, 0.5);
        nlohmann::ordered_json j;
        j["benchmark"] = "pod";
        j["ranks"] = pod.pod_ranks();
        j["mpi_pingpong_us"] = mpi_rt_us;
        j["mpi_p2p_16mib_GBps"] = mpi_bw;
        j["pod_roundtrip_us"] = pod_rt_us;
        j["pod_roundtrip_us_p90"] = quantile(prt, 0.9) * 1e6;
        j["pod_tasks_per_s"] = quantile(ptp, 0.5);
        j["pod_inout_16mib_GBps"] = pod_bw;
        j["roundtrip_vs_mpi"] = pod_rt_us / mpi_rt_us;
        j["inout_vs_mpi"] = pod_bw / mpi_bw;
        j["ok"] = ok;
        strata::cli::print_json(j);
        rc = ok ? 0 : 1;
        pod.close();
      }
    }
    MPI_Finalize();
    return rc;
  });
}
