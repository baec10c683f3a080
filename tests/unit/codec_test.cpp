// Unit tests of the mailbox frame codec (ipc/codec.hpp): round trips, and every malformed frame rejected
// with a message, never a crash (run under ASan: frames are decoded from heap buffers of exactly the
// length passed, so a read past it is caught).
#include "ipc/codec.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace strata::ipc {
namespace {

Tensor make_tensor(void* data, std::vector<int64_t> shape, DType dtype) {
  Tensor t;
  t.data = data;
  t.ndim = static_cast<uint8_t>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t.shape[i] = shape[i];
  t.dtype = dtype;
  return t;
}

template <class T>
uint64_t bits_of(T v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof v);
  return b;
}

struct Args {
  std::vector<Tensor> tensors;
  std::vector<Tag> tags;
  std::vector<uint64_t> scalars;
};

Args sample_args() {
  static float a[4];
  static double b[6];
  static int32_t c[1];
  Args args;
  args.tensors = {make_tensor(a, {4}, DType::F32), make_tensor(b, {2, 3}, DType::F64), make_tensor(c, {}, DType::I32),
                  make_tensor(nullptr, {1, 2, 3, 4, 5, 6, 7, 8}, DType::BF16)};
  args.tags = {Tag::Input, Tag::InOut, Tag::NoDep, Tag::Output};
  args.scalars = {bits_of(2.5f), bits_of(int64_t{-7}), bits_of(3.25), UINT64_MAX, 0};
  return args;
}

TaskFrameInfo sample_info() {
  TaskFrameInfo info;
  info.task_id = 0x123456789abcULL;
  info.callable = 42;
  info.block_dim = 3;
  info.part = 1;
  info.parts = 2;
  info.timeout_ns = 1'500'000'000;
  return info;
}

// An encoded frame held in a heap buffer of exactly its length.
std::vector<unsigned char> encode(const TaskFrameInfo& info, const Args& args) {
  std::vector<unsigned char> buf(kRequestSlotBytes);
  const size_t n = encode_task(info, args.tensors, args.tags, args.scalars, buf.data());
  EXPECT_EQ(n, task_frame_bytes(args.tensors, args.scalars.size()));
  buf.resize(n);
  return buf;
}

FrameHeader header_of(const std::vector<unsigned char>& frame) {
  FrameHeader h;
  std::memcpy(&h, frame.data(), sizeof h);
  return h;
}

void set_header(std::vector<unsigned char>* frame, const FrameHeader& h) { std::memcpy(frame->data(), &h, sizeof h); }

// Decodes from a heap copy of exactly `len` bytes (so ASan sees any read past it).
bool decode(const std::vector<unsigned char>& frame, size_t len, DecodedFrame* out, std::string* error) {
  std::unique_ptr<unsigned char[]> copy(new unsigned char[len == 0 ? 1 : len]);
  std::memcpy(copy.get(), frame.data(), std::min(len, frame.size()));
  return frame_decode(copy.get(), len, out, error);
}

// Expects the frame to be rejected with a message mentioning `word`.
void expect_rejected(const std::vector<unsigned char>& frame, const std::string& word, size_t len = SIZE_MAX) {
  auto out = std::make_unique<DecodedFrame>();
  std::string error;
  EXPECT_FALSE(decode(frame, len == SIZE_MAX ? frame.size() : len, out.get(), &error)) << "accepted; wanted: " << word;
  EXPECT_FALSE(error.empty());
  EXPECT_NE(error.find(word), std::string::npos) << "message '" << error << "' does not mention '" << word << "'";
}

