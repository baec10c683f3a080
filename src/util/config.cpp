#include "util/config.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "util/log.hpp"

namespace strata::config {
namespace {

constexpr Tunable kTunables[] = {
    {"backend", "STRATA_BACKEND", Type::String, "sim", "chip backend used by Workers that do not name one"},
    {"heap_bytes", "STRATA_HEAP_BYTES", Type::Bytes, "268435456",
     "bytes of the run heap (OUTPUT auto-allocation, Orchestrator::alloc)"},
    {"buffer_bytes", "STRATA_BUFFER_BYTES", Type::Bytes, "4294967296",
     "address space reserved per Worker for create_buffer (committed on first touch)"},
    {"task_ring", "STRATA_TASK_RING", Type::Int, "4096", "task slots in flight before submit waits"},
    {"submit_timeout_ms", "STRATA_SUBMIT_TIMEOUT_MS", Type::Millis, "30000",
     "how long submit waits for a task slot or heap space before failing"},
    {"init_timeout_ms", "STRATA_INIT_TIMEOUT_MS", Type::Millis, "120000",
     "how long init() waits for every child to report ready"},
    {"close_timeout_ms", "STRATA_CLOSE_TIMEOUT_MS", Type::Millis, "5000",
     "how long close() waits for a child to exit before killing it"},
    {"comm_timeout_ms", "STRATA_COMM_TIMEOUT_MS", Type::Millis, "120000",
     "how long a domain allocation, free or copy waits for a chip's answer"},
    {"heartbeat_timeout_ms", "STRATA_HEARTBEAT_TIMEOUT_MS", Type::Millis, "10000",
     "a pod over MPI: a rank (or the root) silent this long is gone"},
    {"chip_threads", "STRATA_CHIP_THREADS", Type::Int, "2", "threads in a sim chip's block pool"},
    {"spin_us", "STRATA_SPIN_US", Type::Int, "50",
     "microseconds a waiter spins (yielding) before it blocks on a futex or poll"},
    {"sim_device_bytes", "STRATA_SIM_DEVICE_BYTES", Type::Bytes, "1073741824",
     "address space of each sim chip's device memory, where its windows live (committed on first touch)"},
    {"sim_pin_chips", "STRATA_SIM_PIN_CHIPS", Type::Int, "0",
     "1: pin each sim chip's main thread to one allowed CPU, starting after the parent's; 0: let the OS place it"},
    {"sim_batch", "STRATA_SIM_BATCH", Type::Int, "1",
     "1: run sim chips under SCHED_BATCH (a woken chip does not preempt a running one), 0: the normal policy"},
    {"sim_faults", "STRATA_SIM_FAULTS", Type::String, "none",
     "testing aid, read when a Worker is built: sim chips whose window allocations fail, crash or hang "
     "(fail_window_alloc=<chip>,crash_window_alloc=<chip>,hang_window_alloc=<chip>)"},
    {"trace", "STRATA_TRACE", Type::String, "off",
     "record every run of every Worker and write a Chrome trace-event JSON file to this path at close ('off': none)"},
    {"trace_events", "STRATA_TRACE_EVENTS", Type::Int, "65536",
     "events kept per trace track (each child, the orchestrator; mapped when the Worker starts); beyond, the "
     "oldest are dropped and counted"},
    {"trace_spill_bytes", "STRATA_TRACE_SPILL_BYTES", Type::Bytes, "67108864",
     "bytes of shared memory per child Worker of a pod for its trace (merged into the pod's one file)"},
    {"stall_warn_ms", "STRATA_STALL_WARN_MS", Type::Millis, "10000",
     "a run with no progress this long logs a stall report (again at doubling intervals)"},
    {"stall_timeout_ms", "STRATA_STALL_TIMEOUT_MS", Type::Millis, "0",
     "a run with no progress this long fails with the stall report; the stuck child is declared lost (0: never)"},
    {"log", "STRATA_LOG", Type::String, "warn", "log level: error, warn, info, debug, trace"},
    {"log_subsys", "STRATA_LOG_SUBSYS", Type::String, "all",
     "comma-separated subsystems to log (sched, mailbox, proc, worker, comm, child) or 'all'"},
};

const Tunable& find(const char* name) {
  for (const Tunable& t : kTunables)
    if (std::strcmp(t.name, name) == 0) return t;
  std::fprintf(stderr, "strata: unknown tunable '%s'\n", name);
  std::abort();
}

// The environment as it was when a tunable was first asked for, for every tunable: read once, so a
// later setenv() cannot change a value half-way through a process (or differ between parent and child).
const std::vector<std::optional<std::string>>& env_snapshot() {
  static const std::vector<std::optional<std::string>> snap = [] {
    std::vector<std::optional<std::string>> out;
    for (const Tunable& t : kTunables) {
      const char* v = std::getenv(t.env);
      out.push_back(v && *v ? std::optional<std::string>(v) : std::nullopt);
    }
    return out;
  }();
  return snap;
}

const std::optional<std::string>& env_of(const Tunable& t) {
  return env_snapshot()[static_cast<size_t>(&t - kTunables)];
}

uint64_t parse_u64(const Tunable& t, const char* text, bool* ok) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 0);
  *ok = errno == 0 && end != text && text[0] != '-';
  if (*ok && t.type == Type::Bytes && *end) {
    switch (*end) {
      case 'k':
      case 'K':
        v <<= 10;
        ++end;
        break;
      case 'm':
      case 'M':
        v <<= 20;
        ++end;
        break;
      case 'g':
      case 'G':
        v <<= 30;
        ++end;
        break;
      default:
        break;
    }
  }
  *ok = *ok && *end == '\0';
  return v;
}

}  // namespace

std::span<const Tunable> all() { return kTunables; }

uint64_t get_u64(const char* name) {
  const Tunable& t = find(name);
  bool ok = false;
  if (const auto& env = env_of(t)) {
    uint64_t v = parse_u64(t, env->c_str(), &ok);
    if (ok) return v;
    STRATA_LOG_WARN("config", "ignoring %s=%s: not a number; using the default %s", t.env, env->c_str(), t.fallback);
  }
  return parse_u64(t, t.fallback, &ok);
}

std::string get_string(const char* name) {
  const Tunable& t = find(name);
  if (const auto& env = env_of(t)) return *env;
  return t.fallback;
}

std::string get_string_now(const char* name) {
  const Tunable& t = find(name);
  const char* v = std::getenv(t.env);
  return v && *v ? std::string(v) : std::string(t.fallback);
}

std::string effective(const Tunable& t) {
  return t.type == Type::String ? get_string(t.name) : std::to_string(get_u64(t.name));
}

}  // namespace strata::config
