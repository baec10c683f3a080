// Unit tests of the collectives for every dtype (strata_allreduce with every op, strata_reduce_scatter,
// strata_broadcast, strata_allgather with uneven parts, strata_alltoall) called through the kernel
// registry with threads as ranks: 1, 2, 3, 7, 16 and 64 ranks, counts of 1 element, not divisible by the
// rank count, and (up to 7 ranks) larger than one reduction tile; both allreduce algorithms; several
// blocks per rank; the half-precision conversions; the error messages of bad arguments.
//
// Results are checked against a reference computed in double from the same inputs. Inputs are small
// integers (|x| <= 20), so f32, i32 and i64 sums are exact and compared exactly (f32 averages within one
// f32 rounding). f16 and bf16 are reduced in f32 (exact for these inputs) and rounded once to 16 bits, so
// they must lie within half a unit in the last place of the exact result: |got - exact| <= 2^-(p+1)
// |exact| with p = 10 (f16) or 7 (bf16) stored mantissa bits, plus one f32 rounding for avg.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "comm/bf16_avx512.hpp"
#include "comm/collectives.hpp"
#include "comm_test_helpers.hpp"
#include "strata/comm_kernel.hpp"
#include "strata/half.hpp"

namespace strata {
namespace {

using test::FakeDomain;
using test::joined;
using test::KernelCall;
using test::run_ranks;
using test::single_rank_error;

constexpr uint64_t kTimeoutMs = 30000;  // an upper bound for lost peers only
const DType kDTypes[] = {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64};
const ReduceOp kOps[] = {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Avg};

double input(size_t i, uint32_t rank, uint32_t seed) {
  return static_cast<double>(static_cast<int>((i * 7 + rank * 13 + seed * 5) % 41) - 20);
}

void store(void* buf, DType dt, size_t i, double v) {
  switch (dt) {
    case DType::F32:
      static_cast<float*>(buf)[i] = static_cast<float>(v);
      break;
    case DType::F16:
      static_cast<uint16_t*>(buf)[i] = f16_from_float(static_cast<float>(v));
      break;
    case DType::BF16:
      static_cast<uint16_t*>(buf)[i] = bf16_from_float(static_cast<float>(v));
      break;
    case DType::I32:
      static_cast<int32_t*>(buf)[i] = static_cast<int32_t>(v);
      break;
    case DType::I64:
      static_cast<int64_t*>(buf)[i] = static_cast<int64_t>(v);
      break;
    default:
      throw std::logic_error("dtype");
  }
}

double load(const void* buf, DType dt, size_t i) {
  switch (dt) {
    case DType::F32:
      return static_cast<const float*>(buf)[i];
    case DType::F16:
      return float_from_f16(static_cast<const uint16_t*>(buf)[i]);
    case DType::BF16:
      return float_from_bf16(static_cast<const uint16_t*>(buf)[i]);
    case DType::I32:
      return static_cast<const int32_t*>(buf)[i];
    case DType::I64:
      return static_cast<double>(static_cast<const int64_t*>(buf)[i]);
    default:
      throw std::logic_error("dtype");
  }
}

double reference(size_t i, uint32_t ranks, uint32_t seed, ReduceOp op, DType dt) {
  double acc = input(i, 0, seed);
  for (uint32_t r = 1; r < ranks; ++r) {
    const double x = input(i, r, seed);
    acc = op == ReduceOp::Max ? std::max(acc, x) : op == ReduceOp::Min ? std::min(acc, x) : acc + x;
  }
  if (op != ReduceOp::Avg) return acc;
  if (dt == DType::I32 || dt == DType::I64) return std::trunc(acc / ranks);  // integer division
  return acc / ranks;
}

/// Whether `got` is the reduction of element i within the rounding its dtype allows (file comment).
bool close_enough(double got, double want, DType dt, ReduceOp op) {
  const double rel = dt == DType::BF16 ? std::ldexp(1.0, -8) : dt == DType::F16 ? std::ldexp(1.0, -11) : 0.0;
  const double f32 = op == ReduceOp::Avg && dt != DType::I32 && dt != DType::I64 ? std::ldexp(1.0, -23) : 0.0;
  return std::fabs(got - want) <= (rel + f32) * std::fabs(want);
}

std::string case_name(const char* what, DType dt, ReduceOp op, size_t count, uint32_t seed) {
  return std::string(what) + " " + dtype_name(dt) + " " + reduce_op_name(op) + " count " + std::to_string(count) +
         " seed " + std::to_string(seed);
}

Tensor tensor(void* p, DType dt, size_t count) { return Tensor::make(p, {static_cast<int64_t>(count)}, dt); }

/// Every collective, op and size for one dtype and rank count, run by `ranks` threads on one domain
/// (back to back, as a model would): allreduce (both algorithms), reduce-scatter, broadcast from a
/// rotating root, allgather of uneven parts, alltoall. Each rank checks its own results.
void dtype_case(uint32_t ranks, DType dt, const std::vector<size_t>& counts) {
  SCOPED_TRACE(std::string("ranks ") + std::to_string(ranks) + " dtype " + dtype_name(dt));
  const size_t es = dtype_size(dt);
  size_t most = 0;
  for (size_t c : counts) most = std::max(most, c);
  const size_t half = (most * es + 63) / 64 * 64 + 64;  // send at 64 (peer() translates offsets), recv after
  FakeDomain d(ranks, 2 * half + 64);
  std::vector<std::string> wrong(ranks);
  auto failures = run_ranks(ranks, 1, 1, [&](uint32_t r, uint32_t b) {
    void* buf = d.at<unsigned char>(r, 64);
    void* recv = d.at<unsigned char>(r, 64 + half);
    const uint64_t ctx = d.device_ctx(r);
    auto fail = [&](const std::string& what, size_t i, double got, double want) {
      if (wrong[r].empty())
        wrong[r] = what + " element " + std::to_string(i) + ": " + std::to_string(got) + " != " + std::to_string(want);
    };
    uint32_t seed = 0;
    for (size_t count : counts)
      for (ReduceOp op : kOps) {
        for (auto algo : {AllreduceAlgorithm::Bandwidth, AllreduceAlgorithm::Latency}) {
          ++seed;
          for (size_t i = 0; i < count; ++i) store(buf, dt, i, input(i, r, seed));
          KernelCall{{tensor(buf, dt, count)},
                     {Tag::InOut},
                     {ctx, static_cast<uint64_t>(algo), kTimeoutMs, static_cast<uint64_t>(op)}}
              .run(test::kernel("strata_allreduce"), b, 1, 0);
          for (size_t i = 0; i < count; ++i) {
            const double got = load(buf, dt, i), want = reference(i, ranks, seed, op, dt);
            if (!close_enough(got, want, dt, op))
              fail(case_name(algo == AllreduceAlgorithm::Latency ? "allreduce latency" : "allreduce bandwidth", dt, op,
                             count, seed),
                   i, got, want);
          }
        }
        ++seed;
        for (size_t i = 0; i < count; ++i) store(buf, dt, i, input(i, r, seed));
        const CollectivePart part = collective_part(count, ranks, r);
        KernelCall{{tensor(buf, dt, count), tensor(recv, dt, part.count)},
                   {Tag::Input, Tag::OutputExisting},
                   {ctx, static_cast<uint64_t>(op), kTimeoutMs}}
            .run(test::kernel("strata_reduce_scatter"), b, 1, 0);
        for (size_t j = 0; j < part.count; ++j) {
          const double got = load(recv, dt, j), want = reference(part.begin + j, ranks, seed, op, dt);
          if (!close_enough(got, want, dt, op)) fail(case_name("reduce_scatter", dt, op, count, seed), j, got, want);
        }
      }
    for (size_t count : counts) {
      ++seed;
      const uint32_t root = seed % ranks;
      for (size_t i = 0; i < count; ++i) store(buf, dt, i, input(i, r, seed));
      KernelCall{{tensor(buf, dt, count)}, {Tag::InOut}, {ctx, root, kTimeoutMs}}.run(test::kernel("strata_broadcast"),
                                                                                      b, 1, 0);
      for (size_t i = 0; i < count; ++i)
        if (load(buf, dt, i) != input(i, root, seed))
          fail("broadcast count " + std::to_string(count), i, load(buf, dt, i), input(i, root, seed));
      ++seed;
      const CollectivePart mine = collective_part(count, ranks, r);
      for (size_t i = 0; i < count; ++i)
        store(buf, dt, i, i >= mine.begin && i < mine.begin + mine.count ? input(i, r, seed) : 99);
      KernelCall{{tensor(buf, dt, count)}, {Tag::InOut}, {ctx, kTimeoutMs}}.run(test::kernel("strata_allgather"), b, 1,
                                                                                0);
      for (uint32_t q = 0; q < ranks; ++q) {
        const CollectivePart p = collective_part(count, ranks, q);
        for (size_t i = p.begin; i < p.begin + p.count; ++i)
          if (load(buf, dt, i) != input(i, q, seed))
            fail("allgather count " + std::to_string(count), i, load(buf, dt, i), input(i, q, seed));
      }
      // Alltoall: the largest multiple of the rank count not above count, chunk p of rank r = input(r, p).
      const size_t chunk = count / ranks;
      if (chunk == 0) continue;
      ++seed;
      for (uint32_t p = 0; p < ranks; ++p)
        for (size_t k = 0; k < chunk; ++k) store(buf, dt, p * chunk + k, input(k, r * ranks + p, seed));
      KernelCall{{tensor(buf, dt, chunk * ranks), tensor(recv, dt, chunk * ranks)},
                 {Tag::Input, Tag::OutputExisting},
                 {ctx, kTimeoutMs}}
          .run(test::kernel("strata_alltoall"), b, 1, 0);
      for (uint32_t p = 0; p < ranks; ++p)
        for (size_t k = 0; k < chunk; ++k)
          if (load(recv, dt, p * chunk + k) != input(k, p * ranks + r, seed))
            fail("alltoall count " + std::to_string(count), p * chunk + k, load(recv, dt, p * chunk + k),
                 input(k, p * ranks + r, seed));
    }
  });
  ASSERT_TRUE(failures.empty()) << joined(failures);
  for (uint32_t r = 0; r < ranks; ++r) EXPECT_EQ(wrong[r], "") << "rank " << r;
}

class Reductions : public ::testing::TestWithParam<DType> {};

TEST_P(Reductions, FewRanks) {
  // 5003: several 2048-element tiles per slice, not divisible by any of the rank counts.
  for (uint32_t ranks : {1u, 2u, 3u, 7u}) dtype_case(ranks, GetParam(), {1, 5, ranks * 37 + 3, 5003});
}

TEST_P(Reductions, SixteenRanks) { dtype_case(16, GetParam(), {1, 16 * 9 + 5}); }

TEST_P(Reductions, SixtyFourRanks) { dtype_case(64, GetParam(), {1, 64 * 2 + 3}); }

INSTANTIATE_TEST_SUITE_P(AllDTypes, Reductions, ::testing::ValuesIn(kDTypes),
                         [](const ::testing::TestParamInfo<DType>& p) { return std::string(dtype_name(p.param)); });

/// One bf16 allreduce / reduce-scatter with several blocks per rank, blocks run by a smaller pool.
TEST(Reductions, SeveralBlocksPerRank) {
  for (auto algo : {AllreduceAlgorithm::Bandwidth, AllreduceAlgorithm::Latency}) {
    constexpr uint32_t kRanks = 3, kBlocks = 4;
    constexpr size_t kCount = 9001;
    FakeDomain d(kRanks, (kCount * 2 + 63) / 64 * 64);
    for (uint32_t r = 0; r < kRanks; ++r)
      for (size_t i = 0; i < kCount; ++i) store(d.at<uint16_t>(r), DType::BF16, i, input(i, r, 1));
    auto failures = run_ranks(kRanks, kBlocks, 2, [&](uint32_t r, uint32_t b) {
      KernelCall{{tensor(d.at<uint16_t>(r), DType::BF16, kCount)},
                 {Tag::InOut},
                 {d.device_ctx(r), static_cast<uint64_t>(algo), kTimeoutMs, static_cast<uint64_t>(ReduceOp::Avg)}}
          .run(test::kernel("strata_allreduce"), b, kBlocks, static_cast<int>(r));
    });
    ASSERT_TRUE(failures.empty()) << joined(failures);
    for (uint32_t r = 0; r < kRanks; ++r)
      for (size_t i = 0; i < kCount; ++i)
        ASSERT_TRUE(close_enough(load(d.at<uint16_t>(r), DType::BF16, i),
                                 reference(i, kRanks, 1, ReduceOp::Avg, DType::BF16), DType::BF16, ReduceOp::Avg))
            << "rank " << r << " element " << i;
  }
  constexpr uint32_t kRanks = 2, kBlocks = 3;
  constexpr size_t kCount = 7777;
  FakeDomain d(kRanks, (2 * kCount * 8 + 127) / 64 * 64 + 64);
  for (uint32_t r = 0; r < kRanks; ++r)
    for (size_t i = 0; i < kCount; ++i) d.at<int64_t>(r)[i] = static_cast<int64_t>(input(i, r, 2));
  auto failures = run_ranks(kRanks, kBlocks, 3, [&](uint32_t r, uint32_t b) {
    const CollectivePart part = collective_part(kCount, kRanks, r);
    KernelCall{{Tensor::of(d.at<int64_t>(r), kCount), Tensor::of(d.at<int64_t>(r, kCount * 8 + 64), part.count)},
               {Tag::Input, Tag::OutputExisting},
               {d.device_ctx(r), static_cast<uint64_t>(ReduceOp::Max)}}
        .run(test::kernel("strata_reduce_scatter"), b, kBlocks, static_cast<int>(r));
  });
  ASSERT_TRUE(failures.empty()) << joined(failures);
  for (uint32_t r = 0; r < kRanks; ++r) {
    const CollectivePart part = collective_part(kCount, kRanks, r);
    for (size_t j = 0; j < part.count; ++j)
      ASSERT_EQ(static_cast<double>(d.at<int64_t>(r, kCount * 8 + 64)[j]),
                reference(part.begin + j, kRanks, 2, ReduceOp::Max, DType::I64))
          << "rank " << r << " element " << j;
  }
}

TEST(Reductions, IntegerSumsWrapAndMaxComparesSigned) {
  FakeDomain d(2, 128);
  d.at<int64_t>(0)[0] = std::numeric_limits<int64_t>::max();
  d.at<int64_t>(1)[0] = 1;
  d.at<int32_t>(0, 64)[0] = -5;
  d.at<int32_t>(1, 64)[0] = 3;
  auto failures = run_ranks(2, 1, 1, [&](uint32_t r, uint32_t b) {
    KernelCall{{Tensor::of(d.at<int64_t>(r), 1)}, {Tag::InOut}, {d.device_ctx(r)}}.run(test::kernel("strata_allreduce"),
                                                                                       b, 1, 0);
    KernelCall{{Tensor::of(d.at<int32_t>(r, 64), 1)}, {Tag::InOut}, {d.device_ctx(r), 0, 0, 2 /* min */}}.run(
        test::kernel("strata_allreduce"), b, 1, 0);
  });
  ASSERT_TRUE(failures.empty()) << joined(failures);
  EXPECT_EQ(d.at<int64_t>(0)[0], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(d.at<int32_t>(1, 64)[0], -5);
}

TEST(HalfPrecision, ConversionsRoundToNearestEven) {
  EXPECT_EQ(bf16_from_float(1.5f), 0x3FC0);
  EXPECT_EQ(float_from_bf16(0x3FC0), 1.5f);
  EXPECT_EQ(bf16_from_float(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(bf16_from_float(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_TRUE(std::isnan(float_from_bf16(bf16_from_float(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(f16_from_float(1.0f), 0x3C00);
  EXPECT_EQ(f16_from_float(65504.0f), 0x7BFF);
  EXPECT_EQ(f16_from_float(1e6f), 0x7C00);                          // overflow: infinity
  EXPECT_EQ(f16_from_float(-std::ldexp(1.0f, -24)), 0x8001);        // smallest subnormal
  EXPECT_EQ(f16_from_float(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie to even
  EXPECT_TRUE(std::isnan(float_from_f16(f16_from_float(std::numeric_limits<float>::quiet_NaN()))));
  // Every f16 value converts to float and back unchanged (NaNs stay NaN).
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = float_from_f16(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f16_from_float(f), h) << std::hex << h;
  }
  // The block narrowing (SSE2 where available) gives the scalar conversion's bits, ties and NaNs included.
  std::vector<float> f(70001);
  for (size_t i = 0; i < f.size(); ++i)
    f[i] = std::bit_cast<float>(static_cast<uint32_t>(i * 2654435761u) ^ (i % 3 == 0 ? 0x8000u : 0u));
  f[5] = std::bit_cast<float>(0x7FC00001u);  // NaN
  f[6] = std::bit_cast<float>(0x7F7FFFFFu);  // rounds to infinity
  std::vector<uint16_t> block(f.size());
  float_to_bf16(f.data(), block.data(), f.size());
  for (size_t i = 0; i < f.size(); ++i) ASSERT_EQ(block[i], bf16_from_float(f[i])) << i;
  EXPECT_EQ(float_from_f16(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(float_from_f16(0xFC00), -std::numeric_limits<float>::infinity());
}

TEST(HalfPrecision, Bf16FastPathGivesThePortableBits) {
  // The AVX512-BF16 reduction (comm/bf16_avx512.hpp) against the portable definition — widen, combine in
  // rank order in f32, divide for avg, narrow once — on random bit patterns: NaNs, infinities, signed
  // zeros and subnormal sums (which the instruction would flush) included, with lengths that leave every
  // tail size, and a destination that is also a source.
  if (!comm::bf16_avx512_available()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint16_t>(state >> 48);
  };
  for (uint32_t n : {1u, 2u, 3u, 7u}) {
    for (ReduceOp op : kOps) {
      for (size_t len : {size_t{1}, size_t{31}, size_t{32}, size_t{33}, size_t{1000}}) {
        std::vector<std::vector<uint16_t>> in(n, std::vector<uint16_t>(len));
        for (auto& v : in)
          for (size_t i = 0; i < len; ++i) {
            v[i] = next();
            if (i % 5 == 0) v[i] &= 0x807F;  // subnormal or zero
          }
        std::vector<uint16_t> want(len);
        for (size_t i = 0; i < len; ++i) {
          float acc = float_from_bf16(in[0][i]);
          for (uint32_t q = 1; q < n; ++q) {
            const float x = float_from_bf16(in[q][i]);
            acc = op == ReduceOp::Max ? (acc < x ? x : acc) : op == ReduceOp::Min ? (x < acc ? x : acc) : acc + x;
          }
          if (op == ReduceOp::Avg) acc = acc / static_cast<float>(n);
          want[i] = bf16_from_float(acc);
        }
        std::vector<const uint16_t*> src;
        for (auto& v : in) src.push_back(v.data());
        std::vector<uint16_t> other(len);
        uint16_t* out[2] = {in[0].data(), other.data()};
        comm::reduce_bf16_avx512(out, 2, src.data(), n, len, op);
        for (size_t i = 0; i < len; ++i) {
          ASSERT_EQ(in[0][i], want[i]) << "n " << n << " op " << reduce_op_name(op) << " len " << len << " i " << i;
          ASSERT_EQ(other[i], want[i]) << "n " << n << " op " << reduce_op_name(op) << " len " << len << " i " << i;
        }
      }
    }
  }
}

TEST(Reductions, BadArgumentsFailWithClearMessages) {
  FakeDomain d(2, 4096);
  const uint64_t ctx = d.device_ctx(0);
  EXPECT_EQ(single_rank_error("strata_allreduce", {{Tensor::of(d.at<float>(0), 4)}, {Tag::InOut}, {ctx, 0, 0, 9}}),
            "strata_allreduce: unknown reduce op 9 (0 sum, 1 max, 2 min, 3 avg)");
  EXPECT_EQ(single_rank_error("strata_reduce_scatter",
                              {{Tensor::of(d.at<uint8_t>(0), 4), Tensor::of(d.at<uint8_t>(0, 64), 2)},
                               {Tag::Input, Tag::OutputExisting},
                               {ctx}}),
            "strata_reduce_scatter: dtype u8 is not supported (f32, f16, bf16, i32 and i64 are)");
  std::string m = single_rank_error(
      "strata_reduce_scatter",
      {{Tensor::of(d.at<float>(0), 5), Tensor::of(d.at<float>(0, 64), 2)}, {Tag::Input, Tag::OutputExisting}, {ctx}});
  EXPECT_NE(m.find("the receive buffer (2 x f32) does not hold rank 0's part of the send buffer (3 of 5 x f32)"),
            std::string::npos)
      << m;
  m = single_rank_error(
      "strata_reduce_scatter",
      {{Tensor::of(d.at<float>(0), 8), Tensor::of(d.at<float>(0, 4), 4)}, {Tag::Input, Tag::OutputExisting}, {ctx}});
  EXPECT_NE(m.find("send and receive buffers overlap"), std::string::npos) << m;
  m = single_rank_error("strata_broadcast", {{Tensor::of(d.at<float>(0), 4)}, {Tag::InOut}, {ctx, 2}});
  EXPECT_EQ(m, "strata_broadcast: broadcast root rank 2 is not a rank of the domain (size 2)");
  m = single_rank_error("strata_broadcast", {{Tensor::of(d.at<float>(0), 4)}, {Tag::InOut}, {ctx}});
  EXPECT_EQ(m, "strata_broadcast: scalar 1 (the root's rank) is missing");
}

}  // namespace
}  // namespace strata
