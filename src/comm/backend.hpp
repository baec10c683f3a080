// comm/backend.hpp — the one narrow interface behind which chip kinds differ.
//
// A ChipBackend lives in a chip process (created there after fork) and does what depends on the kind of
// chip: running a kernel as `block_dim` blocks, device memory, and copies between host and device. Core
// code holds only this interface and never asks which backend it has. A backend is a folder under comm/
// that fills this interface and registers itself in one line with STRATA_REGISTER_BACKEND; a backend
// whose hardware is missing reports itself unavailable instead of failing to build.
//
// Thread use: every method is called from the chip process's main thread; run_kernel may use threads of
// its own. No method throws: failures come back as false plus a message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "strata/kernel.hpp"

namespace strata::comm {

/// A kernel as a chip process knows it: a function linked into the program, or the C entry of a kernel
/// loaded from a shared library.
struct KernelImpl {
  KernelFn fn = nullptr;
  detail::KernelEntry entry = nullptr;
};

/// Calls one block of a kernel, turning an exception into false + message. Thread-safe.
bool kernel_invoke(const KernelImpl& k, const TaskContext& ctx, std::string* error) noexcept;

struct ChipInfo {
  int chip_index = 0;  // position among the Worker's chips
  int device_id = 0;   // the device this chip drives
  uint32_t threads = 1;  // block pool size (sim)
};

class ChipBackend {
 public:
  virtual ~ChipBackend() = default;
  virtual const char* name() const noexcept = 0;
  /// Brings the chip up in its process. False + message on failure (init() then fails naming the chip).
  virtual bool start(const ChipInfo& info, std::string* error) noexcept = 0;
  /// Releases everything start() and later calls acquired.
  virtual void stop() noexcept = 0;
  /// Runs `kernel` as ctx.block_dim() blocks (each call gets its own block_idx) and returns once all
  /// have finished; false + the first block's message if any block failed.
  virtual bool run_kernel(const KernelImpl& kernel, const TaskContext& ctx, std::string* error) noexcept = 0;
  /// Device memory of this chip (host memory for sim); nullptr + message on failure.
  virtual void* device_alloc(size_t bytes, std::string* error) noexcept = 0;
  virtual void device_free(void* ptr) noexcept = 0;
  /// Synchronous copies between host memory and this chip's memory.
  virtual bool copy_to_device(void* dst, const void* src, size_t bytes, std::string* error) noexcept = 0;
  virtual bool copy_from_device(void* dst, const void* src, size_t bytes, std::string* error) noexcept = 0;
};

using BackendFactory = std::unique_ptr<ChipBackend> (*)();

struct BackendRegistrar {
  /// `available` says whether the hardware is there (a missing backend is listed but not usable).
  BackendRegistrar(const char* name, BackendFactory factory, bool (*available)()) noexcept;
};

/// A new backend of that name, or nullptr if unknown or unavailable.
std::unique_ptr<ChipBackend> make_backend(const std::string& name);
/// True if a backend of that name is compiled in and its hardware is present.
bool backend_available(const std::string& name);
/// Every compiled-in backend as "name" or "name (unavailable)".
std::vector<std::string> backend_names();

}  // namespace strata::comm

#define STRATA_REGISTER_BACKEND(name, factory, available) \
  static const ::strata::comm::BackendRegistrar strata_backend_registrar_##name{#name, factory, available}
