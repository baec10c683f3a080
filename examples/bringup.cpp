// examples/bringup.cpp — bring-up at init (WorkerOptions::bringup): every chip gets a rank, a window with
// named buffers and host inputs loaded into them before init() returns; then an allreduce over them.
//
// Ranks are given in reverse (chip c is rank N-1-c) so that rank and chip index differ. Rank r's inputs:
// "grad" (f32) holds i + 100 r, "hits" (i32) holds r + 1 at index r and 0 elsewhere; every chip's "grad"
// is also an output, stored into a host vector by close(). After init() the program prints
// chip_contexts(), checks them, checks that the inputs are in the windows, allreduces both buffers (one
// task per chip, the buffers and the device_ctx from chip_contexts()) and checks every rank's sums, then
// checks the outputs close() stored. Exits 1 on any mismatch.
//
//   bringup [chips]     (2..8, default 4)
#include <cstdio>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "strata/strata.hpp"
#include "workload_util.hpp"

namespace {

constexpr size_t kGrad = 3001;
constexpr size_t kHits = 16;

template <class T>
std::vector<unsigned char> bytes_of(const std::vector<T>& v) {
  std::vector<unsigned char> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<float> grad_of(int rank) {
  std::vector<float> g(kGrad);
  for (size_t i = 0; i < kGrad; ++i) g[i] = static_cast<float>(i + 100 * size_t(rank));
  return g;
}

std::vector<int32_t> hits_of(int rank) {
  std::vector<int32_t> h(kHits, 0);
  h[size_t(rank)] = rank + 1;
  return h;
}

}  // namespace

int main(int argc, char** argv) try {
  using namespace strata::workloads;
  const ExampleArgs args = example_args(argc, argv, "bringup", 2, 8, 4);
  if (args.exit >= 0) return args.exit;
  const int n = args.chips;
  strata::ProgressLine progress(args.progress);

  const std::vector<strata::BufferSpec> buffers = {{"grad", strata::DType::F32, kGrad},
                                                   {"hits", strata::DType::I32, kHits}};
  strata::WorkerOptions opts = args.worker_options(progress, "bringup");
  std::vector<std::vector<float>> stored(static_cast<size_t>(n), std::vector<float>(kGrad));  // filled by close()
  for (int c = 0; c < n; ++c) {
    const int rank = n - 1 - c;
    opts.bringup.push_back({.rank = rank,
                            .window_size = window_bytes(buffers),
                            .buffers = buffers,
                            .inputs = {{"grad", bytes_of(grad_of(rank))}, {"hits", bytes_of(hits_of(rank))}},
                            .outputs = {{"grad", std::as_writable_bytes(std::span(stored[size_t(c)]))}}});
  }
  strata::Worker w(opts);
  auto allreduce = w.register_kernel("strata_allreduce");
  w.init();  // every chip's window is allocated and loaded when this returns
  Checker check("bringup");

  const std::vector<strata::ChipContext>& ctxs = w.chip_contexts();
  std::printf("bringup: %d chips brought up at init; chip_contexts():\n", n);
  for (const strata::ChipContext& c : ctxs) {
    std::printf("  device %d: rank %d of %d, device_ctx 0x%llx, window 0x%llx (%llu bytes), buffers:", c.device_id,
                c.rank, c.size, static_cast<unsigned long long>(c.device_ctx),
                static_cast<unsigned long long>(c.window_base), static_cast<unsigned long long>(c.window_size));
    for (const auto& [name, ptr] : c.buffer_ptrs())
      std::printf(" %s@0x%llx", name.c_str(), static_cast<unsigned long long>(ptr));
    std::printf("\n");
  }
  check.expect(ctxs.size() == size_t(n), "chip_contexts() has one entry per chip");
  for (int c = 0; c < n && size_t(c) < ctxs.size(); ++c) {
    const strata::ChipContext& x = ctxs[size_t(c)];
    bool inside = x.buffer_ptrs().size() == buffers.size();
    for (const auto& [name, ptr] : x.buffer_ptrs())
      inside = inside && ptr >= x.window_base && ptr < x.window_base + x.window_size;
    check.expect(x.device_id == c && x.rank == n - 1 - c && x.size == n && x.device_ctx != 0 && inside,
                 "chip " + std::to_string(c) + ": rank " + std::to_string(n - 1 - c) + " of " + std::to_string(n) +
                     ", both buffers inside its window");
  }

  // The buffers as the chip sees them.
  const auto buffer = [&](int chip, const char* name) { return ctxs[size_t(chip)].buffer(name); };
  std::vector<float> grad_sum(kGrad, 0.0f);
  std::vector<int32_t> hits_sum(kHits, 0);
  for (int r = 0; r < n; ++r) {
    const std::vector<float> g = grad_of(r);
    const std::vector<int32_t> h = hits_of(r);
    for (size_t i = 0; i < kGrad; ++i) grad_sum[i] += g[i];
    for (size_t i = 0; i < kHits; ++i) hits_sum[i] += h[i];
  }
  w.run([&](strata::Orchestrator& o) {
    for (int c = 0; c < n; ++c) {
      const int rank = ctxs[size_t(c)].rank;
      std::vector<float> g(kGrad);
      std::vector<int32_t> h(kHits);
      o.copy_from(g.data(), buffer(c, "grad"));
      o.copy_from(h.data(), buffer(c, "hits"));
      check.exact("chip " + std::to_string(c) + " 'grad' holds its host input after init()", g.data(),
                  grad_of(rank).data(), kGrad);
      check.exact("chip " + std::to_string(c) + " 'hits' holds its host input after init()", h.data(),
                  hits_of(rank).data(), kHits);
    }
    for (int c = 0; c < n; ++c) {
      const uint64_t dctx = ctxs[size_t(c)].device_ctx;
      o.submit(allreduce, strata::TaskArgs().inout(buffer(c, "grad")).scalar(dctx), {}, c);
      o.submit(allreduce, strata::TaskArgs().inout(buffer(c, "hits")).scalar(dctx), {}, c);
    }
    for (int c = 0; c < n; ++c) {
      std::vector<float> g(kGrad);
      std::vector<int32_t> h(kHits);
      o.copy_from(g.data(), buffer(c, "grad"));
      o.copy_from(h.data(), buffer(c, "hits"));
      check.exact("allreduce of 'grad' (f32) on chip " + std::to_string(c), g.data(), grad_sum.data(), kGrad);
      check.exact("allreduce of 'hits' (i32) on chip " + std::to_string(c), h.data(), hits_sum.data(), kHits);
    }
  });
  w.close();  // stores every chip's "grad" into stored[chip]
  for (int c = 0; c < n; ++c)
    check.exact("chip " + std::to_string(c) + " 'grad' stored by close()", stored[size_t(c)].data(), grad_sum.data(),
                kGrad);
  return check.finish();
} catch (const std::exception& e) {
  std::fprintf(stderr, "bringup: FAILED: %s\n", e.what());
  return 1;
}
