// Pins the shared-memory layouts of ipc/channel.hpp, ipc/board.hpp and ipc/codec.hpp at run time (a
// layout change must fail a test even if the headers' static_asserts were edited with it), and checks
// the channel protocol between two processes: a child serves frames through ChannelChild and answers
// with completions, while it is busy (no wake-up) and while it sleeps (the parent's flush wakes it);
// messages up to kPayloadBytes arrive whole; the running-task seqlock never shows a torn pair; and the
// liveness word tells the parent of a child's death without a system call.
#include "ipc/channel.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>

#include "ipc/board.hpp"
#include "ipc/codec.hpp"
#include "ipc/shm.hpp"
#include "support/leak_check.hpp"
#include "support/wait.hpp"
#include "unit/child_helpers.hpp"
#include "util/sys.hpp"

namespace strata::ipc {
namespace {

// Values as runtime variables, so the comparisons are made when the test runs.
template <class T>
size_t rt(T v) {
  volatile size_t x = static_cast<size_t>(v);
  return x;
}

TEST(ChannelLayout, Constants) {
  EXPECT_EQ(rt(kChannelMagic), 0x48435453u);
  EXPECT_EQ(rt(kBoardMagic), 0x44425453u);
  EXPECT_EQ(rt(kFrameMagic), 0x46525453u);
  EXPECT_EQ(rt(kLayoutVersion), 3u);
  EXPECT_EQ(rt(kRequestSlots), 256u);
  EXPECT_EQ(rt(kRequestSlotBytes), 1024u);
  EXPECT_EQ(rt(kCompletionSlots), 256u);
  EXPECT_EQ(rt(kPayloadBytes), 8192u);
  EXPECT_EQ(rt(kMaxFrameDeps), 8u);
  EXPECT_EQ(rt(kFramePayloadBytes), 912u);
  EXPECT_EQ(rt(kControlIdBit), uint64_t{1} << 63);
}

TEST(ChannelLayout, EnumValuesAreWireValues) {
  EXPECT_EQ(rt(ChildState::Starting), 0u);
  EXPECT_EQ(rt(ChildState::Ready), 1u);
  EXPECT_EQ(rt(ChildState::InitFailed), 2u);
  EXPECT_EQ(rt(ChildState::Exiting), 3u);
  EXPECT_EQ(rt(Status::Ok), 0u);
  EXPECT_EQ(rt(Status::Failed), 1u);
  EXPECT_EQ(rt(Status::Poisoned), 2u);
  EXPECT_EQ(rt(Status::Rejected), 3u);
  EXPECT_EQ(rt(kStatusCount), 4u);
  EXPECT_EQ(rt(ErrorCode::Exception), 1u);
  EXPECT_EQ(rt(ErrorCode::Unsupported), 4u);
  EXPECT_EQ(rt(TaskState::Pending), 0u);
  EXPECT_EQ(rt(TaskState::Done), 1u);
  EXPECT_EQ(rt(TaskState::Failed), 2u);
  EXPECT_EQ(rt(TaskState::Running), 3u);
  EXPECT_EQ(rt(TaskState::Soon), 4u);
  EXPECT_EQ(rt(FrameKind::Task), 1u);
  EXPECT_EQ(rt(FrameKind::Respawn), 9u);
}

TEST(ChannelLayout, Header) {
  EXPECT_EQ(rt(offsetof(ChannelHeader, magic)), 0u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, generation)), 28u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, liveness)), 64u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, child_state)), 128u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, req_head)), 192u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, parent_wake_at)), 200u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, req_event)), 256u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, req_tail)), 320u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, cpl_head)), 384u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, running_seq)), 448u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, running_task)), 456u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, running_deadline_ns)), 472u);
  EXPECT_EQ(rt(offsetof(ChannelHeader, cpl_tail)), 512u);
  EXPECT_EQ(rt(sizeof(ChannelHeader)), 576u);
}

