// examples/common/workload_util.hpp — what every workload example shares: its command line (chip count,
// --trace FILE, --progress), the window size a list of buffers needs, deterministic inputs, clocks, and a Checker that
// prints each check and turns any mismatch into a non-zero exit status.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/strata.hpp"

namespace strata::workloads {

/// Bytes of window that `buffers` need when carved in declaration order (each aligned to 64 bytes).
size_t window_bytes(const std::vector<BufferSpec>& buffers);
/// A domain named `name` over chips 0..chips-1 holding `buffers`, with the window they need.
DomainSpec domain_over_chips(std::string name, int chips, std::vector<BufferSpec> buffers);

/// The data set of the linear-regression workloads (dp, pod): `rows` rows of `dim` features uniform in
/// [-1, 1) and targets y = x w_true, the same on every call.
void linear_data(size_t rows, size_t dim, std::vector<float>* x, std::vector<float>* y);
/// Their loss: the mean over the rows of (x.w - y)^2 / 2, in double.
double linear_loss(const std::vector<float>& x, const std::vector<float>& y, const float* w, size_t dim);

/// An example's command line: `<program> [chips] [--trace FILE] [--progress]`.
struct ExampleArgs {
  int chips = 0;          // the chip count (the fallback when not given)
  std::string trace;      // --trace FILE: the Worker writes its trace there (Perfetto, `strata trace`)
  bool progress = false;  // --progress: progress lines on stderr even when it is not a terminal
  int exit = -1;          // >= 0: exit now with this status (0 after --help, 2 after a wrong argument)
  /// The WorkerOptions these arguments ask for (chips, trace_path, on_progress through `line`).
  WorkerOptions worker_options(ProgressLine& line, const std::string& phase) const;
};
/// Parses the command line of example `program`; the chip count must be in [lo, hi] (lo == hi: the
/// example has a fixed chip count and takes none). Prints the usage for --help or a wrong argument.
ExampleArgs example_args(int argc, char** argv, const char* program, int lo, int hi, int fallback);

/// The mixture-of-experts workload (examples/common/moe.cpp): the ep_dispatch_combine example's main, also
/// `strata demo --workload moe`. Returns the exit status.
int moe_main(int argc, char** argv);
/// The data-parallel training workload (examples/common/dp.cpp): the dp_train example's main, also
/// `strata demo --workload dp`. Returns the exit status.
int dp_main(int argc, char** argv);
/// The pod workload across ranks over MPI (examples/common/pod.cpp): the pod_dp_tp example's main, also
/// `strata demo --workload pod` (under mpirun). Returns the exit status.
int pod_main(int argc, char** argv);

/// Deterministic values in [-scale, scale) from a 64-bit LCG seeded with `seed`.
void fill_uniform(float* x, size_t count, uint64_t seed, float scale = 1.0f);

/// Nanoseconds of the monotonic clock, comparable between the processes of one machine.
int64_t monotonic_ns();

/// Milliseconds from `t0` to `t1`.
double ms_between(std::chrono::steady_clock::time_point t0, std::chrono::steady_clock::time_point t1);
/// Milliseconds from `t0` to now.
double ms_since(std::chrono::steady_clock::time_point t0);

/// Counts and prints checks: "  ok    <what>" / "  FAIL  <what>: <why>".
class Checker {
 public:
  explicit Checker(std::string program) : program_(std::move(program)) {}

  /// Records one check.
  bool expect(bool ok, const std::string& what, const std::string& why = {});

  /// Every element of got equals want exactly; reports the first mismatch and how many there are.
  template <class T>
  bool exact(const std::string& what, const T* got, const T* want, size_t n) {
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n; ++i)
      if (!(got[i] == want[i])) {
        if (bad++ == 0) first = i;
      }
    if (bad == 0) return expect(true, what + " (" + std::to_string(n) + " values, exact)");
    return expect(false, what,
                  std::to_string(bad) + " of " + std::to_string(n) + " values differ; first at [" +
                      std::to_string(first) + "]: got " + text(got[first]) + ", expected " + text(want[first]));
  }

  /// max |got - want| <= tol (and every value finite); reports the largest error and where it is.
  bool close(const std::string& what, const float* got, const float* want, size_t n, double tol);

  int failures() const { return failures_; }
  int checks() const { return checks_; }
  /// Prints "<program>: PASS (k checks)" or "<program>: FAIL (f of k checks failed)"; returns the exit status.
  int finish() const;

 private:
  template <class T>
  static std::string text(T v) {
    if constexpr (std::is_floating_point_v<T>) {
      char b[64];
      std::snprintf(b, sizeof b, "%.9g", static_cast<double>(v));
      return b;
    } else {
      return std::to_string(v);
    }
  }

  std::string program_;
  int failures_ = 0;
  int checks_ = 0;
};

}  // namespace strata::workloads
