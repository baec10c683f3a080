// bench/allreduce/allreduce.cpp — see allreduce.hpp.
#include "allreduce.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "strata/strata.hpp"

namespace {

using strata::bench::quantile;
using strata::bench::time_run;

struct Options {
  int chips = 2;
  int64_t bytes = 1 << 20;
  int reps = 20;
  int inner = 10;
  std::string algo = "auto";  // the kernel's scalar 1 is its index in kAlgos
  int blocks = 1;
  std::string submit = "group";
  std::string kernel = "strata_allreduce";
  bool progress = false;
};

const std::vector<std::string> kAlgos = {"auto", "bw", "lat"};

constexpr const char* kAbout =
    "Times strata_allreduce (f32 sum, in place) over a domain of N simulated chips and prints one JSON\n"
    "object (nccl-tests convention: algbw = B / time, busbw = algbw * 2(N-1)/N):\n"
    "  time_us_median         one allreduce: a run() of K back-to-back allreduces / K (median of R)\n"
    "  algbw_GBps busbw_GBps  from time_us_median (GB = 1e9 bytes)\n"
    "  single_run_us_median   a whole run() holding one allreduce (median of R)\n"
    "  correct                every result read back matched the expected sums\n"
    "Buffers are warm (loaded once, then summed in place again and again; reloaded before f32\n"
    "would overflow), as in the MPI peer's loop.";

// In-place allreduces that may follow one load of the inputs: after c of them an element is N^(c-1)
// times its first sum (< 2^12); keep that below 2^112, far from f32's overflow.
int max_allreduces_per_load(int chips) {
  if (chips < 2) return INT_MAX;
  return 1 + static_cast<int>(100.0 / std::log2(static_cast<double>(chips)));
}

// Returns -1 to go on, else the exit code.
int parse(int argc, char** argv, Options* o) {
  CLI::App app{kAbout, strata::bench::bench_name(argc, argv, "bench_allreduce")};
  app.add_option("--chips", o->chips, "chips, all in the domain")->check(CLI::Range(1, 64))->capture_default_str();
  strata::cli::size_option(app, "--bytes", o->bytes, "bytes per rank, a multiple of 4", 4, int64_t{512} << 20);
  app.add_option("--reps", o->reps, "samples")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--algo", o->algo, "auto, bw (bandwidth-optimal) or lat (latency-optimal)")
      ->check(CLI::IsMember(kAlgos))
      ->capture_default_str();
  app.add_option("--inner", o->inner, "allreduces per timed run")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--blocks", o->blocks, "block_dim of each allreduce task")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--submit", o->submit, "one group task per allreduce, or one task per chip")
      ->check(CLI::IsMember({"group", "each"}))
      ->capture_default_str();
  app.add_option("--kernel", o->kernel, "another kernel with strata_allreduce's arguments")
      ->check([](const std::string& v) { return v.empty() ? std::string("needs a non-empty kernel name") : ""; })
      ->capture_default_str();
  app.add_flag("--progress", o->progress, "progress lines on stderr even when it is not a terminal");
  if (int rc = strata::cli::parse(app, argc, argv); rc >= 0) return rc;
  const char* name = app.get_name().c_str();
  if (o->bytes % 4) {
    std::fprintf(stderr, "%s: --bytes must be a multiple of 4 (f32 elements), got %lld\n", name,
                 static_cast<long long>(o->bytes));
    return strata::cli::kUsageExit;
  }
  // A load must last for a warm-up allreduce plus one sample (K + 1 allreduces).
  if (o->inner + 2 > max_allreduces_per_load(o->chips)) {
    std::fprintf(stderr,
                 "%s: --inner %d with %d chips would overflow f32 between loads (keep (K+1) * log2(N) <= 100)\n", name,
                 o->inner, o->chips);
    return strata::cli::kUsageExit;
  }
  return -1;
}

float input_value(size_t i, int rank) { return static_cast<float>((i * 31 + static_cast<size_t>(rank) * 7) % 61); }

}  // namespace

