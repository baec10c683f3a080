// examples/common/moe.cpp — mixture-of-experts expert parallelism on 2..4 chips: the ep_dispatch_combine
// example and `strata demo --workload moe` (moe_main).
//
// Each chip holds T tokens of hidden size H and EL experts (E = EL * N in all; expert e lives on chip
// e / EL). Per step, as tasks over one domain "ep" (rank == chip):
//   route     (per chip)   a gating matmul x·Wg picks the top-2 experts of each token, with softmax weights
//   dispatch  (group task) barrier; publish per-destination row counts into every peer's "counts" and
//                          signal; push each (token, pick) row into the destination's "recv" region for this
//                          source (with its local expert and origin slot in "recv_meta") and signal; wait
//                          until every peer's counts and rows have arrived
//   expert    (per chip)   every received row through its local expert: relu(row·We + be)
//   combine   (group task) every result row written back into its origin's "back" at the origin slot and
//                          signalled with the row count; wait until all 2T of this chip's rows are back
//   finalize  (per chip)   y[t] = w0 * back[t, 0] + w1 * back[t, 1]
// Phases on one chip are ordered by the tags on its own window buffers; between chips by the signals
// and the barrier of strata/comm_kernel.hpp. Two steps run over the same domain (the signal targets grow
// with the step number, never reset). The single-process reference uses the same routing, expert and
// combine functions, so the check is exact. Exits 1 on any mismatch.
//
//   ep_dispatch_combine [chips | --chips N] [--trace FILE] [--progress]     (2..4, default 4)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "moe_layer.hpp"
#include "strata/comm_kernel.hpp"
#include "strata/strata.hpp"
#include "workload_util.hpp"

namespace {

constexpr int64_t kTokens = 24;         // T per chip
constexpr int64_t kHidden = 16;         // H
constexpr int64_t kExpertsPerChip = 2;  // EL
constexpr uint32_t kSlotCounts = strata::kCommUserSlotBase;
constexpr uint32_t kSlotRows = strata::kCommUserSlotBase + 1;
constexpr uint32_t kSlotBack = strata::kCommUserSlotBase + 2;
constexpr std::chrono::seconds kWaitTimeout{30};

using strata::examples::route_token;

using strata::examples::expert_forward;

[[gnu::noinline]] void combine_row(float w0, const float* a, float w1, const float* b, int64_t h, float* y) {
  for (int64_t j = 0; j < h; ++j) y[j] = w0 * a[j] + w1 * b[j];
}

}  // namespace

// Tensors: x (IN), wg (IN), route_idx (OUTPUT_EXISTING, T x 2), route_w (OUTPUT_EXISTING, T x 2).
// Scalars: T, H, E.
STRATA_KERNEL(ep_route) {
  const auto t = ctx.scalar<int64_t>(0), h = ctx.scalar<int64_t>(1), e = ctx.scalar<int64_t>(2);
  const float* x = ctx.data<float>(0);
  for (int64_t i = 0; i < t; ++i)
    route_token(x + i * h, ctx.data<float>(1), h, e, ctx.data<int32_t>(2) + 2 * i, ctx.data<float>(3) + 2 * i);
}

// Tensors: x (IN), route_idx (IN), counts (INOUT, N), recv (INOUT, N x 2T x H), recv_meta (INOUT,
// N x 2T x 2). Scalars: device_ctx, T, H, EL, step (1, 2, ...).
STRATA_KERNEL(ep_dispatch) {
  const strata::CommView comm = strata::CommView::from_task(ctx, 0);
  const auto t = ctx.scalar<int64_t>(1), h = ctx.scalar<int64_t>(2), el = ctx.scalar<int64_t>(3);
  const auto step = ctx.scalar<uint64_t>(4);
  const float* x = ctx.data<float>(0);
  const int32_t* idx = ctx.data<int32_t>(1);
  int32_t* counts = ctx.data<int32_t>(2);
  float* recv = ctx.data<float>(3);
  int32_t* meta = ctx.data<int32_t>(4);
  const uint32_t me = comm.rank(), n = comm.size();

  comm.barrier(0, kWaitTimeout);  // every rank is done with the previous step's buffers
  std::vector<int32_t> per_dest(n, 0);
  for (int64_t i = 0; i < 2 * t; ++i) ++per_dest[size_t(idx[i] / el)];
  for (uint32_t d = 0; d < n; ++d) {  // counts first ...
    comm.peer(counts, d)[me] = per_dest[d];
    comm.signal_add(d, kSlotCounts, 1);
  }
  std::vector<int64_t> next(n, 0);  // ... then the rows, into region `me` of the destination's recv
  for (int64_t i = 0; i < 2 * t; ++i) {
    const auto d = static_cast<uint32_t>(idx[i] / el);
    const int64_t row = int64_t{me} * 2 * t + next[d]++;
    std::memcpy(comm.peer(recv, d) + row * h, x + (i / 2) * h, size_t(h) * sizeof(float));
    int32_t* m = comm.peer(meta, d) + row * 2;
    m[0] = static_cast<int32_t>(idx[i] % el);  // the destination's local expert
    m[1] = static_cast<int32_t>(i);            // origin slot: token * 2 + pick
  }
  for (uint32_t d = 0; d < n; ++d) comm.signal_add(d, kSlotRows, 1);
  comm.wait_ge(kSlotCounts, step * n, kWaitTimeout);
  comm.wait_ge(kSlotRows, step * n, kWaitTimeout);
}

