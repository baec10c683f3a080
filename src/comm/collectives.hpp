// comm/collectives.hpp — the collectives behind the kernels strata ships (strata_allreduce,
// strata_reduce_scatter, strata_broadcast, strata_allgather, strata_alltoall), as functions over a
// CommView (for tests and for kernels of strata's own workloads).
//
// Each is called by one block (`block` of `blocks`) of every rank of the domain; the blocks split the
// data movement, and block b only synchronises with block b of the other ranks (comm_kernel.hpp). Blocks
// at or past kCommMaxBarrierBlocks do nothing. Buffers that peers read must be in the rank's window at
// the same offset on every rank. All ranks must call the same collectives in the same order with the
// same block count. Counts are in elements. Failures (a peer missing past `timeout`) throw
// std::runtime_error; bad arguments std::invalid_argument.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "strata/comm_kernel.hpp"
#include "strata/types.hpp"

namespace strata::comm {

/// The kernels strata ships; a level 3 Worker registers them at init() so the Orchestrator's
/// collective calls find them.
inline constexpr const char* kCollectiveKernels[] = {"strata_allreduce", "strata_reduce_scatter", "strata_broadcast",
                                                     "strata_allgather", "strata_alltoall"};

/// Whether allreduce and reduce-scatter take elements of `dt`: f32, f16, bf16 (reduced in f32), i32,
/// i64.
bool reduce_supports(DType dt) noexcept;
/// "f32, f16, bf16, i32 and i64", for messages.
const char* reduce_dtypes_text() noexcept;

/// The algorithm Auto resolves to for `bytes` over `ranks` ranks.
AllreduceAlgorithm allreduce_pick(size_t bytes, uint32_t ranks) noexcept;

/// In-place reduction with `op` of `count` elements of `dt` at `buf` over all ranks.
void allreduce(const CommView& comm, void* buf, DType dt, size_t count, ReduceOp op, AllreduceAlgorithm algo,
               uint32_t block, uint32_t blocks, std::chrono::nanoseconds timeout);

/// Reduces `count` elements of `dt` at `send` (in the window) over all ranks; rank r receives its part
/// collective_part(count, size, r) of the result at `recv` (not overlapping `send`).
void reduce_scatter(const CommView& comm, const void* send, void* recv, DType dt, size_t count, ReduceOp op,
                    uint32_t block, uint32_t blocks, std::chrono::nanoseconds timeout);

/// Copies `bytes` at `buf` on rank `root` into `buf` on every other rank.
void broadcast(const CommView& comm, void* buf, size_t bytes, uint32_t root, uint32_t block, uint32_t blocks,
               std::chrono::nanoseconds timeout);

/// `buf` holds `count` elements of `elem_size` bytes; on entry part r (collective_part(count, size, r))
/// of rank r's buffer is its input; on return every rank's buffer holds every part.
void allgather(const CommView& comm, void* buf, size_t count, size_t elem_size, uint32_t block, uint32_t blocks,
               std::chrono::nanoseconds timeout);

/// Chunk p of rank r's `send` goes to chunk r of rank p's `recv`. `send` must be in the window; `recv`
/// is written only by its own rank.
void alltoall(const CommView& comm, const void* send, void* recv, size_t chunk_bytes, uint32_t block, uint32_t blocks,
              std::chrono::nanoseconds timeout);

}  // namespace strata::comm
