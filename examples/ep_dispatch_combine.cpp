// examples/ep_dispatch_combine.cpp — mixture-of-experts dispatch and combine with top-2 routing over an
// all-to-all on 2..4 chips, checked against a single-process reference. The workload itself is in
// examples/common/moe.cpp, which `strata demo --workload moe` runs too.
//
//   ep_dispatch_combine [chips | --chips N] [--trace FILE] [--progress]     (2..4, default 4)
#include "workload_util.hpp"

int main(int argc, char** argv) { return strata::workloads::moe_main(argc, argv); }
