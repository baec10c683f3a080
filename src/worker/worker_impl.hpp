// worker/worker_impl.hpp — the state behind strata::Worker: the parts, composed.
//
//   memory::Arena          create_buffer memory and the run heap (shared with RawBuffers)
//   memory::MemoryMap      what memory a task may name
//   supervisor::Supervisor the child processes, their channels, the progress loop
//   graph::Scheduler       the task graph (reaches children through this class, as a graph::Link)
//   domain::DomainManager  communication domains
//   child::Callables       what the children can run (they get it by fork)
//   trace::Recorder        the run's trace, when one is asked for (observe.cpp)
//   pod::RootLink          a pod over MPI, on rank 0: its ranks as remote children (pod.cpp)
//
// WorkerImpl owns them, checks every public entry point (closed, not started, a child gone — seen even
// when it died between calls), and routes the supervisor's events: task completions and losses to the
// scheduler, losses of chips to the domain manager. It starts no thread: everything runs on the thread
// that calls it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "child/callables.hpp"
#include "comm/backend.hpp"
#include "domain/domain_manager.hpp"
#include "graph/link.hpp"
#include "graph/scheduler.hpp"
#include "ipc/board.hpp"
#include "ipc/shm.hpp"
#include "memory/arena.hpp"
#include "memory/memory_map.hpp"
#include "strata/worker.hpp"
#include "supervisor/supervisor.hpp"
#include "trace/observer.hpp"

namespace strata::pod {
class RootLink;
class RankServer;
struct Registry;
}  // namespace strata::pod

namespace strata::trace {
class Recorder;
struct SpillHeader;
}  // namespace strata::trace

namespace strata::detail {

/// Where a child Worker of a traced pod records: a shared region its parent merges at close.
struct ChildTrace {
  trace::SpillHeader* spill = nullptr;
  size_t bytes = 0;
  std::string graph;            // its name in the pod's trace ("L3 worker 0")
  std::string parent_graph;     // the graph of the Worker that runs it
  int pid_base = 0;             // a rank of a pod over MPI: its pids move by this in the pod's trace
  int64_t clock_offset_ns = 0;  // and its times by this (its clock minus rank 0's)
};

class WorkerImpl final : private supervisor::Events, private graph::Link {
 public:
  explicit WorkerImpl(WorkerOptions opts);
  ~WorkerImpl() override;

  // Registration (worker_impl.cpp).
  Kernel register_kernel(std::string_view name, KernelFn fn);
  Kernel load_kernel(const std::string& library, std::string_view name);
  HostFn register_host(HostCallable fn, std::string name);
  OrchFn register_orch(OrchCallable fn, std::string name);
  Worker& add_worker(WorkerOptions opts);

  // Life cycle (worker_impl.cpp, run.cpp, respawn.cpp).
  void init();
  void run(const std::function<void(Orchestrator&)>& fn);
  void close();
  void respawn();
  void cancel_run(const std::string& reason);
  RawBuffer create_raw_buffer(size_t bytes);

  // Through the Orchestrator (run.cpp).
  TaskRef submit(ChildKind kind, uint32_t callable, std::span<TaskArgs> parts, const CallConfig& cfg,
                 std::span<const int> members, uint64_t run, const char* what);
  Tensor alloc(std::span<const int64_t> shape, DType dtype, uint64_t run);
  uint32_t scope_open(uint64_t run);
  void scope_close(uint32_t depth, uint64_t run);
  Domain allocate_domain(const DomainSpec& spec, uint64_t run);
  void copy(const DomainBuffer& buf, void* host, size_t bytes, bool to_device, uint64_t run);

  // Queries.
  const std::vector<ChipContext>& chip_contexts() const;
  void store_outputs();
  std::vector<LiveDomain> live_domains() const;
  int comm_bringups() const noexcept { return domains_ ? domains_->comm_bringups() : 0; }
  int level() const noexcept { return level_; }
  /// Children of a kind (as configured before init()). Also the graph::Link's count.
  int count(ChildKind kind) const noexcept override;
  bool initialized() const noexcept { return initialized_; }

  /// The arenas of the enclosing Workers (this one runs inside a child process of theirs): tasks may
  /// name their buffers too. Marks this Worker as a pod's child Worker.
  void inherit_arenas(std::vector<std::shared_ptr<memory::Arena>> arenas) {
    inherited_arenas_ = std::move(arenas);
    inner_ = true;
  }

  // Observation (observe.cpp).
  WorkerStatus status() const;
  /// A traced pod's child Worker records into `t.spill` (set before the pod forks it).
  void inherit_trace(ChildTrace t);
  /// The pod's task that the next run of this child Worker belongs to (links the two in the trace).
  void set_trace_parent_task(uint64_t task) noexcept;

  // A pod over MPI (pod.cpp).
  int pod_rank() const noexcept { return pod_rank_; }
  int pod_ranks() const noexcept { return pod_ranks_; }
  /// Tasks of this Worker may name [base, base + bytes) too (a rank's copy of the root's pod memory).
  /// Before init().
  void accept_region(void* base, size_t bytes, std::string label) {
    accepted_.push_back(Region{base, bytes, std::move(label)});
  }
  /// The rank server this Worker runs under (null: none): called while it waits, and by pod collectives.
  void set_pod_hook(pod::RankServer* server) noexcept { pod_hook_ = server; }
  void pod_collective(const std::string& name, const Tensor& t, ReduceOp op, bool broadcast, int root_rank,
                      uint64_t run);

