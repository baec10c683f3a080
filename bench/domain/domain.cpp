// bench/domain/domain.cpp — see domain.hpp.
#include "domain.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "strata/strata.hpp"

// Checks that the window reads as zero (one word per 4 KiB page, and the last byte), then writes every
// byte, as the MPI peer's memset does. Writing a non-zero pattern makes the next allocation's check
// meaningful: it must see the window zeroed again.
STRATA_KERNEL(bench_domain_touch) {
  auto* p = ctx.data<uint8_t>(0);
  const size_t n = ctx.tensor(0).nbytes();
  for (size_t off = 0; off < n; off += 4096) {
    uint64_t word = 0;
    std::memcpy(&word, p + off, std::min<size_t>(sizeof word, n - off));
    if (word != 0) throw std::runtime_error("window not zeroed at offset " + std::to_string(off));
  }
  if (n && p[n - 1] != 0) throw std::runtime_error("window not zeroed at its last byte");
  std::memset(p, 0xA5, n);
}

namespace {

using strata::bench::quantile;
using strata::bench::time_run;

struct Options {
  int chips = 2;
  int64_t window = 1 << 20;
  int reps = 200;
  bool progress = false;
};

constexpr const char* kAbout =
    "Times whole Worker::run() calls that allocate and release a communication domain over N simulated\n"
    "chips with one buffer filling the window, and prints one JSON object:\n"
    "  alloc_release_us_median         run(allocate_domain + release); the drain frees it (median of R)\n"
    "  alloc_memset_release_us_median  the same plus one task per chip that memsets its window (median of R)\n"
    "  empty_run_us_median             run() of an empty orchestration function (median of R)\n"
    "  alloc_release_in_run_us         R allocate + release pairs in one run(), divided by R\n"
    "  first_alloc_release_us          the Worker's first run(allocate + release), with the communicator\n"
    "                                  bring-up";

// Returns -1 to go on, else the exit code.
int parse(int argc, char** argv, Options* o) {
  CLI::App app{kAbout, strata::bench::bench_name(argc, argv, "bench_domain")};
  app.add_option("--chips", o->chips, "chips, every one a member")->check(CLI::Range(1, 64))->capture_default_str();
  strata::cli::size_option(app, "--window", o->window, "window size per chip", 64, int64_t{256} << 20);
  app.add_option("--reps", o->reps, "samples of each")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_flag("--progress", o->progress, "progress lines on stderr even when it is not a terminal");
  return strata::cli::parse(app, argc, argv);
}

}  // namespace

int bench_domain_main(int argc, char** argv) {
  Options opt;
  if (int rc = parse(argc, argv, &opt); rc >= 0) return rc;
  const char* prog = strata::bench::bench_name(argc, argv, "bench_domain");
  return strata::bench::run_or_report(prog, [&] {
    strata::ProgressLine progress(opt.progress);
    strata::Worker w({.chips = opt.chips, .on_progress = progress.for_runs("domain")});
    const strata::Kernel touch = w.register_kernel("bench_domain_touch");
    w.init();

    const std::vector<int> members = strata::bench::all_chips(opt.chips);
    const auto window = static_cast<size_t>(opt.window);
    // One buffer filling the window (buffers are 64-byte aligned, so its size is the window rounded down).
    const strata::DomainSpec spec{.name = "bench",
                                  .workers = members,
                                  .window_size = window,
                                  .buffers = {{"buf", strata::DType::U8, window / 64 * 64}}};

    const auto alloc_release = [&](strata::Orchestrator& o) {
      strata::Domain d = o.allocate_domain(spec);
      d.release();
    };
    const auto alloc_memset_release = [&](strata::Orchestrator& o) {
      strata::Domain d = o.allocate_domain(spec);
      for (int c : members) o.submit(touch, strata::TaskArgs().inout(d[c].buffer("buf")), {}, c);
      d.release();
    };
    const auto empty = [](strata::Orchestrator&) {};
    // Every allocation in one run stays in device memory until the drain: bound the cycles by that.
    const size_t per_alloc = window + (size_t{16} << 10);
    const int in_run_cycles = static_cast<int>(
        std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(opt.reps), (size_t{256} << 20) / per_alloc)));
    const auto many = [&](strata::Orchestrator& o) {
      for (int i = 0; i < in_run_cycles; ++i) {
        strata::Domain d = o.allocate_domain(spec);
        d.release();
      }
    };

    const double first = time_run(w, alloc_release);
    for (int i = 0; i < 10; ++i) {
      time_run(w, alloc_release);
      time_run(w, alloc_memset_release);
      time_run(w, empty);
    }
    std::vector<double> ar, amr, er, in_run;
    // Interleaved, so that a disturbance of the machine spreads over all of them.
    for (int r = 0; r < opt.reps; ++r) {
      progress.update("domain", static_cast<uint64_t>(r), static_cast<uint64_t>(opt.reps), "samples");
      ar.push_back(time_run(w, alloc_release));
      amr.push_back(time_run(w, alloc_memset_release));
      er.push_back(time_run(w, empty));
    }
    for (int r = 0; r < 5; ++r) in_run.push_back(time_run(w, many) / in_run_cycles);
    w.close();
    progress.finish();

    using strata::cli::rounded;
    strata::cli::print_json({{"bench", "domain"},
                             {"version", strata::version()},
                             {"chips", opt.chips},
                             {"window", opt.window},
                             {"reps", opt.reps},
                             {"alloc_release_us_median", rounded(quantile(ar, 0.5) * 1e6, 1)},
                             {"alloc_release_us_p90", rounded(quantile(ar, 0.9) * 1e6, 1)},
                             {"alloc_release_us_min", rounded(quantile(ar, 0.0) * 1e6, 1)},
                             {"alloc_memset_release_us_median", rounded(quantile(amr, 0.5) * 1e6, 1)},
                             {"alloc_memset_release_us_p90", rounded(quantile(amr, 0.9) * 1e6, 1)},
                             {"empty_run_us_median", rounded(quantile(er, 0.5) * 1e6, 2)},
                             {"alloc_release_in_run_us", rounded(quantile(in_run, 0.5) * 1e6, 1)},
                             {"in_run_cycles", in_run_cycles},
                             {"first_alloc_release_us", rounded(first * 1e6, 1)},
                             {"zeroed", true}});
    return 0;
  });
}
