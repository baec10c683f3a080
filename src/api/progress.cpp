// api/progress.cpp — ProgressLine (see strata/progress.hpp).
#include "strata/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>


namespace strata {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ProgressLine::ProgressLine(bool to_pipe, std::chrono::milliseconds quiet_for)
    : tty_(isatty(STDERR_FILENO) == 1),
      start_ns_(now_ns()),
      quiet_ns_(static_cast<int64_t>(quiet_for.count()) * 1000000) {
  enabled_ = tty_ || to_pipe;
}

ProgressLine::~ProgressLine() { finish(); }

void ProgressLine::update(std::string_view phase, uint64_t done, uint64_t total, std::string_view unit) {
  if (!enabled_) return;
  const int64_t now = now_ns();
  if (now - start_ns_ < quiet_ns_ || now - last_ns_ < (tty_ ? 200'000'000 : 1'000'000'000)) return;
  last_ns_ = now;
  std::string line = "strata: [" + std::string(phase) + "] " + std::to_string(done);
  if (total) line += " / " + std::to_string(total);
  line += " " + std::string(unit);
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, ", %.1f s", static_cast<double>(now - start_ns_) / 1e9);
  line += elapsed;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

std::function<void(const RunProgress&)> ProgressLine::for_runs(std::string phase) {
  if (!enabled_) return {};
  return [this, phase = std::move(phase)](const RunProgress& p) { update(phase, p.finished, p.submitted); };
}

void ProgressLine::finish() {
  if (!open_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  open_ = false;
}

}  // namespace strata
