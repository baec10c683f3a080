// comm/collectives.cpp — strata's collective kernels (strata_allreduce, strata_allgather,
// strata_alltoall), built on the kernel toolkit (strata/comm_kernel.hpp). Arguments and algorithms are
// described in docs/comm-kernels.md.
//
// Every rank works on its peers' windows directly (zero copy): the bandwidth-optimal allreduce has each
// rank read every rank's copy of its own slice once and write the sum once into every window, so a byte
// crosses memory twice and the call costs two barriers. Slices and block parts are cut on 64-byte
// boundaries so that no two ranks write the same cache line.
#include "comm/collectives.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/comm_kernel.hpp"
#include "strata/kernel.hpp"
#include "strata/types.hpp"

namespace strata::comm {
namespace {

constexpr size_t kLine = 64;

struct Range {
  size_t begin = 0, end = 0;
  size_t size() const noexcept { return end - begin; }
};

/// Part i of `parts` contiguous parts of [0, n), cut on multiples of `grain` (the last part takes the
/// remainder; parts may be empty when n is small).
Range split(size_t n, size_t parts, size_t i, size_t grain) noexcept {
  const size_t units = (n + grain - 1) / grain;
  const size_t q = units / parts, rem = units % parts;
  const size_t ub = i * q + std::min(i, rem);
  const size_t ue = ub + q + (i < rem ? 1 : 0);
  return {std::min(ub * grain, n), std::min(ue * grain, n)};
}

uint32_t effective_blocks(uint32_t blocks) noexcept { return std::clamp<uint32_t>(blocks, 1, kCommMaxBarrierBlocks); }

/// For every destination d: out[d][i] = src[0][i] + ... + src[n-1][i], summed in rank order so every
/// rank computes the same bits. A destination may be one of the sources (the tile is read in full
/// before it is written). Works through an L1-sized accumulator so each source is read once and each
/// destination written once, with loops the compiler vectorises (no aliasing with the accumulator).
template <class A>
void reduce_into(A* const* out, uint32_t nout, const A* const* src, uint32_t n, size_t len) noexcept {
  constexpr size_t kTile = 2048;
  alignas(kLine) A acc[kTile];
  for (size_t off = 0; off < len; off += kTile) {
    const size_t m = std::min(kTile, len - off);
    const A* a = src[0] + off;
    if (n == 1) {
      for (size_t i = 0; i < m; ++i) acc[i] = a[i];
    } else {
      const A* b = src[1] + off;
      for (size_t i = 0; i < m; ++i) acc[i] = a[i] + b[i];
    }
    for (uint32_t q = 2; q < n; ++q) {
      const A* c = src[q] + off;
      for (size_t i = 0; i < m; ++i) acc[i] += c[i];
    }
    for (uint32_t d = 0; d < nout; ++d) std::memcpy(out[d] + off, acc, m * sizeof(A));
  }
}

void check_in_window(const CommView& comm, const void* p, size_t bytes, const char* what) {
  if (!comm.in_window(p, bytes))
    throw std::invalid_argument(std::string(what) + " (" + std::to_string(bytes) +
                                " bytes) is not inside this rank's window of the domain (rank " +
                                std::to_string(comm.rank()) + ", window " + std::to_string(comm.window_size()) +
                                " bytes): pass a buffer of the domain, e.g. ChipContext::buffer(name)");
}

/// Element sizes are at most 8 bytes and powers of two, so 64-byte multiples are element multiples.
template <class A>
void allreduce_impl(const CommView& comm, A* buf, size_t count, AllreduceAlgorithm algo, uint32_t block, uint32_t nb,
                    std::chrono::nanoseconds timeout) {
  const uint32_t n = comm.size(), me = comm.rank();
  const size_t grain = kLine / sizeof(A);
  const A* src[STRATA_COMM_MAX_RANKS];
  for (uint32_t q = 0; q < n; ++q) src[q] = comm.peer(buf, q);

  if (algo == AllreduceAlgorithm::Latency) {
    // barrier; sum every window's part into a temporary; barrier (nobody reads a window any more);
    // write back. The next collective starts with a barrier, so no third one is needed.
    const Range part = split(count, nb, block, grain);
    thread_local std::vector<A> scratch;
    if (scratch.size() < part.size()) scratch.resize(part.size());
    const A* shifted[STRATA_COMM_MAX_RANKS];
    for (uint32_t q = 0; q < n; ++q) shifted[q] = src[q] + part.begin;
    A* const tmp = scratch.data();
    comm.barrier(block, timeout);
    reduce_into(&tmp, 1, shifted, n, part.size());
    comm.barrier(block, timeout);
    if (part.size() != 0) std::memcpy(buf + part.begin, tmp, part.size() * sizeof(A));
    return;
  }

  // Bandwidth: barrier; each rank reduces its own slice (1/n of the buffer) from every window and
  // writes the sum into that slice of every window, its own included; barrier (every slice has
  // arrived everywhere, and nobody reads a window any more). Only the slice's owner ever touches a
  // slice during the call, so the in-place writes race with nothing. Each byte is read once and
  // written once per window — fewer passes than reducing in place and then gathering by pull — and
  // the call costs two barriers. Block b handles part b of the slice, so it meets only block b of the
  // peers.
  const Range slice = split(count, n, me, grain);
  const Range p = split(slice.size(), nb, block, grain);
  const Range mine{slice.begin + p.begin, slice.begin + p.end};
  const A* from[STRATA_COMM_MAX_RANKS];
  A* to[STRATA_COMM_MAX_RANKS];
  for (uint32_t q = 0; q < n; ++q) {
    from[q] = src[q] + mine.begin;
    to[q] = comm.peer(buf, (me + 1 + q) % n) + mine.begin;  // staggered: ranks write different windows first
  }
  comm.barrier(block, timeout);
  if (mine.size() != 0) reduce_into(to, n, from, n, mine.size());
  comm.barrier(block, timeout);
}

std::chrono::nanoseconds timeout_scalar(const TaskContext& ctx, size_t i) {
  if (ctx.scalar_count() <= i) return kCommDefaultTimeout;
  const uint64_t ms = ctx.scalar<uint64_t>(i);
  if (ms == 0) return kCommDefaultTimeout;
  if (ms > 1000ull * 3600 * 24 * 365) return std::chrono::nanoseconds::max();
  return std::chrono::milliseconds(ms);
}

const Tensor& tensor_arg(const TaskContext& ctx, size_t i, const char* what) {
  if (ctx.tensor_count() <= i)
    throw std::invalid_argument("tensor " + std::to_string(i) + " (" + what + ") is missing: the task has " +
                                std::to_string(ctx.tensor_count()) + " tensors");
  return ctx.tensor(i);
}

/// Runs a kernel body, prefixing any failure with the kernel's name (the task's error message).
template <class F>
void with_name(const char* name, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(name) + ": " + e.what());
  }
}

}  // namespace