int bench_allreduce_main(int argc, char** argv) {
  Options opt;
  if (int rc = parse(argc, argv, &opt); rc >= 0) return rc;
  const char* prog = strata::bench::bench_name(argc, argv, "bench_allreduce");
  const auto algo = static_cast<uint32_t>(std::find(kAlgos.begin(), kAlgos.end(), opt.algo) - kAlgos.begin());
  const bool group = opt.submit == "group";
  return strata::bench::run_or_report(prog, [&] {
    const int n = opt.chips;
    const auto bytes = static_cast<size_t>(opt.bytes);
    const size_t count = bytes / 4;
    strata::ProgressLine progress(opt.progress);
    strata::Worker w({.chips = n, .on_progress = progress.for_runs("allreduce")});
    const strata::Kernel allreduce = w.register_kernel(opt.kernel);
    w.init();

    const std::vector<int> members = strata::bench::all_chips(n);
    strata::Domain dom;
    w.run([&](strata::Orchestrator& o) {
      dom = o.allocate_domain({.name = "allreduce",
                               .workers = members,
                               .window_size = (bytes + 63) / 64 * 64,  // buffers are 64-byte aligned
                               .buffers = {{"data", strata::DType::F32, count}}});
    });

    std::vector<std::vector<float>> input(static_cast<size_t>(n), std::vector<float>(count));
    std::vector<double> sum(count, 0.0);
    for (int r = 0; r < n; ++r)
      for (size_t i = 0; i < count; ++i) {
        input[static_cast<size_t>(r)][i] = input_value(i, r);
        sum[i] += input_value(i, r);
      }
    std::vector<strata::TaskArgs> args;
    for (int c : members)
      args.push_back(strata::TaskArgs().inout(dom[c].buffer("data")).scalar(dom[c].device_ctx).scalar(algo));
    const strata::CallConfig cfg{.block_dim = static_cast<uint32_t>(opt.blocks)};

    const auto load = [&](strata::Orchestrator& o) {
      for (int c : members) o.copy_to(dom[c].buffer("data"), input[static_cast<size_t>(c)].data());
    };
    const auto allreduces = [&](int k) {
      return [&, k](strata::Orchestrator& o) {
        for (int i = 0; i < k; ++i) {
          if (group) {
            o.submit_group(allreduce, args, cfg, members);
          } else {
            for (size_t r = 0; r < members.size(); ++r) o.submit(allreduce, args[r], cfg, members[r]);
          }
        }
      };
    };
    std::vector<float> out(count);
    bool correct = true;
    std::string first_error;
    // Reads every rank's buffer back and compares it with N^(k-1) * sum.
    const auto check = [&](int k) {
      const double scale = std::pow(static_cast<double>(n), k - 1);
      const bool exact = (n & (n - 1)) == 0 || k == 1;
      for (int c : members) {
        w.run([&](strata::Orchestrator& o) { o.copy_from(out.data(), dom[c].buffer("data")); });
        for (size_t i = 0; i < count; ++i) {
          const double want = sum[i] * scale, got = out[i];
          const bool ok = exact ? got == want : std::fabs(got - want) <= 1e-4 * std::fabs(want);
          if (!ok) {
            if (correct)
              first_error = "after " + std::to_string(k) + " allreduce(s), chip " + std::to_string(c) + " element " +
                            std::to_string(i) + " is " + std::to_string(got) + ", expected " + std::to_string(want);
            correct = false;
            return;
          }
        }
      }
    };

    const auto inner_run = allreduces(opt.inner), single_run = allreduces(1);
    // Every in-place allreduce multiplies the values by N: load the inputs again before they could
    // leave f32's exact range, and check what the allreduces since the load produced.
    const int budget = max_allreduces_per_load(n);
    int since_load = 0;
    const auto reload = [&] {
      if (since_load > 0) check(since_load);
      w.run(load);
      w.run(single_run);  // warm-up, untimed: the first allreduce after the copies runs on cold caches
      since_load = 1;
    };
    reload();
    std::vector<double> per_allreduce, single;
    for (int r = 0; r < opt.reps; ++r) {
      progress.update("allreduce", static_cast<uint64_t>(r), static_cast<uint64_t>(opt.reps), "repetitions");
      if (since_load + opt.inner + 1 > budget) reload();
      per_allreduce.push_back(time_run(w, inner_run) / opt.inner);
      single.push_back(time_run(w, single_run));
      since_load += opt.inner + 1;
    }
    check(since_load);
    dom.release();
    w.close();
    progress.finish();

    const double t = quantile(per_allreduce, 0.5), t_min = quantile(per_allreduce, 0.0);
    const double t1 = quantile(single, 0.5);
    const double factor = 2.0 * (n - 1) / n, b = static_cast<double>(bytes);
    using strata::cli::rounded;
    strata::cli::print_json({{"bench", "allreduce"},
                             {"version", strata::version()},
                             {"chips", n},
                             {"bytes", bytes},
                             {"dtype", "f32"},
                             {"algo", opt.algo},
                             {"blocks", opt.blocks},
                             {"submit", opt.submit},
                             {"reps", opt.reps},
                             {"inner", opt.inner},
                             {"time_us_median", rounded(t * 1e6, 2)},
                             {"time_us_min", rounded(t_min * 1e6, 2)},
                             {"algbw_GBps", rounded(b / t / 1e9, 3)},
                             {"busbw_GBps", rounded(factor * b / t / 1e9, 3)},
                             {"busbw_GBps_max", rounded(factor * b / t_min / 1e9, 3)},
                             {"single_run_us_median", rounded(t1 * 1e6, 2)},
                             {"single_run_busbw_GBps", rounded(factor * b / t1 / 1e9, 3)},
                             {"correct", correct}});
    if (!correct) {
      std::fprintf(stderr, "%s: wrong result: %s\n", prog, first_error.c_str());
      return 1;
    }
    return 0;
  });
}
