// Kernels the Python tests load with Worker.register_kernel(name, library=...): a CMake MODULE that
// nothing links against; strata dlopen()s it in the parent and in every chip.
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <strata/kernel.hpp>
#include <string>
#include <thread>

// x[i] *= a, with x an f32 tensor and a the f32 scalar 0.
STRATA_KERNEL(py_scale) {
  float* x = ctx.data<float>(0);
  const float a = ctx.scalar<float>(0);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) x[i] *= a;
}

// y[i] = x[i] + b, with x and y i64 tensors and b the i64 scalar 0.
STRATA_KERNEL(py_add) {
  const int64_t* x = ctx.data<int64_t>(0);
  int64_t* y = ctx.data<int64_t>(1);
  const int64_t b = ctx.scalar<int64_t>(0);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) y[i] = x[i] + b;
}

// Sleeps for the i64 scalar 0 milliseconds (once, in block 0), then adds 1 to the i64 tensor 0's first
// element: a slow task whose runs can be counted.
STRATA_KERNEL(py_sleep) {
  if (ctx.block_idx() != 0) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(ctx.scalar<int64_t>(0)));
  ctx.data<int64_t>(0)[0] += 1;
}

// Throws std::runtime_error("py_fail <scalar 0>").
STRATA_KERNEL(py_fail) { throw std::runtime_error("py_fail " + std::to_string(ctx.scalar<int64_t>(0))); }

// Sleeps for the i64 scalar 0 milliseconds (a task to time out).
STRATA_KERNEL(py_sleep_ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ctx.scalar<int64_t>(0))); }
