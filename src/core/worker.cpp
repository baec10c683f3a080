// Worker lifecycle: options, registration, init (fork + ready handshake), run, close, buffers; and the
// public Worker/RawBuffer classes, which forward to WorkerImpl.
#include <dlfcn.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "core/registry.hpp"
#include "core/worker_impl.hpp"
#include "util/config.hpp"
#include "util/log.hpp"
#include "util/sys.hpp"

namespace strata {
namespace detail {
namespace {

template <class T>
T or_default(T value, const char* tunable) {
  return value != T{} ? value : static_cast<T>(config::get_u64(tunable));
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out.append(", ");
    out.append(item);
  }
  return out;
}

std::chrono::milliseconds or_default(std::chrono::milliseconds value, const char* tunable) {
  return value.count() ? value : std::chrono::milliseconds(config::get_u64(tunable));
}

}  // namespace

BufferOwner::BufferOwner(size_t buffer_bytes_in, size_t heap_bytes_in)
    : arena(buffer_bytes_in + heap_bytes_in),
      pool(buffer_bytes_in, 64),
      buffer_bytes(buffer_bytes_in),
      heap_bytes(heap_bytes_in) {}

void BufferOwner::free(void* p, bool give_back_pages) noexcept {
  std::lock_guard lock(mu);
  const size_t offset = static_cast<size_t>(static_cast<char*>(p) - static_cast<char*>(arena.data()));
  const size_t bytes = pool.free(offset);
  // Give large buffers' pages back, so memory does not stay committed. Staging areas keep theirs: the
  // next copy reuses them, and faulting fresh pages in would cost ~1 ms per MiB.
  if (give_back_pages && bytes >= (size_t{1} << 20)) arena.release_pages(offset, bytes);
}

WorkerImpl::WorkerImpl(WorkerOptions opts) : opts_(std::move(opts)), level_(opts_.level) {
  if (level_ < 3 || level_ > 6)
    throw UsageError("WorkerOptions::level is " + std::to_string(level_) + "; it must be 3 (a node) or 4..6 (a pod)");
  if (!opts_.device_ids.empty() && opts_.chips != 0 && opts_.chips != static_cast<int>(opts_.device_ids.size()))
    throw UsageError("WorkerOptions: chips = " + std::to_string(opts_.chips) + " but device_ids lists " +
                     std::to_string(opts_.device_ids.size()) + "; give one or the other");
  if (opts_.chips < 0 || opts_.sub_workers < 0)
    throw UsageError("WorkerOptions: chips and sub_workers must not be negative");
  device_ids_ = opts_.device_ids;
  if (device_ids_.empty())
    for (int i = 0; i < opts_.chips; ++i) device_ids_.push_back(i);
  if (std::set<int>(device_ids_.begin(), device_ids_.end()).size() != device_ids_.size())
    throw UsageError("WorkerOptions::device_ids lists a device twice");
  if (level_ >= 4 && !device_ids_.empty())
    throw UsageError("a level " + std::to_string(level_) +
                     " Worker has child Workers, not chips: give chips to the workers you add with add_worker()");
  opts_.heap_bytes = or_default(opts_.heap_bytes, "heap_bytes");
  opts_.buffer_bytes = or_default(opts_.buffer_bytes, "buffer_bytes");
  opts_.task_ring = or_default(opts_.task_ring, "task_ring");
  opts_.submit_timeout = or_default(opts_.submit_timeout, "submit_timeout_ms");
  opts_.init_timeout = or_default(opts_.init_timeout, "init_timeout_ms");
  opts_.close_timeout = or_default(opts_.close_timeout, "close_timeout_ms");
  opts_.comm_timeout = or_default(opts_.comm_timeout, "comm_timeout_ms");
  opts_.chip_threads = or_default(opts_.chip_threads, "chip_threads");
  if (opts_.backend.empty()) opts_.backend = config::get_string("backend");
  validate_bringup();
  if (!comm::backend_available(opts_.backend)) {
    const std::string known = join(comm::backend_names());
    throw UsageError("unknown or unavailable backend '" + opts_.backend + "'; compiled in: " + known);
  }
  spin_ns_ = sys::spin_budget_ns();
  submit_timeout_ns_ = static_cast<int64_t>(opts_.submit_timeout.count()) * 1000000;
  comm_timeout_ns_ = static_cast<int64_t>(opts_.comm_timeout.count()) * 1000000;
}

WorkerImpl::~WorkerImpl() {
  if (!closed_) {
    try {
      close();
    } catch (...) {
      // close() is documented not to fail; nothing useful can be done in a destructor.
    }
  }
}

int WorkerImpl::count(ChildKind kind) const noexcept {
  if (!initialized_) {
    switch (kind) {
      case ChildKind::Chip:
        return static_cast<int>(device_ids_.size());
      case ChildKind::Sub:
        return opts_.sub_workers;
      case ChildKind::Worker:
        return static_cast<int>(child_workers_.size());
    }
  }
  return count_[static_cast<int>(kind)];
}

std::string WorkerImpl::child_name(ChildKind kind, int index) const {
  if (kind == ChildKind::Worker) return "L" + std::to_string(level_ - 1) + " worker " + std::to_string(index);
  return std::string(child_kind_name(kind)) + " " + std::to_string(index);
}

void WorkerImpl::check_usable(const char* what) const {
  if (closed_) throw UsageError(std::string(what) + ": this Worker is closed");
  if (!initialized_) throw UsageError(std::string(what) + " before init(): call Worker::init() first");
  if (!broken_.empty())
    throw ChildDiedError(std::string(what) + ": " + broken_ + "; close() this Worker and create a new one");
}

void WorkerImpl::ensure_arena() {
  if (!buffers_) buffers_ = std::make_shared<BufferOwner>(opts_.buffer_bytes, opts_.heap_bytes);
}

Kernel WorkerImpl::register_kernel(std::string_view name, KernelFn fn) {
  if (closed_) throw UsageError("register_kernel: this Worker is closed");
  if (level_ != 3)
    throw UsageError("register_kernel on a level " + std::to_string(level_) +
                     " Worker: kernels run on chips, which belong to level 3 Workers");
  if (fn) {
    if (initialized_)
      throw UsageError("register_kernel('" + std::string(name) +
                       "', fn) after init(): chips get function pointers by fork; register before init(), or "
                       "define it with STRATA_KERNEL and register it by name");
  } else {
    fn = core::find_static_kernel(name);
    if (!fn) {
      const std::string known = join(core::static_kernel_names());
      throw UsageError("no kernel named '" + std::string(name) +
                       "' is linked into this program (define it with STRATA_KERNEL(" + std::string(name) +
                       ") or use load_kernel); known kernels: " + (known.empty() ? "none" : known));
    }
  }
  for (uint32_t i = 0; i < kernels_.size(); ++i)
    if (kernels_[i].name == name && kernels_[i].impl.fn == fn) return Kernel{i};
  const auto id = static_cast<uint32_t>(kernels_.size());
  if (initialized_) {
    // The chips have the function (same program) but not this table entry: tell them, by name.
    check_usable("register_kernel");
    if (in_run_) throw UsageError("register_kernel('" + std::string(name) + "') inside run(): register between runs");
    send_load_kernel(id, "", std::string(name));
  }
  kernels_.push_back(RegisteredKernel{std::string(name), comm::KernelImpl{fn, nullptr}, {}});
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
  const auto id = static_cast<uint32_t>(kernels_.size());
  if (initialized_) send_load_kernel(id, library, symbol);
  kernels_.push_back(RegisteredKernel{std::string(name), comm::KernelImpl{nullptr, entry}, library});
  return Kernel{id};
}

void WorkerImpl::send_load_kernel(uint32_t id, const std::string& library, const std::string& symbol) {
  unsigned char frame[ipc::kRequestSlotBytes];
  const size_t len = ipc::encode_load_kernel(id, library, symbol, frame, sizeof frame);
  if (len == 0) throw UsageError("load_kernel: library path too long for a mailbox frame");
  for (int i = 0; i < count_[0]; ++i) {
    std::string error;
    control(child(ChildKind::Chip, i), frame, len, &error);
    if (!error.empty()) throw Error("kernel '" + symbol + "': " + child_name(ChildKind::Chip, i) + ": " + error);
  }
}

HostFn WorkerImpl::register_host(HostCallable fn, std::string name) {
  if (closed_) throw UsageError("register_host: this Worker is closed");
  if (initialized_)
    throw UsageError("register_host('" + name +
                     "') after init(): host callables reach the sub workers by fork; register them before init()");
  if (!fn) throw UsageError("register_host('" + name + "'): empty callable");
  hosts_.push_back(HostEntry{std::move(name), std::move(fn)});
  return HostFn{static_cast<uint32_t>(hosts_.size() - 1)};
}

OrchFn WorkerImpl::register_orch(OrchCallable fn, std::string name) {
  if (closed_) throw UsageError("register_orch: this Worker is closed");
  if (level_ < 4)
    throw UsageError("register_orch('" + name +
                     "') on a level 3 Worker: orchestration functions run on child "
                     "Workers of a level >= 4 Worker");
  if (initialized_)
    throw UsageError("register_orch('" + name + "') after init(): register orchestration functions before init()");
  if (!fn) throw UsageError("register_orch('" + name + "'): empty callable");
  orchs_.push_back(OrchEntry{std::move(name), std::move(fn)});
  return OrchFn{static_cast<uint32_t>(orchs_.size() - 1)};
}

Worker& WorkerImpl::add_worker(WorkerOptions opts) {
  if (closed_) throw UsageError("add_worker: this Worker is closed");
  if (level_ < 4) throw UsageError("add_worker on a level 3 Worker: only level >= 4 Workers have child Workers");
  if (initialized_) throw UsageError("add_worker after init(): add child Workers before init()");
  if (opts.level == 3 && level_ != 4) opts.level = level_ - 1;
  if (opts.level != level_ - 1)
    throw UsageError("add_worker: a level " + std::to_string(level_) + " Worker takes level " +
                     std::to_string(level_ - 1) + " children, not level " + std::to_string(opts.level));
  child_workers_.push_back(std::make_unique<Worker>(std::move(opts)));
  return *child_workers_.back();
}

RawBuffer WorkerImpl::create_raw_buffer(size_t bytes) {
  if (closed_) throw UsageError("create_buffer: this Worker is closed");
  ensure_arena();
  std::lock_guard lock(buffers_->mu);
  auto offset = buffers_->pool.alloc(bytes);
  if (!offset)
    throw UsageError("create_buffer(" + std::to_string(bytes) + " bytes): the buffer arena (" +
                     std::to_string(buffers_->buffer_bytes) + " bytes, " + std::to_string(buffers_->pool.used()) +
                     " in use) has no room; raise WorkerOptions::buffer_bytes (STRATA_BUFFER_BYTES)");
  char* p = static_cast<char*>(buffers_->arena.data()) + *offset;
  return RawBuffer(p, bytes, buffers_);
}

void WorkerImpl::init() {
  if (closed_) throw UsageError("init: this Worker is closed");
  if (initialized_) throw UsageError("init() called twice");
  if (level_ >= 4 && child_workers_.empty())
    throw UsageError("init of a level " + std::to_string(level_) + " Worker with no child Workers: add_worker() first");
  if (!opts_.allow_threads) {
    const int threads = ipc::process_thread_count();
    if (threads > 1)
      throw UsageError("init(): this process already runs " + std::to_string(threads) +
                       " threads, and forking a multi-threaded process can deadlock its children; call init() "
                       "before starting threads, or set WorkerOptions::allow_threads if you know they hold no locks");
  }
  ensure_arena();
  const int nchips = static_cast<int>(device_ids_.size());
  const int nsubs = opts_.sub_workers;
  const int nworkers = static_cast<int>(child_workers_.size());
  const int total = nchips + nsubs + nworkers;
  count_[0] = nchips;
  count_[1] = nsubs;
  count_[2] = nworkers;
  first_[0] = 0;
  first_[1] = nchips;
  first_[2] = nchips + nsubs;

  ring_ = std::make_unique<core::TaskRing>(opts_.task_ring);
  records_.assign(opts_.task_ring, TaskRecord{});
  heap_.emplace(buffers_->heap_base(), buffers_->heap_bytes);
  try {
    board_map_ = ipc::SharedMapping(ipc::Board::bytes_for(opts_.task_ring));
    board_ = static_cast<ipc::Board*>(board_map_.data());
    ipc::board_init(board_, opts_.task_ring);
    mailbox_map_ = ipc::SharedMapping(sizeof(ipc::Mailbox) * static_cast<size_t>(std::max(total, 1)));
    if (nchips > 0) {
      std::string err;
      backend_shared_ = comm::prepare_backend(opts_.backend, nchips, &err);
      if (!err.empty()) throw Error("init(): backend '" + opts_.backend + "': " + err);
    }
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) sys::throw_errno("eventfd");
    children_.resize(static_cast<size_t>(total));
    for (int i = 0; i < total; ++i) {
      ChildSlot& c = children_[static_cast<size_t>(i)];
      c.kind = i < nchips ? ChildKind::Chip : i < nchips + nsubs ? ChildKind::Sub : ChildKind::Worker;
      c.index = i - first_[static_cast<int>(c.kind)];
      c.device_id = c.kind == ChildKind::Chip ? device_ids_[static_cast<size_t>(c.index)] : -1;
      c.mb = static_cast<ipc::Mailbox*>(mailbox_map_.data()) + i;
      ipc::mailbox_init(c.mb, static_cast<uint32_t>(c.kind), c.index);
    }
    for (int i = 0; i < total; ++i) {
      ChildSlot& c = children_[static_cast<size_t>(i)];
      c.proc = ipc::ChildProcess::spawn([this, i] { return child_main(static_cast<size_t>(i)); });
      c.alive = true;
      STRATA_LOG_DEBUG("worker", "forked %s as pid %d", child_name(c.kind, c.index).c_str(),
                       static_cast<int>(c.proc.pid()));
    }
    initialized_ = true;
    wait_children_ready();
    if (!opts_.bringup.empty()) bringup_at_init();
  } catch (...) {
    initialized_ = false;
    teardown_children(false);
    throw;
  }
}