AllreduceAlgorithm allreduce_pick(size_t bytes, uint32_t /*ranks*/) noexcept {
  return bytes <= kAllreduceLatencyMaxBytes ? AllreduceAlgorithm::Latency : AllreduceAlgorithm::Bandwidth;
}

template <class T>
void allreduce(const CommView& comm, T* buf, size_t count, AllreduceAlgorithm algo, uint32_t block, uint32_t blocks,
               std::chrono::nanoseconds timeout) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, int32_t>);
  const uint32_t nb = effective_blocks(blocks);
  if (block >= nb) return;
  if (algo != AllreduceAlgorithm::Auto && algo != AllreduceAlgorithm::Latency && algo != AllreduceAlgorithm::Bandwidth)
    throw std::invalid_argument("unknown allreduce algorithm " + std::to_string(static_cast<uint32_t>(algo)) +
                                " (0 auto, 1 bandwidth, 2 latency)");
  check_in_window(comm, buf, count * sizeof(T), "the allreduce buffer");
  if (comm.size() == 1 || count == 0) return;  // every rank passes the same count: none synchronises
  if (algo == AllreduceAlgorithm::Auto) algo = allreduce_pick(count * sizeof(T), comm.size());
  // Integers wrap on overflow (summed as unsigned: two's complement, no undefined behaviour).
  using A = typename std::conditional_t<std::is_integral_v<T>, std::make_unsigned<T>, std::type_identity<T>>::type;
  allreduce_impl<A>(comm, reinterpret_cast<A*>(buf), count, algo, block, nb, timeout);
}

template void allreduce<float>(const CommView&, float*, size_t, AllreduceAlgorithm, uint32_t, uint32_t,
                               std::chrono::nanoseconds);
template void allreduce<int32_t>(const CommView&, int32_t*, size_t, AllreduceAlgorithm, uint32_t, uint32_t,
                                 std::chrono::nanoseconds);

void allgather(const CommView& comm, void* buf, size_t chunk_bytes, uint32_t block, uint32_t blocks,
               std::chrono::nanoseconds timeout) {
  const uint32_t nb = effective_blocks(blocks), n = comm.size(), me = comm.rank();
  if (block >= nb) return;
  check_in_window(comm, buf, chunk_bytes * n, "the allgather buffer");
  if (n == 1 || chunk_bytes == 0) return;
  auto* base = static_cast<unsigned char*>(buf);
  const Range part = split(chunk_bytes, nb, block, kLine);
  comm.barrier(block, timeout);
  if (part.size() != 0)
    for (uint32_t i = 1; i < n; ++i) {
      const uint32_t q = (me + i) % n;
      const size_t off = q * chunk_bytes + part.begin;
      std::memcpy(base + off, comm.peer(base, q) + off, part.size());
    }
  comm.barrier(block, timeout);
}

