// Pins the shared-memory layouts of ipc/mailbox.hpp and ipc/codec.hpp at run time (a layout change must
// fail a test even if the header's static_asserts were edited with it), and checks the mailbox protocol
// between two processes: a child consumes frames with mailbox_wait_request and echoes completions, both
// while it is busy (no wake-up needed) and while it sleeps on the futex (the doorbell wakes it).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "ipc/codec.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/shm.hpp"
#include "support/leak_check.hpp"
#include "support/wait.hpp"
#include "unit/child_helpers.hpp"

namespace strata::ipc {
namespace {

// Values as runtime variables, so the comparisons are made when the test runs.
template <class T>
size_t rt(T v) {
  volatile size_t x = static_cast<size_t>(v);
  return x;
}

TEST(MailboxLayout, Constants) {
  EXPECT_EQ(rt(kMailboxMagic), 0x424d5453u);
  EXPECT_EQ(rt(kBoardMagic), 0x44425453u);
  EXPECT_EQ(rt(kFrameMagic), 0x46525453u);
  EXPECT_EQ(rt(kLayoutVersion), 1u);
  EXPECT_EQ(rt(kRequestSlots), 256u);
  EXPECT_EQ(rt(kRequestSlotBytes), 1024u);
  EXPECT_EQ(rt(kCompletionSlots), 256u);
  EXPECT_EQ(rt(kCompletionMessageBytes), 232u);
  EXPECT_EQ(rt(kInitMessageBytes), 1024u);
  EXPECT_EQ(rt(kMaxFrameDeps), 8u);
  EXPECT_EQ(rt(kFramePayloadBytes), 912u);
  EXPECT_EQ(rt(kMaxFrameTensors), 57u);
  EXPECT_EQ(rt(kMaxFrameScalars), 114u);
}

TEST(MailboxLayout, EnumValuesAreWireValues) {
  EXPECT_EQ(rt(ChildState::Starting), 0u);
  EXPECT_EQ(rt(ChildState::Ready), 1u);
  EXPECT_EQ(rt(ChildState::InitFailed), 2u);
  EXPECT_EQ(rt(ChildState::Exiting), 3u);
  EXPECT_EQ(rt(CompletionStatus::Ok), 0u);
  EXPECT_EQ(rt(CompletionStatus::Failed), 1u);
  EXPECT_EQ(rt(CompletionStatus::Poisoned), 2u);
  EXPECT_EQ(rt(CompletionStatus::Rejected), 3u);
  EXPECT_EQ(rt(TaskState::Pending), 0u);
  EXPECT_EQ(rt(TaskState::Done), 1u);
  EXPECT_EQ(rt(TaskState::Failed), 2u);
  EXPECT_EQ(rt(FrameKind::Task), 1u);
  EXPECT_EQ(rt(FrameKind::LoadKernel), 2u);
  EXPECT_EQ(rt(FrameKind::Shutdown), 3u);
  // DType and Tag values travel in WireTensor.
  EXPECT_EQ(rt(DType::U8), 0u);
  EXPECT_EQ(rt(DType::F32), 9u);
  EXPECT_EQ(rt(DType::F64), 10u);
  EXPECT_EQ(rt(DType::kCount), 11u);
  EXPECT_EQ(rt(Tag::Input), 0u);
  EXPECT_EQ(rt(Tag::Output), 1u);
  EXPECT_EQ(rt(Tag::InOut), 2u);
  EXPECT_EQ(rt(Tag::OutputExisting), 3u);
  EXPECT_EQ(rt(Tag::NoDep), 4u);
  EXPECT_EQ(rt(Tag::kCount), 5u);
}

TEST(MailboxLayout, MailboxHeader) {
  EXPECT_EQ(rt(alignof(MailboxHeader)), 64u);
  EXPECT_EQ(rt(sizeof(MailboxHeader)), 1408u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, magic)), 0u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, version)), 4u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, request_slots)), 8u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, request_slot_bytes)), 12u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, completion_slots)), 16u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, child_kind)), 20u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, child_index)), 24u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, reserved0)), 28u);
  // Child-written lifecycle line.
  EXPECT_EQ(rt(offsetof(MailboxHeader, child_state)), 64u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, init_message)), 68u);
  // Parent-written request producer line.
  EXPECT_EQ(rt(offsetof(MailboxHeader, req_head)), 1152u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, req_doorbell)), 1160u);
  // Child-written request consumer line.
  EXPECT_EQ(rt(offsetof(MailboxHeader, req_tail)), 1216u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, child_sleeping)), 1224u);
  // Child-written completion producer line.
  EXPECT_EQ(rt(offsetof(MailboxHeader, cpl_head)), 1280u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, running_task)), 1288u);
  EXPECT_EQ(rt(offsetof(MailboxHeader, running_deadline_ns)), 1296u);
  // Parent-written completion consumer line.
  EXPECT_EQ(rt(offsetof(MailboxHeader, cpl_tail)), 1344u);
}

