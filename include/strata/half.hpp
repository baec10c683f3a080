// strata/half.hpp — 16-bit floating-point elements (DType::F16, IEEE binary16; DType::BF16, bfloat16)
// stored as uint16_t, and their conversions to and from float.
//
// The conversions are branch-free bit manipulation (selects, no table, no call), so loops over arrays of
// them vectorise (float_to_bf16 uses SSE2 where available); the block forms are what strata's collectives use to reduce
// 16-bit buffers in f32. float -> 16 bits rounds to nearest, ties to even; overflow gives infinity, NaN stays a (quiet)
// NaN; f16 subnormals are produced and read exactly. Pure functions: any thread.
//
// @code
//   uint16_t h = strata::bf16_from_float(1.5f);   // 0x3FC0
//   float f = strata::float_from_bf16(h);          // 1.5f
// @endcode
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace strata {

/// bfloat16 bits -> float (exact).
inline float float_from_bf16(uint16_t h) noexcept { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

/// float -> bfloat16 bits, rounded to nearest even; NaN stays NaN (quiet).
inline uint16_t bf16_from_float(float f) noexcept {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
  const bool nan = (x & 0x7FFFFFFFu) > 0x7F800000u;
  return static_cast<uint16_t>(nan ? ((x >> 16) | 0x40u) : rounded);
}

/// IEEE half bits -> float (exact, subnormals included).
inline float float_from_f16(uint16_t h) noexcept {
  // Giesen's magic-number conversion: move exponent and mantissa into place, rebias; subnormals are
  // renormalised by a float subtraction; infinities and NaNs get the full float exponent.
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t shifted = static_cast<uint32_t>(h & 0x7FFFu) << 13;
  const uint32_t exp = shifted & 0x0F800000u;
  const uint32_t normal = shifted + ((127u - 15u) << 23);
  const uint32_t infnan = normal + ((128u - 16u) << 23);
  const float sub = std::bit_cast<float>(normal + (1u << 23)) - std::bit_cast<float>(113u << 23);
  const uint32_t mag = exp == 0x0F800000u ? infnan : exp == 0 ? std::bit_cast<uint32_t>(sub) : normal;
  return std::bit_cast<float>(mag | sign);
}

/// float -> IEEE half bits, rounded to nearest even; overflow gives infinity, NaN a quiet NaN.
inline uint16_t f16_from_float(float f) noexcept {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = x & 0x80000000u;
  const uint32_t a = x ^ sign;
  constexpr uint32_t kInf32 = 255u << 23, kMax16 = (127u + 16u) << 23, kMinNormal16 = 113u << 23;
  constexpr uint32_t kDenormMagic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  // Subnormal results: let a float addition do the rounding, then take the low bits.
  const uint32_t sub =
      std::bit_cast<uint32_t>(std::bit_cast<float>(a) + std::bit_cast<float>(kDenormMagic)) - kDenormMagic;
  // Normal results: rebias, round to nearest even on the 13 dropped bits.
  const uint32_t normal = (a + ((15u - 127u) << 23) + 0xFFFu + ((a >> 13) & 1u)) >> 13;
  const uint32_t big = a > kInf32 ? 0x7E00u : 0x7C00u;
  const uint32_t mag = a >= kMax16 ? big : a < kMinNormal16 ? sub : normal;
  return static_cast<uint16_t>(mag | (sign >> 16));
}

/// Block conversions (vectorised loops): n elements from `src` into `dst`.
inline void bf16_to_float(const uint16_t* src, float* dst, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i) dst[i] = float_from_bf16(src[i]);
}
inline void float_to_bf16(const float* src, uint16_t* dst, size_t n) noexcept {
  size_t done = 0;
#if defined(__SSE2__)
  // The compiler vectorises the scalar form, but narrows 32 to 16 bits with shuffles (SSE2 has no
  // unsigned pack): shifting arithmetically keeps every value in int16 range, so the signed pack is exact.
  const __m128i bias = _mm_set1_epi32(0x7FFF), one = _mm_set1_epi32(1), abs_mask = _mm_set1_epi32(0x7FFFFFFF);
  const __m128i inf = _mm_set1_epi32(0x7F800000), quiet = _mm_set1_epi32(0x00400000);
  const auto round = [&](__m128i x) {
    const __m128i r = _mm_add_epi32(_mm_add_epi32(x, bias), _mm_and_si128(_mm_srli_epi32(x, 16), one));
    const __m128i nan = _mm_cmpgt_epi32(_mm_and_si128(x, abs_mask), inf);
    return _mm_srai_epi32(_mm_or_si128(_mm_andnot_si128(nan, r), _mm_and_si128(nan, _mm_or_si128(x, quiet))), 16);
  };
  done = n / 8 * 8;
  for (size_t i = 0; i < done; i += 8) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 4));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_packs_epi32(round(lo), round(hi)));
  }
#endif
  for (size_t i = done; i < n; ++i) dst[i] = bf16_from_float(src[i]);
}
inline void f16_to_float(const uint16_t* src, float* dst, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i) dst[i] = float_from_f16(src[i]);
}
inline void float_to_f16(const float* src, uint16_t* dst, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i) dst[i] = f16_from_float(src[i]);
}

}  // namespace strata
