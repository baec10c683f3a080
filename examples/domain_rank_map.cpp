// examples/domain_rank_map.cpp — two overlapping domains on 3 chips: even = {0, 2} and tail = {1, 2}.
//
// Checks the dense ranks per domain (chip 2 is rank 1 in both, chip 1 is rank 0 in tail), that indexing a
// non-member (chip 1 in even) throws strata::UsageError, that chip 2's two windows are distinct and do
// not overlap, that each chip sees the same rank, size and window through its CommContext (a probe
// kernel reads it on the chip), and then one allreduce per domain (rank r contributes i + 100 r + 1000 d
// for domain d). Exits 1 on any mismatch.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "strata/comm_context.h"
#include "strata/strata.hpp"
#include "workload_util.hpp"

// Scalar 0: device_ctx. Tensor 0 (OUTPUT_EXISTING, 4 x u64): rank, size, windows[rank], window_size as
// this chip reads them from its CommContext.
STRATA_KERNEL(rank_map_probe) {
  const auto* cc = reinterpret_cast<const strata_comm_context*>(ctx.scalar<uint64_t>(0));
  uint64_t* out = ctx.data<uint64_t>(0);
  out[0] = cc->rank;
  out[1] = cc->size;
  out[2] = cc->windows[cc->rank];
  out[3] = cc->window_size;
}

namespace {

constexpr size_t kCount = 777;

float value(int domain, int rank, size_t i) {
  return static_cast<float>(i + 100 * size_t(rank) + 1000 * size_t(domain));
}

}  // namespace

