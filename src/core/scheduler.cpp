// The scheduler: submit -> eligible -> pushed -> finished -> retired (see worker_impl.hpp), failure
// poisoning, drain, and run().
#include <algorithm>
#include <cstring>

#include "core/worker_impl.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata::detail {

void WorkerImpl::check_in_run(uint64_t run, const char* what) const {
  if (!in_run_ || run != run_)
    throw UsageError(std::string(what) +
                     " outside run(): an Orchestrator is valid only inside the run() that "
                     "handed it to the orchestration function");
}

void WorkerImpl::run(const std::function<void(Orchestrator&)>& fn) {
  check_usable("run()");
  if (in_run_) throw UsageError("run() inside run(): runs do not nest; submit tasks through the Orchestrator");
  in_run_ = true;
  ++run_;
  scope_depth_ = 0;
  first_failure_.reset();
  std::exception_ptr orch_error;
  Orchestrator o(this, run_);
  try {
    fn(o);
  } catch (...) {
    orch_error = std::current_exception();
  }
  try {
    drain();
  } catch (...) {
    if (!orch_error) orch_error = std::current_exception();
  }
  // Released domains are freed only now that nothing submitted can touch them; a failed run also
  // sweeps the domains left live.
  domains_end_run(orch_error != nullptr || first_failure_.has_value());
  end_run();
  if (orch_error) {
    if (first_failure_)
      STRATA_LOG_WARN("sched", "run(): the orchestration function threw; task #%llu '%s' also failed: %s",
                      static_cast<unsigned long long>(first_failure_->id), first_failure_->name->c_str(),
                      first_failure_->error.c_str());
    std::rethrow_exception(orch_error);
  }
  if (first_failure_) throw_run_failure();
}

void WorkerImpl::end_run() noexcept {
  in_run_ = false;
  ++run_;  // invalidates the Orchestrator (and Scopes) of the run that ended
  deps_.clear();
  failed_ids_.clear();
  eligible_.clear();
  if (heap_) heap_->reset();
  scope_depth_ = 0;
}

void WorkerImpl::throw_run_failure() {
  const TaskRecord& f = *first_failure_;
  std::string where = f.fail_child >= 0 ? " on " + child_name(f.fail_kind, f.fail_child) : "";
  std::string what = "task #" + std::to_string(f.id) + " '" + *f.name + "' failed" + where + ": " + f.error;
  TaskError e(what, f.id, *f.name, f.fail_kind, f.fail_child, f.error);
  first_failure_.reset();
  throw e;
}

void WorkerImpl::drain() {
  while (!ring_->empty()) {
    push_eligible();
    if (ring_->empty()) break;
    wait_progress(-1);
  }
}

void WorkerImpl::acquire_slot(const char* what) {
  if (!ring_->full()) return;
  const int64_t deadline = sys::now_ns() + submit_timeout_ns_;
  while (ring_->full()) {
    push_eligible();
    if (sys::now_ns() >= deadline)
      throw TimeoutError(std::string(what) + ": the task ring has been full (" + std::to_string(ring_->capacity()) +
                         " tasks in flight) for " + std::to_string(opts_.submit_timeout.count()) +
                         " ms; raise WorkerOptions::task_ring (STRATA_TASK_RING) or submit_timeout "
                         "(STRATA_SUBMIT_TIMEOUT_MS), or check for tasks that cannot finish");
    wait_progress(deadline);
  }
}

void* WorkerImpl::heap_alloc(size_t bytes, const char* what) {
  if (!heap_->could_fit(bytes))
    throw UsageError(std::string(what) + ": " + std::to_string(bytes) + " bytes is more than the whole run heap (" +
                     std::to_string(heap_->capacity()) +
                     " bytes); raise WorkerOptions::heap_bytes (STRATA_HEAP_BYTES)");
  const int64_t deadline = sys::now_ns() + submit_timeout_ns_;
  for (;;) {
    heap_->reclaim(ring_->tail());
    if (void* p = heap_->try_alloc(bytes, scope_depth_)) return p;
    if (ring_->empty() || sys::now_ns() >= deadline)
      throw TimeoutError(std::string(what) + ": the run heap has no room for " + std::to_string(bytes) + " bytes (" +
                         std::to_string(heap_->used()) + " of " + std::to_string(heap_->capacity()) +
                         " bytes held by open scopes or unfinished tasks); raise WorkerOptions::heap_bytes "
                         "(STRATA_HEAP_BYTES) or close scopes sooner");
    push_eligible();
    wait_progress(deadline);
  }
}

