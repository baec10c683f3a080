// Unit tests of a pod's wire (pod/wire.hpp): which tags move which way, the bounds a task's tensors
// must lie in (sizes at the type's limits included), control messages that are not what they claim, and
// the registries ranks compare at init().
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>

#include "pod/wire.hpp"

namespace strata::pod {
namespace {

TEST(PodWire, TagsMoveTheWayTheyTouchTheTensor) {
  EXPECT_TRUE(moves_to_rank(Tag::Input));
  EXPECT_TRUE(moves_to_rank(Tag::InOut));
  EXPECT_FALSE(moves_to_rank(Tag::Output));
  EXPECT_FALSE(moves_to_rank(Tag::OutputExisting));
  EXPECT_FALSE(moves_to_rank(Tag::NoDep));
  EXPECT_FALSE(moves_to_root(Tag::Input));
  EXPECT_TRUE(moves_to_root(Tag::InOut));
  EXPECT_TRUE(moves_to_root(Tag::Output));
  EXPECT_TRUE(moves_to_root(Tag::OutputExisting));
  EXPECT_FALSE(moves_to_root(Tag::NoDep));
}

ipc::DecodedFrame frame_with(void* data, int64_t count, Tag tag) {
  ipc::DecodedFrame f{};
  f.header.ntensors = 1;
  f.tensors[0] = Tensor::make(data, {count}, DType::F32);
  f.tags[0] = tag;
  return f;
}

TEST(PodWire, TensorsMustLieInThePodMemoryEvenAtTheLimits) {
  // The pod memory is the middle page of three (so the pointers below stay inside one object).
  alignas(64) static char pages[3 * 4096];
  char* memory = pages + 4096;
  constexpr size_t kBytes = 4096;
  const auto base = reinterpret_cast<uintptr_t>(memory);
  std::string why;
  EXPECT_TRUE(tensors_within(frame_with(memory, 1024, Tag::InOut), base, kBytes, &why)) << why;
  EXPECT_TRUE(tensors_within(frame_with(memory + 4092, 1, Tag::Input), base, kBytes, &why)) << why;
  EXPECT_FALSE(tensors_within(frame_with(memory + 4092, 2, Tag::Input), base, kBytes, &why));
  EXPECT_NE(why.find("does not lie in the pod's memory"), std::string::npos) << why;
  EXPECT_FALSE(tensors_within(frame_with(memory - 4, 1, Tag::Output), base, kBytes, &why));
  // A size whose end wraps around the address space is refused, not wrapped into range.
  ipc::DecodedFrame huge = frame_with(memory + 64, 1, Tag::InOut);
  huge.tensors[0].shape[0] = std::numeric_limits<int64_t>::max() / 4;
  EXPECT_FALSE(tensors_within(huge, base, kBytes, &why));
  // NO_DEP tensors do not move: they may lie anywhere.
  EXPECT_TRUE(tensors_within(frame_with(memory - 4096, 4, Tag::NoDep), base, kBytes, &why)) << why;
}

TEST(PodWire, MessagesAreReadOnlyWhenWhole) {
  MessageHeader h;
  h.kind = MessageKind::Done;
  h.id = 42;
  const std::string m = message(h, "abc", 3);
  MessageHeader got;
  std::string payload;
  ASSERT_TRUE(read_message(m.data(), m.size(), &got, &payload));
  EXPECT_EQ(got.kind, MessageKind::Done);
  EXPECT_EQ(got.id, 42u);
  EXPECT_EQ(payload, "abc");
  EXPECT_FALSE(read_message(m.data(), m.size() - 1, &got, &payload)) << "shorter than its header says";
  EXPECT_FALSE(read_message(m.data(), sizeof(MessageHeader) - 1, &got, &payload)) << "no whole header";
  std::string bad = m;
  bad[0] ^= 1;
  EXPECT_FALSE(read_message(bad.data(), bad.size(), &got, &payload)) << "bad magic";
  EXPECT_FALSE(read_message(m.data(), kMaxMessage + 1, &got, &payload)) << "longer than any message";
}

TEST(PodWire, RegistriesRoundTripAndNameWhatDiffers) {
  Registry a;
  a.kernels = {"mm", "add"};
  a.hosts = {"check"};
  a.orchs = {"step"};
  Registry b;
  const std::string enc = a.encode();
  ASSERT_TRUE(Registry::decode(enc.data(), enc.size(), &b));
  EXPECT_EQ(b.kernels, a.kernels);
  EXPECT_EQ(b.hosts, a.hosts);
  EXPECT_EQ(b.orchs, a.orchs);
  EXPECT_EQ(a.difference(b), "");
  // Order does not matter; names do.
  b.kernels = {"add", "mm"};
  EXPECT_EQ(a.difference(b), "");
  b.kernels = {"add", "extra"};
  b.orchs = {};
  const std::string d = a.difference(b);
  EXPECT_NE(d.find("it lacks kernel 'mm'"), std::string::npos) << d;
  EXPECT_NE(d.find("it has kernel 'extra' the root does not"), std::string::npos) << d;
  EXPECT_NE(d.find("it lacks orchestration function 'step'"), std::string::npos) << d;
  // A truncated encoding is refused, never read past its end.
  Registry c;
  EXPECT_FALSE(Registry::decode(enc.data(), enc.size() - 2, &c));
}

}  // namespace
}  // namespace strata::pod
