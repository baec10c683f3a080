// strata/kernel.hpp — what a kernel or host callable sees, and how kernels are registered.
//
// A kernel is a C++ function `void(const strata::TaskContext&)` run inside a chip process. On the sim
// backend a chip runs a task as `block_dim` blocks on a small thread pool of its own: the function is
// called once per block, possibly concurrently, each call with its own block_idx(). A host callable gets
// the same TaskContext (block 0 of 1) inside a sub process. Throwing fails the task; the message is the
// exception's what(). The pointers in the tensors are valid in the callee's process (strata buffers are
// mapped at the same address in every process).
//
// Register a kernel linked into the program with STRATA_KERNEL; a kernel in a shared library is exported
// with the same macro and loaded with Worker::load_kernel(path, name), also after init().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "strata/types.hpp"

namespace strata {

/// Arguments and position of one call of a kernel (one block) or host callable.
class TaskContext {
 public:
  TaskContext(std::span<const Tensor> tensors, std::span<const Tag> tags, std::span<const uint64_t> scalars,
              uint64_t task_id, uint32_t block_idx, uint32_t block_dim, int worker_index, uint32_t part,
              uint32_t parts) noexcept
      : tensors_(tensors),
        tags_(tags),
        scalars_(scalars),
        task_id_(task_id),
        block_idx_(block_idx),
        block_dim_(block_dim),
        worker_index_(worker_index),
        part_(part),
        parts_(parts) {}

  size_t tensor_count() const noexcept { return tensors_.size(); }
  size_t scalar_count() const noexcept { return scalars_.size(); }
  /// The i-th tensor; throws std::out_of_range past the end.
  const Tensor& tensor(size_t i) const;
  Tag tag(size_t i) const;
  /// The i-th tensor's data as T*.
  template <class T>
  T* data(size_t i) const {
    return tensor(i).as<T>();
  }
  /// The i-th scalar reinterpreted as T (the inverse of TaskArgs::scalar).
  template <class T>
  T scalar(size_t i) const {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "scalars are at most 64 bits");
    uint64_t bits = scalar_bits(i);
    T v;
    std::memcpy(&v, &bits, sizeof(T));
    return v;
  }
  uint64_t scalar_bits(size_t i) const;
  std::span<const Tensor> tensors() const noexcept { return tensors_; }
  std::span<const Tag> tags() const noexcept { return tags_; }
  std::span<const uint64_t> scalars() const noexcept { return scalars_; }

  uint64_t task_id() const noexcept { return task_id_; }
  /// This call's block, 0..block_dim()-1.
  uint32_t block_idx() const noexcept { return block_idx_; }
  uint32_t block_dim() const noexcept { return block_dim_; }
  /// Index of the child running this call among its kind (chip index, sub index, worker index).
  int worker_index() const noexcept { return worker_index_; }
  /// For a group task: this chip's position in the group (0..parts()-1); 0 of 1 otherwise.
  uint32_t part() const noexcept { return part_; }
  uint32_t parts() const noexcept { return parts_; }

 private:
  std::span<const Tensor> tensors_;
  std::span<const Tag> tags_;
  std::span<const uint64_t> scalars_;
  uint64_t task_id_;
  uint32_t block_idx_, block_dim_;
  int worker_index_;
  uint32_t part_, parts_;
};

using KernelFn = void (*)(const TaskContext&);

namespace detail {
/// C ABI entry exported for every STRATA_KERNEL so a shared library's kernels can be found with dlsym.
/// Returns 0 on success, else writes the exception's demangled type name (a HostError's type()) and its
/// message into err, each NUL-terminated, one after the other (no exception crosses it).
using KernelEntry = int (*)(const TaskContext* ctx, char* err, size_t err_len) noexcept;
int kernel_entry_call(KernelFn fn, const TaskContext* ctx, char* err, size_t err_len) noexcept;
/// Adds a kernel to the program's static registry (called by STRATA_KERNEL at static-init time).
struct KernelRegistrar {
  KernelRegistrar(const char* name, KernelFn fn) noexcept;
};
}  // namespace detail

}  // namespace strata

/// Defines a kernel named `name` and registers it with the program, e.g.
/// @code
///   STRATA_KERNEL(scale) {
///     float* x = ctx.data<float>(0);
///     const auto n = ctx.tensor(0).numel();
///     for (size_t i = ctx.block_idx(); i < n; i += ctx.block_dim()) x[i] *= ctx.scalar<float>(0);
///   }
/// @endcode
/// The body sees `const strata::TaskContext& ctx`. It also exports the C symbol
/// `strata_kernel_<name>` so Worker::load_kernel can find it in a shared library.
#define STRATA_KERNEL(name)                                                                                         \
  static void strata_kernel_body_##name(const ::strata::TaskContext& ctx);                                          \
  extern "C" __attribute__((visibility("default"), used)) int strata_kernel_##name(                                 \
      const ::strata::TaskContext* ctx, char* err, size_t err_len) noexcept {                                       \
    return ::strata::detail::kernel_entry_call(&strata_kernel_body_##name, ctx, err, err_len);                      \
  }                                                                                                                 \
  static const ::strata::detail::KernelRegistrar strata_kernel_registrar_##name{#name, &strata_kernel_body_##name}; \
  static void strata_kernel_body_##name(const ::strata::TaskContext& ctx)
