// ipc/mailbox.hpp — the shared-memory mailbox between a Worker (parent) and one child process, and the
// status board every process of a Worker shares.
//
// Mailbox: two single-producer/single-consumer rings.
//   - requests: parent -> child, fixed-size frames (ipc/codec.hpp). The parent writes a frame into slot
//     `req_head % kRequestSlots`, then publishes req_head (release). The child reads frames in order and
//     advances req_tail. The parent never has more than kRequestSlots frames outstanding (it counts a
//     frame until its completion is consumed), so a slot is never overwritten while the child reads it.
//   - completions: child -> parent, one per frame, in the order the frames were received. The child
//     writes slot `cpl_head % kCompletionSlots`, then publishes cpl_head (release); the parent consumes
//     and advances cpl_tail. Capacity equals the request ring's, so it never overflows.
// Wake-ups: a waiter spins briefly, then announces itself (child_sleeping / Board::parent_sleeping),
// issues a seq_cst fence, rechecks, and blocks (child: futex on req_doorbell; parent: poll on an eventfd).
// The producer publishes, issues a seq_cst fence, and only if the waiter announced itself bumps the
// doorbell and wakes it: no system call while both sides are busy. A sleeping parent is woken only once
// a child's completions reach `parent_wake_at` (it asks for half of what that child has in flight), so
// a long stream of completions costs one wake-up per batch, not one per task.
//
// Board: one TaskStatus per task-ring slot, written by whichever process finishes (or fails) a task, so
// a child can wait for a task on another chip without a round trip through the parent.
//
// Every line written by a different process is on its own cache line (alignas(64)). The layouts are
// pinned by static_asserts and tests/unit/mailbox_layout_test.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace strata::ipc {

inline constexpr uint32_t kMailboxMagic = 0x424d5453;  // "STMB"
inline constexpr uint32_t kBoardMagic = 0x44425453;    // "STBD"
inline constexpr uint32_t kLayoutVersion = 1;

inline constexpr uint32_t kRequestSlots = 256;
inline constexpr uint32_t kRequestSlotBytes = 1024;
inline constexpr uint32_t kCompletionSlots = kRequestSlots;
inline constexpr uint32_t kCompletionMessageBytes = 232;
inline constexpr uint32_t kInitMessageBytes = 1024;

/// Child lifecycle, in MailboxHeader::child_state.
enum class ChildState : uint32_t { Starting = 0, Ready = 1, InitFailed = 2, Exiting = 3 };

/// Outcome of one frame, in CompletionSlot::status.
enum class CompletionStatus : int32_t {
  Ok = 0,
  Failed = 1,    // the callable threw or returned an error; message says why
  Poisoned = 2,  // not run: task `detail` (a dependency) failed
  Rejected = 3,  // the frame was malformed or named something unknown; message says why
};

struct CompletionSlot {
  uint64_t task_id;
  uint32_t part;
  int32_t status;  // CompletionStatus
  uint64_t detail;
  char message[kCompletionMessageBytes];
};
static_assert(sizeof(CompletionSlot) == 256);
static_assert(offsetof(CompletionSlot, message) == 24);

struct alignas(64) MailboxHeader {
  // Written once by the parent before fork.
  uint32_t magic;
  uint32_t version;
  uint32_t request_slots;
  uint32_t request_slot_bytes;
  uint32_t completion_slots;
  uint32_t child_kind;
  int32_t child_index;
  uint32_t reserved0;
  // Written by the child: lifecycle and, if init failed, why.
  alignas(64) std::atomic<uint32_t> child_state;
  char init_message[kInitMessageBytes];
  // Written by the parent: request producer.
  alignas(64) std::atomic<uint64_t> req_head;
  std::atomic<uint32_t> req_doorbell;    // futex word the child sleeps on
  std::atomic<uint64_t> parent_wake_at;  // a sleeping parent wants an eventfd write once cpl_head reaches this
  // Written by the child: request consumer.
  alignas(64) std::atomic<uint64_t> req_tail;
  std::atomic<uint32_t> child_sleeping;
  // Written by the child: completion producer, and the task it is running (for task timeouts).
  alignas(64) std::atomic<uint64_t> cpl_head;
  std::atomic<uint64_t> running_task;        // task id, 0 when idle
  std::atomic<int64_t> running_deadline_ns;  // CLOCK_MONOTONIC deadline of running_task, 0 for none
  // Written by the parent: completion consumer.
  alignas(64) std::atomic<uint64_t> cpl_tail;
};