TEST(ChannelLayout, LinesWrittenByDifferentProcessesDoNotShareACacheLine) {
  // parent: req_head/parent_wake_at, cpl_tail; child: child_state, req_tail, cpl_head, running;
  // both: req_event; the kernel: liveness.
  const size_t lines[] = {offsetof(ChannelHeader, liveness),    offsetof(ChannelHeader, child_state),
                          offsetof(ChannelHeader, req_head),    offsetof(ChannelHeader, req_event),
                          offsetof(ChannelHeader, req_tail),    offsetof(ChannelHeader, cpl_head),
                          offsetof(ChannelHeader, running_seq), offsetof(ChannelHeader, cpl_tail)};
  for (size_t i = 0; i < std::size(lines); ++i) {
    EXPECT_EQ(rt(lines[i] % 64), 0u) << "field " << i;
    for (size_t j = i + 1; j < std::size(lines); ++j) EXPECT_NE(rt(lines[i] / 64), rt(lines[j] / 64));
  }
}

TEST(ChannelLayout, ChannelAndCompletion) {
  EXPECT_EQ(rt(sizeof(Completion)), 64u);
  EXPECT_EQ(rt(offsetof(Completion, part)), 8u);
  EXPECT_EQ(rt(offsetof(Completion, status)), 12u);
  EXPECT_EQ(rt(offsetof(Completion, code)), 14u);
  EXPECT_EQ(rt(offsetof(Completion, detail)), 16u);
  EXPECT_EQ(rt(offsetof(Completion, start_ns)), 24u);
  EXPECT_EQ(rt(offsetof(Completion, end_ns)), 32u);
  EXPECT_EQ(rt(offsetof(Completion, payload_bytes)), 40u);
  EXPECT_EQ(rt(offsetof(Channel, init_message)), 576u);
  EXPECT_EQ(rt(offsetof(Channel, requests)), 576u + 8192u);
  EXPECT_EQ(rt(offsetof(Channel, completions)), 576u + 8192u + 256u * 1024u);
  EXPECT_EQ(rt(offsetof(Channel, payloads) % 4096), 0u);
  EXPECT_EQ(rt(sizeof(Channel) % 4096), 0u);
  EXPECT_EQ(rt(sizeof(ParentWake)), 64u);
}

TEST(ChannelLayout, BoardAndFrame) {
  EXPECT_EQ(rt(sizeof(TaskStatus)), 64u);
  EXPECT_EQ(rt(offsetof(TaskStatus, state)), 8u);
  EXPECT_EQ(rt(offsetof(TaskStatus, event)), 24u);
  EXPECT_EQ(rt(sizeof(BoardHeader)), 64u);
  EXPECT_EQ(rt(sizeof(FrameHeader)), 112u);
  EXPECT_EQ(rt(offsetof(FrameHeader, task_id)), 8u);
  EXPECT_EQ(rt(offsetof(FrameHeader, timeout_ns)), 32u);
  EXPECT_EQ(rt(offsetof(FrameHeader, deps)), 48u);
  EXPECT_EQ(rt(sizeof(WireTensor)), 16u);
  EXPECT_EQ(rt(sizeof(DomainCommitPayload)), 48u + 8u * 64u);
  EXPECT_EQ(board_state_word(5, TaskState::Done), (5u << 3) | 1u);
  EXPECT_EQ(board_state_of(board_state_word(9, TaskState::Soon)), TaskState::Soon);
}

TEST(ChannelLayout, SharedWordsAreLockFree) {
  EXPECT_TRUE(std::atomic<uint64_t>::is_always_lock_free);
  EXPECT_TRUE(std::atomic<uint32_t>::is_always_lock_free);
  EXPECT_TRUE(std::atomic_ref<uint64_t>::is_always_lock_free);
}

// ---- the protocol between two processes ---------------------------------------------------------------

template <class F>
bool wait_for(F&& cond) {
  return test::wait_until(cond, std::chrono::seconds(20));
}

