// strata/types.hpp — the values a task is built from: element types, tensors, tags, task arguments and
// call configuration.
//
// These are plain value types: no process, thread or shared-memory state. Any thread may build them; a
// TaskArgs is copied into a mailbox frame when submitted, so it may be reused or destroyed right after
// `submit` returns. A Tensor only *describes* memory (address, shape, dtype): strata never owns memory
// through it.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace strata {

/// Element type of a tensor. The numeric values are part of the mailbox frame format.
enum class DType : uint8_t { U8 = 0, I8, I16, I32, I64, U32, U64, F16, BF16, F32, F64, kCount };

/// Bytes per element of `dt` (0 for an invalid value).
size_t dtype_size(DType dt) noexcept;
/// Lower-case name of `dt` ("f32"), or "invalid".
const char* dtype_name(DType dt) noexcept;

/// How a reducing collective (allreduce, reduce-scatter) combines the ranks' elements: Avg is the sum
/// divided by the rank count (integers: the wrapped sum divided with truncation toward zero).
enum class ReduceOp : uint32_t { Sum = 0, Max, Min, Avg };
/// Lower-case name of `op` ("sum"), or "invalid".
const char* reduce_op_name(ReduceOp op) noexcept;

/// The DType that matches a C++ element type: `dtype_of<float>() == DType::F32`.
template <class T>
constexpr DType dtype_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, float>)
    return DType::F32;
  else if constexpr (std::is_same_v<U, double>)
    return DType::F64;
  else if constexpr (std::is_same_v<U, int8_t>)
    return DType::I8;
  else if constexpr (std::is_same_v<U, int16_t>)
    return DType::I16;
  else if constexpr (std::is_same_v<U, int32_t>)
    return DType::I32;
  else if constexpr (std::is_same_v<U, int64_t>)
    return DType::I64;
  else if constexpr (std::is_same_v<U, uint8_t>)
    return DType::U8;
  else if constexpr (std::is_same_v<U, uint32_t>)
    return DType::U32;
  else if constexpr (std::is_same_v<U, uint64_t>)
    return DType::U64;
  else
    static_assert(sizeof(U) == 0, "no strata::DType for this element type");
}

/// Most dimensions a tensor may have.
inline constexpr int kMaxDims = 8;

/// A view of memory that a task reads or writes: base address, shape and element type.
///
/// Dependencies are tracked per base address (`data`), so two tensors over the same base are the same
/// object to the scheduler whatever their shapes.
struct Tensor {
  void* data = nullptr;
  std::array<int64_t, kMaxDims> shape{};
  uint8_t ndim = 0;
  DType dtype = DType::U8;

  /// A tensor over `data` with the given shape (at most kMaxDims dimensions).
  static Tensor make(void* data, std::span<const int64_t> shape, DType dtype);
  static Tensor make(void* data, std::initializer_list<int64_t> shape, DType dtype) {
    return make(data, std::span<const int64_t>(shape.begin(), shape.size()), dtype);
  }
  /// A one-dimensional tensor of `count` elements of T.
  template <class T>
  static Tensor of(T* data, int64_t count) {
    return make(const_cast<std::remove_cv_t<T>*>(data), {count}, dtype_of<T>());
  }

  /// Number of elements (product of the shape; 1 for a scalar tensor with ndim 0).
  size_t numel() const noexcept;
  /// numel() * dtype_size(dtype).
  size_t nbytes() const noexcept;
  /// The data as T*. Does not check the dtype: kernels know what they were given.
  template <class T>
  T* as() const noexcept {
    return static_cast<T*>(data);
  }
};

/// How a task touches a tensor; drives dependency inference. Tasks are ordered per tensor base address as
/// if they ran one by one in submission order (docs/api.md, `enum class Tag`):
///
/// | tag            | waits for the last writer | and every reader since it | becomes                            |
/// |----------------|---------------------------|---------------------------|------------------------------------|
/// | Input          | yes                       | no                        | a reader                           |
/// | InOut          | yes                       | yes                       | the last writer                    |
/// | Output         | yes                       | yes                       | the last writer (*)                |
/// | OutputExisting | yes                       | yes                       | the last writer; never allocated   |
/// | NoDep          | no                        | no                        | nothing                            |
///
/// (*) An Output with a null `data` is a fresh allocation from the run heap and waits for nothing.
enum class Tag : uint8_t { Input = 0, Output, InOut, OutputExisting, NoDep, kCount };

/// Name of a tag ("INPUT", ...).
const char* tag_name(Tag tag) noexcept;

/// Arguments of one task: tagged tensors and 64-bit scalars, in the order the callable reads them.
///
/// @code
///   strata::TaskArgs args;
///   args.input(a.tensor()).output(c.tensor()).scalar(2.0f).scalar(int64_t{n});
/// @endcode
class TaskArgs {
 public:
  TaskArgs& add(const Tensor& t, Tag tag) {
    tensors_.push_back(t);
    tags_.push_back(tag);
    return *this;
  }
  TaskArgs& input(const Tensor& t) { return add(t, Tag::Input); }
  TaskArgs& output(const Tensor& t) { return add(t, Tag::Output); }
  TaskArgs& inout(const Tensor& t) { return add(t, Tag::InOut); }
  TaskArgs& output_existing(const Tensor& t) { return add(t, Tag::OutputExisting); }
  TaskArgs& no_dep(const Tensor& t) { return add(t, Tag::NoDep); }

  /// Appends a scalar of any trivially copyable type of at most 8 bytes (bits zero-extended); a kernel
  /// reads it back with `ctx.scalar<T>(i)`.
  template <class T>
  TaskArgs& scalar(T v) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "scalars are at most 64 bits");
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    scalars_.push_back(bits);
    return *this;
  }

  size_t tensor_count() const noexcept { return tensors_.size(); }
  size_t scalar_count() const noexcept { return scalars_.size(); }
  const Tensor& tensor(size_t i) const { return tensors_.at(i); }
  Tensor& tensor(size_t i) { return tensors_.at(i); }
  Tag tag(size_t i) const { return tags_.at(i); }
  uint64_t scalar_bits(size_t i) const { return scalars_.at(i); }
  std::span<const Tensor> tensors() const noexcept { return tensors_; }
  std::span<const Tag> tags() const noexcept { return tags_; }
  std::span<const uint64_t> scalars() const noexcept { return scalars_; }

 private:
  std::vector<Tensor> tensors_;
  std::vector<Tag> tags_;
  std::vector<uint64_t> scalars_;
};

/// How one task is run.
struct CallConfig {
  /// Blocks a sim chip runs the kernel as (on its small thread pool); ignored by host callables.
  uint32_t block_dim = 1;
  /// If non-zero: once the task has started, it must finish within this time. A task past its timeout
  /// fails and, because a hung kernel cannot be taken back, its child process is killed (the Worker then
  /// reports that child as dead on later calls).
  std::chrono::milliseconds timeout{0};
};

}  // namespace strata