TEST(MailboxLayout, LinesWrittenByDifferentProcessesDoNotShareACacheLine) {
  const size_t parent_lines[] = {offsetof(MailboxHeader, req_head) / 64, offsetof(MailboxHeader, cpl_tail) / 64};
  const size_t child_lines[] = {offsetof(MailboxHeader, child_state) / 64, offsetof(MailboxHeader, req_tail) / 64,
                                offsetof(MailboxHeader, cpl_head) / 64};
  for (size_t p : parent_lines)
    for (size_t c : child_lines) EXPECT_NE(rt(p), rt(c));
  // The child's fields on the consumer and producer lines end before the next line.
  EXPECT_LE(rt(offsetof(MailboxHeader, child_sleeping) + 4), 1280u);
  EXPECT_LE(rt(offsetof(MailboxHeader, running_deadline_ns) + 8), 1344u);
  EXPECT_LE(rt(offsetof(MailboxHeader, req_doorbell) + 4), 1216u);
  EXPECT_LE(rt(offsetof(MailboxHeader, init_message) + kInitMessageBytes), 1152u);
}

TEST(MailboxLayout, CompletionSlot) {
  EXPECT_EQ(rt(sizeof(CompletionSlot)), 256u);
  EXPECT_EQ(rt(offsetof(CompletionSlot, task_id)), 0u);
  EXPECT_EQ(rt(offsetof(CompletionSlot, part)), 8u);
  EXPECT_EQ(rt(offsetof(CompletionSlot, status)), 12u);
  EXPECT_EQ(rt(offsetof(CompletionSlot, detail)), 16u);
  EXPECT_EQ(rt(offsetof(CompletionSlot, message)), 24u);
}

TEST(MailboxLayout, Mailbox) {
  EXPECT_EQ(rt(alignof(Mailbox)), 64u);
  EXPECT_EQ(rt(offsetof(Mailbox, header)), 0u);
  EXPECT_EQ(rt(offsetof(Mailbox, requests)), 1408u);
  EXPECT_EQ(rt(offsetof(Mailbox, completions)), 1408u + 256u * 1024u);
  EXPECT_EQ(rt(sizeof(Mailbox)), 1408u + 256u * 1024u + 256u * 256u);
}

TEST(MailboxLayout, TaskStatus) {
  EXPECT_EQ(rt(sizeof(TaskStatus)), 64u);
  EXPECT_EQ(rt(alignof(TaskStatus)), 64u);
  EXPECT_EQ(rt(offsetof(TaskStatus, task_id)), 0u);
  EXPECT_EQ(rt(offsetof(TaskStatus, state)), 8u);
  EXPECT_EQ(rt(offsetof(TaskStatus, parts_left)), 12u);
  EXPECT_EQ(rt(offsetof(TaskStatus, failed_parts)), 16u);
  EXPECT_EQ(rt(offsetof(TaskStatus, waiters)), 20u);
  EXPECT_EQ(rt(offsetof(TaskStatus, poisoned)), 24u);
}

TEST(MailboxLayout, Board) {
  EXPECT_EQ(rt(sizeof(BoardHeader)), 128u);
  EXPECT_EQ(rt(offsetof(BoardHeader, magic)), 0u);
  EXPECT_EQ(rt(offsetof(BoardHeader, version)), 4u);
  EXPECT_EQ(rt(offsetof(BoardHeader, slots)), 8u);
  EXPECT_EQ(rt(offsetof(BoardHeader, reserved0)), 12u);
  EXPECT_EQ(rt(offsetof(BoardHeader, parent_sleeping)), 64u);
  EXPECT_EQ(rt(sizeof(Board)), 128u);
  EXPECT_EQ(Board::bytes_for(0), 128u);
  EXPECT_EQ(Board::bytes_for(static_cast<uint32_t>(rt(4096))), 128u + 4096u * 64u);
}

