// bench/common/bench_common.hpp — small helpers the benchmarks under bench/ share (header only): their
// flag parser (flag_parser.hpp, shared with the `strata` tool), wall-clock timing of whole run() calls,
// quantiles, and the exception report every benchmark ends with.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <vector>

#include "flag_parser.hpp"
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

/// The flag parser of a benchmark: messages start with argv[0], an unknown flag points to --help, and
/// integers take K, M, G suffixes.
inline cli::FlagParser bench_flags(int argc, char** argv) {
  return cli::FlagParser(argc, argv, {.name = argc > 0 ? argv[0] : "bench", .help = "--help", .size_suffixes = true});
}

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
