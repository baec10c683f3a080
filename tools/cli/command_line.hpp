// tools/cli/command_line.hpp — the command-line conventions every strata program shares: the `strata`
// tool's commands, `strata trace`, and the benchmarks under bench/ (header only; no strata dependency).
//
// Flags are parsed by CLI11 and JSON is written with nlohmann-json, so every command has the same --help,
// the same validation messages and correctly escaped output. What this file adds on top:
//   - parse(): "<command>: <what was wrong> (see '<command> --help')" on stderr and kUsageExit for a wrong
//     command line; --help on stdout and 0.
//   - dispatch(): a command made only of subcommands (`strata`, `strata bench`, `strata trace`) takes them
//     from one table, prints its usage from it, and hands the rest of argv to the one chosen.
//   - size_option(): a byte count that takes K, M, G suffixes (powers of 1024).
//   - print_json(): one JSON object on one line of stdout, fields in the order they were set.
// Exit codes of every command: 0 success, 1 the work failed, 2 (kUsageExit) the command line was wrong.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::cli {

/// Exit code for a wrong command line.
inline constexpr int kUsageExit = 2;

/// JSON whose fields keep the order they were set in (what a reader of the output expects).
using Json = nlohmann::ordered_json;

/// Parses argv[1..] into `app` (argv[0] is the command's name and not read). Returns -1 when the command
/// should go on, else its exit code: 0 after --help, kUsageExit after an error, reported as
/// "<name>: <message> (see '<name> --help')". An unexpected argument is named: "unknown option '--x'".
inline int parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help() << std::flush;
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All) << std::flush;
    return 0;
  } catch (const CLI::ExtrasError& e) {
    const std::vector<std::string> extra = app.remaining();
    std::string what = e.what();
    if (!extra.empty())
      what = (extra[0].starts_with("-") ? "unknown option '" : "unexpected argument '") + extra[0] + "'";
    std::fprintf(stderr, "%s: %s (see '%s --help')\n", app.get_name().c_str(), what.c_str(), app.get_name().c_str());
    return kUsageExit;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see '%s --help')\n", app.get_name().c_str(), e.what(), app.get_name().c_str());
    return kUsageExit;
  }
}

/// A byte count: a plain number or one with a K, M or G suffix (KiB, MiB, GiB also read), within [lo, hi].
template <class T>
CLI::Option* size_option(CLI::App& app, const std::string& name, T& value, const std::string& doc, int64_t lo,
                         int64_t hi) {
  return app.add_option(name, value, doc)
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(lo, hi))
      ->capture_default_str();
}

/// One subcommand of a command that only dispatches.
struct Subcommand {
  std::string_view name;
  std::string_view usage;              ///< what follows the name in the usage text, e.g. "[--chips N]"
  std::string_view summary;            ///< what it does, one or two lines
  int (*main)(int argc, char** argv);  ///< argv[0] is "<command> <name>"
};

/// Prints "usage: <command> <subcommand> ..." and the table.
inline void print_dispatch_usage(std::FILE* out, std::string_view command, std::string_view about,
                                 std::span<const Subcommand> subs) {
  std::fprintf(out, "usage: %.*s <command> [options]\n", static_cast<int>(command.size()), command.data());
  if (!about.empty()) std::fprintf(out, "  %.*s\n", static_cast<int>(about.size()), about.data());
  std::fprintf(out, "\ncommands (each takes --help):\n");
  for (const Subcommand& s : subs) {
    std::string head = std::string(s.name) + (s.usage.empty() ? "" : " ") + std::string(s.usage);
    std::string body(s.summary);
    // Continuation lines of the summary are indented under its first line.
    for (size_t at = body.find('\n'); at != std::string::npos; at = body.find('\n', at + 1))
      body.insert(at + 1, 6, ' ');
    std::fprintf(out, "  %s\n      %s\n", head.c_str(), body.c_str());
  }
}

/// Runs the subcommand argv[1] names with the arguments after it. No subcommand, or an unknown one, prints
/// the usage on stderr and returns kUsageExit; --help, -h or help print it on stdout and return 0.
inline int dispatch(std::string_view command, std::string_view about, std::span<const Subcommand> subs, int argc,
                    char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "%.*s: missing command\n\n", static_cast<int>(command.size()), command.data());
    print_dispatch_usage(stderr, command, about, subs);
    return kUsageExit;
  }
  const std::string_view chosen = argv[1];
  for (const Subcommand& s : subs) {
    if (chosen != s.name) continue;
    std::vector<char*> args(argv + 1, argv + argc);
    std::string name = std::string(command) + " " + std::string(s.name);
    args[0] = name.data();
    args.push_back(nullptr);
    return s.main(argc - 1, args.data());
  }
  if (chosen == "--help" || chosen == "-h" || chosen == "help") {
    print_dispatch_usage(stdout, command, about, subs);
    return 0;
  }
  std::fprintf(stderr, "%.*s: unknown command '%s' (see '%.*s --help')\n\n", static_cast<int>(command.size()),
               command.data(), argv[1], static_cast<int>(command.size()), command.data());
  print_dispatch_usage(stderr, command, about, subs);
  return kUsageExit;
}

/// `v` rounded to `decimals` places, so that a measured figure prints as 12.35 rather than 12.3487261.
inline double rounded(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::isfinite(v) ? std::round(v * scale) / scale : v;
}

/// Prints `j` as one line of stdout.
inline void print_json(const Json& j) {
  std::cout << j.dump() << '\n';
  std::cout.flush();
}

}  // namespace strata::cli
