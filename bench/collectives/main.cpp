// bench/collectives/main.cpp — the standalone `bench_collectives
// <allreduce|reducescatter|allgather|broadcast|alltoall>` executable (same as `strata bench <kind>`).
#include <cstdio>

#include "collectives.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s allreduce|reducescatter|allgather|broadcast|alltoall [flags]\n", argv[0]);
    return 2;
  }
  return bench_collective_main(argv[1], argc - 1, argv + 1);
}
