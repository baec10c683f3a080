#include "graph/frame_ring.hpp"

#include <cassert>
#include <cstring>

namespace strata::graph {

FrameRing::FrameRing(size_t frames, size_t max_frame)
    : max_frame_(max_frame),
      // A frame that does not fit before the end wastes less than one footprint: one more covers it.
      capacity_((frames + 1) * footprint(max_frame)),
      bytes_(capacity_) {}

uint64_t FrameRing::place(uint64_t pos) const noexcept {
  const size_t at = static_cast<size_t>(pos % capacity_);
  return at + footprint(max_frame_) <= capacity_ ? pos : pos + (capacity_ - at);
}

bool FrameRing::fits(size_t frames) const noexcept {
  // Each frame may skip the rest of the ring at most once per lap: one extra footprint covers that.
  const size_t need = (frames + 1) * footprint(max_frame_);
  return need <= capacity_ && used() <= capacity_ - need;
}

unsigned char* FrameRing::space() noexcept { return bytes_.data() + place(head_) % capacity_ + kLengthBytes; }

uint64_t FrameRing::push(size_t len) noexcept {
  assert(len <= max_frame_);
  const uint64_t pos = place(head_);
  const uint64_t n = len;
  std::memcpy(bytes_.data() + pos % capacity_, &n, sizeof n);
  head_ = pos + footprint(len);
  return pos;
}

std::span<const unsigned char> FrameRing::frame(uint64_t pos) const noexcept {
  const unsigned char* p = bytes_.data() + pos % capacity_;
  uint64_t n = 0;
  std::memcpy(&n, p, sizeof n);
  return {p + kLengthBytes, static_cast<size_t>(n)};
}

uint64_t FrameRing::after(uint64_t pos) const noexcept { return place(pos + footprint(frame(pos).size())); }

void FrameRing::release_to(uint64_t pos) noexcept {
  assert(pos >= tail_ && pos <= head_);
  tail_ = pos;
}

}  // namespace strata::graph
