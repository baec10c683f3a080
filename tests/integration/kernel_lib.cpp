// A kernel library loaded at run time by load_kernel_test.cpp (Worker::load_kernel), built as a CMake
// MODULE: nothing links against it, strata dlopen()s it in the parent and in every chip.
#include <cstdint>
#include <strata/kernel.hpp>

// y[i] = a * x[i] + b, with a and b the scalars 0 and 1.
STRATA_KERNEL(lib_affine) {
  const int64_t* x = ctx.data<int64_t>(0);
  int64_t* y = ctx.data<int64_t>(1);
  const int64_t a = ctx.scalar<int64_t>(0), b = ctx.scalar<int64_t>(1);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) y[i] = a * x[i] + b;
}
