// Unit tests of core::DepMap: the tag table of SPEC §2, per tensor base address.
//
// | tag             | waits for the last writer | becomes the last writer |
// | Input           | yes                       | no                      |
// | InOut           | yes                       | yes                     |
// | Output          | no                        | yes                     |
// | OutputExisting  | no                        | yes                     |
// | NoDep           | no                        | no                      |
#include "core/dep_map.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace strata::core {
namespace {

Tensor tensor_at(void* base, int64_t n = 4) {
  Tensor t;
  t.data = base;
  t.ndim = 1;
  t.shape[0] = n;
  t.dtype = DType::F32;
  return t;
}

// One task as the scheduler submits it: lookup (its producers), then record (it becomes the writer).
std::vector<uint64_t> submit(DepMap& map, uint64_t task, std::vector<Tensor> tensors, std::vector<Tag> tags) {
  std::vector<uint64_t> producers;
  map.lookup(tensors, tags, &producers);
  map.record(tensors, tags, task);
  return producers;
}

struct TagRow {
  Tag tag;
  bool reads;
  bool writes;
};

constexpr TagRow kTable[] = {
    {Tag::Input, true, false},          {Tag::InOut, true, true},   {Tag::Output, false, true},
    {Tag::OutputExisting, false, true}, {Tag::NoDep, false, false},
};

TEST(DepMap, TagPredicatesMatchTheSpecTable) {
  for (const TagRow& row : kTable) {
    EXPECT_EQ(tag_reads(row.tag), row.reads) << static_cast<int>(row.tag);
    EXPECT_EQ(tag_writes(row.tag), row.writes) << static_cast<int>(row.tag);
  }
}

TEST(DepMap, EachTagAfterAWriter) {
  float x[4];
  for (const TagRow& row : kTable) {
    DepMap map;
    EXPECT_TRUE(submit(map, 1, {tensor_at(x)}, {Tag::Output}).empty());
    const std::vector<uint64_t> producers = submit(map, 2, {tensor_at(x)}, {row.tag});
    EXPECT_EQ(producers, row.reads ? std::vector<uint64_t>{1} : std::vector<uint64_t>{})
        << "tag " << static_cast<int>(row.tag);
    EXPECT_EQ(map.last_writer(x), row.writes ? 2u : 1u) << "tag " << static_cast<int>(row.tag);
  }
}

TEST(DepMap, EachTagOnAFreshTensor) {
  float x[4];
  for (const TagRow& row : kTable) {
    DepMap map;
    EXPECT_TRUE(submit(map, 5, {tensor_at(x)}, {row.tag}).empty());
    EXPECT_EQ(map.last_writer(x), row.writes ? 5u : 0u) << "tag " << static_cast<int>(row.tag);
    EXPECT_EQ(map.size(), row.writes ? 1u : 0u);
  }
}

TEST(DepMap, ReadAfterWriteAndWriteAfterWriteThroughInOut) {
  float x[4];
  DepMap map;
  submit(map, 1, {tensor_at(x)}, {Tag::Output});
  EXPECT_EQ(submit(map, 2, {tensor_at(x)}, {Tag::InOut}), (std::vector<uint64_t>{1}));
  EXPECT_EQ(submit(map, 3, {tensor_at(x)}, {Tag::InOut}), (std::vector<uint64_t>{2}));
  EXPECT_EQ(submit(map, 4, {tensor_at(x)}, {Tag::Input}), (std::vector<uint64_t>{3}));
  EXPECT_EQ(submit(map, 5, {tensor_at(x)}, {Tag::Input}), (std::vector<uint64_t>{3}));
}

TEST(DepMap, AReaderDoesNotBlockALaterWriter) {
  // Write-after-read is the user's to order: an OUTPUT after readers waits for nobody.
  float x[4];
  DepMap map;
  submit(map, 1, {tensor_at(x)}, {Tag::Output});
  submit(map, 2, {tensor_at(x)}, {Tag::Input});
  EXPECT_TRUE(submit(map, 3, {tensor_at(x)}, {Tag::Output}).empty());
  EXPECT_TRUE(submit(map, 4, {tensor_at(x)}, {Tag::OutputExisting}).empty());
  // An INOUT after readers waits for the last writer only.
  EXPECT_EQ(submit(map, 5, {tensor_at(x)}, {Tag::InOut}), (std::vector<uint64_t>{4}));
}

TEST(DepMap, NoDepIsInvisible) {
  float x[4];
  DepMap map;
  submit(map, 1, {tensor_at(x)}, {Tag::Output});
  EXPECT_TRUE(submit(map, 2, {tensor_at(x)}, {Tag::NoDep}).empty());
  EXPECT_EQ(submit(map, 3, {tensor_at(x)}, {Tag::Input}), (std::vector<uint64_t>{1}));
}

TEST(DepMap, ATaskNeverDependsOnItself) {
  // A task that reads and writes the same base (twice in its own arguments) depends on the previous
  // writer, not on itself.
  float x[4];
  DepMap map;
  EXPECT_TRUE(submit(map, 1, {tensor_at(x), tensor_at(x)}, {Tag::Output, Tag::Input}).empty());
  EXPECT_EQ(submit(map, 2, {tensor_at(x), tensor_at(x)}, {Tag::Input, Tag::Output}), (std::vector<uint64_t>{1}));
  EXPECT_EQ(map.last_writer(x), 2u);
  // Parts of one group share the task id: recording part 1 must not make part 2 depend on the group.
  std::vector<uint64_t> producers;
  const std::vector<Tensor> ts = {tensor_at(x)};
  const std::vector<Tag> tags = {Tag::InOut};
  map.lookup(ts, tags, &producers);
  map.lookup(ts, tags, &producers);
  map.record(ts, tags, 3);
  map.record(ts, tags, 3);
  EXPECT_EQ(producers, (std::vector<uint64_t>{2}));
}

TEST(DepMap, DependenciesFollowTheBaseAddressNotTheShape) {
  float x[16];
  DepMap map;
  submit(map, 1, {tensor_at(x, 16)}, {Tag::Output});
  Tensor view = tensor_at(x, 4);
  view.ndim = 2;
  view.shape = {2, 2};
  view.dtype = DType::I32;
  EXPECT_EQ(submit(map, 2, {view}, {Tag::Input}), (std::vector<uint64_t>{1}));
  // A different base inside the same array is a different object to the scheduler.
  EXPECT_TRUE(submit(map, 3, {tensor_at(x + 4, 4)}, {Tag::Input}).empty());
}

TEST(DepMap, ProducersAreDeduplicatedAndZeroSkipped) {
  float a[4], b[4], c[4], d[4];
  DepMap map;
  submit(map, 1, {tensor_at(a), tensor_at(b)}, {Tag::Output, Tag::Output});
  submit(map, 2, {tensor_at(c)}, {Tag::Output});
  // a and b share a writer; d was never written (0, skipped); 7 is already in the list.
  std::vector<uint64_t> producers = {7};
  const std::vector<Tensor> ts = {tensor_at(a), tensor_at(b), tensor_at(c), tensor_at(d), tensor_at(c)};
  const std::vector<Tag> tags = {Tag::Input, Tag::InOut, Tag::Input, Tag::Input, Tag::InOut};
  map.lookup(ts, tags, &producers);
  EXPECT_EQ(producers, (std::vector<uint64_t>{7, 1, 2}));
  std::vector<uint64_t> again = {1, 2};
  map.lookup(ts, tags, &again);
  EXPECT_EQ(again, (std::vector<uint64_t>{1, 2}));
}

TEST(DepMap, NullTensorsAreIgnored) {
  // A null OUTPUT is allocated by the runtime before it is recorded; a null address never links tasks.
  DepMap map;
  EXPECT_TRUE(submit(map, 1, {tensor_at(nullptr)}, {Tag::Output}).empty());
  EXPECT_EQ(map.size(), 0u);
  EXPECT_TRUE(submit(map, 2, {tensor_at(nullptr)}, {Tag::InOut}).empty());
  EXPECT_EQ(map.last_writer(nullptr), 0u);
}

TEST(DepMap, IndependentBases) {
  float a[4], b[4];
  DepMap map;
  submit(map, 1, {tensor_at(a)}, {Tag::Output});
  submit(map, 2, {tensor_at(b)}, {Tag::Output});
  EXPECT_EQ(submit(map, 3, {tensor_at(a)}, {Tag::Input}), (std::vector<uint64_t>{1}));
  EXPECT_EQ(submit(map, 4, {tensor_at(b)}, {Tag::Input}), (std::vector<uint64_t>{2}));
  EXPECT_EQ(submit(map, 5, {tensor_at(b), tensor_at(a)}, {Tag::InOut, Tag::InOut}), (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(map.size(), 2u);
}

TEST(DepMap, ClearForgetsEveryWriter) {
  float a[4], b[4];
  DepMap map;
  submit(map, 1, {tensor_at(a), tensor_at(b)}, {Tag::Output, Tag::InOut});
  EXPECT_EQ(map.size(), 2u);
  map.clear();
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.last_writer(a), 0u);
  EXPECT_TRUE(submit(map, 2, {tensor_at(a), tensor_at(b)}, {Tag::Input, Tag::InOut}).empty());
}

TEST(DepMap, FanOutFanIn) {
  // One writer, four readers-writers of their own outputs, one reader of all: the classic diamond.
  float src[4], out[4][4];
  DepMap map;
  submit(map, 1, {tensor_at(src)}, {Tag::Output});
  for (uint64_t i = 0; i < 4; ++i)
    EXPECT_EQ(submit(map, 2 + i, {tensor_at(src), tensor_at(out[i])}, {Tag::Input, Tag::Output}),
              (std::vector<uint64_t>{1}));
  std::vector<Tensor> ts;
  std::vector<Tag> tags;
  for (auto& o : out) {
    ts.push_back(tensor_at(o));
    tags.push_back(Tag::Input);
  }
  EXPECT_EQ(submit(map, 6, ts, tags), (std::vector<uint64_t>{2, 3, 4, 5}));
}

}  // namespace
}  // namespace strata::core
