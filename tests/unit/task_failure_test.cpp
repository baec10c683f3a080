// Unit tests of ipc/task_failure: a failed task's report round-trips (type, frames, message), fits a
// completion's payload at every bound, cuts long messages at a character boundary saying how much was
// cut, and turns a payload that is not a report into a plain message instead of misreading it.
#include "ipc/task_failure.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "ipc/channel.hpp"

namespace strata::ipc {
namespace {

using namespace std::string_literals;

struct Oddity {};

TEST(TaskFailure, RoundTripsTypeFramesAndMessage) {
  TaskFailure f{"my::Error", "it broke: \n\t\0 inside"s, {}};
  f.frames.push_back(Frame{3, 17, "inner task", ChildKind::Chip, 2});
  f.frames.push_back(Frame{3, 1ull << 40, "", ChildKind::Sub, -1});
  f.frames.push_back(Frame{4, 5, "step", ChildKind::Worker, 1, 2});
  const TaskFailure g = decode_task_failure(encode_task_failure(f));
  EXPECT_EQ(g.type, f.type);
  EXPECT_EQ(g.message, f.message);
  ASSERT_EQ(g.frames.size(), 3u);
  EXPECT_EQ(g.frames[0].rank, -1);
  EXPECT_EQ(g.frames[2].rank, 2) << "a pod over MPI's rank crosses the mailbox";
  EXPECT_EQ(g.frames[2].child_kind, ChildKind::Worker);
  EXPECT_EQ(g.frames[0].level, 3);
  EXPECT_EQ(g.frames[0].task_id, 17u);
  EXPECT_EQ(g.frames[0].task_name, "inner task");
  EXPECT_EQ(g.frames[0].child_kind, ChildKind::Chip);
  EXPECT_EQ(g.frames[0].child_index, 2);
  EXPECT_EQ(g.frames[1].task_id, 1ull << 40);
  EXPECT_EQ(g.frames[1].child_kind, ChildKind::Sub);
  EXPECT_EQ(g.frames[1].child_index, -1);
}

TEST(TaskFailure, TheLargestReportFitsAPayload) {
  TaskFailure f{std::string(10000, 't'), std::string(100000, 'm'), {}};
  for (int i = 0; i < 20; ++i) f.frames.push_back(Frame{4, 1, std::string(1000, 'n'), ChildKind::Worker, i});
  const std::string enc = encode_task_failure(f);
  EXPECT_LE(enc.size(), kPayloadBytes);
  const TaskFailure g = decode_task_failure(enc);
  EXPECT_EQ(g.type.size(), kMaxNameBytes);
  EXPECT_EQ(g.frames.size(), kMaxFailureFrames);
  EXPECT_EQ(g.frames[0].task_name.size(), kMaxNameBytes);
  EXPECT_LE(g.message.size(), kMaxErrorMessageBytes);
}

TEST(TaskFailure, MessagesAreCutOnlyPastTheBoundAndNeverInsideACharacter) {
  const std::string exact(kMaxErrorMessageBytes, 'x');
  EXPECT_EQ(bound_message(exact), exact);
  std::string accents;
  while (accents.size() < kMaxErrorMessageBytes + 10) accents += "\xc3\xa9";  // "é", two bytes each
  const std::string cut = bound_message(accents);
  EXPECT_LE(cut.size(), kMaxErrorMessageBytes);
  const size_t at = cut.find("... [cut: ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(at % 2, 0u) << "cut inside a two-byte character";
  EXPECT_EQ(cut.substr(at), "... [cut: " + std::to_string(accents.size() - at) + " more bytes]");
}

TEST(TaskFailure, APayloadThatIsNotAReportIsTheMessage) {
  for (const std::string& text : {std::string(), std::string("plain text"), std::string("STFL"),
                                  std::string("STFL\xff\xff truncated header", 22)}) {
    const TaskFailure f = decode_task_failure(text);
    EXPECT_EQ(f.message, text);
    EXPECT_EQ(f.type, "");
    EXPECT_TRUE(f.frames.empty());
  }
}

TEST(TaskFailure, TheCurrentExceptionsTypeIsDemangled) {
  try {
    throw std::out_of_range("x");
  } catch (...) {
    EXPECT_EQ(current_exception_type(), "std::out_of_range");
  }
  try {
    throw Oddity{};
  } catch (...) {
    EXPECT_EQ(current_exception_type(), "strata::ipc::(anonymous namespace)::Oddity");
  }
}

}  // namespace
}  // namespace strata::ipc
