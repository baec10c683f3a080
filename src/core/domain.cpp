// Communication domains, the parent's side: validation, the allocation transaction across members
// (prepare/export -> import/commit, abort on failure), released vs freed, the end-of-run sweep,
// synchronous copies, and the bring-up at init() — which is the same transaction over every chip.
#include <algorithm>
#include <cstring>
#include <set>

#include "core/worker_impl.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata {
namespace detail {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kBufferAlign = 64;
// After the usable window: STRATA_COMM_SIGNAL_BYTES of signal slots, then the CommContext, each on
// its own page.
constexpr size_t kTailBytes = 2 * kPage;
static_assert(STRATA_COMM_SIGNAL_BYTES <= kPage && sizeof(CommContext) <= kPage);

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

// Offsets of the buffers in a window, in declaration order; the end offset last.
std::vector<size_t> carve(const std::vector<BufferSpec>& buffers) {
  std::vector<size_t> out;
  size_t off = 0;
  for (const BufferSpec& b : buffers) {
    out.push_back(off);
    off = round_up(off + b.count * dtype_size(b.dtype), kBufferAlign);
  }
  out.push_back(off);
  return out;
}

}  // namespace

void* WorkerImpl::staging_alloc(size_t bytes) {
  ensure_arena();
  std::lock_guard lock(buffers_->mu);
  auto off = buffers_->pool.alloc(bytes);
  if (!off)
    throw UsageError("no room in the buffer arena to stage " + std::to_string(bytes) +
                     " bytes; raise WorkerOptions::buffer_bytes (STRATA_BUFFER_BYTES)");
  return static_cast<char*>(buffers_->arena.data()) + *off;
}

void WorkerImpl::staging_free(void* p) noexcept { buffers_->free(p, /*give_back_pages=*/false); }

