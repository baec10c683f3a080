// tools/strata/demo.cpp — `strata demo --workload matmul`: a tiled matrix multiplication C = A·B over
// simulated chips (the demo before communication domains; `strata demo` now runs demo_ffn.cpp).
//
// The graph, for an n x n product cut into T x T output tiles and K split over N chips:
//   partial  (T*T*N kernel tasks)  chip c computes P_c(i,j) = A(i, K_c) · B(K_c, j) for its K-slice K_c,
//                                  into a tile auto-allocated from the run heap (OUTPUT, null address);
//                                  block_dim blocks split the tile's rows.
//   reduce   (T*T kernel tasks)    C(i,j) = sum_c P_c(i,j), on chip (i*T+j) % N: it reads tiles written on
//                                  other chips, so every one of these is a read-after-write across processes.
//                                  A reduce names at most 7 partials (a frame carries at most 8 producers),
//                                  so with more chips further reduces accumulate into C(i,j) through INOUT.
//   check    (T*T host tasks)      on the host helper: max |C(i,j) - R(i,j)| and the checksum of C(i,j),
//                                  against the reference R computed by this process before the run.
// Each tile row of partials lives in a scope of its own, closed once its reduces are submitted, so the
// heap holds a few rows of partials at a time whatever the size. Finally this process checks C against R
// itself and compares its numbers with the helper's.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.hpp"
#include "demo_report.hpp"
#include "strata/strata.hpp"
#include "workload_util.hpp"

// Kernels are defined at namespace scope: STRATA_KERNEL also exports a C symbol for them.

// A, B: row-major n x n. P, C tiles: row-major ts x ts, contiguous.
// Scalars: n, row0, col0, k0, k1, ts.
STRATA_KERNEL(demo_matmul_partial) {
  const float* a = ctx.data<float>(0);
  const float* b = ctx.data<float>(1);
  float* p = ctx.data<float>(2);
  const auto n = ctx.scalar<int64_t>(0), row0 = ctx.scalar<int64_t>(1), col0 = ctx.scalar<int64_t>(2);
  const auto k0 = ctx.scalar<int64_t>(3), k1 = ctx.scalar<int64_t>(4), ts = ctx.scalar<int64_t>(5);
  const int64_t bd = ctx.block_dim(), blk = ctx.block_idx();
  const int64_t r_begin = ts * blk / bd, r_end = ts * (blk + 1) / bd;
  for (int64_t r = r_begin; r < r_end; ++r) {
    float* prow = p + r * ts;
    std::fill(prow, prow + ts, 0.0f);
    const float* arow = a + (row0 + r) * n;
    for (int64_t k = k0; k < k1; ++k) {
      const float av = arow[k];
      const float* brow = b + k * n + col0;
      for (int64_t c = 0; c < ts; ++c) prow[c] += av * brow[c];
    }
  }
}

// Tensor 0: the C tile (OUTPUT_EXISTING, or INOUT when accumulating); tensors 1..: partial tiles.
// Scalars: ts, accumulate (0 or 1).
STRATA_KERNEL(demo_reduce) {
  float* c = ctx.data<float>(0);
  const auto ts = ctx.scalar<int64_t>(0);
  const bool accumulate = ctx.scalar<int64_t>(1) != 0;
  const int64_t bd = ctx.block_dim(), blk = ctx.block_idx();
  const int64_t begin = ts * ts * blk / bd, end = ts * ts * (blk + 1) / bd;
  if (!accumulate) std::fill(c + begin, c + end, 0.0f);
  for (size_t t = 1; t < ctx.tensor_count(); ++t) {
    const float* p = ctx.data<float>(t);
    for (int64_t e = begin; e < end; ++e) c[e] += p[e];
  }
}

