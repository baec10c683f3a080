// tools/strata/bench_cmd.cpp — `strata bench <workload>`: runs a benchmark from bench/.
//
// kBenchmarks is the one place a benchmark becomes a subcommand: its name, the flags shown in the usage,
// what it measures, and its entry point (bench/<name>/<name>.hpp). The benchmark parses the rest of the
// command line itself (CLI11, through tools/cli), so `strata bench <name> --help` lists every flag.
#include "allreduce.hpp"
#include "cli.hpp"
#include "dispatch.hpp"
#include "domain.hpp"

namespace strata::tool {
namespace {

constexpr cli::Subcommand kBenchmarks[] = {
    {"dispatch", "[--chips N] [--tasks M] [--reps R] [--roundtrips K]",
     "cost of an empty task: chained across chips, independent, and one-task round trip", bench_dispatch_main},
    {"domain", "[--chips N] [--window BYTES] [--reps R]", "allocate + release of a communication domain over N chips",
     bench_domain_main},
    {"allreduce", "[--chips N] [--bytes B] [--reps R] [--algo auto|bw|lat]",
     "bus bandwidth of strata_allreduce over N chips", bench_allreduce_main},
};

}  // namespace

int bench_main(int argc, char** argv) {
  return cli::dispatch("strata bench", "runs a benchmark; each prints one JSON object on stdout", kBenchmarks, argc,
                       argv);
}

}  // namespace strata::tool