TEST(Codec, TaskRoundTrip) {
  const Args args = sample_args();
  const TaskFrameInfo info = sample_info();
  const std::vector<unsigned char> frame = encode(info, args);
  auto out = std::make_unique<DecodedFrame>();
  std::string error;
  ASSERT_TRUE(decode(frame, frame.size(), out.get(), &error)) << error;
  const FrameHeader& h = out->header;
  EXPECT_EQ(h.magic, kFrameMagic);
  EXPECT_EQ(h.kind, static_cast<uint16_t>(FrameKind::Task));
  EXPECT_EQ(h.ndeps, 0u);
  EXPECT_EQ(h.task_id, info.task_id);
  EXPECT_EQ(h.callable, info.callable);
  EXPECT_EQ(h.block_dim, info.block_dim);
  EXPECT_EQ(h.part, info.part);
  EXPECT_EQ(h.parts, info.parts);
  EXPECT_EQ(h.timeout_ns, info.timeout_ns);
  ASSERT_EQ(h.ntensors, args.tensors.size());
  ASSERT_EQ(h.nscalars, args.scalars.size());
  EXPECT_EQ(h.payload_bytes, frame.size() - sizeof(FrameHeader));
  for (size_t i = 0; i < args.tensors.size(); ++i) {
    const Tensor& want = args.tensors[i];
    const Tensor& got = out->tensors[i];
    EXPECT_EQ(got.data, want.data) << i;
    EXPECT_EQ(got.dtype, want.dtype) << i;
    EXPECT_EQ(got.ndim, want.ndim) << i;
    for (uint8_t d = 0; d < want.ndim; ++d) EXPECT_EQ(got.shape[d], want.shape[d]) << i << "," << int{d};
    EXPECT_EQ(out->tags[i], args.tags[i]) << i;
  }
  for (size_t i = 0; i < args.scalars.size(); ++i) EXPECT_EQ(out->scalars[i], args.scalars[i]) << i;
  float f;
  std::memcpy(&f, &out->scalars[0], sizeof f);
  EXPECT_EQ(f, 2.5f);
  EXPECT_EQ(static_cast<int64_t>(out->scalars[1]), -7);
}

TEST(Codec, DepsRoundTrip) {
  // encode_task writes ndeps = 0; the scheduler fills in the producers before publishing.
  std::vector<unsigned char> frame = encode(sample_info(), sample_args());
  FrameHeader h = header_of(frame);
  EXPECT_EQ(h.ndeps, 0u);
  h.ndeps = kMaxFrameDeps;
  for (uint32_t i = 0; i < kMaxFrameDeps; ++i) h.deps[i] = 1000 + i;
  set_header(&frame, h);
  auto out = std::make_unique<DecodedFrame>();
  std::string error;
  ASSERT_TRUE(decode(frame, frame.size(), out.get(), &error)) << error;
  ASSERT_EQ(out->header.ndeps, kMaxFrameDeps);
  for (uint32_t i = 0; i < kMaxFrameDeps; ++i) EXPECT_EQ(out->header.deps[i], 1000 + i);
}

TEST(Codec, EveryDTypeAndTagRoundTrips) {
  static unsigned char mem[64];
  for (uint8_t dt = 0; dt < static_cast<uint8_t>(DType::kCount); ++dt) {
    for (uint8_t tag = 0; tag < static_cast<uint8_t>(Tag::kCount); ++tag) {
      Args args;
      args.tensors = {make_tensor(mem + dt, {dt, tag}, static_cast<DType>(dt))};
      args.tags = {static_cast<Tag>(tag)};
      const std::vector<unsigned char> frame = encode(TaskFrameInfo{}, args);
      auto out = std::make_unique<DecodedFrame>();
      std::string error;
      ASSERT_TRUE(decode(frame, frame.size(), out.get(), &error)) << error;
      EXPECT_EQ(out->tensors[0].dtype, static_cast<DType>(dt));
      EXPECT_EQ(out->tags[0], static_cast<Tag>(tag));
      EXPECT_EQ(out->tensors[0].data, mem + dt);
      EXPECT_EQ(out->tensors[0].shape[0], dt);
      EXPECT_EQ(out->tensors[0].shape[1], tag);
    }
  }
}

TEST(Codec, EmptyTask) {
  const std::vector<unsigned char> frame = encode(TaskFrameInfo{}, Args{});
  EXPECT_EQ(frame.size(), sizeof(FrameHeader));
  auto out = std::make_unique<DecodedFrame>();
  std::string error;
  ASSERT_TRUE(decode(frame, frame.size(), out.get(), &error)) << error;
  EXPECT_EQ(out->header.ntensors, 0u);
  EXPECT_EQ(out->header.nscalars, 0u);
  EXPECT_EQ(out->header.block_dim, 1u);
  EXPECT_EQ(out->header.parts, 1u);
}