// Tensors: counts (IN), recv (IN), recv_meta (IN), we (IN, EL x H x H), be (IN, EL x H), expert_out
// (OUTPUT_EXISTING, N x 2T x H). Scalars: N, T, H. Blocks split the rows.
STRATA_KERNEL(ep_expert) {
  const auto n = ctx.scalar<int64_t>(0), t = ctx.scalar<int64_t>(1), h = ctx.scalar<int64_t>(2);
  const int32_t* counts = ctx.data<int32_t>(0);
  const float* recv = ctx.data<float>(1);
  const int32_t* meta = ctx.data<int32_t>(2);
  const float* we = ctx.data<float>(3);
  const float* be = ctx.data<float>(4);
  float* out = ctx.data<float>(5);
  for (int64_t row = ctx.block_idx(); row < n * 2 * t; row += ctx.block_dim()) {
    if (row % (2 * t) >= counts[row / (2 * t)]) continue;
    const int64_t le = meta[row * 2];
    expert_forward(recv + row * h, we + le * h * h, be + le * h, h, out + row * h);
  }
}

// Tensors: expert_out (IN), recv_meta (IN), counts (IN), back (INOUT, 2T x H). Scalars: device_ctx, T, H,
// step.
STRATA_KERNEL(ep_combine) {
  const strata::CommView comm = strata::CommView::from_task(ctx, 0);
  const auto t = ctx.scalar<int64_t>(1), h = ctx.scalar<int64_t>(2);
  const auto step = ctx.scalar<uint64_t>(3);
  const float* out = ctx.data<float>(0);
  const int32_t* meta = ctx.data<int32_t>(1);
  const int32_t* counts = ctx.data<int32_t>(2);
  float* back = ctx.data<float>(3);
  for (uint32_t s = 0; s < comm.size(); ++s) {
    for (int64_t j = 0; j < counts[s]; ++j) {
      const int64_t row = int64_t{s} * 2 * t + j;
      std::memcpy(comm.peer(back, s) + int64_t{meta[row * 2 + 1]} * h, out + row * h, size_t(h) * sizeof(float));
    }
    if (counts[s] > 0) comm.signal_add(s, kSlotBack, static_cast<uint64_t>(counts[s]));
  }
  comm.wait_ge(kSlotBack, step * 2 * static_cast<uint64_t>(t), kWaitTimeout);
}

// Tensors: back (IN), route_w (IN), y (OUTPUT_EXISTING, T x H). Scalars: T, H.
STRATA_KERNEL(ep_finalize) {
  const auto t = ctx.scalar<int64_t>(0), h = ctx.scalar<int64_t>(1);
  const float* back = ctx.data<float>(0);
  const float* w = ctx.data<float>(1);
  for (int64_t i = 0; i < t; ++i)
    combine_row(w[2 * i], back + 2 * i * h, w[2 * i + 1], back + (2 * i + 1) * h, h, ctx.data<float>(2) + i * h);
}

