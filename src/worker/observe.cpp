// worker/observe.cpp — what a Worker shows of itself: the trace recorder (made at init, written at
// close), the stall watch and progress callbacks (driven by the supervisor's ticks while a run waits),
// and status(), the stall report as data.
//
// Progress, for the stall watch, is anything the children finish (a completion, a reply, a loss) or a
// task submitted; the watch runs only inside run() and only while the Worker waits. After timeouts.stall_warn
// without progress the report is logged, then again after twice as long, and so on; after
// timeouts.stall the child that has run its task the longest (or, none running, every child that owes
// work) is declared lost, and run() throws a TimeoutError carrying the report.
#include <algorithm>

#include "ipc/codec.hpp"
#include "pod/rank_server.hpp"
#include "pod/root_link.hpp"
#include "trace/recorder.hpp"
#include "util/config.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"
#include "worker/worker_impl.hpp"

namespace strata::detail {
namespace {

constexpr int64_t kProgressEveryNs = 200'000'000;
constexpr size_t kReportTasks = 50;  // unfinished tasks listed in a status (the rest are counted)

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

void log_report(const std::string& headline, const std::string& report) {
  STRATA_LOG_WARN("worker", "%s", headline.c_str());
  size_t begin = 0;
  while (begin < report.size()) {
    size_t end = report.find('\n', begin);
    if (end == std::string::npos) end = report.size();
    STRATA_LOG_WARN("worker", "  %s", report.substr(begin, end - begin).c_str());
    begin = end + 1;
  }
}

}  // namespace

// ---- the trace -------------------------------------------------------------------------------------

void WorkerImpl::inherit_trace(ChildTrace t) { inherited_trace_ = std::move(t); }

void WorkerImpl::set_trace_parent_task(uint64_t task) noexcept {
  if (recorder_) recorder_->set_parent_task(task);
}

void WorkerImpl::start_trace() {
  if constexpr (!trace::kCompiledIn) return;
  trace::RecorderOptions ro;
  if (inherited_trace_.spill) {
    ro.spill = inherited_trace_.spill;
    ro.spill_bytes = inherited_trace_.bytes;
    ro.graph = inherited_trace_.graph;
    ro.parent_graph = inherited_trace_.parent_graph;
    ro.pid_base = inherited_trace_.pid_base;
    ro.clock_offset_ns = inherited_trace_.clock_offset_ns;
  } else {
    // A child Worker of an untraced pod writes a file only if its own options name one (STRATA_TRACE,
    // inherited from the pod's process, is the pod's).
    ro.path = opts_.trace_path;
    if (ro.path.empty() && !inner_) ro.path = config::get_string("trace");
    if (ro.path.empty() || ro.path == "off") return;
  }
  ro.events_per_track = config::get_u64("trace_events");
  ro.level = level_;
  for (int k = 0; k < 3; ++k) ro.counts[k] = sup_->count(static_cast<ChildKind>(k));
  recorder_ = std::make_unique<trace::Recorder>(ro);
  obs_ = recorder_.get();
  // Child Workers record into shared memory this Worker merges at close: a pod gives one file.
  const size_t spill_bytes = config::get_u64("trace_spill_bytes");
  // (A pod over MPI: its ranks send their part when the pod closes; see finish_trace().)
  const int forked_workers = opts_.transport == Transport::Mpi ? 0 : sup_->count(ChildKind::Worker);
  for (int i = 0; i < forked_workers; ++i) {
    ipc::SharedMapping& m = spills_.emplace_back(std::max(spill_bytes, sizeof(trace::SpillHeader) + 4096));
    auto* header = static_cast<trace::SpillHeader*>(m.data());
    ChildTrace t;
    t.spill = header;
    t.bytes = m.size();
    t.graph = (ro.graph.empty() ? "" : ro.graph + " / ") + sup_->name(ChildKind::Worker, i);
    t.parent_graph = ro.graph;
    child_workers_[static_cast<size_t>(i)]->impl().inherit_trace(std::move(t));
    recorder_->add_child_spill(i, header);
  }
  sup_->set_observer(obs_);
  sched_->set_observer(obs_);
  domains_->set_observer(obs_);
}

void WorkerImpl::finish_trace() noexcept {
  if (!recorder_) return;
  obs_ = nullptr;
  if (sched_) sched_->set_observer(nullptr);
  if (sup_) sup_->set_observer(nullptr);
  if (domains_) domains_->set_observer(nullptr);
  // A pod over MPI: each rank's part arrived when it said goodbye.
  if (pod_ && sup_)
    for (int i = 0; i < sup_->count(ChildKind::Worker); ++i) recorder_->add_child_spill(i, pod_->trace_of(i));
  const std::string problem = recorder_->write();
  if (!problem.empty())
    STRATA_LOG_ERROR("worker", "the trace was not written: %s", problem.c_str());
  else if (!inherited_trace_.spill)
    STRATA_LOG_INFO("worker", "trace written to %s (%zu events dropped)", opts_.trace_path.c_str(),
                    recorder_->dropped());
  recorder_.reset();
  spills_.clear();
}

// ---- progress and stalls ---------------------------------------------------------------------------

void WorkerImpl::begin_watch(int64_t now) {
  run_begin_ns_ = now;
  progress_ns_ = now;
  progress_mark_ = sup_->delivered() + sched_->submitted();
  next_warn_ns_ = ns(opts_.timeouts.stall_warn);
  last_progress_report_ns_ = now;
  stall_report_.clear();
}

void WorkerImpl::on_tick(int64_t now) {
  if (!in_run_) return;
  if (opts_.on_wait) opts_.on_wait();
  if (pod_hook_) pod_hook_->background();  // a rank of a pod over MPI: heartbeats, the root's messages
  const uint64_t mark = sup_->delivered() + sched_->submitted();
  if (mark != progress_mark_) {
    progress_mark_ = mark;
    progress_ns_ = now;
    next_warn_ns_ = ns(opts_.timeouts.stall_warn);
  }
  if (opts_.on_progress && now - last_progress_report_ns_ >= kProgressEveryNs) {
    last_progress_report_ns_ = now;
    opts_.on_progress(RunProgress{runs_, sched_->submitted(), sched_->finished_count(), seconds(now - run_begin_ns_)});
  }
  const int64_t quiet = now - progress_ns_;
  if (opts_.timeouts.stall.count() > 0 && quiet >= ns(opts_.timeouts.stall) && stall_report_.empty()) {
    stall_timed_out(now, quiet);
    return;
  }
  if (next_warn_ns_ > 0 && quiet >= next_warn_ns_) {
    next_warn_ns_ *= 2;
    char headline[200];
    std::snprintf(headline, sizeof headline,
                  "run %llu has made no progress for %.1f s (WorkerOptions::timeouts.stall_warn %lld ms, "
                  "STRATA_STALL_WARN_MS); where it waits:",
                  static_cast<unsigned long long>(runs_), seconds(quiet),
                  static_cast<long long>(opts_.timeouts.stall_warn.count()));
    log_report(headline, status_at(now).to_string());
  }
}

void WorkerImpl::stall_timed_out(int64_t now, int64_t quiet) {
  const std::string report = status_at(now).to_string();
  char headline[200];
  std::snprintf(headline, sizeof headline,
                "run(): no progress for %.1f s (WorkerOptions::timeouts.stall %lld ms, STRATA_STALL_TIMEOUT_MS)",
                seconds(quiet), static_cast<long long>(opts_.timeouts.stall.count()));
  stall_report_ = std::string(headline) + "\n" + report;
  log_report(std::string(headline) + "; declaring the stuck child lost:", report);
  // The stuck child: the one that has run its task the longest; none running, every one that owes work.
  supervisor::Child* stuck = nullptr;
  int64_t oldest = INT64_MAX;
  for (supervisor::Child& c : sup_->children())
    if (auto r = sup_->running(c); r && r->start_ns < oldest) {
      oldest = r->start_ns;
      stuck = &c;
    }
  const std::string reason = "the run made no progress for " + std::to_string(quiet / 1000000) +
                             " ms (WorkerOptions::timeouts.stall, STRATA_STALL_TIMEOUT_MS)";
  if (stuck) {
    sup_->declare_lost(*stuck, reason);
    return;
  }
  bool any = false;
  for (supervisor::Child& c : sup_->children())
    if (c.alive() && !c.inflight.empty()) {
      sup_->declare_lost(c, reason);
      any = true;
    }
  if (!any) throw TimeoutError(stall_report_);
}

// ---- status ----------------------------------------------------------------------------------------

WorkerStatus WorkerImpl::status() const {
  if (!initialized_ || closed_) return {};
  return status_at(sys::now_ns());
}

WorkerStatus WorkerImpl::status_at(int64_t now) const {
  WorkerStatus st;
  st.in_run = in_run_;
  st.run = runs_;
  st.submitted = sched_->submitted();
  st.finished = sched_->finished_count();
  st.since_progress_s = in_run_ ? seconds(now - progress_ns_) : 0;
  for (const supervisor::Child& c : sup_->children()) {
    ChildStatus cs;
    cs.kind = c.kind;
    cs.index = c.index;
    cs.name = sup_->name(c);
    cs.state = supervisor::state_name(c.state);
    cs.pid = static_cast<int>(c.proc.pid());
    cs.generation = c.generation;
    cs.owed = c.inflight.size();
    if (auto r = sup_->running(c)) {
      cs.running_task = r->task;
      if (const std::string* name = sched_->task_name(r->task)) cs.running_name = *name;
      cs.running_for_s = seconds(now - r->start_ns);
    }
    cs.gone = c.gone_how;
    if (c.stopped_since != 0 && c.state != supervisor::ChildState::Lost && c.state != supervisor::ChildState::Dead)
      cs.stopped_for_s = seconds(now - c.stopped_since);
    for (const supervisor::InFlight& f : c.inflight)
      if (f.id & ipc::kControlIdBit)
        st.requests.push_back(RequestStatus{cs.name, f.what ? f.what : "a request", seconds(now - f.posted_ns)});
    st.children.push_back(std::move(cs));
  }
  st.unfinished_total = sched_->unfinished(&st.unfinished, kReportTasks);
  return st;
}

}  // namespace strata::detail
