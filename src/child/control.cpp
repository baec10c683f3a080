// child/control.cpp — the control frames a child serves: kernels loaded after init(), and on chips the
// domain requests (communicator bring-up, window prepare / commit / free) and copies, all through the
// chip's backend. The window's layout comes from comm/window_layout.hpp, the same code the parent
// validated it with; the backend writes the context page itself.
#include <dlfcn.h>

#include <cstring>

#include "child/child_runtime.hpp"
#include "child/kernel_registry.hpp"
#include "comm/window_layout.hpp"
#include "strata/worker.hpp"

namespace strata::child {

Answer ChildRuntime::serve_control(const ipc::DecodedFrame& f) {
  const auto kind = static_cast<ipc::FrameKind>(f.header.kind);
  if (kind == ipc::FrameKind::LoadKernel) return load_kernel(f);
  if (kind == ipc::FrameKind::Respawn) {
    if (!s_.inner) return Answer::fail(ipc::ErrorCode::Unsupported, "only child Workers respawn");
    try {
      s_.inner->respawn();
      return {};
    } catch (const std::exception& e) {
      return Answer::fail(ipc::ErrorCode::Exception, e.what());
    }
  }
  if (!backend_)
    return Answer::fail(ipc::ErrorCode::Unsupported,
                        std::string(child_kind_name(s_.kind)) + " processes have no device memory");
  std::string err;
  switch (kind) {
    case ipc::FrameKind::CommBringup:
      if (!backend_->comm_bringup(&err)) return Answer::fail(ipc::ErrorCode::Backend, err);
      return {};
    case ipc::FrameKind::DomainPrepare: {
      ipc::DomainPreparePayload p;
      std::memcpy(&p, f.payload, sizeof p);
      return domain_prepare(p);
    }
    case ipc::FrameKind::DomainCommit: {
      ipc::DomainCommitPayload p;
      std::memcpy(&p, f.payload, sizeof p);
      return domain_commit(p);
    }
    case ipc::FrameKind::DomainFree: {
      ipc::DomainFreePayload p;
      std::memcpy(&p, f.payload, sizeof p);
      return domain_free(p);
    }
    case ipc::FrameKind::Copy: {
      ipc::CopyPayload p;
      std::memcpy(&p, f.payload, sizeof p);
      return copy(p);
    }
    default:
      return Answer::fail(ipc::ErrorCode::BadRequest, "unknown control frame kind " + std::to_string(f.header.kind));
  }
}

Answer ChildRuntime::load_kernel(const ipc::DecodedFrame& f) {
  if (s_.kind != ChildKind::Chip) return Answer::fail(ipc::ErrorCode::Unsupported, "only chips load kernels");
  comm::KernelImpl impl;
  std::string err;
  if (f.library[0] == '\0') {
    impl.fn = find_static_kernel(f.symbol);  // a STRATA_KERNEL of this program
  } else {
    void* handle = dlopen(f.library, RTLD_NOW | RTLD_LOCAL);
    if (handle)
      impl.entry = reinterpret_cast<detail::KernelEntry>(dlsym(handle, f.symbol));
    else
      err = dlerror();
  }
  if (!impl.fn && !impl.entry)
    return Answer::fail(ipc::ErrorCode::BadRequest, std::string("cannot load ") + f.symbol + " from " +
                                                        (f.library[0] ? f.library : "this program") + ": " +
                                                        (err.empty() ? "no such kernel" : err));
  auto& kernels = s_.callables->kernels;
  if (kernels.size() <= f.header.callable) kernels.resize(f.header.callable + 1);
  kernels[f.header.callable] = KernelEntry{f.symbol, impl, f.library};
  return {};
}

Answer ChildRuntime::domain_prepare(const ipc::DomainPreparePayload& p) {
  Window w;
  comm::WindowDescriptor desc;
  std::string err;
  if (!backend_->window_alloc(p.bytes, &w.local, &desc, &err)) return Answer::fail(ipc::ErrorCode::Backend, err);
  if (desc.size > comm::kMaxWindowDescriptorBytes) {
    backend_->window_free(w.local);
    return Answer::fail(ipc::ErrorCode::Backend, "the backend's window descriptor is too large");
  }
  w.bytes = p.bytes;
  windows_[p.allocation_id] = w;
  Answer a;
  a.detail = desc.size;
  const auto local = reinterpret_cast<uint64_t>(w.local);
  a.payload.assign(reinterpret_cast<const char*>(&local), sizeof local);
  a.payload.append(reinterpret_cast<const char*>(desc.bytes), desc.size);
  return a;
}

Answer ChildRuntime::domain_commit(const ipc::DomainCommitPayload& p) {
  auto it = windows_.find(p.allocation_id);
  if (it == windows_.end())
    return Answer::fail(ipc::ErrorCode::BadRequest,
                        "commit of allocation " + std::to_string(p.allocation_id) + " that this chip never prepared");
  Window& w = it->second;
  std::string why;
  std::vector<size_t> sizes(p.nbuffers <= ipc::kMaxDomainBuffers ? p.nbuffers : 0);
  for (size_t b = 0; b < sizes.size(); ++b) sizes[b] = p.buffer_bytes[b];
  const auto layout = comm::WindowLayout::make(p.window_size, sizes, &why);
  if (p.size == 0 || p.size > STRATA_COMM_MAX_RANKS || p.rank >= p.size || p.nbuffers > ipc::kMaxDomainBuffers ||
      p.descriptor_stride < sizeof(comm::WindowDescriptor) || !layout || layout->usable != p.window_size ||
      layout->total > w.bytes)
    return Answer::fail(ipc::ErrorCode::BadRequest, "malformed domain commit" + (why.empty() ? "" : ": " + why));

  char* base = static_cast<char*>(w.local);
  CommContext ctx{};
  std::string err;
  for (uint32_t r = 0; r < p.size; ++r) {
    void* addr = w.local;
    if (r != p.rank) {
      comm::WindowDescriptor desc;
      std::memcpy(&desc, reinterpret_cast<const char*>(p.descriptors) + size_t{r} * p.descriptor_stride, sizeof desc);
      if (!backend_->window_import(desc, &addr, &err)) {
        for (void* a : w.imports) backend_->window_unimport(a);
        w.imports.clear();
        return Answer::fail(ipc::ErrorCode::Backend, "importing rank " + std::to_string(r) + "'s window: " + err);
      }
      w.imports.push_back(addr);
    }
    ctx.windows[r] = reinterpret_cast<uint64_t>(addr);
  }
  ctx.rank = p.rank;
  ctx.size = p.size;
  ctx.window_size = layout->usable;
  ctx.workspace = reinterpret_cast<uint64_t>(base + layout->usable);
  ctx.workspace_size = STRATA_COMM_SIGNAL_BYTES;
  ctx.abort_flag = p.abort_flag;
  ctx.buffers = reinterpret_cast<uint64_t>(base + layout->table);
  ctx.nbuffers = p.nbuffers;
  std::vector<strata_comm_buffer> table(p.nbuffers);
  Answer a;
  for (uint32_t b = 0; b < p.nbuffers; ++b) {
    table[b] = strata_comm_buffer{reinterpret_cast<uint64_t>(base + layout->offsets[b]), p.buffer_bytes[b]};
    a.payload.append(reinterpret_cast<const char*>(&table[b].addr), sizeof(uint64_t));
  }
  if (!backend_->write_context(base + layout->context, ctx, base + layout->table, table, &err))
    return Answer::fail(ipc::ErrorCode::Backend, "writing the context page: " + err);
  a.detail = reinterpret_cast<uint64_t>(base + layout->context);
  return a;
}

Answer ChildRuntime::domain_free(const ipc::DomainFreePayload& p) {
  auto it = windows_.find(p.allocation_id);
  if (it == windows_.end()) return {};  // nothing was allocated here: freeing is idempotent
  for (void* a : it->second.imports) backend_->window_unimport(a);
  backend_->window_free(it->second.local);
  windows_.erase(it);
  return {};
}

Answer ChildRuntime::copy(const ipc::CopyPayload& p) {
  std::string err;
  auto* dst = reinterpret_cast<void*>(p.dst);
  const auto* src = reinterpret_cast<const void*>(p.src);
  const bool ok = p.to_device ? backend_->copy_to_device(dst, src, p.bytes, &err)
                              : backend_->copy_from_device(dst, src, p.bytes, &err);
  if (!ok) return Answer::fail(ipc::ErrorCode::Backend, err);
  return {};
}

}  // namespace strata::child
