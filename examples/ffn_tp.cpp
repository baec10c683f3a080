// examples/ffn_tp.cpp — a tensor-parallel feed-forward layer, Y = relu(X·W1)·W2, on 2..4 chips.
//
// W1 is sharded by columns and W2 by rows over the chips of one domain; each chip multiplies its shard
// into the y buffer of its window (OUTPUT_EXISTING), then strata_allreduce (INOUT on the same y) sums the
// partials — the allreduce waits for the matmul through tag inference alone. Every chip's Y is checked
// against a single-process reference computed here. Exits 1 on any mismatch.
//
//   ffn_tp [chips]     (2..4, default 2)
#include "ffn_tp.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "strata/strata.hpp"
#include "workload_util.hpp"

int main(int argc, char** argv) try {
  using namespace strata::workloads;
  const ExampleArgs args = example_args(argc, argv, "ffn_tp", 2, 4, 2);
  if (args.exit >= 0) return args.exit;
  const int n = args.chips;
  strata::ProgressLine progress(args.progress);

  FfnShape s;
  s.chips = n;
  s.tokens = 48;
  s.d_model = 96;
  s.d_ff = 389;  // not a multiple of the chip count: shards of different widths
  std::printf(
      "ffn_tp: Y = relu(X*W1)*W2, X %lldx%lld, W1 %lldx%lld column-sharded, W2 %lldx%lld row-sharded, "
      "over %d chips\n",
      static_cast<long long>(s.tokens), static_cast<long long>(s.d_model), static_cast<long long>(s.d_model),
      static_cast<long long>(s.d_ff), static_cast<long long>(s.d_ff), static_cast<long long>(s.d_model), n);
  for (int c = 0; c < n; ++c)
    std::printf("  chip %d: hidden columns [%lld, %lld)\n", c, static_cast<long long>(ffn_shard_begin(s, c)),
                static_cast<long long>(ffn_shard_begin(s, c + 1)));

  std::vector<float> x(size_t(s.tokens * s.d_model)), w1(size_t(s.d_model * s.d_ff)), w2(size_t(s.d_ff * s.d_model));
  ffn_make_inputs(s, x.data(), w1.data(), w2.data(), 7);
  std::vector<float> ref(size_t(s.tokens * s.d_model));
  ffn_reference(s, x.data(), w1.data(), w2.data(), ref.data());

  strata::Worker w(args.worker_options(progress, "ffn_tp"));
  FfnTp ffn(w);
  w.init();
  Checker check("ffn_tp");
  const double tol = ffn_tolerance(s);
  // Two passes: the second one reuses the Worker, its communicator and the domain name.
  for (int pass = 1; pass <= 2; ++pass) {
    std::vector<std::vector<float>> ys;
    FfnTimings tm;
    w.run([&](strata::Orchestrator& o) { tm = ffn.forward(o, s, x.data(), w1.data(), w2.data(), &ys); });
    std::printf("pass %d: allocate %.2f ms, load %.2f ms, compute %.2f ms, communicate %.2f ms\n", pass, tm.allocate_ms,
                tm.load_ms, tm.compute_ms, tm.communicate_ms);
    for (int c = 0; c < n; ++c)
      check.close("pass " + std::to_string(pass) + ": chip " + std::to_string(c) + " Y vs reference",
                  ys[size_t(c)].data(), ref.data(), ref.size(), tol);
  }
  check.expect(w.comm_bringups() == 1, "the communicator was brought up once for both passes",
               "brought up " + std::to_string(w.comm_bringups()) + " times");
  w.close();
  return check.finish();
} catch (const std::exception& e) {
  std::fprintf(stderr, "ffn_tp: FAILED: %s\n", e.what());
  return 1;
}
