// util/checked.hpp — size arithmetic that cannot wrap.
//
// Every size strata computes from user input (tensor shapes, buffer counts, window sizes, sums of
// buffers) goes through these: an overflow is reported as "does not fit", never as a small number.
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace strata::util {

/// a * b, or nullopt if it does not fit in size_t.
inline std::optional<size_t> checked_mul(size_t a, size_t b) noexcept {
  size_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// a + b, or nullopt if it does not fit in size_t.
inline std::optional<size_t> checked_add(size_t a, size_t b) noexcept {
  size_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// n rounded up to a multiple of `align` (a power of two), or nullopt if that does not fit.
inline std::optional<size_t> checked_round_up(size_t n, size_t align) noexcept {
  auto s = checked_add(n, align - 1);
  if (!s) return std::nullopt;
  return *s & ~(align - 1);
}

}  // namespace strata::util
