// Unit tests of the kernel-side toolkit (strata/comm_kernel.hpp) with threads as ranks: context checks,
// address translation, signals with release/acquire ordering, the futex sleep path, wait timeouts and
// their messages, and the barrier reused thousands of times, by several blocks, sequential or concurrent.
#include "strata/comm_kernel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "comm_test_helpers.hpp"

namespace strata {
namespace {

using namespace std::chrono_literals;
using test::FakeDomain;
using test::joined;
using test::run_ranks;

// Upper bound for waits that must succeed; tests never rely on it expiring.
constexpr auto kLong = std::chrono::seconds(30);

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(CommKernel, SignalAreaFollowsEachWindow) {
  FakeDomain d(3, 8192);
  CommView v = d.view(1);
  EXPECT_EQ(v.rank(), 1u);
  EXPECT_EQ(v.size(), 3u);
  EXPECT_EQ(v.window_size(), 8192u);
  for (uint32_t r = 0; r < 3; ++r) {
    EXPECT_EQ(v.window(r), d.at<void>(r));
    for (uint32_t s : {0u, 17u, 63u})
      EXPECT_EQ(reinterpret_cast<unsigned char*>(v.slot(r, s)), d.at<unsigned char>(r, 8192 + 64 * s));
  }
  EXPECT_EQ(reinterpret_cast<uint64_t>(v.slot(1, 0)), d.context(1)->workspace);
  EXPECT_EQ(kCommUserSlotBase + kCommUserSlotCount, static_cast<uint32_t>(STRATA_COMM_SIGNAL_SLOTS));
}

TEST(CommKernel, ContextIsChecked) {
  FakeDomain d(2, 4096);
  strata_comm_context c = *d.context(0);
  EXPECT_NE(message_of([] { CommView v(static_cast<const strata_comm_context*>(nullptr)); }).find("null"),
            std::string::npos);
  c.size = 0;
  EXPECT_NE(message_of([&] { CommView v(&c); }).find("size 0 is not in 1..64"), std::string::npos);
  c.size = 65;
  EXPECT_NE(message_of([&] { CommView v(&c); }).find("size 65"), std::string::npos);
  c.size = 2;
  c.rank = 2;
  EXPECT_NE(message_of([&] { CommView v(&c); }).find("rank 2 is not below its size 2"), std::string::npos);
  c.rank = 0;
  c.windows[1] = 0;
  EXPECT_NE(message_of([&] { CommView v(&c); }).find("no window for rank 1"), std::string::npos);
  c.windows[1] = d.context(0)->windows[1];
  c.window_size = 4000;
  EXPECT_NE(message_of([&] { CommView v(&c); }).find("not 64-byte aligned"), std::string::npos);
  EXPECT_THROW(CommView v(&c), std::invalid_argument);
}

TEST(CommKernel, PeerTranslatesOffsetsWithinTheWindow) {
  FakeDomain d(4, 4096);
  CommView v = d.view(2);
  float* mine = d.at<float>(2, 256);
  for (uint32_t r = 0; r < 4; ++r) EXPECT_EQ(v.peer(mine, r), d.at<float>(r, 256));
  const float* cmine = mine;
  EXPECT_EQ(v.peer(cmine, 0), d.at<const float>(0, 256));
  EXPECT_TRUE(v.in_window(mine, 4096 - 256));
  EXPECT_FALSE(v.in_window(mine, 4096 - 255));
  EXPECT_FALSE(v.in_window(d.at<float>(1, 0), 4));
  EXPECT_NE(message_of([&] { v.peer(d.at<float>(1, 0), 0); }).find("is not in rank 2 of 4's window"),
            std::string::npos);
  EXPECT_NE(message_of([&] { v.peer(d.at<float>(2, 4096), 0); }).find("not in"), std::string::npos);
  EXPECT_NE(message_of([&] { v.peer(mine, 4); }).find("rank 4 is not in the domain (size 4)"), std::string::npos);
  EXPECT_NE(message_of([&] { v.slot(0, 64); }).find("signal slot 64 is out of range"), std::string::npos);
  EXPECT_THROW(v.window(7), std::invalid_argument);
}

TEST(CommKernel, FromTaskReadsTheScalar) {
  FakeDomain d(2, 4096);
  const std::vector<uint64_t> scalars{d.device_ctx(1)};
  const TaskContext ctx({}, {}, scalars, 1, 0, 1, 0, 0, 1);
  EXPECT_EQ(CommView::from_task(ctx).rank(), 1u);
  EXPECT_NE(message_of([&] { CommView::from_task(ctx, 1); }).find("scalar 1 should be the domain's device_ctx"),
            std::string::npos);
}

TEST(CommKernel, SignalAddReturnsThePreviousValueAndCountsEveryAdd) {
  constexpr uint32_t kRanks = 8, kAdds = 2000;
  FakeDomain d(kRanks, 4096);
  const uint32_t s = kCommUserSlotBase + 3;
  EXPECT_EQ(d.view(0).signal_add(0, s, 5), 0u);
  EXPECT_EQ(d.view(1).signal_add(0, s, 1), 5u);
  d.view(2).signal_set(0, s, 0);
  auto failures = run_ranks(kRanks, 1, 1, [&](uint32_t r, uint32_t) {
    CommView v = d.view(r);
    for (uint32_t i = 0; i < kAdds; ++i) v.signal_add(0, s, 1);
  });
  ASSERT_TRUE(failures.empty()) << joined(failures);
  EXPECT_EQ(d.view(0).signal_read(0, s), uint64_t{kRanks} * kAdds);
}

// A payload stored with plain writes into the peer's window before signal_set is visible after the
// peer's wait_ge (release/acquire; TSan checks the ordering).
TEST(CommKernel, PingPongCarriesPayloadsInOrder) {
  constexpr uint64_t kRounds = 5000;
  FakeDomain d(2, 4096);
  const uint32_t s = kCommUserSlotBase;
  auto failures = run_ranks(2, 1, 1, [&](uint32_t r, uint32_t) {
    CommView v = d.view(r);
    uint64_t* inbox = d.at<uint64_t>(r, 64);
    uint64_t* peer_inbox = v.peer(inbox, 1 - r);
    for (uint64_t i = 1; i <= kRounds; ++i) {
      if (r == 0) {
        peer_inbox[0] = i * 3;
        peer_inbox[1] = i * 7;
        v.signal_set(1, s, i);
        v.wait_ge(s, i, kLong);
        if (inbox[0] != i * 11) throw std::runtime_error("rank 0 saw a stale reply in round " + std::to_string(i));
      } else {
        v.wait_ge(s, i, kLong);
        if (inbox[0] != i * 3 || inbox[1] != i * 7)
          throw std::runtime_error("rank 1 saw a stale payload in round " + std::to_string(i));
        peer_inbox[0] = i * 11;
        v.signal_set(0, s, i);
      }
    }
  });
  EXPECT_TRUE(failures.empty()) << joined(failures);
}

// The sleep phase: the waiter is seen asleep on the futex (its sleeper count is up) before the signal,
// so the signal must take the wake-up path.
TEST(CommKernel, SignalWakesASleepingWaiter) {
  FakeDomain d(2, 4096);
  const uint32_t s = kCommUserSlotBase + 1;
  for (int round = 1; round <= 20; ++round) {
    std::atomic<bool> done{false};
    std::thread waiter([&] {
      d.view(1).wait_ge(s, static_cast<uint64_t>(round), kLong);
      done.store(true);
    });
    CommSignalSlot* slot = d.view(0).slot(1, s);
    while (std::atomic_ref<uint32_t>(slot->sleepers).load() == 0) std::this_thread::yield();
    EXPECT_FALSE(done.load());
    d.view(0).signal_add(1, s, 1);
    waiter.join();
    EXPECT_TRUE(done.load());
  }
  EXPECT_EQ(std::atomic_ref<uint32_t>(d.view(0).slot(1, s)->sleepers).load(), 0u);
}

TEST(CommKernel, WaitTimesOutWithAClearMessage) {
  FakeDomain d(2, 4096);
  CommView v = d.view(1);
  v.signal_set(1, 33, 4);
  EXPECT_EQ(v.wait_ge(33, 4, 10ms), 4u);  // already there: returns at once
  const auto t0 = std::chrono::steady_clock::now();
  const std::string msg = message_of([&] { v.wait_ge(33, 5, 20ms); });
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  EXPECT_EQ(msg, "strata comm: rank 1 of 2 timed out after 20 ms waiting for signal slot 33 >= 5 (last seen 4)");
  EXPECT_THROW(v.wait_ge(33, 5, 1ms), std::runtime_error);
  EXPECT_THROW(v.wait_ge(33, 5, 0ms), std::runtime_error);
}

TEST(CommKernel, BarrierTimeoutNamesTheRoundAndWhoArrived) {
  {
    FakeDomain d(3, 4096);
    const std::string msg = message_of([&] { d.view(0).barrier(2, 20ms); });
    EXPECT_NE(msg.find("barrier timed out on rank 0 of 3 (block 2, round 1) after 20 ms: 1 of 3 ranks arrived"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("signal slot 2 = 1, expected >= 3"), std::string::npos) << msg;
  }
  {
    FakeDomain d(3, 4096);
    const std::string msg = message_of([&] { d.view(2).barrier(0, 5ms); });
    EXPECT_NE(msg.find("barrier timed out on rank 2 of 3 (block 0, round 1) after 5 ms: rank 0 has not released"),
              std::string::npos)
        << msg;
  }
  FakeDomain d(2, 4096);
  EXPECT_NE(message_of([&] { d.view(0).barrier(kCommMaxBarrierBlocks); }).find("barrier block 16 is out of range"),
            std::string::npos);
}

TEST(CommKernel, BarrierOfOneRankReturnsAtOnce) {
  FakeDomain d(1, 4096);
  for (int i = 0; i < 1000; ++i) d.view(0).barrier(0, 1ms);
}

// Every round each rank publishes the round number, meets the others, checks everybody's, meets again
// (so nobody overwrites before all have read). A barrier that let a rank through early fails the check.
void barrier_rounds(uint32_t ranks, uint32_t blocks, uint32_t pool, uint32_t rounds) {
  FakeDomain d(ranks, 4096);
  auto failures = run_ranks(ranks, blocks, pool, [&](uint32_t r, uint32_t b) {
    CommView v = d.view(r);
    uint64_t* mine = d.at<uint64_t>(r, 64 * b);
    for (uint64_t round = 1; round <= rounds; ++round) {
      *mine = round;
      v.barrier(b, kLong);
      for (uint32_t q = 0; q < ranks; ++q)
        if (*v.peer(mine, q) != round)
          throw std::runtime_error("round " + std::to_string(round) + ": rank " + std::to_string(q) + " shows " +
                                   std::to_string(*v.peer(mine, q)));
      v.barrier(b, kLong);
    }
  });
  EXPECT_TRUE(failures.empty()) << joined(failures);
  // Monotonic epochs: rank 0's arrival counter is rounds * 2 * ranks, the others hold the last round.
  for (uint32_t b = 0; b < blocks && ranks > 1; ++b) {
    EXPECT_EQ(d.view(0).signal_read(0, kCommBarrierSlotBase + b), uint64_t{2} * rounds * ranks);
    EXPECT_EQ(d.view(0).signal_read(ranks - 1, kCommBarrierSlotBase + b), uint64_t{2} * rounds);
  }
}

TEST(CommKernel, BarrierReusedThousandsOfTimesTwoRanks) { barrier_rounds(2, 1, 1, 5000); }
TEST(CommKernel, BarrierReusedThousandsOfTimesThreeRanks) { barrier_rounds(3, 1, 1, 2000); }
TEST(CommKernel, BarrierReusedThousandsOfTimesSevenRanks) { barrier_rounds(7, 1, 1, 1000); }
TEST(CommKernel, BarrierSixteenRanks) { barrier_rounds(16, 1, 1, 1000); }
TEST(CommKernel, BarrierSixtyFourRanks) { barrier_rounds(64, 1, 1, 200); }
TEST(CommKernel, BarrierPerBlockConcurrentBlocks) { barrier_rounds(3, 4, 4, 500); }
// Blocks run one after the other on each rank (a pool of one thread): block b only meets block b.
TEST(CommKernel, BarrierPerBlockSequentialBlocks) { barrier_rounds(3, 4, 1, 500); }
TEST(CommKernel, BarrierPerBlockPoolSmallerThanBlocks) { barrier_rounds(4, 5, 2, 300); }
TEST(CommKernel, BarrierEveryBlockIndex) { barrier_rounds(2, kCommMaxBarrierBlocks, kCommMaxBarrierBlocks, 50); }

}  // namespace
}  // namespace strata