TEST(Codec, FullSlotRoundTrips) {
  // The most tensors a slot holds (no extents), and the most scalars: both exactly fill the slot.
  static float x;
  Args tensors_only;
  for (size_t i = 0; i < kMaxFrameTensors; ++i) {
    tensors_only.tensors.push_back(make_tensor(&x, {}, DType::F32));
    tensors_only.tags.push_back(Tag::Input);
  }
  Args scalars_only;
  for (size_t i = 0; i < kMaxFrameScalars; ++i) scalars_only.scalars.push_back(i * 3);
  for (const Args* args : {&tensors_only, &scalars_only}) {
    const std::vector<unsigned char> frame = encode(TaskFrameInfo{}, *args);
    EXPECT_LE(frame.size(), kRequestSlotBytes);
    auto out = std::make_unique<DecodedFrame>();
    std::string error;
    ASSERT_TRUE(decode(frame, frame.size(), out.get(), &error)) << error;
    EXPECT_EQ(out->header.ntensors, args->tensors.size());
    EXPECT_EQ(out->header.nscalars, args->scalars.size());
    if (!args->scalars.empty()) {
      EXPECT_EQ(out->scalars[kMaxFrameScalars - 1], (kMaxFrameScalars - 1) * 3);
    }
  }
}

TEST(Codec, DecodesFromAWholeSlot) {
  // The child decodes from a slot of kRequestSlotBytes: bytes after the payload are ignored.
  std::vector<unsigned char> frame = encode(sample_info(), sample_args());
  const size_t n = frame.size();
  frame.resize(kRequestSlotBytes, 0xee);
  auto out = std::make_unique<DecodedFrame>();
  std::string error;
  ASSERT_TRUE(decode(frame, frame.size(), out.get(), &error)) << error;
  EXPECT_EQ(out->header.payload_bytes, n - sizeof(FrameHeader));
}

TEST(Codec, TaskFrameBytes) {
  EXPECT_EQ(task_frame_bytes({}, 0), sizeof(FrameHeader));
  const Args args = sample_args();
  // 4 tensors (16 bytes each) with 1 + 2 + 0 + 8 extents, 5 scalars.
  EXPECT_EQ(task_frame_bytes(args.tensors, 5), sizeof(FrameHeader) + 4 * 16 + 11 * 8 + 5 * 8);
}

TEST(Codec, LoadKernelRoundTrip) {
  std::vector<unsigned char> buf(kRequestSlotBytes);
  const size_t n = encode_load_kernel(7, "libkernels.so", "strata_kernel_scale", buf.data(), buf.size());
  ASSERT_GT(n, 0u);
  buf.resize(n);
  auto out = std::make_unique<DecodedFrame>();
  std::string error;
  ASSERT_TRUE(decode(buf, buf.size(), out.get(), &error)) << error;
  EXPECT_EQ(out->header.kind, static_cast<uint16_t>(FrameKind::LoadKernel));
  EXPECT_EQ(out->header.callable, 7u);
  // library/symbol point into the decoded bytes; compare through the frame we still hold.
  std::string error2;
  ASSERT_TRUE(frame_decode(buf.data(), buf.size(), out.get(), &error2));
  EXPECT_STREQ(out->library, "libkernels.so");
  EXPECT_STREQ(out->symbol, "strata_kernel_scale");
}

TEST(Codec, LoadKernelEmptyStrings) {
  std::vector<unsigned char> buf(kRequestSlotBytes);
  const size_t n = encode_load_kernel(1, "", "", buf.data(), buf.size());
  ASSERT_EQ(n, sizeof(FrameHeader) + 2);
  auto out = std::make_unique<DecodedFrame>();
  std::string error;
  ASSERT_TRUE(frame_decode(buf.data(), n, out.get(), &error)) << error;
  EXPECT_STREQ(out->library, "");
  EXPECT_STREQ(out->symbol, "");
}

TEST(Codec, LoadKernelTooLongIsRefused) {
  std::vector<unsigned char> buf(kRequestSlotBytes);
  const std::string lib(kFramePayloadBytes - 2, 'l');  // with two NULs: exactly the payload
  EXPECT_EQ(encode_load_kernel(1, lib, "", buf.data(), buf.size()), kRequestSlotBytes);
  EXPECT_EQ(encode_load_kernel(1, lib, "s", buf.data(), buf.size()), 0u);
  EXPECT_EQ(encode_load_kernel(1, "a", "b", buf.data(), sizeof(FrameHeader) + 3), 0u);
}

