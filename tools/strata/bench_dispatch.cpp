// tools/strata/bench_dispatch.cpp — `strata bench <workload>`: runs a benchmark from bench/.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "allreduce.hpp"
#include "cli.hpp"
#include "collectives.hpp"
#include "dispatch.hpp"
#include "domain.hpp"

namespace strata::tool {
namespace {

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: strata bench <workload> [options]\n"
               "\n"
               "workloads (each prints one JSON object):\n"
               "  dispatch [--chips N] [--tasks M] [--reps R] [--roundtrips K]\n"
               "           cost of an empty task: chained across chips, independent, and one-task round trip\n"
               "           (strata bench dispatch --help)\n"
               "  domain [--chips N] [--window BYTES] [--reps R]\n"
               "           allocate + release of a communication domain over N chips (strata bench domain --help)\n"
               "  allreduce [--chips N] [--bytes B] [--reps R] [--algo auto|bw|lat]\n"
               "           bus bandwidth of strata_allreduce (f32 sum) over N chips (strata bench allreduce --help);\n"
               "           with --dtype f32|f16|bf16|i32|i64 or --op sum|max|min|avg, of the Orchestrator's\n"
               "           allreduce call (strata bench allreduce --dtype f32 --help)\n"
               "  reducescatter [--chips N] [--bytes B] [--dtype D] [--op O]\n"
               "           bus bandwidth of the Orchestrator's reduce_scatter (strata bench reducescatter --help)\n"
               "  allgather [--chips N] [--bytes B] [--dtype D]\n"
               "           bus bandwidth of the Orchestrator's allgather (strata bench allgather --help)\n");
}

int bench_allreduce_any_main(int argc, char** argv) { return bench_collective_main("allreduce", argc, argv); }
int bench_reducescatter_main(int argc, char** argv) { return bench_collective_main("reducescatter", argc, argv); }
int bench_allgather_main(int argc, char** argv) { return bench_collective_main("allgather", argc, argv); }

}  // namespace

int bench_main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stdout);
    return 0;
  }
  std::string_view workload = argv[1];
  if (workload == "--help" || workload == "-h" || workload == "help") {
    print_usage(stdout);
    return 0;
  }
  // Each benchmark names itself after argv[0] in its messages.
  const auto forward = [&](int (*fn)(int, char**)) {
    std::vector<char*> args(argv + 1, argv + argc);
    std::string name = "strata bench " + std::string(workload);
    args[0] = name.data();
    return fn(static_cast<int>(args.size()), args.data());
  };
  if (workload == "dispatch") return forward(bench_dispatch_main);
  if (workload == "domain") return forward(bench_domain_main);
  if (workload == "allreduce") {
    // --dtype or --op select the dtype-generic benchmark of the Orchestrator's call (bench/collectives).
    for (int i = 2; i < argc; ++i) {
      const std::string_view a = argv[i];
      if (a == "--dtype" || a == "--op" || a.starts_with("--dtype=") || a.starts_with("--op="))
        return forward(bench_allreduce_any_main);
    }
    return forward(bench_allreduce_main);
  }
  if (workload == "reducescatter") return forward(bench_reducescatter_main);
  if (workload == "allgather") return forward(bench_allgather_main);
  std::fprintf(stderr, "strata bench: unknown workload '%s'\n\n", argv[1]);
  print_usage(stderr);
  return kUsageExit;
}

}  // namespace strata::tool
