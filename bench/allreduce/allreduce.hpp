// bench/allreduce/allreduce.hpp — the allreduce benchmark: bus bandwidth of strata_allreduce over a
// communication domain of N simulated chips.
//
// Set-up (not timed): a Worker with N chips, one domain over all of them whose window holds one f32
// buffer of B bytes, kept across runs. Every rank's input is loaded with copy_to (rank r, element i:
// (31 i + 7 r) mod 61), followed by one untimed allreduce run (warm-up: the first allreduce after host
// copies runs on cold caches). Then each sample times two runs back to back, on warm buffers as the MPI
// peer's loop does:
//   - a run() of K strata_allreduce nodes back to back, each a group task with one part per chip (INOUT
//     on the rank's buffer, so node k+1 waits for node k); its time / K is the per-allreduce sample;
//   - a run() of one allreduce: the single-run sample (one run()'s overhead included).
// Every in-place allreduce multiplies the values by N, so the inputs are loaded again (and the warm-up
// repeated) before they could leave f32's exact range: at most 1 + 100 / log2(N) allreduces per load.
// Before each load and at the end, every rank's buffer is read back with copy_from and checked: after c
// allreduces each element must be N^(c-1) times the sum of the inputs (exact when N is a power of two,
// else within a relative 1e-4).
// time_us_median (the median over R samples of the K-run's time / K) is what the bandwidths are
// computed from, nccl-tests style: algbw = B / time, busbw = algbw * 2(N-1)/N.
// Prints one JSON object on stdout. Used by `strata bench allreduce` and the standalone `bench_allreduce`.
#pragma once

/// argv[0] is the program or subcommand name; the rest are flags (--chips N --bytes B --reps R --algo A
/// --inner K --blocks D --submit group|each --kernel NAME). Returns the process exit code (1 if a
/// result was wrong or strata failed, 2 for a wrong command line).
int bench_allreduce_main(int argc, char** argv);
