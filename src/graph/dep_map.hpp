// graph/dep_map.hpp — the dependency map: for each tensor base address, the last task that wrote it and
// the tasks that read it since.
//
// It implements sequential consistency per base address (every tag but NO_DEP):
//   a reader (INPUT) waits for the last writer, then joins the readers;
//   a writer (INOUT, OUTPUT, OUTPUT_EXISTING) waits for the last writer and every reader since it
//   (read-after-write, write-after-read, write-after-write), then becomes the last writer;
//   NO_DEP touches neither.
// lookup() collects what a task must wait for before record() enters it, so a task (or every part of a
// group, looked up together) never depends on itself. Readers that have finished are dropped as the
// list grows, so a buffer read by many tasks does not make its next writer wait for a long list.
// Cleared at the end of every run. Owned by the Worker's thread; not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "strata/types.hpp"

namespace strata::graph {

/// True for tags whose task reads the tensor (waits for the last writer).
constexpr bool tag_reads(Tag t) noexcept { return t == Tag::Input || t == Tag::InOut; }
/// True for tags whose task writes the tensor (waits for the last writer and the readers since).
constexpr bool tag_writes(Tag t) noexcept { return t == Tag::Output || t == Tag::InOut || t == Tag::OutputExisting; }

class DepMap {
 public:
  /// The last writer of `base`, or 0 if none this run.
  uint64_t last_writer(const void* base) const noexcept;
  /// Appends to `out` what an access of `base` must wait for: the last writer, and for a write also the
  /// readers since it. Skips 0 and ids already in `out`.
  void accessors(const void* base, bool write, std::vector<uint64_t>* out) const;
  /// Appends what a task with these tensors must wait for (see accessors()).
  void lookup(std::span<const Tensor> tensors, std::span<const Tag> tags, std::vector<uint64_t>* out) const;
  /// Enters the accesses of `task`. `finished(id)` says whether a task has finished (its reader entries
  /// may then be dropped).
  template <class Finished>
  void record(std::span<const Tensor> tensors, std::span<const Tag> tags, uint64_t task, Finished&& finished);
  void clear() noexcept { map_.clear(); }
  size_t size() const noexcept { return map_.size(); }

 private:
  struct Entry {
    uint64_t writer = 0;
    std::vector<uint64_t> readers;  // since `writer`
  };
  static constexpr size_t kPruneAt = 16;
  std::unordered_map<uintptr_t, Entry> map_;
};

template <class Finished>
void DepMap::record(std::span<const Tensor> tensors, std::span<const Tag> tags, uint64_t task, Finished&& finished) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].data == nullptr || tags[i] == Tag::NoDep) continue;
    Entry& e = map_[reinterpret_cast<uintptr_t>(tensors[i].data)];
    if (tag_writes(tags[i])) {
      e.writer = task;
      e.readers.clear();
    } else if (e.writer != task && (e.readers.empty() || e.readers.back() != task)) {
      if (e.readers.size() >= kPruneAt) std::erase_if(e.readers, [&](uint64_t r) { return finished(r); });
      e.readers.push_back(task);
    }
  }
}

}  // namespace strata::graph
