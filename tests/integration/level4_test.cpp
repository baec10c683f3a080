// Integration tests of a level-4 Worker: two level-3 children, each with its own chips forked inside the
// child, running an orchestration function registered on the pod; and an error raised three levels
// down coming back with the chain of where it happened.
#include <array>
#include <cstdint>
#include <stdexcept>
#include <strata/strata.hpp>
#include <string>

#include "integration/integration_util.hpp"

namespace {

using strata::TaskArgs;
using strata::test::capture;
using strata::test::slice;
using strata::test::zero;

class Level4Test : public strata::test::LeakCheckedTest {};

// y[i] = a * x[i] + b
STRATA_KERNEL(l4_affine) {
  const int64_t* x = ctx.data<int64_t>(0);
  int64_t* y = ctx.data<int64_t>(1);
  const int64_t a = ctx.scalar<int64_t>(0), b = ctx.scalar<int64_t>(1);
  for (size_t i = ctx.block_idx(); i < ctx.tensor(0).numel(); i += ctx.block_dim()) y[i] = a * x[i] + b;
}

STRATA_KERNEL(l4_fail) { throw std::runtime_error("deep failure " + std::to_string(ctx.scalar<int64_t>(0))); }

constexpr int kNodes = 2, kChipsPerNode = 2;
constexpr size_t kPerChip = 256, kPerNode = kChipsPerNode * kPerChip;

// What chip c of node n adds: distinct for every (node, chip) so a task run in the wrong place shows.
int64_t offset_of(int node, int chip) { return 100 * node + chip; }

struct Pod {
  strata::Worker pod{{.level = 4}};
  std::array<strata::Kernel, kNodes> affine{};
  std::array<strata::Kernel, kNodes> fail{};
  strata::OrchFn node_fn, fail_fn;

