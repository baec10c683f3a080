// comm/backend.hpp — the one narrow interface behind which chip kinds differ.
//
// A ChipBackend lives in a chip process (created there after fork) and does what depends on the kind of
// chip: running a kernel as `block_dim` blocks, device memory, copies between host and device, and
// windows (allocate + export a descriptor, import a peer's descriptor, write the window's context page,
// release). Core code holds only this interface and never asks which backend it has. A backend is a
// folder under comm/ that fills this interface and registers itself in one line with
// STRATA_REGISTER_BACKEND; a backend whose hardware is missing reports itself unavailable instead of
// failing to build.
//
// Descriptors are opaque and variable-size (up to kMaxWindowDescriptorBytes: a sim offset, a CUDA
// shareable handle), and the backend writes the CommContext and the buffer table into its own memory
// (write_context), so a device backend needs nothing from core but this file.
//
// Options: when a Worker is built, configure_backend() has the backend check WorkerOptions::backend.options
// (and whatever else it reads then, such as the sim's fault injection STRATA_SIM_FAULTS) in the parent,
// before any process is forked, and turn them into the settings every chip gets in ChipInfo::settings.
// A backend without a configure function takes no options.
//
// Thread use: every method is called from the chip process's main thread; run_kernel may use threads of
// its own. No method throws: failures come back as false plus a message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ipc/task_failure.hpp"
#include "strata/comm_context.h"
#include "strata/kernel.hpp"

namespace strata::comm {

/// A kernel as a chip process knows it: a function linked into the program, or the C entry of a kernel
/// loaded from a shared library.
struct KernelImpl {
  KernelFn fn = nullptr;
  detail::KernelEntry entry = nullptr;
};

/// Calls one block of a kernel, turning an exception into false + its type and message. Thread-safe.
bool kernel_invoke(const KernelImpl& k, const TaskContext& ctx, ipc::TaskFailure* failure) noexcept;

/// What a backend sets up in the parent before the chips are forked (e.g. the sim backend's device
/// memory, which must be mapped before fork so every chip sees every window at the same address).
/// Owned by the Worker; destroyed at close().
class BackendShared {
 public:
  virtual ~BackendShared() = default;
};

struct ChipInfo {
  int chip_index = 0;               // position among the Worker's chips
  int chip_count = 1;               // chips of the Worker
  int device_id = 0;                // the device this chip drives
  uint32_t threads = 1;             // block pool size (sim)
  BackendShared* shared = nullptr;  // what prepare() made, inherited by fork
  std::string settings;             // what the backend's configure made when the Worker was built
};

inline constexpr size_t kMaxWindowDescriptorBytes = 1024;

/// Opaque description of a window that another chip can import (sim: an offset; CUDA: an IPC handle).
struct WindowDescriptor {
  uint32_t size = 0;  // bytes of `bytes` in use
  uint32_t reserved = 0;
  unsigned char bytes[kMaxWindowDescriptorBytes] = {};
};

/// One key of a "key=value,key=value" list a backend accepts (in its options or its own settings).
struct BackendOption {
  const char* key;
  const char* doc;  // what it does, and its value (an integer)
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
  /// have finished; false + the first failing block's exception type and message if any block failed.
  virtual bool run_kernel(const KernelImpl& kernel, const TaskContext& ctx, ipc::TaskFailure* failure) noexcept = 0;
  /// Device memory of this chip (host memory for sim); nullptr + message on failure.
  virtual void* device_alloc(size_t bytes, std::string* error) noexcept = 0;
  virtual void device_free(void* ptr) noexcept = 0;
  /// Synchronous copies between host memory and this chip's memory.
  virtual bool copy_to_device(void* dst, const void* src, size_t bytes, std::string* error) noexcept = 0;
  virtual bool copy_from_device(void* dst, const void* src, size_t bytes, std::string* error) noexcept = 0;

  // ---- Windows (communication domains) ----
  /// Brings up the base communicator among the Worker's chips (before the first window on this chip).
  virtual bool comm_bringup(std::string* error) noexcept = 0;
  /// Allocates `bytes` (a multiple of 4096) of this chip's memory for a window, zeroed before it returns,
  /// and describes it so peers can import it.
  virtual bool window_alloc(size_t bytes, void** local, WindowDescriptor* desc, std::string* error) noexcept = 0;
  /// Makes a peer's window addressable from this chip.
  virtual bool window_import(const WindowDescriptor& desc, void** addr, std::string* error) noexcept = 0;
  virtual void window_unimport(void* addr) noexcept = 0;
  /// Writes a window's context page (this chip's memory, at `page`): the CommContext, then the buffer
  /// table at `table` (also in the page).
  virtual bool write_context(void* page, const CommContext& ctx, void* table,
                             std::span<const strata_comm_buffer> buffers, std::string* error) noexcept = 0;
  /// Frees a window window_alloc gave (after every peer has unimported it).
  virtual void window_free(void* local) noexcept = 0;
};

using BackendFactory = std::unique_ptr<ChipBackend> (*)();
/// Runs in the parent before fork; may return null when the backend needs nothing shared.
using BackendPrepare = std::unique_ptr<BackendShared> (*)(int chip_count, std::string* error);
/// Runs in the parent when a Worker is built: checks WorkerOptions::backend.options (and anything else
/// the backend reads then) and makes the settings every chip gets; false + a message naming what is wrong
/// and where it came from (the Worker throws UsageError with it).
using BackendConfigure = bool (*)(const std::string& options, std::string* settings, std::string* why);

struct BackendRegistrar {
  /// `available` says whether the hardware is there (a missing backend is listed but not usable);
  /// `configure` may be null: the backend then takes no options and its chips get no settings.
  BackendRegistrar(const char* name, BackendFactory factory, bool (*available)(), BackendPrepare prepare,
                   BackendConfigure configure) noexcept;
};

/// The backend's parent-side preparation (null when none is needed). Throws nothing; null + error on
/// failure.
std::unique_ptr<BackendShared> prepare_backend(const std::string& name, int chip_count, std::string* error);

/// A new backend of that name, or nullptr if unknown or unavailable.
std::unique_ptr<ChipBackend> make_backend(const std::string& name);
/// True if a backend of that name is compiled in and its hardware is present.
bool backend_available(const std::string& name);
/// Every compiled-in backend as "name" or "name (unavailable)".
std::vector<std::string> backend_names();
/// Has backend `name` check `options` and make its chips' settings (see BackendConfigure); false + why.
bool configure_backend(const std::string& name, const std::string& options, std::string* settings, std::string* why);
/// Checks "key=value,key=value" against `known` (non-negative integer values); false + why, which calls
/// each key a `noun` ("option", "fault").
bool validate_key_values(const std::string& text, std::span<const BackendOption> known, const char* noun,
                         std::string* why);
/// The integer value of `key` in an already validated "key=value,..." list, or `fallback`.
long key_value(const std::string& text, const std::string& key, long fallback);

}  // namespace strata::comm

#define STRATA_REGISTER_BACKEND(name, factory, available, prepare, configure)     \
  static const ::strata::comm::BackendRegistrar strata_backend_registrar_##name { \
#name, factory, available, prepare, configure                                 \
  }
