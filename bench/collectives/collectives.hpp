// bench/collectives/collectives.hpp — the collective benchmark: bus bandwidth of the Orchestrator's
// allreduce, reduce_scatter, allgather, broadcast and alltoall calls over a communication domain of N
// simulated chips, for any dtype and op they take.
//
// Set-up (not timed): a Worker with N chips and one domain over all of them holding buffer "a" of B
// bytes (count = B / element size) and "b": for reduce-scatter a rank's part, for alltoall the receive
// buffer (B bytes too; count must divide by N). Broadcast's root is chip 0. Inputs are loaded
// with copy_to (rank r, element i: ((31 i + 7 r) mod 61) - 30, exact in every dtype), one call runs and
// its result is read back and checked against a reference computed here (f16 and bf16 within the
// rounding of one 16-bit result: relative 2^-11 and 2^-8). Then each of R samples times a run() of K calls
// back to back (each waits for the previous: the buffers are INOUT); the sample is its time / K.
// Values are not reloaded during the timing (repeated sums grow, integers wrap, 16-bit floats may reach
// infinity); that does not change the work. nccl-tests conventions, B the whole buffer:
//   allreduce      algbw = B / t   busbw = algbw * 2(N-1)/N
//   reducescatter  algbw = B / t   busbw = algbw * (N-1)/N     (B: every rank's input)
//   allgather      algbw = B / t   busbw = algbw * (N-1)/N     (B: what every rank ends with)
//   broadcast      algbw = B / t   busbw = algbw
//   alltoall       algbw = B / t   busbw = algbw * (N-1)/N     (B: every rank's send buffer)
// elements_per_s = count / t. Prints one JSON object on stdout.
#pragma once

/// `kind` is "allreduce", "reducescatter", "allgather", "broadcast" or "alltoall"; argv[0] names the program; the rest
/// are flags
/// (--chips N --bytes B --dtype D --op O --reps R --inner K --blocks D). Returns the exit code (1 if a
/// result was wrong or strata failed, 2 for a wrong command line).
int bench_collective_main(const char* kind, int argc, char** argv);
