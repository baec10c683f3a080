// tools/strata/demo_report.hpp — how both demos of `strata demo` (the FFN layer and the tiled matmul)
// print what they did, so that their output reads the same: one "[phase]" line per step as it happens,
// then a summary of label / time / what it covered, the error against the reference, and PASS or FAIL.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace strata::tool {

/// The width of the "[phase]" column and of the summary's label column.
inline constexpr int kPhaseColumn = 14;

/// "[phase]" padded to kPhaseColumn, then the printf-formatted text and a newline.
__attribute__((format(printf, 2, 3))) inline void print_phase(const char* phase, const char* fmt, ...) {
  const int used = static_cast<int>(std::strlen(phase)) + 2;
  std::printf("[%s]%*s", phase, used < kPhaseColumn ? kPhaseColumn - used : 1, "");
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::printf("\n");
}

/// A summary line: "  label", padded, then the printf-formatted text.
__attribute__((format(printf, 2, 3))) inline void print_summary(const char* label, const char* fmt, ...) {
  std::printf("  %-*s", kPhaseColumn, label);
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::printf("\n");
}

}  // namespace strata::tool