struct Mailbox {
  MailboxHeader header;
  alignas(64) unsigned char requests[kRequestSlots][kRequestSlotBytes];
  alignas(64) CompletionSlot completions[kCompletionSlots];
};

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);
static_assert(offsetof(MailboxHeader, child_state) == 64);
static_assert(offsetof(MailboxHeader, req_head) == 1152);
static_assert(offsetof(MailboxHeader, req_tail) == 1216);
static_assert(offsetof(MailboxHeader, cpl_head) == 1280);
static_assert(offsetof(MailboxHeader, cpl_tail) == 1344);
static_assert(sizeof(MailboxHeader) == 1408);
static_assert(offsetof(Mailbox, requests) == 1408);
static_assert(offsetof(Mailbox, completions) == 1408 + kRequestSlots * kRequestSlotBytes);
static_assert(sizeof(Mailbox) == 1408 + kRequestSlots * kRequestSlotBytes + kCompletionSlots * 256);

/// Task state on the board.
enum class TaskState : uint32_t { Pending = 0, Done = 1, Failed = 2 };

/// Status of the task that owns a task-ring slot. `task_id` says which task that is: a waiter that finds
/// another id knows its task was retired, which the parent does only after processing its completion
/// (and, if it failed, after setting `poisoned` on every consumer already pushed).
/// `state` holds the TaskState in its low 2 bits and the low 30 bits of the task id above them, so
/// re-arming a slot for a later task always changes the word: a waiter that found the old task
/// pending never sleeps through that task's finish and the slot's reuse (see board_state_word).
struct alignas(64) TaskStatus {
  std::atomic<uint64_t> task_id;
  std::atomic<uint32_t> state;         // board_state_word(task_id, TaskState); futex word
  std::atomic<uint32_t> parts_left;    // group parts not finished
  std::atomic<uint32_t> failed_parts;  // group parts that failed
  std::atomic<uint32_t> waiters;       // processes sleeping on `state`
  std::atomic<uint32_t> poisoned;      // set by the parent: a producer failed after this task was pushed
};
static_assert(sizeof(TaskStatus) == 64);
static_assert(offsetof(TaskStatus, state) == 8);

struct alignas(64) BoardHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t slots;
  uint32_t reserved0;
  alignas(64) std::atomic<uint32_t> parent_sleeping;  // written by the parent
};
static_assert(sizeof(BoardHeader) == 128);

/// The status board: a header followed by `slots` TaskStatus entries.
struct Board {
  BoardHeader header;
  TaskStatus* status() noexcept { return reinterpret_cast<TaskStatus*>(this + 1); }
  TaskStatus& at(uint64_t task_id) noexcept { return status()[task_id % header.slots]; }
  static size_t bytes_for(uint32_t slots) noexcept { return sizeof(Board) + size_t{slots} * sizeof(TaskStatus); }
};
static_assert(sizeof(Board) == 128);

/// The value of TaskStatus::state for task `id` in state `st`.
constexpr uint32_t board_state_word(uint64_t id, TaskState st) noexcept {
  return static_cast<uint32_t>(id << 2) | static_cast<uint32_t>(st);
}

/// Parent: gives the slot of task `id` to it, pending, with `parts` parts to finish. Writes task_id
/// before state, which board_wait relies on.
void board_arm(Board* board, uint64_t id, uint32_t parts) noexcept;
/// The state of the task now in `id`'s slot (meaningful while that slot still holds `id`).
TaskState board_state(Board* board, uint64_t id) noexcept;

/// Initialises a mailbox in zeroed shared memory (parent, before fork).
void mailbox_init(Mailbox* mb, uint32_t child_kind, int32_t child_index) noexcept;
/// Initialises a board in zeroed shared memory (parent, before fork).
void board_init(Board* board, uint32_t slots) noexcept;

/// Parent: publishes frames written into slots up to `new_head`, waking the child if it sleeps.
void mailbox_publish_requests(Mailbox* mb, uint64_t new_head) noexcept;
/// Child: blocks until a request is available or `timeout_ns` passes (spinning first for `spin_ns`).
/// Returns true if a request is available.
bool mailbox_wait_request(Mailbox* mb, int64_t spin_ns, int64_t timeout_ns) noexcept;

/// Marks the task's part finished on the board; the last part sets Done/Failed and wakes waiters.
void board_finish_part(Board* board, uint64_t task_id, bool failed) noexcept;
/// Forces a task to Failed (a child died holding it) and wakes waiters.
void board_force_failed(Board* board, uint64_t task_id) noexcept;
/// Outcome of waiting for a dependency.
enum class DepOutcome { Done, Failed };
/// Child: waits until task `dep` is finished (or retired). `self` is the waiting task (its `poisoned`
/// flag is checked when `dep`'s slot was already reused).
DepOutcome board_wait(Board* board, uint64_t dep, uint64_t self, int64_t spin_ns) noexcept;

}  // namespace strata::ipc
