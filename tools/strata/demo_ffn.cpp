// tools/strata/demo_ffn.cpp — `strata demo`: the tensor-parallel feed-forward workload of
// examples/ffn_tp.cpp (examples/common/ffn_tp.hpp) on simulated chips and one host helper, with
// progress lines, the check against a single-process reference, and the time of each phase.
//
// The host helper computes the reference Y = relu(X·W1)·W2 in its own process (a host task) while this
// process waits; then each repetition allocates a domain over the chips, loads X and the weight shards,
// runs one shard matmul per chip, sums the partials with strata_allreduce (which depends on the matmul
// through tag inference alone) and copies every chip's Y back. `--workload matmul` runs the tiled
// matmul demo of demo.cpp instead.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli.hpp"
#include "demo_report.hpp"
#include "ffn_tp.hpp"
#include "strata/strata.hpp"
#include "workload_util.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using strata::workloads::ms_since;

struct Options {
  strata::workloads::FfnShape shape{.tokens = 128, .d_model = 512, .d_ff = 2048, .chips = 4};
  uint32_t block_dim = 2;
  int reps = 1;
  std::string trace;
  bool progress = false;
};

constexpr const char* kAbout =
    "A tensor-parallel feed-forward layer Y = relu(X*W1)*W2 on N simulated chips and one host helper:\n"
    "a communication domain over the chips, W1 sharded by columns and W2 by rows, one shard matmul per\n"
    "chip into its window, an allreduce that sums the partials (it waits for the matmul through tag\n"
    "inference alone), and every chip's Y checked against a single-process reference that the host\n"
    "helper computes. Prints the time of each phase (allocate, load, compute, communicate, fetch).\n"
    "Exits 1 if any value is off. Other workloads: --workload matmul (the tiled matmul demo), moe\n"
    "(mixture-of-experts dispatch and combine with top-2 routing over an all-to-all), dp (a data-parallel\n"
    "training step: shard gradients averaged with a bf16 allreduce), pod (a pod across hosts over MPI:\n"
    "data parallel across ranks, tensor parallel across each rank's chips; under mpirun);\n"
    "'strata demo --workload W --help'.";

int parse(int argc, char** argv, Options* o) {
  CLI::App app{kAbout, argv[0]};
  std::string workload = "ffn";
  app.add_option("--workload", workload, "ffn; matmul, moe, dp and pod are the other demos")
      ->check(CLI::IsMember({"ffn", "matmul", "moe", "dp", "pod"}))
      ->capture_default_str();
  app.add_option("--chips", o->shape.chips, "chips")->check(CLI::Range(1, 16))->capture_default_str();
  app.add_option("--tokens", o->shape.tokens, "rows of X")->check(CLI::Range(1, 1 << 16))->capture_default_str();
  app.add_option("--d-model", o->shape.d_model, "columns of X and Y")
      ->check(CLI::Range(1, 1 << 14))
      ->capture_default_str();
  app.add_option("--d-ff", o->shape.d_ff, "hidden dimension, sharded over the chips (at least --chips)")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  app.add_option("--block-dim", o->block_dim, "blocks per kernel task")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--reps", o->reps, "run the layer R times and report the fastest")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--trace", o->trace,
                 "write a trace of every run: open it in ui.perfetto.dev, or read it with "
                 "'strata trace summary FILE' and 'strata trace svg FILE -o run.svg'");
  app.add_flag("--progress", o->progress, "progress lines on stderr even when it is not a terminal");
  if (int rc = strata::cli::parse(app, argc, argv); rc >= 0) return rc;
  if (o->shape.d_ff < o->shape.chips) {
    std::fprintf(stderr, "%s: --d-ff %lld must be at least --chips %d\n", argv[0],
                 static_cast<long long>(o->shape.d_ff), o->shape.chips);
    return strata::tool::kUsageExit;
  }
  return -1;
}

// The workload "--workload W" or "--workload=W" names anywhere in argv if it is another demo than the
// FFN (`rest` gets the other arguments), else "".
std::string other_workload(int argc, char** argv, std::vector<char*>* rest) {
  static constexpr const char* kOthers[] = {"matmul", "moe", "dp", "pod"};
  std::string found;
  rest->assign(argv, argv + 1);
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i], value;
    if (arg.starts_with("--workload=")) {
      value = arg.substr(11);
    } else if (arg == "--workload" && i + 1 < argc) {
      value = argv[i + 1];
    }
    if (std::find(std::begin(kOthers), std::end(kOthers), value) != std::end(kOthers)) {
      found = value;
      if (arg == "--workload") ++i;
      continue;
    }
    rest->push_back(argv[i]);
  }
  return found;
}

}  // namespace

