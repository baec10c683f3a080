// graph/scheduler.cpp — submit, eligibility, pushing, failure propagation, retirement (see scheduler.hpp).
#include "graph/scheduler.hpp"

#include <algorithm>
#include <cstring>

#include "ipc/codec.hpp"
#include "util/checked.hpp"
#include "util/sys.hpp"

namespace strata::graph {
namespace {

/// Frames of the largest size the ring of frames holds at once, besides the largest group: 4.5 MiB. A
/// ring of tasks up to the default 4096 never waits for frames, however large they are; a larger one may,
/// once the frames in flight fill those 4.5 MiB (a frame of a few tensors takes 200-300 bytes), rather
/// than have a kilobyte per slot populated up front (4.5 GiB for the largest ring allowed).
constexpr size_t kFramesAtMost = 4096;

/// The most parts a task can have: a group spans at most every child of one kind.
size_t largest_group(const Link& link) noexcept {
  int most = 1;
  for (int k = 0; k < 3; ++k) most = std::max(most, link.count(static_cast<ChildKind>(k)));
  return static_cast<size_t>(most);
}

trace::Status trace_status(Outcome o) noexcept {
  switch (o) {
    case Outcome::Failed:
      return trace::Status::Failed;
    case Outcome::Poisoned:
      return trace::Status::Poisoned;
    case Outcome::Cancelled:
      return trace::Status::Cancelled;
    default:
      return trace::Status::Ok;
  }
}

// Which failure a run reports: a task that ran and failed beats one that was not run because of
// another's failure, which beats one cancelled by fail-fast; among equals, the first learned of.
int rank(Outcome o) noexcept {
  switch (o) {
    case Outcome::Failed:
      return 3;
    case Outcome::Poisoned:
      return 2;
    case Outcome::Cancelled:
      return 1;
    default:
      return 0;
  }
}

std::string tensor_text(size_t i, const Tensor& t, Tag tag) {
  std::string s = "tensor " + std::to_string(i) + " (" + tag_name(tag) + ", " + dtype_name(t.dtype) + " [";
  for (uint8_t d = 0; d < t.ndim && d < kMaxDims; ++d) s += (d ? ", " : "") + std::to_string(t.shape[d]);
  return s + "])";
}

}  // namespace

const char* outcome_name(Outcome o) noexcept {
  switch (o) {
    case Outcome::Pending:
      return "pending";
    case Outcome::Ok:
      return "ok";
    case Outcome::Failed:
      return "failed";
    case Outcome::Poisoned:
      return "poisoned";
    case Outcome::Cancelled:
      return "cancelled";
  }
  return "?";
}

Scheduler::Scheduler(Link& link, ipc::Board* board, memory::HeapRing heap, const memory::MemoryMap* memory,
                     SchedulerOptions opts)
    : link_(link),
      board_(board),
      heap_(std::move(heap)),
      memory_(memory),
      opts_(opts),
      ring_(opts.ring_slots),
      records_(opts.ring_slots),
      frames_(std::min<size_t>(opts.ring_slots, kFramesAtMost) + largest_group(link), ipc::kRequestSlotBytes) {}

// ---- runs ------------------------------------------------------------------------------------------

void Scheduler::begin_run() {
  failure_.reset();
  cancelled_.clear();
  run_first_ = ring_.next();
  finished_count_ = 0;
  scope_depth_ = 0;
  for (int k = 0; k < 3; ++k) ready_[k].resize(static_cast<size_t>(link_.count(static_cast<ChildKind>(k))));
}

void Scheduler::end_run() noexcept {
  deps_.clear();
  failed_retired_.clear();
  heap_.reset();
  scope_depth_ = 0;
}

TaskError RunFailure::error(int level) const {
  std::vector<Frame> frames{Frame{level, task, name, kind, child, rank}};
  frames.insert(frames.end(), inner.begin(), inner.end());
  return TaskError(std::move(frames), error_type, message);
}

void Scheduler::throw_failure() const { throw failure_->error(opts_.level); }

Outcome Scheduler::outcome_of(uint64_t id) const noexcept {
  if (!ring_.live(id)) {
    auto it = failed_retired_.find(id);
    return it == failed_retired_.end() ? Outcome::Ok : it->second;
  }
  return record(id).outcome;
}

bool Scheduler::failed_producer(uint64_t id) const {
  if (ring_.live(id)) {
    const Record& r = record(id);
    return r.finished && r.outcome != Outcome::Ok;
  }
  return !failed_retired_.empty() && failed_retired_.count(id) != 0;
}

// ---- submit ----------------------------------------------------------------------------------------

void Scheduler::validate(const Submission& s) const {
  // Messages are built only on the way out: validation runs on every submit.
  auto what = [&] { return std::string(s.what) + " of '" + *s.name + "'"; };
  const int n = link_.count(s.kind);
  const char* kname = child_kind_name(s.kind);
  if (n == 0)
    throw UsageError(what() + ": this Worker has no " + kname +
                     (s.kind == ChildKind::Sub ? " workers (WorkerOptions::sub_workers)" : "s"));
  if (s.cfg.block_dim == 0) throw UsageError(what() + ": CallConfig::block_dim is 0");
  if (s.cfg.timeout.count() < 0) throw UsageError(what() + ": CallConfig::timeout is negative");
  if (s.cfg.timeout.count() > INT64_MAX / 1000000)
    throw UsageError(what() + ": CallConfig::timeout of " + std::to_string(s.cfg.timeout.count()) +
                     " ms is too large to represent; use 0 for no timeout");
  for (int m : s.members)
    if (m != kAnyWorker && (m < 0 || m >= n))
      throw UsageError(what() + ": " + kname + " " + std::to_string(m) + " is out of range: this Worker has " +
                       std::to_string(n) + " " + kname + "s (0.." + std::to_string(n - 1) + ")");
  if (s.members.size() > 1) {
    std::vector<int> sorted(s.members.begin(), s.members.end());
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() || sorted.front() == kAnyWorker)
      throw UsageError("submit_group of '" + *s.name + "': workers must be distinct " + kname + " indices");
  }
  for (size_t p = 0; p < s.parts.size(); ++p) {
    const TaskArgs& a = s.parts[p];
    auto who = [&] { return what() + (s.parts.size() > 1 ? " (part " + std::to_string(p) + ")" : ""); };
    for (size_t i = 0; i < a.tensor_count(); ++i) {
      const Tensor& t = a.tensor(i);
      const Tag tag = a.tag(i);
      if (static_cast<uint8_t>(tag) >= static_cast<uint8_t>(Tag::kCount))
        throw UsageError(who() + ": tensor " + std::to_string(i) + " has an invalid tag (" +
                         std::to_string(static_cast<int>(tag)) + ")");
      if (dtype_size(t.dtype) == 0)
        throw UsageError(who() + ": tensor " + std::to_string(i) + " has an invalid dtype (" +
                         std::to_string(static_cast<int>(t.dtype)) + ")");
      if (t.ndim > kMaxDims)
        throw UsageError(who() + ": tensor " + std::to_string(i) + " has " + std::to_string(t.ndim) +
                         " dimensions; at most " + std::to_string(kMaxDims) + " are supported");
      size_t bytes = dtype_size(t.dtype);
      for (uint8_t d = 0; d < t.ndim; ++d) {
        if (t.shape[d] < 0)
          throw UsageError(who() + ": " + tensor_text(i, t, tag) + " has a negative extent (" +
                           std::to_string(t.shape[d]) + ")");
        const auto next = util::checked_mul(bytes, static_cast<size_t>(t.shape[d]));
        if (!next)
          throw UsageError(who() + ": " + tensor_text(i, t, tag) + " is larger than the address space (its size " +
                           "overflows)");
        bytes = *next;
      }
      if (t.data == nullptr) {
        if (tag != Tag::Output)
          throw UsageError(who() + ": " + tensor_text(i, t, tag) +
                           " has a null address; only OUTPUT tensors are allocated by strata");
        continue;
      }
      std::string why;
      if (memory_ && !memory_->check(t.data, bytes, &why))
        throw UsageError(who() + ": " + tensor_text(i, t, tag) + " " + why);
    }
    const size_t frame = ipc::task_frame_bytes(a.tensors(), a.scalar_count());
    if (frame > ipc::kRequestSlotBytes)
      throw UsageError(who() + ": its arguments (" + std::to_string(a.tensor_count()) + " tensors, " +
                       std::to_string(a.scalar_count()) + " scalars) need " + std::to_string(frame) +
                       " bytes but a mailbox frame holds " + std::to_string(ipc::kRequestSlotBytes) +
                       "; pass fewer or lower-dimensional tensors, or pack scalars into a buffer");
  }
}

