// comm/collectives.cpp — strata's collective kernels (strata_allreduce, strata_reduce_scatter,
// strata_broadcast, strata_allgather, strata_alltoall), built on the kernel toolkit
// (strata/comm_kernel.hpp). Arguments and algorithms are described in docs/comm-kernels.md.
//
// Every rank works on its peers' windows directly (zero copy): the bandwidth-optimal allreduce has each
// rank read every rank's copy of its own slice once and write the result once into every window, so a
// byte crosses memory twice and the call costs two barriers. Slices and block parts are cut on 64-byte
// boundaries so that no two ranks write the same cache line.
//
// Reductions run tile by tile through an L1-sized accumulator. 16-bit floats are widened to f32 as they
// are read (inline bit manipulation, strata/half.hpp), reduced in f32 and narrowed once per tile, so the
// loops vectorise and every rank computes the same bits. On CPUs with AVX512-BF16, bf16 takes a faster
// path with the same bits (comm/bf16_avx512.hpp).
#include "comm/collectives.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "comm/bf16_avx512.hpp"
#include "strata/comm_kernel.hpp"
#include "strata/half.hpp"
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

// ---- element codecs and operators ------------------------------------------------------------------

/// Elements reduced as they are stored (f32; integers, summed as unsigned so they wrap).
template <class E>
struct Native {
  using Elem = E;
  using Acc = E;
  static Acc widen(Elem e) noexcept { return e; }
};

// The reduction loops are compiled three times on x86-64, for AVX-512 (x86-64-v4), AVX2 and the
// baseline, and the loader picks one per machine (an ifunc): the baseline's SSE2 widens and narrows
// 16-bit floats four at a time, AVX2 eight and AVX-512 sixteen, and the 16-bit reductions are bound by
// those conversions, not by memory (AVX-512 brings bf16 to about the speed of f32 per element).
//
// Not under ThreadSanitizer: the loader runs the ifunc resolver while relocating libstrata, before the
// TSan runtime is up, and the instrumented resolver crashes the program.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRATA_NO_VECTOR_CLONES 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define STRATA_NO_VECTOR_CLONES 1
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(STRATA_NO_VECTOR_CLONES)
#define STRATA_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#define STRATA_VECTOR_CLONES_ON 1
#else
#define STRATA_VECTOR_CLONES
#endif

#if defined(STRATA_VECTOR_CLONES_ON)
// In the AVX2 and AVX-512 copies of the reduction loops (STRATA_VECTOR_CLONES) the compiler's own
// vectorisation of the scalar conversion (256- and 512-bit packs) beats float_to_bf16's SSE2 form; the
// baseline copy keeps that.
const bool kNarrowByCompiler = [] {
  __builtin_cpu_init();  // this initialiser may run before libgcc's
  return __builtin_cpu_supports("avx2") != 0;
}();
#else
constexpr bool kNarrowByCompiler = false;
#endif

struct Bf16 {
  using Elem = uint16_t;
  using Acc = float;
  static float widen(uint16_t e) noexcept { return float_from_bf16(e); }
  static void narrow(const float* a, uint16_t* e, size_t n) noexcept {
    if (kNarrowByCompiler) {
      for (size_t i = 0; i < n; ++i) e[i] = bf16_from_float(a[i]);
    } else {
      float_to_bf16(a, e, n);
    }
  }
};
struct F16 {
  using Elem = uint16_t;
  using Acc = float;
  static float widen(uint16_t e) noexcept { return float_from_f16(e); }
  static void narrow(const float* a, uint16_t* e, size_t n) noexcept { float_to_f16(a, e, n); }
};

struct OpSum {
  static constexpr ReduceOp kOp = ReduceOp::Sum;
  template <class A>
  static A apply(A a, A b) noexcept {
    return a + b;
  }
};
struct OpMax {
  static constexpr ReduceOp kOp = ReduceOp::Max;
  template <class A>
  static A apply(A a, A b) noexcept {
    return a < b ? b : a;
  }
};
struct OpMin {
  static constexpr ReduceOp kOp = ReduceOp::Min;
  template <class A>
  static A apply(A a, A b) noexcept {
    return b < a ? b : a;
  }
};

