// worker/orchestrator.cpp — Orchestrator and Scope: thin forwarding into WorkerImpl (which checks the
// run is still the one that handed the Orchestrator out).
#include <utility>

#include "worker/worker_impl.hpp"

namespace strata {

TaskRef Orchestrator::submit(Kernel kernel, TaskArgs args, const CallConfig& cfg, int worker) {
  return impl_->submit(ChildKind::Chip, kernel.id, {&args, 1}, cfg, {&worker, 1}, run_, "submit");
}

TaskRef Orchestrator::submit(OrchFn fn, TaskArgs args, const CallConfig& cfg, int worker) {
  if (impl_->level() < 4)
    throw UsageError("submit of an orchestration function on a level 3 Worker: it has no child Workers");
  return impl_->submit(ChildKind::Worker, fn.id, {&args, 1}, cfg, {&worker, 1}, run_, "submit");
}

TaskRef Orchestrator::submit_group(Kernel kernel, std::vector<TaskArgs> args, const CallConfig& cfg,
                                   std::vector<int> workers) {
  if (workers.empty()) throw UsageError("submit_group: the group has no workers");
  if (args.size() != workers.size())
    throw UsageError("submit_group: " + std::to_string(args.size()) + " argument sets for " +
                     std::to_string(workers.size()) + " workers; give one TaskArgs per worker");
  return impl_->submit(ChildKind::Chip, kernel.id, args, cfg, workers, run_, "submit_group");
}

TaskRef Orchestrator::submit_host(HostFn fn, TaskArgs args, const CallConfig& cfg, int worker) {
  return impl_->submit(ChildKind::Sub, fn.id, {&args, 1}, cfg, {&worker, 1}, run_, "submit_host");
}

Tensor Orchestrator::alloc(std::initializer_list<int64_t> shape, DType dtype) {
  return impl_->alloc(std::span<const int64_t>(shape.begin(), shape.size()), dtype, run_);
}

Scope Orchestrator::scope() { return Scope(impl_, run_, impl_->scope_open(run_)); }

Domain Orchestrator::allocate_domain(DomainSpec spec) { return impl_->allocate_domain(spec, run_); }

void Orchestrator::copy_to(const DomainBuffer& dst, const void* src, size_t bytes) {
  impl_->copy(dst, const_cast<void*>(src), bytes, true, run_);
}

void Orchestrator::copy_from(void* dst, const DomainBuffer& src, size_t bytes) {
  impl_->copy(src, dst, bytes, false, run_);
}

int Orchestrator::level() const noexcept { return impl_->level(); }

void Orchestrator::pod_allreduce(const std::string& name, const Tensor& t, ReduceOp op) {
  impl_->pod_collective(name, t, op, false, 0, run_);
}

void Orchestrator::pod_broadcast(const std::string& name, const Tensor& t, int root_rank) {
  impl_->pod_collective(name, t, ReduceOp::Sum, true, root_rank, run_);
}
int Orchestrator::chip_count() const noexcept { return impl_->count(ChildKind::Chip); }
int Orchestrator::sub_count() const noexcept { return impl_->count(ChildKind::Sub); }
int Orchestrator::worker_count() const noexcept { return impl_->count(ChildKind::Worker); }

Scope::Scope(Scope&& other) noexcept
    : impl_(std::exchange(other.impl_, nullptr)), run_(other.run_), depth_(other.depth_) {}

Scope::~Scope() {
  try {
    close();
  } catch (...) {
    // Out-of-order closing from a destructor: the run frees the memory at its end anyway.
  }
}

void Scope::close() {
  if (!impl_) return;
  detail::WorkerImpl* impl = std::exchange(impl_, nullptr);
  impl->scope_close(depth_, run_);
}

}  // namespace strata
