// strata/domain.hpp — communication domains: zeroed per-chip windows shared by a subset of chips.
//
// A domain is allocated from inside an orchestration function (Orchestrator::allocate_domain) or at
// init() for every chip (WorkerOptions::bringup, then Worker::chip_contexts()). Each member chip owns
// `window_size` bytes of its own memory, zeroed before any peer can reach it; named buffers are carved
// from it in declaration order; every member can address every other member's window through the
// CommContext at `device_ctx` (strata/comm_context.h, strata/comm_kernel.hpp).
//
// Lifetime: release() (or the handle going out of scope) makes the domain *released* at once — no new
// task may name it — but its memory is *freed* only after every task submitted in the run has finished.
// A run that fails frees its pending releases and sweeps the domains still live, newest first; close()
// frees whatever is left. Handles are used from the Worker's thread only.
//
// @code
//   w.run([&](strata::Orchestrator& o) {
//     auto tp = o.allocate_domain({.name = "tp", .workers = {0, 1}, .window_size = 1 << 20,
//                                  .buffers = {{"scratch", strata::DType::F32, 1024}}});
//     for (int chip : tp.workers())
//       o.submit(allreduce, strata::TaskArgs().inout(tp[chip].buffer("scratch")).scalar(tp[chip].device_ctx),
//                {}, chip);
//   });  // tp released when it goes out of scope; freed after the run's drain
// @endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "strata/comm_context.h"
#include "strata/types.hpp"

namespace strata {

namespace detail {
struct DomainRecord;
}  // namespace detail
namespace domain {
class DomainManager;
}  // namespace domain

/// A named buffer to carve from every member's window: `count` elements of `dtype`.
struct BufferSpec {
  std::string name;
  DType dtype = DType::F32;
  size_t count = 0;
};

/// What allocate_domain is asked for.
struct DomainSpec {
  /// Unique among this Worker's live domains.
  std::string name;
  /// Member chips; rank r is workers[r]. 1..64 distinct chip indices.
  std::vector<int> workers;
  /// Bytes of each member's window (> 0). The buffers must fit in it.
  size_t window_size = 0;
  std::vector<BufferSpec> buffers = {};
};

/// One named buffer in one chip's window.
struct DomainBuffer {
  std::string name;
  void* data = nullptr;  // in the chip's address space (for sim: valid in every process)
  DType dtype = DType::F32;
  size_t count = 0;
  size_t nbytes() const noexcept { return count * dtype_size(dtype); }
  /// The buffer as a one-dimensional tensor, ready to pass to a task.
  Tensor tensor() const { return Tensor::make(data, {static_cast<int64_t>(count)}, dtype); }
};

/// One chip's view of a domain.
struct ChipDomainContext {
  std::string name;
  int worker = -1;       // the chip index
  int domain_rank = -1;  // position in DomainSpec::workers
  int domain_size = 0;
  /// Address, in the chip's address space, of its CommContext: pass it to kernels as a scalar.
  uint64_t device_ctx = 0;
  uint64_t local_window_base = 0;
  /// Bytes usable for buffers (>= the requested window_size).
  uint64_t actual_window_size = 0;
  std::vector<DomainBuffer> buffers;
  /// The named buffer as a tensor; throws UsageError for an unknown name.
  Tensor buffer(std::string_view buffer_name) const { return find(buffer_name).tensor(); }
  const DomainBuffer& find(std::string_view buffer_name) const;
  /// Every buffer's name -> its address on this chip.
  std::map<std::string, uint64_t> buffer_ptrs() const;
};

/// A live (or released) domain. Move-only; releases the domain when destroyed.
class Domain {
 public:
  Domain() = default;
  Domain(Domain&&) noexcept;
  Domain& operator=(Domain&&) noexcept;
  Domain(const Domain&) = delete;
  Domain& operator=(const Domain&) = delete;
  ~Domain();

  const std::string& name() const;
  /// Monotonic per Worker, never reused (failed attempts take one too).
  uint64_t allocation_id() const;
  const std::vector<int>& workers() const;
  int size() const { return static_cast<int>(workers().size()); }
  /// The context of member chip `worker`; throws UsageError for a non-member or a released domain.
  const ChipDomainContext& operator[](int worker) const;
  /// Marks the domain released (idempotent); its memory is freed after the run's drain.
  void release();
  bool released() const;

 private:
  friend class domain::DomainManager;
  explicit Domain(std::shared_ptr<detail::DomainRecord> rec) : rec_(std::move(rec)) {}
  std::shared_ptr<detail::DomainRecord> rec_;
};

/// Per-chip bring-up at init() (WorkerOptions::bringup): the chip's rank, its window, named buffers,
/// and host bytes to load into them.
struct ChipBringup {
  int rank = -1;
  size_t window_size = 0;
  std::vector<BufferSpec> buffers = {};
  /// buffer name -> bytes copied into it before init() returns (at most the buffer's size).
  std::map<std::string, std::vector<unsigned char>> inputs = {};
};

/// What init() reports per chip after a bring-up (Worker::chip_contexts()).
struct ChipContext {
  int device_id = -1;
  int rank = -1;
  int nranks = 0;
  uint64_t device_ctx = 0;
  uint64_t local_window_base = 0;
  uint64_t actual_window_size = 0;
  std::map<std::string, uint64_t> buffer_ptrs;
};

}  // namespace strata