TaskRef WorkerImpl::submit(ChildKind kind, uint32_t callable, std::span<TaskArgs> parts, const CallConfig& cfg,
                           std::span<const int> members, uint64_t run) {
  const char* what = kind == ChildKind::Chip ? "submit" : kind == ChildKind::Sub ? "submit_host" : "submit";
  check_in_run(run, what);
  // No check for dead children here: a task aimed at one fails when pushed, so run() still reports the
  // task that died with its child as the first failure.
  const int n = count_[static_cast<int>(kind)];
  const char* kname = child_kind_name(kind);
  // Validate everything before taking any resource, so a rejected submit changes nothing.
  const size_t table = kind == ChildKind::Chip  ? kernels_.size()
                       : kind == ChildKind::Sub ? hosts_.size()
                                                : orchs_.size();
  if (callable >= table)
    throw UsageError(std::string(what) + ": callable id " + std::to_string(callable) +
                     " was not registered with this Worker");
  const std::string* name = kind == ChildKind::Chip  ? &kernels_[callable].name
                            : kind == ChildKind::Sub ? &hosts_[callable].name
                                                     : &orchs_[callable].name;
  if (n == 0)
    throw UsageError(std::string(what) + " of '" + *name + "': this Worker has no " + kname +
                     (kind == ChildKind::Sub ? " workers (WorkerOptions::sub_workers)" : "s"));
  if (cfg.block_dim == 0) throw UsageError(std::string(what) + " of '" + *name + "': CallConfig::block_dim is 0");
  if (cfg.timeout.count() < 0) throw UsageError(std::string(what) + " of '" + *name + "': negative timeout");
  for (int m : members)
    if (m != kAnyWorker && (m < 0 || m >= n))
      throw UsageError(std::string(what) + " of '" + *name + "': " + kname + " " + std::to_string(m) +
                       " is out of range: this Worker has " + std::to_string(n) + " " + kname + "s (0.." +
                       std::to_string(n - 1) + ")");
  if (members.size() > 1) {
    std::vector<int> sorted(members.begin(), members.end());
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() || sorted.front() == kAnyWorker)
      throw UsageError("submit_group of '" + *name + "': workers must be distinct chip indices");
  }
  if (!domains_.empty())
    for (const TaskArgs& a : parts) check_not_released_domain(a, *name);
  for (const TaskArgs& a : parts) {
    const size_t bytes = ipc::task_frame_bytes(a.tensors(), a.scalar_count());
    if (bytes > ipc::kRequestSlotBytes)
      throw UsageError(std::string(what) + " of '" + *name + "': its arguments (" + std::to_string(a.tensor_count()) +
                       " tensors, " + std::to_string(a.scalar_count()) + " scalars) need " + std::to_string(bytes) +
                       " bytes but a mailbox frame holds " + std::to_string(ipc::kRequestSlotBytes) +
                       "; pass fewer or lower-dimensional tensors, or pack scalars into a buffer");
    for (size_t i = 0; i < a.tensor_count(); ++i) {
      const Tensor& t = a.tensor(i);
      if (dtype_size(t.dtype) == 0 || t.ndim > kMaxDims)
        throw UsageError(std::string(what) + " of '" + *name + "': tensor " + std::to_string(i) + " is malformed");
      if (t.data == nullptr && a.tag(i) != Tag::Output && a.tag(i) != Tag::NoDep)
        throw UsageError(std::string(what) + " of '" + *name + "': tensor " + std::to_string(i) + " (" +
                         tag_name(a.tag(i)) + ") has a null address; only OUTPUT tensors are allocated by strata");
    }
  }

  acquire_slot(what);
  // OUTPUTs with a null address come from the run heap, in the current scope.
  for (TaskArgs& a : parts)
    for (size_t i = 0; i < a.tensor_count(); ++i)
      if (a.tag(i) == Tag::Output && a.tensor(i).data == nullptr)
        a.tensor(i).data = heap_alloc(a.tensor(i).nbytes(), what);

  const uint64_t id = ring_->acquire();
  TaskRecord& t = record(id);
  t.id = id;
  t.kind = kind;
  t.callable = callable;
  t.name = name;
  t.parts = static_cast<uint32_t>(parts.size());
  t.parts_done = 0;
  t.target = members.size() == 1 ? members[0] : kAnyWorker;
  t.members.clear();  // keeps its capacity: no allocation per task once the ring has been around
  if (members.size() > 1) t.members.assign(members.begin(), members.end());
  t.timeout_ns = static_cast<int64_t>(cfg.timeout.count()) * 1000000;
  t.pushed = t.finished = t.failed = t.poisoned = false;
  t.error.clear();
  t.fail_child = -1;
  t.producers.clear();
  t.consumers.clear();
  t.unpushed_producers = 0;
  t.frames.resize(size_t{t.parts} * ipc::kRequestSlotBytes);
  t.frame_len.resize(t.parts);
  for (uint32_t p = 0; p < t.parts; ++p) {
    ipc::TaskFrameInfo info{id, callable, cfg.block_dim, p, t.parts, t.timeout_ns};
    t.frame_len[p] =
        static_cast<uint32_t>(ipc::encode_task(info, parts[p].tensors(), parts[p].tags(), parts[p].scalars(),
                                               t.frames.data() + size_t{p} * ipc::kRequestSlotBytes));
  }

  // Dependencies: read every part's last writers before recording this task as a writer.
  for (const TaskArgs& a : parts) deps_.lookup(a.tensors(), a.tags(), &t.producers);
  for (const TaskArgs& a : parts) deps_.record(a.tensors(), a.tags(), id);
  bool producer_failed = false;
  uint64_t failed_producer = 0;
  size_t keep = 0;
  for (uint64_t p : t.producers) {
    if (failed_ids_.count(p)) {
      producer_failed = true;
      failed_producer = p;
      continue;
    }
    if (!ring_->live(p) || record(p).finished) continue;  // finished fine: nothing to wait for
    t.producers[keep++] = p;
    TaskRecord& prod = record(p);
    prod.consumers.push_back(id);
    if (!prod.pushed) ++t.unpushed_producers;
  }
  t.producers.resize(keep);

  ipc::board_arm(board_, id, t.parts);

  TaskRef ref;
  ref.id = id;
  if (parts.size() == 1) {
    ref.tensors.assign(parts[0].tensors().begin(), parts[0].tensors().end());
  } else {
    for (const TaskArgs& a : parts) ref.tensors.insert(ref.tensors.end(), a.tensors().begin(), a.tensors().end());
  }

  if (producer_failed) {
    fail_unpushed(t, "not run: it depends on task #" + std::to_string(failed_producer) + ", which failed", kind, -1);
  } else if (t.unpushed_producers == 0) {
    eligible_.push_back(id);
  }
  push_eligible();
  poll_completions();
  return ref;
}

