// bench/common/bench_common.hpp — small helpers the benchmarks under bench/ share (header only): a
// `--flag value` / `--flag=value` parser, wall-clock timing of whole run() calls, and quantiles.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

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

/// Walks argv[1..]: `while (p.next()) { if (p.is("--chips")) n = p.int_value(1, 64); else return p.unknown(); }`.
/// Errors print "<prog>: ..." on stderr and mark the parser failed (exit code 2 by convention).
class Args {
 public:
  Args(int argc, char** argv) : argc_(argc), argv_(argv), prog_(argc > 0 ? argv[0] : "bench") {}

  bool next() {
    if (failed_ || i_ >= argc_) return false;
    std::string_view arg = argv_[i_++];
    has_value_ = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      flag_ = std::string(arg.substr(0, eq));
      value_ = std::string(arg.substr(eq + 1));
      has_value_ = true;
    } else {
      flag_ = std::string(arg);
    }
    return true;
  }
  bool is(std::string_view name) const { return flag_ == name; }
  bool help() const { return flag_ == "--help" || flag_ == "-h"; }
  bool failed() const { return failed_; }
  const char* prog() const { return prog_; }

  /// The value as an integer in [lo, hi]; accepts a K, M or G suffix (powers of 1024).
  int64_t int_value(int64_t lo, int64_t hi) {
    std::string text;
    if (!take(&text)) return lo;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (end && *end && !end[1]) {
      const char s = *end;
      const int shift = s == 'K' || s == 'k' ? 10 : s == 'M' || s == 'm' ? 20 : s == 'G' || s == 'g' ? 30 : -1;
      if (shift > 0 && v >= 0 && v <= (INT64_MAX >> shift)) {
        v <<= shift;
        ++end;
      }
    }
    if (text.empty() || *end != '\0' || v < lo || v > hi) {
      std::fprintf(stderr, "%s: %s expects an integer in [%lld, %lld], got '%s'\n", prog_, flag_.c_str(),
                   static_cast<long long>(lo), static_cast<long long>(hi), text.c_str());
      failed_ = true;
      return lo;
    }
    return v;
  }
  /// The value as non-empty text.
  std::string string_value() {
    std::string text;
    if (take(&text) && text.empty()) {
      std::fprintf(stderr, "%s: %s needs a non-empty value\n", prog_, flag_.c_str());
      failed_ = true;
    }
    return text;
  }
  /// The value as one of `choices`; returns its index.
  size_t choice(const std::vector<std::string_view>& choices) {
    std::string text;
    if (!take(&text)) return 0;
    for (size_t i = 0; i < choices.size(); ++i)
      if (text == choices[i]) return i;
    std::string list;
    for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
    std::fprintf(stderr, "%s: %s expects one of %s, got '%s'\n", prog_, flag_.c_str(), list.c_str(), text.c_str());
    failed_ = true;
    return 0;
  }
  /// Reports the current flag as unknown; returns 2.
  int unknown() {
    std::fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog_, flag_.c_str());
    failed_ = true;
    return 2;
  }

 private:
  bool take(std::string* out) {
    if (has_value_) {
      *out = value_;
      return true;
    }
    if (i_ >= argc_) {
      std::fprintf(stderr, "%s: %s needs a value\n", prog_, flag_.c_str());
      failed_ = true;
      return false;
    }
    *out = argv_[i_++];
    return true;
  }

  int argc_;
  char** argv_;
  int i_ = 1;
  const char* prog_;
  std::string flag_, value_;
  bool has_value_ = false;
  bool failed_ = false;
};

}  // namespace strata::bench