TaskRef Scheduler::submit(const Submission& s) {
  throw_if_cancelled(s.what);
  if (failure_ && opts_.fail_fast) throw_failure();
  validate(s);
  acquire_slot(s.what, s.parts.size());
  // OUTPUTs with a null address come from the run heap, in the current scope.
  for (TaskArgs& a : s.parts)
    for (size_t i = 0; i < a.tensor_count(); ++i)
      if (a.tag(i) == Tag::Output && a.tensor(i).data == nullptr)
        a.tensor(i).data = heap_alloc(a.tensor(i).nbytes(), s.what);
  // Waiting for room may have delivered the run's first failure, or cancelled it.
  throw_if_cancelled(s.what);
  if (failure_ && opts_.fail_fast) throw_failure();

  const uint64_t id = ring_.acquire();
  Record& t = record(id);
  t.id = id;
  t.kind = s.kind;
  t.name = s.name;
  t.parts = static_cast<uint32_t>(s.parts.size());
  t.parts_done = 0;
  t.target = s.members.size() == 1 ? s.members[0] : kAnyWorker;
  t.members.clear();  // keeps its capacity: no allocation per task once the ring has been around
  if (s.members.size() > 1) t.members.assign(s.members.begin(), s.members.end());
  t.pushed = t.finished = false;
  t.outcome = Outcome::Pending;
  t.error.clear();
  t.error_type.clear();
  t.inner.clear();
  t.fail_child = -1;
  t.poisoned_by = 0;
  t.producers.clear();
  t.consumers.clear();
  t.unpushed_producers = 0;
  const int64_t timeout_ns = static_cast<int64_t>(s.cfg.timeout.count()) * 1000000;
  for (uint32_t p = 0; p < t.parts; ++p) {
    const ipc::TaskFrameInfo info{id, s.callable, s.cfg.block_dim, p, t.parts, timeout_ns};
    const TaskArgs& a = s.parts[p];
    const uint64_t at = frames_.push(ipc::encode_task(info, a.tensors(), a.tags(), a.scalars(), frames_.space()));
    if (p == 0) t.frames = at;
  }
  t.frames_end = frames_.head();

  // Dependencies: every part is looked up before any is entered, so a group never waits for itself.
  for (const TaskArgs& a : s.parts) deps_.lookup(a.tensors(), a.tags(), &t.producers);
  for (const TaskArgs& a : s.parts) deps_.record(a.tensors(), a.tags(), id, [this](uint64_t r) { return finished(r); });
  size_t keep = 0;
  for (uint64_t p : t.producers) {
    if (failed_producer(p)) {
      if (!t.poisoned_by) t.poisoned_by = p;
      continue;
    }
    if (finished(p)) continue;
    t.producers[keep++] = p;
    Record& prod = record(p);
    prod.consumers.push_back(id);
    if (!prod.pushed) ++t.unpushed_producers;
  }
  t.producers.resize(keep);
  ipc::board_arm(board_, id, t.parts);
  if constexpr (trace::kCompiledIn) {
    if (obs_) {
      trace::Submitted sub;
      sub.task = id;
      sub.run = run_;
      sub.name = s.name;
      sub.kind = s.kind;
      sub.block_dim = s.cfg.block_dim;
      sub.parts = s.parts;
      sub.members = s.members;
      sub.producers = t.producers;
      sub.ns = sys::now_ns();
      obs_->submitted(sub);
    }
  }

  TaskRef ref;
  ref.id = id;
  for (const TaskArgs& a : s.parts) ref.tensors.insert(ref.tensors.end(), a.tensors().begin(), a.tensors().end());

  if (t.unpushed_producers == 0) make_eligible(t);
  pump();
  link_.poll();
  return ref;
}

