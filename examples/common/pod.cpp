// examples/common/pod.cpp — the pod_dp_tp example and `strata demo --workload pod` (pod_main): data
// parallel across the ranks of a pod over MPI, tensor parallel across the chips of each rank.
//
// The model is linear regression (loss = mean of (x.w - y)^2 / 2) with D features. Rank 0 (the pod's
// root) holds the data, split into one shard per rank, and one copy of the weights per rank. Each step it
// submits the orchestration function `step` to every other rank with its shard (INPUT) and its weights
// (INOUT). On a rank, `step` runs a tensor-parallel layer over the rank's chips: chip c holds the columns
// [c D/C, (c+1) D/C) of the shard and of w, computes its partial prediction, a domain allreduce sums
// the partials, and each chip computes the gradient of its columns. The rank gathers the gradient,
// averages it across the ranks with Orchestrator::pod_allreduce (MPI under the hood), and applies it to its
// weights, which go back to rank 0.
//
// Checks (on rank 0): every rank's weights match a single-process reference of the same arithmetic
// within 1e-5, the ranks agree with one another, and the loss fell below 1% of its start. Exits 1 on a
// mismatch.
//
//   mpirun -n 1+K pod_dp_tp [--chips C] [--steps S]      (C chips per rank, 1..8, default 2)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "strata/strata.hpp"
#include "workload_util.hpp"

namespace {

constexpr size_t kDim = 32, kRows = 64;  // features; rows per rank
constexpr float kLearningRate = 0.5f;

// tensors: x (INPUT, rows x cols of this chip), w (INPUT, cols), pred (OUTPUT, rows): pred = x w.
STRATA_KERNEL(pod_tp_predict) {
  const float* x = ctx.data<float>(0);
  const float* w = ctx.data<float>(1);
  float* pred = ctx.data<float>(2);
  const size_t cols = ctx.tensor(1).numel(), rows = ctx.tensor(2).numel();
  for (size_t r = ctx.block_idx(); r < rows; r += ctx.block_dim()) {
    float s = 0;
    for (size_t j = 0; j < cols; ++j) s += x[r * cols + j] * w[j];
    pred[r] = s;
  }
}

// tensors: x (INPUT, rows x cols), pred (INPUT, rows: the whole prediction), y (INPUT, rows),
// g (OUTPUT, cols): g = x^T (pred - y) / rows.
STRATA_KERNEL(pod_tp_gradient) {
  if (ctx.block_idx() != 0) return;
  const float* x = ctx.data<float>(0);
  const float* pred = ctx.data<float>(1);
  const float* y = ctx.data<float>(2);
  float* g = ctx.data<float>(3);
  const size_t cols = ctx.tensor(3).numel(), rows = ctx.tensor(1).numel();
  for (size_t j = 0; j < cols; ++j) g[j] = 0;
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j) g[j] += (pred[r] - y[r]) * x[r * cols + j];
  for (size_t j = 0; j < cols; ++j) g[j] /= static_cast<float>(rows);
}

bool under_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

}  // namespace

