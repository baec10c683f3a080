// pod/wire.hpp — what a pod's root and its ranks say to each other over MPI.
//
// Two tags. kTagControl carries one Message (a header, then `payload_bytes` of payload); kTagData carries
// tensor contents, which follow a Task (the INPUT and INOUT tensors, root -> rank) or a Done (the OUTPUT,
// OUTPUT_EXISTING and INOUT tensors, rank -> root, only when the task succeeded) in the order of the frame's
// tensors, each in chunks of at most kChunkBytes straight from and into strata memory. Messages between
// two ranks with one tag arrive in order, so no data message needs a header of its own.
//
// The conversation:
//   rank -> root   Hello     payload: Registry (what the rank registered), then its pid
//   root -> rank   Welcome   payload: WelcomeInfo, then the root's orchestration function names; or
//                  Refused   payload: why (every rank's init() throws it)
//   rank -> root   ClockPing, answered by ClockPong (start_ns: the root's clock), a few times: the rank's
//                  clock offset for the pod's trace
//   rank -> root   Ready     (its Worker is up) or InitFailed (payload: why)
//   root -> rank   Task      payload: the mailbox frame as the root's scheduler wrote it; then its data
//   rank -> root   Done      id, status, code, detail, start/end; payload: the completion's; then data
//   root -> rank   Control   payload: a control frame (Respawn); answered by a Done
//   both ways      Heartbeat every heartbeat interval: silence for timeouts.heartbeat means gone
//   root -> rank   Shutdown  (close, or the rank was dismissed: payload says why; detail 1: the job lost a
//                  rank); rank -> root Bye (detail: bytes of its trace, which follow on the data tag)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ipc/codec.hpp"
#include "pod/mpi.hpp"

namespace strata::pod {

inline constexpr int kTagControl = 0x5354;
inline constexpr int kTagData = 0x5355;
inline constexpr uint32_t kMessageMagic = 0x44505453;  // "STPD"
inline constexpr size_t kChunkBytes = size_t{4} << 20;
/// The largest control message: a header, then a frame or a completion's payload.
inline constexpr size_t kMaxMessage = sizeof(uint64_t) * 7 + ipc::kPayloadBytes + ipc::kRequestSlotBytes;

enum class MessageKind : uint32_t {
  Hello = 1,
  Welcome,
  Refused,
  Ready,
  InitFailed,
  Task,
  Done,
  Control,
  Heartbeat,
  Shutdown,
  Bye,
  ClockPing,
  ClockPong,
};

struct MessageHeader {
  uint32_t magic = kMessageMagic;
  MessageKind kind = MessageKind::Heartbeat;
  uint64_t id = 0;
  uint32_t part = 0;
  uint8_t status = 0;
  uint8_t reserved = 0;
  uint16_t code = 0;
  uint64_t detail = 0;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  uint32_t payload_bytes = 0;
  uint32_t reserved2 = 0;
};
static_assert(sizeof(MessageHeader) == 56);
static_assert(kMaxMessage == sizeof(MessageHeader) + ipc::kPayloadBytes + ipc::kRequestSlotBytes);

/// Why a side is taken for gone: "nothing heard for 10000 ms (WorkerOptions::timeouts.heartbeat, ...)".
std::string silence_text(int64_t silent_ns);

/// Reads the control message of `bytes` bytes in `buf`; false if it is malformed.
bool read_message(const char* buf, size_t bytes, MessageHeader* h, std::string* payload);

/// What the root tells a rank at the start.
struct WelcomeInfo {
  uint64_t root_base;     // where the root's pod memory starts (tensor addresses are translated from it)
  uint64_t buffer_bytes;  // the root's pod memory: buffer region, then heap
  uint64_t heap_bytes;
  int64_t heartbeat_ns;  // silence after which either side declares the other gone
  uint64_t trace_bytes;  // 0: the pod is not traced; else the room each rank records its trace in
  uint32_t norchs;       // names follow, NUL-terminated, then the root's host name
  uint32_t root_pid;     // the root's process (watched directly by ranks on its host)
};

/// Which way a tensor's contents move: to the rank before the task (INPUT, INOUT), back after it (OUTPUT,
/// OUTPUT_EXISTING, INOUT). NO_DEP tensors do not move.
bool moves_to_rank(Tag tag) noexcept;
bool moves_to_root(Tag tag) noexcept;
/// Starts the transfers of the tensors of `f` that move `to_rank` (or back), sending them to `peer` or
/// receiving them from it, in chunks of at most kChunkBytes, at the frame's addresses plus `shift` (a
/// rank's copy of the root's memory lies `shift` bytes from it). Appends the requests to `out`.
void post_tensors(Mpi& mpi, const ipc::DecodedFrame& f, bool to_rank, bool send, int peer, intptr_t shift,
                  std::vector<Request>* out);
/// Whether every tensor of `f` that moves lies in [base, base + bytes); else `*why` says which does not.
bool tensors_within(const ipc::DecodedFrame& f, uintptr_t base, size_t bytes, std::string* why);

/// A message as bytes: header then payload.
inline std::string message(const MessageHeader& h, const void* payload = nullptr, size_t len = 0) {
  MessageHeader hh = h;
  hh.payload_bytes = static_cast<uint32_t>(len);
  std::string m(reinterpret_cast<const char*>(&hh), sizeof hh);
  if (len) m.append(static_cast<const char*>(payload), len);
  return m;
}

/// The names of what a process registered, in a form that crosses the wire and compares.
struct Registry {
  std::vector<std::string> kernels;  // its Worker's (the one a rank runs)
  std::vector<std::string> hosts;    // its Worker's host callables
  std::vector<std::string> orchs;    // the pod's orchestration functions
  std::string encode() const;
  static bool decode(const char* p, size_t len, Registry* out);
  /// "" when `other` has every name this one has and no more; else what differs, for a message:
  /// "it lacks kernel 'mm'; it has host callable 'x' the root does not".
  std::string difference(const Registry& other) const;
};

}  // namespace strata::pod
