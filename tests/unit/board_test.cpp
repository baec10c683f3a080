// Unit tests of the status board (ipc/board.hpp): board_finish_part, board_force_failed and board_wait,
// including a dependency whose slot was already retired (the waiter's `poisoned` flag decides), in one
// process (threads) and across two processes (futex wake-up on shared memory).
#include "ipc/board.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "ipc/shm.hpp"
#include "support/leak_check.hpp"
#include "support/wait.hpp"
#include "unit/child_helpers.hpp"
#include "util/sys.hpp"

namespace strata::ipc {
namespace {

constexpr uint32_t kSlots = 8;
constexpr int kExitDone = 10;
constexpr int kExitFailed = 11;

uint32_t state_of(Board* b, uint64_t id) { return static_cast<uint32_t>(board_state(b, id)); }
// Waiters announced on task `id`'s entry and not yet woken.
uint32_t waiters(Board* b, uint64_t id) {
  return std::atomic_ref<uint32_t>(b->at(id).event.waiters).load(std::memory_order_acquire);
}
constexpr uint32_t kPending = static_cast<uint32_t>(TaskState::Pending);
constexpr uint32_t kDone = static_cast<uint32_t>(TaskState::Done);
constexpr uint32_t kFailed = static_cast<uint32_t>(TaskState::Failed);

// What the parent does when it pushes task `id` with `parts` parts: the slot now belongs to `id`
// (task_id is written before state, as board_wait relies on).
void arm(Board* b, uint64_t id, uint32_t parts) { board_arm(b, id, parts); }

// Generous bound on every wait in these tests: a regression fails instead of hanging.
template <class F>
bool wait_for(F&& cond) {
  return test::wait_until(cond, std::chrono::seconds(20));
}

class BoardTest : public test::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    shm_ = SharedMapping(Board::bytes_for(kSlots));
    board_ = static_cast<Board*>(shm_.data());
    board_init(board_, kSlots);
  }
  void TearDown() override {
    if (child_.pid > 0) test::reap_child(&child_, 0);  // a failed test: kill and reap
    LeakCheckedTest::TearDown();
  }

