// worker/collective_calls.cpp — the Orchestrator's collective calls (allreduce, reduce_scatter,
// broadcast, allgather, alltoall): each checks its arguments against every member's ChipContext
// in the parent, then submits the shipped kernel (registered by every level 3 Worker at init()) as one
// group task with a part per member, so all parts start together. The kernels are described in
// docs/comm-kernels.md.
#include <string>
#include <vector>

#include "comm/collectives.hpp"
#include "strata/comm_kernel.hpp"
#include "worker/worker_impl.hpp"

namespace strata {
namespace {

/// What one collective call submits: a part per member.
struct GroupCall {
  std::vector<TaskArgs> args;
  std::vector<int> workers;
};

/// `name` on member `chip`, with the call's name in front of a missing buffer's message.
const DomainBuffer& member_buffer(const Domain& domain, int chip, std::string_view name, const char* call) {
  try {
    return domain[chip].buffer(name);
  } catch (const UsageError& e) {
    throw UsageError(std::string(call) + ": " + e.what() +
                     "; pass the name of one of the domain's buffers (DomainSpec::buffers)");
  }
}

void check_reducible(const DomainBuffer& b, ReduceOp op, const Domain& domain, const char* call) {
  if (static_cast<uint32_t>(op) > static_cast<uint32_t>(ReduceOp::Avg))
    throw UsageError(std::string(call) + ": unknown ReduceOp " + std::to_string(static_cast<uint32_t>(op)));
  if (!comm::reduce_supports(b.dtype))
    throw UsageError(std::string(call) + ": buffer '" + b.name + "' of domain '" + domain.name() + "' holds " +
                     dtype_name(b.dtype) + " elements; " + reduce_op_name(op) + " reduces " +
                     comm::reduce_dtypes_text() + " (declare the buffer with one of those dtypes)");
}

}  // namespace

TaskRef Orchestrator::allreduce(const Domain& domain, std::string_view buffer, ReduceOp op, const CallConfig& cfg) {
  GroupCall g;
  for (int chip : domain.workers()) {
    const DomainBuffer& b = member_buffer(domain, chip, buffer, "allreduce");
    check_reducible(b, op, domain, "allreduce");
    g.args.push_back(TaskArgs()
                         .inout(b.tensor())
                         .scalar(domain[chip].device_ctx)
                         .scalar(static_cast<uint32_t>(AllreduceAlgorithm::Auto))
                         .scalar(uint64_t{0})
                         .scalar(static_cast<uint32_t>(op)));
    g.workers.push_back(chip);
  }
  return submit_group(impl_->register_kernel("strata_allreduce", nullptr), std::move(g.args), cfg,
                      std::move(g.workers));
}

TaskRef Orchestrator::reduce_scatter(const Domain& domain, std::string_view send, std::string_view recv, ReduceOp op,
                                     const CallConfig& cfg) {
  GroupCall g;
  const auto ranks = static_cast<uint32_t>(domain.size());
  for (int chip : domain.workers()) {
    const DomainBuffer& s = member_buffer(domain, chip, send, "reduce_scatter");
    const DomainBuffer& r = member_buffer(domain, chip, recv, "reduce_scatter");
    check_reducible(s, op, domain, "reduce_scatter");
    const auto rank = static_cast<uint32_t>(domain[chip].rank);
    const size_t need = collective_part(s.count, ranks, rank).count;
    if (r.dtype != s.dtype || r.count < need)
      throw UsageError("reduce_scatter: the receive buffer '" + r.name + "' (" + std::to_string(r.count) + " x " +
                       dtype_name(r.dtype) + ") is too small or of another dtype: rank " + std::to_string(rank) +
                       " receives " + std::to_string(need) + " x " + dtype_name(s.dtype) + " of the " +
                       std::to_string(s.count) + " in '" + s.name + "' (strata::collective_part)");
    if (r.data == s.data)
      throw UsageError("reduce_scatter: send and receive are the same buffer '" + s.name +
                       "'; peers read the whole send buffer while each rank writes its part: use two buffers");
    g.args.push_back(TaskArgs()
                         .input(s.tensor())
                         .output_existing(r.tensor())
                         .scalar(domain[chip].device_ctx)
                         .scalar(static_cast<uint32_t>(op)));
    g.workers.push_back(chip);
  }
  return submit_group(impl_->register_kernel("strata_reduce_scatter", nullptr), std::move(g.args), cfg,
                      std::move(g.workers));
}

TaskRef Orchestrator::broadcast(const Domain& domain, std::string_view buffer, int root, const CallConfig& cfg) {
  int root_rank = -1;
  for (int chip : domain.workers())
    if (chip == root) root_rank = domain[chip].rank;
  if (root_rank < 0) {
    std::string members;
    for (int chip : domain.workers()) members += (members.empty() ? "" : ", ") + std::to_string(chip);
    throw UsageError("broadcast: root chip " + std::to_string(root) + " is not a member of domain '" + domain.name() +
                     "' (members: " + members + "); the root is a chip index");
  }
  GroupCall g;
  for (int chip : domain.workers()) {
    const DomainBuffer& b = member_buffer(domain, chip, buffer, "broadcast");
    g.args.push_back(
        TaskArgs().inout(b.tensor()).scalar(domain[chip].device_ctx).scalar(static_cast<uint32_t>(root_rank)));
    g.workers.push_back(chip);
  }
  return submit_group(impl_->register_kernel("strata_broadcast", nullptr), std::move(g.args), cfg,
                      std::move(g.workers));
}

TaskRef Orchestrator::allgather(const Domain& domain, std::string_view buffer, const CallConfig& cfg) {
  GroupCall g;
  for (int chip : domain.workers()) {
    const DomainBuffer& b = member_buffer(domain, chip, buffer, "allgather");
    g.args.push_back(TaskArgs().inout(b.tensor()).scalar(domain[chip].device_ctx));
    g.workers.push_back(chip);
  }
  return submit_group(impl_->register_kernel("strata_allgather", nullptr), std::move(g.args), cfg,
                      std::move(g.workers));
}

TaskRef Orchestrator::alltoall(const Domain& domain, std::string_view send, std::string_view recv,
                               const CallConfig& cfg) {
  GroupCall g;
  for (int chip : domain.workers()) {
    const DomainBuffer& s = member_buffer(domain, chip, send, "alltoall");
    const DomainBuffer& r = member_buffer(domain, chip, recv, "alltoall");
    if (s.count % static_cast<size_t>(domain.size()) != 0)
      throw UsageError("alltoall: the send buffer '" + s.name + "' has " + std::to_string(s.count) +
                       " elements, not a multiple of the domain size " + std::to_string(domain.size()) +
                       " (it holds one equal chunk per rank)");
    if (r.dtype != s.dtype || r.count < s.count)
      throw UsageError("alltoall: the receive buffer '" + r.name + "' (" + std::to_string(r.count) + " x " +
                       dtype_name(r.dtype) + ") is too small or of another dtype for the send buffer '" + s.name +
                       "' (" + std::to_string(s.count) + " x " + dtype_name(s.dtype) + ")");
    if (r.data == s.data)
      throw UsageError("alltoall: send and receive are the same buffer '" + s.name + "': use two buffers");
    Tensor rt = r.tensor();
    rt.shape[0] = static_cast<int64_t>(s.count);  // the kernel wants equal sizes; the rest stays untouched
    g.args.push_back(TaskArgs().input(s.tensor()).output_existing(rt).scalar(domain[chip].device_ctx));
    g.workers.push_back(chip);
  }
  return submit_group(impl_->register_kernel("strata_alltoall", nullptr), std::move(g.args), cfg, std::move(g.workers));
}

}  // namespace strata