std::shared_ptr<DomainRecord> WorkerImpl::domain_transaction(const std::string& name, const std::vector<int>& workers,
                                                             size_t window_size, const std::vector<BufferSpec>& buffers,
                                                             int64_t deadline_ns, std::string* failed_error,
                                                             int* failed_chip) {
  const int n = static_cast<int>(workers.size());
  auto fail_at = [&](int chip, std::string msg) {
    *failed_chip = chip;
    *failed_error = std::move(msg);
    return nullptr;
  };

  // The base communicator, lazily, once per Worker (over every chip, so any later subset can use it).
  if (!comm_up_) {
    unsigned char frame[ipc::kRequestSlotBytes];
    const size_t len = ipc::encode_control(ipc::FrameKind::CommBringup, nullptr, 0, frame);
    std::vector<uint64_t> idx(static_cast<size_t>(count_[0]));
    for (int i = 0; i < count_[0]; ++i)
      idx[static_cast<size_t>(i)] = control_post(child(ChildKind::Chip, i), frame, len);
    for (int i = 0; i < count_[0]; ++i) {
      ipc::CompletionSlot reply;
      std::string err;
      if (!control_wait(child(ChildKind::Chip, i), idx[static_cast<size_t>(i)], &reply, &err, deadline_ns))
        return fail_at(i, "communicator bring-up failed: " + err);
    }
    comm_up_ = true;
    ++comm_bringups_;
  }

  auto d = std::make_shared<DomainRecord>();
  d->owner = this;
  d->name = name;
  d->allocation_id = ++next_allocation_id_;
  d->workers = workers;
  d->rank_of.assign(static_cast<size_t>(count_[0]), -1);
  for (int r = 0; r < n; ++r) d->rank_of[static_cast<size_t>(workers[static_cast<size_t>(r)])] = r;
  const size_t actual = round_up(window_size, kPage);
  d->window_bytes = actual + kTailBytes;

  // Phase 1: every member allocates, zeroes and exports its window (all in flight at once).
  std::vector<ipc::CompletionSlot> replies(static_cast<size_t>(n));
  std::vector<bool> prepared(static_cast<size_t>(n), false);
  std::vector<uint64_t> idx(static_cast<size_t>(n));
  // Members that have not answered a request in time still owe it: they are not waited for again.
  std::vector<int> pending;
  auto note_pending = [&](int r, uint64_t index) {
    const ChildSlot& c = child(ChildKind::Chip, workers[static_cast<size_t>(r)]);
    if (c.alive && c.completed <= index) pending.push_back(workers[static_cast<size_t>(r)]);
  };
  // Frees the allocation on every member: those that prepared release their window; a member still
  // busy with its prepare frees it once that is done (the free is queued behind it).
  auto abort_prepared = [&]() noexcept { free_on_chips(d->allocation_id, workers, name, pending); };
  {
    ipc::DomainPreparePayload pp{d->allocation_id, d->window_bytes};
    unsigned char frame[ipc::kRequestSlotBytes];
    const size_t len = ipc::encode_control(ipc::FrameKind::DomainPrepare, &pp, sizeof pp, frame);
    for (int r = 0; r < n; ++r)
      idx[static_cast<size_t>(r)] = control_post(child(ChildKind::Chip, workers[static_cast<size_t>(r)]), frame, len);
    int bad = -1;
    std::string bad_error;
    for (int r = 0; r < n; ++r) {
      std::string err;
      if (control_wait(child(ChildKind::Chip, workers[static_cast<size_t>(r)]), idx[static_cast<size_t>(r)],
                       &replies[static_cast<size_t>(r)], &err, deadline_ns)) {
        prepared[static_cast<size_t>(r)] = true;
      } else {
        note_pending(r, idx[static_cast<size_t>(r)]);
        if (bad < 0) {
          bad = r;
          bad_error = err;
        }
      }
    }
    if (bad >= 0) {
      abort_prepared();
      return fail_at(workers[static_cast<size_t>(bad)], bad_error);
    }
  }

  // Phase 2: distribute the descriptors; every member imports its peers, writes its CommContext and
  // carves its buffers, reporting their addresses.
  const size_t nbuf = buffers.size();
  const size_t table_bytes = sizeof(comm::WindowDescriptor) * static_cast<size_t>(n) +
                             sizeof(uint64_t) * std::max<size_t>(nbuf, 1) * static_cast<size_t>(n);
  auto* descs = static_cast<comm::WindowDescriptor*>(staging_alloc(table_bytes));
  auto* ptrs = reinterpret_cast<uint64_t*>(descs + n);
  for (int r = 0; r < n; ++r)
    std::memcpy(&descs[r], replies[static_cast<size_t>(r)].message, sizeof(comm::WindowDescriptor));
  std::memset(ptrs, 0, sizeof(uint64_t) * std::max<size_t>(nbuf, 1) * static_cast<size_t>(n));
  ipc::DomainCommitPayload cp{};
  cp.allocation_id = d->allocation_id;
  cp.size = static_cast<uint32_t>(n);
  cp.window_size = actual;
  cp.descriptors = reinterpret_cast<uint64_t>(descs);
  cp.nbuffers = static_cast<uint32_t>(nbuf);
  for (size_t b = 0; b < nbuf; ++b) cp.buffer_bytes[b] = buffers[b].count * dtype_size(buffers[b].dtype);
  for (int r = 0; r < n; ++r) {
    cp.rank = static_cast<uint32_t>(r);
    cp.buffer_ptrs = reinterpret_cast<uint64_t>(ptrs + size_t{static_cast<size_t>(r)} * nbuf);
    unsigned char frame[ipc::kRequestSlotBytes];
    const size_t len = ipc::encode_control(ipc::FrameKind::DomainCommit, &cp, sizeof cp, frame);
    idx[static_cast<size_t>(r)] = control_post(child(ChildKind::Chip, workers[static_cast<size_t>(r)]), frame, len);
  }
  int bad = -1;
  std::string bad_error;
  std::vector<ipc::CompletionSlot> commits(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    std::string err;
    if (!control_wait(child(ChildKind::Chip, workers[static_cast<size_t>(r)]), idx[static_cast<size_t>(r)],
                      &commits[static_cast<size_t>(r)], &err, deadline_ns)) {
      note_pending(r, idx[static_cast<size_t>(r)]);
      if (bad < 0) {
        bad = r;
        bad_error = err;
      }
    }
  }
  // A chip that reports another number of buffers than asked for is an error, not a truncation.
  for (int r = 0; r < n && bad < 0; ++r) {
    uint32_t reported = 0;
    std::memcpy(&reported, commits[static_cast<size_t>(r)].message, sizeof reported);
    if (reported != nbuf) {
      bad = r;
      bad_error = "reported " + std::to_string(reported) + " buffers, but " + std::to_string(nbuf) + " were configured";
    }
  }
  if (bad >= 0) {
    // A member that has not answered its commit may still read the descriptor table and write its
    // buffer addresses into it: the table is then left allocated (a few KiB) rather than reused.
    if (pending.empty()) staging_free(descs);
    abort_prepared();
    return fail_at(workers[static_cast<size_t>(bad)], bad_error);
  }

  const std::vector<size_t> offsets = carve(buffers);
  for (int r = 0; r < n; ++r) {
    ChipDomainContext ctx;
    ctx.name = name;
    ctx.worker = workers[static_cast<size_t>(r)];
    ctx.domain_rank = r;
    ctx.domain_size = n;
    ctx.device_ctx = commits[static_cast<size_t>(r)].detail;
    std::memcpy(&ctx.local_window_base, replies[static_cast<size_t>(r)].message + sizeof(comm::WindowDescriptor),
                sizeof(uint64_t));
    ctx.actual_window_size = actual;
    for (size_t b = 0; b < nbuf; ++b) {
      const uint64_t p = ptrs[static_cast<size_t>(r) * nbuf + b];
      if (p != ctx.local_window_base + offsets[b]) {
        bad = r;
        bad_error = "reported buffer '" + buffers[b].name + "' at an unexpected address";
      }
      ctx.buffers.push_back(
          DomainBuffer{buffers[b].name, reinterpret_cast<void*>(p), buffers[b].dtype, buffers[b].count});
    }
    d->chips.push_back(std::move(ctx));
  }
  staging_free(descs);
  if (bad >= 0) {
    domain_free(*d);
    return fail_at(workers[static_cast<size_t>(bad)], bad_error);
  }
  domains_.push_back(d);
  return d;
}

