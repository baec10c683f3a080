// Unit tests of memory::HeapRing, the run heap with nested lifetime scopes: alignment, nested scopes,
// FIFO reclaim, wrap-around, back-pressure when full, could_fit.
#include "memory/heap_ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace strata::memory {
namespace {

constexpr size_t kA = HeapRing::kAlign;

struct alignas(HeapRing::kAlign) Arena {
  unsigned char bytes[64 * 1024];
};

class HeapRingTest : public ::testing::Test {
 protected:
  Arena arena_{};
  unsigned char* base() { return arena_.bytes; }
  size_t offset_of(void* p) { return static_cast<size_t>(static_cast<unsigned char*>(p) - base()); }
};

TEST_F(HeapRingTest, CapacityIsRoundedDownToTheAlignment) {
  EXPECT_EQ(HeapRing(base(), 1000).capacity(), 960u);
  EXPECT_EQ(HeapRing(base(), 1024).capacity(), 1024u);
  EXPECT_EQ(HeapRing(base(), 63).capacity(), 0u);
}

TEST_F(HeapRingTest, AllocationsAreAlignedDisjointAndInside) {
  HeapRing heap(base(), 4096);
  std::vector<std::pair<size_t, size_t>> blocks;  // offset, bytes
  const size_t sizes[] = {1, 64, 65, 100, 128, 200, 0, 7};
  for (size_t n : sizes) {
    void* p = heap.try_alloc(n, 0);
    ASSERT_NE(p, nullptr) << n;
    const size_t off = offset_of(p);
    EXPECT_EQ(off % kA, 0u) << n;
    EXPECT_LE(off + n, heap.capacity()) << n;
    for (auto [o, b] : blocks) EXPECT_TRUE(off >= o + std::max<size_t>(b, 1) || off + std::max<size_t>(n, 1) <= o);
    blocks.emplace_back(off, n);
    std::memset(p, 0xab, n);  // the block is writable
  }
  EXPECT_EQ(heap.live_allocations(), std::size(sizes));
}

TEST_F(HeapRingTest, ZeroByteAllocationsAreDistinct) {
  HeapRing heap(base(), 1024);
  void* a = heap.try_alloc(0, 0);
  void* b = heap.try_alloc(0, 0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
}

TEST_F(HeapRingTest, CouldFit) {
  HeapRing heap(base(), 1024);
  EXPECT_TRUE(heap.could_fit(0));
  EXPECT_TRUE(heap.could_fit(1));
  EXPECT_TRUE(heap.could_fit(1024));
  EXPECT_FALSE(heap.could_fit(1025));
  EXPECT_FALSE(heap.could_fit(SIZE_MAX / 2));
  // Larger than the heap: never fits, not even when empty.
  EXPECT_EQ(heap.try_alloc(1025, 0), nullptr);
  EXPECT_EQ(heap.live_allocations(), 0u);
  // Exactly the heap: fits when empty.
  EXPECT_EQ(heap.try_alloc(1024, 0), base());
  // could_fit says "ever", not "now".
  EXPECT_TRUE(heap.could_fit(64));
  EXPECT_EQ(heap.try_alloc(64, 0), nullptr);
}

TEST_F(HeapRingTest, OpenScopeIsNeverReclaimed) {
  HeapRing heap(base(), 1024);
  ASSERT_NE(heap.try_alloc(100, 0), nullptr);
  ASSERT_NE(heap.try_alloc(100, 1), nullptr);
  EXPECT_EQ(heap.reclaim(UINT64_MAX), 0u);
  EXPECT_EQ(heap.live_allocations(), 2u);
}

TEST_F(HeapRingTest, ClosedScopeIsReclaimedOnceItsStampRetires) {
  HeapRing heap(base(), 1024);
  ASSERT_NE(heap.try_alloc(100, 1), nullptr);
  heap.close_scope(1, 10);
  // Task 10 has not retired while retired_before <= 10.
  EXPECT_EQ(heap.reclaim(1), 0u);
  EXPECT_EQ(heap.reclaim(10), 0u);
  EXPECT_EQ(heap.live_allocations(), 1u);
  EXPECT_EQ(heap.reclaim(11), 128u);
  EXPECT_EQ(heap.live_allocations(), 0u);
  EXPECT_EQ(heap.used(), 0u);
}

TEST_F(HeapRingTest, ScopeClosedBeforeAnyTaskIsReclaimable) {
  // Stamp 0: no task was submitted, so nothing holds the memory.
  HeapRing heap(base(), 1024);
  ASSERT_NE(heap.try_alloc(64, 1), nullptr);
  heap.close_scope(1, 0);
  EXPECT_EQ(heap.reclaim(1), 64u);
}

TEST_F(HeapRingTest, NestedScopesCloseInnerFirstAndReclaimFifo) {
  HeapRing heap(base(), 4096);
  ASSERT_NE(heap.try_alloc(64, 1), nullptr);   // B: outer scope
  ASSERT_NE(heap.try_alloc(64, 2), nullptr);   // C: inner scope
  ASSERT_NE(heap.try_alloc(128, 2), nullptr);  // D: inner scope
  heap.close_scope(2, 3);
  // C and D are reclaimable once task 3 retires, but B (still open) is in front of them.
  EXPECT_EQ(heap.reclaim(100), 0u);
  EXPECT_EQ(heap.live_allocations(), 3u);
  heap.close_scope(1, 5);
  EXPECT_EQ(heap.reclaim(5), 0u);
  EXPECT_EQ(heap.reclaim(6), 256u);
  EXPECT_EQ(heap.live_allocations(), 0u);
}

TEST_F(HeapRingTest, ClosingAnInnerScopeLeavesOuterAllocationsOpen) {
  HeapRing heap(base(), 4096);
  ASSERT_NE(heap.try_alloc(64, 1), nullptr);  // X: inner scope (depth 1), made first
  heap.close_scope(1, 2);
  ASSERT_NE(heap.try_alloc(64, 0), nullptr);  // Y: the run itself (depth 0)
  ASSERT_NE(heap.try_alloc(64, 1), nullptr);  // Z: a second scope at depth 1
  heap.close_scope(1, 4);
  EXPECT_EQ(heap.reclaim(3), 64u);  // X only
  EXPECT_EQ(heap.live_allocations(), 2u);
  // Y is open for the rest of the run and holds Z back.
  EXPECT_EQ(heap.reclaim(UINT64_MAX), 0u);
  EXPECT_EQ(heap.live_allocations(), 2u);
}

TEST_F(HeapRingTest, ClosingAnOuterScopeKeepsTheInnerStamp) {
  // An inner scope closed earlier keeps its own (earlier) stamp when the outer scope closes later.
  HeapRing heap(base(), 4096);
  ASSERT_NE(heap.try_alloc(64, 2), nullptr);
  heap.close_scope(2, 2);
  ASSERT_NE(heap.try_alloc(64, 1), nullptr);
  heap.close_scope(1, 9);
  EXPECT_EQ(heap.reclaim(3), 64u);
  EXPECT_EQ(heap.live_allocations(), 1u);
  EXPECT_EQ(heap.reclaim(10), 64u);
}

TEST_F(HeapRingTest, BackPressureWhenFullThenSpaceAfterReclaim) {
  HeapRing heap(base(), 1024);
  for (int i = 0; i < 4; ++i) {
    ASSERT_NE(heap.try_alloc(256, 1), nullptr);
    heap.close_scope(1, static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(heap.used(), 1024u);
  EXPECT_EQ(heap.try_alloc(1, 1), nullptr);
  EXPECT_EQ(heap.live_allocations(), 4u);  // a failed try_alloc changes nothing
  EXPECT_EQ(heap.used(), 1024u);
  EXPECT_EQ(heap.reclaim(2), 256u);  // task 1 retired: the first block goes
  // The freed space is at the front of the region: the ring wraps to it.
  void* p = heap.try_alloc(256, 1);
  EXPECT_EQ(p, base());
  EXPECT_EQ(heap.try_alloc(1, 1), nullptr);
  heap.close_scope(1, 5);
  EXPECT_EQ(heap.reclaim(5), 768u);
  EXPECT_EQ(heap.live_allocations(), 1u);
  EXPECT_EQ(heap.used(), 256u);
  EXPECT_EQ(heap.reclaim(6), 256u);
  EXPECT_EQ(heap.used(), 0u);
}

// Regression: the end skipped at a wrap was charged to the block after the wrap, so once the block
// before it was reclaimed used() overstated the span (up to more than the capacity).
TEST_F(HeapRingTest, WrapSkipsTheTailThatIsTooSmall) {
  HeapRing heap(base(), 1024);
  void* a = heap.try_alloc(384, 1);  // [0, 384)
  heap.close_scope(1, 1);
  void* b = heap.try_alloc(384, 1);  // [384, 768)
  heap.close_scope(1, 2);
  ASSERT_EQ(a, base());
  ASSERT_EQ(offset_of(b), 384u);
  EXPECT_EQ(heap.reclaim(2), 384u);  // A goes; free: [768, 1024) and [0, 384)
  // 320 bytes do not fit in the 256 at the end: they go to the start, the end is skipped.
  void* c = heap.try_alloc(320, 1);
  ASSERT_EQ(c, base());
  // Oldest live is B at 384, newest ends at 320 after the wrap: 640 + 320, the skipped end included.
  EXPECT_EQ(heap.used(), 960u);
  // Only [320, 384) is free now.
  EXPECT_EQ(heap.try_alloc(128, 1), nullptr);
  void* d = heap.try_alloc(64, 1);
  EXPECT_EQ(offset_of(d), 320u);
  EXPECT_EQ(heap.used(), 1024u);
  heap.close_scope(1, 3);
  EXPECT_EQ(heap.reclaim(3), 640u);  // B goes, and with it the end skipped at the wrap
  // Oldest live is C at 0, newest (D) ends at 384: the skipped end is free again.
  EXPECT_EQ(heap.used(), 384u);
  void* e = heap.try_alloc(640, 1);
  EXPECT_EQ(offset_of(e), 384u);
  EXPECT_EQ(heap.used(), 1024u);
}

TEST_F(HeapRingTest, ResetForgetsEverything) {
  HeapRing heap(base(), 1024);
  ASSERT_NE(heap.try_alloc(500, 0), nullptr);
  ASSERT_NE(heap.try_alloc(300, 1), nullptr);
  heap.reset();
  EXPECT_EQ(heap.used(), 0u);
  EXPECT_EQ(heap.live_allocations(), 0u);
  EXPECT_EQ(heap.try_alloc(1024, 0), base());
}

// A model of the contract: blocks in FIFO order in a circular region; each belongs to the scopes open
// when it was made and is stamped when the innermost of them closes; reclaimed from the front only.
struct ModelBlock {
  size_t offset;
  size_t need;              // rounded size
  std::vector<int> scopes;  // scope instances open when it was made (not the run)
  uint64_t stamp;           // UINT64_MAX while open
};

size_t need_of(size_t n) { return std::max<size_t>(kA, (n + kA - 1) / kA * kA); }

TEST_F(HeapRingTest, RandomScopesAgainstAModel) {
  constexpr size_t kCap = 8192;
  HeapRing heap(base(), kCap);
  std::mt19937 rng(2024);
  std::vector<ModelBlock> live;  // front first
  std::vector<int> scope_stack;  // open scope instances; depth = size()
  int next_scope = 1;
  uint64_t last_task = 0, retired_before = 1;
  size_t wraps = 0, refusals = 0, partial_reclaims = 0;
  size_t prev_head = 0;
  for (int step = 0; step < 30000; ++step) {
    const auto op = rng() % 10;
    if (op < 4) {  // allocate
      // Mostly inside scopes: an allocation of the run itself holds the ring until the run ends.
      if (scope_stack.empty() && rng() % 16 != 0) scope_stack.push_back(next_scope++);
      const size_t n = rng() % 3 == 0 ? rng() % 64 : rng() % 2000;
      const uint32_t depth = static_cast<uint32_t>(scope_stack.size());
      void* p = heap.try_alloc(n, depth);
      const size_t need = need_of(n);
      if (p == nullptr) {
        ++refusals;
        // Refusal is allowed only if no free stretch of the ring can hold it.
        if (live.empty()) {
          ASSERT_GT(need, kCap);
        } else {
          const size_t tail = live.front().offset;
          const size_t head = live.back().offset + live.back().need;
          if (head > tail) {
            ASSERT_TRUE(head + need > kCap && need > tail) << "refused " << need << " bytes, step " << step;
          } else {
            ASSERT_GT(head + need, tail) << "refused " << need << " bytes, step " << step;
          }
        }
        continue;
      }
      const size_t off = offset_of(p);
      ASSERT_EQ(off % kA, 0u);
      ASSERT_LE(off + need, kCap);
      for (const ModelBlock& b : live)
        ASSERT_TRUE(off >= b.offset + b.need || off + need <= b.offset) << "overlap at step " << step;
      if (!live.empty() && off < prev_head) ++wraps;
      prev_head = off + need;
      live.push_back({off, need, scope_stack, UINT64_MAX});
    } else if (op == 4 && scope_stack.size() < 4) {  // open a scope
      scope_stack.push_back(next_scope++);
    } else if (op == 5 && !scope_stack.empty()) {  // close the innermost scope
      const int s = scope_stack.back();
      heap.close_scope(static_cast<uint32_t>(scope_stack.size()), last_task);
      scope_stack.pop_back();
      for (ModelBlock& b : live)
        if (b.stamp == UINT64_MAX && std::find(b.scopes.begin(), b.scopes.end(), s) != b.scopes.end())
          b.stamp = last_task;
    } else if (op == 6 || op == 7) {  // submit a task
      ++last_task;
    } else if (op == 8) {  // retire some tasks and reclaim
      retired_before = std::min(last_task + 1, retired_before + rng() % 4);
      size_t want = 0;
      size_t n = 0;
      while (n < live.size() && live[n].stamp < retired_before) ++n;
      for (size_t i = 0; i < n; ++i) want += live[i].need;
      const size_t live_before = heap.live_allocations();
      const size_t freed = heap.reclaim(retired_before);
      live.erase(live.begin(), live.begin() + static_cast<ptrdiff_t>(n));
      if (n > 0 && !live.empty()) ++partial_reclaims;
      ASSERT_EQ(live_before - heap.live_allocations(), n) << "step " << step;
      // Bytes given back include the skipped end of a wrap, so at least the blocks themselves.
      ASSERT_GE(freed, want) << "step " << step;
    } else if (op == 9 && rng() % 50 == 0) {  // end of run: every task retired
      heap.reset();
      live.clear();
      scope_stack.clear();
      retired_before = last_task + 1;
      prev_head = 0;
    }
    ASSERT_EQ(heap.live_allocations(), live.size()) << "step " << step;
    // used(): from the oldest live allocation to the end of the newest, padding included.
    size_t span = 0;
    if (!live.empty()) {
      const size_t tail = live.front().offset;
      const size_t head = live.back().offset + live.back().need;
      span = head > tail ? head - tail : kCap - tail + head;
    }
    ASSERT_EQ(heap.used(), span) << "step " << step;
    ASSERT_LE(heap.used(), kCap);
  }
  EXPECT_GT(wraps, 10u) << "the model run should wrap the ring";
  EXPECT_GT(refusals, 10u) << "the model run should fill the ring";
  EXPECT_GT(partial_reclaims, 100u) << "the model run should reclaim while blocks stay live";
}

}  // namespace
}  // namespace strata::memory