Tensor Scheduler::alloc(std::span<const int64_t> shape, DType dtype) {
  throw_if_cancelled("alloc");
  if (failure_ && opts_.fail_fast) throw_failure();
  Tensor t = Tensor::make(nullptr, shape, dtype);
  t.data = heap_alloc(t.nbytes(), "alloc");
  throw_if_cancelled("alloc");
  return t;
}

void Scheduler::scope_close(uint32_t depth) {
  if (depth != scope_depth_)
    throw UsageError("Scope closed out of order: scope " + std::to_string(depth) + " closed while scope " +
                     std::to_string(scope_depth_) + " is open; close inner scopes first");
  heap_.close_scope(depth, ring_.next() - 1);
  --scope_depth_;
  heap_.reclaim(ring_.tail());
}

// ---- waiting ---------------------------------------------------------------------------------------

template <class Pending>
void Scheduler::wait_while(Pending&& pending, int64_t deadline_ns) {
  for (;;) {
    pump();
    if (!pending()) return;
    if (deadline_ns >= 0 && sys::now_ns() >= deadline_ns) return;
    if (link_.in_flight() == 0) {
      // Nothing runs anywhere and nothing more could be pushed: no progress can ever come. This is a bug
      // in strata, reported rather than waited on forever.
      pump();
      if (!pending()) return;
      if (link_.in_flight() == 0)
        throw Error("internal error: the scheduler has " + std::to_string(ring_.in_flight()) +
                    " unfinished tasks but none can be pushed and nothing is running");
    }
    link_.wait(deadline_ns);
  }
}