  // Forks a child that waits for `dep` as task `self` and exits kExitDone / kExitFailed.
  void fork_waiter(uint64_t dep, uint64_t self) {
    Board* b = board_;
    child_ = test::fork_child(
        [b, dep, self] { return board_wait(b, dep, self, false, 0) == DepOutcome::Done ? kExitDone : kExitFailed; });
    ASSERT_GT(child_.pid, 0) << "fork failed";
  }
  // Waits until the child announced itself as a waiter on `dep` (it is asleep or about to be).
  void await_sleeper(uint64_t dep) {
    ASSERT_TRUE(wait_for([&] { return waiters(board_, dep) > 0; })) << "the child never waited";
  }
  // Reaps the child and returns its exit code (-1 if it did not exit normally in time).
  int reap() {
    bool timed_out = false;
    const int status = test::reap_child(&child_, 20'000, &timed_out);
    EXPECT_FALSE(timed_out) << "the waiter was never woken";
    if (!WIFEXITED(status)) {
      ADD_FAILURE() << "child " << test::describe_status(status);
      return -1;
    }
    return WEXITSTATUS(status);
  }

  SharedMapping shm_;
  Board* board_ = nullptr;
  test::Child child_;
};

// ---- One process --------------------------------------------------------------------------------------

TEST_F(BoardTest, InitFillsTheHeaderAndEveryEntryIsTaskZeroPending) {
  EXPECT_EQ(board_->header.magic, kBoardMagic);
  EXPECT_EQ(board_->header.version, kBoardVersion);
  EXPECT_EQ(board_->header.slots, kSlots);
  for (uint32_t i = 0; i < kSlots; ++i) {
    EXPECT_EQ(board_->status()[i].task_id.load(), 0u);
    EXPECT_EQ(board_->status()[i].state.load(), kPending);
  }
}

TEST_F(BoardTest, EntryIsTaskIdModuloSlots) {
  for (uint64_t id = 0; id < 3 * kSlots; ++id) EXPECT_EQ(&board_->at(id), &board_->status()[id % kSlots]);
  EXPECT_EQ(reinterpret_cast<char*>(board_->status()), reinterpret_cast<char*>(board_) + sizeof(Board));
}

TEST_F(BoardTest, SinglePartFinishes) {
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  board_finish_part(board_, 1, false);
  board_finish_part(board_, 2, true);
  EXPECT_EQ(state_of(board_, 1), kDone);
  EXPECT_EQ(state_of(board_, 2), kFailed);
  EXPECT_EQ(board_->at(2).failed_parts.load(), 1u);
}

// board_poll, what a pod's root uses to hold a task until its producers are done: the outcome once the
// producer finished, nothing while it has not, and the waiter's poisoned flag once the slot was reused.
TEST_F(BoardTest, PollTellsAFinishedProducerWithoutWaiting) {
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  arm(board_, 3, 2);
  EXPECT_FALSE(board_poll(board_, 1, 3).has_value());
  board_start(board_, 1);
  EXPECT_FALSE(board_poll(board_, 1, 3).has_value()) << "running is not finished";
  board_finish_part(board_, 1, false);
  board_finish_part(board_, 2, true);
  EXPECT_EQ(board_poll(board_, 1, 3), DepOutcome::Done);
  EXPECT_EQ(board_poll(board_, 2, 3), DepOutcome::Failed);
  // Producer 2's slot given to task 2 + kSlots: the waiter's own flag decides.
  arm(board_, 2 + kSlots, 1);
  EXPECT_EQ(board_poll(board_, 2, 3), DepOutcome::Done);
  board_set_poisoned(board_, 3);
  EXPECT_EQ(board_poll(board_, 2, 3), DepOutcome::Failed);
}

TEST_F(BoardTest, GroupFinishesWithItsLastPart) {
  arm(board_, 3, 3);
  board_finish_part(board_, 3, false);
  board_finish_part(board_, 3, false);
  EXPECT_EQ(state_of(board_, 3), kPending);
  EXPECT_EQ(board_->at(3).parts_left.load(), 1u);
  board_finish_part(board_, 3, false);
  EXPECT_EQ(state_of(board_, 3), kDone);
}

TEST_F(BoardTest, GroupFailsIfAnyPartFailed) {
  arm(board_, 4, 3);
  board_finish_part(board_, 4, false);
  board_finish_part(board_, 4, true);  // not the last part: the task is still pending
  EXPECT_EQ(state_of(board_, 4), kPending);
  board_finish_part(board_, 4, false);
  EXPECT_EQ(state_of(board_, 4), kFailed);
  EXPECT_EQ(board_->at(4).failed_parts.load(), 1u);
}

TEST_F(BoardTest, StartAndSoonAreNotFinishedAndNeverGoBack) {
  arm(board_, 1, 2);
  board_soon(board_, 1);
  EXPECT_EQ(board_state(board_, 1), TaskState::Soon);
  board_start(board_, 1);
  EXPECT_EQ(board_state(board_, 1), TaskState::Running);
  board_soon(board_, 1);  // a late Soon does not undo Running
  EXPECT_EQ(board_state(board_, 1), TaskState::Running);
  board_finish_part(board_, 1, false);
  board_start(board_, 1);  // the second part starts
  EXPECT_EQ(board_state(board_, 1), TaskState::Running);
  board_finish_part(board_, 1, false);
  EXPECT_EQ(state_of(board_, 1), kDone);
  board_start(board_, 1);  // nothing moves a finished task
  board_soon(board_, 1);
  EXPECT_EQ(state_of(board_, 1), kDone);
}

TEST_F(BoardTest, WaiterMarksItsOwnTaskSoonOnceItsLastProducerRuns) {
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  board_start(board_, 1);
  std::thread waiter([&] { EXPECT_EQ(board_wait(board_, 1, 2, /*last=*/true, 0), DepOutcome::Done); });
  ASSERT_TRUE(wait_for([&] { return board_state(board_, 2) == TaskState::Soon; }));
  board_finish_part(board_, 1, false);
  waiter.join();
}

TEST_F(BoardTest, SleepingWaiterIsWokenWhenItsProducerStarts) {
  // A waiter whose producer has not started sleeps; the start wakes it, and it spins (the woken
  // waiter is no longer counted) until the finish.
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  std::thread waiter([&] { EXPECT_EQ(board_wait(board_, 1, 2, true, 0), DepOutcome::Done); });
  ASSERT_TRUE(wait_for([&] { return waiters(board_, 1) > 0; }));
  board_start(board_, 1);
  ASSERT_TRUE(wait_for([&] { return board_state(board_, 2) == TaskState::Soon; }));
  board_finish_part(board_, 1, false);
  waiter.join();
}

TEST_F(BoardTest, ForceFailed) {
  arm(board_, 5, 2);
  board_finish_part(board_, 5, false);
  board_force_failed(board_, 5);  // the child holding the other part died
  EXPECT_EQ(state_of(board_, 5), kFailed);
  EXPECT_GE(board_->at(5).failed_parts.load(), 1u);
}

TEST_F(BoardTest, ForceFailedOfARetiredTaskChangesNothing) {
  // Slot of task 6 now belongs to task 6 + kSlots: forcing task 6 must not touch it.
  arm(board_, 6 + kSlots, 1);
  board_force_failed(board_, 6);
  EXPECT_EQ(state_of(board_, 6 + kSlots), kPending);
  EXPECT_EQ(board_->at(6).failed_parts.load(), 0u);
  EXPECT_EQ(board_->at(6).task_id.load(), 6u + kSlots);
}

TEST_F(BoardTest, WaitReturnsAtOnceForAFinishedTask) {
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  arm(board_, 3, 1);
  board_finish_part(board_, 1, false);
  board_finish_part(board_, 2, true);
  EXPECT_EQ(board_wait(board_, 1, 3, false, 0), DepOutcome::Done);
  EXPECT_EQ(board_wait(board_, 2, 3, false, 0), DepOutcome::Failed);
  EXPECT_EQ(waiters(board_, 1), 0u);
}

TEST_F(BoardTest, WaitForARetiredTaskUsesThePoisonedFlag) {
  // Task 1's slot was reused by task 1 + kSlots (still pending): task 1 retired, so it finished; whether
  // it failed is told by the waiter's own poisoned flag, which the parent sets before retiring.
  arm(board_, 2, 1);
  arm(board_, 1 + kSlots, 1);
  EXPECT_EQ(board_wait(board_, 1, 2, false, 0), DepOutcome::Done);
  board_->at(2).poisoned.store(1);
  EXPECT_EQ(board_wait(board_, 1, 2, false, 0), DepOutcome::Failed);
}

TEST_F(BoardTest, ThreadWaiterIsWokenByFinish) {
  for (int round = 0; round < 200; ++round) {
    const uint64_t dep = 1 + static_cast<uint64_t>(round) * 2;
    const uint64_t self = dep + 1;
    arm(board_, dep, 1);
    arm(board_, self, 1);
    std::atomic<int> outcome{-1};
    std::thread waiter([&] { outcome = board_wait(board_, dep, self, false, 0) == DepOutcome::Done ? 0 : 1; });
    // Half the rounds finish once the waiter sleeps, half race with it.
    if (round % 2 == 0) {
      ASSERT_TRUE(wait_for([&] { return waiters(board_, dep) > 0; }));
    }
    board_finish_part(board_, dep, round % 4 == 0);
    waiter.join();
    EXPECT_EQ(outcome.load(), round % 4 == 0 ? 1 : 0) << "round " << round;
    EXPECT_EQ(waiters(board_, dep), 0u) << "a waiter that returned is no longer counted";
  }
}

// ---- Two processes ------------------------------------------------------------------------------------

TEST_F(BoardTest, ChildWokenWhenTaskDone) {
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  fork_waiter(1, 2);
  await_sleeper(1);
  board_finish_part(board_, 1, false);
  EXPECT_EQ(reap(), kExitDone);
}

TEST_F(BoardTest, ChildWokenWhenTaskFailed) {
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  fork_waiter(1, 2);
  await_sleeper(1);
  board_finish_part(board_, 1, true);
  EXPECT_EQ(reap(), kExitFailed);
}

TEST_F(BoardTest, ChildWokenWhenTaskForcedFailed) {
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  fork_waiter(1, 2);
  await_sleeper(1);
  board_force_failed(board_, 1);
  EXPECT_EQ(reap(), kExitFailed);
}

TEST_F(BoardTest, ChildWaitsForEveryPartOfAGroup) {
  arm(board_, 1, 2);
  arm(board_, 2, 1);
  fork_waiter(1, 2);
  await_sleeper(1);
  board_finish_part(board_, 1, false);
  // One part is left: the child must still be waiting (its pidfd is not readable).
  pollfd p{child_.pidfd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "the waiter returned before the last part finished";
  board_finish_part(board_, 1, false);
  EXPECT_EQ(reap(), kExitDone);
}

TEST_F(BoardTest, ChildSeesFailureWhenTheSlotIsRetiredRightAfter) {
  // The parent processes the failed completion, poisons the waiting consumer, retires the producer and
  // reuses its slot: whichever the child sees first (Failed, or the slot reused), it must report Failed.
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  fork_waiter(1, 2);
  await_sleeper(1);
  board_finish_part(board_, 1, true);
  board_->at(2).poisoned.store(1, std::memory_order_release);
  arm(board_, 1 + kSlots, 1);
  EXPECT_EQ(reap(), kExitFailed);
}

TEST_F(BoardTest, ChildSeesSuccessWhenTheSlotIsRetiredRightAfter) {
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  fork_waiter(1, 2);
  await_sleeper(1);
  board_finish_part(board_, 1, false);
  arm(board_, 1 + kSlots, 1);
  EXPECT_EQ(reap(), kExitDone);
}

TEST_F(BoardTest, ParentWokenByAChildThatFinishes) {
  // The other direction: the child finishes the task once the parent sleeps on it.
  arm(board_, 1, 1);
  arm(board_, 2, 1);
  Board* b = board_;
  child_ = test::fork_child([b] {
    while (waiters(b, 1) == 0) sys::yield();  // bounded by the child's alarm
    board_finish_part(b, 1, false);
    return 0;
  });
  ASSERT_GT(child_.pid, 0);
  EXPECT_EQ(board_wait(board_, 1, 2, false, 0), DepOutcome::Done);
  EXPECT_EQ(reap(), 0);
}

TEST_F(BoardTest, ManyWakeUpsAcrossProcesses) {
  // The child waits for tasks 1..N in turn; the parent finishes each (every fifth failed), sometimes
  // after the child sleeps, sometimes at once. The child reports each outcome through shared memory.
  constexpr uint64_t kTasks = 300;
  struct Shared {
    std::atomic<uint64_t> armed;  // the last task armed
    std::atomic<uint8_t> results[kTasks + 1];
  };
  SharedMapping shared_shm(sizeof(Shared));
  auto* shared = static_cast<Shared*>(shared_shm.data());
  std::atomic<uint8_t>* results = shared->results;
  // One task in flight at a time: the parent arms task i after the child reported task i-1. No slot is
  // reused while waited on, so the waiter's own id (and its poisoned flag) play no part.
  constexpr uint64_t kSelf = 0;
  // The child waits for a task only once it is fully armed, as a real child only learns of a task from a
  // frame published after the task was armed.
  Board* b = board_;
  arm(board_, 1, 1);
  shared->armed.store(1, std::memory_order_release);
  child_ = test::fork_child([b, shared] {
    for (uint64_t id = 1; id <= kTasks; ++id) {
      while (shared->armed.load(std::memory_order_acquire) < id) sys::yield();  // bounded by the child's alarm
      shared->results[id].store(board_wait(b, id, kSelf, false, 0) == DepOutcome::Done ? 1 : 2,
                                std::memory_order_release);
    }
    return 0;
  });
  ASSERT_GT(child_.pid, 0);
  for (uint64_t id = 1; id <= kTasks; ++id) {
    if (id % 2 == 0) {
      ASSERT_TRUE(wait_for([&] { return waiters(board_, id) > 0; })) << id;
    }
    board_finish_part(board_, id, id % 5 == 0);
    ASSERT_TRUE(wait_for([&] { return results[id].load(std::memory_order_acquire) != 0; })) << id;
    EXPECT_EQ(results[id].load(), id % 5 == 0 ? 2 : 1) << "task " << id;
    if (id < kTasks) {
      arm(board_, id + 1, 1);
      shared->armed.store(id + 1, std::memory_order_release);
    }
  }
  EXPECT_EQ(reap(), 0);
}

}  // namespace
}  // namespace strata::ipc