TEST(Codec, ShutdownRoundTrip) {
  std::vector<unsigned char> buf(kRequestSlotBytes);
  const size_t n = encode_shutdown(buf.data());
  EXPECT_EQ(n, sizeof(FrameHeader));
  buf.resize(n);
  auto out = std::make_unique<DecodedFrame>();
  std::string error;
  ASSERT_TRUE(decode(buf, buf.size(), out.get(), &error)) << error;
  EXPECT_EQ(out->header.kind, static_cast<uint16_t>(FrameKind::Shutdown));
}

// ---- Malformed frames -------------------------------------------------------------------------------

class Malformed : public ::testing::Test {
 protected:
  std::vector<unsigned char> frame_ = encode(sample_info(), sample_args());
  FrameHeader h_ = header_of(frame_);
  void apply() { set_header(&frame_, h_); }
};

TEST_F(Malformed, ShorterThanTheHeader) {
  for (size_t len : {size_t{0}, size_t{1}, sizeof(FrameHeader) - 1}) {
    auto out = std::make_unique<DecodedFrame>();
    std::string error;
    EXPECT_FALSE(decode(frame_, len, out.get(), &error)) << len;
    EXPECT_FALSE(error.empty());
  }
}

TEST_F(Malformed, BadMagic) {
  h_.magic = 0x12345678;
  apply();
  expect_rejected(frame_, "magic");
  h_.magic = 0;
  apply();
  expect_rejected(frame_, "magic");
}

TEST_F(Malformed, UnknownKind) {
  for (uint16_t kind : {uint16_t{0}, uint16_t{9}, uint16_t{0xffff}}) {
    h_.kind = kind;
    apply();
    expect_rejected(frame_, "kind");
  }
}

TEST_F(Malformed, TruncatedTensor) {
  static float x[2];
  Args one;
  one.tensors = {make_tensor(x, {2}, DType::F32)};
  one.tags = {Tag::Input};
  const std::vector<unsigned char> full = encode(TaskFrameInfo{}, one);  // 16 + 8 bytes of payload
  // A count of tensors larger than the payload holds: the payload ends where the second would start.
  {
    std::vector<unsigned char> f = full;
    FrameHeader h = header_of(f);
    h.ntensors = 2;
    set_header(&f, h);
    expect_rejected(f, "truncated");
  }
  // A payload that stops in the middle of the WireTensor, and one that stops inside the extents.
  for (uint32_t payload : {10u, 20u}) {
    std::vector<unsigned char> f = full;
    FrameHeader h = header_of(f);
    h.payload_bytes = payload;
    set_header(&f, h);
    f.resize(sizeof(FrameHeader) + payload);
    expect_rejected(f, "truncated");
  }
}

TEST_F(Malformed, TooManyDimensions) {
  Args one;
  static float x[2];
  one.tensors = {make_tensor(x, {1, 1, 1, 1, 1, 1, 1, 2}, DType::F32)};
  one.tags = {Tag::Input};
  std::vector<unsigned char> f = encode(TaskFrameInfo{}, one);
  // Patch ndim to 9 (and grow the payload so the extents would be there).
  f.resize(f.size() + 8, 0);
  f[sizeof(FrameHeader) + offsetof(WireTensor, ndim)] = kMaxDims + 1;
  FrameHeader h = header_of(f);
  h.payload_bytes += 8;
  set_header(&f, h);
  expect_rejected(f, "dimensions");
  f[sizeof(FrameHeader) + offsetof(WireTensor, ndim)] = 255;
  expect_rejected(f, "dimensions");
}

TEST_F(Malformed, BadDType) {
  for (unsigned char dt : {static_cast<unsigned char>(DType::kCount), static_cast<unsigned char>(255)}) {
    frame_[sizeof(FrameHeader) + offsetof(WireTensor, dtype)] = dt;
    expect_rejected(frame_, "dtype");
  }
}