TEST(MailboxLayout, FrameHeader) {
  EXPECT_EQ(rt(sizeof(FrameHeader)), 112u);
  EXPECT_EQ(rt(offsetof(FrameHeader, magic)), 0u);
  EXPECT_EQ(rt(offsetof(FrameHeader, kind)), 4u);
  EXPECT_EQ(rt(offsetof(FrameHeader, ndeps)), 6u);
  EXPECT_EQ(rt(offsetof(FrameHeader, task_id)), 8u);
  EXPECT_EQ(rt(offsetof(FrameHeader, callable)), 16u);
  EXPECT_EQ(rt(offsetof(FrameHeader, block_dim)), 20u);
  EXPECT_EQ(rt(offsetof(FrameHeader, part)), 24u);
  EXPECT_EQ(rt(offsetof(FrameHeader, parts)), 28u);
  EXPECT_EQ(rt(offsetof(FrameHeader, timeout_ns)), 32u);
  EXPECT_EQ(rt(offsetof(FrameHeader, ntensors)), 40u);
  EXPECT_EQ(rt(offsetof(FrameHeader, nscalars)), 42u);
  EXPECT_EQ(rt(offsetof(FrameHeader, payload_bytes)), 44u);
  EXPECT_EQ(rt(offsetof(FrameHeader, deps)), 48u);
}

TEST(MailboxLayout, WireTensor) {
  EXPECT_EQ(rt(sizeof(WireTensor)), 16u);
  EXPECT_EQ(rt(offsetof(WireTensor, data)), 0u);
  EXPECT_EQ(rt(offsetof(WireTensor, dtype)), 8u);
  EXPECT_EQ(rt(offsetof(WireTensor, tag)), 9u);
  EXPECT_EQ(rt(offsetof(WireTensor, ndim)), 10u);
  EXPECT_EQ(rt(offsetof(WireTensor, reserved)), 11u);
}

TEST(MailboxLayout, SharedWordsAreLockFree) {
  std::atomic<uint32_t> a32{0};
  std::atomic<uint64_t> a64{0};
  EXPECT_TRUE(a32.is_lock_free());
  EXPECT_TRUE(a64.is_lock_free());
  EXPECT_EQ(rt(sizeof(std::atomic<uint32_t>)), 4u);
  EXPECT_EQ(rt(sizeof(std::atomic<uint64_t>)), 8u);
}

// ---- Single-process protocol checks -------------------------------------------------------------------

TEST(MailboxProtocol, InitFillsTheHeader) {
  SharedMapping shm(sizeof(Mailbox));
  auto* mb = static_cast<Mailbox*>(shm.data());
  mailbox_init(mb, 1, 3);
  const MailboxHeader& h = mb->header;
  EXPECT_EQ(h.magic, kMailboxMagic);
  EXPECT_EQ(h.version, kLayoutVersion);
  EXPECT_EQ(h.request_slots, kRequestSlots);
  EXPECT_EQ(h.request_slot_bytes, kRequestSlotBytes);
  EXPECT_EQ(h.completion_slots, kCompletionSlots);
  EXPECT_EQ(h.child_kind, 1u);
  EXPECT_EQ(h.child_index, 3);
  EXPECT_EQ(h.child_state.load(), static_cast<uint32_t>(ChildState::Starting));
  EXPECT_EQ(h.req_head.load(), 0u);
  EXPECT_EQ(h.req_tail.load(), 0u);
  EXPECT_EQ(h.cpl_head.load(), 0u);
  EXPECT_EQ(h.cpl_tail.load(), 0u);
  EXPECT_EQ(h.running_task.load(), 0u);
  EXPECT_EQ(h.child_sleeping.load(), 0u);
}

TEST(MailboxProtocol, PublishRingsTheDoorbellOnlyForASleeper) {
  SharedMapping shm(sizeof(Mailbox));
  auto* mb = static_cast<Mailbox*>(shm.data());
  mailbox_init(mb, 0, 0);
  mailbox_publish_requests(mb, 1);
  EXPECT_EQ(mb->header.req_head.load(), 1u);
  EXPECT_EQ(mb->header.req_doorbell.load(), 0u) << "no system call while the child is busy";
  mb->header.child_sleeping.store(1);
  mailbox_publish_requests(mb, 2);
  EXPECT_EQ(mb->header.req_head.load(), 2u);
  EXPECT_EQ(mb->header.req_doorbell.load(), 1u);
}

