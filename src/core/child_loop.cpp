// The child side: what a chip, sub or worker process runs after fork.
//
// A child owns nothing of the parent's scheduling state: it reads frames from its mailbox in order,
// waits on the status board for the producers each frame names, runs the callable (a kernel through the
// backend, a host callable, or an orchestration function on its own inner Worker), marks the board and
// posts a completion. Chips also serve control frames in the same order: kernels loaded after init(),
// and the domain requests (communicator bring-up, window prepare/commit/free, copies) through their
// backend. It never throws out of this file: every failure becomes a completion message.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "core/registry.hpp"
#include "core/worker_impl.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata::detail {
namespace {

void copy_message(char* dst, size_t cap, const std::string& msg) noexcept {
  size_t n = std::min(msg.size(), cap - 1);
  std::memcpy(dst, msg.data(), n);
  dst[n] = '\0';
  if (msg.size() >= cap && cap > 4) std::memcpy(dst + cap - 4, "...", 4);
}

}  // namespace

int WorkerImpl::child_main(size_t slot) {
  ChildSlot& me = children_[slot];
  ipc::MailboxHeader& h = me.mb->header;
  auto fail_init = [&](const std::string& msg) {
    copy_message(h.init_message, sizeof h.init_message, msg);
    h.child_state.store(static_cast<uint32_t>(ipc::ChildState::InitFailed), std::memory_order_release);
    const uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof one);
    (void)ignored;
    return 0;
  };
  std::unique_ptr<comm::ChipBackend> backend;
  Worker* inner = nullptr;
  switch (me.kind) {
    case ChildKind::Chip: {
      backend = comm::make_backend(opts_.backend);
      std::string err;
      if (!backend) return fail_init("backend '" + opts_.backend + "' is not available");
      comm::ChipInfo info;
      info.chip_index = me.index;
      info.chip_count = count_[0];
      info.device_id = me.device_id;
      info.threads = opts_.chip_threads;
      info.shared = backend_shared_.get();
      info.options = opts_.backend_options;
      if (!backend->start(info, &err)) return fail_init(err);
      break;
    }
    case ChildKind::Sub:
      break;
    case ChildKind::Worker:
      inner = child_workers_[static_cast<size_t>(me.index)].get();
      try {
        inner->init();
      } catch (const std::exception& e) {
        return fail_init(e.what());
      }
      break;
  }
  h.child_state.store(static_cast<uint32_t>(ipc::ChildState::Ready), std::memory_order_release);
  const uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof one);
  (void)ignored;
  child_loop(me, backend.get(), inner);
  h.child_state.store(static_cast<uint32_t>(ipc::ChildState::Exiting), std::memory_order_release);
  if (inner) {
    try {
      inner->close();
    } catch (...) {
    }
  }
  if (backend) backend->stop();
  return 0;
}