  /// For strata's own tests and tools.
  supervisor::Supervisor& supervisor() noexcept { return *sup_; }
  graph::Scheduler& scheduler() noexcept { return *sched_; }

 private:
  // supervisor::Events
  void on_task_completion(const supervisor::Child& c, const ipc::Completion& cpl, std::string_view payload) override;
  void on_child_gone(const supervisor::Child& c, std::span<const uint64_t> ids, uint64_t running,
                     int64_t running_start_ns, const std::string& running_msg, const std::string& queued_msg) override;
  std::string describe_task(uint64_t id) const override;
  void on_tick(int64_t now_ns) override;

  // graph::Link (worker_link.cpp)
  bool alive(ChildKind kind, int index) const noexcept override;
  std::string gone(ChildKind kind, int index) const override;
  std::string name(ChildKind kind, int index) const override;
  int pod_rank(ChildKind kind, int index) const noexcept override;
  uint64_t load(ChildKind kind, int index) const noexcept override;
  bool has_room(ChildKind kind, int index) const noexcept override;
  uint64_t in_flight() const noexcept override;
  void post(ChildKind kind, int index, const unsigned char* frame, size_t len, uint64_t task,
            std::span<const uint64_t> deps) override;
  void flush() override;
  void poll() override;
  void wait(int64_t deadline_ns) override;

  void validate_options();
  // A pod over MPI (pod.cpp).
  void join_pod();
  pod::Registry registry(const Worker& node) const;
  void init_pod_root(int64_t deadline_ns);
  void start_pod_rank(supervisor::Child& c);
  void serve_pod_rank();
  void validate_bringup() const;
  void ensure_arena();
  void spawn(supervisor::Child& c);
  /// Throws for a closed or unstarted Worker, and ChildDiedError once a child is gone.
  void check_usable(const char* what);
  void check_in_run(uint64_t run, const char* what) const;
  void check_threads(const char* what) const;
  /// Tells every chip that kernel `id` is `symbol` in `library` ("" for a STRATA_KERNEL of the program).
  void send_load_kernel(uint32_t id, const std::string& library, const std::string& symbol);
  void teardown(bool graceful) noexcept;
  bool has_outputs() const noexcept;
  // Observation (observe.cpp).
  void start_trace();
  void finish_trace() noexcept;
  void begin_watch(int64_t now_ns);
  WorkerStatus status_at(int64_t now_ns) const;
  void stall_timed_out(int64_t now_ns, int64_t quiet_ns);
  int64_t ns(std::chrono::milliseconds ms) const noexcept { return static_cast<int64_t>(ms.count()) * 1000000; }

  WorkerOptions opts_;
  int level_ = 3;
  std::vector<int> device_ids_;
  child::Callables callables_;
  std::vector<std::unique_ptr<Worker>> child_workers_;

  std::shared_ptr<memory::Arena> arena_;
  std::vector<std::shared_ptr<memory::Arena>> inherited_arenas_;
  std::unique_ptr<memory::MemoryMap> memory_;
  std::unique_ptr<supervisor::Supervisor> sup_;
  ipc::SharedMapping board_map_;
  ipc::Board* board_ = nullptr;
  std::unique_ptr<graph::Scheduler> sched_;
  std::string backend_settings_;  // what the backend made of its options when the Worker was built
  std::unique_ptr<comm::BackendShared> backend_shared_;
  std::unique_ptr<domain::DomainManager> domains_;

  std::unique_ptr<trace::Recorder> recorder_;
  trace::Observer* obs_ = nullptr;  // recorder_, or null
  ChildTrace inherited_trace_;
  bool inner_ = false;                      // a child Worker of a pod
  std::vector<ipc::SharedMapping> spills_;  // one per child Worker, while traced

  // The stall watch (observe.cpp).
  uint64_t runs_ = 0;  // runs started
  int64_t run_begin_ns_ = 0;
  uint64_t progress_mark_ = 0;  // delivered events + submitted tasks, when last seen to change
  int64_t progress_ns_ = 0;     // when it changed
  int64_t next_warn_ns_ = 0;    // quiet time of the next stall report
  int64_t last_progress_report_ns_ = 0;
  std::string stall_report_;  // set once a run passed timeouts.stall: what run() throws

  // A pod over MPI.
  struct Region {
    void* base;
    size_t bytes;
    std::string label;
  };
  std::vector<Region> accepted_;
  std::unique_ptr<pod::RootLink> pod_;
  pod::RankServer* pod_hook_ = nullptr;
  int pod_rank_ = 0;
  int pod_ranks_ = 1;

  bool initialized_ = false;
  bool closed_ = false;
  bool in_run_ = false;
  uint64_t run_ = 0;  // generation of the current (or last) run: invalidates old Orchestrators
};

}  // namespace strata::detail