TEST_F(Malformed, BadTag) {
  for (unsigned char tag : {static_cast<unsigned char>(Tag::kCount), static_cast<unsigned char>(200)}) {
    frame_[sizeof(FrameHeader) + offsetof(WireTensor, tag)] = tag;
    expect_rejected(frame_, "tag");
  }
}

TEST_F(Malformed, NegativeExtent) {
  const int64_t neg = -1;
  std::memcpy(&frame_[sizeof(FrameHeader) + sizeof(WireTensor)], &neg, sizeof neg);
  expect_rejected(frame_, "negative");
}

TEST_F(Malformed, PayloadSizeMismatch) {
  // Payload longer than its tensors and scalars.
  std::vector<unsigned char> longer = frame_;
  longer.resize(longer.size() + 8, 0);
  FrameHeader h = h_;
  h.payload_bytes += 8;
  set_header(&longer, h);
  expect_rejected(longer, "payload");
  // Payload one scalar short.
  h = h_;
  h.payload_bytes -= 8;
  set_header(&frame_, h);
  expect_rejected(frame_, "payload");
  // Scalar count that does not add up.
  h = h_;
  h.nscalars = static_cast<uint16_t>(h.nscalars + 1);
  set_header(&frame_, h);
  expect_rejected(frame_, "payload");
  h.nscalars = static_cast<uint16_t>(h_.nscalars - 1);
  set_header(&frame_, h);
  expect_rejected(frame_, "payload");
}

TEST_F(Malformed, PayloadOverrunsTheSlot) {
  h_.payload_bytes = static_cast<uint32_t>(frame_.size() - sizeof(FrameHeader) + 1);
  apply();
  expect_rejected(frame_, "overruns");
  h_.payload_bytes = UINT32_MAX;
  apply();
  expect_rejected(frame_, "overruns");
  // Also for control frames.
  std::vector<unsigned char> buf(sizeof(FrameHeader));
  encode_shutdown(buf.data());
  FrameHeader h = header_of(buf);
  h.payload_bytes = 1;
  set_header(&buf, h);
  expect_rejected(buf, "overruns");
}

TEST_F(Malformed, PartNotBelowParts) {
  h_.part = h_.parts;
  apply();
  expect_rejected(frame_, "part");
  h_.part = 0;
  h_.parts = 0;
  apply();
  expect_rejected(frame_, "part");
  h_.part = UINT32_MAX;
  h_.parts = 4;
  apply();
  expect_rejected(frame_, "part");
}

TEST_F(Malformed, BlockDimZero) {
  h_.block_dim = 0;
  apply();
  expect_rejected(frame_, "block_dim");
}

TEST_F(Malformed, TooManyDeps) {
  h_.ndeps = kMaxFrameDeps + 1;
  apply();
  expect_rejected(frame_, "dependencies");
}

TEST_F(Malformed, TooManyTensorsOrScalars) {
  FrameHeader h = h_;
  h.ntensors = static_cast<uint16_t>(kMaxFrameTensors + 1);
  set_header(&frame_, h);
  expect_rejected(frame_, "tensors");
  h = h_;
  h.ntensors = UINT16_MAX;
  set_header(&frame_, h);
  expect_rejected(frame_, "tensors");
  h = h_;
  h.nscalars = static_cast<uint16_t>(kMaxFrameScalars + 1);
  set_header(&frame_, h);
  expect_rejected(frame_, "scalars");
}

