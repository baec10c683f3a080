#include "graph/dep_map.hpp"

#include <algorithm>

namespace strata::graph {
namespace {
void add_unique(std::vector<uint64_t>* out, uint64_t id) {
  if (id != 0 && std::find(out->begin(), out->end(), id) == out->end()) out->push_back(id);
}
}  // namespace

uint64_t DepMap::last_writer(const void* base) const noexcept {
  auto it = map_.find(reinterpret_cast<uintptr_t>(base));
  return it == map_.end() ? 0 : it->second.writer;
}

void DepMap::accessors(const void* base, bool write, std::vector<uint64_t>* out) const {
  auto it = map_.find(reinterpret_cast<uintptr_t>(base));
  if (it == map_.end()) return;
  add_unique(out, it->second.writer);
  if (write)
    for (uint64_t r : it->second.readers) add_unique(out, r);
}

void DepMap::lookup(std::span<const Tensor> tensors, std::span<const Tag> tags, std::vector<uint64_t>* out) const {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].data == nullptr || tags[i] == Tag::NoDep) continue;
    accessors(tensors[i].data, tag_writes(tags[i]), out);
  }
}

}  // namespace strata::graph
