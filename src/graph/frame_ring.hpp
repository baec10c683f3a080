// graph/frame_ring.hpp — where the encoded frames of submitted tasks wait until they are pushed.
//
// One ring of bytes, filled in submission order and emptied in retirement order (tasks retire strictly
// in id order, so what a task's frames occupy is always the oldest part of the ring). A frame is stored
// as its length and its bytes, on a 64-byte boundary, never wrapped: one that would cross the end of the
// ring starts again at its beginning. Positions only grow (the byte offset is position % capacity), so a
// task records where its frames begin and end with two numbers.
//
// The bytes are util::PrivatePages, present from the start and never shared with a forked child, so a
// submit neither allocates nor takes a page fault. Owned by the Worker's thread; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "util/private_pages.hpp"

namespace strata::graph {

class FrameRing {
 public:
  /// A ring with room for `frames` frames of at most `max_frame` bytes each at once.
  FrameRing(size_t frames, size_t max_frame);

  size_t max_frame() const noexcept { return max_frame_; }
  /// Whether `frames` more frames of max_frame() bytes fit now.
  bool fits(size_t frames) const noexcept;
  /// Where to encode the next frame: max_frame() writable bytes. Precondition: fits(1).
  unsigned char* space() noexcept;
  /// Keeps the first `len` bytes (<= max_frame()) written at space(); returns the frame's position.
  uint64_t push(size_t len) noexcept;
  /// The frame at `pos` (a position push() returned and not yet released).
  std::span<const unsigned char> frame(uint64_t pos) const noexcept;
  /// The position of the frame pushed after the one at `pos`.
  uint64_t after(uint64_t pos) const noexcept;
  /// The position the next push() takes, or later: everything pushed so far lies before it.
  uint64_t head() const noexcept { return head_; }
  /// Frees every frame before `pos` (a value head() returned earlier).
  void release_to(uint64_t pos) noexcept;
  size_t capacity() const noexcept { return capacity_; }
  size_t used() const noexcept { return static_cast<size_t>(head_ - tail_); }

 private:
  static constexpr size_t kAlign = 64;
  static constexpr size_t kLengthBytes = 8;
  /// Bytes a frame of `len` bytes occupies.
  static size_t footprint(size_t len) noexcept { return (kLengthBytes + len + kAlign - 1) / kAlign * kAlign; }
  /// Where a frame of max_frame() bytes goes when the ring's head is at `pos`.
  uint64_t place(uint64_t pos) const noexcept;

  size_t max_frame_;
  size_t capacity_;
  util::PrivatePages bytes_;
  uint64_t head_ = 0;
  uint64_t tail_ = 0;
};

}  // namespace strata::graph