namespace strata::workloads {

int pod_main(int argc, char** argv) try {
  int chips = 2, steps = 30;
  CLI::App app{
      "pod_dp_tp: data parallel across the ranks of a pod over MPI, tensor parallel across each rank's "
      "chips; checked against a single-process reference. Launch with mpirun -n 1+K (K >= 1 ranks of "
      "Workers, plus rank 0).",
      "pod_dp_tp"};
  app.add_option("--chips", chips, "chips per rank (tensor parallel)")->check(CLI::Range(1, 8))->capture_default_str();
  app.add_option("--steps", steps, "training steps")->check(CLI::Range(1, 1000))->capture_default_str();
  if (int rc = strata::cli::parse(app, argc, argv); rc >= 0) return rc;
  if (kDim % static_cast<size_t>(chips) != 0) {
    std::fprintf(stderr, "pod_dp_tp: --chips %d must divide %zu\n", chips, kDim);
    return 2;
  }
  if (!under_mpirun()) {
    std::fprintf(stderr,
                 "pod_dp_tp runs as a pod over MPI: start it with mpirun, one rank for the pod's root and one per "
                 "host of Workers, e.g. on this machine\n"
                 "  mpirun --oversubscribe -n 3 %s%s\n"
                 "(as root also set OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; on real hosts add "
                 "--hostfile FILE; see docs/multi-host.md)\n",
                 argv[0], std::string(argv[0]).ends_with("pod_dp_tp") ? "" : " --workload pod");
    return 2;
  }
  const size_t cols = kDim / static_cast<size_t>(chips);

  strata::Worker pod({.level = 4, .transport = strata::Transport::Mpi});
  strata::Worker& node = pod.add_worker({.chips = chips});
  const strata::Kernel predict = node.register_kernel("pod_tp_predict");
  const strata::Kernel gradient = node.register_kernel("pod_tp_gradient");

  // On a rank: x (INPUT, chips x rows x cols: chip c's columns of this shard), y (INPUT, rows),
  // w (INOUT, kDim): one training step.
  const strata::OrchFn step = pod.register_orch(
      [&](strata::Orchestrator& o, const strata::TaskContext& ctx) {
        const float* x = ctx.data<float>(0);
        const float* y = ctx.data<float>(1);
        float* w = ctx.data<float>(2);
        strata::Domain tp = o.allocate_domain(domain_over_chips("tp", chips,
                                                                {{"x", strata::DType::F32, kRows * cols},
                                                                 {"y", strata::DType::F32, kRows},
                                                                 {"w", strata::DType::F32, cols},
                                                                 {"pred", strata::DType::F32, kRows},
                                                                 {"g", strata::DType::F32, cols}}));
        for (int c = 0; c < chips; ++c) {
          o.copy_to(tp[c].buffer("x"), x + static_cast<size_t>(c) * kRows * cols);
          o.copy_to(tp[c].buffer("y"), y);
          o.copy_to(tp[c].buffer("w"), w + static_cast<size_t>(c) * cols);
          o.submit(predict,
                   strata::TaskArgs()
                       .input(tp[c].buffer("x"))
                       .input(tp[c].buffer("w"))
                       .output_existing(tp[c].buffer("pred")),
                   {}, c);
        }
        o.allreduce(tp, "pred", strata::ReduceOp::Sum);
        for (int c = 0; c < chips; ++c)
          o.submit(gradient,
                   strata::TaskArgs()
                       .input(tp[c].buffer("x"))
                       .input(tp[c].buffer("pred"))
                       .input(tp[c].buffer("y"))
                       .output_existing(tp[c].buffer("g")),
                   {}, c);
        strata::Tensor g = o.alloc({static_cast<int64_t>(kDim)}, strata::DType::F32);
        for (int c = 0; c < chips; ++c) o.copy_from(g.as<float>() + static_cast<size_t>(c) * cols, tp[c].buffer("g"));
        o.pod_allreduce("gradient", g, strata::ReduceOp::Avg);
        for (size_t j = 0; j < kDim; ++j) w[j] -= kLearningRate * g.as<float>()[j];
      },
      "step");

  pod.init();  // every rank but 0 serves rank 0 in here until rank 0 closes the pod
  if (pod.pod_rank() != 0) return 0;
  const int ranks = pod.pod_ranks() - 1;
  std::printf("pod_dp_tp: %d ranks x %d chips, %zu rows of %zu features per rank, %d steps\n", ranks, chips, kRows,
              kDim, steps);

  // The data: y = X w_true; rank r's shard is rows [r kRows, (r + 1) kRows).
  std::vector<float> x, y;
  linear_data(kRows * static_cast<size_t>(ranks), kDim, &x, &y);
  // Rank 0's buffers: each shard laid out by chip (the columns each chip holds), its y, each rank's weights.
  std::vector<strata::Buffer<float>> xs, ys, ws;
  for (int r = 0; r < ranks; ++r) {
    xs.push_back(pod.create_buffer<float>(kRows * kDim));
    ys.push_back(pod.create_buffer<float>(kRows));
    ws.push_back(pod.create_buffer<float>(kDim));
    for (int c = 0; c < chips; ++c)
      for (size_t i = 0; i < kRows; ++i)
        for (size_t j = 0; j < cols; ++j)
          xs.back()[(static_cast<size_t>(c) * kRows + i) * cols + j] =
              x[(static_cast<size_t>(r) * kRows + i) * kDim + static_cast<size_t>(c) * cols + j];
    for (size_t i = 0; i < kRows; ++i) ys.back()[i] = y[static_cast<size_t>(r) * kRows + i];
    for (size_t j = 0; j < kDim; ++j) ws.back()[j] = 0;
  }

  // The single-process reference: the same arithmetic in one place.
  std::vector<float> w_ref(kDim, 0.0f);
  const double loss0 = linear_loss(x, y, w_ref.data(), kDim);
  for (int s = 0; s < steps; ++s) {
    std::vector<float> g_sum(kDim, 0.0f);
    for (int r = 0; r < ranks; ++r) {
      for (int c = 0; c < chips; ++c) {
        for (size_t j = 0; j < cols; ++j) {
          float g = 0;
          for (size_t i = 0; i < kRows; ++i) {
            float pred = 0;
            for (int cc = 0; cc < chips; ++cc) {
              float part = 0;
              for (size_t jj = 0; jj < cols; ++jj)
                part += x[(static_cast<size_t>(r) * kRows + i) * kDim + static_cast<size_t>(cc) * cols + jj] *
                        w_ref[static_cast<size_t>(cc) * cols + jj];
              pred += part;
            }
            g += (pred - y[static_cast<size_t>(r) * kRows + i]) *
                 x[(static_cast<size_t>(r) * kRows + i) * kDim + static_cast<size_t>(c) * cols + j];
          }
          g_sum[static_cast<size_t>(c) * cols + j] += g / static_cast<float>(kRows);
        }
      }
    }
    for (size_t j = 0; j < kDim; ++j) w_ref[j] -= kLearningRate * (g_sum[j] / static_cast<float>(ranks));
  }

  const auto t0 = std::chrono::steady_clock::now();
  pod.run([&](strata::Orchestrator& o) {
    for (int s = 0; s < steps; ++s)
      for (int r = 0; r < ranks; ++r)
        o.submit(step,
                 strata::TaskArgs()
                     .input(xs[static_cast<size_t>(r)].tensor())
                     .input(ys[static_cast<size_t>(r)].tensor())
                     .inout(ws[static_cast<size_t>(r)].tensor()),
                 {}, r);
  });
  std::printf("pod_dp_tp: %d steps on %d ranks in %.1f ms\n", steps, ranks, ms_since(t0));

  Checker check("pod_dp_tp");
  for (int r = 0; r < ranks; ++r)
    check.close("weights of rank " + std::to_string(r + 1) + " after " + std::to_string(steps) + " steps",
                ws[static_cast<size_t>(r)].data(), w_ref.data(), kDim, 1e-5);
  for (int r = 1; r < ranks; ++r)
    check.close("rank " + std::to_string(r + 1) + " agrees with rank 1", ws[static_cast<size_t>(r)].data(),
                ws[0].data(), kDim, 1e-6);
  const std::vector<float> w_got(ws[0].data(), ws[0].data() + kDim);
  const double loss1 = linear_loss(x, y, w_got.data(), kDim);
  check.expect(loss1 < 0.01 * loss0, "the loss fell from " + std::to_string(loss0) + " to " + std::to_string(loss1));
  pod.close();
  return check.finish();
} catch (const std::exception& e) {
  std::fprintf(stderr, "pod_dp_tp: FAILED: %s\n", e.what());
  return 1;
}

}  // namespace strata::workloads
