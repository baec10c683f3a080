// worker/worker_link.cpp — the Worker as the scheduler's graph::Link (over its supervisor) and as the
// supervisor's Events (routed to the scheduler and the domain manager).
#include "worker/worker_impl.hpp"

namespace strata::detail {

// ---- supervisor::Events ----------------------------------------------------------------------------

void WorkerImpl::on_task_completion(const supervisor::Child& c, const ipc::Completion& cpl, std::string_view payload) {
  sched_->on_completion(cpl.id, cpl.part, c.kind, c.index, static_cast<ipc::Status>(cpl.status), payload, cpl.detail,
                        cpl.start_ns, cpl.end_ns);
}

void WorkerImpl::on_child_gone(const supervisor::Child& c, std::span<const uint64_t> ids, uint64_t running,
                               int64_t running_start_ns, const std::string& running_msg,
                               const std::string& queued_msg) {
  if (sched_) sched_->on_lost(c.kind, c.index, ids, running, running_start_ns, running_msg, queued_msg);
  if (domains_ && c.kind == ChildKind::Chip) domains_->on_chip_gone(c.index, c.gone_how);
}

std::string WorkerImpl::describe_task(uint64_t id) const {
  const std::string* name = sched_ ? sched_->task_name(id) : nullptr;
  return "task #" + std::to_string(id) + (name ? " '" + *name + "'" : "");
}

// ---- graph::Link -----------------------------------------------------------------------------------

bool WorkerImpl::alive(ChildKind kind, int index) const noexcept { return sup_->child(kind, index).alive(); }

std::string WorkerImpl::gone(ChildKind kind, int index) const { return sup_->child(kind, index).gone_how; }

std::string WorkerImpl::name(ChildKind kind, int index) const { return sup_->name(kind, index); }

uint64_t WorkerImpl::load(ChildKind kind, int index) const noexcept {
  return sup_->child(kind, index).channel.in_flight();
}

bool WorkerImpl::has_room(ChildKind kind, int index) const noexcept { return sup_->has_room(sup_->child(kind, index)); }

uint64_t WorkerImpl::in_flight() const noexcept { return sup_->in_flight(); }

void WorkerImpl::post(ChildKind kind, int index, const unsigned char* frame, size_t len, uint64_t task,
                      std::span<const uint64_t> deps) {
  sup_->post_task(sup_->child(kind, index), frame, len, task, deps);
}

void WorkerImpl::flush() { sup_->flush(); }

void WorkerImpl::poll() { sup_->poll(); }

void WorkerImpl::wait(int64_t deadline_ns) { sup_->wait(deadline_ns); }

}  // namespace strata::detail
