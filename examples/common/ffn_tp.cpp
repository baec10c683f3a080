// examples/common/ffn_tp.cpp — see ffn_tp.hpp.
#include "ffn_tp.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <string>

#include "workload_util.hpp"

namespace {

constexpr int kMaxChips = 64;

void atomic_min(int64_t* p, int64_t v) {
  std::atomic_ref<int64_t> a(*p);
  int64_t cur = a.load();
  while (v < cur && !a.compare_exchange_weak(cur, v)) {
  }
}

void atomic_max(int64_t* p, int64_t v) {
  std::atomic_ref<int64_t> a(*p);
  int64_t cur = a.load();
  while (v > cur && !a.compare_exchange_weak(cur, v)) {
  }
}

// One row of the layer: y_row (D) = relu(x_row (D) · w1 (D x fc, row stride fc)) · w2 (fc x D), with
// the hidden row in h (fc).
void ffn_row(const float* x_row, const float* w1, const float* w2, float* y_row, float* h, int64_t d, int64_t fc) {
  std::fill(h, h + fc, 0.0f);
  for (int64_t k = 0; k < d; ++k) {
    const float xv = x_row[k];
    const float* w1_row = w1 + k * fc;
    for (int64_t j = 0; j < fc; ++j) h[j] += xv * w1_row[j];
  }
  std::fill(y_row, y_row + d, 0.0f);
  for (int64_t j = 0; j < fc; ++j) {
    const float hv = h[j] > 0.0f ? h[j] : 0.0f;
    if (hv == 0.0f) continue;
    const float* w2_row = w2 + j * d;
    for (int64_t k = 0; k < d; ++k) y_row[k] += hv * w2_row[k];
  }
}

}  // namespace

// Tensors: x (T x D), w1 (D x fc shard, INPUT), w2 (fc x D shard, INPUT), y (T x D, OUTPUT_EXISTING: the
// chip's partial), stamps (NO_DEP). Scalars: T, D, fc, stamp slot. Blocks split the rows of X.
STRATA_KERNEL(ffn_tp_shard_matmul) {
  const float* x = ctx.data<float>(0);
  const float* w1 = ctx.data<float>(1);
  const float* w2 = ctx.data<float>(2);
  float* y = ctx.data<float>(3);
  int64_t* stamps = ctx.data<int64_t>(4);
  const auto t = ctx.scalar<int64_t>(0), d = ctx.scalar<int64_t>(1), fc = ctx.scalar<int64_t>(2);
  const auto slot = ctx.scalar<int64_t>(3);
  atomic_min(&stamps[3 * slot], strata::workloads::monotonic_ns());
  const int64_t bd = ctx.block_dim(), blk = ctx.block_idx();
  std::vector<float> h(static_cast<size_t>(fc));
  for (int64_t r = t * blk / bd; r < t * (blk + 1) / bd; ++r) ffn_row(x + r * d, w1, w2, y + r * d, h.data(), d, fc);
  atomic_max(&stamps[3 * slot + 1], strata::workloads::monotonic_ns());
}

// Tensors: y (INOUT, so that it runs after the allreduce and copy_from waits for it), stamps (NO_DEP).
// Scalar: stamp slot.
STRATA_KERNEL(ffn_tp_stamp) {
  int64_t* stamps = ctx.data<int64_t>(1);
  stamps[3 * ctx.scalar<int64_t>(0) + 2] = strata::workloads::monotonic_ns();
}

