// bench/allreduce/allreduce.hpp — the allreduce benchmark: bus bandwidth of strata_allreduce over a
// communication domain of N simulated chips.
//
// Set-up (not timed): a Worker with N chips, one domain over all of them whose window holds one f32
// buffer of B bytes, kept across runs. Each sample:
//   1. a run() that loads every rank's input with copy_to (rank r, element i: (31 i + 7 r) mod 61);
//   2. the timed run(): K strata_allreduce nodes back to back, each a group task with one part per chip
//      (INOUT on the rank's buffer, so node k+1 waits for node k); time / K is the sample;
//   3. a run() that reads every rank's buffer back with copy_from and checks it (after K in-place sums
//      every element is N^(K-1) times the sum of the inputs; exact when N is a power of two, else within
//      a relative 1e-4);
//   then the same with K = 1, whose whole run() time is the single-run sample, checked exactly.
// time_us_median (the median over R samples of the K-run's time / K) is what the bandwidths are
// computed from, nccl-tests style: algbw = B / time, busbw = algbw * 2(N-1)/N. The single-run figures
// add one run()'s overhead (submit, wake the chips, drain) to one allreduce.
// Prints one JSON object on stdout. Used by `strata bench allreduce` and the standalone `bench_allreduce`.
#pragma once

/// argv[0] is the program or subcommand name; the rest are flags (--chips N --bytes B --reps R --algo A
/// --inner K --blocks D --submit group|each --kernel NAME). Returns the process exit code (1 if a
/// result was wrong or strata failed, 2 for a wrong command line).
int bench_allreduce_main(int argc, char** argv);
