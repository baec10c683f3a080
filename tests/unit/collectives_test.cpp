// Unit tests of the collective kernels (strata_allreduce, strata_allgather, strata_alltoall) called
// through the kernel registry with threads as ranks: both allreduce algorithms and auto, float32 and
// int32, 1..64 ranks, counts not divisible by the rank count, back-to-back calls mixing collectives on
// one domain, several blocks per rank (concurrent, sequential, more than the barrier supports), and the
// error messages of bad arguments and of a missing peer.
#include "comm/collectives.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "comm_test_helpers.hpp"
#include "strata/comm_kernel.hpp"

namespace strata {
namespace {

using test::FakeDomain;
using test::joined;
using test::KernelCall;
using test::run_ranks;
using test::single_rank_error;

constexpr uint64_t kTimeoutMs = 30000;  // an upper bound for lost peers only

template <class T>
T input(size_t i, uint32_t rank, uint32_t call = 0) {
  return static_cast<T>(static_cast<int>(i % 97) + 100 * static_cast<int>(rank) + static_cast<int>(call));
}

template <class T>
T expected_sum(size_t i, uint32_t ranks, uint32_t call = 0) {
  T s = 0;
  for (uint32_t r = 0; r < ranks; ++r) s += input<T>(i, r, call);
  return s;
}

/// Runs `calls` allreduces back to back on one domain (each rank refills its buffer between calls),
/// checking every rank's result after every call.
template <class T>
void allreduce_case(uint32_t ranks, size_t count, AllreduceAlgorithm algo, uint32_t calls = 2) {
  SCOPED_TRACE("ranks " + std::to_string(ranks) + " count " + std::to_string(count) + " algo " +
               std::to_string(static_cast<uint32_t>(algo)));
  const size_t offset = 128;  // not at the window's start: peer() must translate offsets
  FakeDomain d(ranks, (offset + count * sizeof(T) + 63) / 64 * 64);
  const KernelFn fn = test::kernel("strata_allreduce");
  std::vector<std::string> wrong(ranks);
  auto failures = run_ranks(ranks, 1, 1, [&](uint32_t r, uint32_t b) {
    T* buf = d.at<T>(r, offset);
    const KernelCall call{{Tensor::of(buf, static_cast<int64_t>(count))},
                          {Tag::InOut},
                          {d.device_ctx(r), static_cast<uint64_t>(algo), kTimeoutMs}};
    for (uint32_t c = 0; c < calls; ++c) {
      // Refilling right after the previous call is safe: when a rank's call returns, no peer reads
      // its buffer any more.
      for (size_t i = 0; i < count; ++i) buf[i] = input<T>(i, r, c);
      call.run(fn, b, 1, static_cast<int>(r));
      for (size_t i = 0; i < count; ++i)
        if (buf[i] != expected_sum<T>(i, ranks, c) && wrong[r].empty())
          wrong[r] = "call " + std::to_string(c) + " element " + std::to_string(i) + ": " + std::to_string(buf[i]) +
                     " != " + std::to_string(expected_sum<T>(i, ranks, c));
    }
  });
  ASSERT_TRUE(failures.empty()) << joined(failures);
  for (uint32_t r = 0; r < ranks; ++r) EXPECT_EQ(wrong[r], "") << "rank " << r;
}

/// One allreduce with several blocks per rank: buffers filled before, checked after.
template <class T>
void allreduce_blocks_case(uint32_t ranks, size_t count, AllreduceAlgorithm algo, uint32_t blocks, uint32_t pool) {
  SCOPED_TRACE("ranks " + std::to_string(ranks) + " count " + std::to_string(count) + " algo " +
               std::to_string(static_cast<uint32_t>(algo)) + " blocks " + std::to_string(blocks) + " pool " +
               std::to_string(pool));
  FakeDomain d(ranks, (count * sizeof(T) + 63) / 64 * 64 + 64);
  const KernelFn fn = test::kernel("strata_allreduce");
  for (uint32_t round = 0; round < 2; ++round) {
    for (uint32_t r = 0; r < ranks; ++r)
      for (size_t i = 0; i < count; ++i) d.at<T>(r)[i] = input<T>(i, r, round);
    auto failures = run_ranks(ranks, blocks, pool, [&](uint32_t r, uint32_t b) {
      KernelCall call{{Tensor::of(d.at<T>(r), static_cast<int64_t>(count))},
                      {Tag::InOut},
                      {d.device_ctx(r), static_cast<uint64_t>(algo), kTimeoutMs}};
      call.run(fn, b, blocks, static_cast<int>(r));
    });
    ASSERT_TRUE(failures.empty()) << joined(failures);
    for (uint32_t r = 0; r < ranks; ++r)
      for (size_t i = 0; i < count; ++i)
        ASSERT_EQ(d.at<T>(r)[i], expected_sum<T>(i, ranks, round)) << "rank " << r << " element " << i;
  }
}

const AllreduceAlgorithm kAlgos[] = {AllreduceAlgorithm::Auto, AllreduceAlgorithm::Bandwidth,
                                     AllreduceAlgorithm::Latency};

TEST(Allreduce, Float32AllAlgorithmsFewRanks) {
  for (uint32_t ranks : {1u, 2u, 3u, 4u, 7u})
    for (size_t count : {size_t{0}, size_t{1}, size_t{5}, size_t{17}, size_t{1000}, size_t{12345}})
      for (auto algo : kAlgos) allreduce_case<float>(ranks, count, algo);
}

TEST(Allreduce, Int32AllAlgorithmsFewRanks) {
  for (uint32_t ranks : {1u, 2u, 3u, 4u, 7u})
    for (size_t count : {size_t{1}, size_t{6}, size_t{999}, size_t{20001}})
      for (auto algo : kAlgos) allreduce_case<int32_t>(ranks, count, algo);
}

TEST(Allreduce, LargeBuffersAboveTheThreshold) {
  // Auto picks bandwidth here; counts not divisible by the ranks nor by the 64-byte grain.
  for (uint32_t ranks : {2u, 3u})
    allreduce_case<float>(ranks, kAllreduceLatencyMaxBytes / sizeof(float) * 8 + 13, AllreduceAlgorithm::Auto);
  allreduce_case<int32_t>(4, 300007, AllreduceAlgorithm::Bandwidth);
}

TEST(Allreduce, SixteenRanks) {
  for (auto algo : kAlgos) {
    allreduce_case<float>(16, 1000, algo);
    allreduce_case<int32_t>(16, 4099, algo);
  }
}

TEST(Allreduce, SixtyFourRanksSmallCounts) {
  for (size_t count : {size_t{1}, size_t{63}, size_t{130}})
    for (auto algo : kAlgos) allreduce_case<float>(64, count, algo, 1);
  allreduce_case<int32_t>(64, 1025, AllreduceAlgorithm::Bandwidth, 1);
}

TEST(Allreduce, ManyBackToBackCallsOnOneDomain) {
  allreduce_case<float>(2, 777, AllreduceAlgorithm::Latency, 200);
  allreduce_case<float>(3, 20000, AllreduceAlgorithm::Bandwidth, 50);
}

TEST(Allreduce, SeveralBlocksPerRank) {
  for (auto algo : {AllreduceAlgorithm::Bandwidth, AllreduceAlgorithm::Latency}) {
    allreduce_blocks_case<float>(3, 10007, algo, 3, 3);   // blocks run at once
    allreduce_blocks_case<float>(3, 10007, algo, 3, 1);   // blocks one after the other
    allreduce_blocks_case<int32_t>(4, 5003, algo, 4, 2);  // a pool smaller than the blocks
    allreduce_blocks_case<float>(2, 100, algo, 5, 5);     // blocks with nothing to do
    // More blocks than barrier slots: blocks 16.. do nothing.
    allreduce_blocks_case<float>(2, 40000, algo, kCommMaxBarrierBlocks + 4, 2);
  }
}

TEST(Allreduce, IntegersWrapOnOverflow) {
  FakeDomain d(2, 64);
  d.at<int32_t>(0)[0] = std::numeric_limits<int32_t>::max();
  d.at<int32_t>(1)[0] = 1;
  auto failures = run_ranks(2, 1, 1, [&](uint32_t r, uint32_t b) {
    KernelCall{{Tensor::of(d.at<int32_t>(r), 1)}, {Tag::InOut}, {d.device_ctx(r)}}.run(test::kernel("strata_allreduce"),
                                                                                       b, 1, 0);
  });
  ASSERT_TRUE(failures.empty()) << joined(failures);
  EXPECT_EQ(d.at<int32_t>(0)[0], std::numeric_limits<int32_t>::min());
  EXPECT_EQ(d.at<int32_t>(1)[0], std::numeric_limits<int32_t>::min());
}

TEST(Allreduce, AutoPicksByBytes) {
  EXPECT_EQ(comm::allreduce_pick(kAllreduceLatencyMaxBytes, 2), AllreduceAlgorithm::Latency);
  EXPECT_EQ(comm::allreduce_pick(kAllreduceLatencyMaxBytes + 4, 2), AllreduceAlgorithm::Bandwidth);
}

TEST(Allreduce, BadArgumentsFailWithClearMessages) {
  FakeDomain d(1, 4096);
  const uint64_t ctx = d.device_ctx(0);
  auto has = [](const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; };
  std::string m = single_rank_error("strata_allreduce", {{Tensor::of(d.at<double>(0), 4)}, {Tag::InOut}, {ctx}});
  EXPECT_EQ(m, "strata_allreduce: dtype f64 is not supported (f32, f16, bf16, i32 and i64 are)");
  m = single_rank_error("strata_allreduce", {{Tensor::of(d.at<float>(0), 4)}, {Tag::InOut}, {ctx, 7}});
  EXPECT_TRUE(has(m, "strata_allreduce: unknown allreduce algorithm 7")) << m;
  std::vector<float> outside(4);
  m = single_rank_error("strata_allreduce", {{Tensor::of(outside.data(), 4)}, {Tag::InOut}, {ctx}});
  EXPECT_TRUE(has(m, "the allreduce buffer (16 bytes) is not inside this rank's window")) << m;
  m = single_rank_error("strata_allreduce", {{Tensor::of(d.at<float>(0), 1025)}, {Tag::InOut}, {ctx}});
  EXPECT_TRUE(has(m, "not inside this rank's window")) << m;
  m = single_rank_error("strata_allreduce", {{}, {}, {ctx}});
  EXPECT_TRUE(has(m, "strata_allreduce: tensor 0 (the buffer to reduce) is missing")) << m;
  m = single_rank_error("strata_allreduce", {{Tensor::of(d.at<float>(0), 4)}, {Tag::InOut}, {}});
  EXPECT_TRUE(has(m, "scalar 0 should be the domain's device_ctx")) << m;
  m = single_rank_error("strata_allreduce", {{Tensor::of(d.at<float>(0), 4)}, {Tag::InOut}, {0}});
  EXPECT_TRUE(has(m, "CommContext pointer is null")) << m;
}

// A member that never comes: the kernel fails with the barrier's message instead of hanging.
TEST(Allreduce, MissingPeerTimesOutWithAMessage) {
  FakeDomain d(2, 4096);
  const std::string m =
      single_rank_error("strata_allreduce", {{Tensor::of(d.at<float>(0), 4)}, {Tag::InOut}, {d.device_ctx(0), 0, 30}});
  EXPECT_EQ(m.rfind("strata_allreduce: strata comm: barrier timed out on rank 0 of 2 (block 0, round 1) after 30 ms: "
                    "1 of 2 ranks arrived",
                    0),
            0u)
      << m;
}

void allgather_case(uint32_t ranks, size_t chunk, uint32_t blocks, uint32_t pool, uint32_t calls = 2) {
  SCOPED_TRACE("ranks " + std::to_string(ranks) + " chunk " + std::to_string(chunk) + " blocks " +
               std::to_string(blocks));
  const size_t n = chunk * ranks;
  FakeDomain d(ranks, (n * sizeof(int32_t) + 63) / 64 * 64 + 64);
  const KernelFn fn = test::kernel("strata_allgather");
  for (uint32_t c = 0; c < calls; ++c) {
    for (uint32_t r = 0; r < ranks; ++r) {
      int32_t* buf = d.at<int32_t>(r);
      for (size_t i = 0; i < n; ++i) buf[i] = -1;
      for (size_t i = 0; i < chunk; ++i) buf[r * chunk + i] = input<int32_t>(i, r, c);
    }
    auto failures = run_ranks(ranks, blocks, pool, [&](uint32_t r, uint32_t b) {
      KernelCall{{Tensor::of(d.at<int32_t>(r), static_cast<int64_t>(n))}, {Tag::InOut}, {d.device_ctx(r), kTimeoutMs}}
          .run(fn, b, blocks, static_cast<int>(r));
    });
    ASSERT_TRUE(failures.empty()) << joined(failures);
    for (uint32_t r = 0; r < ranks; ++r)
      for (uint32_t q = 0; q < ranks; ++q)
        for (size_t i = 0; i < chunk; ++i)
          ASSERT_EQ(d.at<int32_t>(r)[q * chunk + i], input<int32_t>(i, q, c))
              << "rank " << r << " chunk " << q << " element " << i;
  }
}

TEST(Allgather, GathersEveryChunk) {
  for (uint32_t ranks : {1u, 2u, 3u, 5u, 16u})
    for (size_t chunk : {size_t{1}, size_t{7}, size_t{1000}}) allgather_case(ranks, chunk, 1, 1);
  allgather_case(64, 3, 1, 1, 1);
}

TEST(Allgather, SeveralBlocks) {
  allgather_case(3, 5000, 4, 4);
  allgather_case(3, 5000, 4, 1);
  allgather_case(2, 20, 3, 2);
}

// Counts that do not divide: rank r's part is collective_part(count, size, r) (reductions_test.cpp
// covers every dtype; this pins the part boundaries).
TEST(Allgather, UnevenPartsFollowCollectivePart) {
  EXPECT_EQ(collective_part(5, 2, 0).begin, 0u);
  EXPECT_EQ(collective_part(5, 2, 0).count, 3u);
  EXPECT_EQ(collective_part(5, 2, 1).begin, 3u);
  EXPECT_EQ(collective_part(5, 2, 1).count, 2u);
  EXPECT_EQ(collective_part(2, 3, 2).count, 0u);
  EXPECT_EQ(collective_part(2, 3, 2).begin, 2u);
}

void alltoall_case(uint32_t ranks, size_t chunk, uint32_t blocks, uint32_t pool, uint32_t calls = 2) {
  SCOPED_TRACE("ranks " + std::to_string(ranks) + " chunk " + std::to_string(chunk) + " blocks " +
               std::to_string(blocks));
  const size_t n = chunk * ranks;
  const size_t half = (n * sizeof(float) + 63) / 64 * 64;
  FakeDomain d(ranks, 2 * half);
  const KernelFn fn = test::kernel("strata_alltoall");
  auto value = [](uint32_t from, uint32_t to, size_t i, uint32_t c) {
    return static_cast<float>(from * 1000000 + to * 10000 + i + c);
  };
  for (uint32_t c = 0; c < calls; ++c) {
    for (uint32_t r = 0; r < ranks; ++r)
      for (uint32_t p = 0; p < ranks; ++p)
        for (size_t i = 0; i < chunk; ++i) d.at<float>(r)[p * chunk + i] = value(r, p, i, c);
    auto failures = run_ranks(ranks, blocks, pool, [&](uint32_t r, uint32_t b) {
      KernelCall{{Tensor::of(d.at<float>(r), static_cast<int64_t>(n)),
                  Tensor::of(d.at<float>(r, half), static_cast<int64_t>(n))},
                 {Tag::Input, Tag::OutputExisting},
                 {d.device_ctx(r)}}
          .run(fn, b, blocks, static_cast<int>(r));
    });
    ASSERT_TRUE(failures.empty()) << joined(failures);
    for (uint32_t r = 0; r < ranks; ++r)
      for (uint32_t p = 0; p < ranks; ++p)
        for (size_t i = 0; i < chunk; ++i)
          ASSERT_EQ(d.at<float>(r, half)[p * chunk + i], value(p, r, i, c))
              << "rank " << r << " chunk " << p << " element " << i;
  }
}

TEST(Alltoall, ExchangesEveryChunk) {
  for (uint32_t ranks : {1u, 2u, 3u, 4u, 7u, 16u})
    for (size_t chunk : {size_t{1}, size_t{13}, size_t{1000}}) alltoall_case(ranks, chunk, 1, 1);
  alltoall_case(64, 2, 1, 1, 1);
}

TEST(Alltoall, SeveralBlocks) {
  alltoall_case(3, 3000, 3, 3);
  alltoall_case(4, 3000, 3, 1);
  alltoall_case(2, 5, 4, 2);
}

TEST(Alltoall, BadArgumentsFailWithClearMessages) {
  FakeDomain d(2, 4096);
  const uint64_t ctx = d.device_ctx(0);
  std::string m = single_rank_error(
      "strata_alltoall",
      {{Tensor::of(d.at<float>(0), 4), Tensor::of(d.at<float>(0, 2048), 6)}, {Tag::Input, Tag::InOut}, {ctx}});
  EXPECT_NE(m.find("strata_alltoall: the send buffer (4 x f32) and the receive buffer (6 x f32) differ"),
            std::string::npos)
      << m;
  m = single_rank_error(
      "strata_alltoall",
      {{Tensor::of(d.at<float>(0), 4), Tensor::of(d.at<float>(0, 8), 4)}, {Tag::Input, Tag::InOut}, {ctx}});
  EXPECT_NE(m.find("send and receive buffers overlap"), std::string::npos) << m;
  m = single_rank_error("strata_alltoall", {{Tensor::of(d.at<float>(0), 4)}, {Tag::Input}, {ctx}});
  EXPECT_NE(m.find("tensor 1 (the receive buffer) is missing"), std::string::npos) << m;
}

// Allreduce, allgather, alltoall and the bare barrier interleaved on one domain: they share the
// barrier slots, whose rounds only grow, so none needs a reset.
TEST(Collectives, MixedSequenceOnOneDomain) {
  constexpr uint32_t kRanks = 4, kChunk = 33, kRounds = 40;
  constexpr size_t n = size_t{kRanks} * kChunk;
  FakeDomain d(kRanks, 4 * 4096);
  std::vector<std::string> wrong(kRanks);
  auto failures = run_ranks(kRanks, 1, 1, [&](uint32_t r, uint32_t b) {
    float* a = d.at<float>(r);
    float* send = d.at<float>(r, 4096);
    float* recv = d.at<float>(r, 8192);
    const uint64_t ctx = d.device_ctx(r);
    CommView v = d.view(r);
    for (uint32_t round = 0; round < kRounds && wrong[r].empty(); ++round) {
      for (size_t i = 0; i < n; ++i) a[i] = input<float>(i, r, round);
      const auto algo = round % 2 ? AllreduceAlgorithm::Latency : AllreduceAlgorithm::Bandwidth;
      KernelCall{{Tensor::of(a, n)}, {Tag::InOut}, {ctx, static_cast<uint64_t>(algo)}}.run(
          test::kernel("strata_allreduce"), b, 1, 0);
      for (size_t i = 0; i < n; ++i)
        if (a[i] != expected_sum<float>(i, kRanks, round)) wrong[r] = "allreduce in round " + std::to_string(round);
      v.barrier(0);
      for (size_t i = 0; i < kChunk; ++i) a[r * kChunk + i] = static_cast<float>(r + round);
      KernelCall{{Tensor::of(a, n)}, {Tag::InOut}, {ctx}}.run(test::kernel("strata_allgather"), b, 1, 0);
      for (uint32_t q = 0; q < kRanks; ++q)
        if (a[q * kChunk] != static_cast<float>(q + round)) wrong[r] = "allgather in round " + std::to_string(round);
      for (uint32_t p = 0; p < kRanks; ++p) send[p * kChunk] = static_cast<float>(r * 100 + p + round);
      KernelCall{{Tensor::of(send, n), Tensor::of(recv, n)}, {Tag::Input, Tag::OutputExisting}, {ctx}}.run(
          test::kernel("strata_alltoall"), b, 1, 0);
      for (uint32_t p = 0; p < kRanks; ++p)
        if (recv[p * kChunk] != static_cast<float>(p * 100 + r + round))
          wrong[r] = "alltoall in round " + std::to_string(round);
    }
  });
  ASSERT_TRUE(failures.empty()) << joined(failures);
  for (uint32_t r = 0; r < kRanks; ++r) EXPECT_EQ(wrong[r], "") << "rank " << r;
}

}  // namespace
}  // namespace strata