void WorkerImpl::wait_children_ready() {
  const int64_t deadline = sys::now_ns() + static_cast<int64_t>(opts_.init_timeout.count()) * 1000000;
  for (;;) {
    std::string pending;
    for (ChildSlot& c : children_) {
      const auto state = static_cast<ipc::ChildState>(c.mb->header.child_state.load(std::memory_order_acquire));
      if (state == ipc::ChildState::InitFailed)
        throw Error("init(): " + child_name(c.kind, c.index) + " failed to start: " + c.mb->header.init_message);
      std::string how;
      if (state != ipc::ChildState::Ready && c.proc.try_reap(&how))
        throw Error("init(): " + child_name(c.kind, c.index) + " died while starting: " + how);
      if (state != ipc::ChildState::Ready) {
        if (!pending.empty()) pending.append(", ");
        pending.append(child_name(c.kind, c.index));
      }
    }
    if (pending.empty()) return;
    const int64_t now = sys::now_ns();
    if (now >= deadline)
      throw TimeoutError("init(): no ready report within " + std::to_string(opts_.init_timeout.count()) +
                         " ms from: " + pending + "; raise WorkerOptions::init_timeout (STRATA_INIT_TIMEOUT_MS)");
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}};
    for (ChildSlot& c : children_)
      if (c.proc.pidfd() >= 0) fds.push_back({c.proc.pidfd(), POLLIN, 0});
    const int ms = static_cast<int>(std::min<int64_t>((deadline - now) / 1000000 + 1, 100));
    poll(fds.data(), fds.size(), ms);
    uint64_t v;
    while (read(wake_fd_, &v, sizeof v) > 0) {
    }
  }
}

