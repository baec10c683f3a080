// examples/quickstart.cpp — the README's quick start as a program, plus a check of the result in this
// process: exits 1 (with a message) if a value is wrong or a task failed.
#include <cstdio>
#include <stdexcept>
#include <strata/strata.hpp>
#include <string>

// Runs on a chip, once per block: block b scales elements b, b + block_dim, ...
STRATA_KERNEL(scale) {
  float* x = ctx.data<float>(0);
  const float a = ctx.scalar<float>(0);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) x[i] *= a;
}

int main(int argc, char** argv) try {
  // `quickstart --trace run.json` also records the run (open the file in ui.perfetto.dev).
  const bool traced = argc == 3 && std::string(argv[1]) == "--trace";
  if (argc > 1 && !traced) {
    std::fprintf(stderr, "usage: quickstart [--trace FILE]\n");
    return 2;
  }
  strata::WorkerOptions opts{.chips = 4, .sub_workers = 1};  // 4 simulated chips, 1 host helper
  if (traced) opts.trace_path = argv[2];
  strata::Worker w(opts);
  auto scale = w.register_kernel("scale");
  auto check = w.register_host(
      [](const strata::TaskContext& c) {  // runs in the helper process
        const float* x = c.data<float>(0);
        for (size_t i = 0; i < c.tensor(0).numel(); ++i)
          if (x[i] != 2.0f * static_cast<float>(i)) throw std::runtime_error("wrong value");
      },
      "check");
  w.init();  // forks the chip and helper processes

  auto x = w.create_buffer<float>(1 << 20);  // shared memory: every process sees it at the same address
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);

  w.run([&](strata::Orchestrator& o) {
    o.submit(scale, strata::TaskArgs().inout(x.tensor()).scalar(2.0f), {.block_dim = 2}, /*worker=*/0);
    o.submit_host(check, strata::TaskArgs().input(x.tensor()));  // waits for `scale`: it wrote x
  });  // returns when every task has finished; throws strata::TaskError if one failed
  std::printf("x[10] = %g\n", static_cast<double>(x[10]));

  // Not in the README: the same check here, so that this program fails loudly if strata is wrong.
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != 2.0f * static_cast<float>(i)) {
      std::fprintf(stderr, "quickstart: x[%zu] = %g, expected %g\n", i, static_cast<double>(x[i]),
                   2.0 * static_cast<double>(i));
      return 1;
    }
  w.close();  // also done by the destructor
  std::printf("quickstart: OK\n");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "quickstart: FAILED: %s\n", e.what());
  return 1;
}