void Scheduler::acquire_slot(const char* what, size_t parts) {
  const auto full = [&] { return ring_.full() || !frames_.fits(parts); };
  if (!full()) return;
  const int64_t begin = sys::now_ns();
  const int64_t deadline = begin + opts_.submit_timeout_ns;
  wait_while(full, deadline);
  STRATA_OBSERVE(obs_, span(trace::Span::Backpressure, begin, sys::now_ns(), "task ring full"));
  if (!full()) return;
  const std::string held = ring_.full()
                               ? std::to_string(ring_.capacity()) + " tasks in flight"
                               : "the frames of the " + std::to_string(ring_.in_flight()) +
                                     " tasks in flight fill its " + std::to_string(frames_.capacity()) + " bytes";
  throw TimeoutError(std::string(what) + ": the task ring has been full (" + held + ") for " +
                     std::to_string(opts_.submit_timeout_ns / 1000000) +
                     " ms; raise WorkerOptions::memory.task_ring (STRATA_TASK_RING) or WorkerOptions::timeouts.submit "
                     "(STRATA_SUBMIT_TIMEOUT_MS), or check for tasks that cannot finish" +
                     oldest_unfinished());
}

std::string Scheduler::oldest_unfinished() const {
  for (uint64_t id = ring_.tail(); id < ring_.next(); ++id) {
    const Record& t = record(id);
    if (t.finished) continue;
    std::string out = "; the oldest unfinished task is #" + std::to_string(id);
    if (t.name) out += " '" + *t.name + "'";
    if (!t.pushed) return out + ", not yet pushed (waiting for its producers or for room on its child)";
    out += ", pushed to ";
    for (size_t i = 0; i < t.members.size(); ++i) out += (i ? ", " : "") + link_.name(t.kind, t.members[i]);
    return out + " (Worker::status() shows what each child is doing)";
  }
  return {};
}

void* Scheduler::heap_alloc(size_t bytes, const char* what) {
  if (!heap_.could_fit(bytes))
    throw UsageError(std::string(what) + ": " + std::to_string(bytes) + " bytes is more than the whole run heap (" +
                     std::to_string(heap_.capacity()) +
                     " bytes); raise WorkerOptions::memory.heap_bytes (STRATA_HEAP_BYTES)");
  const int64_t begin = sys::now_ns();
  const int64_t deadline = begin + opts_.submit_timeout_ns;
  void* p = nullptr;
  auto no_room = [&] {
    heap_.reclaim(ring_.tail());
    p = heap_.try_alloc(bytes, scope_depth_);
    return p == nullptr && !ring_.empty();
  };
  wait_while(no_room, deadline);
  STRATA_OBSERVE(obs_, span(trace::Span::Backpressure, begin, sys::now_ns(), "run heap full"));
  if (p) return p;
  throw TimeoutError(std::string(what) + ": the run heap has no room for " + std::to_string(bytes) + " bytes (" +
                     std::to_string(heap_.used()) + " of " + std::to_string(heap_.capacity()) +
                     " bytes held by open scopes or unfinished tasks); raise WorkerOptions::memory.heap_bytes "
                     "(STRATA_HEAP_BYTES) or close scopes sooner" +
                     oldest_unfinished());
}

void Scheduler::drain() {
  const int64_t begin = (trace::kCompiledIn && obs_) ? sys::now_ns() : 0;
  wait_while([&] { return !ring_.empty(); }, -1);
  STRATA_OBSERVE(obs_, span(trace::Span::Drain, begin, sys::now_ns(), {}));
}

