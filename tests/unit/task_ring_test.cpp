// Unit tests of graph::TaskRing: ids in submission order from 1, slot = id % capacity, out-of-order
// finish but in-order retirement, back-pressure when full.
#include "graph/task_ring.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <set>
#include <vector>

#include "strata/errors.hpp"

namespace strata::graph {
namespace {

std::vector<uint64_t> retire_all(TaskRing& ring) {
  std::vector<uint64_t> ids;
  ring.retire([&](uint64_t id) { ids.push_back(id); });
  return ids;
}

TEST(TaskRing, ZeroCapacityIsAUsageError) {
  EXPECT_THROW(
      {
        TaskRing ring(0);
        (void)ring;
      },
      UsageError);
}

TEST(TaskRing, StartsEmptyAtIdOne) {
  TaskRing ring(4);
  EXPECT_EQ(ring.capacity(), 4u);
  EXPECT_TRUE(ring.empty());
  EXPECT_FALSE(ring.full());
  EXPECT_EQ(ring.in_flight(), 0u);
  EXPECT_EQ(ring.next(), 1u);
  EXPECT_EQ(ring.tail(), ring.next());
  EXPECT_FALSE(ring.live(0));
  EXPECT_FALSE(ring.live(1));
  EXPECT_EQ(ring.retire([](uint64_t) { FAIL() << "nothing to retire"; }), 0u);
}

TEST(TaskRing, IdsAreConsecutiveInSubmissionOrder) {
  TaskRing ring(8);
  for (uint64_t want = 1; want <= 8; ++want) {
    EXPECT_EQ(ring.next(), want);
    EXPECT_EQ(ring.acquire(), want);
    EXPECT_TRUE(ring.live(want));
    EXPECT_EQ(ring.in_flight(), want);
    EXPECT_EQ(ring.tail(), 1u);
  }
  EXPECT_FALSE(ring.live(9));
}

TEST(TaskRing, SlotIsIdModuloCapacity) {
  TaskRing ring(5);
  for (uint64_t id = 0; id < 50; ++id) EXPECT_EQ(ring.slot(id), id % 5);
  EXPECT_EQ(ring.slot(UINT64_MAX), UINT64_MAX % 5);
}

TEST(TaskRing, FullAtCapacityAndFreedOnlyByRetiring) {
  TaskRing ring(3);
  const uint64_t a = ring.acquire();
  const uint64_t b = ring.acquire();
  const uint64_t c = ring.acquire();
  EXPECT_TRUE(ring.full());
  EXPECT_EQ(ring.in_flight(), 3u);
  // Finishing does not free a slot: only retirement does.
  ring.mark_finished(c);
  ring.mark_finished(b);
  EXPECT_TRUE(ring.full());
  EXPECT_TRUE(retire_all(ring).empty()) << "task " << a << " is still running, nothing may retire";
  EXPECT_TRUE(ring.full());
  ring.mark_finished(a);
  EXPECT_EQ(retire_all(ring), (std::vector<uint64_t>{a, b, c}));
  EXPECT_TRUE(ring.empty());
  EXPECT_FALSE(ring.full());
  EXPECT_EQ(ring.tail(), 4u);
  EXPECT_EQ(ring.next(), 4u);
}

TEST(TaskRing, RetiresInIdOrderAfterOutOfOrderFinish) {
  TaskRing ring(8);
  for (int i = 0; i < 6; ++i) ring.acquire();  // ids 1..6
  ring.mark_finished(4);
  ring.mark_finished(2);
  EXPECT_TRUE(retire_all(ring).empty());
  ring.mark_finished(1);
  EXPECT_EQ(retire_all(ring), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(ring.tail(), 3u);
  ring.mark_finished(3);
  ring.mark_finished(6);
  EXPECT_EQ(retire_all(ring), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(ring.tail(), 5u);
  EXPECT_TRUE(ring.live(5));
  EXPECT_TRUE(ring.live(6));
  ring.mark_finished(5);
  EXPECT_EQ(retire_all(ring), (std::vector<uint64_t>{5, 6}));
  EXPECT_TRUE(ring.empty());
}

TEST(TaskRing, RetireReturnsCount) {
  TaskRing ring(4);
  for (int i = 0; i < 4; ++i) ring.mark_finished(ring.acquire());
  uint64_t calls = 0;
  EXPECT_EQ(ring.retire([&](uint64_t) { ++calls; }), 4u);
  EXPECT_EQ(calls, 4u);
}

TEST(TaskRing, FinishedAndLive) {
  TaskRing ring(4);
  const uint64_t a = ring.acquire();
  const uint64_t b = ring.acquire();
  EXPECT_FALSE(ring.finished(a));
  EXPECT_FALSE(ring.finished(b));
  ring.mark_finished(b);
  EXPECT_TRUE(ring.finished(b));
  EXPECT_FALSE(ring.finished(a));
  ring.mark_finished(a);
  retire_all(ring);
  // Retired tasks count as finished and are no longer live.
  EXPECT_TRUE(ring.finished(a));
  EXPECT_TRUE(ring.finished(b));
  EXPECT_FALSE(ring.live(a));
  EXPECT_FALSE(ring.live(b));
  // Not yet acquired: neither live nor finished.
  EXPECT_FALSE(ring.live(ring.next()));
  EXPECT_FALSE(ring.finished(ring.next()));
}

TEST(TaskRing, ReusedSlotStartsUnfinished) {
  // A slot's finished mark must not leak to the task that reuses the slot.
  TaskRing ring(2);
  const uint64_t a = ring.acquire();  // slot 1
  const uint64_t b = ring.acquire();  // slot 0
  ring.mark_finished(a);
  ring.mark_finished(b);
  EXPECT_EQ(retire_all(ring).size(), 2u);
  const uint64_t c = ring.acquire();  // reuses a's slot
  EXPECT_EQ(ring.slot(c), ring.slot(a));
  EXPECT_FALSE(ring.finished(c));
  EXPECT_TRUE(retire_all(ring).empty());
}

TEST(TaskRing, CapacityOne) {
  TaskRing ring(1);
  for (uint64_t want = 1; want <= 10; ++want) {
    ASSERT_FALSE(ring.full());
    const uint64_t id = ring.acquire();
    EXPECT_EQ(id, want);
    EXPECT_TRUE(ring.full());
    EXPECT_EQ(ring.slot(id), 0u);
    ring.mark_finished(id);
    EXPECT_EQ(retire_all(ring), (std::vector<uint64_t>{id}));
  }
}

TEST(TaskRing, ManyWrapsAgainstAModel) {
  // Random acquire / finish / retire against a simple model: live ids are a contiguous range, they
  // retire in order once finished, and no two live ids share a slot.
  constexpr uint32_t kCap = 7;
  TaskRing ring(kCap);
  std::mt19937 rng(12345);
  std::deque<uint64_t> live;  // model: acquired, not retired
  std::set<uint64_t> done;    // model: finished, not retired
  uint64_t next = 1;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 3);
    if (op == 0 && !ring.full()) {
      ASSERT_EQ(ring.acquire(), next);
      live.push_back(next++);
    } else if (op == 1 && !live.empty()) {
      const uint64_t id = live[rng() % live.size()];
      if (!done.count(id)) {
        ring.mark_finished(id);
        done.insert(id);
      }
    } else {
      std::vector<uint64_t> want;
      while (!live.empty() && done.count(live.front())) {
        want.push_back(live.front());
        done.erase(live.front());
        live.pop_front();
      }
      ASSERT_EQ(retire_all(ring), want);
    }
    ASSERT_EQ(ring.in_flight(), live.size());
    ASSERT_EQ(ring.full(), live.size() == kCap);
    ASSERT_EQ(ring.empty(), live.empty());
    ASSERT_EQ(ring.next(), next);
    ASSERT_EQ(ring.tail(), live.empty() ? next : live.front());
    std::set<uint32_t> slots;
    for (uint64_t id : live) {
      ASSERT_TRUE(ring.live(id));
      ASSERT_EQ(ring.finished(id), done.count(id) == 1);
      ASSERT_TRUE(slots.insert(ring.slot(id)).second) << "two live tasks share slot " << ring.slot(id);
    }
  }
  EXPECT_GT(next, 1000u) << "the model run should wrap the ring many times";
}

}  // namespace
}  // namespace strata::graph
