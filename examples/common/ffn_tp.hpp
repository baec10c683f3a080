// examples/common/ffn_tp.hpp — a tensor-parallel feed-forward layer, Y = relu(X·W1)·W2, over the chips
// of one communication domain; shared by examples/ffn_tp.cpp and `strata demo`.
//
// The hidden dimension F is cut into one contiguous slice per chip: chip c holds the columns
// [f_c, f_{c+1}) of W1 and the same rows of W2, so its partial product relu(X·W1_c)·W2_c is a full
// T x D matrix and Y is the sum of the partials. The graph, per forward pass:
//   allocate  a domain over the chips, each window holding x, w1, w2 (its shards) and y;
//   load      X and each chip's shards copied into its window (Orchestrator::copy_to);
//   compute   one kernel per chip writing its partial into its y (OUTPUT_EXISTING);
//   reduce    strata_allreduce per chip with INOUT on the same y: it depends on that chip's matmul by
//             tag inference alone (read-after-write on y), no explicit ordering;
//   fetch     every chip's y copied back (Orchestrator::copy_from).
#pragma once

#include <cstdint>
#include <cstdio>
#include <vector>

#include "strata/strata.hpp"

namespace strata::workloads {

struct FfnShape {
  int64_t tokens = 32;    // T: rows of X
  int64_t d_model = 128;  // D: columns of X and Y
  int64_t d_ff = 512;     // F: the hidden dimension that is sharded
  int chips = 2;
};

/// First hidden column of chip `chip`'s shard (chip == chips gives F).
int64_t ffn_shard_begin(const FfnShape& s, int chip);
/// The widest shard.
int64_t ffn_shard_max(const FfnShape& s);
/// Multiply-adds of one forward pass, times two.
double ffn_flops(const FfnShape& s);

/// Deterministic inputs: X (T x D) in [-1, 1), W1 (D x F) and W2 (F x D) scaled by 1/sqrt of their
/// inner dimension so that Y stays of order one.
void ffn_make_inputs(const FfnShape& s, float* x, float* w1, float* w2, uint64_t seed);
/// The single-process reference, row-major: y (T x D) = relu(x·w1)·w2.
void ffn_reference(const FfnShape& s, const float* x, const float* w1, const float* w2, float* y);
/// ffn_reference as a host callable (for a host helper): tensors x, w1, w2 (INPUT) and y
/// (OUTPUT_EXISTING); scalars T, D, F.
void ffn_reference_task(const TaskContext& ctx);
/// Absolute tolerance for Y against the reference (f32 sums in different orders).
double ffn_tolerance(const FfnShape& s);

struct FfnTimings {
  double allocate_ms = 0, load_ms = 0, compute_ms = 0, communicate_ms = 0, fetch_ms = 0;
};

struct FfnRunOptions {
  uint32_t block_dim = 2;
  /// Progress lines go here as the phases happen (nullptr: quiet).
  std::FILE* progress = nullptr;
  const char* domain_name = "ffn_tp";
};

/// The FFN workload on one Worker: registers its kernels at construction (before or after init()).
class FfnTp {
 public:
  explicit FfnTp(Worker& w);

  /// One forward pass inside a run, over chips 0..s.chips-1. Fills `ys` with every chip's Y (each
  /// T x D; all equal the full product after the allreduce) and returns the time of each phase:
  /// compute from the first matmul's start to the last one's end (measured in the kernels),
  /// communicate from there to the last allreduce's end.
  FfnTimings forward(Orchestrator& o, const FfnShape& s, const float* x, const float* w1, const float* w2,
                     std::vector<std::vector<float>>* ys, const FfnRunOptions& opt = {});

 private:
  Kernel matmul_, allreduce_, stamp_;
  Buffer<int64_t> stamps_;  // per chip: matmul start, matmul end, allreduce end (ns, monotonic clock)
};

}  // namespace strata::workloads
