// examples/common/workload_util.cpp — see workload_util.hpp.
#include "workload_util.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "command_line.hpp"

namespace strata::workloads {

size_t window_bytes(const std::vector<BufferSpec>& buffers) {
  size_t off = 0;
  for (const BufferSpec& b : buffers) off = (off + b.count * dtype_size(b.dtype) + 63) / 64 * 64;
  return std::max<size_t>(off, 64);
}

DomainSpec domain_over_chips(std::string name, int chips, std::vector<BufferSpec> buffers) {
  DomainSpec spec{.name = std::move(name), .workers = {}, .window_size = 0, .buffers = std::move(buffers)};
  for (int c = 0; c < chips; ++c) spec.workers.push_back(c);
  spec.window_size = window_bytes(spec.buffers);
  return spec;
}

void linear_data(size_t rows, size_t dim, std::vector<float>* x, std::vector<float>* y) {
  std::vector<float> w_true(dim);
  x->assign(rows * dim, 0.0f);
  y->assign(rows, 0.0f);
  fill_uniform(x->data(), x->size(), 7);
  fill_uniform(w_true.data(), dim, 11);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < dim; ++j) (*y)[r] += (*x)[r * dim + j] * w_true[j];
}

double linear_loss(const std::vector<float>& x, const std::vector<float>& y, const float* w, size_t dim) {
  double s = 0;
  for (size_t r = 0; r < y.size(); ++r) {
    double e = -y[r];
    for (size_t j = 0; j < dim; ++j) e += static_cast<double>(x[r * dim + j]) * w[j];
    s += e * e / 2;
  }
  return s / static_cast<double>(y.size());
}

ExampleArgs example_args(int argc, char** argv, const char* program, int lo, int hi, int fallback) {
  ExampleArgs a;
  a.chips = fallback;
  CLI::App app{std::string(program) + ": a strata workload, checked against a single-process reference", program};
  if (lo != hi) {
    const std::string what = "chips (" + std::to_string(lo) + ".." + std::to_string(hi) + ")";
    auto* positional = app.add_option("chips", a.chips, what)->check(CLI::Range(lo, hi))->capture_default_str();
    app.add_option("--chips", a.chips, what)->check(CLI::Range(lo, hi))->excludes(positional);
  }
  app.add_option("--trace", a.trace,
                 "write a trace of every run (open it in ui.perfetto.dev, or read it with strata trace)");
  app.add_flag("--progress", a.progress, "progress lines on stderr even when it is not a terminal");
  std::vector<char*> args(argv, argv + argc);
  args[0] = const_cast<char*>(program);
  a.exit = strata::cli::parse(app, argc, args.data());
  return a;
}

WorkerOptions ExampleArgs::worker_options(ProgressLine& line, const std::string& phase) const {
  WorkerOptions o;
  o.chips = chips;
  o.trace_path = trace;
  o.on_progress = line.for_runs(phase);
  return o;
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
