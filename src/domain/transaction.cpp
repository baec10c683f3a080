// domain/transaction.cpp — the requests a domain makes of its member chips: the communicator bring-up,
// the two-phase allocation, the frees, the copies, and the bring-up at init() (see domain_manager.hpp).
// Every phase posts its requests to all members before it waits for any answer.
#include <algorithm>
#include <cstring>

#include "comm/backend.hpp"
#include "comm/window_layout.hpp"
#include "domain/domain_manager.hpp"
#include "ipc/codec.hpp"
#include "util/checked.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"
#include "util/text.hpp"

namespace strata::domain {
namespace {

using supervisor::Reply;

// Staging memory in the shared arena, returned when it goes out of scope.
class Staging {
 public:
  Staging(memory::Arena& arena, size_t bytes) : arena_(arena), p_(arena.alloc(bytes)) {
    if (!p_)
      throw UsageError("no room in the buffer arena to stage " + std::to_string(bytes) +
                       " bytes; raise WorkerOptions::memory.buffer_bytes (STRATA_BUFFER_BYTES)");
  }
  ~Staging() { arena_.free(p_, /*keep_pages=*/true); }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  void* get() const noexcept { return p_; }

 private:
  memory::Arena& arena_;
  void* p_;
};

}  // namespace

bool DomainManager::ensure_comm(int64_t deadline_ns, Failure* failure) {
  // The base communicator, lazily, on every chip (so any later subset can use it); again on a chip that
  // was respawned.
  unsigned char frame[ipc::kRequestSlotBytes];
  const size_t len = ipc::encode_control(ipc::FrameKind::CommBringup, nullptr, 0, frame);
  std::vector<std::pair<int, uint64_t>> asked;
  for (int i = 0; i < sup_.count(ChildKind::Chip); ++i) {
    supervisor::Child& c = sup_.child(ChildKind::Chip, i);
    if (comm_up_[static_cast<size_t>(i)] || !c.alive()) continue;
    asked.emplace_back(i, sup_.post_request(c, frame, len, deadline_ns, "the communicator bring-up"));
  }
  bool ok = true;
  bool any = false;
  for (auto& [chip, id] : asked) {
    const Reply r = sup_.wait_reply(id);
    if (r.kind == Reply::Kind::Ok) {
      comm_up_[static_cast<size_t>(chip)] = true;
      any = true;
    } else if (ok) {
      ok = false;
      *failure = Failure{chip, "communicator bring-up failed: " + r.payload, r.timed_out, r.kind == Reply::Kind::Lost};
    }
  }
  if (any && comm_bringups_ == 0) comm_bringups_ = 1;
  return ok;
}

std::shared_ptr<detail::DomainRecord> DomainManager::transaction(const std::string& name,
                                                                 const std::vector<int>& workers, size_t window_size,
                                                                 const std::vector<BufferSpec>& buffers,
                                                                 int64_t deadline_ns, Failure* failure) {
  if (!ensure_comm(deadline_ns, failure)) return nullptr;
  const int n = static_cast<int>(workers.size());
  std::vector<size_t> sizes;
  for (const BufferSpec& b : buffers) sizes.push_back(b.count * dtype_size(b.dtype));  // validated
  std::string why;
  const auto layout = comm::WindowLayout::make(window_size, sizes, &why);

  // The descriptor table is staged first: nothing is asked of a chip before the parent has what it needs.
  Staging table(arena_, sizeof(comm::WindowDescriptor) * static_cast<size_t>(n));
  auto* descs = static_cast<comm::WindowDescriptor*>(table.get());

  auto d = std::make_shared<detail::DomainRecord>();
  d->owner = this;
  d->name = name;
  d->allocation_id = ++next_allocation_id_;
  d->workers = workers;
  d->rank_of.assign(static_cast<size_t>(sup_.count(ChildKind::Chip)), -1);
  for (int r = 0; r < n; ++r) d->rank_of[static_cast<size_t>(workers[static_cast<size_t>(r)])] = r;
  d->usable = layout->usable;
  d->abort_slot = take_abort_slot();
  auto member = [&](int r) -> supervisor::Child& {
    return sup_.child(ChildKind::Chip, workers[static_cast<size_t>(r)]);
  };
  // Records the first failure in rank order.
  auto note = [&](int r, const Reply& reply, const std::string& prefix) {
    if (failure->chip >= 0) return;
    *failure = Failure{workers[static_cast<size_t>(r)], prefix + reply.payload, reply.timed_out,
                       reply.kind == Reply::Kind::Lost};
  };
  // Frees the allocation on every member (a member that never prepared answers at once).
  auto abort = [&]() {
    d->state = detail::DomainRecord::State::Released;
    free_all({d}, sys::now_ns() + opts_.comm_timeout_ns);
    free_slots_.push_back(d->abort_slot);
    return nullptr;
  };

  // Phase 1: every member allocates, zeroes and exports its window.
  const int64_t prepare_begin = sys::now_ns();
  std::vector<uint64_t> ids(static_cast<size_t>(n));
  {
    unsigned char frame[ipc::kRequestSlotBytes];
    const ipc::DomainPreparePayload pp{d->allocation_id, layout->total};
    const size_t len = ipc::encode_control(ipc::FrameKind::DomainPrepare, &pp, sizeof pp, frame);
    for (int r = 0; r < n; ++r)
      ids[static_cast<size_t>(r)] = sup_.post_request(member(r), frame, len, deadline_ns, "a domain allocation");
  }
  std::vector<uint64_t> bases(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    const Reply reply = sup_.wait_reply(ids[static_cast<size_t>(r)]);
    if (reply.kind != Reply::Kind::Ok) {
      note(r, reply, "");
      continue;
    }
    comm::WindowDescriptor& desc = descs[r];
    desc = comm::WindowDescriptor{};
    if (reply.payload.size() < sizeof(uint64_t) || reply.detail > comm::kMaxWindowDescriptorBytes ||
        reply.payload.size() != sizeof(uint64_t) + reply.detail) {
      note(r, Reply{Reply::Kind::Failed, false, ipc::ErrorCode::BadRequest, 0, "a malformed prepare reply"}, "");
      continue;
    }
    std::memcpy(&bases[static_cast<size_t>(r)], reply.payload.data(), sizeof(uint64_t));
    desc.size = static_cast<uint32_t>(reply.detail);
    std::memcpy(desc.bytes, reply.payload.data() + sizeof(uint64_t), desc.size);
  }
  STRATA_OBSERVE(obs_, span(trace::Span::DomainPrepare, prepare_begin, sys::now_ns(), "'" + name + "'"));
  if (failure->chip >= 0) return abort();

  // Phase 2: every member imports its peers, writes its context page and reports its buffers.
  const int64_t commit_begin = sys::now_ns();
  {
    ipc::DomainCommitPayload cp{};
    cp.allocation_id = d->allocation_id;
    cp.size = static_cast<uint32_t>(n);
    cp.window_size = layout->usable;
    cp.descriptors = reinterpret_cast<uint64_t>(descs);
    cp.descriptor_stride = sizeof(comm::WindowDescriptor);
    cp.nbuffers = static_cast<uint32_t>(buffers.size());
    cp.abort_flag = reinterpret_cast<uint64_t>(abort_word(d->abort_slot));
    for (size_t b = 0; b < buffers.size(); ++b) cp.buffer_bytes[b] = sizes[b];
    for (int r = 0; r < n; ++r) {
      cp.rank = static_cast<uint32_t>(r);
      unsigned char frame[ipc::kRequestSlotBytes];
      const size_t len = ipc::encode_control(ipc::FrameKind::DomainCommit, &cp, sizeof cp, frame);
      ids[static_cast<size_t>(r)] = sup_.post_request(member(r), frame, len, deadline_ns, "a domain allocation");
    }
  }
  for (int r = 0; r < n; ++r) {
    const Reply reply = sup_.wait_reply(ids[static_cast<size_t>(r)]);
    if (reply.kind != Reply::Kind::Ok) {
      note(r, reply, "");
      continue;
    }
    // A chip that reports another number of buffers than asked for is an error, not a truncation.
    const size_t reported = reply.payload.size() / sizeof(uint64_t);
    if (reported != buffers.size()) {
      note(r,
           Reply{Reply::Kind::Failed, false, ipc::ErrorCode::BadRequest, 0,
                 "reported " + std::to_string(reported) + " buffers, but " + std::to_string(buffers.size()) +
                     " were configured"},
           "");
      continue;
    }
    ChipContext ctx;
    ctx.domain = name;
    ctx.chip = workers[static_cast<size_t>(r)];
    ctx.device_id = opts_.device_ids.at(static_cast<size_t>(ctx.chip));
    ctx.rank = r;
    ctx.size = n;
    ctx.device_ctx = reply.detail;
    ctx.window_base = bases[static_cast<size_t>(r)];
    ctx.window_size = layout->usable;
    for (size_t b = 0; b < buffers.size(); ++b) {
      uint64_t p = 0;
      std::memcpy(&p, reply.payload.data() + b * sizeof(uint64_t), sizeof p);
      if (p != ctx.window_base + layout->offsets[b])
        note(r,
             Reply{Reply::Kind::Failed, false, ipc::ErrorCode::BadRequest, 0,
                   "reported buffer '" + buffers[b].name + "' at an unexpected address"},
             "");
      ctx.buffers.push_back(
          DomainBuffer{buffers[b].name, reinterpret_cast<void*>(p), buffers[b].dtype, buffers[b].count, ctx.chip});
    }
    d->chips.push_back(std::move(ctx));
  }
  STRATA_OBSERVE(obs_, span(trace::Span::DomainCommit, commit_begin, sys::now_ns(), "'" + name + "'"));
  if (failure->chip >= 0) return abort();
  for (const ChipContext& c : d->chips)
    memory_.add(reinterpret_cast<void*>(c.window_base), layout->usable,
                "the window of chip " + std::to_string(c.chip) + " in domain '" + name + "'");
  domains_.push_back(d);
  return d;
}

std::string DomainManager::free_all(const std::vector<std::shared_ptr<detail::DomainRecord>>& domains,
                                    int64_t deadline_ns) noexcept {
  std::string problem;
  const int64_t begin = sys::now_ns();
  try {
    struct Asked {
      detail::DomainRecord* d;
      int chip;
      uint64_t id;
    };
    std::vector<Asked> asked;
    for (const auto& d : domains) {
      const ipc::DomainFreePayload fp{d->allocation_id};
      unsigned char frame[ipc::kRequestSlotBytes];
      const size_t len = ipc::encode_control(ipc::FrameKind::DomainFree, &fp, sizeof fp, frame);
      for (int chip : d->workers) {
        supervisor::Child& c = sup_.child(ChildKind::Chip, chip);
        if (!c.alive()) continue;  // its memory went with it
        asked.push_back(Asked{d.get(), chip, sup_.post_request(c, frame, len, deadline_ns, "a domain free")});
      }
    }
    for (const Asked& a : asked) {
      const Reply r = sup_.wait_reply(a.id);
      if (r.kind == Reply::Kind::Ok) continue;
      const std::string msg = "freeing domain '" + a.d->name + "' on chip " + std::to_string(a.chip) + ": " + r.payload;
      if (r.kind == Reply::Kind::Lost) {
        if (problem.empty()) problem = msg;
      } else {
        STRATA_LOG_WARN("comm", "%s", msg.c_str());
      }
    }
  } catch (const std::exception& e) {
    if (problem.empty()) problem = std::string("freeing domains: ") + e.what();
  }
  if constexpr (trace::kCompiledIn) {
    if (obs_) {
      std::string names;
      for (const auto& d : domains) names += (names.empty() ? "'" : ", '") + d->name + "'";
      obs_->span(trace::Span::DomainFree, begin, sys::now_ns(), names);
    }
  }
  for (const auto& d : domains)
    if (d->state != detail::DomainRecord::State::Freed) {
      if (std::find(domains_.begin(), domains_.end(), d) != domains_.end()) {
        forget(*d);
      } else {
        d->state = detail::DomainRecord::State::Freed;  // a failed transaction's record
      }
    }
  return problem;
}

bool DomainManager::copy_through(int chip, void* dst, const void* src, size_t bytes, bool to_device,
                                 int64_t deadline_ns, Failure* failure) {
  // The chip copies between its memory and a staging area in the shared arena (its backend's copy).
  Staging stage(arena_, bytes);
  if (to_device) std::memcpy(stage.get(), src, bytes);
  const ipc::CopyPayload cp{reinterpret_cast<uint64_t>(to_device ? dst : stage.get()),
                            reinterpret_cast<uint64_t>(to_device ? stage.get() : src), bytes, to_device ? 1u : 0u, 0};
  unsigned char frame[ipc::kRequestSlotBytes];
  const size_t len = ipc::encode_control(ipc::FrameKind::Copy, &cp, sizeof cp, frame);
  const Reply r =
      sup_.wait_reply(sup_.post_request(sup_.child(ChildKind::Chip, chip), frame, len, deadline_ns, "a copy"));
  if (r.kind != Reply::Kind::Ok) {
    *failure = Failure{chip, r.payload, r.timed_out, r.kind == Reply::Kind::Lost};
    return false;
  }
  if (!to_device) std::memcpy(dst, stage.get(), bytes);
  return true;
}

void DomainManager::copy(const DomainBuffer& buf, void* host, size_t bytes, bool to_device) {
  const char* what = to_device ? "copy_to" : "copy_from";
  if (bytes == SIZE_MAX) bytes = buf.nbytes();
  if (host == nullptr)
    throw UsageError(std::string(what) + " of buffer '" + buf.name + "': the host " +
                     (to_device ? "source" : "destination") + " is null");
  if (bytes > buf.nbytes())
    throw UsageError(std::string(what) + ": " + std::to_string(bytes) + " bytes into buffer '" + buf.name + "' of " +
                     std::to_string(buf.nbytes()) + " bytes");
  const detail::DomainRecord* owner = nullptr;
  int chip = -1;
  for (const auto& d : domains_) {
    if (d->state != detail::DomainRecord::State::Live) continue;
    for (const ChipContext& c : d->chips)
      for (const DomainBuffer& b : c.buffers)
        if (b.data == buf.data) {
          chip = c.chip;
          owner = d.get();
        }
  }
  if (chip < 0)
    throw UsageError(std::string(what) + ": buffer '" + buf.name + "' is not in a live domain of this Worker");
  if (!owner->broken.empty())
    throw ChildDiedError(std::string(what) + " of buffer '" + buf.name + "' in domain '" + owner->name +
                         "': " + owner->broken);
  if (bytes == 0) return;
  // Consistent with the graph: a copy into the buffer follows its last writer and every reader since; a
  // copy out of it follows its last writer.
  sched_.wait_accessors(buf.data, to_device);
  Failure f;
  const int64_t begin = sys::now_ns();
  const bool copied = copy_through(chip, to_device ? buf.data : host, to_device ? host : buf.data, bytes, to_device,
                                   sys::now_ns() + opts_.comm_timeout_ns, &f);
  STRATA_OBSERVE(obs_, span(trace::Span::Copy, begin, sys::now_ns(),
                            std::string(what) + " '" + buf.name + "' on chip " + std::to_string(chip) + ", " +
                                std::to_string(bytes) + " bytes"));
  if (!copied) {
    const std::string msg =
        std::string(what) + " of buffer '" + buf.name + "' on chip " + std::to_string(chip) + ": " + f.message;
    if (f.timed_out) throw TimeoutError(msg + " (WorkerOptions::timeouts.comm, STRATA_COMM_TIMEOUT_MS)");
    if (f.lost) throw ChildDiedError(msg);
    throw Error(msg);
  }
}

void DomainManager::bringup(const std::vector<ChipBringup>& cfgs, int64_t deadline_ns) {
  const int n = static_cast<int>(cfgs.size());
  std::vector<int> workers(static_cast<size_t>(n), -1);
  for (int i = 0; i < n; ++i) workers[static_cast<size_t>(cfgs[static_cast<size_t>(i)].rank)] = i;
  Failure f;
  auto d = transaction("", workers, cfgs[0].window_size, cfgs[0].buffers, deadline_ns, &f);
  auto fail = [&](const std::string& detail) {
    if (f.timed_out) {
      std::vector<std::string> pending;
      for (int i = 0; i < n; ++i) {
        const supervisor::Child& c = sup_.child(ChildKind::Chip, i);
        if (c.state == supervisor::ChildState::Lost) pending.push_back("chip " + std::to_string(i));
      }
      throw TimeoutError("init(): bring-up timed out; still pending: " + util::join(pending) +
                         " (raise WorkerOptions::timeouts.init, STRATA_INIT_TIMEOUT_MS)");
    }
    throw Error("bring-up of chip " + std::to_string(f.chip) + " failed: " + detail);
  };
  if (!d) fail(f.message);
  d->until_close = true;
  // Host inputs, loaded through the chip (the backend's copy), before init() returns.
  for (int i = 0; i < n; ++i) {
    const ChipContext& c = d->chips[static_cast<size_t>(cfgs[static_cast<size_t>(i)].rank)];
    for (const auto& [bname, bytes] : cfgs[static_cast<size_t>(i)].inputs) {
      const DomainBuffer& b = c.buffer(bname);
      if (!copy_through(i, b.data, bytes.data(), bytes.size(), true, deadline_ns, &f))
        fail("loading input '" + bname + "': " + f.message);
    }
  }
  chip_contexts_.assign(static_cast<size_t>(n), ChipContext{});
  for (const ChipContext& c : d->chips) chip_contexts_[static_cast<size_t>(c.chip)] = c;
}

void DomainManager::store_outputs(const std::vector<ChipBringup>& cfgs, int64_t deadline_ns) {
  if (chip_contexts_.empty() || !has_bringup())
    throw ChildDiedError("store_outputs(): the bring-up domain is gone (a chip died); call respawn() first");
  for (size_t i = 0; i < cfgs.size(); ++i) {
    for (const auto& [bname, host] : cfgs[i].outputs) {
      const DomainBuffer& b = chip_contexts_[i].buffer(bname);
      Failure f;
      if (!copy_through(static_cast<int>(i), host.data(), b.data, b.nbytes(), false, deadline_ns, &f)) {
        const std::string msg =
            "store_outputs(): storing buffer '" + bname + "' of chip " + std::to_string(i) + ": " + f.message;
        if (f.timed_out) throw TimeoutError(msg + " (WorkerOptions::timeouts.comm, STRATA_COMM_TIMEOUT_MS)");
        if (f.lost) throw ChildDiedError(msg);
        throw Error(msg);
      }
    }
  }
}

}  // namespace strata::domain