  Pod() {
    for (int n = 0; n < kNodes; ++n) {
      strata::Worker& node = pod.add_worker({.chips = kChipsPerNode});
      affine[n] = node.register_kernel("l4_affine");
      fail[n] = node.register_kernel("l4_fail");
    }
    // Runs inside node process `c.worker_index()`, on that node's own Worker: splits its slice over its
    // chips. The kernel handles are looked up per node (each level-3 Worker numbers its own kernels).
    node_fn = pod.register_orch(
        [kernels = affine](strata::Orchestrator& o, const strata::TaskContext& c) {
          const int node = c.worker_index();
          const auto* x = c.data<int64_t>(0);
          auto* y = c.data<int64_t>(1);
          const int64_t a = c.scalar<int64_t>(0);
          for (int chip = 0; chip < o.chip_count(); ++chip)
            o.submit(kernels[node],
                     TaskArgs()
                         .input(strata::Tensor::of(x + chip * kPerChip, kPerChip))
                         .output_existing(strata::Tensor::of(y + chip * kPerChip, kPerChip))
                         .scalar(a)
                         .scalar(offset_of(node, chip)),
                     {.block_dim = 2}, chip);
        },
        "l4_node_affine");
    fail_fn = pod.register_orch(
        [kernels = affine, failing = fail](strata::Orchestrator& o, const strata::TaskContext& c) {
          const int node = c.worker_index();
          auto* y = c.data<int64_t>(0);
          o.submit(failing[node], TaskArgs().inout(strata::Tensor::of(y, kPerChip)).scalar(int64_t{99}), {}, 1);
          // Depends on the failing task: must not run.
          o.submit(kernels[node],
                   TaskArgs()
                       .input(strata::Tensor::of(y, kPerChip))
                       .output_existing(strata::Tensor::of(y + kPerChip, kPerChip))
                       .scalar(int64_t{1})
                       .scalar(int64_t{1}),
                   {}, 0);
        },
        "l4_node_fail");
  }
};

void run_affine(strata::Worker& pod, strata::OrchFn fn, const strata::Buffer<int64_t>& x,
                const strata::Buffer<int64_t>& y) {
  pod.run([&](strata::Orchestrator& o) {
    for (int n = 0; n < kNodes; ++n)
      o.submit(fn,
               TaskArgs()
                   .input(slice(x, n * kPerNode, kPerNode))
                   .output_existing(slice(y, n * kPerNode, kPerNode))
                   .scalar(int64_t{n + 2}),
               {}, n);
  });
}

void expect_affine(const strata::Buffer<int64_t>& x, const strata::Buffer<int64_t>& y) {
  for (int n = 0; n < kNodes; ++n)
    for (int chip = 0; chip < kChipsPerNode; ++chip)
      for (size_t i = 0; i < kPerChip; ++i) {
        const size_t at = n * kPerNode + chip * kPerChip + i;
        ASSERT_EQ(y[at], (n + 2) * x[at] + offset_of(n, chip))
            << "node " << n << ", chip " << chip << ", element " << i;
      }
}

TEST_F(Level4Test, PodOfTwoNodesRunsOrchestrationOnEachNodesChips) {
  STRATA_SKIP_UNDER_TSAN();  // a node forks its chips from a forked process
  Pod p;
  p.pod.init();
  EXPECT_EQ(p.pod.level(), 4);
  EXPECT_EQ(p.pod.worker_count(), kNodes);
  auto x = p.pod.create_buffer<int64_t>(kNodes * kPerNode);
  auto y = p.pod.create_buffer<int64_t>(kNodes * kPerNode);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int64_t>(i * 3 % 1001) - 500;
  zero(y);

  run_affine(p.pod, p.node_fn, x, y);
  expect_affine(x, y);
  p.pod.close();
}

TEST_F(Level4Test, ErrorThreeLevelsDownComesUpWithItsChain) {
  STRATA_SKIP_UNDER_TSAN();  // a node forks its chips from a forked process
  Pod p;
  p.pod.init();
  auto x = p.pod.create_buffer<int64_t>(kNodes * kPerNode);
  auto y = p.pod.create_buffer<int64_t>(kNodes * kPerNode);
  auto scratch = p.pod.create_buffer<int64_t>(2 * kPerChip);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int64_t>(i) - 77;
  zero(y), zero(scratch);

  auto err = capture<strata::TaskError>(
      [&] {
        p.pod.run([&](strata::Orchestrator& o) { o.submit(p.fail_fn, TaskArgs().inout(scratch.tensor()), {}, 1); });
      },
      "pod.run() with a kernel failing on chip 1 of node 1");
  ASSERT_TRUE(err);
  // The pod's view: the task it submitted failed on its worker child 1 ...
  EXPECT_EQ(err->child_kind(), strata::ChildKind::Worker);
  EXPECT_EQ(err->child_index(), 1);
  EXPECT_EQ(err->task_name(), "l4_node_fail");
  // ... and the message carries the chain below: the chip of that node and the kernel's own words.
  STRATA_EXPECT_CONTAINS(err->what(), "worker 1");
  STRATA_EXPECT_CONTAINS(err->what(), "chip 1");
  STRATA_EXPECT_CONTAINS(err->what(), "deep failure 99");
  STRATA_EXPECT_CONTAINS(err->what(),
                         "task #" + std::to_string(err->task_id()) + " 'l4_node_fail' failed on L3 worker 1: task #");
  STRATA_EXPECT_CONTAINS(err->what(), "'l4_fail' failed on chip 1: std::runtime_error: deep failure 99");
  // ... and as data: the innermost failure, and every level.
  EXPECT_EQ(err->message(), "deep failure 99");
  EXPECT_EQ(err->error_type(), "std::runtime_error");
  ASSERT_EQ(err->frames().size(), 2u);
  const strata::Frame& pod_level = err->frames()[0];
  EXPECT_EQ(pod_level.level, 4);
  EXPECT_EQ(pod_level.task_id, err->task_id());
  EXPECT_EQ(pod_level.task_name, "l4_node_fail");
  EXPECT_EQ(pod_level.child_kind, strata::ChildKind::Worker);
  EXPECT_EQ(pod_level.child_index, 1);
  const strata::Frame& node_level = err->frames()[1];
  EXPECT_EQ(node_level.level, 3);
  EXPECT_GT(node_level.task_id, 0u);
  EXPECT_EQ(node_level.task_name, "l4_fail");
  EXPECT_EQ(node_level.child_kind, strata::ChildKind::Chip);
  EXPECT_EQ(node_level.child_index, 1);
  for (size_t i = kPerChip; i < 2 * kPerChip; ++i) ASSERT_EQ(scratch[i], 0) << "the dependent of the failed kernel ran";

  // Nothing died: the pod, its nodes and their chips serve the next run.
  run_affine(p.pod, p.node_fn, x, y);
  expect_affine(x, y);
  p.pod.close();
}

}  // namespace
