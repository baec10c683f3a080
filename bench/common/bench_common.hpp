// bench/common/bench_common.hpp — small helpers the benchmarks under bench/ share (header only): the
// command-line conventions of the `strata` tool (tools/cli/command_line.hpp: CLI11 flags, one JSON object
// printed with nlohmann-json), wall-clock timing of whole run() calls, quantiles, and the exception report
// every benchmark ends with.
//
// A benchmark is `int bench_<name>_main(int argc, char** argv)` in bench/<name>/<name>.cpp, argv[0] its
// name in messages ("strata bench <name>" or "bench_<name>"). It reads its flags into a CLI::App of that
// name, parsed by cli::parse(), and prints its figures with cli::print_json(). To add one:
// bench/<name>/ with <name>.cpp, <name>.hpp and main.cpp, a strata_add_bench(<name> ...) line in
// bench/CMakeLists.txt, and a line in the table of tools/strata/bench_cmd.cpp.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <vector>

#include "command_line.hpp"
#include "strata/strata.hpp"

namespace strata::bench {

using Clock = std::chrono::steady_clock;

/// Seconds since `t0`.
inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Wall time of one whole Worker::run() (orchestration function, drain, end-of-run frees), in seconds.
inline double time_run(Worker& w, const std::function<void(Orchestrator&)>& fn) {
  const auto t0 = Clock::now();
  w.run(fn);
  return seconds_since(t0);
}

/// The q-quantile of `v` (sorts it; v must not be empty).
inline double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

/// The name a benchmark's messages start with: argv[0], or `fallback` without one.
inline const char* bench_name(int argc, char** argv, const char* fallback) { return argc > 0 ? argv[0] : fallback; }

/// Chips 0..n-1, e.g. every member of a domain over the whole Worker.
inline std::vector<int> all_chips(int n) {
  std::vector<int> chips;
  for (int c = 0; c < n; ++c) chips.push_back(c);
  return chips;
}

/// Runs `body` and returns its exit code; a strata (or any other) exception is reported as
/// "<prog>: failed: <what>" and gives 1.
inline int run_or_report(const char* prog, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: failed: %s\n", prog, e.what());
    return 1;
  }
}

}  // namespace strata::bench