void Scheduler::wait_finished(uint64_t id) {
  wait_while([&] { return id != 0 && !finished(id); }, -1);
}

void Scheduler::wait_accessors(const void* base, bool write) {
  std::vector<uint64_t> ids;
  deps_.accessors(base, write, &ids);
  for (uint64_t id : ids) wait_finished(id);
}

// ---- pushing ---------------------------------------------------------------------------------------

void Scheduler::make_eligible(Record& t) {
  if (t.finished) return;
  const int k = static_cast<int>(t.kind);
  if (t.parts > 1)
    groups_.push_back(t.id);
  else if (t.target == kAnyWorker)
    any_[k].push_back(t.id);
  else
    ready_[k][static_cast<size_t>(t.target)].push_back(t.id);
  ++queued_;
  ++eligible_added_;
}

void Scheduler::pump() {
  // Pushing a task can make its consumers eligible (and a task that cannot run finishes at once, making
  // its consumers eligible too): passes repeat while a pass added any. Pushing never unblocks a queue
  // head that waits for room or for its producers, so a pass that added nothing is the last.
  while (queued_ != 0) {
    const uint64_t added = eligible_added_;
    auto drain_queue = [&](std::deque<uint64_t>& q) {
      while (!q.empty()) {
        Record& t = record(q.front());
        if (!t.finished && try_push(t) == Push::Blocked) break;
        q.pop_front();
        --queued_;
      }
    };
    for (int k = 0; k < 3; ++k) {
      for (auto& q : ready_[k]) drain_queue(q);
      drain_queue(any_[k]);
    }
    drain_queue(groups_);
    if (eligible_added_ == added) break;
  }
  link_.flush();
  if constexpr (trace::kCompiledIn) {
    if (obs_) observe_counters();
  }
}

void Scheduler::observe_counters() {
  if (++pumps_since_counters_ < 64) return;  // the clock is read every 64th pump
  pumps_since_counters_ = 0;
  const int64_t now = sys::now_ns();
  if (now - counters_ns_ < 100'000) return;  // at most one sample per 100 us
  counters_ns_ = now;
  depths_.clear();
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < link_.count(static_cast<ChildKind>(k)); ++i)
      depths_.push_back(static_cast<uint32_t>(link_.load(static_cast<ChildKind>(k), i)));
  obs_->counters(now, ring_.in_flight(), heap_.used(), depths_);
}

Scheduler::Push Scheduler::try_push(Record& t) {
  uint64_t deps[ipc::kMaxFrameDeps];
  uint32_t ndeps = 0;
  uint64_t failed = t.poisoned_by;
  for (uint64_t p : t.producers) {
    if (failed) break;
    if (failed_producer(p)) {
      failed = p;
    } else if (!finished(p)) {
      if (ndeps == ipc::kMaxFrameDeps) return Push::Blocked;  // wait until fewer are unfinished
      deps[ndeps++] = p;
    }
  }
  if (failed) {
    const std::string pname = ring_.live(failed) ? " '" + *record(failed).name + "'" : "";
    finish_unpushed(t, Outcome::Poisoned,
                    "not run: it depends on task #" + std::to_string(failed) + pname + ", which failed", t.kind, -1);
    return Push::Finished;
  }
  const int k = static_cast<int>(t.kind);
  const int n = link_.count(t.kind);
  if (t.members.empty()) {
    int chosen = t.target;
    if (chosen == kAnyWorker) {
      uint64_t best = UINT64_MAX;
      bool any_alive = false;
      for (int j = 0; j < n; ++j) {
        const int i = (rr_[k] + j) % n;
        if (!link_.alive(t.kind, i)) continue;
        any_alive = true;
        const uint64_t load = link_.load(t.kind, i);
        if (link_.has_room(t.kind, i) && load < best) {
          best = load;
          chosen = i;
        }
      }
      if (!any_alive) {
        // Named one by one: "not run: every sub is gone (sub 0 died: killed by signal 9 (Killed))".
        std::string how;
        for (int i = 0; i < n; ++i) how += (i ? "; " : "") + link_.name(t.kind, i) + " " + link_.gone(t.kind, i);
        finish_unpushed(t, Outcome::Poisoned,
                        std::string("not run: every ") + child_kind_name(t.kind) + " is gone (" + how + ")", t.kind,
                        -1);
        return Push::Finished;
      }
      if (chosen == kAnyWorker) return Push::Blocked;
      rr_[k] = (chosen + 1) % n;
    } else {
      if (!link_.alive(t.kind, chosen)) {
        finish_unpushed(t, Outcome::Poisoned,
                        "not run: " + link_.name(t.kind, chosen) + " " + link_.gone(t.kind, chosen), t.kind, chosen);
        return Push::Finished;
      }
      if (!link_.has_room(t.kind, chosen)) return Push::Blocked;
    }
    t.members.assign(1, chosen);
  } else {
    for (int m : t.members)
      if (!link_.alive(t.kind, m)) {
        finish_unpushed(t, Outcome::Poisoned, "not run: " + link_.name(t.kind, m) + " " + link_.gone(t.kind, m), t.kind,
                        m);
        return Push::Finished;
      }
    for (int m : t.members)
      if (!link_.has_room(t.kind, m)) return Push::Blocked;
  }
  // All parts go now, back to back.
  uint64_t at = t.frames;
  for (uint32_t p = 0; p < t.parts; ++p, at = frames_.after(at)) {
    const std::span<const unsigned char> frame = frames_.frame(at);
    link_.post(t.kind, t.members[p], frame.data(), frame.size(), t.id, {deps, ndeps});
  }
  mark_pushed(t);
  return Push::Pushed;
}

