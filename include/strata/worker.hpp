// strata/worker.hpp — Worker (one node, L3; or a pod of Workers, L4+), its Orchestrator and buffers.
//
// A Worker owns child processes forked in init(): one per chip, one per host helper ("sub"), and at
// level >= 4 one per child Worker. The calling thread drives everything: run() calls the orchestration
// function, which submits tasks; strata infers dependencies from tensor tags, pushes each task into the
// shared-memory mailbox of the child that runs it, and waits for completions. strata starts no thread
// in the calling process, so a Worker is used from one thread at a time (the thread that called init()
// must outlive the Worker: children are told to exit when it ends).
//
// @code
//   STRATA_KERNEL(scale) { /* ... */ }
//   strata::Worker w({.chips = 4, .sub_workers = 1});
//   auto scale = w.register_kernel("scale");
//   auto check = w.register_host([](const strata::TaskContext& c) { /* runs in the sub process */ });
//   w.init();
//   auto x = w.create_buffer<float>(n);
//   w.run([&](strata::Orchestrator& o) {
//     o.submit(scale, strata::TaskArgs().inout(x.tensor()).scalar(2.0f), {.block_dim = 2}, 0);
//     o.submit_host(check, strata::TaskArgs().input(x.tensor()));  // waits for the kernel
//   });
//   w.close();
// @endcode
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strata/domain.hpp"
#include "strata/errors.hpp"
#include "strata/kernel.hpp"
#include "strata/status.hpp"
#include "strata/types.hpp"

