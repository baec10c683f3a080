// ipc/channel.hpp — the mailbox between a Worker (the parent) and one child process: a request ring
// (parent -> child) and a completion ring (child -> parent) in one shared mapping, with both ends.
//
// ChannelParent and ChannelChild are the only code that writes a request slot or reads a completion;
// the layout below is theirs alone.
//
// Requests: fixed-size frames (ipc/codec.hpp). The parent copies a frame into slot `pushed %
// kRequestSlots` and later publishes req_head (release), waking the child through req_event if it
// sleeps. The child reads frames in order and advances req_tail.
// Completions: one per frame, in the order the frames were received, each a 64-byte record (status,
// error code, the child's own start/end timestamps) with an optional payload of up to kPayloadBytes in
// a parallel array: an error message, whole, or a control request's reply. The child fills the record
// and payload, then publishes cpl_head (release); the parent reads it and advances cpl_tail.
// Capacity: the parent never has more than kRequestSlots frames outstanding (a frame counts until its
// completion is consumed), so neither ring overflows and no slot is rewritten while the other side
// reads it.
// Wake-ups use ipc/event_count.hpp: the child sleeps on req_event (futex); the parent sleeps on one
// event count shared by all its children (on the status board, woken through an eventfd). A sleeping
// parent asks each child to wake it only once its completions reach `parent_wake_at`, so a stream of
// completions costs one wake-up per batch.
// Running task: the child publishes the last task it started, when and its deadline, under a seqlock, so
// the parent's task-timeout watchdog always reads a consistent (task, deadline) pair; the parent takes it
// as running only while it is the oldest frame the child owes.
// Liveness: the child holds a robust process-shared mutex for its whole life; when it dies (even by
// SIGKILL) the kernel marks the mutex word "owner died", which the parent reads without a system call.
//
// Every line written by a different process is on its own cache line. The layout is pinned by
// static_asserts and tests/unit/channel_test.cpp.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "ipc/event_count.hpp"