/// Avg's last step: the sum divided by the rank count (integers: as signed, truncating).
template <class A>
void divide(A* acc, size_t m, uint32_t n) noexcept {
  if constexpr (std::is_floating_point_v<A>) {
    const A d = static_cast<A>(n);
    for (size_t i = 0; i < m; ++i) acc[i] = acc[i] / d;
  } else {
    using S = std::make_signed_t<A>;
    const S d = static_cast<S>(n);
    for (size_t i = 0; i < m; ++i) acc[i] = static_cast<A>(static_cast<S>(acc[i]) / d);
  }
}

/// For every destination d: out[d][i] = op(src[0][i], ..., src[n-1][i]), combined in rank order so every
/// rank computes the same bits (then divided by n when `avg`). A destination may be one of the sources
/// (the tile is read in full before it is written). Works through an L1-sized accumulator so each source
/// is read once and each destination written once, with loops the compiler vectorises (no aliasing with
/// the accumulator).
template <class C, class Op>
STRATA_VECTOR_CLONES void reduce_into(typename C::Elem* const* out, uint32_t nout, const typename C::Elem* const* src,
                                      uint32_t n, size_t len, bool avg) noexcept {
  if constexpr (std::is_same_v<C, Bf16>) {
    if (bf16_avx512_available()) return reduce_bf16_avx512(out, nout, src, n, len, avg ? ReduceOp::Avg : Op::kOp);
  }
  using E = typename C::Elem;
  using A = typename C::Acc;
  constexpr bool kNative = std::is_same_v<E, A>;
  constexpr size_t kTile = 2048;
  alignas(kLine) A acc[kTile];
  alignas(kLine) E packed[kNative ? 1 : kTile];
  for (size_t off = 0; off < len; off += kTile) {
    const size_t m = std::min(kTile, len - off);
    const E* a = src[0] + off;
    if (n == 1) {
      for (size_t i = 0; i < m; ++i) acc[i] = C::widen(a[i]);
    } else {
      const E* b = src[1] + off;
      for (size_t i = 0; i < m; ++i) acc[i] = Op::apply(C::widen(a[i]), C::widen(b[i]));
    }
    for (uint32_t q = 2; q < n; ++q) {
      const E* c = src[q] + off;
      for (size_t i = 0; i < m; ++i) acc[i] = Op::apply(acc[i], C::widen(c[i]));
    }
    if (avg) divide(acc, m, n);
    const E* result;
    if constexpr (kNative) {
      result = acc;
    } else {
      C::narrow(acc, packed, m);
      result = packed;
    }
    for (uint32_t d = 0; d < nout; ++d) std::memcpy(out[d] + off, result, m * sizeof(E));
  }
}

/// Calls f.template operator()<Codec, Op>() for the dtype and operator (avg reduces with OpSum).
template <class F>
void with_reduction(DType dt, ReduceOp op, F&& f) {
  auto with_op = [&]<class C>() {
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Avg:
        return f.template operator()<C, OpSum>();
      case ReduceOp::Max:
        return f.template operator()<C, OpMax>();
      case ReduceOp::Min:
        return f.template operator()<C, OpMin>();
    }
    throw std::invalid_argument("unknown reduce op " + std::to_string(static_cast<uint32_t>(op)) +
                                " (0 sum, 1 max, 2 min, 3 avg)");
  };
  // Integers: sum and avg in unsigned arithmetic (wraps, two's complement, no undefined behaviour);
  // max and min compare as signed.
  const bool wraps = op == ReduceOp::Sum || op == ReduceOp::Avg;
  switch (dt) {
    case DType::F32:
      return with_op.template operator()<Native<float>>();
    case DType::BF16:
      return with_op.template operator()<Bf16>();
    case DType::F16:
      return with_op.template operator()<F16>();
    case DType::I32:
      return wraps ? with_op.template operator()<Native<uint32_t>>() : with_op.template operator()<Native<int32_t>>();
    case DType::I64:
      return wraps ? with_op.template operator()<Native<uint64_t>>() : with_op.template operator()<Native<int64_t>>();
    default:
      break;
  }
  throw std::invalid_argument(std::string("dtype ") + dtype_name(dt) + " is not supported (" + reduce_dtypes_text() +
                              " are)");
}

void check_in_window(const CommView& comm, const void* p, size_t bytes, const char* what) {
  if (!comm.in_window(p, bytes))
    throw std::invalid_argument(std::string(what) + " (" + std::to_string(bytes) +
                                " bytes) is not inside this rank's window of the domain (rank " +
                                std::to_string(comm.rank()) + ", window " + std::to_string(comm.window_size()) +
                                " bytes): pass a buffer of the domain, e.g. ChipContext::buffer(name)");
}

