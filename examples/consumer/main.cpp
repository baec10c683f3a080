// A two-chip graph built against an installed strata: chip 0 fills x, chip 1 computes y = a * x + 1
// from it (a read-after-write across processes), and the program checks y. Exits 0 only if every
// element is right.
#include <cstdio>
#include <exception>
#include <strata/strata.hpp>

// x[i] = i.
STRATA_KERNEL(consumer_iota) {
  float* x = ctx.data<float>(0);
  const size_t n = ctx.tensor(0).numel();
  for (size_t i = ctx.block_idx(); i < n; i += ctx.block_dim()) x[i] = static_cast<float>(i);
}

// y[i] = a * x[i] + 1.
STRATA_KERNEL(consumer_axpb) {
  const float* x = ctx.data<float>(0);
  float* y = ctx.data<float>(1);
  const float a = ctx.scalar<float>(0);
  const size_t n = ctx.tensor(0).numel();
  for (size_t i = ctx.block_idx(); i < n; i += ctx.block_dim()) y[i] = a * x[i] + 1.0f;
}

int main() {
  try {
    constexpr size_t kN = 4096;
    constexpr float kA = 3.0f;
    strata::Worker w({.chips = 2});
    const strata::Kernel iota = w.register_kernel("consumer_iota");
    const strata::Kernel axpb = w.register_kernel("consumer_axpb");
    w.init();
    auto x = w.create_buffer<float>(kN);
    auto y = w.create_buffer<float>(kN);
    w.run([&](strata::Orchestrator& o) {
      o.submit(iota, strata::TaskArgs().output_existing(x.tensor()), {.block_dim = 2}, /*worker=*/0);
      // Waits for the task above: x's last writer is chip 0.
      o.submit(axpb, strata::TaskArgs().input(x.tensor()).output_existing(y.tensor()).scalar(kA), {.block_dim = 2},
               /*worker=*/1);
    });

    size_t bad = 0;
    for (size_t i = 0; i < kN; ++i) {
      const float want = kA * static_cast<float>(i) + 1.0f;
      if (y[i] != want) {
        if (bad < 5)
          std::fprintf(stderr, "y[%zu] = %g, want %g\n", i, static_cast<double>(y[i]), static_cast<double>(want));
        ++bad;
      }
    }
    w.close();
    if (bad != 0) {
      std::fprintf(stderr, "strata_consumer: %zu of %zu elements wrong\n", bad, kN);
      return 1;
    }
    std::printf("strata_consumer: strata %s, 2 chips, %zu elements verified\n", strata::version(), kN);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strata_consumer: %s\n", e.what());
    return 1;
  }
}