Domain WorkerImpl::allocate_domain(DomainSpec spec, uint64_t run) {
  const std::string what = "allocate_domain('" + spec.name + "')";
  check_in_run(run, what.c_str());
  if (!initialized_) throw UsageError(what + ": the Worker is not started; call init() first");
  if (level_ < 3 || count_[0] == 0)
    throw UsageError(what + ": a level " + std::to_string(level_) +
                     " Worker has no chips; domains are allocated by level 3 Workers (inside a child Worker's "
                     "orchestration function for a pod)");
  if (!broken_.empty()) throw ChildDiedError(what + ": " + broken_ + "; close() this Worker and create a new one");
  if (spec.workers.empty()) throw UsageError(what + ": workers is empty; name at least one chip");
  if (spec.workers.size() > STRATA_COMM_MAX_RANKS)
    throw UsageError(what + ": " + std::to_string(spec.workers.size()) + " members; a domain has at most " +
                     std::to_string(STRATA_COMM_MAX_RANKS));
  std::set<int> seen;
  for (int wkr : spec.workers) {
    if (wkr < 0 || wkr >= count_[0])
      throw UsageError(what + ": chip " + std::to_string(wkr) + " is out of range: this Worker has " +
                       std::to_string(count_[0]) + " chips (0.." + std::to_string(count_[0] - 1) + ")");
    if (!seen.insert(wkr).second)
      throw UsageError(what + ": chip " + std::to_string(wkr) + " is listed twice in workers");
  }
  if (spec.window_size == 0) throw UsageError(what + ": window_size is 0");
  if (spec.buffers.size() > ipc::kMaxDomainBuffers)
    throw UsageError(what + ": " + std::to_string(spec.buffers.size()) + " buffers; at most " +
                     std::to_string(ipc::kMaxDomainBuffers));
  std::set<std::string> names;
  for (const BufferSpec& b : spec.buffers) {
    if (!names.insert(b.name).second) throw UsageError(what + ": buffer name '" + b.name + "' is used twice");
    if (dtype_size(b.dtype) == 0) throw UsageError(what + ": buffer '" + b.name + "' has an invalid dtype");
  }
  const size_t need = carve(spec.buffers).back();
  if (need > spec.window_size)
    throw UsageError(what + ": the buffers need " + std::to_string(need) + " bytes (each aligned to " +
                     std::to_string(kBufferAlign) + ") but window_size is " + std::to_string(spec.window_size));
  for (const auto& d : domains_)
    if (d->state == DomainRecord::State::Live && d->name == spec.name)
      throw UsageError(what + ": a domain named '" + spec.name + "' is live (allocation " +
                       std::to_string(d->allocation_id) + "); release it first or choose another name");

  std::string err;
  int chip = -1;
  auto d = domain_transaction(spec.name, spec.workers, spec.window_size, spec.buffers, sys::now_ns() + comm_timeout_ns_,
                              &err, &chip);
  if (!d) {
    const std::string msg = what + " failed on chip " + std::to_string(chip) + ": " + err +
                            " (every member's partial allocation was released)";
    if (err.find("did not answer in time") != std::string::npos)
      throw TimeoutError(msg +
                         "; a chip serves domain requests after the tasks already pushed to it: raise "
                         "WorkerOptions::comm_timeout (STRATA_COMM_TIMEOUT_MS) or check for a task that cannot finish");
    throw Error(msg);
  }
  return Domain(std::move(d));
}

