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
#include <span>
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

/// One named buffer in one chip's window. Converts to a one-dimensional Tensor, so it can be passed to
/// a task directly (`TaskArgs().inout(ctx.buffer("x"))`) and to Orchestrator::copy_to/copy_from.
struct DomainBuffer {
  std::string name;
  void* data = nullptr;  // in the chip's address space (for sim: valid in every process)
  DType dtype = DType::F32;
  size_t count = 0;
  int chip = -1;  // the chip whose window holds it
  size_t nbytes() const noexcept { return count * dtype_size(dtype); }
  /// The buffer as a one-dimensional tensor, ready to pass to a task.
  Tensor tensor() const { return Tensor::make(data, {static_cast<int64_t>(count)}, dtype); }
  operator Tensor() const { return tensor(); }  // NOLINT(google-explicit-constructor): a buffer is a tensor
};

/// One chip's view of a domain: a dynamic one (Domain::operator[]) or the bring-up at init()
/// (Worker::chip_contexts()).
struct ChipContext {
  /// The domain's name; "" for the bring-up.
  std::string domain;
  /// The chip index in the Worker, and its device id.
  int chip = -1;
  int device_id = -1;
  /// This chip's position among the members (rank r is DomainSpec::workers[r]), and their number.
  int rank = -1;
  int size = 0;
  /// Address, in the chip's address space, of its CommContext: pass it to kernels as a scalar.
  uint64_t device_ctx = 0;
  /// This chip's window: where it starts, and its bytes usable for buffers (>= the requested size).
  uint64_t window_base = 0;
  uint64_t window_size = 0;
  /// The named buffers, in declaration order.
  std::vector<DomainBuffer> buffers;
  /// The named buffer; throws UsageError for an unknown name.
  const DomainBuffer& buffer(std::string_view buffer_name) const;
  /// Every buffer's name -> its address on this chip.
  std::map<std::string, uint64_t> buffer_ptrs() const;
};

/// A domain that is live now (Worker::live_domains()).
struct LiveDomain {
  std::string name;
  uint64_t allocation_id = 0;
  std::vector<int> workers;  // chip of each rank
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
  const ChipContext& operator[](int worker) const;
  /// Marks the domain released (idempotent); its memory is freed after the run's drain.
  void release();
  bool released() const;

 private:
  friend class domain::DomainManager;
  explicit Domain(std::shared_ptr<detail::DomainRecord> rec) : rec_(std::move(rec)) {}
  std::shared_ptr<detail::DomainRecord> rec_;
};

/// One chip's bring-up at init() (WorkerOptions::bringup, one entry per chip, by chip index): its
/// rank, its window, named buffers, host bytes loaded into them and host memory their contents are
/// stored to.
struct ChipBringup {
  int rank = -1;
  size_t window_size = 0;
  std::vector<BufferSpec> buffers = {};
  /// buffer name -> bytes copied into it before init() returns; exactly the buffer's size.
  std::map<std::string, std::vector<unsigned char>> inputs = {};
  /// buffer name -> host memory (exactly the buffer's size) its contents are copied into by
  /// Worker::store_outputs() and at close(). The memory must stay valid until the Worker is closed.
  std::map<std::string, std::span<std::byte>> outputs = {};
};

}  // namespace strata
