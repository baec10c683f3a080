// The parent's side of the mailboxes: consuming completions, waiting (spin, then poll on the wake-up
// eventfd and every child's pidfd), noticing deaths and task timeouts, and control requests.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/worker_impl.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata::detail {

// True once some child has posted as many completions as the parent asked to be woken for.
bool WorkerImpl::wake_threshold_reached() const noexcept {
  for (const ChildSlot& c : children_)
    if (c.alive && c.load() != 0 &&
        c.mb->header.cpl_head.load(std::memory_order_acquire) >=
            c.mb->header.parent_wake_at.load(std::memory_order_relaxed))
      return true;
  return false;
}

size_t WorkerImpl::poll_completions() {
  size_t n = 0;
  for (ChildSlot& c : children_) {
    if (!c.alive) continue;  // handle_death consumed what it posted before dying
    const uint64_t head = c.mb->header.cpl_head.load(std::memory_order_acquire);
    while (c.completed != head) {
      const ipc::CompletionSlot& s = c.mb->completions[c.completed % ipc::kCompletionSlots];
      const uint64_t id = s.task_id;
      if (c.inflight.empty() || c.inflight.front() != id) {
        // A child that breaks the protocol cannot be trusted with more work.
        STRATA_LOG_ERROR("mailbox", "%s posted a completion for #%llu out of order; killing it",
                         child_name(c.kind, c.index).c_str(), static_cast<unsigned long long>(id));
        c.kill_reason = "it broke the mailbox protocol";
        c.proc.kill();
        break;
      }
      c.inflight.pop_front();
      ++c.completed;
      c.mb->header.cpl_tail.store(c.completed, std::memory_order_release);
      ++n;
      if (id & kControlIdBit) continue;  // control() reads its own result
      const auto status = static_cast<ipc::CompletionStatus>(s.status);
      TaskRecord& t = record(id);
      std::string msg(s.message, strnlen(s.message, sizeof s.message));
      if (status == ipc::CompletionStatus::Poisoned) {
        const uint64_t dep = s.detail;
        msg = "not run: it depends on task #" + std::to_string(dep) + ", which failed";
        if (ring_->live(dep))
          msg = "not run: it depends on task #" + std::to_string(dep) + " '" + *record(dep).name + "', which failed";
      }
      part_finished(t, status != ipc::CompletionStatus::Ok, status == ipc::CompletionStatus::Poisoned, std::move(msg),
                    c.kind, c.index);
    }
  }
  return n;
}

void WorkerImpl::wait_progress(int64_t deadline_ns) {
  if (poll_completions()) return;
  // Wake for half of what each child has in flight: enough to refill its ring long before it runs dry,
  // and one wake-up per batch instead of one per task. Every pushed task finishes (children only wait
  // for tasks pushed before theirs), so each threshold is reached.
  for (ChildSlot& c : children_)
    c.mb->header.parent_wake_at.store(c.completed + std::max<uint64_t>(1, c.load() / 2), std::memory_order_relaxed);
  if (sys::spin_until([this] { return wake_threshold_reached(); }, spin_ns_)) {
    poll_completions();
    return;
  }
  std::atomic<uint32_t>& sleeping = board_->header.parent_sleeping;
  sleeping.store(1, std::memory_order_release);  // publishes parent_wake_at with it
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!wake_threshold_reached()) {
    // Sleep until a completion, a death, a task deadline or our own deadline.
    int64_t now = sys::now_ns();
    int64_t until = deadline_ns;
    for (ChildSlot& c : children_) {
      const int64_t d = c.alive ? c.mb->header.running_deadline_ns.load(std::memory_order_acquire) : 0;
      if (d > 0 && (until < 0 || d < until)) until = d;
    }
    std::vector<pollfd> fds;
    fds.reserve(children_.size() + 1);
    fds.push_back({wake_fd_, POLLIN, 0});
    for (ChildSlot& c : children_)
      if (c.alive) fds.push_back({c.proc.pidfd(), POLLIN, 0});
    timespec ts{};
    timespec* tsp = nullptr;
    if (until >= 0) {
      const int64_t left = std::max<int64_t>(until - now, 0);
      ts.tv_sec = static_cast<time_t>(left / 1000000000);
      ts.tv_nsec = static_cast<long>(left % 1000000000);
      tsp = &ts;
    }
    const int rc = ppoll(fds.data(), fds.size(), tsp, nullptr);
    if (rc < 0 && errno != EINTR) STRATA_LOG_ERROR("sched", "%s", sys::errno_message("ppoll", errno).c_str());
  }
  sleeping.store(0, std::memory_order_relaxed);
  uint64_t v;
  while (read(wake_fd_, &v, sizeof v) > 0) {
  }
  poll_completions();
  const int64_t now = sys::now_ns();
  check_task_timeouts(now);
  for (ChildSlot& c : children_) {
    if (!c.alive) continue;
    std::string how;
    if (c.proc.try_reap(&how)) {
      c.death = how;
      handle_death(c);
    }
  }
}