namespace strata {

namespace detail {
class WorkerImpl;
[[noreturn]] void throw_buffer_too_large(size_t count, size_t element_bytes);
}  // namespace detail
namespace memory {
class Arena;
}  // namespace memory

class Orchestrator;

/// A kernel registered with a Worker (runs on chips).
struct Kernel {
  uint32_t id = UINT32_MAX;
};
/// A host callable registered with a Worker (runs on sub workers).
struct HostFn {
  uint32_t id = UINT32_MAX;
};
/// An orchestration function registered with a level >= 4 Worker (runs on its child Workers).
struct OrchFn {
  uint32_t id = UINT32_MAX;
};

using HostCallable = std::function<void(const TaskContext&)>;
using OrchCallable = std::function<void(Orchestrator&, const TaskContext&)>;

/// "Any child of the right kind": the task goes to the least loaded one.
inline constexpr int kAnyWorker = -1;

/// How a pod (level >= 4) reaches its child Workers.
enum class Transport : uint8_t {
  /// Forked processes on this host (the default).
  Fork = 0,
  /// One MPI rank per child Worker, on any host (docs/multi-host.md): start the program with
  /// `mpirun -n 1+K`; rank 0 is the pod, every other rank runs the Worker given to add_worker().
  Mpi = 1,
};

/// Bounded waits of a Worker. Zero takes the tunable's default (see `strata info`), which its environment
/// variable may override.
struct Timeouts {
  /// How long submit may wait for a task slot or heap space. STRATA_SUBMIT_TIMEOUT_MS.
  std::chrono::milliseconds submit{0};
  /// How long init() (and respawn()) waits for every child to report ready. STRATA_INIT_TIMEOUT_MS.
  std::chrono::milliseconds init{0};
  /// How long close() waits for a child to exit before killing it. STRATA_CLOSE_TIMEOUT_MS.
  std::chrono::milliseconds close{0};
  /// How long a domain allocation, free or copy waits for a chip's answer (requests queue behind the
  /// tasks already pushed to that chip). STRATA_COMM_TIMEOUT_MS.
  std::chrono::milliseconds comm{0};
  /// A run that makes no progress for this long logs a stall report, again at growing intervals.
  /// STRATA_STALL_WARN_MS (default 10 s).
  std::chrono::milliseconds stall_warn{0};
  /// A run that makes no progress for this long fails with a TimeoutError carrying the stall report,
  /// and the stuck child is declared lost. STRATA_STALL_TIMEOUT_MS (default 0: never).
  std::chrono::milliseconds stall{0};
  /// A pod over MPI: a rank (or the root, seen from a rank) silent this long is gone; each side sends
  /// a heartbeat every quarter of it while it waits. STRATA_HEARTBEAT_TIMEOUT_MS (default 10 s).
  std::chrono::milliseconds heartbeat{0};
};

/// Memory of a Worker. Zero takes the tunable's default (see `strata info`), which its environment
/// variable may override.
struct MemoryOptions {
  /// Bytes of the run heap (OUTPUT auto-allocation and Orchestrator::alloc). STRATA_HEAP_BYTES.
  size_t heap_bytes = 0;
  /// Bytes of address space reserved for create_buffer (pages are committed on first touch).
  /// STRATA_BUFFER_BYTES.
  size_t buffer_bytes = 0;
  /// Task slots in flight at once before submit waits (back-pressure). STRATA_TASK_RING.
  uint32_t task_ring = 0;
};

/// The chip backend of a Worker.
struct BackendOptions {
  /// Chip backend ("sim"). Empty: STRATA_BACKEND (default "sim").
  std::string name = {};
  /// Settings of a real backend, "key=value,key=value", checked by the backend when the Worker is
  /// built. The sim backend takes none.
  std::string options = {};
  /// Threads in a sim chip's block pool. Zero: STRATA_CHIP_THREADS (default 2).
  uint32_t chip_threads = 0;
};

/// Options of a Worker: the common ones first, so `{.chips = 4, .sub_workers = 1}` reads as it should
/// (designated initialisers follow this order).
struct WorkerOptions {
  /// 3 for a node; 4, 5 or 6 for a pod whose children are Workers of level - 1.
  int level = 3;
  /// A pod's children: forked here, or MPI ranks (Transport::Mpi).
  Transport transport = Transport::Fork;
  /// Number of chips (device ids 0..chips-1). Level 3 only.
  int chips = 0;
  /// Explicit device ids instead of `chips`.
  std::vector<int> device_ids = {};
  /// Number of host helper processes that run register_host callables.
  int sub_workers = 0;
  /// Bring-up at init(): one entry per chip (level 3). init() then allocates a domain over every chip
  /// (rank r is the chip whose entry has rank r), loads the inputs, and fails fast on the first chip
  /// that reports an error. See chip_contexts() and store_outputs().
  std::vector<ChipBringup> bringup = {};
  /// Record every run and write it, as a Chrome trace-event JSON file (ui.perfetto.dev), to this path
  /// when the Worker closes — also after a failed run. Empty: STRATA_TRACE names the file, if set.
  std::string trace_path = {};
  /// Called on the Worker's thread while a run waits, at most every 200 ms (progress lines).
  std::function<void(const RunProgress&)> on_progress = {};
  /// Called on the Worker's thread while a run waits (back-pressure, domain requests, copies, the
  /// drain), at most every 50 ms: where a front end looks for an interrupt (Python's Ctrl-C) and calls
  /// Worker::cancel_run(). Must not throw.
  std::function<void()> on_wait = {};
  /// Fail fast: once a task of a run has failed, the next submit throws the run's TaskError and tasks
  /// not yet pushed to a child are cancelled. false: every task that does not depend on the failure
  /// still runs.
  bool fail_fast = true;
  /// Bounded waits (submit, init, close, comm, stall).
  Timeouts timeouts = {};
  /// Run heap, buffer arena and task ring sizes.
  MemoryOptions memory = {};
  /// Chip backend, its settings and the sim's block pool.
  BackendOptions backend = {};
  /// Let init() (and respawn()) fork from a process that already runs other threads (unsafe if they
  /// hold locks).
  bool allow_threads = false;
};

/// Host memory, allocated by a Worker, that every child process reaches at the same address
/// (zero-copy). Move-only; freed when destroyed. Do not destroy it while a submitted task uses it.
class RawBuffer {
 public:
  RawBuffer() = default;
  RawBuffer(RawBuffer&&) noexcept;
  RawBuffer& operator=(RawBuffer&&) noexcept;
  RawBuffer(const RawBuffer&) = delete;
  RawBuffer& operator=(const RawBuffer&) = delete;
  ~RawBuffer();

