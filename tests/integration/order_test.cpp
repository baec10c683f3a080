// Integration tests of sequential consistency across chips: a slow reader on one chip and a writer on
// another (write-after-read), two writers (write-after-write), and copies into a domain buffer that
// tasks still read. Each writer tag is tried; every case runs several times, since a missing order
// shows only when the writer gets there first.
#include <chrono>
#include <cstdint>
#include <strata/strata.hpp>
#include <thread>

#include "integration/integration_util.hpp"

namespace {

using strata::Tag;
using strata::TaskArgs;
using strata::test::zero;

class OrderTest : public strata::test::LeakCheckedTest {};

// Sleeps `scalar 0` ms, then copies tensor 0 (read) into tensor 1.
STRATA_KERNEL(o_slow_read) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ctx.scalar<int64_t>(0)));
  const int64_t* src = ctx.data<int64_t>(0);
  int64_t* dst = ctx.data<int64_t>(1);
  for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) dst[i] = src[i];
}
// Sleeps `scalar 1` ms, then writes `scalar 0` into every element of tensor 0.
STRATA_KERNEL(o_write) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ctx.scalar<int64_t>(1)));
  int64_t* x = ctx.data<int64_t>(0);
  for (size_t i = 0; i < ctx.tensor(0).numel(); ++i) x[i] = ctx.scalar<int64_t>(0);
}

// Regression: a reader on chip 0 saw the value a later writer on chip 1 wrote (3 runs of 3).
TEST_F(OrderTest, WriterWaitsForTheSlowReaderBeforeIt) {
  strata::Worker w({.chips = 2});
  auto read = w.register_kernel("o_slow_read");
  auto write = w.register_kernel("o_write");
  w.init();
  auto x = w.create_buffer<int64_t>(16);
  auto seen = w.create_buffer<int64_t>(16);
  for (Tag tag : {Tag::InOut, Tag::OutputExisting, Tag::Output}) {
    for (int rep = 0; rep < 3; ++rep) {
      std::fill(x.begin(), x.end(), 1);
      zero(seen);
      w.run([&](strata::Orchestrator& o) {
        o.submit(read, TaskArgs().input(x.tensor()).output_existing(seen.tensor()).scalar(int64_t{40}), {}, 0);
        o.submit(write, TaskArgs().add(x.tensor(), tag).scalar(int64_t{2}).scalar(int64_t{0}), {}, 1);
      });
      for (size_t i = 0; i < 16; ++i)
        ASSERT_EQ(seen[i], 1) << "the reader saw the later writer's value (writer tag " << strata::tag_name(tag) << ")";
      ASSERT_EQ(x[0], 2);
    }
  }
  w.close();
}

TEST_F(OrderTest, WritersApplyInSubmissionOrderWhateverTheirTag) {
  strata::Worker w({.chips = 2});
  auto write = w.register_kernel("o_write");
  w.init();
  auto x = w.create_buffer<int64_t>(8);
  for (Tag second : {Tag::InOut, Tag::OutputExisting, Tag::Output}) {
    zero(x);
    w.run([&](strata::Orchestrator& o) {
      o.submit(write, TaskArgs().output_existing(x.tensor()).scalar(int64_t{1}).scalar(int64_t{40}), {}, 0);
      o.submit(write, TaskArgs().add(x.tensor(), second).scalar(int64_t{2}).scalar(int64_t{0}), {}, 1);
    });
    EXPECT_EQ(x[7], 2) << "the first writer ran last (second tag " << strata::tag_name(second) << ")";
  }
  w.close();
}

TEST_F(OrderTest, NoDepIsNotOrdered) {
  // NO_DEP opts out: a NO_DEP writer does not wait for the slow reader (it may overtake it).
  strata::Worker w({.chips = 2});
  auto read = w.register_kernel("o_slow_read");
  auto write = w.register_kernel("o_write");
  w.init();
  auto x = w.create_buffer<int64_t>(4);
  auto seen = w.create_buffer<int64_t>(4);
  std::fill(x.begin(), x.end(), 1);
  w.run([&](strata::Orchestrator& o) {
    o.submit(read, TaskArgs().input(x.tensor()).output_existing(seen.tensor()).scalar(int64_t{200}), {}, 0);
    o.submit(write, TaskArgs().no_dep(x.tensor()).scalar(int64_t{2}).scalar(int64_t{0}), {}, 1);
  });
  EXPECT_EQ(seen[0], 2) << "the NO_DEP writer waited for the reader";
  w.close();
}

TEST_F(OrderTest, CopyIntoADomainBufferWaitsForItsReaders) {
  strata::Worker w({.chips = 2});
  auto read = w.register_kernel("o_slow_read");
  w.init();
  auto seen = w.create_buffer<int64_t>(4);
  for (int rep = 0; rep < 3; ++rep) {
    zero(seen);
    w.run([&](strata::Orchestrator& o) {
      auto d = o.allocate_domain(
          {.name = "cp", .workers = {0, 1}, .window_size = 4096, .buffers = {{"v", strata::DType::I64, 4}}});
      const int64_t one[4] = {1, 1, 1, 1}, two[4] = {2, 2, 2, 2};
      o.copy_to(d[0].buffer("v"), one);
      o.submit(read, TaskArgs().input(d[0].buffer("v")).output_existing(seen.tensor()).scalar(int64_t{40}), {}, 0);
      o.copy_to(d[0].buffer("v"), two);  // must wait for the reader
      int64_t back[4] = {};
      o.copy_from(back, d[0].buffer("v"));
      EXPECT_EQ(back[3], 2);
    });
    EXPECT_EQ(seen[0], 1) << "the reader saw the copy made after it";
  }
  w.close();
}

}  // namespace