void WorkerImpl::domain_release(DomainRecord& d) {
  if (d.state != DomainRecord::State::Live) return;
  d.state = DomainRecord::State::Released;
  // Inside a run it is freed after the drain (submitted tasks may still use it); outside, now.
  if (!in_run_) domain_free(d);
}

void WorkerImpl::free_on_chips(uint64_t allocation_id, const std::vector<int>& chips, const std::string& name,
                               const std::vector<int>& no_wait) noexcept {
  ipc::DomainFreePayload fp{allocation_id};
  unsigned char frame[ipc::kRequestSlotBytes];
  const size_t len = ipc::encode_control(ipc::FrameKind::DomainFree, &fp, sizeof fp, frame);
  const int64_t deadline = sys::now_ns() + comm_timeout_ns_;
  try {
    std::vector<std::pair<int, uint64_t>> posted;
    for (int chip : chips) {
      ChildSlot& c = child(ChildKind::Chip, chip);
      if (!c.alive) continue;
      const uint64_t i = control_post(c, frame, len);
      if (std::find(no_wait.begin(), no_wait.end(), chip) == no_wait.end()) posted.emplace_back(chip, i);
    }
    for (auto& [chip, i] : posted) {
      ipc::CompletionSlot reply;
      std::string err;
      if (!control_wait(child(ChildKind::Chip, chip), i, &reply, &err, deadline))
        STRATA_LOG_WARN("comm", "freeing domain '%s' on chip %d: %s", name.c_str(), chip, err.c_str());
    }
  } catch (const std::exception& e) {
    STRATA_LOG_ERROR("comm", "freeing domain '%s': %s", name.c_str(), e.what());
  }
}

void WorkerImpl::domain_free(DomainRecord& d) noexcept {
  if (d.state == DomainRecord::State::Freed) return;
  d.state = DomainRecord::State::Freed;
  free_on_chips(d.allocation_id, d.workers, d.name);
  domains_.erase(std::remove_if(domains_.begin(), domains_.end(), [&](const auto& p) { return p.get() == &d; }),
                 domains_.end());
}

void WorkerImpl::domains_end_run(bool failed) noexcept {
  // Copy: freeing edits domains_. Newest first.
  std::vector<std::shared_ptr<DomainRecord>> all(domains_.rbegin(), domains_.rend());
  for (auto& d : all) {
    if (d->state == DomainRecord::State::Released ||
        (failed && d->state == DomainRecord::State::Live && !d->until_close)) {
      if (failed && d->state == DomainRecord::State::Live)
        STRATA_LOG_INFO("comm", "run failed: sweeping live domain '%s'", d->name.c_str());
      d->state = DomainRecord::State::Released;
      domain_free(*d);
    }
  }
}

