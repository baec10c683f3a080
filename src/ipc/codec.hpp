// ipc/codec.hpp — the mailbox frame format: one request (task or control) in one fixed-size slot.
//
// Layout: a FrameHeader, then `payload_bytes` of payload. A task's payload is its tensors (a WireTensor
// each, followed by `ndim` int64 extents) then its scalars (uint64 each). A control frame's payload is
// control-specific: LoadKernel carries two NUL-terminated strings (library path, or "" for a kernel of
// the program, then the symbol name); the domain and copy frames carry one fixed-size payload struct
// each (below), whose size frame_decode checks. Replies travel in the completion's `detail` and payload
// (ipc/channel.hpp), as each kind below says.
// encode_* run in the parent; frame_decode runs in the child and rejects every malformed frame (bad
// magic, unknown kind, counts that do not add up to payload_bytes, a bad dtype/tag/ndim) with a message,
// never by crashing. Pure functions: any thread, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "ipc/channel.hpp"
#include "strata/types.hpp"

namespace strata::ipc {

inline constexpr uint32_t kFrameMagic = 0x46525453;  // "STRF"
inline constexpr uint32_t kMaxFrameDeps = 8;
/// Control frames (everything but tasks) carry ids with the top bit set, so they never collide with
/// task ids.
inline constexpr uint64_t kControlIdBit = uint64_t{1} << 63;

enum class FrameKind : uint16_t {
  Task = 1,
  LoadKernel = 2,
  Shutdown = 3,
  // Communication domains (chips only).
  CommBringup = 4,    // bring the base communicator up; no reply data
  DomainPrepare = 5,  // allocate + zero + export this chip's window; reply payload: local base (u64), then
                      // the backend's window descriptor (detail: its size in bytes)
  DomainCommit = 6,   // import the peers, have the backend write the context page, carve the buffers;
                      // reply: detail = device_ctx, payload = the address of each buffer (u64 each)
  DomainFree = 7,     // unimport the peers and free the window (also the abort of a failed allocation)
  Copy = 8,           // synchronous copy between host (shared) memory and this chip's memory
  Respawn = 9,        // child Workers: respawn the dead children of the Worker they run; no reply data
};

inline constexpr uint32_t kMaxDomainBuffers = 64;

struct DomainPreparePayload {
  uint64_t allocation_id;
  uint64_t bytes;  // the whole window: buffers, signal page and context page (comm/window_layout.hpp)
};
struct DomainCommitPayload {
  uint64_t allocation_id;
  uint32_t rank;
  uint32_t size;
  uint64_t window_size;        // bytes usable for buffers (a page multiple; the signal page follows)
  uint64_t descriptors;        // address (shared memory) of `size` descriptors, rank order
  uint32_t descriptor_stride;  // bytes from one descriptor to the next
  uint32_t nbuffers;
  uint64_t abort_flag;  // address (shared host memory) of the domain's abort word
  uint64_t buffer_bytes[kMaxDomainBuffers];
};
struct DomainFreePayload {
  uint64_t allocation_id;
};
struct CopyPayload {
  uint64_t dst;
  uint64_t src;
  uint64_t bytes;
  uint32_t to_device;  // 1: host -> chip, 0: chip -> host
  uint32_t reserved;
};
static_assert(sizeof(DomainCommitPayload) == 48 + 8 * kMaxDomainBuffers);

struct FrameHeader {
  uint32_t magic;
  uint16_t kind;  // FrameKind
  uint16_t ndeps;
  uint64_t task_id;
  uint32_t callable;
  uint32_t block_dim;
  uint32_t part;
  uint32_t parts;
  int64_t timeout_ns;
  uint16_t ntensors;
  uint16_t nscalars;
  uint32_t payload_bytes;
  uint64_t deps[kMaxFrameDeps];  // tasks that must finish first (only the first ndeps are meaningful)
};
static_assert(sizeof(FrameHeader) == 112);
static_assert(offsetof(FrameHeader, deps) == 48);

struct WireTensor {
  uint64_t data;
  uint8_t dtype;
  uint8_t tag;
  uint8_t ndim;
  uint8_t reserved[5];
};
static_assert(sizeof(WireTensor) == 16);

inline constexpr size_t kFramePayloadBytes = kRequestSlotBytes - sizeof(FrameHeader);
inline constexpr size_t kMaxFrameTensors = kFramePayloadBytes / sizeof(WireTensor);
inline constexpr size_t kMaxFrameScalars = kFramePayloadBytes / sizeof(uint64_t);

/// Bytes a task frame with these arguments needs (header included).
size_t task_frame_bytes(std::span<const Tensor> tensors, size_t nscalars) noexcept;

/// Fields of a task frame other than its arguments.
struct TaskFrameInfo {
  uint64_t task_id = 0;
  uint32_t callable = 0;
  uint32_t block_dim = 1;
  uint32_t part = 0;
  uint32_t parts = 1;
  int64_t timeout_ns = 0;
};

/// Encodes a task frame into `out` (at least task_frame_bytes() long) with ndeps = 0; returns its size.
size_t encode_task(const TaskFrameInfo& info, std::span<const Tensor> tensors, std::span<const Tag> tags,
                   std::span<const uint64_t> scalars, unsigned char* out) noexcept;
/// Encodes a LoadKernel control frame; returns its size, or 0 if the strings do not fit.
size_t encode_load_kernel(uint32_t kernel_id, const std::string& library, const std::string& symbol, unsigned char* out,
                          size_t cap) noexcept;
/// Encodes a Shutdown control frame; returns its size.
size_t encode_shutdown(unsigned char* out) noexcept;
/// Encodes a control frame of `kind` whose payload is the `len` bytes at `payload`; returns its size.
size_t encode_control(FrameKind kind, const void* payload, size_t len, unsigned char* out) noexcept;

/// A frame decoded in the child (fixed capacity: no allocation on the dispatch path).
struct DecodedFrame {
  FrameHeader header;
  Tensor tensors[kMaxFrameTensors];
  Tag tags[kMaxFrameTensors];
  uint64_t scalars[kMaxFrameScalars];
  const char* library = nullptr;  // LoadKernel: point into the frame passed to frame_decode
  const char* symbol = nullptr;
  const unsigned char* payload = nullptr;  // domain and copy frames: their payload struct (unaligned)
};

/// Decodes and validates the frame in `bytes` (`len` bytes available). Returns false and sets `*error`
/// for a malformed frame.
bool frame_decode(const unsigned char* bytes, size_t len, DecodedFrame* out, std::string* error);

}  // namespace strata::ipc