int main(int argc, char** argv) try {
  const strata::workloads::ExampleArgs args = strata::workloads::example_args(argc, argv, "domain_rank_map", 3, 3, 3);
  if (args.exit >= 0) return args.exit;
  strata::ProgressLine progress(args.progress);
  using namespace strata::workloads;
  const std::vector<strata::BufferSpec> buffers = {{"data", strata::DType::F32, kCount}};
  const strata::DomainSpec specs[2] = {
      {.name = "even", .workers = {0, 2}, .window_size = window_bytes(buffers), .buffers = buffers},
      {.name = "tail", .workers = {1, 2}, .window_size = window_bytes(buffers), .buffers = buffers}};
  // Expected rank of each chip in each domain (-1: not a member).
  const int expected_rank[2][3] = {{0, -1, 1}, {-1, 0, 1}};

  strata::Worker w(args.worker_options(progress, "domain_rank_map"));
  auto allreduce = w.register_kernel("strata_allreduce");
  auto probe = w.register_kernel("rank_map_probe");
  w.init();
  std::vector<strata::Buffer<uint64_t>> probes;
  for (int i = 0; i < 6; ++i) probes.push_back(w.create_buffer<uint64_t>(4));
  Checker check("domain_rank_map");
  struct ProbeWant {
    int chip;
    std::string domain;
    uint64_t rank, window;
  };
  std::vector<ProbeWant> probe_want;
  std::printf("domain_rank_map: 3 chips, domains even = {0, 2} and tail = {1, 2}\n");

  w.run([&](strata::Orchestrator& o) {
    strata::Domain doms[2] = {o.allocate_domain(specs[0]), o.allocate_domain(specs[1])};
    for (int d = 0; d < 2; ++d) {
      std::printf("domain '%s' (allocation %llu):\n", doms[d].name().c_str(),
                  static_cast<unsigned long long>(doms[d].allocation_id()));
      for (int chip : doms[d].workers()) {
        const strata::ChipContext& c = doms[d][chip];
        std::printf("  chip %d: rank %d of %d, window at 0x%llx (%llu bytes), CommContext at 0x%llx\n", chip, c.rank,
                    c.size, static_cast<unsigned long long>(c.window_base),
                    static_cast<unsigned long long>(c.window_size), static_cast<unsigned long long>(c.device_ctx));
      }
    }
    check.expect(doms[1].allocation_id() > doms[0].allocation_id(), "allocation ids increase (even, then tail)");

    // Dense ranks.
    for (int d = 0; d < 2; ++d)
      for (int chip = 0; chip < 3; ++chip) {
        if (expected_rank[d][chip] < 0) continue;
        const strata::ChipContext& c = doms[d][chip];
        check.expect(c.rank == expected_rank[d][chip] && c.size == 2 && c.chip == chip,
                     "chip " + std::to_string(chip) + " is rank " + std::to_string(expected_rank[d][chip]) +
                         " of 2 in '" + doms[d].name() + "'",
                     "rank " + std::to_string(c.rank) + " of " + std::to_string(c.size));
      }

    // A non-member.
    bool rejected = false;
    std::string message;
    try {
      (void)doms[0][1];
    } catch (const strata::UsageError& e) {
      rejected = true;
      message = e.what();
    }
    check.expect(rejected, "indexing chip 1 in 'even' throws strata::UsageError (\"" + message + "\")",
                 "no UsageError was thrown");

    // Chip 2's two windows.
    const strata::ChipContext& e2 = doms[0][2];
    const strata::ChipContext& t2 = doms[1][2];
    const bool disjoint =
        e2.window_base + e2.window_size <= t2.window_base || t2.window_base + t2.window_size <= e2.window_base;
    check.expect(e2.window_base != t2.window_base && disjoint && e2.device_ctx != t2.device_ctx,
                 "chip 2 has two distinct, non-overlapping windows and two CommContexts");
    check.expect(e2.buffer("data").data != t2.buffer("data").data,
                 "chip 2's 'data' buffers differ between the domains");

    // What each chip sees through its CommContext.
    int p = 0;
    std::vector<std::pair<int, int>> probed;  // (domain, chip)
    for (int d = 0; d < 2; ++d)
      for (int chip : doms[d].workers()) {
        o.submit(probe,
                 strata::TaskArgs().output_existing(probes[size_t(p++)].tensor()).scalar(doms[d][chip].device_ctx), {},
                 chip);
        probed.emplace_back(d, chip);
      }

    // One allreduce per domain; chip 2 runs even's, then tail's.
    for (int d = 0; d < 2; ++d)
      for (int chip : doms[d].workers()) {
        std::vector<float> mine(kCount);
        for (size_t i = 0; i < kCount; ++i) mine[i] = value(d, doms[d][chip].rank, i);
        o.copy_to(doms[d][chip].buffer("data"), mine.data());
      }
    for (int d = 0; d < 2; ++d)
      for (int chip : doms[d].workers())
        o.submit(allreduce, strata::TaskArgs().inout(doms[d][chip].buffer("data")).scalar(doms[d][chip].device_ctx), {},
                 chip);
    for (int d = 0; d < 2; ++d) {
      std::vector<float> want(kCount);
      for (size_t i = 0; i < kCount; ++i) want[i] = value(d, 0, i) + value(d, 1, i);
      for (int chip : doms[d].workers()) {
        std::vector<float> got(kCount);
        o.copy_from(got.data(), doms[d][chip].buffer("data"));
        check.exact("allreduce over '" + doms[d].name() + "' on chip " + std::to_string(chip), got.data(), want.data(),
                    kCount);
      }
    }
    for (const auto& [d, chip] : probed)
      probe_want.push_back({chip, doms[d].name(), uint64_t(doms[d][chip].rank), doms[d][chip].window_base});
  });
  // After the run's drain every probe has finished.
  for (size_t q = 0; q < probe_want.size(); ++q) {
    const ProbeWant& pw = probe_want[q];
    const uint64_t* r = probes[q].data();
    check.expect(r[0] == pw.rank && r[1] == 2 && r[2] == pw.window,
                 "chip " + std::to_string(pw.chip) + " reads rank " + std::to_string(pw.rank) +
                     " of 2 and its window base from its CommContext in '" + pw.domain + "'",
                 "read rank " + std::to_string(r[0]) + ", size " + std::to_string(r[1]) + ", window " +
                     std::to_string(r[2]) + " (expected " + std::to_string(pw.window) + ")");
  }
  w.close();
  return check.finish();
} catch (const std::exception& e) {
  std::fprintf(stderr, "domain_rank_map: FAILED: %s\n", e.what());
  return 1;
}
