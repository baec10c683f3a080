// bench/dispatch/dispatch.cpp — see dispatch.hpp.
#include "dispatch.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "strata/strata.hpp"

// The empty task: what is measured is everything around it.
STRATA_KERNEL(bench_dispatch_noop) { (void)ctx; }
// The chain's task: as good as empty, but counting lets the benchmark check that every task ran, in order
// (a lost or concurrent increment shows up in the final count).
STRATA_KERNEL(bench_dispatch_count) { ++*ctx.data<uint64_t>(0); }

namespace {

using strata::bench::quantile;
using strata::bench::time_run;

struct Options {
  int chips = 2;
  int tasks = 10000;
  int reps = 5;
  int roundtrips = 1000;
  bool progress = false;
};

constexpr const char* kAbout =
    "Times whole Worker::run() calls of empty kernel tasks on N simulated chips and prints one JSON object:\n"
    "  chain_us_per_task        M tasks chained by INOUT on one tensor, task i on chip i % N (median of R)\n"
    "  independent_tasks_per_s  M tasks without tensors on any chip (median of R)\n"
    "  roundtrip_us_median      a run() of one task, submit to completion (median of K)";

// Returns -1 to go on, else the exit code.
int parse(int argc, char** argv, Options* o) {
  CLI::App app{kAbout, strata::bench::bench_name(argc, argv, "bench_dispatch")};
  app.add_option("--chips", o->chips, "chips")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--tasks", o->tasks, "tasks per chain / independent run")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  app.add_option("--reps", o->reps, "runs of each")->check(CLI::Range(1, 100000000))->capture_default_str();
  app.add_option("--roundtrips", o->roundtrips, "one-task runs")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  app.add_flag("--progress", o->progress,
               "progress lines on stderr even when it is not a terminal (on a terminal: always, once the "
               "benchmark has run for two seconds)");
  return strata::cli::parse(app, argc, argv);
}

}  // namespace

int bench_dispatch_main(int argc, char** argv) {
  Options opt;
  if (int rc = parse(argc, argv, &opt); rc >= 0) return rc;
  const char* prog = strata::bench::bench_name(argc, argv, "bench_dispatch");
  return strata::bench::run_or_report(prog, [&] {
    strata::ProgressLine progress(opt.progress);
    strata::Worker w({.chips = opt.chips, .on_progress = progress.for_runs("dispatch")});
    const strata::Kernel noop = w.register_kernel("bench_dispatch_noop");
    const strata::Kernel count = w.register_kernel("bench_dispatch_count");
    w.init();
    auto cell = w.create_buffer<uint64_t>(8);
    const int n = opt.chips, m = opt.tasks;

    const auto chain = [&](strata::Orchestrator& o) {
      for (int i = 0; i < m; ++i) o.submit(count, strata::TaskArgs().inout(cell.tensor({1})), {}, i % n);
    };
    const auto independent = [&](strata::Orchestrator& o) {
      for (int i = 0; i < m; ++i) o.submit(noop, strata::TaskArgs());
    };
    const auto one = [&](strata::Orchestrator& o) { o.submit(noop, strata::TaskArgs(), {}, 0); };

    // One untimed run of each first: page faults in the rings and the children's first wake-ups.
    time_run(w, chain);
    time_run(w, independent);
    for (int i = 0; i < 10; ++i) time_run(w, one);

    std::vector<double> chain_s, indep_s, rt_s;
    for (int r = 0; r < opt.reps; ++r) {
      progress.update("dispatch: chain and independent", static_cast<uint64_t>(r), static_cast<uint64_t>(opt.reps),
                      "repetitions");
      chain_s.push_back(time_run(w, chain));
      indep_s.push_back(time_run(w, independent));
    }
    for (int r = 0; r < opt.roundtrips; ++r) {
      progress.update("dispatch: round trips", static_cast<uint64_t>(r), static_cast<uint64_t>(opt.roundtrips), "runs");
      rt_s.push_back(time_run(w, one));
    }
    w.close();
    progress.finish();
    const uint64_t expected = uint64_t(m) * uint64_t(opt.reps + 1);
    if (cell[0] != expected) {
      std::fprintf(stderr, "%s: the chain counted %llu tasks, expected %llu: tasks were lost or overlapped\n", prog,
                   static_cast<unsigned long long>(cell[0]), static_cast<unsigned long long>(expected));
      return 1;
    }

    const double chain_med = quantile(chain_s, 0.5), chain_min = quantile(chain_s, 0.0);
    const double indep_med = quantile(indep_s, 0.5), indep_min = quantile(indep_s, 0.0);
    const double rt_med = quantile(rt_s, 0.5), rt_p99 = quantile(rt_s, 0.99);
    using strata::cli::rounded;
    strata::cli::print_json({{"bench", "dispatch"},
                             {"version", strata::version()},
                             {"chips", n},
                             {"tasks", m},
                             {"reps", opt.reps},
                             {"chain_us_per_task", rounded(chain_med / m * 1e6, 3)},
                             {"chain_us_per_task_min", rounded(chain_min / m * 1e6, 3)},
                             {"independent_tasks_per_s", std::llround(m / indep_med)},
                             {"independent_tasks_per_s_max", std::llround(m / indep_min)},
                             {"independent_us_per_task", rounded(indep_med / m * 1e6, 3)},
                             {"roundtrips", opt.roundtrips},
                             {"roundtrip_us_median", rounded(rt_med * 1e6, 3)},
                             {"roundtrip_us_p99", rounded(rt_p99 * 1e6, 3)}});
    return 0;
  });
}
