// examples/allreduce.cpp — strata_allreduce over one domain of N chips (2..16).
//
// Rank r contributes x_r[i] = i + 100 r; after the in-place allreduce every rank must hold
// sum_r x_r[i] = N i + 100 N (N - 1) / 2 exactly (small integers: f32 sums are exact whatever the order).
// Cases: float32 and int32, a small buffer (the latency-optimal algorithm under Auto) and a large one
// (bandwidth-optimal), counts not divisible by N, both algorithms forced explicitly, one case submitted
// as a group task and the others as one task per member. Exits 1 on any mismatch.
//
//   allreduce [chips]     (2..16, default 4)
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "strata/comm_kernel.hpp"
#include "strata/strata.hpp"
#include "workload_util.hpp"

namespace {

using strata::AllreduceAlgorithm;
using strata::DType;

struct Case {
  const char* buffer;
  DType dtype;
  size_t count;
  AllreduceAlgorithm algo;
  bool group;  // one group task instead of one task per member
};

const char* algo_name(AllreduceAlgorithm a, size_t bytes) {
  switch (a) {
    case AllreduceAlgorithm::Bandwidth:
      return "bandwidth-optimal";
    case AllreduceAlgorithm::Latency:
      return "latency-optimal";
    default:
      return bytes <= strata::kAllreduceLatencyMaxBytes ? "auto -> latency-optimal" : "auto -> bandwidth-optimal";
  }
}

template <class T>
std::vector<T> contribution(size_t count, int rank) {
  std::vector<T> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = static_cast<T>(i + 100 * static_cast<size_t>(rank));
  return v;
}

template <class T>
std::vector<T> expected_sum(size_t count, int n) {
  std::vector<T> v(count);
  for (size_t i = 0; i < count; ++i)
    v[i] = static_cast<T>(static_cast<size_t>(n) * i + 100 * static_cast<size_t>(n * (n - 1) / 2));
  return v;
}

}  // namespace

int main(int argc, char** argv) try {
  using namespace strata::workloads;
  const ExampleArgs args = example_args(argc, argv, "allreduce", 2, 16, 4);
  if (args.exit >= 0) return args.exit;
  const int n = args.chips;
  strata::ProgressLine progress(args.progress);

  const std::vector<Case> cases = {
      {"f32_small", DType::F32, 1001, AllreduceAlgorithm::Auto, true},
      {"i32_small", DType::I32, 1001, AllreduceAlgorithm::Auto, false},
      {"f32_large", DType::F32, 100003, AllreduceAlgorithm::Auto, false},
      {"i32_large", DType::I32, 100003, AllreduceAlgorithm::Auto, true},
      {"f32_bandwidth", DType::F32, 4099, AllreduceAlgorithm::Bandwidth, false},
      {"f32_latency", DType::F32, 40009, AllreduceAlgorithm::Latency, false},
      {"i32_one", DType::I32, 1, AllreduceAlgorithm::Auto, false},
  };
  strata::DomainSpec spec{.name = "world", .workers = {}, .window_size = 0, .buffers = {}};
  for (int c = 0; c < n; ++c) spec.workers.push_back(c);
  for (const Case& k : cases) spec.buffers.push_back({k.buffer, k.dtype, k.count});
  spec.window_size = window_bytes(spec.buffers);
  std::printf("allreduce: one domain over %d chips; rank r contributes i + 100 r\n", n);

  strata::Worker w(args.worker_options(progress, "allreduce"));
  auto allreduce = w.register_kernel("strata_allreduce");
  w.init();
  Checker check("allreduce");

  w.run([&](strata::Orchestrator& o) {
    strata::Domain world = o.allocate_domain(spec);
    check.expect(world.size() == n, "domain 'world' has " + std::to_string(n) + " members");
    for (int c = 0; c < n; ++c)
      check.expect(world[c].rank == c && world[c].size == n,
                   "chip " + std::to_string(c) + " is rank " + std::to_string(c) + " of " + std::to_string(n),
                   "rank " + std::to_string(world[c].rank) + " of " + std::to_string(world[c].size));

    // Load every rank's contribution, then submit every case (the cases use different buffers, so their
    // tasks are independent; on each chip they run in submission order).
    for (const Case& k : cases)
      for (int c = 0; c < n; ++c) {
        const strata::DomainBuffer& b = world[c].buffer(k.buffer);
        if (k.dtype == DType::F32)
          o.copy_to(b, contribution<float>(k.count, c).data());
        else
          o.copy_to(b, contribution<int32_t>(k.count, c).data());
      }
    for (const Case& k : cases) {
      const uint32_t block_dim = k.count > 10000 ? 2 : 1;
      auto args_of = [&](int c) {
        return strata::TaskArgs()
            .inout(world[c].buffer(k.buffer))
            .scalar(world[c].device_ctx)
            .scalar(static_cast<uint32_t>(k.algo));
      };
      if (k.group) {
        std::vector<strata::TaskArgs> parts;
        for (int c = 0; c < n; ++c) parts.push_back(args_of(c));
        o.submit_group(allreduce, std::move(parts), {.block_dim = block_dim}, world.workers());
      } else {
        for (int c = 0; c < n; ++c) o.submit(allreduce, args_of(c), {.block_dim = block_dim}, c);
      }
    }

    // Check every rank's result (copy_from waits for the allreduce that wrote the buffer).
    for (const Case& k : cases) {
      const size_t bytes = k.count * strata::dtype_size(k.dtype);
      const std::string what = std::string(k.buffer) + " (" + strata::dtype_name(k.dtype) + " x " +
                               std::to_string(k.count) + ", " + algo_name(k.algo, bytes) +
                               (k.group ? ", group task" : ", one task per chip") + ")";
      for (int c = 0; c < n; ++c) {
        const std::string who = what + " on rank " + std::to_string(c);
        if (k.dtype == DType::F32) {
          std::vector<float> got(k.count);
          o.copy_from(got.data(), world[c].buffer(k.buffer));
          check.exact(who, got.data(), expected_sum<float>(k.count, n).data(), k.count);
        } else {
          std::vector<int32_t> got(k.count);
          o.copy_from(got.data(), world[c].buffer(k.buffer));
          check.exact(who, got.data(), expected_sum<int32_t>(k.count, n).data(), k.count);
        }
      }
    }
  });
  w.close();
  return check.finish();
} catch (const std::exception& e) {
  std::fprintf(stderr, "allreduce: FAILED: %s\n", e.what());
  return 1;
}
