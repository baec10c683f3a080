// domain/domain_manager.hpp — communication domains, the parent's side: validation, the allocation
// transaction across members, lifetime (live -> released -> freed, and broken when a member is gone),
// copies, the failed-run sweep, and the bring-up at init() (the same transaction over every chip).
//
// The transaction: every member allocates, zeroes and exports its window (prepare); the parent gathers
// the descriptors into a table in shared memory; every member imports its peers and has its backend
// write the window's context page, then reports its buffers (commit). If any member fails, dies or
// misses timeouts.comm at any step, every member that allocated anything frees it and the caller gets
// one error naming that chip. All requests of a phase are in flight together, so a stopped chip costs
// one timeouts.comm, after which the supervisor declares it lost.
//
// A domain's abort word (shared host memory, one per live domain) is set when a member dies or is
// declared lost, so kernels blocked on it in the toolkit fail at once; the domain is then broken —
// tasks may no longer name it, its handles throw — and it is freed on the surviving members at the
// end of the run, at respawn() or at close().
//
// Owned by the Worker's thread; not thread-safe. Domain handles reach it through DomainRecord::owner.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graph/scheduler.hpp"
#include "ipc/shm.hpp"
#include "memory/arena.hpp"
#include "memory/memory_map.hpp"
#include "strata/domain.hpp"
#include "supervisor/supervisor.hpp"

namespace strata::domain {
class DomainManager;
}

namespace strata::detail {

/// A domain as the parent tracks it; shared by the manager and every Domain handle (a handle that
/// outlives the Worker finds `owner` null).
struct DomainRecord {
  enum class State { Live, Released, Freed };
  domain::DomainManager* owner = nullptr;
  std::string name;
  uint64_t allocation_id = 0;
  std::vector<int> workers;        // chip of each rank
  std::vector<ChipContext> chips;  // by rank
  std::vector<int> rank_of;        // chip index -> rank, -1 for non-members
  size_t usable = 0;               // bytes of each window usable for buffers
  State state = State::Live;
  bool until_close = false;  // the bring-up domain: never swept by a failed run
  uint32_t abort_slot = 0;
  std::string broken;  // non-empty once a member is gone: why
};

}  // namespace strata::detail

namespace strata::domain {

struct DomainOptions {
  int64_t comm_timeout_ns = 0;
  int64_t close_timeout_ns = 0;
  std::vector<int> device_ids;  // by chip index
};

class DomainManager {
 public:
  /// Maps the abort words; call before the chips are forked (they inherit the mapping).
  DomainManager(supervisor::Supervisor& sup, graph::Scheduler& sched, memory::Arena& arena, memory::MemoryMap& memory,
                DomainOptions opts);
  ~DomainManager();

  /// allocate_domain: validates `spec` (UsageError), then runs the transaction. Throws Error naming
  /// the failing chip, TimeoutError if it missed timeouts.comm, ChildDiedError if it died.
  Domain allocate(const DomainSpec& spec);
  /// A handle's release(): released now; freed at once outside a run, after the drain inside one.
  void release(detail::DomainRecord& d);
  void copy(const DomainBuffer& buf, void* host, size_t bytes, bool to_device);
  /// After a run's drain: frees the released domains and, if the run failed, sweeps the live ones
  /// (but the bring-up domain). Returns "" or why a free could not be completed (a member lost).
  std::string end_run(bool failed);
  void set_in_run(bool in_run) noexcept { in_run_ = in_run; }

  /// The bring-up at init() (cfgs already validated): a domain over every chip, with the inputs loaded.
  void bringup(const std::vector<ChipBringup>& cfgs, int64_t deadline_ns);
  /// Copies every bring-up output buffer into the host memory its configuration names, all chips'
  /// copies in flight together. Throws naming the chip and buffer of the first that fails.
  void store_outputs(const std::vector<ChipBringup>& cfgs, int64_t deadline_ns);
  /// The domains allocated by allocate_domain that are live (not released, not broken).
  std::vector<LiveDomain> live() const;
  const std::vector<ChipContext>& chip_contexts() const noexcept { return chip_contexts_; }
  bool has_bringup() const noexcept;
  int comm_bringups() const noexcept { return comm_bringups_; }

  /// A chip is gone: aborts and breaks every domain it is a member of.
  void on_chip_gone(int chip, const std::string& how);
  /// Before respawn: frees every broken domain on its surviving members. Returns true if the bring-up
  /// domain was among them (the caller repeats the bring-up).
  bool drop_broken();
  /// Frees whatever is left (close()); never throws.
  void close() noexcept;
  /// Reports allocation phases, frees and copies to `obs` (null: nothing).
  void set_observer(trace::Observer* obs) noexcept { obs_ = obs; }

 private:
  struct Failure {
    int chip = -1;
    std::string message;
    bool timed_out = false;
    bool lost = false;
  };
  std::shared_ptr<detail::DomainRecord> transaction(const std::string& name, const std::vector<int>& workers,
                                                    size_t window_size, const std::vector<BufferSpec>& buffers,
                                                    int64_t deadline_ns, Failure* failure);
  bool ensure_comm(int64_t deadline_ns, Failure* failure);
  /// Frees `domains` on their live members, all requests in flight together. Returns "" or the first
  /// problem.
  std::string free_all(const std::vector<std::shared_ptr<detail::DomainRecord>>& domains, int64_t deadline_ns) noexcept;
  void forget(detail::DomainRecord& d) noexcept;
  bool copy_through(int chip, void* dst, const void* src, size_t bytes, bool to_device, int64_t deadline_ns,
                    Failure* failure);
  [[noreturn]] void throw_failure(const std::string& what, const Failure& f);
  uint32_t take_abort_slot();
  uint32_t* abort_word(uint32_t slot) const noexcept;

  supervisor::Supervisor& sup_;
  graph::Scheduler& sched_;
  trace::Observer* obs_ = nullptr;
  memory::Arena& arena_;
  memory::MemoryMap& memory_;
  DomainOptions opts_;
  ipc::SharedMapping aborts_;
  std::vector<uint32_t> free_slots_;
  std::vector<std::shared_ptr<detail::DomainRecord>> domains_;  // not yet freed; allocation order
  std::vector<bool> comm_up_;                                   // per chip
  uint64_t next_allocation_id_ = 0;
  int comm_bringups_ = 0;
  bool in_run_ = false;
  std::vector<ChipContext> chip_contexts_;
};

}  // namespace strata::domain