TEST(MailboxProtocol, WaitRequestTimesOutWhenEmptyAndReturnsAtOnceWhenNot) {
  SharedMapping shm(sizeof(Mailbox));
  auto* mb = static_cast<Mailbox*>(shm.data());
  mailbox_init(mb, 0, 0);
  EXPECT_FALSE(mailbox_wait_request(mb, 0, 1'000'000));  // 1 ms: nothing comes
  EXPECT_EQ(mb->header.child_sleeping.load(), 0u) << "a waiter that returns no longer sleeps";
  mailbox_publish_requests(mb, 1);
  EXPECT_TRUE(mailbox_wait_request(mb, 0, -1));
  EXPECT_EQ(mb->header.child_sleeping.load(), 0u);
}

// ---- Two processes ------------------------------------------------------------------------------------

// Generous bound on every wait in these tests: a regression fails instead of hanging.
template <class F>
bool wait_for(F&& cond) {
  return test::wait_until(cond, std::chrono::seconds(20));
}

// The child: consumes frames in order, echoes one completion per frame (detail = sum of the scalars,
// part = ntensors), until a Shutdown frame. Returns 0, or a code saying what went wrong.
int echo_child(Mailbox* mb, int64_t spin_ns) {
  MailboxHeader& h = mb->header;
  auto frame = std::make_unique<DecodedFrame>();
  h.child_state.store(static_cast<uint32_t>(ChildState::Ready), std::memory_order_release);
  for (;;) {
    if (!mailbox_wait_request(mb, spin_ns, -1)) continue;  // spurious wake-up: wait again
    const uint64_t head = h.req_head.load(std::memory_order_acquire);
    uint64_t tail = h.req_tail.load(std::memory_order_relaxed);
    for (; tail != head; ++tail) {
      const unsigned char* slot = mb->requests[tail % kRequestSlots];
      std::string error;
      const uint64_t c = h.cpl_head.load(std::memory_order_relaxed);
      CompletionSlot& out = mb->completions[c % kCompletionSlots];
      const bool ok = frame_decode(slot, kRequestSlotBytes, frame.get(), &error);
      if (ok && frame->header.kind == static_cast<uint16_t>(FrameKind::Shutdown)) {
        h.req_tail.store(tail + 1, std::memory_order_release);
        h.child_state.store(static_cast<uint32_t>(ChildState::Exiting), std::memory_order_release);
        return 0;
      }
      out.task_id = ok ? frame->header.task_id : 0;
      out.part = ok ? frame->header.ntensors : 0;
      out.status = static_cast<int32_t>(ok ? CompletionStatus::Ok : CompletionStatus::Rejected);
      uint64_t sum = 0;
      if (ok)
        for (uint16_t i = 0; i < frame->header.nscalars; ++i) sum += frame->scalars[i];
      out.detail = sum;
      std::snprintf(out.message, sizeof out.message, "%s", error.c_str());
      h.cpl_head.store(c + 1, std::memory_order_release);
      h.req_tail.store(tail + 1, std::memory_order_release);
    }
  }
}