  void* data() const noexcept { return data_; }
  size_t bytes() const noexcept { return bytes_; }
  explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  friend class detail::WorkerImpl;
  RawBuffer(void* data, size_t bytes, std::shared_ptr<memory::Arena> owner)
      : data_(data), bytes_(bytes), owner_(std::move(owner)) {}
  void* data_ = nullptr;
  size_t bytes_ = 0;
  std::shared_ptr<memory::Arena> owner_;
};

/// A typed view of a RawBuffer holding `size()` elements of T.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(RawBuffer raw) : raw_(std::move(raw)) {}
  T* data() const noexcept { return static_cast<T*>(raw_.data()); }
  size_t size() const noexcept { return raw_.bytes() / sizeof(T); }
  T& operator[](size_t i) const noexcept { return data()[i]; }
  std::span<T> span() const noexcept { return {data(), size()}; }
  T* begin() const noexcept { return data(); }
  T* end() const noexcept { return data() + size(); }
  /// The whole buffer as a one-dimensional tensor.
  Tensor tensor() const { return Tensor::of(data(), static_cast<int64_t>(size())); }
  /// The buffer with another shape (its element count must not exceed size()).
  Tensor tensor(std::initializer_list<int64_t> shape) const;

 private:
  RawBuffer raw_;
};

/// A submitted task: its id and its tensors after allocation (an OUTPUT with a null address has the
/// address strata gave it here).
struct TaskRef {
  uint64_t id = 0;
  std::vector<Tensor> tensors;
  const Tensor& tensor(size_t i) const { return tensors.at(i); }
};

/// A node (level 3) or a pod (level >= 4). See the file comment.
class Worker {
 public:
  explicit Worker(WorkerOptions opts = {});
  ~Worker();
  Worker(Worker&&) noexcept;
  Worker& operator=(Worker&&) noexcept;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// A kernel linked into the program with STRATA_KERNEL(name). Allowed before and after init().
  Kernel register_kernel(std::string_view name);
  /// A kernel given as a function pointer. Before init() only (children get it by fork).
  Kernel register_kernel(std::string_view name, KernelFn fn);
  /// A kernel exported with STRATA_KERNEL(name) from the shared library at `library`; every chip
  /// loads the library too. Allowed before and after init().
  Kernel load_kernel(const std::string& library, std::string_view name);
  /// A host callable for the sub workers. Before init() only.
  HostFn register_host(HostCallable fn, std::string name = "host");
  /// An orchestration function run by child Workers (level >= 4). Before init() only.
  OrchFn register_orch(OrchCallable fn, std::string name = "orch");
  /// Adds a child Worker of level - 1 (level >= 4, before init()). Returns it so kernels, host
  /// callables and its own children can be registered on it; it is initialised inside its process.
  /// A pod over MPI takes one (every rank runs it) or one per rank but 0 (rank r runs the (r-1)th).
  Worker& add_worker(WorkerOptions opts);

  /// Forks the children and waits until each is ready. Throws (and leaves nothing behind) on failure.
  /// A pod over MPI: collective over every rank. On rank 0 it returns once every rank is ready; on
  /// every other rank it serves rank 0 until rank 0 closes the pod, then returns with this Worker closed
  /// (throws Error if rank 0 refused this rank, dismissed it or stopped answering). See pod_rank().
  void init();
  /// Calls `fn` with an Orchestrator, then waits for every submitted task, then frees what the run
  /// owns. Throws TaskError naming the first failed task; rethrows what `fn` threw.
  void run(const std::function<void(Orchestrator&)>& fn);
  /// Between runs: re-forks every child that died or was declared lost, in place (chips, subs, child
  /// Workers; child Workers that are alive respawn their own dead children). Kernels registered or
  /// loaded so far reach the new chips; the bring-up is repeated if it lost a member (chip_contexts()
  /// then describes the new one); domains that had a dead member are freed and their handles throw.
  /// UsageError inside a run, or in a process running other threads unless allow_threads.
  void respawn();
  /// Stops the run in progress; call it on the Worker's thread, from the orchestration function or from
  /// on_wait / on_progress. Tasks not yet pushed to a child are cancelled, and every child that owes a
  /// task or a request is declared lost — killed and reaped, as a running kernel cannot be stopped midway
  /// — which fails what it owed. Later submits of the run throw Error; the drain ends at once and run()
  /// throws (what the orchestration function threw, else the run's failure). respawn() restarts the
  /// killed children. UsageError outside a run.
  void cancel_run(const std::string& reason);
  /// Frees the domains left, shuts every child down, reaps it (killing it after timeouts.close) and unmaps
  /// everything. Nothing a child did makes it throw: a first call outside run() always returns, leaving no
  /// process and no mapping behind. Misuse throws UsageError and changes nothing: a second call, or a
  /// call from inside run(). The destructor closes a Worker not closed yet, and never throws.
  void close();

