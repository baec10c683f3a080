// worker/pod.cpp — a pod over MPI as the Worker sees it: joining MPI, rank 0's link to its ranks,
// every other rank's server, and the pod collectives an orchestration function on a rank calls.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "pod/mpi.hpp"
#include "pod/rank_server.hpp"
#include "pod/root_link.hpp"
#include "strata/half.hpp"
#include "trace/recorder.hpp"
#include "util/config.hpp"
#include "util/sys.hpp"
#include "worker/worker_impl.hpp"

namespace strata::detail {

void WorkerImpl::join_pod() {
  pod::Mpi& mpi = pod::Mpi::get();
  pod_rank_ = mpi.rank();
  pod_ranks_ = mpi.size();
  if (pod_ranks_ < 2)
    throw UsageError(
        "init(): a pod over MPI needs at least 2 ranks (rank 0 and one per child Worker); launch it "
        "with `mpirun -n 1+K " +
        std::string("<program>`"));
  const auto n = static_cast<int>(child_workers_.size());
  if (n != 1 && n != pod_ranks_ - 1)
    throw UsageError("init(): this pod over MPI has " + std::to_string(pod_ranks_ - 1) + " ranks besides rank 0 but " +
                     std::to_string(n) + " child Workers were added; add one (every rank runs it) or one per rank");
}

pod::Registry WorkerImpl::registry(const Worker& node) const {
  pod::Registry r;
  const WorkerImpl& n = const_cast<Worker&>(node).impl();
  for (const auto& k : n.callables_.kernels) r.kernels.push_back(k.name);
  for (const auto& h : n.callables_.hosts) r.hosts.push_back(h.name);
  for (const auto& h : callables_.hosts) r.hosts.push_back("pod:" + h.name);
  for (const auto& o : callables_.orchs) r.orchs.push_back(o.name);
  return r;
}

void WorkerImpl::init_pod_root(int64_t deadline_ns) {
  // A traced pod: every rank records its part into a spill of this size and sends it at close.
  const size_t trace_bytes = recorder_ ? config::get_u64("trace_spill_bytes") : 0;
  pod_ = std::make_unique<pod::RootLink>(*sup_, board_, arena_->base(), arena_->buffer_bytes(), arena_->heap_bytes(),
                                         ns(opts_.timeouts.heartbeat), trace_bytes);
  // Every rank's registrations against the Worker it runs here (one for all, or one each).
  pod_->handshake(registry(*child_workers_.front()), deadline_ns);
  sup_->set_remote(pod_.get(), pod::RootLink::ranks());
}

void WorkerImpl::start_pod_rank(supervisor::Child& c) {
  // In the trace, its tasks share the track of the rank's own orchestrator (same pid, moved as the rank
  // moves its pids).
  sup_->start_remote(c, (c.rank << 22) + pod_->pid_of(c.rank));
  pod_->start(c);
}

void WorkerImpl::serve_pod_rank() {
  ensure_arena();
  Worker& node = *child_workers_[child_workers_.size() == 1 ? 0 : static_cast<size_t>(pod_rank_ - 1)];
  pod::RankSetup s;
  s.node = &node;
  s.pod = &callables_;
  s.registry = registry(*child_workers_.front());
  s.memory = arena_->base();
  s.buffer_bytes = arena_->buffer_bytes();
  s.heap_bytes = arena_->heap_bytes();
  s.init_deadline_ns = sys::now_ns() + ns(opts_.timeouts.init);
  WorkerImpl& n = node.impl();
  n.inherit_arenas({});  // a pod's child Worker: it writes no trace file of its own
  const int rank = pod_rank_;
  const std::string graph = "rank " + std::to_string(rank) + " (L" + std::to_string(level_ - 1) + ")";
  s.trace_into = [&n, rank, graph](trace::SpillHeader* spill, size_t bytes, int64_t offset) {
    ChildTrace t;
    t.spill = spill;
    t.bytes = bytes;
    t.graph = graph;
    t.pid_base = rank << 22;  // above any Linux pid (at most 2^22)
    t.clock_offset_ns = offset;
    n.inherit_trace(std::move(t));
  };
  s.on_task = [&n](uint64_t task) { n.set_trace_parent_task(task); };
  n.accept_region(arena_->base(), arena_->buffer_bytes() + arena_->heap_bytes(),
                  "the pod's memory (rank 0's, copied here)");
  pod::RankServer server(std::move(s));
  n.set_pod_hook(&server);
  closed_ = true;  // whatever happens, this rank's pod is done when serve() returns
  try {
    server.serve();
  } catch (...) {
    n.set_pod_hook(nullptr);
    throw;
  }
  n.set_pod_hook(nullptr);
}

int WorkerImpl::pod_rank(ChildKind kind, int index) const noexcept {
  if (kind != ChildKind::Worker || index < 0 || !sup_ || index >= sup_->count(kind)) return -1;
  return sup_->child(kind, index).rank;
}

namespace {
// What every rank of a pod collective must agree on.
struct Signature {
  char name[48];
  uint64_t bytes;
  uint32_t dtype;
  int32_t op_or_root;  // ReduceOp for an allreduce; -1 - root for a broadcast
};
}  // namespace

void WorkerImpl::pod_collective(const std::string& name, const Tensor& t, ReduceOp op, bool bcast, int root_rank,
                                uint64_t run) {
  const std::string what = std::string(bcast ? "pod_broadcast('" : "pod_allreduce('") + name + "')";
  check_in_run(run, what.c_str());
  if (!pod_hook_)
    throw UsageError(what + ": only an orchestration function that a pod over MPI runs on its ranks can call it");
  std::string why;
  if (!t.data || !memory_->check(t.data, t.nbytes(), &why)) throw UsageError(what + ": the tensor " + why);
  pod::Mpi& mpi = pod::Mpi::get();
  if (bcast && (root_rank < 1 || root_rank >= mpi.size()))
    throw UsageError(what + ": root rank " + std::to_string(root_rank) + " is not a rank of this pod's Workers (1.." +
                     std::to_string(mpi.size() - 1) + ")");
  const bool half = t.dtype == DType::F16 || t.dtype == DType::BF16;
  if (!bcast && !half && !pod::Mpi::reducible(static_cast<int>(t.dtype)))
    throw UsageError(what + ": dtype " + dtype_name(t.dtype) +
                     " cannot be reduced; use f32, f64, i32, i64, f16 or bf16");
  if (!bcast && static_cast<uint32_t>(op) > static_cast<uint32_t>(ReduceOp::Avg))
    throw UsageError(what + ": unknown ReduceOp " + std::to_string(static_cast<uint32_t>(op)));
  // The collective reads and writes `t` here and now: what was submitted on it must be done first.
  sched_->wait_accessors(t.data, true);
  if (sched_->failure()) sched_->throw_failure();

  const int64_t deadline = sys::now_ns() + ns(opts_.timeouts.comm);
  // What MPI reads and writes besides `t` (strata memory, which outlives the pod's traffic). A collective
  // given up on may still touch it: it is then kept for the life of the process rather than freed.
  struct Scratch {
    Signature mine{};
    std::vector<Signature> all;
    std::vector<float> wide;
  };
  auto scratch = std::make_unique<Scratch>();
  auto wait = [&](pod::Request* r, const char* step) {
    while (!mpi.test(r)) {
      std::string stop;
      bool timed_out = false;
      try {
        pod_hook_->keep_up();
      } catch (const std::exception& e) {
        stop = e.what();
      }
      if (stop.empty() && sys::now_ns() >= deadline) {
        timed_out = true;
        stop = what + ": " + step + " did not complete within timeouts.comm (STRATA_COMM_TIMEOUT_MS): does every " +
               "rank call it?";
      }
      if (!stop.empty()) {
        mpi.abandon(r);
        (void)scratch.release();  // MPI may still write into it
        if (timed_out) throw TimeoutError(stop);
        throw Error(stop);
      }
      sys::yield();
    }
  };
  Signature& mine = scratch->mine;
  std::strncpy(mine.name, name.c_str(), sizeof mine.name - 1);
  mine.bytes = t.nbytes();
  mine.dtype = static_cast<uint32_t>(t.dtype);
  mine.op_or_root = bcast ? -1 - root_rank : static_cast<int32_t>(op);
  const int n = mpi.group_size(1);
  std::vector<Signature>& all = scratch->all;
  all.resize(static_cast<size_t>(n));
  pod::Request r = mpi.iallgather(&mine, sizeof mine, all.data(), 1);
  wait(&r, "agreeing on what to combine");
  for (int i = 0; i < n; ++i) {
    const Signature& s = all[static_cast<size_t>(i)];
    if (std::memcmp(&s, &mine, sizeof mine) != 0)
      throw Error(what + " on rank " + std::to_string(mpi.rank()) + ": rank " + std::to_string(i + 1) + " called '" +
                  std::string(s.name, strnlen(s.name, sizeof s.name)) + "' with " + std::to_string(s.bytes) +
                  " bytes (" + dtype_name(static_cast<DType>(s.dtype)) + ") where this rank has " +
                  std::to_string(mine.bytes) + " bytes (" + dtype_name(t.dtype) +
                  "): every rank must make the same pod collectives in the same order");
  }
  if (bcast) {
    r = mpi.ibcast(t.data, t.nbytes(), root_rank - 1, 1);
    wait(&r, "the broadcast");
    return;
  }
  const size_t count = t.numel();
  std::vector<float>& wide = scratch->wide;
  void* data = t.data;
  DType dtype = t.dtype;
  if (half) {
    wide.resize(count);
    const auto* h = static_cast<const uint16_t*>(t.data);
    for (size_t i = 0; i < count; ++i) wide[i] = t.dtype == DType::BF16 ? float_from_bf16(h[i]) : float_from_f16(h[i]);
    data = wide.data();
    dtype = DType::F32;
  }
  r = mpi.iallreduce(data, count, static_cast<int>(dtype), static_cast<int>(op), 1);
  wait(&r, "the allreduce");
  if (op == ReduceOp::Avg) {
    switch (dtype) {
      case DType::F32:
        for (size_t i = 0; i < count; ++i) static_cast<float*>(data)[i] /= static_cast<float>(n);
        break;
      case DType::F64:
        for (size_t i = 0; i < count; ++i) static_cast<double*>(data)[i] /= n;
        break;
      case DType::I32:
        for (size_t i = 0; i < count; ++i) static_cast<int32_t*>(data)[i] /= n;
        break;
      case DType::I64:
        for (size_t i = 0; i < count; ++i) static_cast<int64_t*>(data)[i] /= n;
        break;
      default:
        break;
    }
  }
  if (half) {
    auto* h = static_cast<uint16_t*>(t.data);
    for (size_t i = 0; i < count; ++i)
      h[i] = t.dtype == DType::BF16 ? bf16_from_float(wide[i]) : f16_from_float(wide[i]);
  }
}

}  // namespace strata::detail
