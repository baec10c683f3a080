// comm/sim/sim_backend.cpp — the simulated chip: host memory, kernels as C++ functions run as
// `block_dim` blocks on a small thread pool of the chip process, and windows carved from "device
// memory" that the parent maps (shared, anonymous) before it forks the chips.
//
// Device memory: prepare() reserves chip_count x STRATA_SIM_DEVICE_BYTES of MAP_SHARED|MAP_NORESERVE
// memory in the parent; chip i allocates its windows from slice i. Because the mapping predates the
// fork, a window has the same address in every chip: a descriptor is just (offset, bytes), and import
// is address arithmetic. A chip gives its whole slice back when it starts (a chip respawned in place of
// a dead one finds the old windows gone) and zeroes every window it frees, so a new window reads as zero.
//
// The pool threads are created in the chip process (after fork) by start(). run_kernel hands blocks out
// through an atomic counter; the chip's main thread runs blocks too, then waits for the helpers on a
// condition variable. Only the chip's main thread calls the backend.
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "comm/backend.hpp"
#include "ipc/shm.hpp"
#include "util/buffer_pool.hpp"
#include "util/config.hpp"

namespace strata::comm {
namespace {

struct SimDescriptor {
  uint64_t offset;  // in the device mapping
  uint64_t bytes;
};

struct SimShared final : BackendShared {
  ipc::SharedMapping device;
  size_t per_chip = 0;
  int parent_cpu = -1;  // where the forking thread ran: chips are placed elsewhere first
};

std::unique_ptr<BackendShared> prepare_sim(int chip_count, std::string* error) {
  auto shared = std::make_unique<SimShared>();
  shared->parent_cpu = sched_getcpu();
  shared->per_chip = static_cast<size_t>(config::get_u64("sim_device_bytes")) / 4096 * 4096;
  try {
    shared->device = ipc::SharedMapping(shared->per_chip * static_cast<size_t>(chip_count > 0 ? chip_count : 1));
  } catch (const std::exception& e) {
    *error = std::string("sim: cannot reserve device memory: ") + e.what();
    return nullptr;
  }
  return shared;
}

// Windows up to this size are zeroed with memset when freed; larger ones by giving their pages back.
constexpr size_t kZeroInPlaceBytes = size_t{16} << 20;

class SimBackend final : public ChipBackend {
 public:
  ~SimBackend() override { stop(); }
  const char* name() const noexcept override { return "sim"; }

