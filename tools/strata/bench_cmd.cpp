// tools/strata/bench_cmd.cpp — `strata bench <workload>`: runs a benchmark from bench/.
//
// kBenchmarks is the one place a benchmark becomes a subcommand: its name, the flags shown in the usage,
// what it measures, and its entry point (bench/<name>/<name>.hpp). The benchmark parses the rest of the
// command line itself (CLI11, through tools/cli), so `strata bench <name> --help` lists every flag.
#include <string_view>

#include "allreduce.hpp"
#include "cli.hpp"
#include "collectives.hpp"
#include "dispatch.hpp"
#include "domain.hpp"
#include "pod.hpp"

namespace strata::tool {
namespace {

// `strata bench allreduce`: with --dtype or --op, the benchmark of the Orchestrator's call for any dtype
// and op (bench/collectives); without, strata_allreduce's own (f32 sum, algorithm choice).
int bench_allreduce_entry(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--dtype" || a == "--op" || a.starts_with("--dtype=") || a.starts_with("--op="))
      return bench_collective_main("allreduce", argc, argv);
  }
  return bench_allreduce_main(argc, argv);
}
int bench_reducescatter_main(int argc, char** argv) { return bench_collective_main("reducescatter", argc, argv); }
int bench_allgather_main(int argc, char** argv) { return bench_collective_main("allgather", argc, argv); }
int bench_broadcast_main(int argc, char** argv) { return bench_collective_main("broadcast", argc, argv); }
int bench_alltoall_main(int argc, char** argv) { return bench_collective_main("alltoall", argc, argv); }

constexpr cli::Subcommand kBenchmarks[] = {
    {"dispatch", "[--chips N] [--tasks M] [--reps R] [--roundtrips K]",
     "cost of an empty task: chained across chips, independent, and one-task round trip", bench_dispatch_main},
    {"domain", "[--chips N] [--window BYTES] [--reps R]", "allocate + release of a communication domain over N chips",
     bench_domain_main},
    {"allreduce", "[--chips N] [--bytes B] [--reps R] [--algo auto|bw|lat] | [--dtype D] [--op O]",
     "bus bandwidth of strata_allreduce (f32 sum) over N chips; with --dtype f32|f16|bf16|i32|i64 or\n"
     "--op sum|max|min|avg, of the Orchestrator's allreduce call ('strata bench allreduce --dtype f32 --help')",
     bench_allreduce_entry},
    {"reducescatter", "[--chips N] [--bytes B] [--dtype D] [--op O]",
     "bus bandwidth of the Orchestrator's reduce_scatter over N chips", bench_reducescatter_main},
    {"allgather", "[--chips N] [--bytes B] [--dtype D]", "bus bandwidth of the Orchestrator's allgather over N chips",
     bench_allgather_main},
    {"broadcast", "[--chips N] [--bytes B] [--dtype D]",
     "bus bandwidth of the Orchestrator's broadcast (from chip 0) over N chips", bench_broadcast_main},
    {"alltoall", "[--chips N] [--bytes B] [--dtype D]", "bus bandwidth of the Orchestrator's alltoall over N chips",
     bench_alltoall_main},
    {"pod", "[--roundtrips K] [--tasks M] [--reps R]   (under mpirun -n 2 or more)",
     "a pod over MPI beside MPI itself: task round trip and throughput, a 16 MiB INOUT round trip,\n"
     "against MPI's ping-pong and point-to-point bandwidth in the same job",
     bench_pod_main},
};

}  // namespace

int bench_main(int argc, char** argv) {
  return cli::dispatch("strata bench", "runs a benchmark; each prints one JSON object on stdout", kBenchmarks, argc,
                       argv);
}

}  // namespace strata::tool
