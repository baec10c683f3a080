// supervisor/progress.cpp — the parent's progress loop: consuming completions, noticing deaths, stops
// and missed deadlines, and sleeping until something happens (see supervisor.hpp).
#include <poll.h>

#include <algorithm>
#include <cstring>

#include "ipc/codec.hpp"
#include "supervisor/supervisor.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata::supervisor {

std::string Supervisor::consume(Child& c) {
  bool any = false;
  while (c.state == ChildState::Ready || c.state == ChildState::Starting) {
    const ipc::Completion* cpl = c.channel.peek();
    if (!cpl) break;
    any = true;
    std::string bad;
    if (c.inflight.empty())
      bad = "a completion for #" + std::to_string(cpl->id) + " with nothing in flight";
    else if (cpl->id != c.inflight.front().id)
      bad = "a completion for #" + std::to_string(cpl->id) + " where #" + std::to_string(c.inflight.front().id) +
            " was next";
    else if (cpl->status >= ipc::kStatusCount)
      bad = "a completion with status " + std::to_string(cpl->status);
    else if (cpl->payload_bytes > ipc::kPayloadBytes)
      bad = "a completion with a payload of " + std::to_string(cpl->payload_bytes) + " bytes";
    if (!bad.empty()) {
      c.channel.publish_consumed();
      return bad;
    }
    const InFlight f = c.inflight.front();
    c.inflight.pop_front();
    if (f.timed_task) --c.timed_tasks;
    if (f.deadline_ns > 0) --c.deadline_frames;
    ++delivered_;
    if (f.id & ipc::kControlIdBit) {
      const auto status = static_cast<ipc::Status>(cpl->status);
      Reply r;
      r.kind = status == ipc::Status::Ok ? Reply::Kind::Ok : Reply::Kind::Failed;
      r.code = static_cast<ipc::ErrorCode>(cpl->code);
      r.detail = cpl->detail;
      r.payload.assign(c.channel.payload(*cpl));
      replies_[f.id] = std::move(r);
      c.channel.pop();
    } else {
      events_.on_task_completion(c, *cpl, c.channel.payload(*cpl));
      c.channel.pop();
    }
  }
  if (any) c.channel.publish_consumed();
  return {};
}

void Supervisor::check_health() {
  for (Child& c : children_)
    if (c.state == ChildState::Ready && c.channel.liveness_lost()) died(c, c.proc.reap(1000));
}

size_t Supervisor::poll() {
  const size_t before = delivered_;
  if (remote_) remote_->pump();
  for (Child& c : children_) {
    if (c.state != ChildState::Ready) continue;
    // A child that breaks the protocol cannot be trusted with more work: declared lost, once.
    if (const std::string bad = consume(c); !bad.empty()) {
      declare_lost(c, "it wrote a malformed completion (" + bad + ")");
      continue;
    }
    // The kernel marks the liveness word when the child dies: no system call needed to notice. The
    // process is exiting then: its pidfd becomes readable within moments.
    if (c.state == ChildState::Ready && c.channel.liveness_lost()) died(c, c.proc.reap(1000));
  }
  bool deadlines = false;
  for (const Child& c : children_) deadlines |= c.alive() && (c.timed_tasks != 0 || c.deadline_frames != 0);
  if (deadlines) check_deadlines(sys::now_ns());
  return delivered_ - before;
}

bool Supervisor::wake_due() const noexcept {
  // A remote child's answers arrive only through a pump: spinning pumps (the loop calls poll() after).
  if (remote_ && remote_->pump()) return true;
  for (const Child& c : children_)
    if (c.alive() && (c.channel.wake_due() || c.channel.liveness_lost())) return true;
  return false;
}

int64_t Supervisor::next_deadline() const noexcept {
  int64_t next = -1;
  auto take = [&](int64_t d) {
    if (d > 0 && (next < 0 || d < next)) next = d;
  };
  for (const Child& c : children_) {
    if (!c.alive()) continue;
    if (c.timed_tasks && !c.inflight.empty()) {
      const ipc::RunningTask r = c.channel.running();
      if (r.task == c.inflight.front().id) take(r.deadline_ns);
    }
    if (c.deadline_frames)
      for (const InFlight& f : c.inflight) take(f.deadline_ns);
  }
  return next;
}

