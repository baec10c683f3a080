#include "util/buffer_pool.hpp"

#include <iterator>

#include "util/checked.hpp"

namespace strata::util {

BufferPool::BufferPool(size_t capacity, size_t align) : capacity_(capacity / align * align), align_(align) {
  if (capacity_) free_.emplace(0, capacity_);
}

std::optional<size_t> BufferPool::alloc(size_t bytes) {
  const auto need = checked_round_up(bytes ? bytes : 1, align_);
  if (!need || *need > capacity_) return std::nullopt;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < *need) continue;
    const size_t offset = it->first;
    const size_t rest = it->second - *need;
    free_.erase(it);
    if (rest) free_.emplace(offset + *need, rest);
    live_.emplace(offset, *need);
    used_ += *need;
    return offset;
  }
  return std::nullopt;
}

size_t BufferPool::free(size_t offset) {
  auto it = live_.find(offset);
  if (it == live_.end()) return 0;
  const size_t freed = it->second;
  size_t size = freed;
  live_.erase(it);
  used_ -= size;
  size_t begin = offset;
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && next->first == offset + size) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == begin) {
      begin = prev->first;
      size += prev->second;
      free_.erase(prev);
    }
  }
  free_.emplace(begin, size);
  return freed;
}

std::optional<std::pair<size_t, size_t>> BufferPool::find(size_t offset) const {
  auto it = live_.upper_bound(offset);
  if (it == live_.begin()) return std::nullopt;
  --it;
  if (offset - it->first >= it->second) return std::nullopt;
  return *it;
}

}  // namespace strata::util
