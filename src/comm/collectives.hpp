// comm/collectives.hpp — the collectives behind the strata_allreduce, strata_allgather and strata_alltoall
// kernels, as functions over a CommView (for tests and for kernels of strata's own workloads).
//
// Each is called by one block (`block` of `blocks`) of every rank of the domain; the blocks split the
// data movement, and block b only synchronises with block b of the other ranks (comm_kernel.hpp). Blocks
// at or past kCommMaxBarrierBlocks do nothing. Buffers that peers read must be in the rank's window at
// the same offset on every rank. All ranks must call the same collectives in the same order with the
// same block count. Failures (a peer missing past `timeout`) throw std::runtime_error.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "strata/comm_kernel.hpp"

namespace strata::comm {

/// The algorithm Auto resolves to for `bytes` over `ranks` ranks.
AllreduceAlgorithm allreduce_pick(size_t bytes, uint32_t ranks) noexcept;

/// In-place sum of `count` elements of T (float or int32_t) at `buf` over all ranks.
template <class T>
void allreduce(const CommView& comm, T* buf, size_t count, AllreduceAlgorithm algo, uint32_t block, uint32_t blocks,
               std::chrono::nanoseconds timeout);

/// `buf` holds size() chunks of `chunk_bytes`; on entry chunk r of rank r's buffer is its input; on
/// return every rank's buffer holds every chunk.
void allgather(const CommView& comm, void* buf, size_t chunk_bytes, uint32_t block, uint32_t blocks,
               std::chrono::nanoseconds timeout);

/// Chunk p of rank r's `send` goes to chunk r of rank p's `recv`. `send` must be in the window; `recv`
/// is written only by its own rank.
void alltoall(const CommView& comm, const void* send, void* recv, size_t chunk_bytes, uint32_t block, uint32_t blocks,
              std::chrono::nanoseconds timeout);

}  // namespace strata::comm