void check_op(ReduceOp op) {
  if (static_cast<uint32_t>(op) > static_cast<uint32_t>(ReduceOp::Avg))
    throw std::invalid_argument("unknown reduce op " + std::to_string(static_cast<uint32_t>(op)) +
                                " (0 sum, 1 max, 2 min, 3 avg)");
}

/// Element sizes are at most 8 bytes and powers of two, so 64-byte multiples are element multiples.
template <class C, class Op>
void allreduce_impl(const CommView& comm, typename C::Elem* buf, size_t count, AllreduceAlgorithm algo, bool avg,
                    uint32_t block, uint32_t nb, std::chrono::nanoseconds timeout) {
  using E = typename C::Elem;
  const uint32_t n = comm.size(), me = comm.rank();
  const size_t grain = kLine / sizeof(E);
  const E* src[STRATA_COMM_MAX_RANKS];
  for (uint32_t q = 0; q < n; ++q) src[q] = comm.peer(buf, q);

  if (algo == AllreduceAlgorithm::Latency) {
    // barrier; reduce every window's part into a temporary; barrier (nobody reads a window any more);
    // write back. The next collective starts with a barrier, so no third one is needed.
    const Range part = split(count, nb, block, grain);
    thread_local std::vector<E> scratch;
    if (scratch.size() < part.size()) scratch.resize(part.size());
    const E* shifted[STRATA_COMM_MAX_RANKS];
    for (uint32_t q = 0; q < n; ++q) shifted[q] = src[q] + part.begin;
    E* const tmp = scratch.data();
    comm.barrier(block, timeout);
    reduce_into<C, Op>(&tmp, 1, shifted, n, part.size(), avg);
    comm.barrier(block, timeout);
    if (part.size() != 0) std::memcpy(buf + part.begin, tmp, part.size() * sizeof(E));
    return;
  }

  // Bandwidth: barrier; each rank reduces its own slice (1/n of the buffer) from every window and
  // writes the result into that slice of every window, its own included; barrier (every slice has
  // arrived everywhere, and nobody reads a window any more). Only the slice's owner ever touches a
  // slice during the call, so the in-place writes race with nothing. Each byte is read once and
  // written once per window — fewer passes than reducing in place and then gathering by pull — and
  // the call costs two barriers. Block b handles part b of the slice, so it meets only block b of the
  // peers.
  const Range slice = split(count, n, me, grain);
  const Range p = split(slice.size(), nb, block, grain);
  const Range mine{slice.begin + p.begin, slice.begin + p.end};
  const E* from[STRATA_COMM_MAX_RANKS];
  E* to[STRATA_COMM_MAX_RANKS];
  for (uint32_t q = 0; q < n; ++q) {
    from[q] = src[q] + mine.begin;
    to[q] = comm.peer(buf, (me + 1 + q) % n) + mine.begin;  // staggered: ranks write different windows first
  }
  comm.barrier(block, timeout);
  if (mine.size() != 0) reduce_into<C, Op>(to, n, from, n, mine.size(), avg);
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

bool reduce_supports(DType dt) noexcept {
  return dt == DType::F32 || dt == DType::F16 || dt == DType::BF16 || dt == DType::I32 || dt == DType::I64;
}

const char* reduce_dtypes_text() noexcept { return "f32, f16, bf16, i32 and i64"; }

void allreduce(const CommView& comm, void* buf, DType dt, size_t count, ReduceOp op, AllreduceAlgorithm algo,
               uint32_t block, uint32_t blocks, std::chrono::nanoseconds timeout) {
  const uint32_t nb = effective_blocks(blocks);
  if (block >= nb) return;
  if (algo != AllreduceAlgorithm::Auto && algo != AllreduceAlgorithm::Latency && algo != AllreduceAlgorithm::Bandwidth)
    throw std::invalid_argument("unknown allreduce algorithm " + std::to_string(static_cast<uint32_t>(algo)) +
                                " (0 auto, 1 bandwidth, 2 latency)");
  check_op(op);
  with_reduction(dt, op, [&]<class C, class Op>() {
    using E = typename C::Elem;
    check_in_window(comm, buf, count * sizeof(E), "the allreduce buffer");
    if (comm.size() == 1 || count == 0) return;  // every rank passes the same count: none synchronises
    const AllreduceAlgorithm a =
        algo == AllreduceAlgorithm::Auto ? allreduce_pick(count * sizeof(E), comm.size()) : algo;
    allreduce_impl<C, Op>(comm, static_cast<E*>(buf), count, a, op == ReduceOp::Avg, block, nb, timeout);
  });
}

void reduce_scatter(const CommView& comm, const void* send, void* recv, DType dt, size_t count, ReduceOp op,
                    uint32_t block, uint32_t blocks, std::chrono::nanoseconds timeout) {
  const uint32_t nb = effective_blocks(blocks), n = comm.size(), me = comm.rank();
  if (block >= nb) return;
  check_op(op);
  with_reduction(dt, op, [&]<class C, class Op>() {
    using E = typename C::Elem;
    check_in_window(comm, send, count * sizeof(E), "the reduce-scatter send buffer");
    const CollectivePart part = collective_part(count, n, me);
    const auto* s = static_cast<const unsigned char*>(send);
    auto* r = static_cast<unsigned char*>(recv);
    const size_t total = count * sizeof(E), mine = part.count * sizeof(E);
    if (s < r + mine && r < s + total)
      throw std::invalid_argument(
          "the reduce-scatter send and receive buffers overlap (peers read the whole send buffer while this "
          "rank fills the receive buffer)");
    if (count == 0) return;
    // Block b reduces part b of this rank's part. Peers read the send buffer until the last barrier,
    // so a rank may refill it only after the call.
    const Range sub = split(part.count, nb, block, kLine / sizeof(E));
    const E* from[STRATA_COMM_MAX_RANKS];
    for (uint32_t q = 0; q < n; ++q) from[q] = comm.peer(static_cast<const E*>(send), q) + part.begin + sub.begin;
    E* const to = static_cast<E*>(recv) + sub.begin;
    if (n > 1) comm.barrier(block, timeout);
    if (sub.size() != 0) reduce_into<C, Op>(&to, 1, from, n, sub.size(), op == ReduceOp::Avg);
    if (n > 1) comm.barrier(block, timeout);
  });
}

void broadcast(const CommView& comm, void* buf, size_t bytes, uint32_t root, uint32_t block, uint32_t blocks,
               std::chrono::nanoseconds timeout) {
  const uint32_t nb = effective_blocks(blocks), n = comm.size(), me = comm.rank();
  if (block >= nb) return;
  if (root >= n)
    throw std::invalid_argument("broadcast root rank " + std::to_string(root) + " is not a rank of the domain (size " +
                                std::to_string(n) + ")");
  check_in_window(comm, buf, bytes, "the broadcast buffer");
  if (n == 1 || bytes == 0) return;
  // barrier (the root's data is ready, every buffer is free); copy; barrier (the root may change its
  // buffer again). The copying is shared by every rank, the root too: with the block's part cut into n
  // pieces, rank q != root pulls every piece but piece q from the root, and the root pushes piece q into
  // rank q. Each rank copies (n-1)/n of the part, each piece of each buffer is written by one rank.
  const Range part = split(bytes, nb, block, kLine);
  auto* base = static_cast<unsigned char*>(buf);
  const unsigned char* from = comm.peer(base, root);
  comm.barrier(block, timeout);
  if (part.size() != 0) {
    if (me == root) {
      for (uint32_t i = 1; i < n; ++i) {
        const uint32_t q = (me + i) % n;
        const Range piece = split(part.size(), n, q, kLine);
        const size_t at = part.begin + piece.begin;
        if (piece.size() != 0) std::memcpy(comm.peer(base, q) + at, base + at, piece.size());
      }
    } else {
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t k = (me + 1 + i) % n;  // staggered: ranks start on different pieces
        if (k == me) continue;                // the root pushes this one
        const Range piece = split(part.size(), n, k, kLine);
        const size_t at = part.begin + piece.begin;
        if (piece.size() != 0) std::memcpy(base + at, from + at, piece.size());
      }
    }
  }
  comm.barrier(block, timeout);
}

