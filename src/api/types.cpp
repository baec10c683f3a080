// Out-of-line parts of the public value types (strata/types.hpp, kernel.hpp, errors.hpp, version.hpp).
#include "strata/types.hpp"

#include <stdexcept>
#include <string>

#include "strata/errors.hpp"
#include "strata/kernel.hpp"
#include "strata/version.hpp"

namespace strata {

size_t dtype_size(DType dt) noexcept {
  switch (dt) {
    case DType::U8:
    case DType::I8:
      return 1;
    case DType::I16:
    case DType::F16:
    case DType::BF16:
      return 2;
    case DType::I32:
    case DType::U32:
    case DType::F32:
      return 4;
    case DType::I64:
    case DType::U64:
    case DType::F64:
      return 8;
    default:
      return 0;
  }
}

const char* dtype_name(DType dt) noexcept {
  static const char* const names[] = {"u8", "i8", "i16", "i32", "i64", "u32", "u64", "f16", "bf16", "f32", "f64"};
  const auto i = static_cast<size_t>(dt);
  return i < sizeof names / sizeof names[0] ? names[i] : "invalid";
}

const char* reduce_op_name(ReduceOp op) noexcept {
  static const char* const names[] = {"sum", "max", "min", "avg"};
  const auto i = static_cast<size_t>(op);
  return i < sizeof names / sizeof names[0] ? names[i] : "invalid";
}

const char* tag_name(Tag tag) noexcept {
  static const char* const names[] = {"INPUT", "OUTPUT", "INOUT", "OUTPUT_EXISTING", "NO_DEP"};
  const auto i = static_cast<size_t>(tag);
  return i < sizeof names / sizeof names[0] ? names[i] : "invalid";
}

const char* child_kind_name(ChildKind kind) noexcept {
  switch (kind) {
    case ChildKind::Chip:
      return "chip";
    case ChildKind::Sub:
      return "sub";
    case ChildKind::Worker:
      return "worker";
  }
  return "child";
}

namespace {
std::string frame_text(const Frame& f) {
  std::string s = "task #" + std::to_string(f.task_id) + " '" + f.task_name + "' failed";
  if (f.child_index >= 0) {
    s += " on ";
    if (f.rank >= 0)
      s += "rank " + std::to_string(f.rank) + " (L" + std::to_string(f.level - 1) + ")";
    else if (f.child_kind == ChildKind::Worker)
      s += "L" + std::to_string(f.level - 1) + " ";
    if (f.rank < 0) s += std::string(child_kind_name(f.child_kind)) + " " + std::to_string(f.child_index);
  }
  return s;
}

std::string task_error_text(const std::vector<Frame>& frames, const std::string& type, const std::string& message) {
  std::string s;
  for (const Frame& f : frames) s += frame_text(f) + ": ";
  if (!type.empty()) s += type + ": ";
  return s + message;
}
}  // namespace

TaskError::TaskError(std::vector<Frame> frames, std::string error_type, std::string message)
    : Error(task_error_text(frames, error_type, message)),
      frames_(std::move(frames)),
      error_type_(std::move(error_type)),
      message_(std::move(message)) {
  if (frames_.empty()) frames_.push_back(Frame{});
}

Tensor Tensor::make(void* data, std::span<const int64_t> shape, DType dtype) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    throw UsageError("Tensor::make: " + std::to_string(shape.size()) + " dimensions; at most " +
                     std::to_string(kMaxDims) + " are supported");
  if (dtype_size(dtype) == 0) throw UsageError("Tensor::make: invalid dtype");
  Tensor t;
  t.data = data;
  t.dtype = dtype;
  t.ndim = static_cast<uint8_t>(shape.size());
  size_t bytes = dtype_size(dtype);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) throw UsageError("Tensor::make: negative extent " + std::to_string(shape[i]));
    t.shape[i] = shape[i];
    if (__builtin_mul_overflow(bytes, static_cast<size_t>(shape[i]), &bytes))
      throw UsageError("Tensor::make: a " + std::string(dtype_name(dtype)) + " tensor of extent " +
                       std::to_string(shape[i]) + " in dimension " + std::to_string(i) +
                       " is larger than the address space");
  }
  return t;
}

size_t Tensor::numel() const noexcept {
  size_t n = 1;
  for (uint8_t i = 0; i < ndim; ++i) n *= static_cast<size_t>(shape[i]);
  return n;
}

size_t Tensor::nbytes() const noexcept { return numel() * dtype_size(dtype); }

const Tensor& TaskContext::tensor(size_t i) const {
  if (i >= tensors_.size())
    throw std::out_of_range("TaskContext::tensor(" + std::to_string(i) + "): the task has " +
                            std::to_string(tensors_.size()) + " tensors");
  return tensors_[i];
}

Tag TaskContext::tag(size_t i) const {
  if (i >= tags_.size()) throw std::out_of_range("TaskContext::tag(" + std::to_string(i) + ")");
  return tags_[i];
}

uint64_t TaskContext::scalar_bits(size_t i) const {
  if (i >= scalars_.size())
    throw std::out_of_range("TaskContext::scalar(" + std::to_string(i) + "): the task has " +
                            std::to_string(scalars_.size()) + " scalars");
  return scalars_[i];
}

#ifndef STRATA_VERSION_STRING
#define STRATA_VERSION_STRING "0.0.0"
#endif
const char* version() noexcept { return STRATA_VERSION_STRING; }

}  // namespace strata