class MailboxTwoProcess : public test::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    shm_ = SharedMapping(sizeof(Mailbox));
    mb_ = static_cast<Mailbox*>(shm_.data());
    mailbox_init(mb_, 0, 0);
  }
  void TearDown() override {
    if (child_.pid > 0) test::reap_child(&child_, 0);  // a failed test: kill and reap
    LeakCheckedTest::TearDown();
  }

  void start_child(int64_t spin_ns) {
    Mailbox* mb = mb_;
    child_ = test::fork_child([mb, spin_ns] { return echo_child(mb, spin_ns); });
    ASSERT_GT(child_.pid, 0) << "fork failed";
    ASSERT_TRUE(wait_for([&] { return mb_->header.child_state.load() == static_cast<uint32_t>(ChildState::Ready); }));
  }

  // Writes task frame `id` (scalars id and 2*id) into the next request slot; does not publish.
  void write_task(uint64_t id) {
    TaskFrameInfo info;
    info.task_id = id;
    const uint64_t scalars[] = {id, 2 * id};
    encode_task(info, {}, {}, scalars, mb_->requests[head_ % kRequestSlots]);
    ++head_;
  }

  // Consumes completion of task `id` (in order); false on a bad completion or a timeout.
  ::testing::AssertionResult consume(uint64_t id) {
    MailboxHeader& h = mb_->header;
    const uint64_t tail = h.cpl_tail.load(std::memory_order_relaxed);
    if (!wait_for([&] { return h.cpl_head.load(std::memory_order_acquire) != tail; }))
      return ::testing::AssertionFailure() << "no completion for task " << id << " within the deadline";
    const CompletionSlot& c = mb_->completions[tail % kCompletionSlots];
    if (c.status != static_cast<int32_t>(CompletionStatus::Ok))
      return ::testing::AssertionFailure() << "task " << id << " status " << c.status << ": " << c.message;
    if (c.task_id != id) return ::testing::AssertionFailure() << "completion for " << c.task_id << ", wanted " << id;
    if (c.detail != 3 * id) return ::testing::AssertionFailure() << "detail " << c.detail << " for task " << id;
    h.cpl_tail.store(tail + 1, std::memory_order_release);
    return ::testing::AssertionSuccess();
  }

  void shutdown_and_reap() {
    encode_shutdown(mb_->requests[head_ % kRequestSlots]);
    ++head_;
    mailbox_publish_requests(mb_, head_);
    bool timed_out = false;
    const int status = test::reap_child(&child_, 20'000, &timed_out);
    EXPECT_FALSE(timed_out) << "the child did not exit after Shutdown";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << test::describe_status(status);
    EXPECT_EQ(mb_->header.child_state.load(), static_cast<uint32_t>(ChildState::Exiting));
    EXPECT_EQ(mb_->header.req_tail.load(), head_);
  }

  SharedMapping shm_;
  Mailbox* mb_ = nullptr;
  test::Child child_;
  uint64_t head_ = 0;
};

TEST_F(MailboxTwoProcess, SleepingChildIsWokenByTheDoorbell) {
  // The child blocks on the futex at once (no spin, no timeout): only the doorbell can wake it.
  start_child(0);
  constexpr uint64_t kRounds = 200;
  for (uint64_t id = 1; id <= kRounds; ++id) {
    // The completion of the previous frame was written after the child cleared child_sleeping, so
    // seeing it set again means the child is (about to be) asleep on this round.
    ASSERT_TRUE(wait_for([&] { return mb_->header.child_sleeping.load() == 1; })) << "child never slept";
    write_task(id);
    mailbox_publish_requests(mb_, head_);
    ASSERT_TRUE(consume(id));
  }
  EXPECT_EQ(mb_->header.req_doorbell.load(), kRounds) << "every publish to a sleeper rings the doorbell";
  shutdown_and_reap();
}

TEST_F(MailboxTwoProcess, BusyChildNeedsNoWakeUp) {
  // The child spins for far longer than the test runs: it never sleeps, so the parent must never ring.
  start_child(60'000'000'000);
  constexpr uint64_t kFrames = 3000;  // many times around the ring
  uint64_t done = 0;
  while (done < kFrames) {
    // Keep up to a ring's worth of frames outstanding, published in batches of varying size.
    const uint64_t batch = std::min<uint64_t>({kFrames - head_, kRequestSlots - (head_ - done), 1 + head_ % 37});
    for (uint64_t i = 0; i < batch; ++i) write_task(head_ + 1);
    if (batch > 0) mailbox_publish_requests(mb_, head_);
    const uint64_t consume_upto = std::min(head_, done + 1 + done % 5);
    for (; done < consume_upto; ++done) {
      ASSERT_TRUE(consume(done + 1));
    }
  }
  EXPECT_EQ(mb_->header.req_doorbell.load(), 0u) << "a busy child needs no wake-up";
  shutdown_and_reap();
}

TEST_F(MailboxTwoProcess, ChildSometimesAsleepSometimesBusy) {
  // A short spin: the child sleeps whenever the parent is slow. Whatever the interleaving, every frame
  // is answered once, in order.
  start_child(20'000);
  uint64_t done = 0;
  for (uint64_t round = 0; round < 300; ++round) {
    const uint64_t batch = 1 + round % 7;
    if (round % 3 == 0) {
      ASSERT_TRUE(wait_for([&] { return mb_->header.child_sleeping.load() == 1; }));
    }
    for (uint64_t i = 0; i < batch; ++i) write_task(head_ + 1);
    mailbox_publish_requests(mb_, head_);
    for (; done < head_; ++done) {
      ASSERT_TRUE(consume(done + 1));
    }
  }
  EXPECT_GE(mb_->header.req_doorbell.load(), 100u) << "the rounds that waited for a sleeper rang";
  shutdown_and_reap();
}

}  // namespace
}  // namespace strata::ipc