TEST_F(Malformed, LoadKernelStringsUnterminated) {
  std::vector<unsigned char> buf(kRequestSlotBytes);
  const size_t n = encode_load_kernel(3, "lib.so", "sym", buf.data(), buf.size());
  buf.resize(n);
  const size_t lib_nul = sizeof(FrameHeader) + 6;
  const size_t sym_nul = n - 1;
  {  // symbol not terminated
    std::vector<unsigned char> f = buf;
    f[sym_nul] = 'x';
    expect_rejected(f, "not terminated");
  }
  {  // neither string terminated
    std::vector<unsigned char> f = buf;
    f[lib_nul] = 'x';
    f[sym_nul] = 'x';
    expect_rejected(f, "not terminated");
  }
  {  // library terminated by the last byte: no symbol at all
    std::vector<unsigned char> f = buf;
    f[lib_nul] = 'x';
    expect_rejected(f, "not terminated");
  }
  {  // empty payload
    std::vector<unsigned char> f = buf;
    FrameHeader h = header_of(f);
    h.payload_bytes = 0;
    set_header(&f, h);
    f.resize(sizeof(FrameHeader));
    expect_rejected(f, "not terminated");
  }
  {  // payload ends right after the library's NUL
    std::vector<unsigned char> f = buf;
    FrameHeader h = header_of(f);
    h.payload_bytes = 7;
    set_header(&f, h);
    f.resize(sizeof(FrameHeader) + 7);
    expect_rejected(f, "not terminated");
  }
  {  // the NULs are beyond payload_bytes (but inside the buffer): still unterminated
    std::vector<unsigned char> f = buf;
    FrameHeader h = header_of(f);
    h.payload_bytes = 8;
    set_header(&f, h);
    expect_rejected(f, "not terminated");
  }
}

// ---- Fuzz ---------------------------------------------------------------------------------------------

// Checks a frame that decoded: whatever was accepted is within the documented limits.
void check_accepted(const DecodedFrame& d, size_t len) {
  const FrameHeader& h = d.header;
  ASSERT_EQ(h.magic, kFrameMagic);
  ASSERT_LE(sizeof(FrameHeader) + h.payload_bytes, len);
  if (h.kind != static_cast<uint16_t>(FrameKind::Task)) return;
  ASSERT_LE(h.ndeps, kMaxFrameDeps);
  ASSERT_LE(h.ntensors, kMaxFrameTensors);
  ASSERT_LE(h.nscalars, kMaxFrameScalars);
  ASSERT_LT(h.part, h.parts);
  ASSERT_GT(h.block_dim, 0u);
  for (uint16_t i = 0; i < h.ntensors; ++i) {
    ASSERT_LE(d.tensors[i].ndim, kMaxDims);
    ASSERT_LT(static_cast<uint8_t>(d.tensors[i].dtype), static_cast<uint8_t>(DType::kCount));
    ASSERT_LT(static_cast<uint8_t>(d.tags[i]), static_cast<uint8_t>(Tag::kCount));
    for (uint8_t k = 0; k < d.tensors[i].ndim; ++k) ASSERT_GE(d.tensors[i].shape[k], 0);
  }
}

TEST(CodecFuzz, MutatedFramesNeverCrash) {
  std::vector<std::vector<unsigned char>> seeds;
  seeds.push_back(encode(sample_info(), sample_args()));
  {
    std::vector<unsigned char> f(kRequestSlotBytes);
    f.resize(encode_load_kernel(9, "libk.so", "kernel", f.data(), f.size()));
    seeds.push_back(f);
  }
  {
    std::vector<unsigned char> f(sizeof(FrameHeader));
    encode_shutdown(f.data());
    seeds.push_back(f);
  }
  std::mt19937_64 rng(0x5717a7a);
  auto out = std::make_unique<DecodedFrame>();
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    std::vector<unsigned char> f = seeds[static_cast<size_t>(iter) % seeds.size()];
    // Sometimes pad to a whole slot of random bytes, as a frame sits in its slot.
    if (rng() % 4 == 0) {
      const size_t n = f.size();
      f.resize(kRequestSlotBytes);
      for (size_t i = n; i < f.size(); ++i) f[i] = static_cast<unsigned char>(rng());
    }
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      // Half of the mutations hit the header, where the counts live.
      const size_t span = rng() % 2 == 0 ? std::min(f.size(), sizeof(FrameHeader)) : f.size();
      f[rng() % span] = static_cast<unsigned char>(rng());
    }
    size_t len = f.size();
    if (rng() % 8 == 0) len = rng() % (f.size() + 1);  // truncated
    std::string error;
    if (decode(f, len, out.get(), &error)) {
      ++accepted;
      ASSERT_NO_FATAL_FAILURE(check_accepted(*out, len)) << "iteration " << iter;
    } else {
      ++rejected;
      ASSERT_FALSE(error.empty()) << "iteration " << iter << ": rejected without a message";
    }
  }
  // Both outcomes must occur, or the mutations are not exercising the decoder.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(rejected, 100);
}

}  // namespace
}  // namespace strata::ipc