void WorkerImpl::push_eligible() {
  if (eligible_.empty()) return;
  const size_t n = eligible_.size();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t id = eligible_.front();
    eligible_.pop_front();
    TaskRecord& t = record(id);
    if (!try_push(t)) eligible_.push_back(id);
  }
}

// Pushes `t` to its child(ren) if they have room and at most kMaxFrameDeps of its producers are
// unfinished. Returns false to retry later. Fails the task without running it if a producer failed or
// its child is gone.
bool WorkerImpl::try_push(TaskRecord& t) {
  uint64_t deps[ipc::kMaxFrameDeps];
  uint16_t ndeps = 0;
  for (uint64_t p : t.producers) {
    if (failed_ids_.count(p)) {
      fail_unpushed(t, "not run: it depends on task #" + std::to_string(p) + " '" + *record(p).name + "', which failed",
                    t.kind, -1);
      return true;
    }
    if (ring_->live(p) && !record(p).finished) {
      if (ndeps == ipc::kMaxFrameDeps) return false;  // wait until fewer are unfinished
      deps[ndeps++] = p;
    }
  }
  const int k = static_cast<int>(t.kind);
  if (t.members.empty()) {
    int chosen = t.target;
    if (chosen == kAnyWorker) {
      uint64_t best = UINT64_MAX;
      bool any_alive = false;
      for (int j = 0; j < count_[k]; ++j) {
        const int i = (rr_[k] + j) % count_[k];
        ChildSlot& c = child(t.kind, i);
        any_alive |= c.alive;
        if (c.has_room() && c.load() < best) {
          best = c.load();
          chosen = i;
        }
      }
      if (!any_alive) {
        fail_unpushed(t, std::string("not run: every ") + child_kind_name(t.kind) + " has died", t.kind, -1);
        return true;
      }
      if (chosen == kAnyWorker) return false;
      rr_[k] = (chosen + 1) % count_[k];
    } else {
      ChildSlot& c = child(t.kind, chosen);
      if (!c.alive) {
        fail_unpushed(t, "not run: " + child_name(t.kind, chosen) + " is dead (" + c.death + ")", t.kind, chosen);
        return true;
      }
      if (!c.has_room()) return false;
    }
    t.members.assign(1, chosen);
  } else {
    for (int m : t.members) {
      ChildSlot& c = child(t.kind, m);
      if (!c.alive) {
        fail_unpushed(t, "not run: " + child_name(t.kind, m) + " is dead (" + c.death + ")", t.kind, m);
        return true;
      }
    }
    for (int m : t.members)
      if (!child(t.kind, m).has_room()) return false;
  }
  // All parts are pushed now, back to back, so every member's ring sees group tasks in the same order.
  for (uint32_t p = 0; p < t.parts; ++p) {
    ChildSlot& c = child(t.kind, t.members[p]);
    unsigned char* slot = c.mb->requests[c.pushed % ipc::kRequestSlots];
    std::memcpy(slot, t.frames.data() + size_t{p} * ipc::kRequestSlotBytes, t.frame_len[p]);
    auto* h = reinterpret_cast<ipc::FrameHeader*>(slot);
    h->ndeps = ndeps;
    std::memcpy(h->deps, deps, sizeof(uint64_t) * ndeps);
    c.inflight.push_back(t.id);
    ++c.pushed;
    ipc::mailbox_publish_requests(c.mb, c.pushed);
  }
  mark_pushed(t);
  return true;
}

