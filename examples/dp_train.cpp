// examples/dp_train.cpp — a data-parallel training step on 1..16 chips: each chip computes the gradient
// of a small linear model on its shard, the gradients are averaged with a bf16 allreduce (ReduceOp::Avg),
// every chip applies the update; checked bitwise against a single-process reference. The workload itself
// is in examples/common/dp.cpp, which `strata demo --workload dp` runs too.
//
//   dp_train [chips | --chips N] [--trace FILE] [--progress]     (1..16, default 4)
#include "workload_util.hpp"

int main(int argc, char** argv) { return strata::workloads::dp_main(argc, argv); }
