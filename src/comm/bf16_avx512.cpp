#include "comm/bf16_avx512.hpp"

#include "strata/half.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define STRATA_BF16_AVX512 1
// GCC 12 warns inside its own AVX-512 headers (the "undefined" pass-through operands of unmasked
// intrinsics, GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace strata::comm {

#if defined(STRATA_BF16_AVX512)
namespace {

#define STRATA_AVX512_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

/// bf16 -> f32 is a 16-bit shift: elements 0-15 and 16-31 of a vector of 32.
STRATA_AVX512_BF16_TARGET inline __m512 widen_low(__m512i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
}
STRATA_AVX512_BF16_TARGET inline __m512 widen_high(__m512i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
}

/// Elements 0-15 from `low`, 16-31 from `high`, narrowed to bf16 in order.
STRATA_AVX512_BF16_TARGET inline __m512i narrow(__m512 low, __m512 high) {
  constexpr int kSubnormal = 0x20;  // vfpclassps category
  if (__builtin_expect((_mm512_fpclass_ps_mask(low, kSubnormal) | _mm512_fpclass_ps_mask(high, kSubnormal)) != 0, 0)) {
    // Rare: the portable narrowing (strata/half.hpp), which keeps subnormals.
    alignas(64) float f[32];
    alignas(64) uint16_t h[32];
    _mm512_store_ps(f, low);
    _mm512_store_ps(f + 16, high);
    float_to_bf16(f, h, 32);
    return _mm512_load_si512(h);
  }
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(high, low));
}

template <ReduceOp Op>
STRATA_AVX512_BF16_TARGET inline __m512 combine(__m512 acc, __m512 x) {
  // The portable operators' exact forms (NaNs and signed zeros included): max keeps acc unless acc < x,
  // min keeps acc unless x < acc.
  if constexpr (Op == ReduceOp::Max)
    return _mm512_max_ps(x, acc);
  else if constexpr (Op == ReduceOp::Min)
    return _mm512_min_ps(x, acc);
  else
    return _mm512_add_ps(acc, x);
}

/// Reduces and narrows the 32 elements at `i`; with kTail, only those in mask `m` (masked loads and
/// stores are slow on some CPUs, so only the last few elements take them).
template <ReduceOp Op, bool kTail>
STRATA_AVX512_BF16_TARGET inline void step(uint16_t* const* out, uint32_t nout, const uint16_t* const* src, uint32_t n,
                                           size_t i, __mmask32 m) noexcept {
  const auto load = [m](const uint16_t* p) STRATA_AVX512_BF16_TARGET {
    return kTail ? _mm512_maskz_loadu_epi16(m, p) : _mm512_loadu_si512(p);
  };
  const __m512i first = load(src[0] + i);
  __m512 low = widen_low(first), high = widen_high(first);
  for (uint32_t q = 1; q < n; ++q) {
    const __m512i x = load(src[q] + i);
    low = combine<Op>(low, widen_low(x));
    high = combine<Op>(high, widen_high(x));
  }
  if constexpr (Op == ReduceOp::Avg) {
    const __m512 divisor = _mm512_set1_ps(static_cast<float>(n));
    low = _mm512_div_ps(low, divisor);
    high = _mm512_div_ps(high, divisor);
  }
  const __m512i r = narrow(low, high);
  for (uint32_t d = 0; d < nout; ++d) {
    if constexpr (kTail)
      _mm512_mask_storeu_epi16(out[d] + i, m, r);
    else
      _mm512_storeu_si512(out[d] + i, r);
  }
}

template <ReduceOp Op>
STRATA_AVX512_BF16_TARGET void reduce(uint16_t* const* out, uint32_t nout, const uint16_t* const* src, uint32_t n,
                                      size_t len) noexcept {
  size_t i = 0;
  for (; i + 32 <= len; i += 32) step<Op, false>(out, nout, src, n, i, ~__mmask32{0});
  if (i < len) step<Op, true>(out, nout, src, n, i, static_cast<__mmask32>((uint64_t{1} << (len - i)) - 1));
}

}  // namespace

bool bf16_avx512_available() noexcept {
  static const bool yes = [] {
    __builtin_cpu_init();  // this initialiser may run before libgcc's
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bf16");
  }();
  return yes;
}

void reduce_bf16_avx512(uint16_t* const* out, uint32_t nout, const uint16_t* const* src, uint32_t n, size_t len,
                        ReduceOp op) noexcept {
  switch (op) {
    case ReduceOp::Max:
      return reduce<ReduceOp::Max>(out, nout, src, n, len);
    case ReduceOp::Min:
      return reduce<ReduceOp::Min>(out, nout, src, n, len);
    case ReduceOp::Avg:
      return reduce<ReduceOp::Avg>(out, nout, src, n, len);
    default:
      return reduce<ReduceOp::Sum>(out, nout, src, n, len);
  }
}

#else

bool bf16_avx512_available() noexcept { return false; }
void reduce_bf16_avx512(uint16_t* const*, uint32_t, const uint16_t* const*, uint32_t, size_t, ReduceOp) noexcept {}

#endif

}  // namespace strata::comm
