// comm/sim/sim_backend.cpp — the simulated chip: host memory, kernels as C++ functions run as
// `block_dim` blocks on a small thread pool of the chip process.
//
// The pool threads are created in the chip process (after fork) by start(). run_kernel hands blocks out
// through an atomic counter; the chip's main thread runs blocks too, then waits for the helpers on a
// condition variable. Only the chip's main thread calls the backend.
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "comm/backend.hpp"

namespace strata::comm {
namespace {

class SimBackend final : public ChipBackend {
 public:
  ~SimBackend() override { stop(); }
  const char* name() const noexcept override { return "sim"; }

  bool start(const ChipInfo& info, std::string* error) noexcept override {
    try {
      const uint32_t helpers = info.threads > 1 ? info.threads - 1 : 0;
      for (uint32_t i = 0; i < helpers; ++i) threads_.emplace_back([this] { helper_loop(); });
      return true;
    } catch (const std::exception& e) {
      *error = std::string("sim chip: cannot start its block pool: ") + e.what();
      return false;
    }
  }

  void stop() noexcept override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  bool run_kernel(const KernelImpl& kernel, const TaskContext& ctx, std::string* error) noexcept override {
    const uint32_t blocks = ctx.block_dim();
    if (blocks == 1 || threads_.empty()) {
      for (uint32_t b = 0; b < blocks; ++b)
        if (!kernel_invoke(kernel, at_block(ctx, b), error)) return false;
      return true;
    }
    {
      std::lock_guard lock(mu_);
      job_ = Job{&kernel, &ctx, blocks};
      next_block_.store(0, std::memory_order_relaxed);
      failed_ = false;
      first_error_.clear();
      active_ = static_cast<uint32_t>(threads_.size());
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return active_ == 0; });
    job_ = Job{};
    if (failed_) *error = first_error_;
    return !failed_;
  }

  void* device_alloc(size_t bytes, std::string* error) noexcept override {
    void* p = std::calloc(1, bytes ? bytes : 1);
    if (!p) *error = "sim chip: out of host memory for " + std::to_string(bytes) + " bytes";
    return p;
  }
  void device_free(void* ptr) noexcept override { std::free(ptr); }
  bool copy_to_device(void* dst, const void* src, size_t bytes, std::string*) noexcept override {
    std::memcpy(dst, src, bytes);
    return true;
  }
  bool copy_from_device(void* dst, const void* src, size_t bytes, std::string*) noexcept override {
    std::memcpy(dst, src, bytes);
    return true;
  }

 private:
  struct Job {
    const KernelImpl* kernel = nullptr;
    const TaskContext* ctx = nullptr;
    uint32_t blocks = 0;
  };

  static TaskContext at_block(const TaskContext& c, uint32_t b) noexcept {
    // TaskContext exposes spans; rebuild it with this block's index.
    return TaskContext(c.tensors(), c.tags(), c.scalars(), c.task_id(), b, c.block_dim(), c.worker_index(),
                       c.part(), c.parts());
  }

  // Runs blocks of the current job until none is left.
  void work() noexcept {
    for (;;) {
      const uint32_t b = next_block_.fetch_add(1, std::memory_order_relaxed);
      if (b >= job_.blocks) return;
      std::string err;
      if (!kernel_invoke(*job_.kernel, at_block(*job_.ctx, b), &err)) {
        std::lock_guard lock(mu_);
        if (!failed_) first_error_ = "block " + std::to_string(b) + ": " + err;
        failed_ = true;
      }
    }
  }

  void helper_loop() noexcept {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      work();
      std::lock_guard lock(mu_);
      if (--active_ == 0) done_cv_.notify_one();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  bool stopping_ = false;
  uint64_t generation_ = 0;
  uint32_t active_ = 0;
  Job job_;
  std::atomic<uint32_t> next_block_{0};
  bool failed_ = false;
  std::string first_error_;
};

std::unique_ptr<ChipBackend> make_sim() { return std::make_unique<SimBackend>(); }
bool sim_available() { return true; }

}  // namespace

STRATA_REGISTER_BACKEND(sim, make_sim, sim_available);

}  // namespace strata::comm