namespace {

struct Model {
  int n = 0;
  int64_t e = 0;
  std::vector<float> wg;  // H x E
  std::vector<float> we;  // E x H x H (chip d holds experts [d * EL, (d + 1) * EL))
  std::vector<float> be;  // E x H
};

struct Expected {
  std::vector<std::vector<float>> y;         // per chip, T x H
  std::vector<std::vector<int32_t>> idx;     // per chip, T x 2
  std::vector<std::vector<int32_t>> counts;  // per destination chip, N (rows from each source)
  std::vector<int> rows_per_expert;
};

Expected reference(const Model& m, const std::vector<std::vector<float>>& x) {
  const int64_t t = kTokens, h = kHidden;
  Expected r;
  r.y.assign(size_t(m.n), std::vector<float>(size_t(t * h)));
  r.idx.assign(size_t(m.n), std::vector<int32_t>(size_t(2 * t)));
  r.counts.assign(size_t(m.n), std::vector<int32_t>(size_t(m.n), 0));
  r.rows_per_expert.assign(size_t(m.e), 0);
  std::vector<float> out0(static_cast<size_t>(h)), out1(static_cast<size_t>(h));
  for (int c = 0; c < m.n; ++c)
    for (int64_t i = 0; i < t; ++i) {
      int32_t* idx = r.idx[size_t(c)].data() + 2 * i;
      float w[2];
      const float* row = x[size_t(c)].data() + i * h;
      route_token(row, m.wg.data(), h, m.e, idx, w);
      for (int k = 0; k < 2; ++k) {
        ++r.counts[size_t(idx[k] / kExpertsPerChip)][size_t(c)];
        ++r.rows_per_expert[size_t(idx[k])];
      }
      expert_forward(row, m.we.data() + idx[0] * h * h, m.be.data() + idx[0] * h, h, out0.data());
      expert_forward(row, m.we.data() + idx[1] * h * h, m.be.data() + idx[1] * h, h, out1.data());
      combine_row(w[0], out0.data(), w[1], out1.data(), h, r.y[size_t(c)].data() + i * h);
    }
  return r;
}

}  // namespace

