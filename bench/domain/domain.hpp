// bench/domain/domain.hpp — the communication-domain benchmark: what allocating a domain costs.
//
// A Worker with N simulated chips; every sample is the wall time of one whole Worker::run() (the
// orchestration function, the drain, and the end-of-run free of released domains):
//   alloc_release         allocate_domain over chips 0..N-1 with one U8 buffer filling the window, then
//                         release(); the run's drain frees it on every chip. This is the figure the issue
//                         asks for (allocate, release, drain).
//   alloc_memset_release  the same, plus one task per member that checks its window reads as zero (one
//                         word per page) and memsets the whole buffer, as the MPI peer memsets its shared
//                         window: the cost of first touching the window's pages is then counted too.
//   empty_run             a run() whose orchestration function does nothing: the run overhead included in
//                         the samples above.
//   alloc_release_in_run  R allocate + release pairs inside one run(); all R are freed in its drain; the
//                         run's time divided by R (run overhead amortised).
// The first allocation of a Worker also brings the base communicator up; it is reported on its own
// (first_alloc_release_us) and excluded from the medians, as are 10 warm-up runs of each kind.
// Prints one JSON object on stdout. Used by `strata bench domain` and the standalone `bench_domain`.
#pragma once

/// argv[0] is the program or subcommand name; the rest are flags (--chips N --window BYTES --reps R).
/// Returns the process exit code (1 if a window did not read as zero, 2 for a wrong command line).
int bench_domain_main(int argc, char** argv);
