// tools/strata/cli.hpp — the subcommands of the `strata` tool. main.cpp lists them in one table; each
// reads its flags with CLI11 through the conventions every strata program shares (tools/cli).
//
// Every subcommand is `int <name>_main(int argc, char** argv)` where argv[0] is its full name ("strata
// demo", which its messages start with) and the rest are its flags. Exit codes: 0 success, 1 the work
// failed (a wrong result, a strata error), 2 the command line was wrong (the message names the flag and
// says what is expected).
#pragma once

#include "command_line.hpp"

namespace strata::tool {

/// `strata info`: version, backends and every tunable.
int info_main(int argc, char** argv);
/// `strata demo`: the FFN workload (demo_ffn.cpp); `--workload matmul` runs demo_matmul_main instead.
int demo_main(int argc, char** argv);
/// The tiled matmul demo (demo.cpp); argv without the --workload flag.
int demo_matmul_main(int argc, char** argv);
/// `strata bench <workload> ...`: dispatches to the benchmarks under bench/ (bench_cmd.cpp).
int bench_main(int argc, char** argv);

using cli::kUsageExit;

}  // namespace strata::tool