namespace {

struct TileStats {
  double max_err;
  double checksum;
};

// Host helper: tensor 0 the C tile, tensor 1 the reference R (row-major n x n), tensor 2 this tile's
// TileStats (as 2 f64). Scalars: n, row0, col0, ts.
void check_tile(const strata::TaskContext& ctx) {
  const float* c = ctx.data<float>(0);
  const float* ref = ctx.data<float>(1);
  auto* out = ctx.data<double>(2);
  const auto n = ctx.scalar<int64_t>(0), row0 = ctx.scalar<int64_t>(1), col0 = ctx.scalar<int64_t>(2);
  const auto ts = ctx.scalar<int64_t>(3);
  double max_err = 0, sum = 0;
  for (int64_t r = 0; r < ts; ++r)
    for (int64_t k = 0; k < ts; ++k) {
      const float v = c[r * ts + k];
      if (!std::isfinite(v))
        throw std::runtime_error("non-finite value in C(" + std::to_string(row0 + r) + ", " + std::to_string(col0 + k) +
                                 ")");
      max_err = std::max(max_err, std::fabs(double(v) - double(ref[(row0 + r) * n + col0 + k])));
      sum += v;
    }
  out[0] = max_err;
  out[1] = sum;
}

struct DemoOptions {
  int chips = 4;
  int64_t n = 512;
  int64_t tiles = 4;
  uint32_t block_dim = 2;
  int reps = 1;
  bool use_alloc = false;
  std::string trace;
  bool progress = false;
};

using Clock = std::chrono::steady_clock;
using strata::workloads::ms_between;
using strata::workloads::ms_since;

constexpr const char* kAbout =
    "Multiplies two n x n f32 matrices on N simulated chips and one host helper, as a task graph:\n"
    "T x T output tiles; the K dimension is split over the chips, each chip computes partial tiles for its\n"
    "K-slice (B blocks each), reduction tasks on other chips sum the partials, and host-helper tasks check\n"
    "every tile against a single-process reference computed here. Exits 1 if any value is off.\n"
    "(strata demo --workload matmul [options])";

int parse(int argc, char** argv, DemoOptions* o) {
  CLI::App app{kAbout, argv[0]};
  app.add_option("--chips", o->chips, "chips")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--size", o->n, "matrix size n: a multiple of --tiles and at least --chips")
      ->check(CLI::Range(1, 16384))
      ->capture_default_str();
  app.add_option("--tiles", o->tiles, "output tiles per dimension")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--block-dim", o->block_dim, "blocks per kernel task")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--reps", o->reps, "run the graph R times and report the fastest")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_flag("--alloc", o->use_alloc, "partial tiles from Orchestrator::alloc instead of auto-allocated OUTPUTs");
  app.add_option("--trace", o->trace, "write a trace of every run (ui.perfetto.dev, strata trace summary / svg)");
  app.add_flag("--progress", o->progress, "progress lines on stderr even when it is not a terminal");
  if (int rc = strata::cli::parse(app, argc, argv); rc >= 0) return rc;
  if (o->n % o->tiles != 0 || o->n < o->chips) {
    std::fprintf(stderr, "%s: --size %lld must be a multiple of --tiles %lld and at least --chips %d\n", argv[0],
                 static_cast<long long>(o->n), static_cast<long long>(o->tiles), o->chips);
    return strata::tool::kUsageExit;
  }
  return -1;
}

// Deterministic values in [-1, 1).
void fill(float* x, size_t count, uint64_t seed) {
  uint64_t s = seed;
  for (size_t i = 0; i < count; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = static_cast<float>(static_cast<double>(s >> 40) / double(1ull << 23) - 1.0);
  }
}

// The single-process reference, row-major (i-k-j order, f32 like the chips, different summation order).
void reference(const float* a, const float* b, float* r, int64_t n) {
  std::fill(r, r + n * n, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k) {
      const float av = a[i * n + k];
      for (int64_t j = 0; j < n; ++j) r[i * n + j] += av * b[k * n + j];
    }
}

struct Counts {
  int partial = 0, reduce = 0, check = 0;
  int total() const { return partial + reduce + check; }
};

}  // namespace