// The child: serves frames in order through ChannelChild until a Shutdown frame. Each task frame is
// answered Ok with detail = the sum of its scalars; a frame whose first scalar is 0 is answered Failed
// with a message of (second scalar) bytes, each 'a' + i % 26.
int echo_child(Channel* ch, ParentWake* parent, int64_t spin_ns) {
  ChannelChild c(ch, parent->event_count());
  c.hold_liveness();
  c.set_state(ChildState::Ready);
  auto frame = std::make_unique<DecodedFrame>();
  for (;;) {
    const unsigned char* bytes = c.next_request(spin_ns, 1'000'000'000);
    if (!bytes) continue;
    std::string error;
    const bool ok = frame_decode(bytes, kRequestSlotBytes, frame.get(), &error);
    c.pop_request();
    if (!ok) return 3;
    if (frame->header.kind == static_cast<uint16_t>(FrameKind::Shutdown)) {
      c.set_state(ChildState::Exiting);
      return 0;
    }
    uint64_t sum = 0;
    for (uint16_t i = 0; i < frame->header.nscalars; ++i) sum += frame->scalars[i];
    if (frame->header.nscalars == 2 && frame->scalars[0] == 0) {
      std::string msg(frame->scalars[1], 'x');
      for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>('a' + i % 26);
      c.complete(frame->header.task_id, 0, Status::Failed, ErrorCode::Exception, 0, 1, 2, msg);
    } else {
      c.complete(frame->header.task_id, 0, Status::Ok, ErrorCode::None, sum, 1, 2, {});
    }
  }
}

class ChannelTwoProcess : public test::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    shm_ = SharedMapping(4096 + sizeof(Channel));
    parent_wake_ = static_cast<ParentWake*>(shm_.data());
    parent_wake_->wake_fd = -1;  // the child notifies by futex here; nobody sleeps on it in these tests
    ch_ = ChannelParent(reinterpret_cast<Channel*>(static_cast<char*>(shm_.data()) + 4096));
    ch_.reset(0, 0, 0);
  }
  void TearDown() override {
    if (child_.pid > 0) test::reap_child(&child_, 0);
    LeakCheckedTest::TearDown();
  }
  void start_child(int64_t spin_ns) {
    Channel* ch = ch_.channel();
    ParentWake* pw = parent_wake_;
    child_ = test::fork_child([ch, pw, spin_ns] { return echo_child(ch, pw, spin_ns); });
    ASSERT_GT(child_.pid, 0);
    ASSERT_TRUE(wait_for([&] { return ch_.state() == ChildState::Ready; }));
  }
  void post_task(uint64_t id, uint64_t a, uint64_t b) {
    unsigned char frame[kRequestSlotBytes];
    TaskFrameInfo info;
    const uint64_t scalars[] = {a, b};
    const size_t len = encode_task(info, {}, {}, scalars, frame);
    ch_.post(frame, len, id, {});
  }
  // Takes the next completion; it must be task `id`.
  ::testing::AssertionResult take(uint64_t id, Status status, uint64_t detail, std::string* payload = nullptr) {
    const Completion* c = nullptr;
    if (!wait_for([&] { return (c = ch_.peek()) != nullptr; }))
      return ::testing::AssertionFailure() << "no completion for " << id;
    if (c->id != id) return ::testing::AssertionFailure() << "completion for " << c->id << ", wanted " << id;
    if (c->status != static_cast<uint8_t>(status)) return ::testing::AssertionFailure() << "status " << int(c->status);
    if (status == Status::Ok && c->detail != detail) return ::testing::AssertionFailure() << "detail " << c->detail;
    if (payload) *payload = std::string(ch_.payload(*c));
    ch_.pop();
    return ::testing::AssertionSuccess();
  }
  void shutdown_and_reap() {
    unsigned char frame[kRequestSlotBytes];
    ch_.post(frame, encode_shutdown(frame), 0, {});
    ch_.flush();
    bool timed_out = false;
    const int status = test::reap_child(&child_, 20'000, &timed_out);
    EXPECT_FALSE(timed_out);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << test::describe_status(status);
  }
  uint32_t req_epoch() const {
    return std::atomic_ref<uint32_t>(ch_.channel()->header.req_event.epoch).load(std::memory_order_acquire);
  }
  uint32_t req_waiters() const {
    return std::atomic_ref<uint32_t>(ch_.channel()->header.req_event.waiters).load(std::memory_order_acquire);
  }

  SharedMapping shm_;
  ParentWake* parent_wake_ = nullptr;
  ChannelParent ch_;
  test::Child child_;
};

TEST_F(ChannelTwoProcess, SleepingChildIsWokenByFlush) {
  start_child(0);  // no spin: the child sleeps at once, only a flush can wake it
  for (uint64_t id = 1; id <= 200; ++id) {
    ASSERT_TRUE(wait_for([&] { return req_waiters() == 1; })) << "the child never slept";
    const uint32_t before = req_epoch();
    post_task(id, id, 2 * id);
    ch_.flush();
    ASSERT_TRUE(take(id, Status::Ok, 3 * id));
    EXPECT_EQ(req_epoch(), before + 1) << "a flush to a sleeper wakes it once";
  }
  shutdown_and_reap();
}

