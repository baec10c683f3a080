// api/status.cpp — WorkerStatus::to_string(): the stall report as text (see strata/status.hpp).
#include "strata/status.hpp"

#include <cstdio>

namespace strata {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string seconds(double s) { return s < 1 ? fmt("%.0f ms", s * 1000) : fmt("%.1f s", s); }

}  // namespace

std::string WorkerStatus::to_string() const {
  std::string out = "run " + std::to_string(run) + (in_run ? "" : " (ended)") + ": " + std::to_string(submitted) +
                    " tasks submitted, " + std::to_string(finished) + " finished";
  if (in_run) out += "; no progress for " + seconds(since_progress_s);
  out += "\n";
  for (const ChildStatus& c : children) {
    out += "  " + c.name + " (pid " + std::to_string(c.pid) +
           (c.generation ? ", respawned " + std::to_string(c.generation) : "") + "): " + c.state;
    if (!c.gone.empty()) out += ", " + c.gone;
    if (c.stopped_for_s > 0) out += ", stopped (SIGSTOP) for " + seconds(c.stopped_for_s);
    if (c.running_task)
      out += ", running task #" + std::to_string(c.running_task) + " '" + c.running_name + "' for " +
             seconds(c.running_for_s);
    else if (c.state == "ready")
      out += c.owed ? ", waiting to start its next task" : ", idle";
    if (c.owed) out += ", " + std::to_string(c.owed) + (c.owed == 1 ? " frame" : " frames") + " owed";
    out += "\n";
  }
  if (unfinished_total) {
    out += "  unfinished tasks (" + std::to_string(unfinished_total) + "):\n";
    for (const PendingTask& t : unfinished) {
      out += "    #" + std::to_string(t.id) + " '" + t.name + "' on " + t.child + (t.pushed ? ", sent" : ", held back");
      if (!t.waits_for.empty()) {
        out += ", waits for";
        for (size_t i = 0; i < t.waits_for.size(); ++i) out += (i ? ", #" : " #") + std::to_string(t.waits_for[i]);
      }
      out += "\n";
    }
    if (unfinished_total > unfinished.size())
      out += "    ... and " + std::to_string(unfinished_total - unfinished.size()) + " more\n";
  }
  for (const RequestStatus& r : requests)
    out += "  request in flight: " + r.what + " on " + r.child + ", waiting " + seconds(r.waited_s) + "\n";
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace strata
