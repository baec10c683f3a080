// core/dep_map.hpp — the dependency map: for each tensor base address, the last task that wrote it.
//
// It implements the tag table of SPEC §2 in two phases so that one task (or one group of parts) never
// depends on itself: lookup() collects the producers a task must wait for (INPUT, INOUT), then record()
// makes the task the last writer (OUTPUT, INOUT, OUTPUT_EXISTING). NO_DEP touches neither. A reader does
// not become a writer, so a later writer does not wait for earlier readers (write-after-read is the
// user's to order). Cleared at the end of every run. Owned by the Worker's thread; not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "strata/types.hpp"

namespace strata::core {

class DepMap {
 public:
  /// The last writer of `base`, or 0 if none this run.
  uint64_t last_writer(const void* base) const noexcept;
  /// Appends the last writers of the tensors this task reads to `producers`, skipping 0 and ids
  /// already present.
  void lookup(std::span<const Tensor> tensors, std::span<const Tag> tags, std::vector<uint64_t>* producers) const;
  /// Makes `task` the last writer of every tensor it writes.
  void record(std::span<const Tensor> tensors, std::span<const Tag> tags, uint64_t task);
  void clear() noexcept { map_.clear(); }
  size_t size() const noexcept { return map_.size(); }

 private:
  std::unordered_map<uintptr_t, uint64_t> map_;
};

/// True for tags whose task waits for the last writer.
constexpr bool tag_reads(Tag t) noexcept { return t == Tag::Input || t == Tag::InOut; }
/// True for tags whose task becomes the last writer.
constexpr bool tag_writes(Tag t) noexcept { return t == Tag::Output || t == Tag::InOut || t == Tag::OutputExisting; }

}  // namespace strata::core
