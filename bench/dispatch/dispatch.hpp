// bench/dispatch/dispatch.hpp — the task dispatch benchmark: what one empty task costs end to end.
//
// Three measurements, each the wall time of whole Worker::run() calls (submit + drain):
//   chain        M empty kernel tasks chained by INOUT on one small tensor, task i on chip i % N, so every
//                hop crosses processes; reported per task (median over R runs).
//   independent  M empty kernel tasks without tensors on any chip (kAnyWorker); tasks per second (median).
//   roundtrip    a run() holding one empty task, repeated; median and p99 in microseconds.
// Prints one JSON object on stdout. Used by `strata bench dispatch` and the standalone `bench_dispatch`.
#pragma once

/// argv[0] is the program or subcommand name; the rest are flags (--chips N --tasks M --reps R
/// --roundtrips K). Returns the process exit code (2 for a wrong command line).
int bench_dispatch_main(int argc, char** argv);