TEST_F(ChannelTwoProcess, BusyChildNeedsNoWakeUp) {
  start_child(60'000'000'000);  // spins for longer than the test: never sleeps
  uint64_t next = 1, done = 1;
  while (done <= 3000) {
    const uint64_t batch = std::min<uint64_t>({3001 - next, kRequestSlots - ch_.in_flight(), 1 + next % 37});
    for (uint64_t i = 0; i < batch; ++i, ++next) post_task(next, next, 1);
    ch_.flush();
    for (uint64_t upto = std::min(next, done + 1 + done % 5); done < upto; ++done)
      ASSERT_TRUE(take(done, Status::Ok, done + 1));
  }
  EXPECT_EQ(req_epoch(), 0u) << "a busy child needs no wake-up";
  shutdown_and_reap();
}

TEST_F(ChannelTwoProcess, MessagesArriveWholeUpToThePayloadBound) {
  start_child(20'000);
  for (uint64_t len :
       {uint64_t{0}, uint64_t{1}, uint64_t{231}, uint64_t{233}, uint64_t{1000}, uint64_t{kPayloadBytes}}) {
    post_task(len + 1, 0, len);
    ch_.flush();
    std::string msg;
    ASSERT_TRUE(take(len + 1, Status::Failed, 0, &msg));
    ASSERT_EQ(msg.size(), len);
    for (size_t i = 0; i < msg.size(); ++i) ASSERT_EQ(msg[i], static_cast<char>('a' + i % 26)) << i;
  }
  // Longer than the bound: cut at it.
  post_task(99999, 0, 3 * kPayloadBytes);
  ch_.flush();
  std::string msg;
  ASSERT_TRUE(take(99999, Status::Failed, 0, &msg));
  EXPECT_EQ(msg.size(), kPayloadBytes);
  shutdown_and_reap();
}

TEST_F(ChannelTwoProcess, LivenessWordTellsOfADeathWithoutASystemCall) {
  start_child(20'000);
  EXPECT_FALSE(ch_.liveness_lost());
  kill(child_.pid, SIGKILL);
  EXPECT_TRUE(wait_for([&] { return ch_.liveness_lost(); })) << "the kernel never marked the liveness word";
  test::reap_child(&child_, 20'000);
}

TEST(ChannelRunning, TheWatchdogNeverReadsATornPair) {
  // A child publishes (task, start, deadline) with deadline = start + task as fast as it can; the parent
  // reads under the seqlock and must always see that relation.
  SharedMapping shm(4096 + sizeof(Channel));
  auto* pw = static_cast<ParentWake*>(shm.data());
  pw->wake_fd = -1;
  ChannelParent parent(reinterpret_cast<Channel*>(static_cast<char*>(shm.data()) + 4096));
  parent.reset(0, 0, 0);
  Channel* ch = parent.channel();
  auto* stop = reinterpret_cast<std::atomic<uint32_t>*>(static_cast<char*>(shm.data()) + 2048);
  test::Child child = test::fork_child([ch, pw, stop] {
    ChannelChild c(ch, pw->event_count());
    for (uint64_t t = 1; stop->load(std::memory_order_relaxed) == 0; ++t) {
      c.set_running(t, static_cast<int64_t>(t * 3), static_cast<int64_t>(t * 4));
      if (t % 3 == 0) c.clear_running();
    }
    return 0;
  });
  ASSERT_GT(child.pid, 0);
  uint64_t seen = 0;
  ASSERT_TRUE(test::wait_until([&] { return parent.running().task != 0; }, std::chrono::seconds(20)));
  const auto t0 = test::Clock::now();
  for (int i = 0; (i < 200000 || seen < 1000) && test::ms_since(t0) < 20000; ++i) {
    const RunningTask r = parent.running();
    if (r.task == 0) {
      ASSERT_EQ(r.start_ns, 0);
      ASSERT_EQ(r.deadline_ns, 0);
      continue;
    }
    ASSERT_EQ(r.start_ns, static_cast<int64_t>(r.task * 3));
    ASSERT_EQ(r.deadline_ns, static_cast<int64_t>(r.task * 4));
    seen = std::max(seen, r.task);
  }
  stop->store(1);
  EXPECT_EQ(test::reap_child(&child, 20'000), 0);
  EXPECT_GT(seen, 0u);
}

}  // namespace
}  // namespace strata::ipc
