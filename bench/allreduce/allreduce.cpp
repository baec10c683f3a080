// bench/allreduce/allreduce.cpp — see allreduce.hpp.
#include "allreduce.hpp"

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
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
  size_t algo = 0;  // index into kAlgos: the kernel's scalar 1
  int blocks = 1;
  bool group = true;
  std::string kernel = "strata_allreduce";
  bool progress = false;
};

const std::vector<std::string_view> kAlgos = {"auto", "bw", "lat"};

void print_help(const char* prog) {
  std::printf(
      "usage: %s [--chips N] [--bytes B] [--reps R] [--algo auto|bw|lat] [--inner K] [--blocks D]\n"
      "          [--submit group|each] [--kernel NAME] [--progress]\n"
      "\n"
      "Times strata_allreduce (f32 sum, in place) over a domain of N simulated chips and prints one JSON\n"
      "object (nccl-tests convention: algbw = B / time, busbw = algbw * 2(N-1)/N):\n"
      "  time_us_median         one allreduce: a run() of K back-to-back allreduces / K (median of R)\n"
      "  algbw_GBps busbw_GBps  from time_us_median (GB = 1e9 bytes)\n"
      "  single_run_us_median   a whole run() holding one allreduce (median of R)\n"
      "  correct                every result read back matched the expected sums\n"
      "Buffers are warm (loaded once, then summed in place again and again; reloaded before f32\n"
      "would overflow), as in the MPI peer's loop.\n"
      "\n"
      "  --chips N            chips, all in the domain (default 2)\n"
      "  --bytes B            bytes per rank, a multiple of 4; K, M, G suffixes (default 1M)\n"
      "  --reps R             samples (default 20)\n"
      "  --algo A             auto, bw (bandwidth-optimal) or lat (latency-optimal) (default auto)\n"
      "  --inner K            allreduces per timed run (default 10)\n"
      "  --blocks D           block_dim of each allreduce task (default 1)\n"
      "  --submit group|each  one group task per allreduce, or one task per chip (default group)\n"
      "  --kernel NAME        another kernel with strata_allreduce's arguments (default strata_allreduce)\n"
      "  --progress           progress lines on stderr even when it is not a terminal\n",
      prog);
}

// In-place allreduces that may follow one load of the inputs: after c of them an element is N^(c-1)
// times its first sum (< 2^12); keep that below 2^112, far from f32's overflow.
int max_allreduces_per_load(int chips) {
  if (chips < 2) return INT_MAX;
  return 1 + static_cast<int>(100.0 / std::log2(static_cast<double>(chips)));
}

// Returns -1 to go on, else the exit code.
int parse(int argc, char** argv, Options* o) {
  strata::cli::FlagParser a = strata::bench::bench_flags(argc, argv);
  const auto take = [&](strata::cli::FlagParser& f) {
    if (f.is("--chips"))
      o->chips = static_cast<int>(f.int_value(1, 64));
    else if (f.is("--bytes"))
      o->bytes = f.int_value(4, int64_t{512} << 20);
    else if (f.is("--reps"))
      o->reps = static_cast<int>(f.int_value(1, 100000));
    else if (f.is("--inner"))
      o->inner = static_cast<int>(f.int_value(1, 100000));
    else if (f.is("--algo"))
      o->algo = f.choice(kAlgos);
    else if (f.is("--blocks"))
      o->blocks = static_cast<int>(f.int_value(1, 64));
    else if (f.is("--submit"))
      o->group = f.choice({"group", "each"}) == 0;
    else if (f.is("--kernel"))
      o->kernel = f.nonempty_string_value();
    else if (f.is("--progress"))
      o->progress = true;
    else
      return false;
    return true;
  };
  if (int rc = a.parse([&] { print_help(a.name()); }, take); rc >= 0) return rc;
  if (o->bytes % 4) {
    std::fprintf(stderr, "%s: --bytes must be a multiple of 4 (f32 elements), got %lld\n", a.name(),
                 static_cast<long long>(o->bytes));
    return strata::cli::kUsageExit;
  }
  // A load must last for a warm-up allreduce plus one sample (K + 1 allreduces).
  if (o->inner + 2 > max_allreduces_per_load(o->chips)) {
    std::fprintf(stderr,
                 "%s: --inner %d with %d chips would overflow f32 between loads (keep (K+1) * log2(N) <= 100)\n",
                 a.name(), o->inner, o->chips);
    return strata::cli::kUsageExit;
  }
  return -1;
}

float input_value(size_t i, int rank) { return static_cast<float>((i * 31 + static_cast<size_t>(rank) * 7) % 61); }

}  // namespace

int bench_allreduce_main(int argc, char** argv) {
  Options opt;
  if (int rc = parse(argc, argv, &opt); rc >= 0) return rc;
  const char* prog = argc > 0 ? argv[0] : "bench_allreduce";
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
      args.push_back(strata::TaskArgs()
                         .inout(dom[c].buffer("data"))
                         .scalar(dom[c].device_ctx)
                         .scalar(static_cast<uint32_t>(opt.algo)));
    const strata::CallConfig cfg{.block_dim = static_cast<uint32_t>(opt.blocks)};

    const auto load = [&](strata::Orchestrator& o) {
      for (int c : members) o.copy_to(dom[c].buffer("data"), input[static_cast<size_t>(c)].data());
    };
    const auto allreduces = [&](int k) {
      return [&, k](strata::Orchestrator& o) {
        for (int i = 0; i < k; ++i) {
          if (opt.group) {
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
    std::printf(
        "{\"bench\": \"allreduce\", \"version\": \"%s\", \"chips\": %d, \"bytes\": %zu, \"dtype\": \"f32\", "
        "\"algo\": \"%s\", \"blocks\": %d, \"submit\": \"%s\", \"reps\": %d, \"inner\": %d, "
        "\"time_us_median\": %.2f, \"time_us_min\": %.2f, \"algbw_GBps\": %.3f, \"busbw_GBps\": %.3f, "
        "\"busbw_GBps_max\": %.3f, \"single_run_us_median\": %.2f, \"single_run_busbw_GBps\": %.3f, "
        "\"correct\": %s}\n",
        strata::version(), n, bytes, std::string(kAlgos[opt.algo]).c_str(), opt.blocks, opt.group ? "group" : "each",
        opt.reps, opt.inner, t * 1e6, t_min * 1e6, b / t / 1e9, factor * b / t / 1e9, factor * b / t_min / 1e9,
        t1 * 1e6, factor * b / t1 / 1e9, correct ? "true" : "false");
    if (!correct) {
      std::fprintf(stderr, "%s: wrong result: %s\n", prog, first_error.c_str());
      return 1;
    }
    return 0;
  });
}