void Scheduler::mark_pushed(Record& t) {
  t.pushed = true;
  for (uint64_t c : t.consumers) {
    Record& con = record(c);
    if (!con.pushed && --con.unpushed_producers == 0) make_eligible(con);
  }
}

// ---- finishing -------------------------------------------------------------------------------------

void Scheduler::on_completion(uint64_t id, uint32_t part, ChildKind kind, int child, ipc::Status status,
                              std::string_view message, uint64_t detail, int64_t start_ns, int64_t end_ns) {
  if (!ring_.live(id)) return;
  Record& t = record(id);
  if (t.finished) return;
  ipc::TaskFailure failed;
  if (status == ipc::Status::Failed) {
    failed = ipc::decode_task_failure(message);
    if (failed.message.empty()) failed.message = "failed without a message";
  }
  if constexpr (trace::kCompiledIn) {
    if (obs_)
      obs_->part_done(id, part, kind, child, start_ns, end_ns,
                      status == ipc::Status::Ok         ? trace::Status::Ok
                      : status == ipc::Status::Poisoned ? trace::Status::Poisoned
                                                        : trace::Status::Failed,
                      status == ipc::Status::Failed
                          ? (failed.type.empty() ? failed.message : failed.type + ": " + failed.message)
                          : std::string(message));
  }
  switch (status) {
    case ipc::Status::Ok:
      part_finished(t, Outcome::Ok, {}, kind, child);
      break;
    case ipc::Status::Poisoned: {
      const std::string pname = ring_.live(detail) ? " '" + *record(detail).name + "'" : "";
      part_finished(t, Outcome::Poisoned,
                    "not run: it depends on task #" + std::to_string(detail) + pname + ", which failed", kind, child);
      break;
    }
    case ipc::Status::Failed:
      part_finished(t, Outcome::Failed, std::move(failed.message), kind, child, std::move(failed.type),
                    std::move(failed.frames));
      break;
    default:
      part_finished(t, Outcome::Failed, std::string(message.empty() ? "failed without a message" : message), kind,
                    child);
      break;
  }
}

void Scheduler::on_lost(ChildKind kind, int child, std::span<const uint64_t> ids, uint64_t running,
                        int64_t running_start_ns, const std::string& running_msg, const std::string& queued_msg) {
  const int64_t now = (trace::kCompiledIn && obs_) ? sys::now_ns() : 0;
  for (uint64_t id : ids) {
    if ((id & ipc::kControlIdBit) || !ring_.live(id)) continue;
    Record& t = record(id);
    if (t.finished) continue;
    ipc::board_force_failed(board_, id);
    if constexpr (trace::kCompiledIn) {
      if (obs_) {
        // The part this child had: its place among the task's members.
        const auto at = std::find(t.members.begin(), t.members.end(), child);
        const auto part = static_cast<uint32_t>(at == t.members.end() ? 0 : at - t.members.begin());
        if (id == running)
          obs_->part_done(id, part, kind, child, running_start_ns, now, trace::Status::Failed, running_msg);
        else
          obs_->part_done(id, part, kind, child, now, now, trace::Status::Poisoned, queued_msg);
      }
    }
    if (id == running)
      part_finished(t, Outcome::Failed, running_msg, kind, child);
    else
      part_finished(t, Outcome::Poisoned, queued_msg, kind, child);
  }
}