namespace strata::workloads {

int moe_main(int argc, char** argv) try {
  using strata::DType;
  const ExampleArgs args = example_args(argc, argv, "ep_dispatch_combine", 2, 4, 4);
  if (args.exit >= 0) return args.exit;
  const int n = args.chips;
  strata::ProgressLine progress(args.progress);
  const int64_t t = kTokens, h = kHidden, el = kExpertsPerChip;
  Model m;
  m.n = n;
  m.e = el * n;
  m.wg.resize(size_t(h * m.e));
  m.we.resize(size_t(m.e * h * h));
  m.be.resize(size_t(m.e * h));
  fill_uniform(m.wg.data(), m.wg.size(), 11);
  fill_uniform(m.we.data(), m.we.size(), 12, 0.5f);
  fill_uniform(m.be.data(), m.be.size(), 13, 0.1f);
  std::printf("ep_dispatch_combine: %d chips, %lld tokens each (hidden %lld), %lld experts (%lld per chip), top-2\n", n,
              static_cast<long long>(t), static_cast<long long>(h), static_cast<long long>(m.e),
              static_cast<long long>(el));

  const size_t nn = size_t(n), rows = nn * size_t(2 * t);
  const std::vector<strata::BufferSpec> buffers = {{"x", DType::F32, size_t(t * h)},
                                                   {"wg", DType::F32, size_t(h * m.e)},
                                                   {"we", DType::F32, size_t(el * h * h)},
                                                   {"be", DType::F32, size_t(el * h)},
                                                   {"route_idx", DType::I32, size_t(2 * t)},
                                                   {"route_w", DType::F32, size_t(2 * t)},
                                                   {"counts", DType::I32, nn},
                                                   {"recv", DType::F32, rows * size_t(h)},
                                                   {"recv_meta", DType::I32, rows * 2},
                                                   {"expert_out", DType::F32, rows * size_t(h)},
                                                   {"back", DType::F32, size_t(2 * t * h)},
                                                   {"y", DType::F32, size_t(t * h)}};

  strata::Worker w(args.worker_options(progress, "ep_dispatch_combine"));
  auto route = w.register_kernel("ep_route");
  auto dispatch = w.register_kernel("ep_dispatch");
  auto expert = w.register_kernel("ep_expert");
  auto combine = w.register_kernel("ep_combine");
  auto finalize = w.register_kernel("ep_finalize");
  w.init();
  Checker check("ep_dispatch_combine");

  std::vector<int> members;
  for (int c = 0; c < n; ++c) members.push_back(c);
  w.run([&](strata::Orchestrator& o) {
    strata::Domain ep =
        o.allocate_domain({.name = "ep", .workers = members, .window_size = window_bytes(buffers), .buffers = buffers});
    std::printf("domain 'ep' over %d chips, %.1f KiB window each\n", n, double(ep[0].window_size) / 1024.0);
    for (int c = 0; c < n; ++c) {  // the router everywhere, each chip's own experts
      o.copy_to(ep[c].buffer("wg"), m.wg.data());
      o.copy_to(ep[c].buffer("we"), m.we.data() + c * el * h * h);
      o.copy_to(ep[c].buffer("be"), m.be.data() + c * el * h);
    }
    for (uint64_t step = 1; step <= 2; ++step) {
      std::vector<std::vector<float>> x(nn, std::vector<float>(size_t(t * h)));
      for (int c = 0; c < n; ++c) {
        fill_uniform(x[size_t(c)].data(), x[size_t(c)].size(), 100 * step + uint64_t(c));
        o.copy_to(ep[c].buffer("x"), x[size_t(c)].data());
      }
      const Expected want = reference(m, x);

      const auto buf = [&](int c, const char* name) { return ep[c].buffer(name); };
      for (int c = 0; c < n; ++c)
        o.submit(route,
                 strata::TaskArgs()
                     .input(buf(c, "x"))
                     .input(buf(c, "wg"))
                     .output_existing(buf(c, "route_idx"))
                     .output_existing(buf(c, "route_w"))
                     .scalar(t)
                     .scalar(h)
                     .scalar(m.e),
                 {}, c);
      std::vector<strata::TaskArgs> parts;
      for (int c = 0; c < n; ++c)
        parts.push_back(strata::TaskArgs()
                            .input(buf(c, "x"))
                            .input(buf(c, "route_idx"))
                            .inout(buf(c, "counts"))
                            .inout(buf(c, "recv"))
                            .inout(buf(c, "recv_meta"))
                            .scalar(ep[c].device_ctx)
                            .scalar(t)
                            .scalar(h)
                            .scalar(el)
                            .scalar(step));
      o.submit_group(dispatch, std::move(parts), {}, members);
      for (int c = 0; c < n; ++c)
        o.submit(expert,
                 strata::TaskArgs()
                     .input(buf(c, "counts"))
                     .input(buf(c, "recv"))
                     .input(buf(c, "recv_meta"))
                     .input(buf(c, "we"))
                     .input(buf(c, "be"))
                     .output_existing(buf(c, "expert_out"))
                     .scalar(int64_t{n})
                     .scalar(t)
                     .scalar(h),
                 {.block_dim = 2}, c);
      parts.clear();
      for (int c = 0; c < n; ++c)
        parts.push_back(strata::TaskArgs()
                            .input(buf(c, "expert_out"))
                            .input(buf(c, "recv_meta"))
                            .input(buf(c, "counts"))
                            .inout(buf(c, "back"))
                            .scalar(ep[c].device_ctx)
                            .scalar(t)
                            .scalar(h)
                            .scalar(step));
      o.submit_group(combine, std::move(parts), {}, members);
      for (int c = 0; c < n; ++c)
        o.submit(finalize,
                 strata::TaskArgs()
                     .input(buf(c, "back"))
                     .input(buf(c, "route_w"))
                     .output_existing(buf(c, "y"))
                     .scalar(t)
                     .scalar(h),
                 {}, c);

      // The check (copy_from waits for each buffer's last writer; y's is the last task of the step).
      std::printf("step %llu: rows per expert:", static_cast<unsigned long long>(step));
      for (int e = 0; e < m.e; ++e) std::printf(" e%d=%d", e, want.rows_per_expert[size_t(e)]);
      std::printf("\n");
      const std::string at = "step " + std::to_string(step) + ": chip ";
      for (int c = 0; c < n; ++c) {
        std::vector<float> y(size_t(t * h));
        std::vector<int32_t> idx(size_t(2 * t)), counts(nn);
        o.copy_from(y.data(), ep[c].buffer("y"));
        o.copy_from(idx.data(), ep[c].buffer("route_idx"));
        o.copy_from(counts.data(), ep[c].buffer("counts"));
        check.exact(at + std::to_string(c) + " top-2 experts per token", idx.data(), want.idx[size_t(c)].data(),
                    idx.size());
        check.exact(at + std::to_string(c) + " rows received from each chip (published counts)", counts.data(),
                    want.counts[size_t(c)].data(), nn);
        check.exact(at + std::to_string(c) + " combined outputs y vs the single-process reference", y.data(),
                    want.y[size_t(c)].data(), y.size());
      }
    }
  });
  w.close();
  return check.finish();
} catch (const std::exception& e) {
  std::fprintf(stderr, "ep_dispatch_combine: FAILED: %s\n", e.what());
  return 1;
}

}  // namespace strata::workloads
