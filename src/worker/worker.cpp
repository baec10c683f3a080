// worker/worker.cpp — the public Worker and RawBuffer classes: thin forwarding to WorkerImpl and the arena.
#include <utility>

#include "memory/arena.hpp"
#include "worker/worker_impl.hpp"

namespace strata {

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
void Worker::respawn() { impl_->respawn(); }
void Worker::close() { impl_->close(); }
void Worker::cancel_run(const std::string& reason) { impl_->cancel_run(reason); }
RawBuffer Worker::create_raw_buffer(size_t bytes) { return impl_->create_raw_buffer(bytes); }
const std::vector<ChipContext>& Worker::chip_contexts() const { return impl_->chip_contexts(); }
void Worker::store_outputs() { impl_->store_outputs(); }
std::vector<LiveDomain> Worker::live_domains() const { return impl_->live_domains(); }
int Worker::comm_bringups() const noexcept { return impl_->comm_bringups(); }
int Worker::level() const noexcept { return impl_->level(); }
int Worker::pod_rank() const noexcept { return impl_->pod_rank(); }
int Worker::pod_ranks() const noexcept { return impl_->pod_ranks(); }
int Worker::chip_count() const noexcept { return impl_->count(ChildKind::Chip); }
int Worker::sub_count() const noexcept { return impl_->count(ChildKind::Sub); }
int Worker::worker_count() const noexcept { return impl_->count(ChildKind::Worker); }
bool Worker::initialized() const noexcept { return impl_->initialized(); }
WorkerStatus Worker::status() const { return impl_->status(); }

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

namespace detail {
[[noreturn]] void throw_buffer_too_large(size_t count, size_t element_bytes) {
  throw UsageError("create_buffer(" + std::to_string(count) + " elements of " + std::to_string(element_bytes) +
                   " bytes): the size does not fit in the address space");
}
}  // namespace detail

}  // namespace strata