void Scheduler::finish_unpushed(Record& t, Outcome outcome, std::string error, ChildKind kind, int child) {
  STRATA_OBSERVE(obs_, task_done(t.id, trace_status(outcome), error, sys::now_ns()));
  t.outcome = outcome;
  t.error = std::move(error);
  t.fail_kind = kind;
  t.fail_child = child;
  ipc::board_force_failed(board_, t.id);
  mark_pushed(t);
  t.parts_done = t.parts;
  finish(t);
}

void Scheduler::part_finished(Record& t, Outcome outcome, std::string error, ChildKind kind, int child,
                              std::string error_type, std::vector<Frame> inner) {
  if (outcome != Outcome::Ok && rank(outcome) > rank(t.outcome)) {
    t.outcome = outcome;
    t.error = std::move(error);
    t.error_type = std::move(error_type);
    t.inner = std::move(inner);
    t.fail_kind = kind;
    t.fail_child = child;
  }
  if (++t.parts_done == t.parts) finish(t);
}

void Scheduler::finish(Record& t) {
  t.finished = true;
  ++finished_count_;
  if (t.outcome == Outcome::Pending) t.outcome = Outcome::Ok;
  const bool failed = t.outcome != Outcome::Ok;
  if (failed) {
    if (!failure_ || rank(t.outcome) > rank(failure_->outcome))
      failure_ = RunFailure{t.id,    *t.name,   t.fail_kind,  t.fail_child, link_.pod_rank(t.fail_kind, t.fail_child),
                            t.error, t.outcome, t.error_type, t.inner};
    // Consumers already pushed may find this slot retired before they look at it: tell them directly.
    for (uint64_t c : t.consumers) {
      Record& con = record(c);
      if (con.finished) continue;
      if (con.pushed)
        ipc::board_set_poisoned(board_, c);
      else if (!con.poisoned_by)
        con.poisoned_by = t.id;
    }
  }
  ring_.mark_finished(t.id);
  ring_.retire([this](uint64_t id) {
    Record& r = record(id);
    frames_.release_to(r.frames_end);
    if (r.outcome != Outcome::Ok) failed_retired_.emplace(id, r.outcome);
    r.members.clear();
    r.consumers.clear();
    r.producers.clear();
  });
  heap_.reclaim(ring_.tail());
  if (failed && opts_.fail_fast && !cancelling_)
    cancel_unpushed("not run: the run failed at task #" + std::to_string(failure_->task));
}

size_t Scheduler::unfinished(std::vector<PendingTask>* out, size_t limit) const {
  size_t n = 0;
  for (uint64_t id = ring_.tail(); id < ring_.next(); ++id) {
    const Record& r = record(id);
    if (r.finished) continue;
    if (n++ >= limit) continue;
    PendingTask p;
    p.id = id;
    p.name = *r.name;
    p.pushed = r.pushed;
    if (!r.members.empty()) {
      for (int m : r.members) p.child += (p.child.empty() ? "" : ", ") + link_.name(r.kind, m);
    } else {
      p.child = r.target == kAnyWorker ? std::string("any ") + child_kind_name(r.kind) : link_.name(r.kind, r.target);
    }
    for (uint64_t producer : r.producers)
      if (!finished(producer)) p.waits_for.push_back(producer);
    out->push_back(std::move(p));
  }
  return n;
}

void Scheduler::cancel(const std::string& reason) {
  cancelled_ = reason;
  if (!cancelling_) cancel_unpushed("not run: the run was cancelled (" + reason + ")");
}

void Scheduler::throw_if_cancelled(const char* what) const {
  if (!cancelled_.empty()) throw Error(std::string(what) + ": the run was cancelled (" + cancelled_ + ")");
}

void Scheduler::cancel_unpushed(const std::string& msg) {
  cancelling_ = true;
  const uint64_t end = ring_.next();
  for (uint64_t id = ring_.tail(); id < end; ++id) {
    if (!ring_.live(id)) continue;
    Record& r = record(id);
    if (!r.pushed && !r.finished) finish_unpushed(r, Outcome::Cancelled, msg, r.kind, -1);
  }
  cancelling_ = false;
}

}  // namespace strata::graph
