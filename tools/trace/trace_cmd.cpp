// tools/trace/trace_cmd.cpp — `strata trace summary|svg`: the command line over the trace reader.
//
// Reads the flags with the tool's shared FlagParser (bench/common/flag_parser.hpp); the one positional
// argument is the trace file. Reading or writing problems end with exit code 1 and a message that says
// what to do; a wrong command line with kUsageExit.
#include "trace_cmd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "flag_parser.hpp"
#include "trace_analysis.hpp"
#include "trace_file.hpp"
#include "trace_svg.hpp"

namespace strata::tool {

namespace {

namespace tr = strata::trace_reader;
using cli::FlagParser;
using cli::kUsageExit;

constexpr const char* kName = "strata trace";

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: strata trace <command> FILE [options]\n"
               "  reads a trace a Worker wrote (WorkerOptions::trace_path, or the file STRATA_TRACE names)\n"
               "\n"
               "commands:\n"
               "  summary FILE [--json] [--all]\n"
               "                          per child: tasks, busy %%, p50/p99/max task time; the critical path of\n"
               "                          the longest run with the wait before each of its tasks (a long one\n"
               "                          shortened to its first and last 30; --all: every task); the ten\n"
               "                          longest tasks; time blocked on back-pressure; failed, poisoned and\n"
               "                          cancelled tasks; dropped events. --json: all of it as one JSON object\n"
               "  svg FILE -o OUT.svg     a swimlane picture: a lane per child, tasks coloured by kernel, the\n"
               "                          critical path outlined, failures in red, tasks under a pixel wide as\n"
               "                          density bands (-o/--output; '-' writes to stdout;\n"
               "                          --width PIXELS, default 1600)\n");
}

FlagParser command_flags(int argc, char** argv) {
  return FlagParser(argc, argv, {.name = kName, .help = "'strata trace --help'"});
}

// A positional argument: the trace file, once.
bool take_file(FlagParser& f, std::string* file) {
  if (f.flag().starts_with("-") && f.flag() != "-") return false;
  if (!file->empty()) {
    f.fail("one trace file only, got '" + *file + "' and '" + f.flag() + "'");
    return true;
  }
  *file = f.flag();
  return true;
}

int summary_main(int argc, char** argv) {
  std::string file;
  bool as_json = false, whole_path = false;
  FlagParser flags = command_flags(argc, argv);
  const int rc = flags.parse([] { print_usage(stdout); },
                             [&](FlagParser& f) {
                               if (f.is("--json")) {
                                 as_json = true;
                               } else if (f.is("--all")) {
                                 whole_path = true;
                               } else {
                                 return take_file(f, &file);
                               }
                               return true;
                             });
  if (rc >= 0) return rc;
  if (file.empty()) {
    flags.fail("summary needs a trace file: strata trace summary FILE [--json] [--all]");
    return kUsageExit;
  }
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
  FlagParser flags = command_flags(argc, argv);
  const int rc = flags.parse([] { print_usage(stdout); },
                             [&](FlagParser& f) {
                               if (f.is("-o") || f.is("--output")) {
                                 output = f.nonempty_string_value();
                               } else if (f.is("--width")) {
                                 options.width = static_cast<int>(f.int_value(600, 100000));
                               } else {
                                 return take_file(f, &file);
                               }
                               return true;
                             });
  if (rc >= 0) return rc;
  if (file.empty() || output.empty()) {
    flags.fail("svg needs a trace file and where to write the picture: strata trace svg FILE -o OUT.svg");
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

}  // namespace

int trace_main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "%s: missing command (summary or svg)\n\n", kName);
    print_usage(stderr);
    return kUsageExit;
  }
  const std::string_view command = argv[1];
  try {
    if (command == "summary") return summary_main(argc - 1, argv + 1);
    if (command == "svg") return svg_main(argc - 1, argv + 1);
  } catch (const tr::TraceError& e) {
    std::fprintf(stderr, "%s: %s\n", kName, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s failed: %s\n", kName, argv[1], e.what());
    return 1;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    print_usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "%s: unknown command '%s' (summary or svg; see 'strata trace --help')\n", kName, argv[1]);
  return kUsageExit;
}

}  // namespace strata::tool