void Supervisor::check_deadlines(int64_t now) {
  for (Child& c : children_) {
    if (!c.alive()) continue;
    if (c.timed_tasks && !c.inflight.empty()) {
      // The record names the last task the child started: it counts only while that task is still the
      // oldest one the child owes (its completion not yet consumed).
      const ipc::RunningTask r = c.channel.running();
      if (r.task != 0 && r.task == c.inflight.front().id && r.deadline_ns > 0 && now >= r.deadline_ns) {
        declare_lost(c, events_.describe_task(r.task) + " exceeded its timeout of " +
                            std::to_string((r.deadline_ns - r.start_ns) / 1000000) + " ms");
        continue;
      }
    }
    if (c.deadline_frames) {
      for (const InFlight& f : c.inflight) {
        if (f.deadline_ns > 0 && now >= f.deadline_ns) {
          declare_lost(c, "it did not answer " + std::string(f.what) +
                              " in time (WorkerOptions::timeouts.comm, STRATA_COMM_TIMEOUT_MS)");
          break;
        }
      }
    }
  }
}

void Supervisor::check_stopped(int64_t now) {
  if (opts_.stop_limit_ns <= 0) return;
  for (Child& c : children_) {
    if (!c.alive() || c.channel.in_flight() == 0) {
      c.stopped_since = 0;
      continue;
    }
    if (!c.proc.stopped()) {
      c.stopped_since = 0;
      continue;
    }
    if (c.stopped_since == 0) {
      c.stopped_since = now;
      STRATA_LOG_WARN("proc", "%s is stopped (SIGSTOP?) while %llu frames wait for it", name(c).c_str(),
                      static_cast<unsigned long long>(c.channel.in_flight()));
    } else if (now - c.stopped_since >= opts_.stop_limit_ns) {
      declare_lost(c, "it stayed stopped (SIGSTOP) for " + std::to_string((now - c.stopped_since) / 1000000) +
                          " ms while work waited for it (WorkerOptions::timeouts.comm, STRATA_COMM_TIMEOUT_MS)");
    }
  }
}

std::optional<ipc::RunningTask> Supervisor::running(const Child& c) const noexcept {
  if (!c.alive() || c.inflight.empty()) return std::nullopt;
  const ipc::RunningTask r = c.channel.running();
  if (r.task == 0 || r.task != c.inflight.front().id) return std::nullopt;
  return r;
}

void Supervisor::tick(bool slept) {
  if (!slept && ++waits_since_tick_ < 64) return;
  waits_since_tick_ = 0;
  const int64_t now = sys::now_ns();
  if (now - last_tick_ns_ < opts_.tick_ns) return;
  last_tick_ns_ = now;
  events_.on_tick(now);
}

void Supervisor::wait(int64_t deadline_ns, WaitCheck done) {
  if (poll()) {
    tick(false);
    return;
  }
  // Each child wakes us once half of what it has in flight is done: enough to refill its ring long
  // before it runs dry, and one wake-up per batch instead of one per task.
  for (Child& c : children_)
    if (c.alive() && c.channel.in_flight())
      c.channel.wake_at(c.channel.consumed() + std::max<uint64_t>(1, c.channel.in_flight() / 2));
  if (sys::spin_until([this] { return wake_due(); }, opts_.spin_ns)) {
    poll();
    tick(false);
    return;
  }
  ipc::EventCount ec = wake_->event_count();
  const uint32_t key = ec.prepare_wait();
  // Re-check after announcing ourselves (children notify only a parent that announced itself): what we
  // were asked to wake for, and what the caller waits for (e.g. a child reporting ready).
  bool ready = wake_due();
  try {
    ready = ready || (done.fn && done.fn(done.arg));
  } catch (...) {
    ec.cancel_wait(key);
    throw;
  }
  if (ready) {
    ec.cancel_wait(key);
    poll();
    tick(false);
    return;
  }
  const int64_t now = sys::now_ns();
  int64_t until = now + opts_.slice_ns;
  bool slice_bound = true;
  auto bound = [&](int64_t d) {
    if (d >= 0 && d < until) {
      until = d;
      slice_bound = false;
    }
  };
  bound(deadline_ns);
  bound(next_deadline());
  if (remote_) bound(now + remote_->nap_ns());
  fds_.clear();
  fd_children_.clear();
  for (Child& c : children_) {
    if (c.state != ChildState::Ready && c.state != ChildState::Starting) continue;
    if (c.proc.pidfd() < 0) continue;
    fds_.push_back(pollfd{c.proc.pidfd(), POLLIN, 0});
    fd_children_.push_back(&c);
  }
  const int rc = ec.commit_wait_fds(key, fds_, std::max<int64_t>(until - now, 0));
  for (size_t i = 0; i < fds_.size(); ++i) {
    Child& c = *fd_children_[i];
    // A child that dies while starting is wait_ready's to report (it reaps it).
    if ((fds_[i].revents & POLLIN) && c.state == ChildState::Ready) {
      std::string how;
      if (c.proc.try_reap(&how)) died(c, how);
    }
  }
  const size_t progressed = poll();
  if (rc == 0 && progressed == 0 && slice_bound) check_stopped(sys::now_ns());
  tick(true);
}

}  // namespace strata::supervisor