void WorkerImpl::child_loop(ChildSlot& me, comm::ChipBackend* backend, Worker* inner) {
  ipc::Mailbox* mb = me.mb;
  ipc::MailboxHeader& h = mb->header;
  auto frame = std::make_unique<ipc::DecodedFrame>();
  uint64_t tail = h.req_tail.load(std::memory_order_relaxed);
  uint64_t cpl = h.cpl_head.load(std::memory_order_relaxed);
  std::string err;

  // Wakes the parent if it sleeps and wants to hear about completions up to `cpl` (any, if force).
  auto wake_parent = [&](bool force) {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // Dekker with the parent's sleeping flag
    if (board_->header.parent_sleeping.load(std::memory_order_acquire) &&
        (force || cpl >= h.parent_wake_at.load(std::memory_order_relaxed))) {
      const uint64_t v = 1;
      ssize_t ignored = write(wake_fd_, &v, sizeof v);
      (void)ignored;
    }
  };
  // Fills the next completion slot and publishes it.
  auto post = [&](uint64_t id, uint32_t part, ipc::CompletionStatus status, auto&& fill) {
    ipc::CompletionSlot& s = mb->completions[cpl % ipc::kCompletionSlots];
    fill(s);
    s.task_id = id;
    s.part = part;
    s.status = static_cast<int32_t>(status);
    h.cpl_head.store(++cpl, std::memory_order_release);
    wake_parent(false);
  };
  auto complete = [&](uint64_t id, uint32_t part, ipc::CompletionStatus status, uint64_t detail,
                      const std::string& msg) {
    post(id, part, status, [&](ipc::CompletionSlot& s) {
      s.detail = detail;
      if (status == ipc::CompletionStatus::Ok)
        s.message[0] = '\0';
      else
        copy_message(s.message, sizeof s.message, msg);
    });
  };
  // A reply that carries bytes (domain requests): detail and message as the handler set them.
  auto complete_reply = [&](uint64_t id, const ipc::CompletionSlot& reply) {
    post(id, 0, ipc::CompletionStatus::Ok, [&](ipc::CompletionSlot& s) { std::memcpy(&s, &reply, sizeof s); });
  };
  ChipWindows windows;

  for (;;) {
    if (h.req_head.load(std::memory_order_acquire) == tail) {
      ipc::mailbox_wait_request(mb, spin_ns_, 1'000'000'000);
      continue;
    }
    const unsigned char* bytes = mb->requests[tail % ipc::kRequestSlots];
    err.clear();
    const bool ok = ipc::frame_decode(bytes, ipc::kRequestSlotBytes, frame.get(), &err);
    const ipc::FrameHeader& fh = frame->header;
    h.req_tail.store(++tail, std::memory_order_release);
    if (!ok) {
      uint64_t id = 0;
      std::memcpy(&id, bytes + offsetof(ipc::FrameHeader, task_id), sizeof id);
      STRATA_LOG_ERROR("child", "%s rejected a frame: %s", child_name(me.kind, me.index).c_str(), err.c_str());
      if (id && !(id & kControlIdBit)) ipc::board_finish_part(board_, id, true);
      complete(id, 0, ipc::CompletionStatus::Rejected, 0, err);
      continue;
    }
    switch (static_cast<ipc::FrameKind>(fh.kind)) {
      case ipc::FrameKind::Shutdown:
        return;
      case ipc::FrameKind::LoadKernel: {
        comm::KernelImpl impl;
        if (frame->library[0] == '\0') {
          impl.fn = core::find_static_kernel(frame->symbol);  // a STRATA_KERNEL of this program
        } else {
          void* handle = dlopen(frame->library, RTLD_NOW | RTLD_LOCAL);
          impl.entry = handle ? reinterpret_cast<detail::KernelEntry>(dlsym(handle, frame->symbol)) : nullptr;
          if (!handle) err = dlerror();
        }
        if (!impl.fn && !impl.entry) {
          complete(fh.task_id, 0, ipc::CompletionStatus::Failed, 0,
                   std::string("cannot load ") + frame->symbol + " from " +
                       (frame->library[0] ? frame->library : "this program") + ": " +
                       (err.empty() ? "no such kernel" : err));
          continue;
        }
        if (kernels_.size() <= fh.callable) kernels_.resize(fh.callable + 1);
        kernels_[fh.callable] = RegisteredKernel{frame->symbol, impl, frame->library};
        complete(fh.task_id, 0, ipc::CompletionStatus::Ok, 0, {});
        continue;
      }
      case ipc::FrameKind::Task:
        break;
      default: {
        // Domain and copy requests: chips only.
        ipc::CompletionSlot reply{};
        const bool done = backend ? child_control(*frame, *backend, windows, &reply, &err) : false;
        if (!backend) err = std::string(child_kind_name(me.kind)) + " processes have no device memory";
        if (done) {
          complete_reply(fh.task_id, reply);
        } else {
          complete(fh.task_id, 0, ipc::CompletionStatus::Failed, 0, err);
        }
        continue;
      }
    }

    // Wait for the producers the parent named; a failed one poisons this task.
    uint64_t failed_dep = 0;
    for (uint16_t d = 0; d < fh.ndeps; ++d) {
      if (ipc::board_wait(board_, fh.deps[d], fh.task_id, spin_ns_) == ipc::DepOutcome::Failed) {
        failed_dep = fh.deps[d];
        break;
      }
    }
    if (failed_dep) {
      ipc::board_finish_part(board_, fh.task_id, true);
      complete(fh.task_id, fh.part, ipc::CompletionStatus::Poisoned, failed_dep, {});
      continue;
    }

    h.running_task.store(fh.task_id, std::memory_order_relaxed);
    if (fh.timeout_ns > 0) {
      h.running_deadline_ns.store(sys::now_ns() + fh.timeout_ns, std::memory_order_release);
      // A parent already asleep computed its timeout without this deadline: wake it to take it in.
      wake_parent(true);
    }
    TaskContext ctx({frame->tensors, fh.ntensors}, {frame->tags, fh.ntensors}, {frame->scalars, fh.nscalars},
                    fh.task_id, 0, fh.block_dim, me.index, fh.part, fh.parts);
    bool success = false;
    switch (me.kind) {
      case ChildKind::Chip:
        if (fh.callable < kernels_.size() && (kernels_[fh.callable].impl.fn || kernels_[fh.callable].impl.entry))
          success = backend->run_kernel(kernels_[fh.callable].impl, ctx, &err);
        else
          err = "unknown kernel id " + std::to_string(fh.callable);
        break;
      case ChildKind::Sub:
        if (fh.callable < hosts_.size()) {
          try {
            hosts_[fh.callable].fn(ctx);
            success = true;
          } catch (const std::exception& e) {
            err = e.what();
          } catch (...) {
            err = "host callable threw a non-standard exception";
          }
        } else {
          err = "unknown host callable id " + std::to_string(fh.callable);
        }
        break;
      case ChildKind::Worker:
        if (fh.callable < orchs_.size()) {
          try {
            const OrchCallable& fn = orchs_[fh.callable].fn;
            inner->run([&](Orchestrator& o) { fn(o, ctx); });
            success = true;
          } catch (const std::exception& e) {
            err = e.what();
          } catch (...) {
            err = "orchestration function threw a non-standard exception";
          }
        } else {
          err = "unknown orchestration function id " + std::to_string(fh.callable);
        }
        break;
    }
    h.running_deadline_ns.store(0, std::memory_order_relaxed);
    h.running_task.store(0, std::memory_order_relaxed);
    ipc::board_finish_part(board_, fh.task_id, !success);
    complete(fh.task_id, fh.part, success ? ipc::CompletionStatus::Ok : ipc::CompletionStatus::Failed, 0, err);
  }
}

bool WorkerImpl::child_control(const ipc::DecodedFrame& f, comm::ChipBackend& backend, ChipWindows& windows,
                               ipc::CompletionSlot* reply, std::string* err) {
  switch (static_cast<ipc::FrameKind>(f.header.kind)) {
    case ipc::FrameKind::CommBringup:
      return backend.comm_bringup(err);
    case ipc::FrameKind::DomainPrepare: {
      ipc::DomainPreparePayload p;
      std::memcpy(&p, f.payload, sizeof p);
      ChipWindow w;
      comm::WindowDescriptor desc;
      if (!backend.window_alloc(p.bytes, &w.local, &desc, err)) return false;
      w.bytes = p.bytes;
      windows[p.allocation_id] = w;
      std::memcpy(reply->message, &desc, sizeof desc);
      const auto local = reinterpret_cast<uint64_t>(w.local);
      std::memcpy(reply->message + sizeof desc, &local, sizeof local);
      return true;
    }
    case ipc::FrameKind::DomainCommit: {
      ipc::DomainCommitPayload p;
      std::memcpy(&p, f.payload, sizeof p);
      auto it = windows.find(p.allocation_id);
      if (it == windows.end()) {
        *err = "commit of allocation " + std::to_string(p.allocation_id) + " that this chip never prepared";
        return false;
      }
      ChipWindow& w = it->second;
      if (p.size == 0 || p.size > STRATA_COMM_MAX_RANKS || p.rank >= p.size || p.nbuffers > ipc::kMaxDomainBuffers ||
          p.window_size + 2 * 4096 > w.bytes) {
        *err = "malformed domain commit";
        return false;
      }
      const auto* descs = reinterpret_cast<const comm::WindowDescriptor*>(p.descriptors);
      char* base = static_cast<char*>(w.local);
      auto* ctx = reinterpret_cast<CommContext*>(base + p.window_size + 4096);
      std::memset(ctx, 0, sizeof *ctx);
      for (uint32_t r = 0; r < p.size; ++r) {
        void* addr = w.local;
        if (r != p.rank) {
          if (!backend.window_import(descs[r], &addr, err)) {
            *err = "importing rank " + std::to_string(r) + "'s window: " + *err;
            for (void* a : w.imports) backend.window_unimport(a);
            w.imports.clear();
            return false;
          }
          w.imports.push_back(addr);
        }
        ctx->windows[r] = reinterpret_cast<uint64_t>(addr);
      }
      ctx->rank = p.rank;
      ctx->size = p.size;
      ctx->window_size = p.window_size;
      ctx->workspace = reinterpret_cast<uint64_t>(base + p.window_size);
      ctx->workspace_size = STRATA_COMM_SIGNAL_BYTES;
      // Carve the named buffers in declaration order and report where they are.
      auto* out = reinterpret_cast<uint64_t*>(p.buffer_ptrs);
      uint64_t off = 0;
      for (uint32_t b = 0; b < p.nbuffers; ++b) {
        out[b] = reinterpret_cast<uint64_t>(base + off);
        off = (off + p.buffer_bytes[b] + 63) / 64 * 64;
      }
      reply->detail = reinterpret_cast<uint64_t>(ctx);
      std::memcpy(reply->message, &p.nbuffers, sizeof p.nbuffers);
      return true;
    }
    case ipc::FrameKind::DomainFree: {
      ipc::DomainFreePayload p;
      std::memcpy(&p, f.payload, sizeof p);
      auto it = windows.find(p.allocation_id);
      if (it == windows.end()) return true;  // nothing was allocated here: freeing is idempotent
      for (void* a : it->second.imports) backend.window_unimport(a);
      backend.window_free(it->second.local);
      windows.erase(it);
      return true;
    }
    case ipc::FrameKind::Copy: {
      ipc::CopyPayload p;
      std::memcpy(&p, f.payload, sizeof p);
      auto* dst = reinterpret_cast<void*>(p.dst);
      const auto* src = reinterpret_cast<const void*>(p.src);
      return p.to_device ? backend.copy_to_device(dst, src, p.bytes, err)
                         : backend.copy_from_device(dst, src, p.bytes, err);
    }
    default:
      *err = "unknown control frame kind " + std::to_string(f.header.kind);
      return false;
  }
}

}  // namespace strata::detail
