// Unit tests of graph::FrameRing (frames kept whole, in order, never across the end of the ring; room
// counted for the worst case and given back by release_to) and of util::PrivatePages underneath it
// (zeroed, present, absent from a forked child).
#include "graph/frame_ring.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "util/private_pages.hpp"

namespace strata::graph {
namespace {

constexpr size_t kMax = 1024;

/// Pushes `len` bytes of `fill` and returns the frame's position.
uint64_t push(FrameRing& ring, size_t len, unsigned char fill) {
  unsigned char* p = ring.space();
  std::memset(p, fill, len);
  return ring.push(len);
}

TEST(FrameRing, FramesComeBackWholeAndInOrder) {
  FrameRing ring(8, kMax);
  const uint64_t a = push(ring, 100, 0xA1);
  const uint64_t b = push(ring, 1, 0xB2);
  const uint64_t c = push(ring, kMax, 0xC3);
  EXPECT_EQ(ring.after(a), b);
  EXPECT_EQ(ring.after(b), c);
  EXPECT_LE(ring.after(c), ring.head());
  for (auto [pos, len, fill] : {std::tuple{a, size_t{100}, 0xA1}, {b, size_t{1}, 0xB2}, {c, kMax, 0xC3}}) {
    const auto f = ring.frame(pos);
    ASSERT_EQ(f.size(), len);
    for (unsigned char x : f) ASSERT_EQ(x, fill);
  }
}

TEST(FrameRing, RoomIsCountedForTheLargestFrameAndGivenBackOnRelease) {
  FrameRing ring(4, kMax);
  EXPECT_TRUE(ring.fits(4));
  EXPECT_FALSE(ring.fits(5));
  std::vector<uint64_t> ends;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(ring.fits(1)) << i;
    push(ring, kMax, static_cast<unsigned char>(i));
    ends.push_back(ring.head());
  }
  EXPECT_FALSE(ring.fits(1));
  ring.release_to(ends[0]);
  EXPECT_TRUE(ring.fits(1));
  ring.release_to(ends[3]);
  EXPECT_EQ(ring.used(), 0u);
  EXPECT_TRUE(ring.fits(4));
}

TEST(FrameRing, AFrameNeverCrossesTheEndAndSurvivesManyLaps) {
  // Random lengths, pushed while they fit and released oldest first, for many laps: every frame keeps its
  // bytes and lies inside the ring's memory.
  FrameRing ring(6, kMax);
  std::mt19937 rng(7);
  std::deque<std::pair<uint64_t, uint64_t>> live;  // position, head after it
  std::deque<std::pair<size_t, unsigned char>> want;
  uint64_t last = 0;
  for (int i = 0; i < 20000; ++i) {
    if (ring.fits(1) && rng() % 3 != 0) {
      const size_t len = 1 + rng() % kMax;
      const auto fill = static_cast<unsigned char>(rng());
      const uint64_t pos = push(ring, len, fill);
      ASSERT_GE(pos, last);
      last = pos;
      ASSERT_LE(pos % ring.capacity() + 8 + len, ring.capacity()) << "frame " << i << " crosses the end";
      live.emplace_back(pos, ring.head());
      want.emplace_back(len, fill);
    } else if (!live.empty()) {
      const auto f = ring.frame(live.front().first);
      ASSERT_EQ(f.size(), want.front().first);
      for (unsigned char x : f) ASSERT_EQ(x, want.front().second);
      if (live.size() > 1) {
        ASSERT_EQ(ring.after(live.front().first), live[1].first);
      }
      ring.release_to(live.front().second);
      live.pop_front();
      want.pop_front();
    }
  }
  EXPECT_GT(last, 10 * ring.capacity()) << "the test did not go round the ring often";
}

}  // namespace
}  // namespace strata::graph

namespace strata::util {
namespace {

TEST(PrivatePages, ZeroedPresentAndAbsentFromAForkedChild) {
  PrivatePages pages(3 * 4096 + 1);
  ASSERT_GE(pages.size(), 4u * 4096);
  for (size_t i = 0; i < pages.size(); ++i) ASSERT_EQ(pages.data()[i], 0) << i;
  // Present: mincore reports every page resident without a touch.
  std::vector<unsigned char> resident(pages.size() / 4096);
  ASSERT_EQ(mincore(pages.data(), pages.size(), resident.data()), 0);
  for (unsigned char r : resident) EXPECT_TRUE(r & 1);
  pages.data()[0] = 42;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Not mapped here: mincore fails with ENOMEM.
    unsigned char r = 0;
    _exit(mincore(pages.data(), 4096, &r) == -1 && errno == ENOMEM ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child still has the pages";
  EXPECT_EQ(pages.data()[0], 42);
}

TEST(PrivatePages, AllocatorBacksAVector) {
  std::vector<int, PrivateAllocator<int>> v(10000, 7);
  EXPECT_EQ(v[9999], 7);
  v.resize(20000, 3);
  EXPECT_EQ(v[0], 7);
  EXPECT_EQ(v[19999], 3);
}

TEST(PrivatePages, AbsurdSizesAreRefused) {
  EXPECT_THROW(PrivatePages(static_cast<size_t>(-1)), std::bad_alloc);
  EXPECT_THROW(PrivateAllocator<double>().allocate(static_cast<size_t>(-1) / 4), std::bad_alloc);
}

}  // namespace
}  // namespace strata::util
