// worker/run.cpp — run(): the orchestration function, the drain, the end-of-run domain frees; and the
// calls an Orchestrator forwards here (submit, alloc, scopes, domains, copies).
#include <exception>
#include <utility>

#include "util/log.hpp"
#include "util/sys.hpp"
#include "worker/worker_impl.hpp"

namespace strata::detail {

void WorkerImpl::check_in_run(uint64_t run, const char* what) const {
  if (!in_run_ || run != run_)
    throw UsageError(std::string(what) +
                     " outside run(): an Orchestrator is valid only inside the run() that handed it to the "
                     "orchestration function");
}

void WorkerImpl::run(const std::function<void(Orchestrator&)>& fn) {
  check_usable("run()");
  if (in_run_) throw UsageError("run() inside run(): runs do not nest; submit tasks through the Orchestrator");
  in_run_ = true;
  ++run_;
  ++runs_;
  const int64_t begin = sys::now_ns();
  sched_->begin_run();
  sched_->set_run(runs_);
  begin_watch(begin);
  domains_->set_in_run(true);
  std::exception_ptr orch_error;
  Orchestrator o(this, run_);
  try {
    fn(o);
  } catch (...) {
    orch_error = std::current_exception();
  }
  try {
    sched_->drain();
  } catch (...) {
    if (!orch_error) orch_error = std::current_exception();
  }
  domains_->set_in_run(false);
  // Released domains are freed only now that nothing submitted can touch them; a failed run also sweeps
  // the domains left live.
  const bool failed = orch_error != nullptr || sched_->failure().has_value() || sup_->first_gone() != nullptr;
  const std::string free_problem = domains_->end_run(failed);
  const std::optional<graph::RunFailure> failure = sched_->failure();
  sched_->end_run();
  in_run_ = false;
  ++run_;  // invalidates the Orchestrator (and Scopes) of the run that ended
  STRATA_OBSERVE(obs_, span(trace::Span::Run, begin, sys::now_ns(), "run " + std::to_string(runs_)));
  // A run that passed timeouts.stall fails with the stall report, whatever else the stuck child's loss
  // made fail.
  if (!stall_report_.empty()) throw TimeoutError(std::exchange(stall_report_, {}));
  if (orch_error) {
    if (failure)
      STRATA_LOG_DEBUG("sched", "run(): the orchestration function threw; task #%llu '%s' failed: %s",
                       static_cast<unsigned long long>(failure->task), failure->name.c_str(), failure->message.c_str());
    std::rethrow_exception(orch_error);
  }
  if (failure) throw failure->error(level_);
  if (!free_problem.empty()) throw ChildDiedError("run(): " + free_problem);
  // A child that died (or broke the protocol) during the run without failing one of its tasks is
  // reported by the run too.
  sup_->poll();
  if (const supervisor::Child* c = sup_->first_gone())
    throw ChildDiedError("run(): " + sup_->gone_text(*c) + "; call respawn() to restart it, or close() this Worker");
}

void WorkerImpl::cancel_run(const std::string& reason) {
  if (!in_run_) throw UsageError("cancel_run() outside run(): there is no run to cancel");
  // Cancel first, so no task is pushed to a survivor while the others are being killed.
  sched_->cancel(reason);
  for (supervisor::Child& c : sup_->children())
    if (c.alive() && !c.inflight.empty()) sup_->declare_lost(c, "the run was cancelled (" + reason + ")");
}

TaskRef WorkerImpl::submit(ChildKind kind, uint32_t callable, std::span<TaskArgs> parts, const CallConfig& cfg,
                           std::span<const int> members, uint64_t run, const char* what) {
  check_in_run(run, what);
  const size_t table = kind == ChildKind::Chip  ? callables_.kernels.size()
                       : kind == ChildKind::Sub ? callables_.hosts.size()
                                                : callables_.orchs.size();
  if (callable >= table)
    throw UsageError(std::string(what) + ": " + child_kind_name(kind) + " callable id " +
                     (callable == UINT32_MAX ? std::string("(none)") : std::to_string(callable)) +
                     " was not registered with this Worker (use the handle its register call returned)");
  graph::Submission s;
  s.kind = kind;
  s.callable = callable;
  s.name = kind == ChildKind::Chip  ? &callables_.kernels[callable].name
           : kind == ChildKind::Sub ? &callables_.hosts[callable].name
                                    : &callables_.orchs[callable].name;
  s.parts = parts;
  s.cfg = cfg;
  s.members = members;
  s.what = what;
  return sched_->submit(s);
}

Tensor WorkerImpl::alloc(std::span<const int64_t> shape, DType dtype, uint64_t run) {
  check_in_run(run, "alloc");
  return sched_->alloc(shape, dtype);
}

uint32_t WorkerImpl::scope_open(uint64_t run) {
  check_in_run(run, "scope");
  return sched_->scope_open();
}

void WorkerImpl::scope_close(uint32_t depth, uint64_t run) {
  if (!in_run_ || run != run_) return;  // the run already freed everything
  sched_->scope_close(depth);
}

Domain WorkerImpl::allocate_domain(const DomainSpec& spec, uint64_t run) {
  const std::string what = "allocate_domain('" + spec.name + "')";
  check_in_run(run, what.c_str());
  if (level_ != 3 || sup_->count(ChildKind::Chip) == 0)
    throw UsageError(what + ": a level " + std::to_string(level_) +
                     " Worker has no chips, and communication domains stay inside a host: allocate them in an "
                     "orchestration function that a child Worker (or a pod's rank) runs over its own chips");
  return domains_->allocate(spec);
}

void WorkerImpl::copy(const DomainBuffer& buf, void* host, size_t bytes, bool to_device, uint64_t run) {
  check_in_run(run, to_device ? "copy_to" : "copy_from");
  domains_->copy(buf, host, bytes, to_device);
}

}  // namespace strata::detail