void WorkerImpl::check_task_timeouts(int64_t now) {
  for (ChildSlot& c : children_) {
    if (!c.alive) continue;
    const int64_t d = c.mb->header.running_deadline_ns.load(std::memory_order_acquire);
    if (d <= 0 || now < d) continue;
    const uint64_t id = c.mb->header.running_task.load(std::memory_order_acquire);
    if (id == 0 || !ring_->live(id)) continue;
    const TaskRecord& t = record(id);
    c.kill_reason = "task #" + std::to_string(id) + " '" + *t.name + "' exceeded its timeout of " +
                    std::to_string(t.timeout_ns / 1000000) + " ms, so " + child_name(c.kind, c.index) + " was killed";
    STRATA_LOG_WARN("sched", "%s", c.kill_reason.c_str());
    c.proc.kill();
    c.death = c.proc.reap(1000);
    handle_death(c);
  }
}

void WorkerImpl::handle_death(ChildSlot& c) {
  const std::string who = child_name(c.kind, c.index);
  if (!c.kill_reason.empty()) c.death = c.kill_reason + " (" + c.death + ")";
  STRATA_LOG_INFO("sched", "%s died: %s", who.c_str(), c.death.c_str());
  if (broken_.empty()) broken_ = who + " died: " + c.death;
  // Completions it posted before dying are still valid: take them, then everything after is lost.
  poll_completions();
  c.alive = false;
  c.lost_from = c.completed;
  const uint64_t running = c.mb->header.running_task.load(std::memory_order_acquire);
  std::deque<uint64_t> lost;
  lost.swap(c.inflight);
  c.completed = c.pushed;
  for (uint64_t id : lost) {
    if (id & kControlIdBit) continue;
    TaskRecord& t = record(id);
    if (t.finished) continue;
    ipc::board_force_failed(board_, id);
    std::string msg = !c.kill_reason.empty() && id == running ? c.kill_reason
                      : id == running                         ? who + " died while running it: " + c.death
                                                              : "not run: " + who + " died (" + c.death + ")";
    part_finished(t, true, id != running, std::move(msg), c.kind, c.index);
  }
}

uint64_t WorkerImpl::control_post(ChildSlot& c, const unsigned char* frame, size_t len) {
  while (c.alive && !c.has_room()) wait_progress(-1);
  const uint64_t index = c.pushed;
  if (!c.alive) return index;
  const uint64_t id = kControlIdBit | ++control_seq_;
  unsigned char* slot = c.mb->requests[c.pushed % ipc::kRequestSlots];
  std::memcpy(slot, frame, len);
  reinterpret_cast<ipc::FrameHeader*>(slot)->task_id = id;
  c.inflight.push_back(id);
  ++c.pushed;
  ipc::mailbox_publish_requests(c.mb, c.pushed);
  return index;
}

bool WorkerImpl::control_wait(ChildSlot& c, uint64_t index, ipc::CompletionSlot* reply, std::string* error,
                              int64_t deadline_ns) {
  while (c.alive && c.completed <= index) {
    if (deadline_ns >= 0 && sys::now_ns() >= deadline_ns) {
      *error = child_name(c.kind, c.index) + " did not answer in time";
      return false;
    }
    wait_progress(deadline_ns);
  }
  if (!c.alive && index >= c.lost_from) {
    *error = child_name(c.kind, c.index) + " died: " + c.death;
    return false;
  }
  // The slot stays ours until the parent pushes kCompletionSlots more frames to this child.
  *reply = c.mb->completions[index % ipc::kCompletionSlots];
  if (reply->status != static_cast<int32_t>(ipc::CompletionStatus::Ok)) {
    *error = std::string(reply->message, strnlen(reply->message, sizeof reply->message));
    return false;
  }
  return true;
}

uint64_t WorkerImpl::control(ChildSlot& c, const unsigned char* frame, size_t len, std::string* error) {
  if (!c.alive) {
    *error = child_name(c.kind, c.index) + " is dead (" + c.death + ")";
    return 0;
  }
  ipc::CompletionSlot reply;
  const uint64_t index = control_post(c, frame, len);
  control_wait(c, index, &reply, error, -1);
  return index;
}

void WorkerImpl::post_shutdown(ChildSlot& c) noexcept {
  if (!c.alive || !c.has_room()) {
    c.proc.kill();
    return;
  }
  unsigned char* slot = c.mb->requests[c.pushed % ipc::kRequestSlots];
  ipc::encode_shutdown(slot);
  ++c.pushed;
  ipc::mailbox_publish_requests(c.mb, c.pushed);
}

}  // namespace strata::detail