void WorkerImpl::domains_close() noexcept {
  std::vector<std::shared_ptr<DomainRecord>> all(domains_.rbegin(), domains_.rend());
  for (auto& d : all) {
    domain_free(*d);
    d->owner = nullptr;
  }
  domains_.clear();
}

void WorkerImpl::check_not_released_domain(const TaskArgs& a, const std::string& name) const {
  for (const auto& d : domains_) {
    if (d->state != DomainRecord::State::Released) continue;
    for (const ChipDomainContext& c : d->chips)
      for (const Tensor& t : a.tensors()) {
        const auto p = reinterpret_cast<uint64_t>(t.data);
        if (p >= c.local_window_base && p < c.local_window_base + c.actual_window_size)
          throw UsageError("submit of '" + name + "': a tensor lies in domain '" + d->name +
                           "', which was released; no new task may name a released domain");
      }
  }
}

void WorkerImpl::wait_task_finished(uint64_t id) {
  while (id && ring_->live(id) && !record(id).finished) {
    push_eligible();
    wait_progress(-1);
  }
}

void WorkerImpl::copy(const DomainBuffer& buf, void* host, size_t bytes, bool to_device, uint64_t run) {
  const char* what = to_device ? "copy_to" : "copy_from";
  check_in_run(run, what);
  if (!broken_.empty()) throw ChildDiedError(std::string(what) + ": " + broken_);
  if (bytes == SIZE_MAX) bytes = buf.nbytes();
  if (bytes > buf.nbytes())
    throw UsageError(std::string(what) + ": " + std::to_string(bytes) + " bytes into buffer '" + buf.name + "' of " +
                     std::to_string(buf.nbytes()) + " bytes");
  int chip = -1;
  for (const auto& d : domains_) {
    if (d->state != DomainRecord::State::Live) continue;
    for (const ChipDomainContext& c : d->chips)
      for (const DomainBuffer& b : c.buffers)
        if (b.data == buf.data) chip = c.worker;
  }
  if (chip < 0)
    throw UsageError(std::string(what) + ": buffer '" + buf.name + "' is not in a live domain of this Worker");
  // Consistent with the graph: the buffer's last writer finishes first.
  wait_task_finished(deps_.last_writer(buf.data));
  std::string err;
  if (!copy_through_chip(chip, to_device ? buf.data : host, to_device ? host : buf.data, bytes, to_device,
                         sys::now_ns() + comm_timeout_ns_, &err))
    throw Error(std::string(what) + " of buffer '" + buf.name + "' on chip " + std::to_string(chip) + ": " + err);
}

bool WorkerImpl::copy_through_chip(int chip, void* dst, const void* src, size_t bytes, bool to_device,
                                   int64_t deadline_ns, std::string* err) {
  // The chip copies between its memory and a staging area in the shared arena (its backend's copy).
  void* stage = staging_alloc(bytes);
  if (to_device) std::memcpy(stage, src, bytes);
  ipc::CopyPayload cp{reinterpret_cast<uint64_t>(to_device ? dst : stage),
                      reinterpret_cast<uint64_t>(to_device ? stage : src), bytes, to_device ? 1u : 0u, 0};
  unsigned char frame[ipc::kRequestSlotBytes];
  const size_t len = ipc::encode_control(ipc::FrameKind::Copy, &cp, sizeof cp, frame);
  ChildSlot& c = child(ChildKind::Chip, chip);
  ipc::CompletionSlot reply;
  const bool ok = control_wait(c, control_post(c, frame, len), &reply, err, deadline_ns);
  if (ok && !to_device) std::memcpy(dst, stage, bytes);
  staging_free(stage);
  return ok;
}