void WorkerImpl::close() {
  if (closed_) throw UsageError("close() called twice: this Worker is already closed");
  if (in_run_) throw UsageError("close() inside run(): return from the orchestration function first");
  teardown_children(true);
  closed_ = true;
}

void WorkerImpl::teardown_children(bool graceful) noexcept {
  if (graceful && initialized_) {
    domains_close();
  } else {
    for (auto& d : domains_) {
      d->state = DomainRecord::State::Freed;  // the memory goes with the processes and mappings
      d->owner = nullptr;
    }
    domains_.clear();
  }
  if (graceful)
    for (ChildSlot& c : children_)
      if (c.alive) post_shutdown(c);
  const int timeout_ms = graceful ? static_cast<int>(opts_.close_timeout.count()) : 0;
  for (ChildSlot& c : children_) {
    if (c.proc.running()) {
      const std::string how = c.proc.reap(timeout_ms);
      STRATA_LOG_DEBUG("worker", "%s %s", child_name(c.kind, c.index).c_str(), how.c_str());
    }
    c.alive = false;
  }
  children_.clear();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
  board_ = nullptr;
  board_map_.reset();
  mailbox_map_.reset();
  buffers_.reset();  // RawBuffers still alive keep the arena mapped
  backend_shared_.reset();
  comm_up_ = false;
  heap_.reset();
  ring_.reset();
  records_.clear();
  eligible_.clear();
  deps_.clear();
}

}  // namespace detail