  /// Shared host memory every child sees at the same address; before or after init().
  RawBuffer create_raw_buffer(size_t bytes);
  template <class T>
  Buffer<T> create_buffer(size_t count) {
    if (count > SIZE_MAX / sizeof(T)) detail::throw_buffer_too_large(count, sizeof(T));
    return Buffer<T>(create_raw_buffer(count * sizeof(T)));
  }

  /// Per chip (by chip index), its context in the bring-up domain init() allocated. Throws UsageError
  /// before init() or when the Worker has no bring-up configuration.
  const std::vector<ChipContext>& chip_contexts() const;
  /// Copies every bring-up output buffer (ChipBringup::outputs) into the host memory given for it. Also
  /// done by close(), which logs instead of throwing when a chip cannot answer. Between runs only.
  void store_outputs();
  /// The domains allocate_domain made that are live now (not released, no member lost), oldest first.
  /// Empty after a run that failed (it sweeps them) and before init(); the bring-up is not listed.
  std::vector<LiveDomain> live_domains() const;
  /// How many times the base communicator was brought up (0 or 1: lazily, once per Worker).
  int comm_bringups() const noexcept;
  /// What the Worker is doing now: its children, the tasks not finished, the requests in flight (the
  /// stall report as data). Before init(): an empty status.
  WorkerStatus status() const;

  int level() const noexcept;
  /// A pod over MPI: this process's rank (0: the pod's root, which runs orchestration); 0 otherwise.
  /// Known from init() on.
  int pod_rank() const noexcept;
  /// A pod over MPI: the number of ranks (1 + its child Workers); 1 otherwise.
  int pod_ranks() const noexcept;
  int chip_count() const noexcept;
  int sub_count() const noexcept;
  int worker_count() const noexcept;
  bool initialized() const noexcept;

  detail::WorkerImpl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<detail::WorkerImpl> impl_;
};

/// RAII lifetime scope for heap allocations (Orchestrator::alloc and auto-allocated OUTPUTs): closing
/// it lets strata reuse that heap memory once every task submitted so far has finished.
class Scope {
 public:
  Scope(Scope&& other) noexcept;
  Scope& operator=(Scope&&) = delete;
  ~Scope();
  void close();

 private:
  friend class Orchestrator;
  Scope(detail::WorkerImpl* impl, uint64_t run, uint32_t depth) : impl_(impl), run_(run), depth_(depth) {}
  detail::WorkerImpl* impl_;
  uint64_t run_;
  uint32_t depth_;
};

/// Builds the graph of one run. Valid only inside the run() that handed it out.
class Orchestrator {
 public:
  /// A kernel on chip `worker`, or on the least loaded chip.
  TaskRef submit(Kernel kernel, TaskArgs args, const CallConfig& cfg = {}, int worker = kAnyWorker);
  /// An orchestration function on child Worker `worker` (level >= 4).
  TaskRef submit(OrchFn fn, TaskArgs args, const CallConfig& cfg = {}, int worker = kAnyWorker);
  /// One graph node run on several chips at once: part i runs `args[i]` on chip `workers[i]`; all parts
  /// start together and the node completes when every part has finished.
  TaskRef submit_group(Kernel kernel, std::vector<TaskArgs> args, const CallConfig& cfg, std::vector<int> workers);
  /// A host callable on sub worker `worker`, or on the least loaded one.
  TaskRef submit_host(HostFn fn, TaskArgs args, const CallConfig& cfg = {}, int worker = kAnyWorker);
  /// A runtime-owned intermediate tensor from the run heap, alive until its scope closes.
  Tensor alloc(std::initializer_list<int64_t> shape, DType dtype);
  /// Opens a nested lifetime scope for heap allocations.
  Scope scope();

