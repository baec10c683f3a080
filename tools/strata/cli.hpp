// tools/strata/cli.hpp — the subcommands of the `strata` tool and the flag parser they share (the one of
// bench/common/flag_parser.hpp, which the benchmarks use too).
//
// Every subcommand is `int <name>_main(int argc, char** argv)` where argv[0] is the subcommand's own name
// and the rest are its flags. Exit codes: 0 success, 1 the work failed (a wrong result, a strata error),
// 2 the command line was wrong (the message names the flag and says what is expected).
#pragma once

#include <string>

#include "flag_parser.hpp"

namespace strata::tool {

int info_main(int argc, char** argv);
/// `strata demo`: the FFN workload (demo_ffn.cpp); `--workload matmul` runs demo_matmul_main instead.
int demo_main(int argc, char** argv);
/// The tiled matmul demo (demo.cpp); argv without the --workload flag.
int demo_matmul_main(int argc, char** argv);
/// `strata bench <workload> ...`: dispatches to the benchmarks under bench/.
int bench_main(int argc, char** argv);

using cli::FlagParser;
using cli::kUsageExit;

/// The flag parser of `strata <command>`: messages start with "strata <command>: ", an unknown flag points
/// to 'strata <command> --help', integers take no suffixes.
inline FlagParser command_flags(int argc, char** argv, const std::string& command) {
  return FlagParser(argc, argv, {.name = "strata " + command, .help = "'strata " + command + " --help'"});
}

}  // namespace strata::tool
