// tools/strata/main.cpp — entry point of the `strata` tool: picks the subcommand.
#include <cstdio>
#include <string_view>

#include "cli.hpp"
#include "strata/version.hpp"
#include "trace_cmd.hpp"

namespace {

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: strata <command> [options]\n"
               "\n"
               "commands:\n"
               "  info                 version, backends and every tunable (environment variable, default, value)\n"
               "  demo [options]       a tensor-parallel feed-forward layer on 4 simulated chips: a domain, shard\n"
               "                       matmuls, an allreduce, checked against a single-process reference\n"
               "                       (strata demo --help; --workload matmul for the tiled matmul demo)\n"
               "  bench <workload> ... dispatch, domain or allreduce benchmark; prints one JSON object\n"
               "                       (strata bench --help)\n"
               "  trace summary FILE   what a trace (--trace FILE, STRATA_TRACE) says: per-child load, the critical\n"
               "                       path, the longest tasks, back-pressure, failures\n"
               "  trace svg FILE -o OUT.svg\n"
               "                       a swimlane picture of the trace (strata trace --help)\n"
               "  version              the library version\n"
               "  help                 this text\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace strata::tool;
  if (argc < 2) {
    print_usage(stdout);
    return 0;
  }
  std::string_view cmd = argv[1];
  if (cmd == "info") return info_main(argc - 1, argv + 1);
  if (cmd == "demo") return demo_main(argc - 1, argv + 1);
  if (cmd == "bench") return bench_main(argc - 1, argv + 1);
  if (cmd == "trace") return trace_main(argc - 1, argv + 1);
  if (cmd == "version" || cmd == "--version") {
    std::printf("strata %s\n", strata::version());
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    print_usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "strata: unknown command '%s'\n\n", argv[1]);
  print_usage(stderr);
  return kUsageExit;
}
