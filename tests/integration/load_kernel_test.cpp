// Integration tests of kernels loaded from a shared library by name (Worker::load_kernel), before and
// after init(). The library is tests/integration/kernel_lib.cpp; CMake passes its path as
// STRATA_TEST_KERNEL_LIBRARY.
#include <cstdint>
#include <strata/strata.hpp>
#include <string>

#include "integration/integration_util.hpp"

#ifndef STRATA_TEST_KERNEL_LIBRARY
#error "STRATA_TEST_KERNEL_LIBRARY must name the kernel library built by tests/integration/CMakeLists.txt"
#endif

namespace {

using strata::TaskArgs;
using strata::test::capture;
using strata::test::slice;
using strata::test::zero;

class LoadKernelTest : public strata::test::LeakCheckedTest {};

constexpr size_t kPer = 300;

void run_and_check(strata::Worker& w, strata::Kernel k) {
  auto x = w.create_buffer<int64_t>(2 * kPer);
  auto y = w.create_buffer<int64_t>(2 * kPer);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int64_t>(i) * 5 - 321;
  zero(y);
  w.run([&](strata::Orchestrator& o) {
    for (int chip = 0; chip < 2; ++chip)
      o.submit(k,
               TaskArgs()
                   .input(slice(x, chip * kPer, kPer))
                   .output_existing(slice(y, chip * kPer, kPer))
                   .scalar(int64_t{chip + 2})
                   .scalar(int64_t{-chip}),
               {.block_dim = 2}, chip);
  });
  for (size_t i = 0; i < y.size(); ++i) {
    const int64_t chip = i < kPer ? 0 : 1;
    ASSERT_EQ(y[i], (chip + 2) * x[i] - chip) << "element " << i;
  }
}

TEST_F(LoadKernelTest, KernelFromSharedLibraryAfterInit) {
  strata::Worker w({.chips = 2});
  w.init();
  auto k = w.load_kernel(STRATA_TEST_KERNEL_LIBRARY, "lib_affine");
  run_and_check(w, k);

  // Bad names and paths are clear errors and leave the Worker working.
  auto missing = capture<strata::Error>([&] { w.load_kernel(STRATA_TEST_KERNEL_LIBRARY, "lib_missing"); },
                                        "load_kernel() of a name the library does not export");
  ASSERT_TRUE(missing);
  STRATA_EXPECT_CONTAINS(missing->what(), "lib_missing");
  auto no_lib = capture<strata::Error>([&] { w.load_kernel("no-such-dir/libnothing.so", "lib_affine"); },
                                       "load_kernel() of a library that does not exist");
  ASSERT_TRUE(no_lib);
  STRATA_EXPECT_CONTAINS(no_lib->what(), "libnothing.so");
  run_and_check(w, k);
  w.close();
}

TEST_F(LoadKernelTest, KernelFromSharedLibraryBeforeInit) {
  strata::Worker w({.chips = 2});
  auto k = w.load_kernel(STRATA_TEST_KERNEL_LIBRARY, "lib_affine");
  w.init();
  run_and_check(w, k);
  w.close();
}

}  // namespace
