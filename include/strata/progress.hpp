// strata/progress.hpp — a progress line on stderr for long work (phase, done / total, elapsed).
//
// Programs that may run for a while (the `strata` tool's demo and benchmarks, the examples) report
// through one ProgressLine: update() from their own loops, and for_runs() as WorkerOptions::on_progress
// so a long run() reports the tasks it has finished while it waits. Nothing is printed during the first
// `quiet_for` (about two seconds), so short work stays silent; on a terminal the line is rewritten in
// place (at most five times a second), and when stderr is not a terminal nothing is printed unless
// asked (`to_pipe`, the tools' --progress), then one line a second. Use from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "strata/status.hpp"

namespace strata {

class ProgressLine {
 public:
  explicit ProgressLine(bool to_pipe = false, std::chrono::milliseconds quiet_for = std::chrono::seconds(2));
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  /// Reports `done` of `total` `unit` in `phase` (total 0: not known). Rate-limited.
  void update(std::string_view phase, uint64_t done, uint64_t total, std::string_view unit = "tasks");
  /// A WorkerOptions::on_progress: reports a run's finished / submitted tasks under `phase`. The
  /// ProgressLine must outlive the Worker's runs.
  std::function<void(const RunProgress&)> for_runs(std::string phase);
  /// Ends the line (a newline on a terminal, if anything was printed). Also done by the destructor.
  void finish();
  /// Whether anything will ever be printed (stderr is a terminal, or to_pipe).
  bool enabled() const noexcept { return enabled_; }

 private:
  bool enabled_ = false;
  bool tty_ = false;
  bool open_ = false;  // a line was printed and not ended
  int64_t start_ns_ = 0;
  int64_t quiet_ns_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace strata
