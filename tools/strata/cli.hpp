// tools/strata/cli.hpp — the subcommands of the `strata` tool and the small flag parser they share.
//
// Every subcommand is `int <name>_main(int argc, char** argv)` where argv[0] is the subcommand's own name
// and the rest are its flags. Exit codes: 0 success, 1 the work failed (a wrong result, a strata error),
// 2 the command line was wrong (the message names the flag and says what is expected).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace strata::tool {

int info_main(int argc, char** argv);
/// `strata demo`: the FFN workload (demo_ffn.cpp); `--workload matmul` runs demo_matmul_main instead.
int demo_main(int argc, char** argv);
/// The tiled matmul demo (demo.cpp); argv without the --workload flag.
int demo_matmul_main(int argc, char** argv);
/// `strata bench <workload> ...`: dispatches to the benchmarks under bench/.
int bench_main(int argc, char** argv);

/// Exit code for a wrong command line.
inline constexpr int kUsageExit = 2;

/// Walks `--flag value` / `--flag=value` pairs. Usage:
///   FlagParser p(argc, argv, 1);
///   while (p.next()) { if (p.is("--chips")) chips = p.int_value(1, 64); else return p.unknown(); }
///   if (p.failed()) return kUsageExit;
class FlagParser {
 public:
  FlagParser(int argc, char** argv, int first, const char* command)
      : argc_(argc), argv_(argv), i_(first), command_(command) {}

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
  const std::string& flag() const { return flag_; }
  bool failed() const { return failed_; }

  /// The flag's value as an integer in [lo, hi]; on error prints why and marks the parser failed.
  int64_t int_value(int64_t lo, int64_t hi) {
    std::string text;
    if (!take_value(&text)) return lo;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < lo || v > hi) {
      std::fprintf(stderr, "strata %s: %s expects an integer in [%lld, %lld], got '%s'\n", command_, flag_.c_str(),
                   static_cast<long long>(lo), static_cast<long long>(hi), text.c_str());
      failed_ = true;
      return lo;
    }
    return v;
  }
  /// The flag's value as text.
  std::string string_value() {
    std::string text;
    take_value(&text);
    return text;
  }
  /// Reports the current flag as unknown; returns the usage exit code.
  int unknown() {
    std::fprintf(stderr, "strata %s: unknown option '%s' (see 'strata %s --help')\n", command_, flag_.c_str(),
                 command_);
    failed_ = true;
    return kUsageExit;
  }

 private:
  bool take_value(std::string* out) {
    if (value_) {
      *out = *value_;
      return true;
    }
    if (i_ >= argc_) {
      std::fprintf(stderr, "strata %s: %s needs a value\n", command_, flag_.c_str());
      failed_ = true;
      return false;
    }
    *out = argv_[i_++];
    return true;
  }

  int argc_;
  char** argv_;
  int i_;
  const char* command_;
  std::string flag_;
  std::optional<std::string> value_;
  bool failed_ = false;
};

}  // namespace strata::tool
