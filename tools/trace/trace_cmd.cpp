// tools/trace/trace_cmd.cpp — `strata trace summary|svg`: the command line over the trace reader.
//
// The subcommands come from one table (kCommands) and parse their flags with CLI11 through the tool's
// shared conventions (tools/cli/command_line.hpp); the one positional argument is the trace file. Reading
// or writing problems end with exit code 1 and a message that says what to do; a wrong command line with
// kUsageExit.
#include "trace_cmd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "command_line.hpp"
#include "trace_analysis.hpp"
#include "trace_file.hpp"
#include "trace_svg.hpp"

namespace strata::tool {

namespace {

namespace tr = strata::trace_reader;
using cli::kUsageExit;

constexpr const char* kName = "strata trace";

int summary_main(int argc, char** argv) {
  std::string file;
  bool as_json = false, whole_path = false;
  CLI::App app{
      "Prints what a trace says: per child, tasks, busy %, p50/p99/max task time; the critical path of\n"
      "each run with the wait before each of its tasks (a long one shortened to its first and last 30);\n"
      "the ten longest tasks; time blocked on back-pressure; failed, poisoned and cancelled tasks;\n"
      "dropped events.",
      argv[0]};
  app.add_option("file", file, "the trace file (WorkerOptions::trace_path, STRATA_TRACE)")->required();
  app.add_flag("--json", as_json, "all of it as one JSON object");
  app.add_flag("--all", whole_path, "every task of a critical path, not shortened");
  if (const int rc = cli::parse(app, argc, argv); rc >= 0) return rc;
  const tr::Trace trace = tr::load_trace(file);
  const tr::Summary summary = tr::summarize(trace);
  if (as_json) {
    std::cout << tr::summary_json(trace, summary).dump(2) << '\n';
  } else {
    tr::print_summary(trace, summary, std::cout, whole_path ? 0 : 60);
  }
  std::cout.flush();
  return 0;
}

int svg_main(int argc, char** argv) {
  std::string file, output;
  tr::SvgOptions options;
  CLI::App app{
      "Draws a trace as a swimlane picture: a lane per child, tasks coloured by kernel, the critical\n"
      "path outlined, failures in red, tasks under a pixel wide as density bands.",
      argv[0]};
  app.add_option("file", file, "the trace file (WorkerOptions::trace_path, STRATA_TRACE)")->required();
  app.add_option("-o,--output", output, "where to write the picture ('-': stdout)")->required();
  app.add_option("--width", options.width, "width in pixels")->check(CLI::Range(600, 100000))->capture_default_str();
  if (const int rc = cli::parse(app, argc, argv); rc >= 0) return rc;
  if (output.empty()) {
    std::fprintf(stderr, "%s: --output needs a file name or '-' (see '%s --help')\n", argv[0], argv[0]);
    return kUsageExit;
  }
  const tr::Trace trace = tr::load_trace(file);
  const tr::Summary summary = tr::summarize(trace);
  if (output == "-") {
    tr::write_svg(trace, summary.critical_path, std::cout, options);
    std::cout.flush();
    return 0;
  }
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  if (!out) {
    std::fprintf(stderr, "%s: cannot write '%s': %s (check that its folder exists and is writable)\n", kName,
                 output.c_str(), std::strerror(errno));
    return 1;
  }
  tr::write_svg(trace, summary.critical_path, out, options);
  out.close();
  if (!out) {
    std::fprintf(stderr, "%s: writing '%s' failed: %s\n", kName, output.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

// Reading or writing failures end the command with "strata trace: <what>" and exit code 1.
template <int (*Command)(int, char**)>
int reported(int argc, char** argv) {
  try {
    return Command(argc, argv);
  } catch (const tr::TraceError& e) {
    std::fprintf(stderr, "%s: %s\n", kName, e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: failed: %s\n", argv[0], e.what());
  }
  return 1;
}

// Every subcommand of `strata trace`.
constexpr cli::Subcommand kCommands[] = {
    {"summary", "FILE [--json] [--all]",
     "per child: tasks, busy %, p50/p99/max task time; the critical path of each run with the wait before\n"
     "each of its tasks; the ten longest tasks; back-pressure; failed, poisoned and cancelled tasks;\n"
     "dropped events (--json: all of it as one JSON object)",
     reported<summary_main>},
    {"svg", "FILE -o OUT.svg [--width PIXELS]",
     "a swimlane picture: a lane per child, tasks coloured by kernel, the critical path outlined,\n"
     "failures in red ('-o -' writes to stdout)",
     reported<svg_main>},
};

}  // namespace

int trace_main(int argc, char** argv) {
  return cli::dispatch(kName,
                       "reads a trace a Worker wrote (WorkerOptions::trace_path, or the file STRATA_TRACE names)",
                       kCommands, argc, argv);
}

}  // namespace strata::tool