namespace strata::tool {

int demo_matmul_main(int argc, char** argv) {
  DemoOptions opt;
  if (int rc = parse(argc, argv, &opt); rc >= 0) return rc;
  const int64_t n = opt.n, T = opt.tiles, ts = n / T;
  const int N = opt.chips;

  std::printf(
      "strata demo: C = A*B, %lldx%lld f32, %lldx%lld tiles of %lldx%lld, K split over %d chips, "
      "1 host helper\n",
      static_cast<long long>(n), static_cast<long long>(n), static_cast<long long>(T), static_cast<long long>(T),
      static_cast<long long>(ts), static_cast<long long>(ts), N);
  try {
    auto t_init = Clock::now();
    strata::ProgressLine progress(opt.progress);
    strata::Worker w({.chips = N, .sub_workers = 1, .trace_path = opt.trace, .on_progress = progress.for_runs("demo")});
    auto partial_k = w.register_kernel("demo_matmul_partial");
    auto reduce_k = w.register_kernel("demo_reduce");
    auto check_h = w.register_host(check_tile, "check_tile");
    w.init();
    print_phase("init", "%d chips and 1 host helper started: %.1f ms", N, ms_since(t_init));

    auto a = w.create_buffer<float>(size_t(n * n));
    auto b = w.create_buffer<float>(size_t(n * n));
    auto ref = w.create_buffer<float>(size_t(n * n));
    auto c = w.create_buffer<float>(size_t(n * n));  // T*T tiles, each ts x ts contiguous
    auto stats = w.create_buffer<TileStats>(size_t(T * T));
    fill(a.data(), a.size(), 1);
    fill(b.data(), b.size(), 2);
    auto t_ref = Clock::now();
    reference(a.data(), b.data(), ref.data(), n);
    const double ref_ms = ms_since(t_ref);
    print_phase("reference", "this process computed the single-process reference: %.1f ms", ref_ms);

    const auto tile_tensor = [&](int64_t i, int64_t j) {
      return Tensor::make(c.data() + (i * T + j) * ts * ts, {ts, ts}, DType::F32);
    };
    // K-slice of chip ch: [k_begin(ch), k_begin(ch + 1)).
    const auto k_begin = [&](int64_t ch) { return n * ch / N; };

    Counts counts;
    double best_submit = 1e300, best_drain = 1e300;
    for (int rep = 0; rep < opt.reps; ++rep) {
      progress.update("demo", static_cast<uint64_t>(rep), static_cast<uint64_t>(opt.reps), "repetitions");
      counts = {};
      std::fill(c.begin(), c.end(), std::nanf(""));
      for (auto& s : stats) s = {-1, 0};
      Clock::time_point t_submitted;
      const auto t_run = Clock::now();
      w.run([&](Orchestrator& o) {
        for (int64_t i = 0; i < T; ++i) {
          Scope row_scope = o.scope();  // this row's partials are reusable once its reduces have run
          std::vector<std::vector<Tensor>> partials(static_cast<size_t>(T));
          for (int64_t j = 0; j < T; ++j)
            for (int ch = 0; ch < N; ++ch) {
              Tensor p = opt.use_alloc ? o.alloc({ts, ts}, DType::F32) : Tensor::make(nullptr, {ts, ts}, DType::F32);
              auto args = TaskArgs()
                              .input(a.tensor({n, n}))
                              .input(b.tensor({n, n}))
                              .output(p)
                              .scalar(n)
                              .scalar(i * ts)
                              .scalar(j * ts)
                              .scalar(k_begin(ch))
                              .scalar(k_begin(ch + 1))
                              .scalar(ts);
              TaskRef ref_task = o.submit(partial_k, std::move(args), {.block_dim = opt.block_dim}, ch);
              partials[size_t(j)].push_back(ref_task.tensor(2));
              ++counts.partial;
            }
          for (int64_t j = 0; j < T; ++j) {
            const int chip = static_cast<int>((i * T + j) % N);
            const auto& ps = partials[size_t(j)];
            for (size_t first = 0; first < ps.size(); first += 7) {
              TaskArgs args;
              if (first == 0)
                args.output_existing(tile_tensor(i, j));
              else
                args.inout(tile_tensor(i, j));
              for (size_t q = first; q < std::min(ps.size(), first + 7); ++q) args.input(ps[q]);
              args.scalar(ts).scalar(int64_t{first == 0 ? 0 : 1});
              o.submit(reduce_k, std::move(args), {.block_dim = opt.block_dim}, chip);
              ++counts.reduce;
            }
            auto args = TaskArgs()
                            .input(tile_tensor(i, j))
                            .input(ref.tensor({n, n}))
                            .output_existing(Tensor::of(&stats[size_t(i * T + j)].max_err, 2))
                            .scalar(n)
                            .scalar(i * ts)
                            .scalar(j * ts)
                            .scalar(ts);
            o.submit_host(check_h, std::move(args));
            ++counts.check;
          }
          row_scope.close();
        }
        t_submitted = Clock::now();
        // Chips have been running since the first submit; run() now waits for the rest (drain).
        if (rep == 0)
          print_phase("submit", "%d partial products, %d reductions, %d host checks built and submitted: %.2f ms",
                      counts.partial, counts.reduce, counts.check, ms_between(t_run, t_submitted));
        std::fflush(stdout);
      });
      const double submit_ms = ms_between(t_run, t_submitted);
      const double drain_ms = ms_since(t_submitted);
      print_phase("run", "%s%d tasks finished: %.2f ms after the last submit, %.2f ms in all",
                  opt.reps > 1 ? ("rep " + std::to_string(rep + 1) + ": ").c_str() : "", counts.total(), drain_ms,
                  submit_ms + drain_ms);
      if (submit_ms + drain_ms < best_submit + best_drain) {
        best_submit = submit_ms;
        best_drain = drain_ms;
      }
    }

    // This process's own check of C against the reference, and of the helper's report.
    auto t_verify = Clock::now();
    double max_err = 0, helper_max_err = 0, checksum = 0, helper_checksum = 0, ref_checksum = 0;
    bool helper_ran = true, finite = true;
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < T; ++j) {
        const float* tile = c.data() + (i * T + j) * ts * ts;
        double tile_sum = 0;
        for (int64_t r = 0; r < ts; ++r)
          for (int64_t k = 0; k < ts; ++k) {
            const float v = tile[r * ts + k];
            const float rv = ref[size_t((i * ts + r) * n + j * ts + k)];
            finite = finite && std::isfinite(v);
            max_err = std::max(max_err, std::fabs(double(v) - double(rv)));
            tile_sum += v;
            ref_checksum += rv;
          }
        checksum += tile_sum;
        const TileStats& s = stats[size_t(i * T + j)];
        helper_ran = helper_ran && s.max_err >= 0;
        helper_max_err = std::max(helper_max_err, s.max_err);
        helper_checksum += s.checksum;
      }
    const double verify_ms = ms_since(t_verify);
    w.close();
    progress.finish();
    if (!opt.trace.empty()) print_phase("trace", "written to %s", opt.trace.c_str());

    // f32 dot products of length n with terms in [-1, 1): rounding stays far below this bound; a lost or
    // doubled partial product is off by whole units.
    const double tol = 1e-5 * double(n) + 1e-4;
    const bool helper_agrees = helper_ran && helper_max_err == max_err &&
                               std::fabs(helper_checksum - checksum) <= 1e-9 * (1 + std::fabs(checksum));
    const bool pass = finite && max_err <= tol && helper_agrees;
    const double run_ms = best_submit + best_drain;
    const double gflops = 2.0 * double(n) * double(n) * double(n) / (run_ms * 1e6);
    print_phase("verify",
                "host helper: max |C - R| = %.3g, checksum %.6f; this process: max |C - R| = %.3g, "
                "checksum %.6f (reference %.6f)",
                helper_max_err, helper_checksum, max_err, checksum, ref_checksum);
    std::printf("\nsummary%s\n", opt.reps > 1 ? " (fastest repetition)" : "");
    print_summary("submit",
                  "%8.2f ms  %d tasks built and submitted (%d partial, %d reduce on chips; %d check on "
                  "the host helper)",
                  best_submit, counts.total(), counts.partial, counts.reduce, counts.check);
    print_summary("run", "%8.2f ms  until the last task finished after the last submit (drain)", best_drain);
    print_summary("verify", "%8.2f ms  C checked here against the reference (reference on one core: %.1f ms)",
                  verify_ms, ref_ms);
    print_summary("throughput", "%.2f GFLOP/s  (%.2f GFLOP/s single-process reference)", gflops,
                  2.0 * double(n) * double(n) * double(n) / (ref_ms * 1e6));
    print_summary("max error", "%.3g  (tolerance %.3g)", max_err, tol);
    if (!helper_agrees) print_summary("host helper", "its report disagrees with this process's check");
    print_summary("result", "%s", pass ? "PASS" : "FAIL");
    return pass ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: FAILED: %s\n", argv[0], e.what());
    return 1;
  }
}

}  // namespace strata::tool