void WorkerImpl::validate_bringup() const {
  if (opts_.bringup.empty()) return;
  if (level_ != 3)
    throw UsageError("WorkerOptions::bringup on a level " + std::to_string(level_) +
                     " Worker: bring-up configures chips, which only level 3 Workers have");
  if (opts_.bringup.size() != device_ids_.size())
    throw UsageError("WorkerOptions::bringup has " + std::to_string(opts_.bringup.size()) + " entries for " +
                     std::to_string(device_ids_.size()) + " chips; give exactly one per chip");
  std::vector<bool> rank_seen(device_ids_.size(), false);
  for (size_t i = 0; i < opts_.bringup.size(); ++i) {
    const ChipBringup& b = opts_.bringup[i];
    const std::string who = "WorkerOptions::bringup[" + std::to_string(i) + "]";
    if (b.rank < 0 || static_cast<size_t>(b.rank) >= device_ids_.size() || rank_seen[static_cast<size_t>(b.rank)])
      throw UsageError(who + ": rank " + std::to_string(b.rank) + " is out of range or taken; ranks must be 0.." +
                       std::to_string(device_ids_.size() - 1) + ", each once");
    rank_seen[static_cast<size_t>(b.rank)] = true;
    if (b.window_size == 0) throw UsageError(who + ": window_size is 0");
    const ChipBringup& first = opts_.bringup[0];
    bool same = b.window_size == first.window_size && b.buffers.size() == first.buffers.size();
    for (size_t k = 0; same && k < b.buffers.size(); ++k)
      same = b.buffers[k].name == first.buffers[k].name && b.buffers[k].dtype == first.buffers[k].dtype &&
             b.buffers[k].count == first.buffers[k].count;
    if (!same)
      throw UsageError(who +
                       ": window_size and buffers differ from bringup[0]; a domain's windows are "
                       "symmetric, so every chip must declare the same ones");
    size_t need = 0;
    std::set<std::string> names;
    for (const BufferSpec& bs : b.buffers) {
      if (!names.insert(bs.name).second) throw UsageError(who + ": buffer name '" + bs.name + "' is used twice");
      need = (need + bs.count * dtype_size(bs.dtype) + 63) / 64 * 64;
    }
    if (need > b.window_size)
      throw UsageError(who + ": the buffers need " + std::to_string(need) + " bytes but window_size is " +
                       std::to_string(b.window_size));
    for (const auto& [name, bytes] : b.inputs) {
      auto it = std::find_if(b.buffers.begin(), b.buffers.end(), [&](const BufferSpec& bs) { return bs.name == name; });
      if (it == b.buffers.end()) throw UsageError(who + ": input for unknown buffer '" + name + "'");
      if (bytes.size() > it->count * dtype_size(it->dtype))
        throw UsageError(who + ": input for '" + name + "' has " + std::to_string(bytes.size()) +
                         " bytes, more than the buffer holds");
    }
  }
}

void WorkerImpl::bringup_at_init() {
  const auto& cfgs = opts_.bringup;
  const int n = count_[0];
  std::vector<int> workers(static_cast<size_t>(n), -1);
  for (int i = 0; i < n; ++i) workers[static_cast<size_t>(cfgs[static_cast<size_t>(i)].rank)] = i;
  const int64_t deadline = sys::now_ns() + static_cast<int64_t>(opts_.init_timeout.count()) * 1000000;
  std::string err;
  int chip = -1;
  std::shared_ptr<DomainRecord> d;
  try {
    d = domain_transaction("", workers, cfgs[0].window_size, cfgs[0].buffers, deadline, &err, &chip);
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (d) d->until_close = true;
  if (!d) {
    if (err.find("did not answer in time") != std::string::npos) {
      std::string pending;
      for (int i = 0; i < n; ++i)
        if (child(ChildKind::Chip, i).load() != 0)
          pending += (pending.empty() ? "chip " : ", chip ") + std::to_string(i);
      throw TimeoutError("init(): bring-up timed out after " + std::to_string(opts_.init_timeout.count()) +
                         " ms; still pending: " + pending + " (raise WorkerOptions::init_timeout)");
    }
    throw Error("chip " + std::to_string(chip) + " bring-up failed: " + err);
  }
  chip_contexts_.assign(static_cast<size_t>(n), ChipContext{});
  for (const ChipDomainContext& c : d->chips) {
    ChipContext& out = chip_contexts_[static_cast<size_t>(c.worker)];
    out.device_id = device_ids_[static_cast<size_t>(c.worker)];
    out.rank = c.domain_rank;
    out.nranks = c.domain_size;
    out.device_ctx = c.device_ctx;
    out.local_window_base = c.local_window_base;
    out.actual_window_size = c.actual_window_size;
    out.buffer_ptrs = c.buffer_ptrs();
  }
  // Host inputs, loaded through the chip (the backend's copy), before init() returns.
  for (int i = 0; i < n; ++i) {
    const ChipDomainContext& c = d->chips[static_cast<size_t>(cfgs[static_cast<size_t>(i)].rank)];
    for (const auto& [name, bytes] : cfgs[static_cast<size_t>(i)].inputs) {
      const DomainBuffer& b = c.find(name);
      std::string cerr;
      const bool ok = copy_through_chip(i, b.data, bytes.data(), bytes.size(), true, deadline, &cerr);
      if (!ok) throw Error("chip " + std::to_string(i) + " bring-up failed: loading input '" + name + "': " + cerr);
    }
  }
}

const std::vector<ChipContext>& WorkerImpl::chip_contexts() const {
  if (!initialized_) throw UsageError("chip_contexts() before init(): they exist once init() has brought the chips up");
  if (opts_.bringup.empty())
    throw UsageError("chip_contexts(): this Worker has no bring-up configuration (WorkerOptions::bringup)");
  return chip_contexts_;
}

}  // namespace detail

