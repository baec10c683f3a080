// Unit tests of the wait primitive (ipc/event_count.hpp): the Dekker pair never loses a wake-up, a
// notify with nobody announced makes no wake, a notify consumes the waiters it wakes (a second notify
// finds nobody), cancel after a notify does not take another waiter's count, eventfd sleepers are woken
// through their fd, and wait_on honours its deadline, give-up check and spin policy.
#include "ipc/event_count.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "support/wait.hpp"
#include "util/sys.hpp"

namespace strata::ipc {
namespace {

uint32_t waiters(const EventWord& w) {
  return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(w.waiters)).load(std::memory_order_acquire);
}
uint32_t epoch(const EventWord& w) {
  return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(w.epoch)).load(std::memory_order_acquire);
}

TEST(EventCount, NotifyWithoutWaitersChangesNothing) {
  EventWord w{};
  EventCount ec(&w);
  ec.notify();
  EXPECT_EQ(epoch(w), 0u);
  EXPECT_EQ(waiters(w), 0u);
}

TEST(EventCount, PrepareThenCancelLeavesNoWaiter) {
  EventWord w{};
  EventCount ec(&w);
  const uint32_t key = ec.prepare_wait();
  EXPECT_EQ(waiters(w), 1u);
  ec.cancel_wait(key);
  EXPECT_EQ(waiters(w), 0u);
}

TEST(EventCount, NotifyConsumesTheWaitersItWakes) {
  EventWord w{};
  EventCount ec(&w);
  const uint32_t a = ec.prepare_wait();
  const uint32_t b = ec.prepare_wait();
  EXPECT_EQ(waiters(w), 2u);
  ec.notify();
  EXPECT_EQ(waiters(w), 0u) << "both were woken";
  EXPECT_EQ(epoch(w), 1u);
  ec.notify();  // nobody left: no epoch change, no system call
  EXPECT_EQ(epoch(w), 1u);
  // Their cancels (after the wake-up) must not take anything from a waiter announced since.
  const uint32_t c = ec.prepare_wait();
  ec.cancel_wait(a);
  ec.cancel_wait(b);
  EXPECT_EQ(waiters(w), 1u);
  ec.cancel_wait(c);
  EXPECT_EQ(waiters(w), 0u);
}

TEST(EventCount, CommitReturnsAtOnceWhenNotifiedAfterPrepare) {
  EventWord w{};
  EventCount ec(&w);
  const uint32_t key = ec.prepare_wait();
  ec.notify();
  const auto t0 = test::Clock::now();
  ec.commit_wait(key, 10'000'000'000);  // would sleep 10 s if the notify were lost
  EXPECT_LT(test::ms_since(t0), 5000.0);
}

TEST(EventCount, ThreadPingPongNeverLosesAWakeUp) {
  // Two threads take turns on a shared counter, each sleeping (no spin) until it is its turn.
  EventWord w{};
  EventCount ec(&w);
  std::atomic<uint64_t> turn{0};
  constexpr uint64_t kRounds = 20000;
  auto player = [&](uint64_t me) {
    for (uint64_t r = me; r < kRounds; r += 2) {
      ASSERT_TRUE(wait_on(
          ec, [&] { return turn.load() == r; }, [] { return false; }, 0, -1, 1'000'000'000));
      turn.store(r + 1);
      ec.notify();
    }
  };
  std::thread a(player, 0), b(player, 1);
  a.join();
  b.join();
  EXPECT_EQ(turn.load(), kRounds);
  EXPECT_EQ(waiters(w), 0u);
}

TEST(EventCount, ManyWaitersAllWoken) {
  EventWord w{};
  EventCount ec(&w);
  std::atomic<bool> go{false};
  std::atomic<int> woken{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 16; ++i)
    ts.emplace_back([&] {
      wait_on(
          ec, [&] { return go.load(); }, [] { return false; }, 0, -1, -1);
      woken.fetch_add(1);
    });
  ASSERT_TRUE(test::wait_until([&] { return waiters(w) == 16; }, std::chrono::seconds(20)));
  go.store(true);
  ec.notify();
  for (auto& t : ts) t.join();
  EXPECT_EQ(woken.load(), 16);
}

TEST(EventCount, EventfdSleeperIsWokenThroughItsFd) {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  EventWord w{};
  EventCount ec(&w, fd);
  std::atomic<bool> ready{false};
  std::thread t([&] {
    test::wait_until([&] { return waiters(w) == 1; }, std::chrono::seconds(20));
    ready.store(true);
    ec.notify();
  });
  const uint32_t key = ec.prepare_wait();
  const auto t0 = test::Clock::now();
  if (!ready.load())
    ec.commit_wait_fds(key, {}, 10'000'000'000);
  else
    ec.cancel_wait(key);
  EXPECT_TRUE(ready.load());
  EXPECT_LT(test::ms_since(t0), 5000.0);
  t.join();
  uint64_t v;
  EXPECT_LT(read(fd, &v, sizeof v), 0) << "the eventfd was drained";
  close(fd);
}

TEST(EventCount, WaitOnHonoursDeadlineAndGiveUp) {
  EventWord w{};
  EventCount ec(&w);
  const auto t0 = test::Clock::now();
  EXPECT_FALSE(wait_on(
      ec, [] { return false; }, [] { return false; }, 0, sys::now_ns() + 30'000'000, -1));
  EXPECT_GE(test::ms_since(t0), 29.0);
  int calls = 0;
  EXPECT_FALSE(wait_on(
      ec, [] { return false; }, [&] { return ++calls == 3; }, 0, -1, 1'000'000));
  EXPECT_EQ(calls, 3) << "give_up is asked after every slice";
}

TEST(EventCount, ColdWaiterStopsSpinningEarly) {
  // Not hot: the waiter spins only for cold_ns, then sleeps (here, until the deadline).
  EventWord w{};
  EventCount ec(&w);
  int hot_calls = 0;
  wait_on(
      ec, [] { return false; }, [] { return false; }, [&] { return ++hot_calls, false; }, SpinPolicy{1'000'000'000, 0},
      sys::now_ns() + 20'000'000, -1);
  EXPECT_LT(hot_calls, 5) << "a cold waiter must not spin for its whole budget";
}

}  // namespace
}  // namespace strata::ipc
