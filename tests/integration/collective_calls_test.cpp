// Integration tests of the Orchestrator's collective calls (allreduce, reduce_scatter, broadcast,
// allgather, alltoall) on a real Worker: each submits the shipped kernel to every member without the
// program registering it, and the results read back with copy_from match expectations computed here.
// Members are given out of chip order so ranks differ from chip indices. Then every misuse error.
#include <cstdint>
#include <strata/comm_kernel.hpp>
#include <strata/half.hpp>
#include <strata/strata.hpp>
#include <string>
#include <vector>

#include "integration/integration_util.hpp"

namespace {

using strata::DType;
using strata::ReduceOp;
using strata::test::capture;

class CollectiveCallsTest : public strata::test::LeakCheckedTest {};

float value(size_t i, int rank) {
  return static_cast<float>(static_cast<int>((i * 3 + static_cast<size_t>(rank) * 11) % 17) - 8);
}

TEST_F(CollectiveCallsTest, EveryCollectiveGivesTheExpectedResult) {
  strata::Worker w({.chips = 3});
  w.init();
  const std::vector<int> members = {2, 0, 1};  // rank r is members[r]
  constexpr size_t kCount = 1001;              // not divisible by 3
  const int n = static_cast<int>(members.size());
  w.run([&](strata::Orchestrator& o) {
    auto d = o.allocate_domain({.name = "g",
                                .workers = members,
                                .window_size = 1 << 16,
                                .buffers = {{"f", DType::F32, kCount},
                                            {"h", DType::BF16, kCount},
                                            {"part", DType::BF16, kCount / 3 + 1},
                                            {"i", DType::I64, kCount},
                                            {"send", DType::F32, 999},
                                            {"recv", DType::F32, 999}}});
    std::vector<float> f(kCount);
    std::vector<uint16_t> h(kCount);
    std::vector<int64_t> iv(kCount);
    for (int r = 0; r < n; ++r) {
      const int chip = members[static_cast<size_t>(r)];
      for (size_t i = 0; i < kCount; ++i) {
        f[i] = value(i, r);
        h[i] = strata::bf16_from_float(value(i, r));
        iv[i] = static_cast<int64_t>(value(i, r));
      }
      o.copy_to(d[chip].buffer("f"), f.data());
      o.copy_to(d[chip].buffer("h"), h.data());
      o.copy_to(d[chip].buffer("i"), iv.data());
      for (size_t i = 0; i < 999; ++i) f[i] = static_cast<float>(r * 1000 + static_cast<int>(i));
      o.copy_to(d[chip].buffer("send"), f.data());
    }
    o.allreduce(d, "f", ReduceOp::Sum);
    o.reduce_scatter(d, "h", "part", ReduceOp::Max, {.block_dim = 2});
    o.allreduce(d, "i", ReduceOp::Min);
    o.alltoall(d, "send", "recv");
    for (int r = 0; r < n; ++r) {
      const int chip = members[static_cast<size_t>(r)];
      o.copy_from(f.data(), d[chip].buffer("f"));
      for (size_t i = 0; i < kCount; ++i) ASSERT_EQ(f[i], value(i, 0) + value(i, 1) + value(i, 2)) << i;
      o.copy_from(h.data(), d[chip].buffer("part"), d[chip].buffer("part").nbytes());
      const strata::CollectivePart part = strata::collective_part(kCount, 3, static_cast<uint32_t>(r));
      for (size_t j = 0; j < part.count; ++j) {
        const size_t i = part.begin + j;
        ASSERT_EQ(strata::float_from_bf16(h[j]), std::max({value(i, 0), value(i, 1), value(i, 2)})) << j;
      }
      o.copy_from(iv.data(), d[chip].buffer("i"));
      for (size_t i = 0; i < kCount; ++i)
        ASSERT_EQ(iv[i], static_cast<int64_t>(std::min({value(i, 0), value(i, 1), value(i, 2)}))) << i;
      o.copy_from(f.data(), d[chip].buffer("recv"));
      for (int p = 0; p < n; ++p)
        for (size_t k = 0; k < 333; ++k)
          ASSERT_EQ(f[static_cast<size_t>(p) * 333 + k], static_cast<float>(p * 1000 + r * 333 + static_cast<int>(k)));
    }
    // Broadcast from chip 0 (rank 1), then allgather: each rank fills its part of "f".
    for (int r = 0; r < n; ++r) {
      for (size_t i = 0; i < kCount; ++i) f[i] = static_cast<float>(r * 10000 + static_cast<int>(i));
      o.copy_to(d[members[static_cast<size_t>(r)]].buffer("f"), f.data());
    }
    o.broadcast(d, "f", 0);
    for (int chip : members) {
      o.copy_from(f.data(), d[chip].buffer("f"));
      for (size_t i = 0; i < kCount; ++i) ASSERT_EQ(f[i], static_cast<float>(10000 + static_cast<int>(i))) << i;
    }
    for (int r = 0; r < n; ++r) {
      for (size_t i = 0; i < kCount; ++i) f[i] = static_cast<float>(r * 10000 + static_cast<int>(i));
      o.copy_to(d[members[static_cast<size_t>(r)]].buffer("f"), f.data());
    }
    o.allgather(d, "f");
    for (int chip : members) {
      o.copy_from(f.data(), d[chip].buffer("f"));
      for (int r = 0; r < n; ++r) {
        const strata::CollectivePart p = strata::collective_part(kCount, 3, static_cast<uint32_t>(r));
        for (size_t i = p.begin; i < p.begin + p.count; ++i)
          ASSERT_EQ(f[i], static_cast<float>(r * 10000 + static_cast<int>(i))) << i;
      }
    }
  });
}

TEST_F(CollectiveCallsTest, AvgOverTwoChipsInBf16) {
  strata::Worker w({.chips = 2});
  w.init();
  w.run([&](strata::Orchestrator& o) {
    auto d = o.allocate_domain(
        {.name = "dp", .workers = {0, 1}, .window_size = 4096, .buffers = {{"grad", DType::BF16, 100}}});
    std::vector<uint16_t> g(100);
    for (int chip = 0; chip < 2; ++chip) {
      for (size_t i = 0; i < 100; ++i)
        g[i] = strata::bf16_from_float(static_cast<float>(i) + 2.0f * static_cast<float>(chip));
      o.copy_to(d[chip].buffer("grad"), g.data());
    }
    o.allreduce(d, "grad", ReduceOp::Avg);
    for (int chip = 0; chip < 2; ++chip) {
      o.copy_from(g.data(), d[chip].buffer("grad"));
      for (size_t i = 0; i < 100; ++i) ASSERT_EQ(strata::float_from_bf16(g[i]), static_cast<float>(i) + 1.0f) << i;
    }
  });
}

TEST_F(CollectiveCallsTest, MisuseFailsWithUsageErrors) {
  strata::Worker w({.chips = 3});
  w.init();
  w.run([&](strata::Orchestrator& o) {
    auto d = o.allocate_domain(
        {.name = "m",
         .workers = {0, 1},
         .window_size = 4096,
         .buffers = {{"f", DType::F32, 10}, {"u", DType::U8, 16}, {"small", DType::F32, 4}, {"other", DType::I32, 5}}});
    auto e = capture<strata::UsageError>([&] { o.allreduce(d, "nope"); });
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "allreduce: domain 'm' has no buffer named 'nope' on chip 0");
    e = capture<strata::UsageError>([&] { o.allreduce(d, "u", ReduceOp::Max); });
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "allreduce: buffer 'u' of domain 'm' holds u8 elements; max reduces f32, f16");
    e = capture<strata::UsageError>([&] { o.reduce_scatter(d, "f", "small"); });
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "reduce_scatter: the receive buffer 'small' (4 x f32) is too small");
    e = capture<strata::UsageError>([&] { o.reduce_scatter(d, "f", "other"); });
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "or of another dtype");
    e = capture<strata::UsageError>([&] { o.reduce_scatter(d, "f", "f"); });
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "send and receive are the same buffer");
    e = capture<strata::UsageError>([&] { o.broadcast(d, "f", 2); });
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "broadcast: root chip 2 is not a member of domain 'm' (members: 0, 1)");
    e = capture<strata::UsageError>([&] { o.alltoall(d, "other", "f"); });
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "alltoall: the send buffer 'other' has 5 elements, not a multiple of");
    e = capture<strata::UsageError>([&] { o.alltoall(d, "f", "small"); });
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "alltoall: the receive buffer 'small' (4 x f32) is too small");
    e = capture<strata::UsageError>([&] { o.allgather(d, "zz"); });
    ASSERT_TRUE(e);
    STRATA_EXPECT_CONTAINS(e->what(), "allgather: domain 'm' has no buffer named 'zz'");
  });
}

}  // namespace
