// tools/strata/main.cpp — entry point of the `strata` tool. kCommands is the one table of its commands:
// `strata` with no command prints the usage and exits 2, `strata --help` prints it and exits 0, and each
// command parses the rest of the line itself (cli.hpp).
#include <cstdio>
#include <string_view>

#include "cli.hpp"
#include "strata/version.hpp"
#include "trace_cmd.hpp"

namespace {

int version_main(int argc, char** argv) {
  CLI::App app{"Prints the library version.", argv[0]};
  if (int rc = strata::cli::parse(app, argc, argv); rc >= 0) return rc;
  std::printf("strata %s\n", strata::version());
  return 0;
}

using namespace strata::tool;

constexpr strata::cli::Subcommand kCommands[] = {
    {"info", "[--json]", "version, backends and every tunable (environment variable, default, value)", info_main},
    {"demo", "[options]",
     "a tensor-parallel feed-forward layer on 4 simulated chips: a domain, shard matmuls, an allreduce,\n"
     "checked against a single-process reference (--workload matmul|moe|dp|pod: the other demos)",
     demo_main},
    {"bench", "<workload> [options]", "a benchmark (dispatch, domain, a collective, pod); prints one JSON object",
     bench_main},
    {"trace", "summary|svg FILE [options]",
     "what a trace (--trace FILE, STRATA_TRACE) says: per-child load, the critical path, the longest\n"
     "tasks, back-pressure, failures; or a swimlane picture of it",
     trace_main},
    {"version", "", "the library version", version_main},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--version") return version_main(1, argv);
  return strata::cli::dispatch("strata", "runs strata's demo, benchmarks and tools", kCommands, argc, argv);
}
