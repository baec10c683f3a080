#include "ipc/mailbox.hpp"

#include <cstring>

#include "ipc/futex.hpp"
#include "util/sys.hpp"

namespace strata::ipc {

void mailbox_init(Mailbox* mb, uint32_t child_kind, int32_t child_index) noexcept {
  MailboxHeader& h = mb->header;
  h.magic = kMailboxMagic;
  h.version = kLayoutVersion;
  h.request_slots = kRequestSlots;
  h.request_slot_bytes = kRequestSlotBytes;
  h.completion_slots = kCompletionSlots;
  h.child_kind = child_kind;
  h.child_index = child_index;
  h.child_state.store(static_cast<uint32_t>(ChildState::Starting), std::memory_order_relaxed);
  h.req_head.store(0, std::memory_order_relaxed);
  h.req_tail.store(0, std::memory_order_relaxed);
  h.cpl_head.store(0, std::memory_order_relaxed);
  h.cpl_tail.store(0, std::memory_order_relaxed);
  h.running_task.store(0, std::memory_order_relaxed);
  h.running_deadline_ns.store(0, std::memory_order_relaxed);
}

void board_init(Board* board, uint32_t slots) noexcept {
  board->header.magic = kBoardMagic;
  board->header.version = kLayoutVersion;
  board->header.slots = slots;
  // Zeroed memory is a valid "task 0, pending" entry for every slot; task ids start at 1.
}

void mailbox_publish_requests(Mailbox* mb, uint64_t new_head) noexcept {
  MailboxHeader& h = mb->header;
  h.req_head.store(new_head, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (h.child_sleeping.load(std::memory_order_relaxed)) {
    h.req_doorbell.fetch_add(1, std::memory_order_release);
    futex_wake_all(&h.req_doorbell);
  }
}

bool mailbox_wait_request(Mailbox* mb, int64_t spin_ns, int64_t timeout_ns) noexcept {
  MailboxHeader& h = mb->header;
  const uint64_t tail = h.req_tail.load(std::memory_order_relaxed);
  auto ready = [&] { return h.req_head.load(std::memory_order_acquire) != tail; };
  if (sys::spin_until(ready, spin_ns)) return true;
  const uint32_t bell = h.req_doorbell.load(std::memory_order_acquire);
  h.child_sleeping.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!ready()) futex_wait(&h.req_doorbell, bell, timeout_ns);
  h.child_sleeping.store(0, std::memory_order_relaxed);
  return ready();
}

void board_arm(Board* board, uint64_t id, uint32_t parts) noexcept {
  TaskStatus& s = board->at(id);
  s.task_id.store(id, std::memory_order_seq_cst);
  s.parts_left.store(parts, std::memory_order_relaxed);
  s.failed_parts.store(0, std::memory_order_relaxed);
  s.poisoned.store(0, std::memory_order_relaxed);
  s.state.store(board_state_word(id, TaskState::Pending), std::memory_order_seq_cst);
}

TaskState board_state(Board* board, uint64_t id) noexcept {
  return static_cast<TaskState>(board->at(id).state.load(std::memory_order_acquire) & 3u);
}

void board_finish_part(Board* board, uint64_t task_id, bool failed) noexcept {
  TaskStatus& s = board->at(task_id);
  if (failed) s.failed_parts.fetch_add(1, std::memory_order_relaxed);
  if (s.parts_left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  const bool any_failed = s.failed_parts.load(std::memory_order_relaxed) != 0;
  s.state.store(board_state_word(task_id, any_failed ? TaskState::Failed : TaskState::Done), std::memory_order_seq_cst);
  if (s.waiters.load(std::memory_order_seq_cst)) futex_wake_all(&s.state);
}

void board_force_failed(Board* board, uint64_t task_id) noexcept {
  TaskStatus& s = board->at(task_id);
  if (s.task_id.load(std::memory_order_relaxed) != task_id) return;
  s.failed_parts.fetch_add(1, std::memory_order_relaxed);
  s.state.store(board_state_word(task_id, TaskState::Failed), std::memory_order_seq_cst);
  if (s.waiters.load(std::memory_order_seq_cst)) futex_wake_all(&s.state);
}

DepOutcome board_wait(Board* board, uint64_t dep, uint64_t self, int64_t spin_ns) noexcept {
  TaskStatus& s = board->at(dep);
  const uint32_t pending = board_state_word(dep, TaskState::Pending);
  uint32_t word = pending;
  bool retired = false;
  // The parent writes a reused slot's task_id before its state, so reading the id again after the
  // state tells whether the state read was still `dep`'s.
  auto finished = [&] {
    if (s.task_id.load(std::memory_order_seq_cst) != dep) {
      retired = true;
      return true;
    }
    word = s.state.load(std::memory_order_seq_cst);
    if (s.task_id.load(std::memory_order_seq_cst) != dep) {
      retired = true;
      return true;
    }
    return word != pending;
  };
  if (!sys::spin_until(finished, spin_ns)) {
    for (;;) {
      s.waiters.fetch_add(1, std::memory_order_seq_cst);
      if (finished()) {
        s.waiters.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
      // Any finish or re-arm changes the word, so this cannot sleep through either; the bounded sleep
      // is only a safety net.
      futex_wait(&s.state, pending, 50'000'000);
      s.waiters.fetch_sub(1, std::memory_order_relaxed);
      if (finished()) break;
    }
  }
  if (retired) {
    // The parent sets our poisoned flag before it retires a failed producer's slot.
    return board->at(self).poisoned.load(std::memory_order_acquire) ? DepOutcome::Failed : DepOutcome::Done;
  }
  return (word & 3u) == static_cast<uint32_t>(TaskState::Failed) ? DepOutcome::Failed : DepOutcome::Done;
}

}  // namespace strata::ipc
