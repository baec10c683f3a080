// bench/pod/pod.hpp — the pod benchmark: a pod over MPI beside MPI itself, in one mpirun job.
//
// Every rank first measures plain MPI between ranks 0 and 1 (blocking MPI_Send / MPI_Recv, as
// shared/peers' ping-pong does): the 8-byte round trip (median of K) and the round trip of 16 MiB each
// way (median of R), as bandwidth 2 x 16 MiB / t. Then the pod starts (rank 0 its root; every other rank
// a Worker with one chip) and rank 0 times:
//   pod_roundtrip_us       a run() of one empty orchestration task on rank 1 (median of K)
//   pod_tasks_per_s        M empty orchestration tasks spread over every rank, in one run() (median of R)
//   pod_inout_16mib_GBps   a run() of one task with a 16 MiB INOUT tensor on rank 1: 2 x 16 MiB / t
//                          (contents to the rank and back; median of R)
// and prints one JSON object with every figure and the ratios the issue sets targets for:
//   roundtrip_vs_mpi = pod_roundtrip_us / mpi_pingpong_us        (target <= 3)
//   inout_vs_mpi     = pod_inout_16mib_GBps / mpi_p2p_16mib_GBps  (target >= 0.5)
#pragma once

/// Under mpirun (2 ranks or more); argv[0] names the program. Returns the exit code (2 when not under
/// mpirun or for a wrong command line).
int bench_pod_main(int argc, char** argv);
