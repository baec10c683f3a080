// ipc/board.hpp — the status board: one entry per task-ring slot, shared by every process of a Worker.
//
// The parent arms an entry when a task is submitted; whichever process finishes the task's last part
// (or the parent, when the task's child died) marks it done or failed and wakes the processes waiting
// for it. A chip that runs a task waits here for the producers its frame names, so a chain of tasks
// across chips proceeds chip to chip without a round trip through the parent.
//
// An entry's `state` holds the TaskState in its low 3 bits and the low 29 bits of the task id above
// them, so re-arming a slot for a later task always changes the word; its `task_id` tells a waiter
// whether the slot still belongs to the task it waits for. The parent retires a slot only after it has
// consumed the task's completion and, for a failed task, after setting `poisoned` on every consumer
// already pushed — so a waiter that finds its producer's slot reused reads the outcome from its own
// entry. Waits use the event count of the entry (ipc/event_count.hpp).
//
// Waking ahead: a child that finds the last producer of its next task running marks that task Soon, and
// a child that starts a task marks it Running; both wake the task's sleeping waiters, which then spin.
// So the chip two hops down a chain is already awake and spinning when its producer finishes, and a
// chain of short tasks over more chips than cores hands over without paying a sleeping process's
// wake-up latency per task.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "ipc/event_count.hpp"

namespace strata::ipc {

inline constexpr uint32_t kBoardMagic = 0x44425453;  // "STBD"
inline constexpr uint32_t kBoardVersion = 2;

/// Pending: submitted, not started. Soon: its child is about to start it (what it waits for runs).
/// Running: a child started it. Done, Failed: finished. Waiters spin while their producer is Soon or
/// Running and sleep otherwise.
enum class TaskState : uint32_t { Pending = 0, Done = 1, Failed = 2, Running = 3, Soon = 4 };

struct alignas(64) TaskStatus {
  std::atomic<uint64_t> task_id;
  std::atomic<uint32_t> state;         // board_state_word(task_id, TaskState)
  std::atomic<uint32_t> parts_left;    // group parts not finished
  std::atomic<uint32_t> failed_parts;  // group parts that failed
  std::atomic<uint32_t> poisoned;      // set by the parent: a producer failed after this task was pushed
  EventWord event;                     // waiters for this entry sleep here
};
static_assert(sizeof(TaskStatus) == 64);
static_assert(offsetof(TaskStatus, state) == 8 && offsetof(TaskStatus, event) == 24);

struct alignas(64) BoardHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t slots;
  uint32_t reserved;
};
static_assert(sizeof(BoardHeader) == 64);

/// A header followed by `slots` TaskStatus entries.
struct Board {
  BoardHeader header;
  TaskStatus* status() noexcept { return reinterpret_cast<TaskStatus*>(this + 1); }
  TaskStatus& at(uint64_t task_id) noexcept { return status()[task_id % header.slots]; }
  static size_t bytes_for(uint32_t slots) noexcept { return sizeof(Board) + size_t{slots} * sizeof(TaskStatus); }
};
static_assert(sizeof(Board) == 64);

/// The value of TaskStatus::state for task `id` in state `st`.
constexpr uint32_t board_state_word(uint64_t id, TaskState st) noexcept {
  return static_cast<uint32_t>(id << 3) | static_cast<uint32_t>(st);
}
constexpr TaskState board_state_of(uint32_t word) noexcept { return static_cast<TaskState>(word & 7u); }

/// Initialises a board in zeroed shared memory (parent, before fork).
void board_init(Board* board, uint32_t slots) noexcept;
/// Parent: gives the slot of task `id` to it, pending, with `parts` parts to finish. Writes task_id
/// before state, which board_wait relies on.
void board_arm(Board* board, uint64_t id, uint32_t parts) noexcept;
/// The state of the task now in `id`'s slot (meaningful while that slot still holds `id`).
TaskState board_state(Board* board, uint64_t id) noexcept;
/// Child: a part of the task starts running. Wakes the processes waiting for it, so that they spin
/// while it runs and take over at once when it finishes (instead of paying a wake-up after it).
void board_start(Board* board, uint64_t task_id) noexcept;
/// Marks one part finished; the last part sets Done/Failed and wakes waiters.
void board_finish_part(Board* board, uint64_t task_id, bool failed) noexcept;
/// Forces a task to Failed (its child died, or it was never run) and wakes waiters.
void board_force_failed(Board* board, uint64_t task_id) noexcept;
/// Parent: tells a pushed task that a producer failed (read when the producer's slot was reused).
void board_set_poisoned(Board* board, uint64_t task_id) noexcept;

enum class DepOutcome { Done, Failed };
/// Child: the task will start as soon as what it waits for finishes; wakes its waiters (see above).
void board_soon(Board* board, uint64_t task_id) noexcept;
/// Waits until task `dep` is finished (or retired). `self` is the waiting task (its `poisoned` flag is
/// read when `dep`'s slot was already reused). Spins for up to `spin_ns` while `dep` is Soon or Running (a
/// tenth of it otherwise), then sleeps in bounded slices until it changes. With `last`, `dep` is the last
/// thing `self` waits for: `self` is marked Soon once `dep` is seen starting.
DepOutcome board_wait(Board* board, uint64_t dep, uint64_t self, bool last, int64_t spin_ns) noexcept;
/// board_wait without the wait: the outcome if `dep` is finished (or retired), nullopt while it is not.
std::optional<DepOutcome> board_poll(Board* board, uint64_t dep, uint64_t self) noexcept;

}  // namespace strata::ipc
