// tools/strata/bench_dispatch.cpp — `strata bench <workload>`: runs a benchmark from bench/.
#include <cstdio>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "dispatch.hpp"

namespace strata::tool {
namespace {

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: strata bench <workload> [options]\n"
               "\n"
               "workloads (each prints one JSON object):\n"
               "  dispatch [--chips N] [--tasks M] [--reps R] [--roundtrips K]\n"
               "           cost of an empty task: chained across chips, independent, and one-task round trip\n"
               "           (strata bench dispatch --help)\n");
}

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
  if (workload == "dispatch") {
    // The benchmark names itself after argv[0] in its messages.
    std::vector<char*> args(argv + 1, argv + argc);
    char name[] = "strata bench dispatch";
    args[0] = name;
    return bench_dispatch_main(static_cast<int>(args.size()), args.data());
  }
  std::fprintf(stderr, "strata bench: unknown workload '%s'\n\n", argv[1]);
  print_usage(stderr);
  return kUsageExit;
}

}  // namespace strata::tool
