// examples/common/dp.cpp — the dp_train example and `strata demo --workload dp` (dp_main): a data-parallel
// training loop over one domain of N chips (1..16): each chip
// computes the gradient of a linear model (loss = mean of (x.w - y)^2 / 2) on its shard of the data,
// the gradients are averaged with the Orchestrator's bf16 allreduce (ReduceOp::Avg), and every chip
// applies the same update to its copy of the weights.
//
// Checks: after the last step every chip holds bitwise the weights of a single-process reference that
// does the same arithmetic (shard gradients in f32, rounded to bf16; their average in f32 in rank order,
// rounded to bf16; w -= lr * g in f32), and the loss on the whole data set fell below 1% of its start.
// Exits 1 on any mismatch.
//
//   dp_train [chips | --chips N] [--trace FILE] [--progress]     (1..16, default 4)
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "strata/half.hpp"
#include "strata/strata.hpp"
#include "workload_util.hpp"

namespace {

constexpr size_t kDim = 16, kRows = 96;  // per shard
constexpr int kSteps = 50;
constexpr float kLearningRate = 0.5f;

/// g = X^T (X w - y) / rows for one shard, in f32 (kernel and reference call this same code).
void shard_gradient(const float* x, const float* y, const float* w, size_t rows, float* g) {
  for (size_t j = 0; j < kDim; ++j) g[j] = 0.0f;
  for (size_t r = 0; r < rows; ++r) {
    float e = -y[r];
    for (size_t j = 0; j < kDim; ++j) e += x[r * kDim + j] * w[j];
    for (size_t j = 0; j < kDim; ++j) g[j] += e * x[r * kDim + j];
  }
  for (size_t j = 0; j < kDim; ++j) g[j] /= static_cast<float>(rows);
}

void apply(float* w, const uint16_t* g) {
  for (size_t j = 0; j < kDim; ++j) w[j] -= kLearningRate * strata::float_from_bf16(g[j]);
}

}  // namespace

// tensors: x (INPUT, rows x kDim f32), y (INPUT, rows f32), w (INPUT, kDim f32), grad (INOUT, kDim bf16).
STRATA_KERNEL(dp_grad) {
  float g[kDim];
  shard_gradient(ctx.data<float>(0), ctx.data<float>(1), ctx.data<float>(2), ctx.tensor(1).numel(), g);
  strata::float_to_bf16(g, ctx.data<uint16_t>(3), kDim);
}

// tensors: w (INOUT, kDim f32), grad (INPUT, kDim bf16).
STRATA_KERNEL(dp_apply) { apply(ctx.data<float>(0), ctx.data<uint16_t>(1)); }

namespace strata::workloads {

int dp_main(int argc, char** argv) try {
  const ExampleArgs args = example_args(argc, argv, "dp_train", 1, 16, 4);
  if (args.exit >= 0) return args.exit;
  const int n = args.chips;
  strata::ProgressLine progress(args.progress);

  // The data set: y = X w_true, X uniform in [-1, 1); shard r is rows [r kRows, (r + 1) kRows).
  std::vector<float> x, y;
  linear_data(kRows * static_cast<size_t>(n), kDim, &x, &y);
  std::printf("dp_train: %d chips, %zu rows of %zu features each, %d steps of bf16 allreduce(avg)\n", n, kRows, kDim,
              kSteps);

  // The single-process reference.
  std::vector<float> w_ref(kDim, 0.0f);
  const double loss0 = linear_loss(x, y, w_ref.data(), kDim);
  for (int s = 0; s < kSteps; ++s) {
    std::vector<float> sum(kDim, 0.0f);
    for (int r = 0; r < n; ++r) {
      float g[kDim];
      uint16_t h[kDim];
      shard_gradient(&x[static_cast<size_t>(r) * kRows * kDim], &y[static_cast<size_t>(r) * kRows], w_ref.data(), kRows,
                     g);
      strata::float_to_bf16(g, h, kDim);
      for (size_t j = 0; j < kDim; ++j) sum[j] += strata::float_from_bf16(h[j]);
    }
    uint16_t avg[kDim];
    for (size_t j = 0; j < kDim; ++j) avg[j] = strata::bf16_from_float(sum[j] / static_cast<float>(n));
    apply(w_ref.data(), avg);
  }

  strata::Worker w(args.worker_options(progress, "dp_train"));
  auto grad = w.register_kernel("dp_grad");
  auto step = w.register_kernel("dp_apply");
  w.init();
  Checker check("dp_train");
  w.run([&](strata::Orchestrator& o) {
    strata::Domain dp = o.allocate_domain(domain_over_chips("dp", n,
                                                            {{"x", strata::DType::F32, kRows * kDim},
                                                             {"y", strata::DType::F32, kRows},
                                                             {"w", strata::DType::F32, kDim},
                                                             {"grad", strata::DType::BF16, kDim}}));
    const std::vector<float> zeros(kDim, 0.0f);
    for (int c = 0; c < n; ++c) {
      o.copy_to(dp[c].buffer("x"), &x[static_cast<size_t>(c) * kRows * kDim]);
      o.copy_to(dp[c].buffer("y"), &y[static_cast<size_t>(c) * kRows]);
      o.copy_to(dp[c].buffer("w"), zeros.data());
    }
    // Each step: gradients on every chip, their average everywhere, the update on every chip. The tags
    // order them: the allreduce waits for every chip's gradient (INOUT on "grad"), the update for the
    // allreduce, the next gradient for the update (INPUT on "w").
    for (int s = 0; s < kSteps; ++s) {
      for (int c = 0; c < n; ++c)
        o.submit(grad,
                 strata::TaskArgs()
                     .input(dp[c].buffer("x"))
                     .input(dp[c].buffer("y"))
                     .input(dp[c].buffer("w"))
                     .inout(dp[c].buffer("grad")),
                 {}, c);
      o.allreduce(dp, "grad", strata::ReduceOp::Avg);
      for (int c = 0; c < n; ++c)
        o.submit(step, strata::TaskArgs().inout(dp[c].buffer("w")).input(dp[c].buffer("grad")), {}, c);
    }
    for (int c = 0; c < n; ++c) {
      std::vector<float> got(kDim);
      o.copy_from(got.data(), dp[c].buffer("w"));
      check.exact("weights on chip " + std::to_string(c) + " after " + std::to_string(kSteps) + " steps", got.data(),
                  w_ref.data(), kDim);
    }
  });
  const double loss1 = linear_loss(x, y, w_ref.data(), kDim);
  check.expect(loss1 < 0.01 * loss0, "the loss fell from " + std::to_string(loss0) + " to " + std::to_string(loss1));
  w.close();
  return check.finish();
} catch (const std::exception& e) {
  std::fprintf(stderr, "dp_train: FAILED: %s\n", e.what());
  return 1;
}

}  // namespace strata::workloads
