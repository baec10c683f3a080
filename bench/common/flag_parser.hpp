// bench/common/flag_parser.hpp — the `--flag value` / `--flag=value` parser of the `strata` tool's
// subcommands and of the benchmarks under bench/ (header only; no strata dependency).
//
// Each program says how its messages start ("strata demo: ...", "bench_domain: ..."), what an unknown
// flag points to, and whether integers take K, M, G suffixes. Every error is printed on stderr and marks
// the parser failed; a wrong command line exits with kUsageExit by convention.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::cli {

/// Exit code for a wrong command line.
inline constexpr int kUsageExit = 2;

class FlagParser {
 public:
  struct Style {
    std::string name;            ///< starts every message: "<name>: ..."
    std::string help;            ///< "unknown option 'x' (see <help>)"
    bool size_suffixes = false;  ///< int_value accepts a K, M or G suffix (powers of 1024)
  };

  /// Walks argv[1..].
  FlagParser(int argc, char** argv, Style style) : argc_(argc), argv_(argv), style_(std::move(style)) {}

  /// The whole walk: --help / -h calls `print_help` and ends with 0; every other flag goes to `take`, which
  /// reads its value and returns false for a flag it does not know (reported as unknown). Returns -1 when
  /// every flag was taken, else the exit code (kUsageExit after an error). Usage:
  ///   p.parse(print_help, [&](FlagParser& f) {
  ///     if (f.is("--chips")) chips = f.int_value(1, 64); else return false;
  ///     return true;
  ///   });
  int parse(const std::function<void()>& print_help, const std::function<bool(FlagParser&)>& take) {
    while (next()) {
      if (help()) {
        print_help();
        return 0;
      }
      if (!take(*this)) return unknown();
    }
    return failed_ ? kUsageExit : -1;
  }

  /// Advances to the next flag; false at the end or after an error.
  bool next() {
    if (failed_ || i_ >= argc_) return false;
    std::string_view arg = argv_[i_++];
    value_.reset();
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      flag_ = std::string(arg.substr(0, eq));
      value_ = std::string(arg.substr(eq + 1));
    } else {
      flag_ = std::string(arg);
    }
    return true;
  }
  bool is(std::string_view name) const { return flag_ == name; }
  bool help() const { return flag_ == "--help" || flag_ == "-h"; }
  const std::string& flag() const { return flag_; }
  const char* name() const { return style_.name.c_str(); }
  bool failed() const { return failed_; }

  /// The flag's value as an integer in [lo, hi] (lo after an error).
  int64_t int_value(int64_t lo, int64_t hi) {
    std::string text;
    if (!take_value(&text)) return lo;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (style_.size_suffixes && end && *end && !end[1]) {
      const char s = *end;
      const int shift = s == 'K' || s == 'k' ? 10 : s == 'M' || s == 'm' ? 20 : s == 'G' || s == 'g' ? 30 : -1;
      if (shift > 0 && v >= 0 && v <= (INT64_MAX >> shift)) {
        v <<= shift;
        ++end;
      }
    }
    if (text.empty() || *end != '\0' || v < lo || v > hi) {
      std::fprintf(stderr, "%s: %s expects an integer in [%lld, %lld], got '%s'\n", name(), flag_.c_str(),
                   static_cast<long long>(lo), static_cast<long long>(hi), text.c_str());
      failed_ = true;
      return lo;
    }
    return v;
  }
  /// The flag's value as text (possibly empty).
  std::string string_value() {
    std::string text;
    take_value(&text);
    return text;
  }
  /// The flag's value as non-empty text.
  std::string nonempty_string_value() {
    std::string text;
    if (take_value(&text) && text.empty()) fail(flag_ + " needs a non-empty value");
    return text;
  }
  /// The flag's value as one of `choices`; returns its index (0 after an error).
  size_t choice(const std::vector<std::string_view>& choices) {
    std::string text;
    if (!take_value(&text)) return 0;
    for (size_t i = 0; i < choices.size(); ++i)
      if (text == choices[i]) return i;
    std::string list;
    for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
    fail(flag_ + " expects one of " + list + ", got '" + text + "'");
    return 0;
  }
  /// Prints "<name>: <message>" and marks the parser failed.
  void fail(const std::string& message) {
    std::fprintf(stderr, "%s: %s\n", name(), message.c_str());
    failed_ = true;
  }
  /// Reports the current flag as unknown; returns kUsageExit.
  int unknown() {
    fail("unknown option '" + flag_ + "' (see " + style_.help + ")");
    return kUsageExit;
  }

 private:
  bool take_value(std::string* out) {
    if (value_) {
      *out = *value_;
      return true;
    }
    if (i_ >= argc_) {
      fail(flag_ + " needs a value");
      return false;
    }
    *out = argv_[i_++];
    return true;
  }

  int argc_;
  char** argv_;
  int i_ = 1;
  Style style_;
  std::string flag_;
  std::optional<std::string> value_;
  bool failed_ = false;
};

}  // namespace strata::cli