namespace strata::ipc {

inline constexpr uint32_t kChannelMagic = 0x48435453;  // "STCH"
inline constexpr uint32_t kLayoutVersion = 3;

inline constexpr uint32_t kRequestSlots = 256;
inline constexpr uint32_t kRequestSlotBytes = 1024;
inline constexpr uint32_t kCompletionSlots = kRequestSlots;
/// Bound of a completion's payload (a failed task's report, ipc/task_failure.hpp, or a control reply).
inline constexpr uint32_t kPayloadBytes = 8192;

/// Child lifecycle, in ChannelHeader::child_state.
enum class ChildState : uint32_t { Starting = 0, Ready = 1, InitFailed = 2, Exiting = 3 };

/// Outcome of one frame.
enum class Status : uint8_t {
  Ok = 0,
  Failed = 1,    // the callable or request failed; `code` says how, the payload says why
  Poisoned = 2,  // not run: task `detail` (a producer) failed
  Rejected = 3,  // the frame was malformed or named something the child does not know
};
inline constexpr uint8_t kStatusCount = 4;

/// What kind of failure a Failed completion reports (the message says the rest). Nothing is ever
/// classified by the text of a message.
enum class ErrorCode : uint16_t {
  None = 0,
  Exception = 1,    // a kernel, host callable or orchestration function threw
  Backend = 2,      // the chip backend refused (out of device memory, a bad descriptor, ...)
  BadRequest = 3,   // the request named something unknown or inconsistent
  Unsupported = 4,  // this kind of child cannot serve the request
};

/// One completion record.
struct Completion {
  uint64_t id;    // the frame's task id (or control id)
  uint32_t part;  // group part
  uint8_t status;
  uint8_t reserved0;
  uint16_t code;  // ErrorCode
  uint64_t detail;
  int64_t start_ns;  // when the child started serving the frame (CLOCK_MONOTONIC)
  int64_t end_ns;    // when it finished
  uint32_t payload_bytes;
  uint32_t reserved1;
  uint64_t reserved2[2];
};
static_assert(sizeof(Completion) == 64);
static_assert(offsetof(Completion, detail) == 16 && offsetof(Completion, payload_bytes) == 40);

struct alignas(64) ChannelHeader {
  // Written once by the parent before fork.
  uint32_t magic;
  uint32_t version;
  uint32_t request_slots;
  uint32_t request_slot_bytes;
  uint32_t payload_bytes;
  uint32_t child_kind;
  int32_t child_index;
  uint32_t generation;  // bumped each time the child is (re)spawned
  // Held by the child for its whole life; the kernel marks it when the child dies.
  alignas(64) pthread_mutex_t liveness;
  // Written by the child: lifecycle and, if init failed, the length of the message.
  alignas(64) std::atomic<uint32_t> child_state;
  uint32_t init_message_bytes;
  // Written by the parent: request producer.
  alignas(64) std::atomic<uint64_t> req_head;
  std::atomic<uint64_t> parent_wake_at;  // a sleeping parent wants a wake-up once cpl_head reaches this
  // The child sleeps here waiting for requests (epoch: parent; waiters: child).
  alignas(64) EventWord req_event;
  // Written by the child: request consumer.
  alignas(64) std::atomic<uint64_t> req_tail;
  // Written by the child: completion producer.
  alignas(64) std::atomic<uint64_t> cpl_head;
  // Written by the child: the task it runs, under a seqlock (odd while being written).
  alignas(64) std::atomic<uint32_t> running_seq;
  std::atomic<uint64_t> running_task;        // 0 when idle
  std::atomic<int64_t> running_start_ns;     // when it started
  std::atomic<int64_t> running_deadline_ns;  // when its timeout expires, 0 for none
  // Written by the parent: completion consumer.
  alignas(64) std::atomic<uint64_t> cpl_tail;
};

struct Channel {
  ChannelHeader header;
  alignas(64) char init_message[kPayloadBytes];
  alignas(64) unsigned char requests[kRequestSlots][kRequestSlotBytes];
  alignas(64) Completion completions[kCompletionSlots];
  alignas(4096) char payloads[kCompletionSlots][kPayloadBytes];
};

/// The part of a Channel every task touches (header, requests, completions; not the payloads, used only
/// by control replies and failures): what both ends prefault (ipc::prefault) before the first task.
inline constexpr size_t kChannelHotBytes = offsetof(Channel, payloads);

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(pthread_mutex_t) <= 64);
static_assert(offsetof(ChannelHeader, liveness) == 64);
static_assert(offsetof(ChannelHeader, child_state) == 128);
static_assert(offsetof(ChannelHeader, req_head) == 192);
static_assert(offsetof(ChannelHeader, req_event) == 256);
static_assert(offsetof(ChannelHeader, req_tail) == 320);
static_assert(offsetof(ChannelHeader, cpl_head) == 384);
static_assert(offsetof(ChannelHeader, running_seq) == 448);
static_assert(offsetof(ChannelHeader, cpl_tail) == 512);
static_assert(sizeof(ChannelHeader) == 576);
static_assert(offsetof(Channel, init_message) == 576);
static_assert(offsetof(Channel, requests) == 576 + kPayloadBytes);
static_assert(offsetof(Channel, completions) == 576 + kPayloadBytes + kRequestSlots * kRequestSlotBytes);
static_assert(offsetof(Channel, payloads) % 4096 == 0);
static_assert(sizeof(Channel) % 4096 == 0);

/// What every child of a Worker shares to wake the parent: one event count, slept on through an eventfd
/// (so the parent can watch its children's pidfds in the same ppoll). Lives in the first page of the
/// mapping that holds the Worker's channels.
struct alignas(64) ParentWake {
  EventWord event;
  int32_t wake_fd;
  EventCount event_count() noexcept { return EventCount(&event, wake_fd); }
};
static_assert(sizeof(ParentWake) == 64);

/// (task, start, deadline) as the parent reads them: consistent, from one seqlock round.
struct RunningTask {
  uint64_t task = 0;  // 0: idle
  int64_t start_ns = 0;
  int64_t deadline_ns = 0;
};

/// The parent's end. Owned by the thread that owns the Worker; not thread-safe.
class ChannelParent {
 public:
  ChannelParent() = default;
  explicit ChannelParent(Channel* ch) noexcept : ch_(ch) {}