namespace strata::tool {

int demo_main(int argc, char** argv) {
  std::vector<char*> rest;
  const std::string other = other_workload(argc, argv, &rest);
  const int n_rest = static_cast<int>(rest.size());
  if (other == "matmul") return demo_matmul_main(n_rest, rest.data());
  if (other == "moe") return strata::workloads::moe_main(n_rest, rest.data());
  if (other == "dp") return strata::workloads::dp_main(n_rest, rest.data());
  if (other == "pod") return strata::workloads::pod_main(n_rest, rest.data());
  Options opt;
  if (int rc = parse(argc, argv, &opt); rc >= 0) return rc;
  using namespace strata::workloads;
  const FfnShape& s = opt.shape;
  const int n = s.chips;
  const auto ll = [](int64_t v) { return static_cast<long long>(v); };

  std::printf(
      "strata demo: tensor-parallel FFN, Y = relu(X*W1)*W2 with X %lldx%lld, W1 %lldx%lld (column shards), "
      "W2 %lldx%lld (row shards), f32, over %d chips + 1 host helper\n",
      ll(s.tokens), ll(s.d_model), ll(s.d_model), ll(s.d_ff), ll(s.d_ff), ll(s.d_model), n);
  try {
    const auto t_init = Clock::now();
    ProgressLine progress(opt.progress);
    Worker w({.chips = n, .sub_workers = 1, .trace_path = opt.trace, .on_progress = progress.for_runs("demo")});
    FfnTp ffn(w);
    auto ref_task = w.register_host(ffn_reference_task, "ffn_reference");
    w.init();
    print_phase("init", "%d chips and 1 host helper started: %.1f ms", n, ms_since(t_init));

    auto x = w.create_buffer<float>(size_t(s.tokens * s.d_model));
    auto w1 = w.create_buffer<float>(size_t(s.d_model * s.d_ff));
    auto w2 = w.create_buffer<float>(size_t(s.d_ff * s.d_model));
    auto ref = w.create_buffer<float>(size_t(s.tokens * s.d_model));
    ffn_make_inputs(s, x.data(), w1.data(), w2.data(), 1);
    std::fill(ref.begin(), ref.end(), std::nanf(""));

    const auto t_ref = Clock::now();
    w.run([&](Orchestrator& o) {
      o.submit_host(ref_task, TaskArgs()
                                  .input(x.tensor())
                                  .input(w1.tensor())
                                  .input(w2.tensor())
                                  .output_existing(ref.tensor())
                                  .scalar(s.tokens)
                                  .scalar(s.d_model)
                                  .scalar(s.d_ff));
    });
    const double ref_ms = ms_since(t_ref);
    print_phase("reference", "the host helper computed the single-process reference: %.1f ms (%.2f GFLOP/s)", ref_ms,
                ffn_flops(s) / (ref_ms * 1e6));

    FfnTimings best;
    double best_total = 1e300;
    std::vector<std::vector<float>> ys;
    for (int rep = 0; rep < opt.reps; ++rep) {
      progress.update("demo", static_cast<uint64_t>(rep), static_cast<uint64_t>(opt.reps), "repetitions");
      FfnTimings tm;
      FfnRunOptions ro;
      ro.block_dim = opt.block_dim;
      ro.progress = rep == 0 ? stdout : nullptr;
      w.run([&](Orchestrator& o) { tm = ffn.forward(o, s, x.data(), w1.data(), w2.data(), &ys, ro); });
      const double total = tm.allocate_ms + tm.load_ms + tm.compute_ms + tm.communicate_ms;
      if (opt.reps > 1)
        print_phase("run", "rep %d: allocate %.2f, load %.2f, compute %.2f, communicate %.2f ms", rep + 1,
                    tm.allocate_ms, tm.load_ms, tm.compute_ms, tm.communicate_ms);
      if (total < best_total) {
        best_total = total;
        best = tm;
      }
    }

    // The check: every chip holds the whole Y after the allreduce.
    const double tol = ffn_tolerance(s);
    double max_err = 0;
    bool finite = true, ranks_agree = true;
    for (int c = 0; c < n; ++c) {
      const std::vector<float>& y = ys[size_t(c)];
      for (size_t i = 0; i < y.size(); ++i) {
        finite = finite && std::isfinite(y[i]);
        max_err = std::max(max_err, std::fabs(double(y[i]) - double(ref[i])));
      }
      ranks_agree = ranks_agree && std::memcmp(y.data(), ys[0].data(), y.size() * sizeof(float)) == 0;
    }
    const bool pass = finite && max_err <= tol;
    print_phase("verify", "%d chips x %zu values of Y vs the reference: max |error| %.3g (tolerance %.3g)%s", n,
                ys[0].size(), max_err, tol, ranks_agree ? "; every chip holds the same Y" : "");
    w.close();
    progress.finish();
    if (!opt.trace.empty()) print_phase("trace", "written to %s", opt.trace.c_str());

    std::printf("\nsummary%s\n", opt.reps > 1 ? " (fastest repetition)" : "");
    print_summary("allocate", "%8.2f ms  domain over %d chips", best.allocate_ms, n);
    print_summary("load", "%8.2f ms  X and the weight shards copied into the windows", best.load_ms);
    print_summary("compute", "%8.2f ms  shard matmuls, %.2f GFLOP/s (reference on one core: %.2f GFLOP/s)",
                  best.compute_ms, ffn_flops(s) / (best.compute_ms * 1e6), ffn_flops(s) / (ref_ms * 1e6));
    print_summary("communicate", "%8.2f ms  allreduce of %.1f KiB over %d ranks", best.communicate_ms,
                  double(s.tokens * s.d_model) * sizeof(float) / 1024.0, n);
    print_summary("max error", "%.3g  (tolerance %.3g)", max_err, tol);
    print_summary("result", "%s", pass ? "PASS" : "FAIL");
    return pass ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: FAILED: %s\n", argv[0], e.what());
    return 1;
  }
}

}  // namespace strata::tool
