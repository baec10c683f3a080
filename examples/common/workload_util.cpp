// examples/common/workload_util.cpp — see workload_util.hpp.
#include "workload_util.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace strata::workloads {

size_t window_bytes(const std::vector<BufferSpec>& buffers) {
  size_t off = 0;
  for (const BufferSpec& b : buffers) off = (off + b.count * dtype_size(b.dtype) + 63) / 64 * 64;
  return std::max<size_t>(off, 64);
}

int chips_from_args(int argc, char** argv, int lo, int hi, int fallback, const char* usage) {
  if (argc < 2) return fallback;
  if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::printf("%s\n", usage);
    return 0;
  }
  char* end = nullptr;
  const long v = std::strtol(argv[1], &end, 10);
  if (argc > 2 || *argv[1] == '\0' || *end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "%s\n(the chip count must be an integer in [%d, %d])\n", usage, lo, hi);
    return -1;
  }
  return static_cast<int>(v);
}

void fill_uniform(float* x, size_t count, uint64_t seed, float scale) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < count; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(s >> 40) / double(1ull << 24);  // [0, 1)
    x[i] = static_cast<float>((2.0 * u - 1.0) * scale);
  }
}

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double ms_between(std::chrono::steady_clock::time_point t0, std::chrono::steady_clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

double ms_since(std::chrono::steady_clock::time_point t0) { return ms_between(t0, std::chrono::steady_clock::now()); }

bool Checker::expect(bool ok, const std::string& what, const std::string& why) {
  ++checks_;
  if (ok) {
    std::printf("  ok    %s\n", what.c_str());
  } else {
    ++failures_;
    std::printf("  FAIL  %s%s%s\n", what.c_str(), why.empty() ? "" : ": ", why.c_str());
  }
  std::fflush(stdout);
  return ok;
}

bool Checker::close(const std::string& what, const float* got, const float* want, size_t n, double tol) {
  double max_err = 0;
  size_t where = 0, first_nonfinite = 0, nonfinite = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(got[i])) {
      if (nonfinite++ == 0) first_nonfinite = i;
      continue;
    }
    const double e = std::fabs(double(got[i]) - double(want[i]));
    if (e > max_err) {
      max_err = e;
      where = i;
    }
  }
  char b[256];
  if (nonfinite != 0) {
    std::snprintf(b, sizeof b, "%zu non-finite values; first at [%zu]", nonfinite, first_nonfinite);
    return expect(false, what, b);
  }
  std::snprintf(b, sizeof b, " (%zu values, max |error| %.3g <= %.3g)", n, max_err, tol);
  if (max_err <= tol) return expect(true, what + b);
  std::snprintf(b, sizeof b, "max |error| %.3g > %.3g at [%zu]: got %.9g, expected %.9g", max_err, tol, where,
                static_cast<double>(got[where]), static_cast<double>(want[where]));
  return expect(false, what, b);
}

int Checker::finish() const {
  if (failures_ == 0) {
    std::printf("%s: PASS (%d checks)\n", program_.c_str(), checks_);
    return 0;
  }
  std::printf("%s: FAIL (%d of %d checks failed)\n", program_.c_str(), failures_, checks_);
  return 1;
}

}  // namespace strata::workloads