  bool start(const ChipInfo& info, std::string* error) noexcept override {
    info_ = info;
    shared_ = dynamic_cast<SimShared*>(info.shared);
    if (shared_) {
      const size_t offset = shared_->per_chip * static_cast<size_t>(info.chip_index);
      slice_ = static_cast<char*>(shared_->device.data()) + offset;
      shared_->device.release_pages(offset, shared_->per_chip);
      pool_.emplace(shared_->per_chip, 4096);
    }
    fail_alloc_ = key_value(info.settings, "fail_window_alloc", -1) == info.chip_index;
    crash_alloc_ = key_value(info.settings, "crash_window_alloc", -1) == info.chip_index;
    hang_alloc_ = key_value(info.settings, "hang_window_alloc", -1) == info.chip_index;
    try {
      const uint32_t helpers = info.threads > 1 ? info.threads - 1 : 0;
      for (uint32_t i = 0; i < helpers; ++i) threads_.emplace_back([this] { helper_loop(); });
      if (config::get_u64("sim_pin_chips")) pin_main_thread(info.chip_index, shared_ ? shared_->parent_cpu : -1);
      if (config::get_u64("sim_batch")) {
        // A chip woken while another runs on its CPU waits for that one to block instead of preempting
        // it: with more chips than cores, a chain of short tasks then pays one context switch per hop.
        sched_param none{};
        sched_setscheduler(0, SCHED_BATCH, &none);
      }
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

  bool run_kernel(const KernelImpl& kernel, const TaskContext& ctx, ipc::TaskFailure* failure) noexcept override {
    const uint32_t blocks = ctx.block_dim();
    if (blocks == 1 || threads_.empty()) {
      for (uint32_t b = 0; b < blocks; ++b)
        if (!kernel_invoke(kernel, at_block(ctx, b), failure)) return false;
      return true;
    }
    {
      std::lock_guard lock(mu_);
      job_ = Job{&kernel, &ctx, blocks};
      next_block_.store(0, std::memory_order_relaxed);
      failed_ = false;
      first_failure_ = {};
      active_ = static_cast<uint32_t>(threads_.size());
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return active_ == 0; });
    job_ = Job{};
    if (failed_) *failure = first_failure_;
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

  bool comm_bringup(std::string* error) noexcept override {
    // Every chip already maps every slice (inherited at fork): there is nothing to connect.
    if (!shared_) {
      *error = "sim: no device memory (the Worker did not prepare the backend)";
      return false;
    }
    return true;
  }

  bool window_alloc(size_t bytes, void** local, WindowDescriptor* desc, std::string* error) noexcept override {
    if (crash_alloc_) std::abort();  // fault injection (STRATA_SIM_FAULTS "crash_window_alloc=<chip>")
    while (hang_alloc_) pause();     // fault injection ("hang_window_alloc=<chip>"): never answers
    if (fail_alloc_) {
      *error = "sim: window allocation refused (fault injection)";
      return false;
    }
    if (!shared_) {
      *error = "sim: no device memory";
      return false;
    }
    auto offset = pool_->alloc(bytes);
    if (!offset) {
      *error = "sim: out of device memory: " + std::to_string(bytes) + " bytes asked, " +
               std::to_string(pool_->capacity() - pool_->used()) + " of " + std::to_string(pool_->capacity()) +
               " free (raise STRATA_SIM_DEVICE_BYTES)";
      return false;
    }
    *local = slice_ + *offset;
    const SimDescriptor d{static_cast<uint64_t>(slice_ - static_cast<char*>(shared_->device.data())) + *offset, bytes};
    desc->size = sizeof d;
    std::memcpy(desc->bytes, &d, sizeof d);
    return true;
  }

  bool window_import(const WindowDescriptor& desc, void** addr, std::string* error) noexcept override {
    SimDescriptor d{};
    if (desc.size == sizeof d) std::memcpy(&d, desc.bytes, sizeof d);
    if (!shared_ || desc.size != sizeof d || d.bytes == 0 || d.offset > shared_->device.size() ||
        d.bytes > shared_->device.size() - d.offset) {
      *error = "sim: window descriptor out of range";
      return false;
    }
    *addr = static_cast<char*>(shared_->device.data()) + d.offset;
    return true;
  }

  bool write_context(void* page, const CommContext& ctx, void* table, std::span<const strata_comm_buffer> buffers,
                     std::string*) noexcept override {
    // Device memory is host memory here.
    std::memcpy(page, &ctx, sizeof ctx);
    if (!buffers.empty()) std::memcpy(table, buffers.data(), buffers.size_bytes());
    return true;
  }

  void window_unimport(void*) noexcept override {}

  void window_free(void* local) noexcept override {
    if (!shared_) return;
    const size_t offset = static_cast<size_t>(static_cast<char*>(local) - slice_);
    const size_t bytes = pool_->free(offset);
    // Zero for the next window. Small windows are cleared in place and keep their pages (a fresh page
    // costs a fault on first touch, ~1 ms per MiB); large ones give their pages back, which reads as
    // zero and does not keep gigabytes committed.
    if (bytes <= kZeroInPlaceBytes)
      std::memset(local, 0, bytes);
    else
      shared_->device.release_pages(static_cast<size_t>(slice_ - static_cast<char*>(shared_->device.data())) + offset,
                                    bytes);
  }

 private:
  struct Job {
    const KernelImpl* kernel = nullptr;
    const TaskContext* ctx = nullptr;
    uint32_t blocks = 0;
  };

  static TaskContext at_block(const TaskContext& c, uint32_t b) noexcept {
    // TaskContext exposes spans; rebuild it with this block's index.
    return TaskContext(c.tensors(), c.tags(), c.scalars(), c.task_id(), b, c.block_dim(), c.worker_index(), c.part(),
                       c.parts());
  }

  // Pins the chip's main thread (after the block pool exists, so the pool's threads stay free to move)
  // to one of the CPUs the process may use: chip i to the i-th, counting from the CPU after the one the
  // parent ran on, so the parent's CPU gets a chip last. Left alone, the scheduler sometimes stacks
  // every chip of a collective on one core, which halves its bandwidth; and a chip on the parent's own
  // CPU turns every hand-off between them into a context switch.
  static void pin_main_thread(int chip_index, int parent_cpu) noexcept {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    int cpus[CPU_SETSIZE];
    int n = 0, first = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &allowed)) continue;
      if (cpu == parent_cpu) first = n + 1;
      cpus[n++] = cpu;
    }
    if (n <= 1) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[(first + chip_index) % n], &one);
    sched_setaffinity(0, sizeof one, &one);
  }

