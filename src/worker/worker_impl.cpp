// worker/worker_impl.cpp — a Worker's options, registration, init (fork + ready handshake), buffers and
// close (see worker_impl.hpp; runs are in run.cpp, respawn in respawn.cpp).
#include "worker/worker_impl.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <set>

#include "child/kernel_registry.hpp"
#include "child/runtime.hpp"
#include "comm/collectives.hpp"
#include "comm/window_layout.hpp"
#include "ipc/codec.hpp"
#include "ipc/process.hpp"
#include "pod/mpi.hpp"
#include "pod/root_link.hpp"
#include "trace/recorder.hpp"
#include "util/checked.hpp"
#include "util/config.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"
#include "util/text.hpp"

namespace strata::detail {
namespace {

// Largest values accepted for sizes given in WorkerOptions (larger ones are a typo, not a plan).
constexpr uint32_t kMaxTaskRing = 1u << 22;
constexpr uint32_t kMaxChipThreads = 1024;
constexpr int kMaxChildren = 4096;
constexpr int64_t kMaxTimeoutMs = int64_t{1} << 40;  // about 35 years

template <class T>
T or_default(T value, const char* tunable) {
  return value != T{} ? value : static_cast<T>(config::get_u64(tunable));
}

std::chrono::milliseconds or_default(std::chrono::milliseconds value, const char* tunable) {
  return value.count() ? value : std::chrono::milliseconds(config::get_u64(tunable));
}

}  // namespace

WorkerImpl::WorkerImpl(WorkerOptions opts) : opts_(std::move(opts)), level_(opts_.level) { validate_options(); }

WorkerImpl::~WorkerImpl() {
  if (!closed_) teardown(initialized_);
}

void WorkerImpl::validate_options() {
  if (level_ < 3 || level_ > 6)
    throw UsageError("WorkerOptions::level is " + std::to_string(level_) + "; it must be 3 (a node) or 4..6 (a pod)");
  if (opts_.chips < 0)
    throw UsageError("WorkerOptions::chips is " + std::to_string(opts_.chips) + "; it must not be negative");
  if (opts_.sub_workers < 0)
    throw UsageError("WorkerOptions::sub_workers is " + std::to_string(opts_.sub_workers) +
                     "; it must not be negative");
  if (!opts_.device_ids.empty() && opts_.chips != 0 && opts_.chips != static_cast<int>(opts_.device_ids.size()))
    throw UsageError("WorkerOptions: chips = " + std::to_string(opts_.chips) + " but device_ids lists " +
                     std::to_string(opts_.device_ids.size()) + "; give one or the other");
  device_ids_ = opts_.device_ids;
  if (device_ids_.empty())
    for (int i = 0; i < opts_.chips; ++i) device_ids_.push_back(i);
  for (int id : device_ids_)
    if (id < 0) throw UsageError("WorkerOptions::device_ids lists " + std::to_string(id) + "; device ids are >= 0");
  if (std::set<int>(device_ids_.begin(), device_ids_.end()).size() != device_ids_.size())
    throw UsageError("WorkerOptions::device_ids lists a device twice");
  if (opts_.transport != Transport::Fork && opts_.transport != Transport::Mpi)
    throw UsageError("WorkerOptions::transport is " + std::to_string(static_cast<int>(opts_.transport)) +
                     "; it must be Transport::Fork or Transport::Mpi");
  if (opts_.transport == Transport::Mpi && level_ < 4)
    throw UsageError("WorkerOptions::transport = Transport::Mpi on a level " + std::to_string(level_) +
                     " Worker: MPI connects a pod (level >= 4) to its child Workers; a node's chips are forked");
  if (level_ >= 4 && !device_ids_.empty())
    throw UsageError("a level " + std::to_string(level_) +
                     " Worker has child Workers, not chips: give chips to the workers you add with add_worker()");
  if (static_cast<int64_t>(device_ids_.size()) + opts_.sub_workers > kMaxChildren)
    throw UsageError("WorkerOptions: " + std::to_string(device_ids_.size() + static_cast<size_t>(opts_.sub_workers)) +
                     " children; a Worker has at most " + std::to_string(kMaxChildren));
  Timeouts& t = opts_.timeouts;
  for (auto [value, field] : {std::pair{t.submit, "submit"}, std::pair{t.init, "init"}, std::pair{t.close, "close"},
                              std::pair{t.comm, "comm"}, std::pair{t.stall_warn, "stall_warn"},
                              std::pair{t.stall, "stall"}, std::pair{t.heartbeat, "heartbeat"}})
    if (value.count() < 0 || value.count() > kMaxTimeoutMs)
      throw UsageError(std::string("WorkerOptions::timeouts.") + field + " is " + std::to_string(value.count()) +
                       " ms; it must be between 0 (the default) and " + std::to_string(kMaxTimeoutMs));
  MemoryOptions& m = opts_.memory;
  BackendOptions& b = opts_.backend;
  m.heap_bytes = or_default(m.heap_bytes, "heap_bytes");
  m.buffer_bytes = or_default(m.buffer_bytes, "buffer_bytes");
  m.task_ring = or_default(m.task_ring, "task_ring");
  t.submit = or_default(t.submit, "submit_timeout_ms");
  t.init = or_default(t.init, "init_timeout_ms");
  t.close = or_default(t.close, "close_timeout_ms");
  t.comm = or_default(t.comm, "comm_timeout_ms");
  t.stall_warn = or_default(t.stall_warn, "stall_warn_ms");
  t.stall = or_default(t.stall, "stall_timeout_ms");
  t.heartbeat = or_default(t.heartbeat, "heartbeat_timeout_ms");
  b.chip_threads = or_default(b.chip_threads, "chip_threads");
  if (!util::checked_add(m.heap_bytes, m.buffer_bytes) || m.heap_bytes > (size_t{1} << 48) ||
      m.buffer_bytes > (size_t{1} << 48))
    throw UsageError("WorkerOptions: memory.heap_bytes (" + std::to_string(m.heap_bytes) +
                     ") and memory.buffer_bytes (" + std::to_string(m.buffer_bytes) + ") must each be at most " +
                     util::bytes_text(size_t{1} << 48));
  if (m.task_ring > kMaxTaskRing)
    throw UsageError("WorkerOptions::memory.task_ring is " + std::to_string(m.task_ring) + "; at most " +
                     std::to_string(kMaxTaskRing));
  if (b.chip_threads > kMaxChipThreads)
    throw UsageError("WorkerOptions::backend.chip_threads is " + std::to_string(b.chip_threads) + "; at most " +
                     std::to_string(kMaxChipThreads));
  if (b.name.empty()) b.name = config::get_string("backend");
  if (!comm::backend_available(b.name))
    throw UsageError("unknown or unavailable backend '" + b.name +
                     "'; compiled in: " + util::join(comm::backend_names()));
  // The backend checks its options (and, sim, the fault injection STRATA_SIM_FAULTS asks for) here, in the
  // parent, before any process is forked; what it makes of them reaches every chip.
  std::string why;
  if (!comm::configure_backend(b.name, b.options, &backend_settings_, &why)) throw UsageError(why);
  validate_bringup();
}

void WorkerImpl::validate_bringup() const {
  if (opts_.bringup.empty()) return;
  if (level_ != 3)
    throw UsageError("WorkerOptions::bringup on a level " + std::to_string(level_) +
                     " Worker: bring-up configures chips, which only level 3 Workers have");
  if (opts_.bringup.size() != device_ids_.size())
    throw UsageError("WorkerOptions::bringup has " + std::to_string(opts_.bringup.size()) + " entries for " +
                     std::to_string(device_ids_.size()) + " chips; give exactly one per chip");
  std::vector<bool> rank_seen(device_ids_.size(), false);
  // Each chip's configuration on its own first, so a bad one is reported as what it is.
  for (size_t i = 0; i < opts_.bringup.size(); ++i) {
    const ChipBringup& b = opts_.bringup[i];
    const std::string who = "bring-up of chip " + std::to_string(i);
    if (b.rank < 0 || static_cast<size_t>(b.rank) >= device_ids_.size() || rank_seen[static_cast<size_t>(b.rank)])
      throw UsageError(who + ": rank " + std::to_string(b.rank) + " is out of range or taken; ranks must be 0.." +
                       std::to_string(device_ids_.size() - 1) + ", each once");
    rank_seen[static_cast<size_t>(b.rank)] = true;
    if (b.buffers.size() > ipc::kMaxDomainBuffers)
      throw UsageError(who + ": " + std::to_string(b.buffers.size()) + " buffers; at most " +
                       std::to_string(ipc::kMaxDomainBuffers));
    std::set<std::string> names;
    std::vector<size_t> sizes;
    std::vector<std::string> buffer_names;
    for (const BufferSpec& bs : b.buffers) {
      if (!names.insert(bs.name).second) throw UsageError(who + ": buffer name '" + bs.name + "' is used twice");
      if (dtype_size(bs.dtype) == 0) throw UsageError(who + ": buffer '" + bs.name + "' has an invalid dtype");
      const auto bytes = util::checked_mul(bs.count, dtype_size(bs.dtype));
      if (!bytes) throw UsageError(who + ": buffer '" + bs.name + "' is larger than the address space");
      sizes.push_back(*bytes);
      buffer_names.push_back(bs.name);
    }
    std::string why;
    if (!comm::WindowLayout::make(b.window_size, sizes, &why, buffer_names)) throw UsageError(who + ": " + why);
    // Host memory named by inputs and outputs must match its buffer exactly: nothing is half-loaded.
    auto size_of = [&](const std::string& name, const char* what) -> size_t {
      for (size_t k = 0; k < b.buffers.size(); ++k)
        if (b.buffers[k].name == name) return sizes[k];
      throw UsageError(who + ": " + what + " for unknown buffer '" + name + "'");
    };
    for (const auto& [name, bytes] : b.inputs) {
      const size_t want = size_of(name, "input");
      if (bytes.size() != want)
        throw UsageError(who + ": input for '" + name + "' has " + std::to_string(bytes.size()) +
                         " bytes but buffer '" + name + "' holds " + std::to_string(want) +
                         "; an input must match its buffer exactly");
    }
    for (const auto& [name, host] : b.outputs) {
      const size_t want = size_of(name, "output");
      if (host.size() != want || (want > 0 && host.data() == nullptr))
        throw UsageError(
            who + ": output for '" + name + "' gives " +
            (host.data() == nullptr ? std::string("a null pointer") : std::to_string(host.size()) + " bytes") +
            " but buffer '" + name + "' holds " + std::to_string(want) + "; an output must match its buffer exactly");
    }
  }
  // Then the symmetry every domain has: the same window and buffers on every chip.
  const ChipBringup& first = opts_.bringup[0];
  for (size_t i = 1; i < opts_.bringup.size(); ++i) {
    const ChipBringup& b = opts_.bringup[i];
    const std::string who = "bring-up of chip " + std::to_string(i);
    if (b.window_size != first.window_size)
      throw UsageError(who + ": window_size " + std::to_string(b.window_size) + " differs from chip 0's " +
                       std::to_string(first.window_size) + "; a domain's windows are symmetric");
    bool same = b.buffers.size() == first.buffers.size();
    for (size_t k = 0; same && k < b.buffers.size(); ++k)
      same = b.buffers[k].name == first.buffers[k].name && b.buffers[k].dtype == first.buffers[k].dtype &&
             b.buffers[k].count == first.buffers[k].count;
    if (!same)
      throw UsageError(who +
                       ": its buffers differ from chip 0's; a domain's windows are symmetric, so every chip must "
                       "declare the same buffers in the same order");
  }
}

int WorkerImpl::count(ChildKind kind) const noexcept {
  if (sup_) return sup_->count(kind);
  switch (kind) {
    case ChildKind::Chip:
      return static_cast<int>(device_ids_.size());
    case ChildKind::Sub:
      return opts_.sub_workers;
    case ChildKind::Worker:
      return static_cast<int>(child_workers_.size());
  }
  return 0;
}

void WorkerImpl::check_usable(const char* what) {
  if (closed_) throw UsageError(std::string(what) + ": this Worker is closed");
  if (!initialized_) throw UsageError(std::string(what) + " before init(): call Worker::init() first");
  sup_->check_health();  // a death while idle is seen here (the kernel marked the child's liveness word)
  if (const supervisor::Child* c = sup_->first_gone())
    throw ChildDiedError(std::string(what) + ": " + sup_->gone_text(*c) +
                         "; call respawn() to restart it, or close() this Worker");
}

void WorkerImpl::check_threads(const char* what) const {
  if (opts_.allow_threads) return;
  // MPI's own threads (a pod over MPI) hold no lock a forked child needs.
  const int threads = ipc::process_thread_count() - pod::Mpi::threads_started();
  if (threads > 1)
    throw UsageError(std::string(what) + ": this process already runs " + std::to_string(threads) +
                     " threads, and forking a multi-threaded process can deadlock its children; call it "
                     "before starting threads, or set WorkerOptions::allow_threads if you know they hold no locks");
}

void WorkerImpl::ensure_arena() {
  if (!arena_) arena_ = std::make_shared<memory::Arena>(opts_.memory.buffer_bytes, opts_.memory.heap_bytes);
}

// ---- registration ----------------------------------------------------------------------------------

Kernel WorkerImpl::register_kernel(std::string_view name, KernelFn fn) {
  if (closed_) throw UsageError("register_kernel: this Worker is closed");
  if (level_ != 3)
    throw UsageError("register_kernel on a level " + std::to_string(level_) +
                     " Worker: kernels run on chips, which belong to level 3 Workers");
  if (initialized_) check_usable("register_kernel");
  if (fn) {
    if (initialized_)
      throw UsageError("register_kernel('" + std::string(name) +
                       "', fn) after init(): chips get function pointers by fork; register before init(), or "
                       "define it with STRATA_KERNEL and register it by name");
  } else {
    fn = child::find_static_kernel(name);
    if (!fn) {
      const std::string known = util::join(child::static_kernel_names());
      throw UsageError("no kernel named '" + std::string(name) +
                       "' is linked into this program (define it with STRATA_KERNEL(" + std::string(name) +
                       ") or use load_kernel); known kernels: " + (known.empty() ? "none" : known));
    }
  }
  auto& kernels = callables_.kernels;
  for (uint32_t i = 0; i < kernels.size(); ++i)
    if (kernels[i].name == name && kernels[i].impl.fn == fn) return Kernel{i};
  const auto id = static_cast<uint32_t>(kernels.size());
  if (initialized_) {
    // The chips have the function (same program) but not this table entry: tell them, by name.
    if (in_run_) throw UsageError("register_kernel('" + std::string(name) + "') inside run(): register between runs");
    send_load_kernel(id, "", std::string(name));
  }
  kernels.push_back(child::KernelEntry{std::string(name), comm::KernelImpl{fn, nullptr}, {}});
  return Kernel{id};
}

Kernel WorkerImpl::load_kernel(const std::string& library, std::string_view name) {
  if (closed_) throw UsageError("load_kernel: this Worker is closed");
  if (level_ != 3)
    throw UsageError("load_kernel on a level " + std::to_string(level_) + " Worker: kernels run on chips");
  if (initialized_) check_usable("load_kernel");
  if (in_run_) throw UsageError("load_kernel inside run(): load kernels between runs");
  // The parent loads it too: to validate before any chip is asked, and so later forks inherit it.
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw UsageError("load_kernel: cannot load '" + library + "': " + dlerror());
  const std::string symbol = "strata_kernel_" + std::string(name);
  auto entry = reinterpret_cast<detail::KernelEntry>(dlsym(handle, symbol.c_str()));
  if (!entry)
    throw UsageError("load_kernel: '" + library + "' has no kernel '" + std::string(name) + "' (no symbol " + symbol +
                     "; export it with STRATA_KERNEL(" + std::string(name) + "))");
  const auto id = static_cast<uint32_t>(callables_.kernels.size());
  if (initialized_) send_load_kernel(id, library, symbol);
  callables_.kernels.push_back(child::KernelEntry{std::string(name), comm::KernelImpl{nullptr, entry}, library});
  return Kernel{id};
}

void WorkerImpl::send_load_kernel(uint32_t id, const std::string& library, const std::string& symbol) {
  unsigned char frame[ipc::kRequestSlotBytes];
  const size_t len = ipc::encode_load_kernel(id, library, symbol, frame, sizeof frame);
  if (len == 0) throw UsageError("load_kernel: library path too long for a mailbox frame");
  const int64_t deadline = sys::now_ns() + ns(opts_.timeouts.comm);
  std::vector<uint64_t> asked;
  for (int i = 0; i < sup_->count(ChildKind::Chip); ++i)
    asked.push_back(sup_->post_request(sup_->child(ChildKind::Chip, i), frame, len, deadline, "loading a kernel"));
  for (size_t i = 0; i < asked.size(); ++i) {
    const supervisor::Reply r = sup_->wait_reply(asked[i]);
    if (r.kind == supervisor::Reply::Kind::Ok) continue;
    const std::string msg = "kernel '" + symbol + "': chip " + std::to_string(i) + ": " + r.payload;
    if (r.kind == supervisor::Reply::Kind::Lost) throw ChildDiedError(msg);
    throw Error(msg);
  }
}

HostFn WorkerImpl::register_host(HostCallable fn, std::string name) {
  if (closed_) throw UsageError("register_host: this Worker is closed");
  if (initialized_)
    throw UsageError("register_host('" + name +
                     "') after init(): host callables reach the sub workers by fork; register them before init()");
  if (!fn) throw UsageError("register_host('" + name + "'): empty callable");
  callables_.hosts.push_back(child::HostEntry{std::move(name), std::move(fn)});
  return HostFn{static_cast<uint32_t>(callables_.hosts.size() - 1)};
}

OrchFn WorkerImpl::register_orch(OrchCallable fn, std::string name) {
  if (closed_) throw UsageError("register_orch: this Worker is closed");
  if (level_ < 4)
    throw UsageError("register_orch('" + name +
                     "') on a level 3 Worker: orchestration functions run on child Workers of a level >= 4 Worker");
  if (initialized_)
    throw UsageError("register_orch('" + name + "') after init(): register orchestration functions before init()");
  if (!fn) throw UsageError("register_orch('" + name + "'): empty callable");
  callables_.orchs.push_back(child::OrchEntry{std::move(name), std::move(fn)});
  return OrchFn{static_cast<uint32_t>(callables_.orchs.size() - 1)};
}

Worker& WorkerImpl::add_worker(WorkerOptions opts) {
  if (closed_) throw UsageError("add_worker: this Worker is closed");
  if (level_ < 4) throw UsageError("add_worker on a level 3 Worker: only level >= 4 Workers have child Workers");
  if (initialized_) throw UsageError("add_worker after init(): add child Workers before init()");
  if (opts.level == 3 && level_ != 4) opts.level = level_ - 1;
  if (opts.level != level_ - 1)
    throw UsageError("add_worker: a level " + std::to_string(level_) + " Worker takes level " +
                     std::to_string(level_ - 1) + " children, not level " + std::to_string(opts.level));
  if (static_cast<int>(child_workers_.size()) >= kMaxChildren)
    throw UsageError("add_worker: a Worker has at most " + std::to_string(kMaxChildren) + " children");
  child_workers_.push_back(std::make_unique<Worker>(std::move(opts)));
  return *child_workers_.back();
}

RawBuffer WorkerImpl::create_raw_buffer(size_t bytes) {
  if (closed_) throw UsageError("create_buffer: this Worker is closed");
  if (initialized_) check_usable("create_buffer");
  ensure_arena();
  void* p = arena_->alloc(bytes);
  if (!p)
    throw UsageError("create_buffer(" + std::to_string(bytes) + " bytes): the buffer arena (" +
                     util::bytes_text(arena_->buffer_bytes()) + ", " + util::bytes_text(arena_->buffers_in_use()) +
                     " in use) has no room; raise WorkerOptions::memory.buffer_bytes (STRATA_BUFFER_BYTES)");
  return RawBuffer(p, bytes, arena_);
}

// ---- init and close --------------------------------------------------------------------------------

void WorkerImpl::spawn(supervisor::Child& c) {
  if (c.remote()) {
    start_pod_rank(c);
    return;
  }
  child::ChildSetup s;
  s.kind = c.kind;
  s.index = c.index;
  s.device_id = c.device_id;
  s.chip_count = sup_->count(ChildKind::Chip);
  s.name = sup_->name(c);
  s.channel = c.channel.channel();
  s.parent = sup_->parent_wake();
  s.board = board_;
  s.callables = &callables_;
  s.backend = opts_.backend.name;
  s.backend_settings = backend_settings_;
  s.chip_threads = opts_.backend.chip_threads;
  s.backend_shared = backend_shared_.get();
  s.inner = c.kind == ChildKind::Worker ? child_workers_[static_cast<size_t>(c.index)].get() : nullptr;
  s.spin_ns = sys::spin_budget_ns();
  if (s.inner) s.on_orch_task = [w = s.inner](uint64_t task) { w->impl().set_trace_parent_task(task); };
  sup_->spawn(c, [s] { return child::child_main(s); });
}

void WorkerImpl::init() {
  if (closed_) throw UsageError("init: this Worker is closed");
  if (initialized_) throw UsageError("init() called twice");
  if (level_ >= 4 && child_workers_.empty())
    throw UsageError("init of a level " + std::to_string(level_) + " Worker with no child Workers: add_worker() first");
  if (opts_.transport == Transport::Mpi) {
    join_pod();
    if (pod_rank_ != 0) {
      serve_pod_rank();  // every rank but 0: serves until rank 0 closes the pod
      return;
    }
  }
  check_threads("init()");
  ensure_arena();
  // The shipped collective kernels, so the Orchestrator's collective calls find them inside a run.
  if (level_ == 3)
    for (const char* name : comm::kCollectiveKernels) register_kernel(name, nullptr);
  const int nchips = static_cast<int>(device_ids_.size());
  try {
    supervisor::Supervisor::Options so;
    so.level = level_;
    so.spin_ns = sys::spin_budget_ns();
    so.stop_limit_ns = ns(opts_.timeouts.comm);
    sup_ = std::make_unique<supervisor::Supervisor>(static_cast<supervisor::Events&>(*this), so);
    const int workers = opts_.transport == Transport::Mpi ? pod_ranks_ - 1 : static_cast<int>(child_workers_.size());
    sup_->configure(nchips, opts_.sub_workers, workers, device_ids_);
    board_map_ = ipc::SharedMapping(ipc::Board::bytes_for(opts_.memory.task_ring));
    board_ = static_cast<ipc::Board*>(board_map_.data());
    ipc::board_init(board_, opts_.memory.task_ring);
    ipc::prefault(board_, board_map_.size());
    memory_ = std::make_unique<memory::MemoryMap>(arena_.get());
    for (const auto& a : inherited_arenas_) memory_->add_arena(a.get());
    for (const Region& r : accepted_) memory_->add(r.base, r.bytes, r.label);
    // Child Workers run in processes forked from this one: they may name this Worker's memory too.
    std::vector<std::shared_ptr<memory::Arena>> for_children = inherited_arenas_;
    for_children.push_back(arena_);
    for (auto& w : child_workers_) w->impl().inherit_arenas(for_children);
    graph::SchedulerOptions go;
    go.ring_slots = opts_.memory.task_ring;
    go.fail_fast = opts_.fail_fast;
    go.submit_timeout_ns = ns(opts_.timeouts.submit);
    go.level = level_;
    sched_ = std::make_unique<graph::Scheduler>(static_cast<graph::Link&>(*this), board_,
                                                memory::HeapRing(arena_->heap_base(), arena_->heap_bytes()),
                                                memory_.get(), go);
    if (nchips > 0) {
      std::string err;
      backend_shared_ = comm::prepare_backend(opts_.backend.name, nchips, &err);
      if (!err.empty()) throw Error("init(): backend '" + opts_.backend.name + "': " + err);
    }
    domains_ = std::make_unique<domain::DomainManager>(
        *sup_, *sched_, *arena_, *memory_,
        domain::DomainOptions{ns(opts_.timeouts.comm), ns(opts_.timeouts.close), device_ids_});
    start_trace();
    const int64_t begin = sys::now_ns();
    const int64_t deadline = begin + ns(opts_.timeouts.init);
    if (opts_.transport == Transport::Mpi) init_pod_root(deadline);
    for (supervisor::Child& c : sup_->children()) spawn(c);
    initialized_ = true;
    sup_->wait_ready(deadline, "init()", "WorkerOptions::timeouts.init, STRATA_INIT_TIMEOUT_MS");
    if (!opts_.bringup.empty()) domains_->bringup(opts_.bringup, deadline);
    STRATA_OBSERVE(obs_, span(trace::Span::Init, begin, sys::now_ns(), {}));
  } catch (...) {
    teardown(false);
    initialized_ = false;
    throw;
  }
}

void WorkerImpl::close() {
  if (closed_) throw UsageError("close() called twice: this Worker is already closed");
  if (in_run_) throw UsageError("close() inside run(): return from the orchestration function first");
  teardown(initialized_);
  closed_ = true;
}

void WorkerImpl::teardown(bool graceful) noexcept {
  if (graceful && domains_ && has_outputs()) {
    try {
      store_outputs();
    } catch (const std::exception& e) {
      STRATA_LOG_ERROR("worker", "close(): the bring-up outputs were not stored: %s", e.what());
    }
  }
  if (graceful && domains_) domains_->close();
  if (sup_) sup_->shutdown(graceful ? ns(opts_.timeouts.close) : 0);
  // After the children are gone: a pod's child Workers have written their part of the trace.
  finish_trace();
  domains_.reset();
  sched_.reset();
  memory_.reset();
  board_ = nullptr;
  sup_.reset();
  pod_.reset();  // after the supervisor, which pumps it until then
  board_map_.reset();
  backend_shared_.reset();
  arena_.reset();  // RawBuffers still alive keep the arena mapped
}

bool WorkerImpl::has_outputs() const noexcept {
  for (const ChipBringup& b : opts_.bringup)
    if (!b.outputs.empty()) return true;
  return false;
}

void WorkerImpl::store_outputs() {
  check_usable("store_outputs()");
  if (in_run_) throw UsageError("store_outputs() inside run(): return from the orchestration function first");
  if (opts_.bringup.empty())
    throw UsageError("store_outputs(): this Worker has no bring-up configuration (WorkerOptions::bringup)");
  domains_->store_outputs(opts_.bringup, sys::now_ns() + ns(opts_.timeouts.comm));
}

std::vector<LiveDomain> WorkerImpl::live_domains() const {
  if (!initialized_ || closed_) return {};
  return domains_->live();
}

const std::vector<ChipContext>& WorkerImpl::chip_contexts() const {
  if (!initialized_ || closed_)
    throw UsageError("chip_contexts() before init(): they exist once init() has brought the chips up");
  if (opts_.bringup.empty())
    throw UsageError("chip_contexts(): this Worker has no bring-up configuration (WorkerOptions::bringup)");
  return domains_->chip_contexts();
}

}  // namespace strata::detail
