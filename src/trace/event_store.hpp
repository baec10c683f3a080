// trace/event_store.hpp — where the recorder keeps events between a run and close(): bounded, and cheap
// to append to on the dispatch path.
//
//   EventRing<T>  fixed-size records in blocks of 256 KiB (growing never copies, nothing is allocated
//                 per event); once `capacity` are held, each new one takes the oldest one's place and
//                 is counted as dropped.
//   ByteLog       variable-length data (a task's tensors, producers, members) appended in order, in
//                 256 KiB blocks; the oldest bytes are forgotten when the record that owned them is.
// Blocks are mapped with their pages present, so recording takes no page fault per page; reserve() maps
// them ahead (the recorder does so when it is made, before the first run).
//   TextLog       messages (errors, details), numbered; at most `capacity` kept, the oldest forgotten; the
//                 same text twice in a row is kept once.
//
// Single-threaded, like the recorder.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "util/private_pages.hpp"

namespace strata::trace {

/// A block of zeroed memory with its pages present and left out of every fork (util::PrivatePages): the
/// children a Worker forks after making its recorder must not share these pages, or each first write of
/// the parent's afterwards would copy one.
class Block {
 public:
  static constexpr size_t kBytes = 256 * 1024;
  unsigned char* data() const noexcept { return pages_.data(); }

 private:
  util::PrivatePages pages_{kBytes};
};

template <class T>
class EventRing {
 public:
  explicit EventRing(size_t capacity) : capacity_(capacity ? capacity : 1) {}

  /// Maps the blocks for the first `n` events (at most the capacity) now, so that recording them later
  /// maps nothing.
  void reserve(size_t n) {
    n = std::min(n, capacity_);
    while (chunks_.size() * kChunk < n) {
      T* items = reinterpret_cast<T*>(chunks_.emplace_back(std::make_unique<Block>())->data());
      std::uninitialized_default_construct_n(items, kChunk);
    }
  }
  bool full() const noexcept { return size_ == capacity_; }
  /// The slot the next push() returns: the oldest event when full (read it before pushing).
  T& next_slot() { return full() ? at(next_) : grow(); }
  /// Takes the next slot (returns it; the caller fills it in).
  T& push() {
    if (!full()) {
      T& slot = grow();
      ++size_;
      return slot;
    }
    T& slot = at(next_);
    next_ = (next_ + 1) % capacity_;
    ++dropped_;
    return slot;
  }
  size_t size() const noexcept { return size_; }
  uint64_t dropped() const noexcept { return dropped_; }
  /// Calls f(event) for each event held, oldest first.
  template <class F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < size_; ++i) f(at((next_ + i) % capacity_));
  }

 private:
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= Block::kBytes);
  static constexpr size_t kChunk = Block::kBytes / sizeof(T);
  T& at(size_t i) const { return reinterpret_cast<T*>(chunks_[i / kChunk]->data())[i % kChunk]; }
  T& grow() {
    if (size_ / kChunk == chunks_.size()) reserve(size_ + 1);
    return at(size_);
  }

  size_t capacity_;
  size_t size_ = 0;
  size_t next_ = 0;  // once full: the oldest, where the next push goes
  uint64_t dropped_ = 0;
  std::vector<std::unique_ptr<Block>> chunks_;
};

class ByteLog {
 public:
  /// Maps blocks for `bytes` more now, so that appending them later maps nothing.
  void reserve(size_t bytes) {
    for (size_t have = 0; have < bytes; have += kChunk) spares_.push_back(std::make_unique<Block>());
  }
  /// Appends `n` bytes; returns where they start (an offset that only grows).
  uint64_t append(const void* p, size_t n) {
    const uint64_t start = head_;
    const auto* src = static_cast<const unsigned char*>(p);
    while (n) {
      if (head_ == base_ + chunks_.size() * kChunk) {
        if (spares_.empty()) {
          chunks_.push_back(std::make_unique<Block>());
        } else {
          chunks_.push_back(std::move(spares_.back()));
          spares_.pop_back();
        }
      }
      const size_t at = static_cast<size_t>(head_ - base_);
      const size_t take = std::min(n, kChunk - at % kChunk);
      std::memcpy(chunks_[at / kChunk]->data() + at % kChunk, src, take);
      src += take;
      n -= take;
      head_ += take;
    }
    return start;
  }
  /// Copies `n` bytes from offset `at` (not forgotten yet) to `out`.
  void read(uint64_t at, void* out, size_t n) const {
    auto* dst = static_cast<unsigned char*>(out);
    while (n) {
      const size_t rel = static_cast<size_t>(at - base_);
      const size_t take = std::min(n, kChunk - rel % kChunk);
      std::memcpy(dst, chunks_[rel / kChunk]->data() + rel % kChunk, take);
      dst += take;
      n -= take;
      at += take;
    }
  }
  /// Forgets everything before offset `upto` (whole chunks are freed).
  void forget(uint64_t upto) {
    while (!chunks_.empty() && upto >= base_ + kChunk) {
      spares_.push_back(std::move(chunks_.front()));  // reused by the next append that needs a block
      chunks_.pop_front();
      base_ += kChunk;
    }
  }

 private:
  static constexpr size_t kChunk = Block::kBytes;
  std::deque<std::unique_ptr<Block>> chunks_;
  std::vector<std::unique_ptr<Block>> spares_;
  uint64_t base_ = 0;  // the offset of chunks_[0]'s first byte
  uint64_t head_ = 0;  // where the next append goes
};

class TextLog {
 public:
  explicit TextLog(size_t capacity) : capacity_(capacity ? capacity : 1) {}
  /// Keeps `text`; returns its number (0 for an empty text, which is not kept).
  uint64_t add(std::string_view text) {
    if (text.empty()) return 0;
    if (!texts_.empty() && texts_.back() == text) return first_ + texts_.size() - 1;  // the same again
    if (texts_.size() == capacity_) {
      texts_.pop_front();
      ++first_;
    }
    texts_.emplace_back(text);
    return first_ + texts_.size() - 1;
  }
  /// Text number `n`; "" for 0 or a forgotten one.
  const std::string& get(uint64_t n) const {
    static const std::string none;
    return n >= first_ && n - first_ < texts_.size() ? texts_[static_cast<size_t>(n - first_)] : none;
  }

 private:
  size_t capacity_;
  uint64_t first_ = 1;  // the number of texts_[0]
  std::deque<std::string> texts_;
};

}  // namespace strata::trace