void WorkerImpl::mark_pushed(TaskRecord& t) {
  t.pushed = true;
  for (uint64_t c : t.consumers) {
    TaskRecord& con = record(c);
    if (!con.pushed && --con.unpushed_producers == 0) eligible_.push_back(c);
  }
}

void WorkerImpl::fail_unpushed(TaskRecord& t, std::string error, ChildKind kind, int child_index) {
  t.failed = true;
  t.poisoned = true;
  t.error = std::move(error);
  t.fail_kind = kind;
  t.fail_child = child_index;
  ipc::board_force_failed(board_, t.id);
  mark_pushed(t);
  t.parts_done = t.parts;
  finish(t);
}

void WorkerImpl::part_finished(TaskRecord& t, bool failed, bool poisoned, std::string error, ChildKind kind,
                               int child_index) {
  if (failed && (!t.failed || (t.poisoned && !poisoned))) {
    t.failed = true;
    t.poisoned = poisoned;
    t.error = std::move(error);
    t.fail_kind = kind;
    t.fail_child = child_index;
  }
  if (++t.parts_done == t.parts) finish(t);
}

void WorkerImpl::finish(TaskRecord& t) {
  t.finished = true;
  if (t.failed) {
    failed_ids_.insert(t.id);
    if (!first_failure_ || (first_failure_->poisoned && !t.poisoned)) first_failure_ = t;
    // Consumers already pushed may find this slot retired before they look at it: tell them directly.
    for (uint64_t c : t.consumers) {
      TaskRecord& con = record(c);
      if (con.pushed && !con.finished) board_->at(c).poisoned.store(1, std::memory_order_release);
    }
  }
  ring_->mark_finished(t.id);
  ring_->retire([this](uint64_t id) {
    TaskRecord& r = record(id);
    r.members.clear();
    r.consumers.clear();
  });
}

// ---- Orchestrator helpers ------------------------------------------------------------------------

Tensor WorkerImpl::alloc(std::span<const int64_t> shape, DType dtype, uint64_t run) {
  check_in_run(run, "alloc");
  Tensor t = Tensor::make(nullptr, shape, dtype);
  t.data = heap_alloc(t.nbytes(), "alloc");
  return t;
}

uint32_t WorkerImpl::scope_open(uint64_t run) {
  check_in_run(run, "scope");
  return ++scope_depth_;
}

void WorkerImpl::scope_close(uint32_t depth, uint64_t run) {
  if (!in_run_ || run != run_) return;  // the run already freed everything
  if (depth != scope_depth_)
    throw UsageError("Scope closed out of order: scope " + std::to_string(depth) + " closed while scope " +
                     std::to_string(scope_depth_) + " is open; close inner scopes first");
  heap_->close_scope(depth, ring_->next() - 1);
  --scope_depth_;
  heap_->reclaim(ring_->tail());
}

}  // namespace strata::detail
