// examples/dual_domain_overlap.cpp — two overlapping domains live at once on 3 chips: left = {0, 1} and
// right = {1, 2} (chip 1 is in both, with two windows).
//
// Per domain: an allreduce of "data" (rank r contributes i + 100 r + 1000 d for domain d), then one group
// task over the domain's members (Orchestrator::submit_group) computing out = reduce * scale + bias
// elementwise into the "out" buffer (INPUT data, OUTPUT_EXISTING out: it waits for the allreduce through
// the tags). Every member's "data" and "out" are checked against a single-process reference. Exits 1 on
// any mismatch.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "strata/strata.hpp"
#include "workload_util.hpp"

// Tensors: reduced data (INPUT), out (OUTPUT_EXISTING), same count. Scalars: scale, bias (f32). Blocks
// split the elements.
STRATA_KERNEL(overlap_scale_bias) {
  const float* in = ctx.data<float>(0);
  float* out = ctx.data<float>(1);
  const float scale = ctx.scalar<float>(0), bias = ctx.scalar<float>(1);
  const size_t n = ctx.tensor(0).numel(), bd = ctx.block_dim(), b = ctx.block_idx();
  for (size_t i = n * b / bd; i < n * (b + 1) / bd; ++i) out[i] = in[i] * scale + bias;
}

namespace {

constexpr size_t kCount = 5003;

struct DomainCase {
  const char* name;
  std::vector<int> workers;
  float scale, bias;
};

float value(int domain, int rank, size_t i) {
  return static_cast<float>(i + 100 * size_t(rank) + 1000 * size_t(domain));
}

}  // namespace

int main(int argc, char** argv) try {
  const strata::workloads::ExampleArgs args =
      strata::workloads::example_args(argc, argv, "dual_domain_overlap", 3, 3, 3);
  if (args.exit >= 0) return args.exit;
  strata::ProgressLine progress(args.progress);
  using namespace strata::workloads;
  const std::vector<DomainCase> cases = {{"left", {0, 1}, 2.0f, 1.0f}, {"right", {1, 2}, 0.5f, -3.0f}};
  const std::vector<strata::BufferSpec> buffers = {{"data", strata::DType::F32, kCount},
                                                   {"out", strata::DType::F32, kCount}};

  strata::Worker w(args.worker_options(progress, "dual_domain_overlap"));
  auto allreduce = w.register_kernel("strata_allreduce");
  auto scale_bias = w.register_kernel("overlap_scale_bias");
  w.init();
  Checker check("dual_domain_overlap");
  std::printf(
      "dual_domain_overlap: 3 chips, left = {0, 1} (out = sum * 2 + 1), right = {1, 2} (out = sum * 0.5 - 3)\n");

  w.run([&](strata::Orchestrator& o) {
    std::vector<strata::Domain> doms;
    for (const DomainCase& c : cases)
      doms.push_back(o.allocate_domain(
          {.name = c.name, .workers = c.workers, .window_size = window_bytes(buffers), .buffers = buffers}));
    check.expect(doms[0][1].window_base != doms[1][1].window_base,
                 "chip 1 has a window in each domain, at different addresses");

    for (size_t d = 0; d < doms.size(); ++d)
      for (int chip : doms[d].workers()) {
        std::vector<float> mine(kCount);
        for (size_t i = 0; i < kCount; ++i) mine[i] = value(int(d), doms[d][chip].rank, i);
        o.copy_to(doms[d][chip].buffer("data"), mine.data());
      }
    // Both allreduces first (chip 1: left's, then right's), then both group tasks.
    for (size_t d = 0; d < doms.size(); ++d)
      for (int chip : doms[d].workers())
        o.submit(allreduce, strata::TaskArgs().inout(doms[d][chip].buffer("data")).scalar(doms[d][chip].device_ctx),
                 {.block_dim = 2}, chip);
    for (size_t d = 0; d < doms.size(); ++d) {
      std::vector<strata::TaskArgs> parts;
      for (int chip : doms[d].workers())
        parts.push_back(strata::TaskArgs()
                            .input(doms[d][chip].buffer("data"))
                            .output_existing(doms[d][chip].buffer("out"))
                            .scalar(cases[d].scale)
                            .scalar(cases[d].bias));
      o.submit_group(scale_bias, std::move(parts), {.block_dim = 2}, doms[d].workers());
    }

    for (size_t d = 0; d < doms.size(); ++d) {
      std::vector<float> sum(kCount), out(kCount);
      for (size_t i = 0; i < kCount; ++i) {
        sum[i] = value(int(d), 0, i) + value(int(d), 1, i);
        out[i] = sum[i] * cases[d].scale + cases[d].bias;
      }
      for (int chip : doms[d].workers()) {
        std::vector<float> got(kCount);
        const std::string where = "'" + doms[d].name() + "' on chip " + std::to_string(chip);
        o.copy_from(got.data(), doms[d][chip].buffer("data"));
        check.exact("allreduce over " + where, got.data(), sum.data(), kCount);
        o.copy_from(got.data(), doms[d][chip].buffer("out"));
        check.exact("group task reduce * scale + bias over " + where, got.data(), out.data(), kCount);
      }
    }
  });
  w.close();
  return check.finish();
} catch (const std::exception& e) {
  std::fprintf(stderr, "dual_domain_overlap: FAILED: %s\n", e.what());
  return 1;
}
