// Unit tests of graph::DepMap: sequential consistency per tensor base address.
//
// | tag             | waits for the last writer | and the readers since it | becomes           |
// | Input           | yes                       | no                       | a reader          |
// | InOut           | yes                       | yes                      | the last writer   |
// | Output          | yes                       | yes                      | the last writer   |
// | OutputExisting  | yes                       | yes                      | the last writer   |
// | NoDep           | no                        | no                       | nothing           |
#include "graph/dep_map.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace strata::graph {
namespace {

Tensor tensor_at(void* base, int64_t n = 4) {
  Tensor t;
  t.data = base;
  t.ndim = 1;
  t.shape[0] = n;
  t.dtype = DType::F32;
  return t;
}

// One task as the scheduler submits it: lookup (what it waits for), then record. `done` lists tasks
// that have finished (their reader entries may be dropped).
std::vector<uint64_t> submit(DepMap& map, uint64_t task, std::vector<Tensor> tensors, std::vector<Tag> tags,
                             const std::set<uint64_t>& done = {}) {
  std::vector<uint64_t> producers;
  map.lookup(tensors, tags, &producers);
  map.record(tensors, tags, task, [&](uint64_t id) { return done.count(id) != 0; });
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
    EXPECT_EQ(producers, row.tag != Tag::NoDep ? std::vector<uint64_t>{1} : std::vector<uint64_t>{})
        << "tag " << static_cast<int>(row.tag) << ": read-after-write and write-after-write are ordered";
    EXPECT_EQ(map.last_writer(x), row.writes ? 2u : 1u) << "tag " << static_cast<int>(row.tag);
  }
}

TEST(DepMap, EachTagOnAFreshTensor) {
  float x[4];
  for (const TagRow& row : kTable) {
    DepMap map;
    EXPECT_TRUE(submit(map, 5, {tensor_at(x)}, {row.tag}).empty());
    EXPECT_EQ(map.last_writer(x), row.writes ? 5u : 0u) << "tag " << static_cast<int>(row.tag);
    EXPECT_EQ(map.size(), row.tag != Tag::NoDep ? 1u : 0u);
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

// Regression: a later writer used to run while an earlier reader still read (write-after-read unordered).
TEST(DepMap, EveryWriterWaitsForTheReadersSinceTheLastWriter) {
  float x[4];
  for (Tag writer : {Tag::InOut, Tag::Output, Tag::OutputExisting}) {
    DepMap map;
    submit(map, 1, {tensor_at(x)}, {Tag::Output});
    EXPECT_EQ(submit(map, 2, {tensor_at(x)}, {Tag::Input}), (std::vector<uint64_t>{1}));
    EXPECT_EQ(submit(map, 3, {tensor_at(x)}, {Tag::Input}), (std::vector<uint64_t>{1}));
    EXPECT_EQ(submit(map, 4, {tensor_at(x)}, {writer}), (std::vector<uint64_t>{1, 2, 3}))
        << "writer tag " << static_cast<int>(writer);
    // The writer clears the readers: the next writer waits for it alone.
    EXPECT_EQ(submit(map, 5, {tensor_at(x)}, {Tag::InOut}), (std::vector<uint64_t>{4}));
  }
}

TEST(DepMap, ReadersDoNotWaitForEachOther) {
  float x[4];
  DepMap map;
  EXPECT_TRUE(submit(map, 1, {tensor_at(x)}, {Tag::Input}).empty());
  EXPECT_TRUE(submit(map, 2, {tensor_at(x)}, {Tag::Input}).empty());
  EXPECT_EQ(submit(map, 3, {tensor_at(x)}, {Tag::Output}), (std::vector<uint64_t>{1, 2}));
}

TEST(DepMap, FinishedReadersAreDroppedAsTheListGrows) {
  float x[4];
  DepMap map;
  std::set<uint64_t> done;
  for (uint64_t id = 1; id <= 100; ++id) {
    submit(map, id, {tensor_at(x)}, {Tag::Input}, done);
    if (id <= 95) done.insert(id);  // readers 96..100 still run
  }
  const std::vector<uint64_t> producers = submit(map, 101, {tensor_at(x)}, {Tag::OutputExisting}, done);
  for (uint64_t r = 96; r <= 100; ++r)
    EXPECT_NE(std::find(producers.begin(), producers.end(), r), producers.end()) << "reader " << r << " is running";
  EXPECT_LE(producers.size(), 5u + 16u) << "finished readers are pruned";
}

TEST(DepMap, AccessorsOfACopy) {
  float x[4];
  DepMap map;
  submit(map, 1, {tensor_at(x)}, {Tag::Output});
  submit(map, 2, {tensor_at(x)}, {Tag::Input});
  std::vector<uint64_t> read, write;
  map.accessors(x, false, &read);
  map.accessors(x, true, &write);
  EXPECT_EQ(read, (std::vector<uint64_t>{1})) << "a copy out waits for the last writer";
  EXPECT_EQ(write, (std::vector<uint64_t>{1, 2})) << "a copy in also waits for the readers";
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
  map.record(ts, tags, 3, [](uint64_t) { return false; });
  map.record(ts, tags, 3, [](uint64_t) { return false; });
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
  EXPECT_EQ(submit(map, 4, {tensor_at(x, 16)}, {Tag::Output}), (std::vector<uint64_t>{1, 2}));
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
  EXPECT_EQ(submit(map, 5, {tensor_at(b), tensor_at(a)}, {Tag::InOut, Tag::InOut}),
            (std::vector<uint64_t>{2, 4, 1, 3}));
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
}  // namespace strata::graph