  /// (Re)initialises the shared layout for a child about to be forked; resets the counters.
  void reset(uint32_t child_kind, int32_t child_index, uint32_t generation) noexcept;
  Channel* channel() const noexcept { return ch_; }

  /// Frames posted whose completion has not been consumed.
  uint64_t in_flight() const noexcept { return pushed_ - consumed_; }
  bool has_room() const noexcept { return in_flight() < kRequestSlots; }
  uint64_t pushed() const noexcept { return pushed_; }
  uint64_t consumed() const noexcept { return consumed_; }

  /// Copies `frame` (a codec frame of `len` bytes) into the next request slot, giving it `id` and, for a
  /// task, the producers in `deps`. Not visible to the child until flush(). Precondition: has_room().
  void post(const unsigned char* frame, size_t len, uint64_t id, std::span<const uint64_t> deps) noexcept;
  /// Publishes every posted frame and wakes the child if it sleeps.
  void flush() noexcept;

  /// The next completion, or nullptr if the child has posted none. Valid until pop().
  const Completion* peek() const noexcept;
  /// Its payload (at most kPayloadBytes, whatever the child wrote into the length).
  std::string_view payload(const Completion& c) const noexcept;
  void pop() noexcept;
  /// Tells the child to wake a sleeping parent once it has posted `count` completions in total.
  void wake_at(uint64_t count) noexcept;
  /// True once the child's completions reached what wake_at() asked for (or the count of frames).
  bool wake_due() const noexcept;
  /// Publishes the consumer position (cpl_tail) for readers of the layout (tests, stall reports).
  void publish_consumed() noexcept;

  ChildState state() const noexcept;
  std::string_view init_message() const noexcept;
  /// Reads the running task under the seqlock.
  RunningTask running() const noexcept;
  /// True once the kernel marked the child's liveness mutex: the child is gone (or going).
  bool liveness_lost() const noexcept;

 private:
  Channel* ch_ = nullptr;
  uint64_t pushed_ = 0;     // frames posted
  uint64_t published_ = 0;  // frames visible to the child
  uint64_t consumed_ = 0;   // completions consumed
};

/// The child's end. Used by the child's main thread only.
class ChannelChild {
 public:
  ChannelChild(Channel* ch, EventCount parent) noexcept;

  /// Takes the liveness mutex (first thing after fork) so the parent can tell when this process dies.
  void hold_liveness() noexcept;
  void set_state(ChildState s) noexcept;
  /// Reports a failed start with its message (at most kPayloadBytes) and wakes the parent.
  void init_failed(std::string_view message) noexcept;

  /// The next request, waiting (spin, then sleep on req_event) at most `timeout_ns`; nullptr if none.
  const unsigned char* next_request(int64_t spin_ns, int64_t timeout_ns) noexcept;
  /// The next request if one is there, without waiting (a pod's root reads its ranks' channels so).
  const unsigned char* try_next_request() const noexcept;
  /// Marks the request returned by next_request() as read (its slot may be reused once completed).
  void pop_request() noexcept;

  /// Publishes the task about to run (and its deadline, 0 for none); a sleeping parent is woken when the
  /// task has a deadline so it can take it into account.
  void set_running(uint64_t task, int64_t start_ns, int64_t deadline_ns) noexcept;
  void clear_running() noexcept;

  /// The completion record being filled for the next completion, and its payload area.
  Completion& next_completion() noexcept;
  std::span<char> next_payload() noexcept;
  /// Publishes the record returned by next_completion() (payload_bytes set by the caller) and wakes the
  /// parent if it sleeps and asked for this many completions (or always, with `force_wake`).
  void publish_completion(bool force_wake = false) noexcept;
  /// Fills and publishes a completion whose payload is `message` (cut at kPayloadBytes).
  void complete(uint64_t id, uint32_t part, Status status, ErrorCode code, uint64_t detail, int64_t start_ns,
                int64_t end_ns, std::string_view message) noexcept;

 private:
  Channel* ch_;
  EventCount parent_;
  EventCount requests_;
  uint64_t tail_;
  uint64_t cpl_;
};

}  // namespace strata::ipc
