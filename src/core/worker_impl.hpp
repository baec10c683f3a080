// core/worker_impl.hpp — the state behind strata::Worker: children, shared memory, and the scheduler.
//
// Threads: everything here runs on the thread that owns the Worker (the one that calls init/run/close);
// strata starts no thread in that process. Children are separate processes forked in init(); they see
// this object only as the copy fork gave them (child_loop.cpp) and talk to the parent only through their
// mailbox, the status board and the wake-up eventfd.
//
// The life of a task (scheduler.cpp):
//   submit  -> validate, take a task-ring slot (back-pressure), auto-allocate OUTPUTs from the heap,
//              encode one frame per part, look up producers in the DepMap, reset its board entry;
//   eligible once every producer has been pushed -> push: copy the frame into the chip's request ring
//              with the ids of producers not yet finished; the child waits for those on the board;
//   child   -> runs it, marks the board entry, posts a completion (waking the parent only if it sleeps);
//   parent  -> consumes the completion; when every part is in, the task is finished; failures poison
//              consumers; finished tasks retire from the ring in id order, which frees heap scopes.
//
// Communication domains (domain.cpp) use the same mailboxes: control frames to each member chip, served
// in order with its tasks, make up the allocation transaction, the frees and the copies.
#pragma once

#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "comm/backend.hpp"
#include "core/buffer_pool.hpp"
#include "core/dep_map.hpp"
#include "core/heap_ring.hpp"
#include "core/task_ring.hpp"
#include "ipc/codec.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/process.hpp"
#include "ipc/shm.hpp"
#include "strata/worker.hpp"

namespace strata::detail {

/// The shared arena behind create_buffer and the run heap. Shared by the Worker and every RawBuffer,
/// so buffers stay valid after close() until they are destroyed. Thread-safe (buffers may be freed
/// from any thread).
struct BufferOwner {
  BufferOwner(size_t buffer_bytes, size_t heap_bytes);
  void free(void* p, bool give_back_pages = true) noexcept;
  std::mutex mu;
  ipc::SharedMapping arena;  // [buffers: buffer_bytes][heap: heap_bytes]
  core::BufferPool pool;
  size_t buffer_bytes;
  size_t heap_bytes;
  char* heap_base() const noexcept { return static_cast<char*>(arena.data()) + buffer_bytes; }
};

/// One child process as the parent sees it.
struct ChildSlot {
  ChildKind kind = ChildKind::Chip;
  int index = 0;      // among its kind
  int device_id = 0;  // chips only
  ipc::Mailbox* mb = nullptr;
  ipc::ChildProcess proc;
  bool alive = false;
  std::string death;                // how it ended, once dead
  std::string kill_reason;          // why strata killed it (task timeout)
  uint64_t pushed = 0;              // frames published (== req_head)
  uint64_t completed = 0;           // completions consumed (== cpl_tail); == pushed once the child is dead
  uint64_t lost_from = UINT64_MAX;  // once dead: the first request index it never completed
  std::deque<uint64_t> inflight;    // task (or control) id of every frame pushed and not completed
  uint64_t load() const noexcept { return pushed - completed; }
  bool has_room() const noexcept { return alive && load() < ipc::kRequestSlots; }
};

/// The parent's record of one task while it occupies a task-ring slot.
struct TaskRecord {
  uint64_t id = 0;
  ChildKind kind = ChildKind::Chip;
  uint32_t callable = 0;
  const std::string* name = nullptr;
  int target = kAnyWorker;   // single-part tasks: a child index, or any
  std::vector<int> members;  // child index of each part, once pushed (groups: given at submit)
  uint32_t parts = 1;
  uint32_t parts_done = 0;
  std::vector<unsigned char> frames;  // part i at i * kRequestSlotBytes
  std::vector<uint32_t> frame_len;
  std::vector<uint64_t> producers;  // producers not finished when this task was submitted
  std::vector<uint64_t> consumers;  // tasks submitted later that wait for this one
  uint32_t unpushed_producers = 0;
  int64_t timeout_ns = 0;
  bool pushed = false;
  bool finished = false;
  bool failed = false;
  bool poisoned = false;  // failed without running: a producer failed, or its child was gone
  std::string error;
  ChildKind fail_kind = ChildKind::Chip;
  int fail_child = -1;
};

/// A communication domain as the parent tracks it. Shared by the Worker and every Domain handle; a
/// handle that outlives the Worker finds `owner` null.
struct DomainRecord {
  enum class State { Live, Released, Freed };
  WorkerImpl* owner = nullptr;
  std::string name;
  uint64_t allocation_id = 0;
  std::vector<int> workers;              // chip of each rank
  std::vector<ChipDomainContext> chips;  // by rank
  std::vector<int> rank_of;              // chip index -> rank, -1 for non-members
  uint64_t window_bytes = 0;             // what each member allocated (window + signals + context page)
  State state = State::Live;
  bool until_close = false;  // the bring-up domain: never swept by a failed run
};

struct RegisteredKernel {
  std::string name;
  comm::KernelImpl impl;
  std::string library;  // non-empty for load_kernel
};
struct HostEntry {
  std::string name;
  HostCallable fn;
};
struct OrchEntry {
  std::string name;
  OrchCallable fn;
};

class WorkerImpl {
 public:
  explicit WorkerImpl(WorkerOptions opts);
  ~WorkerImpl();

