#include "comm/window_layout.hpp"

#include "util/checked.hpp"
#include "util/text.hpp"

namespace strata::comm {

static_assert(STRATA_COMM_SIGNAL_BYTES <= kWindowPage);

std::optional<WindowLayout> WindowLayout::make(size_t window_size, std::span<const size_t> buffer_bytes,
                                               std::string* why, std::span<const std::string> names) {
  if (window_size == 0) {
    *why = "window_size is 0";
    return std::nullopt;
  }
  if (window_size > kMaxWindowBytes) {
    *why = "window_size " + std::to_string(window_size) + " is larger than the largest window strata accepts (" +
           util::bytes_text(kMaxWindowBytes) + ")";
    return std::nullopt;
  }
  const size_t table_bytes = sizeof(strata_comm_buffer) * buffer_bytes.size();
  const size_t table_at = (sizeof(CommContext) + 63) / 64 * 64;
  if (table_at + table_bytes > kWindowPage) {
    *why = std::to_string(buffer_bytes.size()) + " buffers do not fit the buffer table";
    return std::nullopt;
  }
  WindowLayout l;
  size_t off = 0;
  for (size_t i = 0; i < buffer_bytes.size(); ++i) {
    l.offsets.push_back(off);
    auto end = util::checked_add(off, buffer_bytes[i]);
    if (end) end = util::checked_round_up(*end, kWindowBufferAlign);
    if (!end || *end > window_size) {
      const std::string name = i < names.size() ? "'" + names[i] + "'" : std::to_string(i);
      *why = "buffer " + name + " (" + std::to_string(buffer_bytes[i]) + " bytes at offset " + std::to_string(off) +
             ") overflows the window of " + std::to_string(window_size) + " bytes (buffers are aligned to " +
             std::to_string(kWindowBufferAlign) + " bytes)";
      return std::nullopt;
    }
    off = *end;
  }
  l.buffers_end = off;
  l.usable = *util::checked_round_up(window_size, kWindowPage);  // cannot overflow below kMaxWindowBytes
  l.context = l.usable + kWindowPage;
  l.table = l.context + table_at;
  l.total = l.usable + 2 * kWindowPage;
  return l;
}

}  // namespace strata::comm