  /// Allocates a communication domain over `spec.workers` (a transaction across the members: all or
  /// none). Validates in the parent first; throws UsageError for a bad spec and strata::Error naming
  /// the failing chip if a member fails. See strata/domain.hpp.
  Domain allocate_domain(DomainSpec spec);
  /// Copies `bytes` (default: the whole buffer) from host memory into a chip's domain buffer, after
  /// the buffer's last writer has finished. Synchronous: the bytes are there when it returns.
  void copy_to(const DomainBuffer& dst, const void* src, size_t bytes = SIZE_MAX);
  /// Copies a chip's domain buffer into host memory, after the buffer's last writer has finished.
  void copy_from(void* dst, const DomainBuffer& src, size_t bytes = SIZE_MAX);

  // ---- Collectives over a domain (src/worker/collective_calls.cpp; docs/api.md "Collectives") ------
  // Each submits strata's shipped kernel as one group task with a part per member of `domain` (all parts
  // start together) on the member's buffer of the given name, and returns the group's TaskRef. Buffer
  // tags give the usual dependencies (the call waits for the buffers' last writers). `cfg` (block_dim,
  // ...) applies to every part. Counts are in elements; with counts not divisible by the domain size,
  // rank r owns collective_part(count, size, r) (comm_kernel.hpp). Throws UsageError for an unknown
  // buffer, a dtype the op does not take (reductions: f32, f16, bf16, i32, i64; f16 and bf16 reduce in
  // f32), a receive buffer too small, or a root that is not a member. Level 3 Workers only.
  //
  //   w.run([&](strata::Orchestrator& o) {
  //     auto dp = o.allocate_domain({.name = "dp", .workers = {0, 1}, .window_size = 1 << 20,
  //                                  .buffers = {{"grad", strata::DType::BF16, 4096}}});
  //     o.allreduce(dp, "grad", strata::ReduceOp::Avg);
  //   });

  /// Reduces `buffer` in place over the members with `op` (strata_allreduce, algorithm auto).
  TaskRef allreduce(const Domain& domain, std::string_view buffer, ReduceOp op = ReduceOp::Sum,
                    const CallConfig& cfg = {});
  /// Reduces `send` over the members with `op`; rank r gets its part of the result at the start of
  /// `recv` (another buffer of the same dtype, at least collective_part(count, size, r) elements).
  TaskRef reduce_scatter(const Domain& domain, std::string_view send, std::string_view recv,
                         ReduceOp op = ReduceOp::Sum, const CallConfig& cfg = {});
  /// Copies `buffer` of member chip `root` (a chip index) into `buffer` of every other member.
  TaskRef broadcast(const Domain& domain, std::string_view buffer, int root, const CallConfig& cfg = {});
  /// On entry part r of rank r's `buffer` is its input; on return every member's buffer holds every part.
  TaskRef allgather(const Domain& domain, std::string_view buffer, const CallConfig& cfg = {});
  /// Chunk p of rank r's `send` (count / size elements; count must divide) goes to chunk r of rank p's
  /// `recv` (another buffer of the same dtype, at least as large).
  TaskRef alltoall(const Domain& domain, std::string_view send, std::string_view recv, const CallConfig& cfg = {});

  /// Inside an orchestration function that a pod over MPI runs on its ranks: combines `t` (memory of
  /// this Worker: a task's tensor, or alloc()) element-wise across every rank but 0 with `op`, through
  /// MPI, in place. Waits first for every task submitted so far in this run; every rank must call it
  /// with the same `name` and size (else Error naming the odd rank). dtypes f32, f64, i32, i64; f16 and
  /// bf16 are summed in f32. Blocks until done or timeouts.comm.
  void pod_allreduce(const std::string& name, const Tensor& t, ReduceOp op = ReduceOp::Sum);
  /// Like pod_allreduce, but every rank's `t` becomes `root_rank`'s (a rank >= 1).
  void pod_broadcast(const std::string& name, const Tensor& t, int root_rank);

  int level() const noexcept;
  int chip_count() const noexcept;
  int sub_count() const noexcept;
  int worker_count() const noexcept;

 private:
  friend class detail::WorkerImpl;
  Orchestrator(detail::WorkerImpl* impl, uint64_t run) : impl_(impl), run_(run) {}
  detail::WorkerImpl* impl_;
  uint64_t run_;
};

template <class T>
Tensor Buffer<T>::tensor(std::initializer_list<int64_t> shape) const {
  Tensor t = Tensor::make(data(), shape, dtype_of<T>());
  if (t.numel() > size()) throw UsageError("Buffer::tensor: shape has more elements than the buffer holds");
  return t;
}

}  // namespace strata