  // Registration and lifecycle (worker.cpp).
  Kernel register_kernel(std::string_view name, KernelFn fn);
  Kernel load_kernel(const std::string& library, std::string_view name);
  HostFn register_host(HostCallable fn, std::string name);
  OrchFn register_orch(OrchCallable fn, std::string name);
  Worker& add_worker(WorkerOptions opts);
  void init();
  void run(const std::function<void(Orchestrator&)>& fn);
  void close();
  RawBuffer create_raw_buffer(size_t bytes);

  // Graph building (scheduler.cpp), called through Orchestrator.
  /// One task: parts[i] runs on members[i]; a single part may name kAnyWorker.
  TaskRef submit(ChildKind kind, uint32_t callable, std::span<TaskArgs> parts, const CallConfig& cfg,
                 std::span<const int> members, uint64_t run);
  Tensor alloc(std::span<const int64_t> shape, DType dtype, uint64_t run);
  uint32_t scope_open(uint64_t run);
  void scope_close(uint32_t depth, uint64_t run);

  // Communication domains (domain.cpp).
  Domain allocate_domain(DomainSpec spec, uint64_t run);
  void domain_release(DomainRecord& d);
  void copy(const DomainBuffer& buf, void* host, size_t bytes, bool to_device, uint64_t run);
  const std::vector<ChipContext>& chip_contexts() const;
  int comm_bringups() const noexcept { return comm_bringups_; }

  int level() const noexcept { return level_; }
  int count(ChildKind kind) const noexcept;
  bool initialized() const noexcept { return initialized_; }
  std::string child_name(ChildKind kind, int index) const;

  // The child side (child_loop.cpp): runs in the forked process, never returns to the caller's code.
  int child_main(size_t slot);

 private:
  friend class ::strata::Orchestrator;

  // worker.cpp
  void ensure_arena();
  /// Tells every chip that kernel `id` is `symbol` in `library` ("" for a STRATA_KERNEL of the program).
  void send_load_kernel(uint32_t id, const std::string& library, const std::string& symbol);
  void check_usable(const char* what) const;
  void check_in_run(uint64_t run, const char* what) const;
  void teardown_children(bool graceful) noexcept;
  void wait_children_ready();
  std::vector<int> chip_device_ids() const;

  // scheduler.cpp
  TaskRecord& record(uint64_t id) noexcept { return records_[ring_->slot(id)]; }
  void acquire_slot(const char* what);
  void* heap_alloc(size_t bytes, const char* what);
  bool try_push(TaskRecord& t);
  void push_eligible();
  void mark_pushed(TaskRecord& t);
  void fail_unpushed(TaskRecord& t, std::string error, ChildKind kind, int child);
  void part_finished(TaskRecord& t, bool failed, bool poisoned, std::string error, ChildKind kind, int child);
  void finish(TaskRecord& t);
  size_t poll_completions();
  bool wake_threshold_reached() const noexcept;
  void wait_progress(int64_t deadline_ns);
  void handle_death(ChildSlot& c);
  void check_task_timeouts(int64_t now);
  void drain();
  void end_run() noexcept;
  [[noreturn]] void throw_run_failure();
  uint64_t control(ChildSlot& c, const unsigned char* frame, size_t len, std::string* error);
  /// Pushes a control frame (waiting for ring room) and returns its request index.
  uint64_t control_post(ChildSlot& c, const unsigned char* frame, size_t len);
  /// Waits for the reply to request `index` (until `deadline_ns`, -1: none). False + error if the child
  /// died, failed the request or did not answer in time; the reply is copied out either way.
  bool control_wait(ChildSlot& c, uint64_t index, ipc::CompletionSlot* reply, std::string* error, int64_t deadline_ns);