// ---- public classes -------------------------------------------------------------------------------

Worker::Worker(WorkerOptions opts) : impl_(std::make_unique<detail::WorkerImpl>(std::move(opts))) {}
Worker::~Worker() = default;
Worker::Worker(Worker&&) noexcept = default;
Worker& Worker::operator=(Worker&&) noexcept = default;

Kernel Worker::register_kernel(std::string_view name) { return impl_->register_kernel(name, nullptr); }
Kernel Worker::register_kernel(std::string_view name, KernelFn fn) {
  if (!fn) throw UsageError("register_kernel('" + std::string(name) + "', fn): null function");
  return impl_->register_kernel(name, fn);
}
Kernel Worker::load_kernel(const std::string& library, std::string_view name) {
  return impl_->load_kernel(library, name);
}
HostFn Worker::register_host(HostCallable fn, std::string name) {
  return impl_->register_host(std::move(fn), std::move(name));
}
OrchFn Worker::register_orch(OrchCallable fn, std::string name) {
  return impl_->register_orch(std::move(fn), std::move(name));
}
Worker& Worker::add_worker(WorkerOptions opts) { return impl_->add_worker(std::move(opts)); }
void Worker::init() { impl_->init(); }
void Worker::run(const std::function<void(Orchestrator&)>& fn) { impl_->run(fn); }
void Worker::close() { impl_->close(); }
RawBuffer Worker::create_raw_buffer(size_t bytes) { return impl_->create_raw_buffer(bytes); }
const std::vector<ChipContext>& Worker::chip_contexts() const { return impl_->chip_contexts(); }
int Worker::comm_bringups() const noexcept { return impl_->comm_bringups(); }
int Worker::level() const noexcept { return impl_->level(); }
int Worker::chip_count() const noexcept { return impl_->count(ChildKind::Chip); }
int Worker::sub_count() const noexcept { return impl_->count(ChildKind::Sub); }
int Worker::worker_count() const noexcept { return impl_->count(ChildKind::Worker); }
bool Worker::initialized() const noexcept { return impl_->initialized(); }

RawBuffer::RawBuffer(RawBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      owner_(std::move(other.owner_)) {}

RawBuffer& RawBuffer::operator=(RawBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ && owner_) owner_->free(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    owner_ = std::move(other.owner_);
  }
  return *this;
}

RawBuffer::~RawBuffer() {
  if (data_ && owner_) owner_->free(data_);
}

}  // namespace strata