  // Runs blocks of the current job until none is left.
  void work() noexcept {
    for (;;) {
      const uint32_t b = next_block_.fetch_add(1, std::memory_order_relaxed);
      if (b >= job_.blocks) return;
      ipc::TaskFailure f;
      if (!kernel_invoke(*job_.kernel, at_block(*job_.ctx, b), &f)) {
        std::lock_guard lock(mu_);
        if (!failed_) {
          f.message = "block " + std::to_string(b) + ": " + f.message;
          first_failure_ = std::move(f);
        }
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

  ChipInfo info_;
  SimShared* shared_ = nullptr;
  char* slice_ = nullptr;
  std::optional<util::BufferPool> pool_;
  bool fail_alloc_ = false;
  bool crash_alloc_ = false;
  bool hang_alloc_ = false;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  bool stopping_ = false;
  uint64_t generation_ = 0;
  uint32_t active_ = 0;
  Job job_;
  std::atomic<uint32_t> next_block_{0};
  bool failed_ = false;
  ipc::TaskFailure first_failure_;
};

std::unique_ptr<ChipBackend> make_sim() { return std::make_unique<SimBackend>(); }
bool sim_available() { return true; }

}  // namespace

// Fault injection for strata's own tests, asked for with STRATA_SIM_FAULTS (not a Worker option): the
// chip with that index fails, crashes in, or never returns from its window allocations.
constexpr BackendOption kSimFaults[] = {
    {"fail_window_alloc", "chip index whose window allocations fail (tests)"},
    {"crash_window_alloc", "chip index that aborts in its window allocation (tests)"},
    {"hang_window_alloc", "chip index whose window allocation never returns (tests)"},
};

// Read when a Worker is built (not from the process's snapshot of the environment), so a test can set
// STRATA_SIM_FAULTS just before; the faults reach the chips as their settings.
bool configure_sim(const std::string& options, std::string* settings, std::string* why) {
  if (!options.empty()) {
    *why = "WorkerOptions::backend.options '" + options + "': the sim backend takes no options";
    return false;
  }
  std::string faults = config::get_string_now("sim_faults");
  if (faults == "none") faults.clear();
  std::string bad;
  if (!validate_key_values(faults, kSimFaults, "fault", &bad)) {
    *why = "STRATA_SIM_FAULTS '" + faults + "': " + bad;
    return false;
  }
  *settings = std::move(faults);
  return true;
}

STRATA_REGISTER_BACKEND(sim, make_sim, sim_available, prepare_sim, configure_sim);

}  // namespace strata::comm