void alltoall(const CommView& comm, const void* send, void* recv, size_t chunk_bytes, uint32_t block, uint32_t blocks,
              std::chrono::nanoseconds timeout) {
  const uint32_t nb = effective_blocks(blocks), n = comm.size(), me = comm.rank();
  if (block >= nb) return;
  const size_t total = chunk_bytes * n;
  check_in_window(comm, send, total, "the alltoall send buffer");
  const auto* s = static_cast<const unsigned char*>(send);
  auto* r = static_cast<unsigned char*>(recv);
  if (s < r + total && r < s + total)
    throw std::invalid_argument(
        "the alltoall send and receive buffers overlap (peers read the send buffer "
        "while this rank fills the receive buffer)");
  if (total == 0) return;
  const Range part = split(chunk_bytes, nb, block, kLine);
  if (n > 1) comm.barrier(block, timeout);
  if (part.size() != 0)
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t q = (me + i) % n;
      std::memcpy(r + q * chunk_bytes + part.begin, comm.peer(s, q) + me * chunk_bytes + part.begin, part.size());
    }
  if (n > 1) comm.barrier(block, timeout);
}

}  // namespace strata::comm

namespace {

using strata::AllreduceAlgorithm;
using strata::CommView;
using strata::DType;
using strata::Tensor;

/// numel / size as a chunk, or a clear error when it does not divide.
size_t chunk_of(const Tensor& t, const CommView& comm, const char* what) {
  const size_t numel = t.numel();
  if (numel % comm.size() != 0)
    throw std::invalid_argument(std::string(what) + " has " + std::to_string(numel) +
                                " elements, not a multiple of the domain size " + std::to_string(comm.size()) +
                                " (it holds one equal chunk per rank)");
  return numel / comm.size() * strata::dtype_size(t.dtype);
}

}  // namespace

// tensor 0: this rank's buffer in its window (INOUT), summed in place over all ranks; scalar 0:
// device_ctx; scalar 1 (optional): AllreduceAlgorithm; scalar 2 (optional): timeout in ms (0: default).
STRATA_KERNEL(strata_allreduce) {
  strata::comm::with_name("strata_allreduce", [&] {
    const Tensor& t = strata::comm::tensor_arg(ctx, 0, "the buffer to reduce");
    const CommView comm = CommView::from_task(ctx, 0);
    const auto algo = ctx.scalar_count() > 1 ? ctx.scalar<AllreduceAlgorithm>(1) : AllreduceAlgorithm::Auto;
    const auto timeout = strata::comm::timeout_scalar(ctx, 2);
    if (t.dtype == DType::F32)
      strata::comm::allreduce(comm, t.as<float>(), t.numel(), algo, ctx.block_idx(), ctx.block_dim(), timeout);
    else if (t.dtype == DType::I32)
      strata::comm::allreduce(comm, t.as<int32_t>(), t.numel(), algo, ctx.block_idx(), ctx.block_dim(), timeout);
    else
      throw std::invalid_argument(std::string("dtype ") + strata::dtype_name(t.dtype) +
                                  " is not supported (float32 and int32 are)");
  });
}

// tensor 0: this rank's buffer of size * chunk elements in its window, chunk r holding rank r's input
// (INOUT); scalar 0: device_ctx; scalar 1 (optional): timeout in ms.
STRATA_KERNEL(strata_allgather) {
  strata::comm::with_name("strata_allgather", [&] {
    const Tensor& t = strata::comm::tensor_arg(ctx, 0, "the gather buffer");
    const CommView comm = CommView::from_task(ctx, 0);
    const size_t chunk = chunk_of(t, comm, "tensor 0");
    strata::comm::allgather(comm, t.data, chunk, ctx.block_idx(), ctx.block_dim(),
                            strata::comm::timeout_scalar(ctx, 1));
  });
}

// tensor 0: send buffer (size * chunk elements, chunk p for rank p) in the window (INPUT); tensor 1:
// receive buffer of the same dtype and size (chunk p from rank p; OUTPUT_EXISTING or INOUT); scalar 0:
// device_ctx; scalar 1 (optional): timeout in ms.
STRATA_KERNEL(strata_alltoall) {
  strata::comm::with_name("strata_alltoall", [&] {
    const Tensor& send = strata::comm::tensor_arg(ctx, 0, "the send buffer");
    const Tensor& recv = strata::comm::tensor_arg(ctx, 1, "the receive buffer");
    const CommView comm = CommView::from_task(ctx, 0);
    if (send.dtype != recv.dtype || send.numel() != recv.numel())
      throw std::invalid_argument("the send buffer (" + std::to_string(send.numel()) + " x " +
                                  strata::dtype_name(send.dtype) + ") and the receive buffer (" +
                                  std::to_string(recv.numel()) + " x " + strata::dtype_name(recv.dtype) +
                                  ") differ in dtype or size");
    const size_t chunk = chunk_of(send, comm, "tensor 0");
    strata::comm::alltoall(comm, send.data, recv.data, chunk, ctx.block_idx(), ctx.block_dim(),
                           strata::comm::timeout_scalar(ctx, 1));
  });
}
