// bench/pod/main.cpp — the standalone `bench_pod` executable (same as `strata bench pod`); run it under
// mpirun.
#include "pod.hpp"

int main(int argc, char** argv) { return bench_pod_main(argc, argv); }
