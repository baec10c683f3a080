#include "ipc/codec.hpp"

#include <cstring>

namespace strata::ipc {

size_t task_frame_bytes(std::span<const Tensor> tensors, size_t nscalars) noexcept {
  size_t n = sizeof(FrameHeader) + nscalars * sizeof(uint64_t);
  for (const Tensor& t : tensors) n += sizeof(WireTensor) + size_t{t.ndim} * sizeof(int64_t);
  return n;
}

size_t encode_task(const TaskFrameInfo& info, std::span<const Tensor> tensors, std::span<const Tag> tags,
                   std::span<const uint64_t> scalars, unsigned char* out) noexcept {
  FrameHeader h{};
  h.magic = kFrameMagic;
  h.kind = static_cast<uint16_t>(FrameKind::Task);
  h.task_id = info.task_id;
  h.callable = info.callable;
  h.block_dim = info.block_dim;
  h.part = info.part;
  h.parts = info.parts;
  h.timeout_ns = info.timeout_ns;
  h.ntensors = static_cast<uint16_t>(tensors.size());
  h.nscalars = static_cast<uint16_t>(scalars.size());
  unsigned char* p = out + sizeof(FrameHeader);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    WireTensor w{};
    w.data = reinterpret_cast<uint64_t>(t.data);
    w.dtype = static_cast<uint8_t>(t.dtype);
    w.tag = static_cast<uint8_t>(tags[i]);
    w.ndim = t.ndim;
    std::memcpy(p, &w, sizeof w);
    p += sizeof w;
    if (t.ndim) std::memcpy(p, t.shape.data(), size_t{t.ndim} * sizeof(int64_t));
    p += size_t{t.ndim} * sizeof(int64_t);
  }
  if (!scalars.empty()) std::memcpy(p, scalars.data(), scalars.size() * sizeof(uint64_t));
  p += scalars.size() * sizeof(uint64_t);
  h.payload_bytes = static_cast<uint32_t>(p - out - sizeof(FrameHeader));
  std::memcpy(out, &h, sizeof h);
  return static_cast<size_t>(p - out);
}

size_t encode_load_kernel(uint32_t kernel_id, const std::string& library, const std::string& symbol, unsigned char* out,
                          size_t cap) noexcept {
  const size_t payload = library.size() + 1 + symbol.size() + 1;
  if (sizeof(FrameHeader) + payload > cap) return 0;
  FrameHeader h{};
  h.magic = kFrameMagic;
  h.kind = static_cast<uint16_t>(FrameKind::LoadKernel);
  h.callable = kernel_id;
  h.payload_bytes = static_cast<uint32_t>(payload);
  std::memcpy(out, &h, sizeof h);
  std::memcpy(out + sizeof h, library.c_str(), library.size() + 1);
  std::memcpy(out + sizeof h + library.size() + 1, symbol.c_str(), symbol.size() + 1);
  return sizeof h + payload;
}

size_t encode_shutdown(unsigned char* out) noexcept {
  FrameHeader h{};
  h.magic = kFrameMagic;
  h.kind = static_cast<uint16_t>(FrameKind::Shutdown);
  std::memcpy(out, &h, sizeof h);
  return sizeof h;
}

size_t encode_control(FrameKind kind, const void* payload, size_t len, unsigned char* out) noexcept {
  FrameHeader h{};
  h.magic = kFrameMagic;
  h.kind = static_cast<uint16_t>(kind);
  h.payload_bytes = static_cast<uint32_t>(len);
  std::memcpy(out, &h, sizeof h);
  if (len) std::memcpy(out + sizeof h, payload, len);
  return sizeof h + len;
}

namespace {
size_t control_payload_size(FrameKind kind) {
  switch (kind) {
    case FrameKind::CommBringup:
    case FrameKind::Respawn:
      return 0;
    case FrameKind::DomainPrepare:
      return sizeof(DomainPreparePayload);
    case FrameKind::DomainCommit:
      return sizeof(DomainCommitPayload);
    case FrameKind::DomainFree:
      return sizeof(DomainFreePayload);
    case FrameKind::Copy:
      return sizeof(CopyPayload);
    default:
      return SIZE_MAX;
  }
}

bool fail(std::string* error, const std::string& why) {
  *error = "malformed frame: " + why;
  return false;
}
}  // namespace

