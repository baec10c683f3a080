// bench/dispatch/dispatch.cpp — see dispatch.hpp.
#include "dispatch.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
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

void print_help(const char* prog) {
  std::printf(
      "usage: %s [--chips N] [--tasks M] [--reps R] [--roundtrips K] [--progress]\n"
      "\n"
      "Times whole Worker::run() calls of empty kernel tasks on N simulated chips and prints one JSON object:\n"
      "  chain_us_per_task        M tasks chained by INOUT on one tensor, task i on chip i %% N (median of R)\n"
      "  independent_tasks_per_s  M tasks without tensors on any chip (median of R)\n"
      "  roundtrip_us_median      a run() of one task, submit to completion (median of K)\n"
      "\n"
      "  --chips N       chips (default 2)\n"
      "  --tasks M       tasks per chain / independent run (default 10000)\n"
      "  --reps R        runs of each (default 5)\n"
      "  --roundtrips K  one-task runs (default 1000)\n"
      "  --progress      progress lines on stderr even when it is not a terminal (on a terminal: always,\n"
      "                  once the benchmark has run for two seconds)\n",
      prog);
}

// Returns -1 to go on, else the exit code.
int parse(int argc, char** argv, Options* o) {
  strata::cli::FlagParser a = strata::bench::bench_flags(argc, argv);
  const auto take = [&](strata::cli::FlagParser& f) {
    if (f.is("--chips"))
      o->chips = static_cast<int>(f.int_value(1, 64));
    else if (f.is("--tasks"))
      o->tasks = static_cast<int>(f.int_value(1, 100000000));
    else if (f.is("--reps"))
      o->reps = static_cast<int>(f.int_value(1, 100000000));
    else if (f.is("--roundtrips"))
      o->roundtrips = static_cast<int>(f.int_value(1, 100000000));
    else if (f.is("--progress"))
      o->progress = true;
    else
      return false;
    return true;
  };
  return a.parse([&] { print_help(a.name()); }, take);
}

}  // namespace

int bench_dispatch_main(int argc, char** argv) {
  Options opt;
  if (int rc = parse(argc, argv, &opt); rc >= 0) return rc;
  const char* prog = argc > 0 ? argv[0] : "bench_dispatch";
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
    std::printf(
        "{\"bench\": \"dispatch\", \"version\": \"%s\", \"chips\": %d, \"tasks\": %d, \"reps\": %d, "
        "\"chain_us_per_task\": %.3f, \"chain_us_per_task_min\": %.3f, "
        "\"independent_tasks_per_s\": %.0f, \"independent_tasks_per_s_max\": %.0f, "
        "\"independent_us_per_task\": %.3f, "
        "\"roundtrips\": %d, \"roundtrip_us_median\": %.3f, \"roundtrip_us_p99\": %.3f}\n",
        strata::version(), n, m, opt.reps, chain_med / m * 1e6, chain_min / m * 1e6, m / indep_med, m / indep_min,
        indep_med / m * 1e6, opt.roundtrips, rt_med * 1e6, rt_p99 * 1e6);
    return 0;
  });
}
