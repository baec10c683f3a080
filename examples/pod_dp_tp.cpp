// examples/pod_dp_tp.cpp — a pod across hosts over MPI: data parallel across its ranks, tensor parallel
// across each rank's chips, checked against a single-process reference. The workload itself is in
// examples/common/pod.cpp, which `strata demo --workload pod` runs too.
//
//   mpirun -n 1+K pod_dp_tp [--chips C] [--steps S]
#include "workload_util.hpp"

int main(int argc, char** argv) { return strata::workloads::pod_main(argc, argv); }
