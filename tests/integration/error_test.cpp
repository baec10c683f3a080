// Integration tests of structured task errors at level 3: a TaskError carries the failing task, the
// child, the demangled type of the exception the child caught, the message whole up to its documented
// bound (and cut, saying so, past it), and its one frame. Level 4 chains are in level4_test.cpp.
#include <cstdint>
#include <stdexcept>
#include <strata/strata.hpp>
#include <string>

#include "integration/integration_util.hpp"

namespace errtest {
// A user's own exception type, as the seed's tests raise one.
struct SentinelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace errtest

namespace {

using strata::TaskArgs;
using strata::test::capture;

class ErrorTest : public strata::test::LeakCheckedTest {};

// A message of `n` bytes: 'a'..'z' repeated.
std::string pattern(size_t n) {
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

STRATA_KERNEL(et_sentinel) { throw errtest::SentinelError("sentinel " + std::to_string(ctx.scalar<int64_t>(0))); }
STRATA_KERNEL(et_out_of_range) {
  (void)ctx;
  throw std::out_of_range("index 9 of 4");
}
STRATA_KERNEL(et_int) {
  (void)ctx;
  throw 42;
}
STRATA_KERNEL(et_long) { throw std::runtime_error(pattern(static_cast<size_t>(ctx.scalar<int64_t>(0)))); }
STRATA_KERNEL(et_host_error_kernel) {
  throw strata::HostError("IndexError", "block " + std::to_string(ctx.block_idx()));
}
STRATA_KERNEL(et_block) {
  if (ctx.block_idx() == 2) throw errtest::SentinelError("block two");
}

TEST_F(ErrorTest, AKernelsExceptionTypeAndFrameArriveAsData) {
  strata::Worker w({.chips = 2});
  auto sentinel = w.register_kernel("et_sentinel");
  auto oor = w.register_kernel("et_out_of_range");
  auto thrown_int = w.register_kernel("et_int");
  w.init();

  uint64_t id = 0;
  auto e = capture<strata::TaskError>(
      [&] {
        w.run([&](strata::Orchestrator& o) { id = o.submit(sentinel, TaskArgs().scalar(int64_t{5}), {}, 1).id; });
      },
      "a kernel throwing SentinelError");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->error_type(), "errtest::SentinelError");
  EXPECT_EQ(e->message(), "sentinel 5");
  EXPECT_EQ(std::string(e->what()),
            "task #" + std::to_string(id) + " 'et_sentinel' failed on chip 1: errtest::SentinelError: sentinel 5");
  ASSERT_EQ(e->frames().size(), 1u);
  EXPECT_EQ(e->frames()[0].level, 3);
  EXPECT_EQ(e->frames()[0].task_id, id);
  EXPECT_EQ(e->frames()[0].task_name, "et_sentinel");
  EXPECT_EQ(e->frames()[0].child_kind, strata::ChildKind::Chip);
  EXPECT_EQ(e->frames()[0].child_index, 1);

  auto std_type = capture<strata::TaskError>(
      [&] { w.run([&](strata::Orchestrator& o) { o.submit(oor, TaskArgs(), {}, 0); }); }, "std::out_of_range");
  ASSERT_TRUE(std_type);
  EXPECT_EQ(std_type->error_type(), "std::out_of_range");
  EXPECT_EQ(std_type->message(), "index 9 of 4");

  auto not_std = capture<strata::TaskError>(
      [&] { w.run([&](strata::Orchestrator& o) { o.submit(thrown_int, TaskArgs(), {}, 0); }); }, "throw 42");
  ASSERT_TRUE(not_std);
  EXPECT_EQ(not_std->error_type(), "int");
  STRATA_EXPECT_CONTAINS(not_std->message(), "not a std::exception");
  w.close();
}

TEST_F(ErrorTest, AHostCallablesExceptionTypeArrivesAsData) {
  strata::Worker w({.chips = 1, .sub_workers = 2});
  auto check = w.register_host([](const strata::TaskContext&) { throw errtest::SentinelError("host sentinel"); },
                               "et_host_check");
  w.init();
  auto e = capture<strata::TaskError>(
      [&] { w.run([&](strata::Orchestrator& o) { o.submit_host(check, TaskArgs(), {}, 1); }); }, "a host sentinel");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->error_type(), "errtest::SentinelError");
  EXPECT_EQ(e->message(), "host sentinel");
  EXPECT_EQ(e->child_kind(), strata::ChildKind::Sub);
  EXPECT_EQ(e->child_index(), 1);
  STRATA_EXPECT_CONTAINS(e->what(), "'et_host_check' failed on sub 1: errtest::SentinelError: host sentinel");
  w.close();
}

TEST_F(ErrorTest, AHostErrorNamesItsOwnType) {
  strata::Worker w({.chips = 1, .sub_workers = 1});
  auto check = w.register_host(
      [](const strata::TaskContext&) { throw strata::HostError("ZeroDivisionError", "division by zero"); },
      "et_host_error");
  w.init();
  auto e = capture<strata::TaskError>(
      [&] { w.run([&](strata::Orchestrator& o) { o.submit_host(check, TaskArgs()); }); }, "a HostError");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->error_type(), "ZeroDivisionError");
  EXPECT_EQ(e->message(), "division by zero");
  STRATA_EXPECT_CONTAINS(e->what(), "'et_host_error' failed on sub 0: ZeroDivisionError: division by zero");
  w.close();
}

