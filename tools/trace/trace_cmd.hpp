// tools/trace/trace_cmd.hpp — `strata trace`, the subcommand of the `strata` tool that reads trace files.
//
// `strata trace summary FILE [--json]` prints what the trace says about the run (trace_analysis.hpp);
// `strata trace svg FILE -o OUT.svg` draws it (trace_svg.hpp). The tool's main() dispatches "trace" here.
#pragma once

namespace strata::tool {

/// argv[0] is "strata trace" (the name messages start with). Exit codes: 0 done, 1 the trace could not be
/// read or the picture not written, 2 the command line was wrong (cli::kUsageExit). Messages on stderr
/// start with "strata trace: " or, for a subcommand's flags, "strata trace <subcommand>: ".
int trace_main(int argc, char** argv);

}  // namespace strata::tool