  // domain.cpp
  std::shared_ptr<DomainRecord> domain_transaction(const std::string& name, const std::vector<int>& workers,
                                                   size_t window_size, const std::vector<BufferSpec>& buffers,
                                                   int64_t deadline_ns, std::string* failed_chip_error,
                                                   int* failed_chip);
  void domain_free(DomainRecord& d) noexcept;
  /// Asks each live chip of `chips` to free allocation `allocation_id` (idempotent on chips) and waits for
  /// the answers (at most comm_timeout), except from the chips in `no_wait`, which still owe an answer to
  /// an earlier request.
  void free_on_chips(uint64_t allocation_id, const std::vector<int>& chips, const std::string& name,
                     const std::vector<int>& no_wait = {}) noexcept;
  /// Copies through `chip` (its backend) between its memory and host memory, staged in the arena.
  bool copy_through_chip(int chip, void* dst, const void* src, size_t bytes, bool to_device, int64_t deadline_ns,
                         std::string* err);
  void domains_end_run(bool failed) noexcept;
  void domains_close() noexcept;
  void validate_bringup() const;  // WorkerOptions::bringup, in the constructor
  void bringup_at_init();
  void wait_task_finished(uint64_t id);
  void* staging_alloc(size_t bytes);
  void staging_free(void* p) noexcept;
  void check_not_released_domain(const TaskArgs& a, const std::string& name) const;
  void post_shutdown(ChildSlot& c) noexcept;

  // Child side helpers (child_loop.cpp).
  struct ChipWindow {
    void* local = nullptr;
    size_t bytes = 0;
    std::vector<void*> imports;
  };
  using ChipWindows = std::unordered_map<uint64_t, ChipWindow>;  // by allocation id
  void child_loop(ChildSlot& me, comm::ChipBackend* backend, Worker* inner);
  bool child_control(const ipc::DecodedFrame& f, comm::ChipBackend& backend, ChipWindows& windows,
                     ipc::CompletionSlot* reply, std::string* err);

  WorkerOptions opts_;
  int level_ = 3;
  std::vector<int> device_ids_;
  std::vector<RegisteredKernel> kernels_;
  std::vector<HostEntry> hosts_;
  std::vector<OrchEntry> orchs_;
  std::vector<std::unique_ptr<Worker>> child_workers_;

  // Shared memory and children (after init).
  std::shared_ptr<BufferOwner> buffers_;
  ipc::SharedMapping board_map_;
  ipc::Board* board_ = nullptr;
  ipc::SharedMapping mailbox_map_;
  int wake_fd_ = -1;
  std::vector<ChildSlot> children_;  // chips, then subs, then workers
  int first_[3] = {0, 0, 0};         // index in children_ of the first child of each kind
  int count_[3] = {0, 0, 0};
  ChildSlot& child(ChildKind kind, int index) { return children_[first_[static_cast<int>(kind)] + index]; }

  bool initialized_ = false;
  bool closed_ = false;
  std::string broken_;  // non-empty once a child died

  // Scheduler state.
  std::unique_ptr<core::TaskRing> ring_;
  std::vector<TaskRecord> records_;
  core::DepMap deps_;
  std::optional<core::HeapRing> heap_;
  std::deque<uint64_t> eligible_;            // submitted, every producer pushed, not yet pushed (id order)
  std::unordered_set<uint64_t> failed_ids_;  // tasks of this run that failed
  uint64_t run_ = 0;                         // generation of the current (or last) run
  bool in_run_ = false;
  uint32_t scope_depth_ = 0;
  uint64_t control_seq_ = 0;
  int rr_[3] = {0, 0, 0};  // round-robin start for kAnyWorker
  // First failure of the run (a task that ran and failed beats one that was only poisoned).
  std::optional<TaskRecord> first_failure_;
  // Communication domains.
  std::unique_ptr<comm::BackendShared> backend_shared_;
  std::vector<std::shared_ptr<DomainRecord>> domains_;  // live or released, not yet freed; allocation order
  uint64_t next_allocation_id_ = 0;
  bool comm_up_ = false;
  int comm_bringups_ = 0;
  std::vector<ChipContext> chip_contexts_;
  int64_t spin_ns_ = 0;
  int64_t submit_timeout_ns_ = 0;
  int64_t comm_timeout_ns_ = 0;
};

/// Control frames use ids with the top bit set so they never collide with task ids.
inline constexpr uint64_t kControlIdBit = uint64_t{1} << 63;

}  // namespace strata::detail
