// python/src/bench.cpp — the kernels of `python3 -m strata.bench dispatch` (python/strata/bench.py).
//
// They are the C++ benchmark's two (bench/dispatch): an empty task, and a chained one that counts so the
// benchmark can check every task ran, in order. Defined in the extension, they register when Python loads
// it, so Worker.register_kernel() finds them by name and the children inherit them by fork.
#include <cstdint>

#include "strata/kernel.hpp"

// The empty task: what is measured is everything around it.
STRATA_KERNEL(strata_py_bench_noop) { (void)ctx; }
// As good as empty; a lost or concurrent increment shows in the final count.
STRATA_KERNEL(strata_py_bench_count) { ++*ctx.data<uint64_t>(0); }
