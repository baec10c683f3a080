// comm/bf16_avx512.hpp — the bf16 reduction on x86-64 CPUs with AVX512-BF16: sixteen elements widened,
// reduced in f32 and narrowed by one instruction at a time, about twice as fast as the portable loop
// (which is bound by the narrowing's bit manipulation, not by memory).
//
// Bit for bit the portable result (strata/half.hpp): the instruction rounds to nearest even and quiets
// NaNs the same way, but it flushes a subnormal f32 to zero, so a vector of sums that holds one is
// narrowed in software instead. Called by the collectives' reduction (comm/collectives.cpp) when
// bf16_avx512_available().
#pragma once

#include <cstddef>
#include <cstdint>

#include "strata/types.hpp"

namespace strata::comm {

/// Whether this CPU runs reduce_bf16_avx512 (AVX512F, BW, VL and BF16), and this build has it.
bool bf16_avx512_available() noexcept;

/// For every destination d: out[d][i] = op(src[0][i], ..., src[n-1][i]) over `len` bf16 elements,
/// combined in f32 in rank order (Avg: the sum divided by n), narrowed once. A destination may be a
/// source (each vector is read in full before it is written). Precondition: bf16_avx512_available().
void reduce_bf16_avx512(uint16_t* const* out, uint32_t nout, const uint16_t* const* src, uint32_t n, size_t len,
                        ReduceOp op) noexcept;

}  // namespace strata::comm
