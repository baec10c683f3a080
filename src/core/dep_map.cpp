#include "core/dep_map.hpp"

#include <algorithm>

namespace strata::core {

uint64_t DepMap::last_writer(const void* base) const noexcept {
  auto it = map_.find(reinterpret_cast<uintptr_t>(base));
  return it == map_.end() ? 0 : it->second;
}

void DepMap::lookup(std::span<const Tensor> tensors, std::span<const Tag> tags,
                    std::vector<uint64_t>* producers) const {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!tag_reads(tags[i]) || tensors[i].data == nullptr) continue;
    const uint64_t w = last_writer(tensors[i].data);
    if (w != 0 && std::find(producers->begin(), producers->end(), w) == producers->end()) producers->push_back(w);
  }
}

void DepMap::record(std::span<const Tensor> tensors, std::span<const Tag> tags, uint64_t task) {
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tag_writes(tags[i]) && tensors[i].data != nullptr) map_[reinterpret_cast<uintptr_t>(tensors[i].data)] = task;
}

}  // namespace strata::core