// A kernel's HostError crosses the kernel C ABI with its own type name, as a host callable's does (the
// Python binding's kernels report "IndexError", not "strata::HostError").
TEST_F(ErrorTest, AKernelsHostErrorNamesItsOwnType) {
  strata::Worker w({.chips = 1});
  auto k = w.register_kernel("et_host_error_kernel");
  w.init();
  auto e = capture<strata::TaskError>([&] { w.run([&](strata::Orchestrator& o) { o.submit(k, TaskArgs(), {}, 0); }); },
                                      "a kernel's HostError");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->error_type(), "IndexError");
  EXPECT_EQ(e->message(), "block 0");
  EXPECT_EQ(e->child_kind(), strata::ChildKind::Chip);
  w.close();
}

TEST_F(ErrorTest, AFailingBlockIsNamedAndKeepsItsType) {
  strata::Worker w({.chips = 1, .backend = {.chip_threads = 3}});
  auto block = w.register_kernel("et_block");
  w.init();
  auto e = capture<strata::TaskError>(
      [&] { w.run([&](strata::Orchestrator& o) { o.submit(block, TaskArgs(), {.block_dim = 4}, 0); }); },
      "block 2 of 4 throws");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->error_type(), "errtest::SentinelError");
  STRATA_EXPECT_CONTAINS(e->message(), "block two");
  w.close();
}

TEST_F(ErrorTest, MessagesUpToTheBoundArriveWholeAndLongerOnesSaySoWhereTheyAreCut) {
  strata::Worker w({.chips = 1, .sub_workers = 1});
  auto long_kernel = w.register_kernel("et_long");
  const std::string huge = pattern(20000);
  auto long_host =
      w.register_host([&huge](const strata::TaskContext&) { throw std::runtime_error(huge); }, "et_long_host");
  w.init();
  for (size_t n : {size_t{1}, size_t{1000}, strata::kMaxErrorMessageBytes - 1, strata::kMaxErrorMessageBytes}) {
    SCOPED_TRACE(n);
    auto e = capture<strata::TaskError>(
        [&] {
          w.run([&](strata::Orchestrator& o) {
            o.submit(long_kernel, TaskArgs().scalar(static_cast<int64_t>(n)), {}, 0);
          });
        },
        "a long message");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->message(), pattern(n)) << "a message within the bound must arrive whole";
  }
  for (size_t n : {strata::kMaxErrorMessageBytes + 1, size_t{20000}}) {
    SCOPED_TRACE(n);
    auto e = capture<strata::TaskError>(
        [&] {
          w.run([&](strata::Orchestrator& o) {
            if (n == 20000)
              o.submit_host(long_host, TaskArgs());
            else
              o.submit(long_kernel, TaskArgs().scalar(static_cast<int64_t>(n)), {}, 0);
          });
        },
        "a message past the bound");
    ASSERT_TRUE(e);
    const std::string& m = e->message();
    EXPECT_LE(m.size(), strata::kMaxErrorMessageBytes);
    const size_t kept = m.find("... [cut: ");
    ASSERT_NE(kept, std::string::npos) << m.substr(m.size() > 80 ? m.size() - 80 : 0);
    EXPECT_EQ(m.substr(0, kept), pattern(kept)) << "the kept part is the message's beginning";
    EXPECT_EQ(m.substr(kept), "... [cut: " + std::to_string(n - kept) + " more bytes]");
  }
  w.close();
}

}  // namespace
