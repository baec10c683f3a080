#include "ipc/board.hpp"

namespace strata::ipc {

namespace {
// Every finish and re-arm notifies, so a waiter cannot sleep through either; the slice is a safety net.
constexpr int64_t kBoardSliceNs = 50'000'000;
}  // namespace

void board_init(Board* board, uint32_t slots) noexcept {
  board->header.magic = kBoardMagic;
  board->header.version = kBoardVersion;
  board->header.slots = slots;
  // Zeroed memory is a valid "task 0, pending" entry for every slot; task ids start at 1.
}

void board_arm(Board* board, uint64_t id, uint32_t parts) noexcept {
  TaskStatus& s = board->at(id);
  s.task_id.store(id, std::memory_order_seq_cst);
  s.parts_left.store(parts, std::memory_order_relaxed);
  s.failed_parts.store(0, std::memory_order_relaxed);
  s.poisoned.store(0, std::memory_order_relaxed);
  // No notify: whoever waited for the slot's previous task was woken when that task finished, which
  // happened before the slot was retired and re-armed.
  s.state.store(board_state_word(id, TaskState::Pending), std::memory_order_seq_cst);
}

TaskState board_state(Board* board, uint64_t id) noexcept {
  return board_state_of(board->at(id).state.load(std::memory_order_acquire));
}

namespace {
// Moves `id` from Pending or Soon to `to` (never back from a later state) and wakes its waiters.
void advance(Board* board, uint64_t id, TaskState to) noexcept {
  TaskStatus& s = board->at(id);
  uint32_t w = s.state.load(std::memory_order_relaxed);
  while (w == board_state_word(id, TaskState::Pending) ||
         (to == TaskState::Running && w == board_state_word(id, TaskState::Soon))) {
    if (s.state.compare_exchange_weak(w, board_state_word(id, to), std::memory_order_seq_cst)) {
      EventCount(&s.event).notify_after_seq_cst();
      return;
    }
  }
}
}  // namespace

void board_start(Board* board, uint64_t task_id) noexcept { advance(board, task_id, TaskState::Running); }

void board_soon(Board* board, uint64_t task_id) noexcept { advance(board, task_id, TaskState::Soon); }

void board_finish_part(Board* board, uint64_t task_id, bool failed) noexcept {
  TaskStatus& s = board->at(task_id);
  if (failed) s.failed_parts.fetch_add(1, std::memory_order_relaxed);
  if (s.parts_left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  const bool any_failed = s.failed_parts.load(std::memory_order_relaxed) != 0;
  s.state.store(board_state_word(task_id, any_failed ? TaskState::Failed : TaskState::Done), std::memory_order_seq_cst);
  EventCount(&s.event).notify_after_seq_cst();
}

void board_force_failed(Board* board, uint64_t task_id) noexcept {
  TaskStatus& s = board->at(task_id);
  if (s.task_id.load(std::memory_order_relaxed) != task_id) return;
  s.failed_parts.fetch_add(1, std::memory_order_relaxed);
  s.state.store(board_state_word(task_id, TaskState::Failed), std::memory_order_seq_cst);
  EventCount(&s.event).notify_after_seq_cst();
}

void board_set_poisoned(Board* board, uint64_t task_id) noexcept {
  TaskStatus& s = board->at(task_id);
  if (s.task_id.load(std::memory_order_relaxed) == task_id) s.poisoned.store(1, std::memory_order_release);
}

namespace {
// Whether `dep` is finished: its slot holds a finished state, or was already given to a later task (the
// parent writes a reused slot's task_id before its state, so reading the id again after the state tells
// whether the state read was still `dep`'s).
struct Finish {
  bool finished = false;
  bool retired = false;
  uint32_t word = 0;
};
Finish read_finish(TaskStatus& s, uint64_t dep) noexcept {
  Finish f;
  if (s.task_id.load(std::memory_order_seq_cst) != dep) return Finish{true, true, 0};
  f.word = s.state.load(std::memory_order_seq_cst);
  if (s.task_id.load(std::memory_order_seq_cst) != dep) return Finish{true, true, 0};
  const TaskState st = board_state_of(f.word);
  f.finished = st == TaskState::Done || st == TaskState::Failed;
  return f;
}

DepOutcome outcome(Board* board, const Finish& f, uint64_t self) noexcept {
  // The parent sets our poisoned flag before it retires a failed producer's slot.
  if (f.retired)
    return board->at(self).poisoned.load(std::memory_order_acquire) ? DepOutcome::Failed : DepOutcome::Done;
  return board_state_of(f.word) == TaskState::Failed ? DepOutcome::Failed : DepOutcome::Done;
}
}  // namespace

DepOutcome board_wait(Board* board, uint64_t dep, uint64_t self, bool last, int64_t spin_ns) noexcept {
  TaskStatus& s = board->at(dep);
  const uint32_t running = board_state_word(dep, TaskState::Running);
  const uint32_t soon = board_state_word(dep, TaskState::Soon);
  Finish f;
  auto finished = [&] {
    f = read_finish(s, dep);
    return f.finished;
  };
  bool marked = false;
  auto hot = [&] {
    const uint32_t w = s.state.load(std::memory_order_relaxed);
    const bool h = w == running || w == soon;
    if (h && last && !marked) {
      marked = true;
      board_soon(board, self);
    }
    return h;
  };
  wait_on(
      EventCount(&s.event), finished, [] { return false; }, hot, SpinPolicy{spin_ns, spin_ns / 10}, -1, kBoardSliceNs);
  return outcome(board, f, self);
}

std::optional<DepOutcome> board_poll(Board* board, uint64_t dep, uint64_t self) noexcept {
  const Finish f = read_finish(board->at(dep), dep);
  if (!f.finished) return std::nullopt;
  return outcome(board, f, self);
}

}  // namespace strata::ipc