void allgather(const CommView& comm, void* buf, size_t count, size_t elem_size, uint32_t block, uint32_t blocks,
               std::chrono::nanoseconds timeout) {
  const uint32_t nb = effective_blocks(blocks), n = comm.size(), me = comm.rank();
  if (block >= nb) return;
  check_in_window(comm, buf, count * elem_size, "the allgather buffer");
  if (n == 1 || count == 0) return;
  auto* base = static_cast<unsigned char*>(buf);
  comm.barrier(block, timeout);
  for (uint32_t i = 1; i < n; ++i) {
    const uint32_t q = (me + i) % n;
    const CollectivePart from = collective_part(count, n, q);
    const Range part = split(from.count * elem_size, nb, block, kLine);
    const size_t off = from.begin * elem_size + part.begin;
    if (part.size() != 0) std::memcpy(base + off, comm.peer(base, q) + off, part.size());
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
using strata::ReduceOp;
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

ReduceOp op_scalar(const strata::TaskContext& ctx, size_t i) {
  return ctx.scalar_count() > i ? ctx.scalar<ReduceOp>(i) : ReduceOp::Sum;
}

}  // namespace

// tensor 0: this rank's buffer in its window (INOUT), reduced in place over all ranks (f32, f16, bf16,
// i32, i64); scalar 0: device_ctx; scalar 1 (optional): AllreduceAlgorithm; scalar 2 (optional):
// timeout in ms (0: default); scalar 3 (optional): ReduceOp (default sum).
STRATA_KERNEL(strata_allreduce) {
  strata::comm::with_name("strata_allreduce", [&] {
    const Tensor& t = strata::comm::tensor_arg(ctx, 0, "the buffer to reduce");
    const CommView comm = CommView::from_task(ctx, 0);
    const auto algo = ctx.scalar_count() > 1 ? ctx.scalar<AllreduceAlgorithm>(1) : AllreduceAlgorithm::Auto;
    strata::comm::allreduce(comm, t.data, t.dtype, t.numel(), op_scalar(ctx, 3), algo, ctx.block_idx(), ctx.block_dim(),
                            strata::comm::timeout_scalar(ctx, 2));
  });
}

// tensor 0: send buffer in the window (INPUT), `count` elements; tensor 1: receive buffer of the same
// dtype holding at least this rank's part (collective_part) (OUTPUT_EXISTING or INOUT); scalar 0:
// device_ctx; scalar 1 (optional): ReduceOp; scalar 2 (optional): timeout in ms.
STRATA_KERNEL(strata_reduce_scatter) {
  strata::comm::with_name("strata_reduce_scatter", [&] {
    const Tensor& send = strata::comm::tensor_arg(ctx, 0, "the send buffer");
    const Tensor& recv = strata::comm::tensor_arg(ctx, 1, "the receive buffer");
    const CommView comm = CommView::from_task(ctx, 0);
    const size_t need = strata::collective_part(send.numel(), comm.size(), comm.rank()).count;
    if (send.dtype != recv.dtype || recv.numel() < need)
      throw std::invalid_argument("the receive buffer (" + std::to_string(recv.numel()) + " x " +
                                  strata::dtype_name(recv.dtype) + ") does not hold rank " +
                                  std::to_string(comm.rank()) + "'s part of the send buffer (" + std::to_string(need) +
                                  " of " + std::to_string(send.numel()) + " x " + strata::dtype_name(send.dtype) + ")");
    strata::comm::reduce_scatter(comm, send.data, recv.data, send.dtype, send.numel(), op_scalar(ctx, 1),
                                 ctx.block_idx(), ctx.block_dim(), strata::comm::timeout_scalar(ctx, 2));
  });
}

// tensor 0: this rank's buffer in its window (INOUT; any dtype); scalar 0: device_ctx; scalar 1: the
// root's rank; scalar 2 (optional): timeout in ms.
STRATA_KERNEL(strata_broadcast) {
  strata::comm::with_name("strata_broadcast", [&] {
    const Tensor& t = strata::comm::tensor_arg(ctx, 0, "the buffer to broadcast");
    const CommView comm = CommView::from_task(ctx, 0);
    if (ctx.scalar_count() < 2) throw std::invalid_argument("scalar 1 (the root's rank) is missing");
    strata::comm::broadcast(comm, t.data, t.nbytes(), ctx.scalar<uint32_t>(1), ctx.block_idx(), ctx.block_dim(),
                            strata::comm::timeout_scalar(ctx, 2));
  });
}

// tensor 0: this rank's buffer of `count` elements in its window (INOUT; any dtype), part r
// (collective_part) holding rank r's input; scalar 0: device_ctx; scalar 1 (optional): timeout in ms.
STRATA_KERNEL(strata_allgather) {
  strata::comm::with_name("strata_allgather", [&] {
    const Tensor& t = strata::comm::tensor_arg(ctx, 0, "the gather buffer");
    const CommView comm = CommView::from_task(ctx, 0);
    strata::comm::allgather(comm, t.data, t.numel(), strata::dtype_size(t.dtype), ctx.block_idx(), ctx.block_dim(),
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