bool frame_decode(const unsigned char* bytes, size_t len, DecodedFrame* out, std::string* error) {
  if (len < sizeof(FrameHeader)) return fail(error, "shorter than its header");
  FrameHeader& h = out->header;
  std::memcpy(&h, bytes, sizeof h);
  if (h.magic != kFrameMagic) return fail(error, "bad magic " + std::to_string(h.magic));
  if (h.payload_bytes > len - sizeof(FrameHeader))
    return fail(error, "payload of " + std::to_string(h.payload_bytes) + " bytes overruns the slot");
  const unsigned char* p = bytes + sizeof(FrameHeader);
  const unsigned char* end = p + h.payload_bytes;
  switch (static_cast<FrameKind>(h.kind)) {
    case FrameKind::Shutdown:
      return true;
    case FrameKind::LoadKernel: {
      const void* nul1 = std::memchr(p, 0, h.payload_bytes);
      if (!nul1) return fail(error, "library path not terminated");
      const unsigned char* sym = static_cast<const unsigned char*>(nul1) + 1;
      if (sym >= end || !std::memchr(sym, 0, static_cast<size_t>(end - sym)))
        return fail(error, "kernel name not terminated");
      out->library = reinterpret_cast<const char*>(p);
      out->symbol = reinterpret_cast<const char*>(sym);
      return true;
    }
    case FrameKind::Task:
      break;
    case FrameKind::CommBringup:
    case FrameKind::DomainPrepare:
    case FrameKind::DomainCommit:
    case FrameKind::DomainFree:
    case FrameKind::Copy:
    case FrameKind::Respawn:
      if (h.payload_bytes != control_payload_size(static_cast<FrameKind>(h.kind)))
        return fail(error, "control payload of " + std::to_string(h.payload_bytes) + " bytes for kind " +
                               std::to_string(h.kind));
      out->payload = p;
      return true;
    default:
      return fail(error, "unknown kind " + std::to_string(h.kind));
  }
  if (h.ndeps > kMaxFrameDeps) return fail(error, "too many dependencies (" + std::to_string(h.ndeps) + ")");
  if (h.ntensors > kMaxFrameTensors) return fail(error, "too many tensors (" + std::to_string(h.ntensors) + ")");
  if (h.nscalars > kMaxFrameScalars) return fail(error, "too many scalars (" + std::to_string(h.nscalars) + ")");
  if (h.parts == 0 || h.part >= h.parts)
    return fail(error, "part " + std::to_string(h.part) + " of " + std::to_string(h.parts));
  if (h.block_dim == 0) return fail(error, "block_dim 0");
  for (uint16_t i = 0; i < h.ntensors; ++i) {
    if (end - p < static_cast<ptrdiff_t>(sizeof(WireTensor)))
      return fail(error, "tensor " + std::to_string(i) + " truncated");
    WireTensor w;
    std::memcpy(&w, p, sizeof w);
    p += sizeof w;
    if (w.dtype >= static_cast<uint8_t>(DType::kCount))
      return fail(error, "tensor " + std::to_string(i) + " has bad dtype " + std::to_string(w.dtype));
    if (w.tag >= static_cast<uint8_t>(Tag::kCount))
      return fail(error, "tensor " + std::to_string(i) + " has bad tag " + std::to_string(w.tag));
    if (w.ndim > kMaxDims)
      return fail(error, "tensor " + std::to_string(i) + " has " + std::to_string(w.ndim) + " dimensions");
    const size_t shape_bytes = size_t{w.ndim} * sizeof(int64_t);
    if (static_cast<size_t>(end - p) < shape_bytes)
      return fail(error, "tensor " + std::to_string(i) + " shape truncated");
    Tensor& t = out->tensors[i];
    t.data = reinterpret_cast<void*>(w.data);
    t.dtype = static_cast<DType>(w.dtype);
    t.ndim = w.ndim;
    t.shape = {};
    std::memcpy(t.shape.data(), p, shape_bytes);
    for (uint8_t d = 0; d < w.ndim; ++d)
      if (t.shape[d] < 0) return fail(error, "tensor " + std::to_string(i) + " has a negative extent");
    p += shape_bytes;
    out->tags[i] = static_cast<Tag>(w.tag);
  }
  const size_t scalar_bytes = size_t{h.nscalars} * sizeof(uint64_t);
  if (static_cast<size_t>(end - p) != scalar_bytes)
    return fail(error, "payload size " + std::to_string(h.payload_bytes) + " does not match its tensors and scalars");
  std::memcpy(out->scalars, p, scalar_bytes);
  return true;
}

}  // namespace strata::ipc
