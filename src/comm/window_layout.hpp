// comm/window_layout.hpp — where everything sits in a domain window, computed in one place.
//
//   [0, usable)                       the named buffers, in declaration order, each 64-byte aligned;
//                                     usable = window_size rounded up to a page
//   [usable, usable + page)           the signal area (STRATA_COMM_SIGNAL_BYTES of CommSignalSlots)
//   [usable + page, usable + 2 pages) the context page: the CommContext, then the buffer table (one
//                                     strata_comm_buffer per named buffer)
//
// The parent uses it to validate a domain and to know where each member's buffers must be; the chip
// uses it to carve its window and to find its context page. Every size is computed with overflow checks:
// a layout that does not fit reports why instead of wrapping. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "strata/comm_context.h"

namespace strata::comm {

inline constexpr size_t kWindowPage = 4096;
inline constexpr size_t kWindowBufferAlign = 64;
/// Largest window_size accepted (64 TiB): far beyond any device, small enough that no sum overflows.
inline constexpr size_t kMaxWindowBytes = size_t{1} << 46;

struct WindowLayout {
  size_t usable = 0;            // bytes for buffers; the signal area starts here
  size_t context = 0;           // offset of the context page
  size_t table = 0;             // offset of the buffer table (inside the context page)
  size_t total = 0;             // bytes the chip allocates
  std::vector<size_t> offsets;  // of each buffer, in declaration order
  size_t buffers_end = 0;       // end of the last buffer (aligned)

  /// The layout of a window of `window_size` with buffers of `buffer_bytes` each; nullopt and a reason
  /// when it does not fit (window_size 0 or too large, buffers larger than the window, too many buffers).
  /// `names` (optional, one per buffer) only make the message of a buffer that does not fit clearer.
  static std::optional<WindowLayout> make(size_t window_size, std::span<const size_t> buffer_bytes, std::string* why,
                                          std::span<const std::string> names = {});
};

}  // namespace strata::comm