namespace strata::workloads {

int64_t ffn_shard_begin(const FfnShape& s, int chip) { return s.d_ff * chip / s.chips; }

int64_t ffn_shard_max(const FfnShape& s) {
  int64_t m = 0;
  for (int c = 0; c < s.chips; ++c) m = std::max(m, ffn_shard_begin(s, c + 1) - ffn_shard_begin(s, c));
  return m;
}

double ffn_flops(const FfnShape& s) { return 4.0 * double(s.tokens) * double(s.d_model) * double(s.d_ff); }

void ffn_make_inputs(const FfnShape& s, float* x, float* w1, float* w2, uint64_t seed) {
  const auto t = static_cast<size_t>(s.tokens), d = static_cast<size_t>(s.d_model), f = static_cast<size_t>(s.d_ff);
  fill_uniform(x, t * d, seed);
  fill_uniform(w1, d * f, seed + 1, static_cast<float>(1.0 / std::sqrt(double(d))));
  fill_uniform(w2, f * d, seed + 2, static_cast<float>(1.0 / std::sqrt(double(f))));
}

void ffn_reference(const FfnShape& s, const float* x, const float* w1, const float* w2, float* y) {
  std::vector<float> h(static_cast<size_t>(s.d_ff));
  for (int64_t r = 0; r < s.tokens; ++r)
    ffn_row(x + r * s.d_model, w1, w2, y + r * s.d_model, h.data(), s.d_model, s.d_ff);
}

void ffn_reference_task(const TaskContext& ctx) {
  FfnShape s;
  s.tokens = ctx.scalar<int64_t>(0);
  s.d_model = ctx.scalar<int64_t>(1);
  s.d_ff = ctx.scalar<int64_t>(2);
  ffn_reference(s, ctx.data<float>(0), ctx.data<float>(1), ctx.data<float>(2), ctx.data<float>(3));
}

double ffn_tolerance(const FfnShape& s) { return 1e-5 * std::sqrt(double(s.d_ff)) + 1e-5; }

FfnTp::FfnTp(Worker& w)
    : matmul_(w.register_kernel("ffn_tp_shard_matmul")),
      allreduce_(w.register_kernel("strata_allreduce")),
      stamp_(w.register_kernel("ffn_tp_stamp")),
      stamps_(w.create_buffer<int64_t>(3 * kMaxChips)) {}

FfnTimings FfnTp::forward(Orchestrator& o, const FfnShape& s, const float* x, const float* w1, const float* w2,
                          std::vector<std::vector<float>>* ys, const FfnRunOptions& opt) {
  using Clock = std::chrono::steady_clock;
  if (s.chips < 1 || s.chips > kMaxChips) throw UsageError("FfnTp: chips must be in 1..64");
  const int n = s.chips;
  const int64_t t = s.tokens, d = s.d_model, fmax = ffn_shard_max(s);
  for (int c = 0; c < n; ++c) {
    stamps_[size_t(3 * c)] = INT64_MAX;
    stamps_[size_t(3 * c + 1)] = 0;
    stamps_[size_t(3 * c + 2)] = 0;
  }
  FfnTimings tm;

  // allocate
  const auto t0 = Clock::now();
  Domain dom = o.allocate_domain(domain_over_chips(opt.domain_name, n,
                                                   {{"x", DType::F32, size_t(t * d)},
                                                    {"w1", DType::F32, size_t(d * fmax)},
                                                    {"w2", DType::F32, size_t(fmax * d)},
                                                    {"y", DType::F32, size_t(t * d)}}));
  const auto t1 = Clock::now();
  tm.allocate_ms = ms_between(t0, t1);
  if (opt.progress)
    std::fprintf(opt.progress,
                 "[allocate]    domain '%s' (allocation %llu) over %d chips, %.1f KiB window each: %.2f ms\n",
                 dom.name().c_str(), static_cast<unsigned long long>(dom.allocation_id()), n,
                 double(dom[0].window_size) / 1024.0, tm.allocate_ms);

  // load: X everywhere; chip c gets columns [f0, f1) of W1 (gathered) and rows [f0, f1) of W2 (contiguous).
  std::vector<float> w1_shard(size_t(d * fmax));
  for (int c = 0; c < n; ++c) {
    const int64_t f0 = ffn_shard_begin(s, c), fc = ffn_shard_begin(s, c + 1) - f0;
    for (int64_t k = 0; k < d; ++k) std::copy_n(w1 + k * s.d_ff + f0, fc, w1_shard.data() + k * fc);
    const ChipContext& cc = dom[c];
    o.copy_to(cc.buffer("x"), x, size_t(t * d) * sizeof(float));
    o.copy_to(cc.buffer("w1"), w1_shard.data(), size_t(d * fc) * sizeof(float));
    o.copy_to(cc.buffer("w2"), w2 + f0 * d, size_t(fc * d) * sizeof(float));
  }
  const auto t2 = Clock::now();
  tm.load_ms = ms_between(t1, t2);
  if (opt.progress)
    std::fprintf(opt.progress,
                 "[load]        X (%lldx%lld) and each chip's W1/W2 shards (%lld hidden columns at most) "
                 "copied in: %.2f ms\n",
                 static_cast<long long>(t), static_cast<long long>(d), static_cast<long long>(fmax), tm.load_ms);

  // compute, then reduce: the allreduce on chip c names y INOUT, the matmul wrote it: that is the dependency.
  const Tensor stamps = stamps_.tensor();
  for (int c = 0; c < n; ++c) {
    const ChipContext& cc = dom[c];
    const int64_t fc = ffn_shard_begin(s, c + 1) - ffn_shard_begin(s, c);
    o.submit(matmul_,
             TaskArgs()
                 .input(cc.buffer("x"))
                 .input(cc.buffer("w1"))
                 .input(cc.buffer("w2"))
                 .output_existing(cc.buffer("y"))
                 .no_dep(stamps)
                 .scalar(t)
                 .scalar(d)
                 .scalar(fc)
                 .scalar(int64_t{c}),
             {.block_dim = opt.block_dim}, c);
  }
  for (int c = 0; c < n; ++c)
    o.submit(allreduce_, TaskArgs().inout(dom[c].buffer("y")).scalar(dom[c].device_ctx), {.block_dim = opt.block_dim},
             c);
  for (int c = 0; c < n; ++c)
    o.submit(stamp_, TaskArgs().inout(dom[c].buffer("y")).no_dep(stamps).scalar(int64_t{c}), {}, c);
  if (opt.progress)
    std::fprintf(opt.progress, "[submit]      %d shard matmuls, %d allreduce parts, %d stamps submitted\n", n, n, n);

  // fetch (copy_from waits for y's last writer on that chip)
  ys->assign(size_t(n), std::vector<float>(size_t(t * d)));
  for (int c = 0; c < n; ++c) o.copy_from((*ys)[size_t(c)].data(), dom[c].buffer("y"));
  const int64_t t3 = monotonic_ns();
  dom.release();  // freed after the run's drain

  int64_t mm_start = INT64_MAX, mm_end = 0, ar_end = 0;
  for (int c = 0; c < n; ++c) {
    mm_start = std::min(mm_start, stamps_[size_t(3 * c)]);
    mm_end = std::max(mm_end, stamps_[size_t(3 * c + 1)]);
    ar_end = std::max(ar_end, stamps_[size_t(3 * c + 2)]);
  }
  tm.compute_ms = double(mm_end - mm_start) / 1e6;
  tm.communicate_ms = double(ar_end - mm_end) / 1e6;
  tm.fetch_ms = double(t3 - ar_end) / 1e6;
  if (opt.progress) {
    std::fprintf(opt.progress, "[compute]     %d shard matmuls, %.3f GFLOP: %.2f ms (%.2f GFLOP/s)\n", n,
                 ffn_flops(s) / 1e9, tm.compute_ms, ffn_flops(s) / (tm.compute_ms * 1e6));
    std::fprintf(opt.progress, "[communicate] allreduce of %.1f KiB over %d ranks: %.2f ms\n",
                 double(t * d) * sizeof(float) / 1024.0, n, tm.communicate_ms);
    std::fprintf(opt.progress, "[fetch]       every chip's Y copied back: %.2f ms after the last allreduce\n",
                 tm.fetch_ms);
  }
  return tm;
}

}  // namespace strata::workloads