// ---- public domain types ---------------------------------------------------------------------------

const DomainBuffer& ChipDomainContext::find(std::string_view buffer_name) const {
  for (const DomainBuffer& b : buffers)
    if (b.name == buffer_name) return b;
  throw UsageError("domain '" + name + "' has no buffer named '" + std::string(buffer_name) + "'");
}

std::map<std::string, uint64_t> ChipDomainContext::buffer_ptrs() const {
  std::map<std::string, uint64_t> out;
  for (const DomainBuffer& b : buffers) out[b.name] = reinterpret_cast<uint64_t>(b.data);
  return out;
}

Domain::Domain(Domain&& other) noexcept : rec_(std::move(other.rec_)) {}
Domain& Domain::operator=(Domain&& other) noexcept {
  if (this != &other) {
    release();
    rec_ = std::move(other.rec_);
  }
  return *this;
}
Domain::~Domain() {
  try {
    release();
  } catch (...) {
    // Freeing outside a run talks to the chips; a failure there is logged, never thrown from here.
  }
}

static const detail::DomainRecord& checked(const std::shared_ptr<detail::DomainRecord>& rec) {
  if (!rec) throw UsageError("empty Domain handle");
  return *rec;
}

const std::string& Domain::name() const { return checked(rec_).name; }
uint64_t Domain::allocation_id() const { return checked(rec_).allocation_id; }
const std::vector<int>& Domain::workers() const { return checked(rec_).workers; }
bool Domain::released() const { return !rec_ || rec_->state != detail::DomainRecord::State::Live; }

const ChipDomainContext& Domain::operator[](int worker) const {
  const detail::DomainRecord& d = checked(rec_);
  if (d.state != detail::DomainRecord::State::Live)
    throw UsageError("domain '" + d.name + "' (allocation " + std::to_string(d.allocation_id) +
                     ") was released; its contexts may no longer be used");
  if (worker < 0 || static_cast<size_t>(worker) >= d.rank_of.size() || d.rank_of[static_cast<size_t>(worker)] < 0)
    throw UsageError("domain '" + d.name + "': chip " + std::to_string(worker) + " is not a member (members: " + [&] {
      std::string s;
      for (int w : d.workers) s += (s.empty() ? "" : ", ") + std::to_string(w);
      return s;
    }() + ")");
  return d.chips[static_cast<size_t>(d.rank_of[static_cast<size_t>(worker)])];
}

void Domain::release() {
  if (!rec_ || rec_->state != detail::DomainRecord::State::Live) return;
  if (rec_->owner)
    rec_->owner->domain_release(*rec_);
  else
    rec_->state = detail::DomainRecord::State::Freed;
}

}  // namespace strata
