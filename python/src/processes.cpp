// python/src/processes.cpp — what forking from an interpreter needs: OpenBLAS's thread pool stopped
// around init()/respawn(), the refusal of other threads, and Ctrl-C during run().
//
// OpenBLAS (numpy's BLAS on Debian, and in many wheels) starts a pool of threads when it is loaded, so
// a plain `import numpy` makes the process multi-threaded before strata forks. OpenBLAS itself makes
// fork safe: it registers pthread_atfork(blas_thread_shutdown_, ...), which joins its pool before every
// fork, and restarts the pool lazily at the next threaded call (blas_thread_init). strata does the same
// thing a moment earlier: before init() counts threads, it calls blas_thread_shutdown_ of every OpenBLAS
// copy loaded in the process (its threads are then gone, not merely ignored: what is left to count is
// some other thread), and after the forks it calls blas_thread_init to give the parent its pool back.
// A child starts its own pool at its first threaded BLAS call, as after any fork. The children strata
// forks ignore SIGINT (a pthread_atfork child handler, active only inside init() and respawn()).
//
// Ctrl-C: Python's SIGINT handler only sets a flag, which the interpreter looks at between bytecodes;
// while strata waits in C++ it looks at nothing. The Worker's on_wait hook (called by the progress loop,
// every 50 ms at most, while a run waits) takes the GIL and runs PyErr_CheckSignals(); if a handler
// raised (KeyboardInterrupt), it keeps the exception and calls Worker::cancel_run(), which cancels what
// was not pushed and kills the children that owe work. The waiting call then ends, and the binding
// raises the kept exception instead of whatever strata error the cancelled call gave.
#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bindings.hpp"

namespace strata::python {

namespace {

using BlasFn = int (*)();

struct OpenBlas {
  BlasFn shutdown = nullptr;
  BlasFn init = nullptr;
  const int* running = nullptr;  // blas_server_avail: whether the pool runs (null: not exported)
};

// Names blas_thread_shutdown_ and blas_thread_init have in the builds seen in the wild: plain (Debian,
// conda), with the 64_ suffix (numpy's ILP64 wheels), with the scipy_ prefix (scipy-openblas wheels).
constexpr const char* kShutdownNames[] = {"blas_thread_shutdown_", "blas_thread_shutdown_64_",
                                          "scipy_blas_thread_shutdown_"};
constexpr const char* kInitNames[] = {"blas_thread_init", "blas_thread_init64_", "scipy_blas_thread_init"};
constexpr const char* kRunningNames[] = {"blas_server_avail", "blas_server_avail64_", "scipy_blas_server_avail"};

// Every OpenBLAS copy loaded in the process (numpy's and torch's may differ). A library loaded with
// RTLD_LOCAL (Python's default for extension modules and what they pull in) is not reachable through
// RTLD_DEFAULT: each loaded object is looked at by its own handle.
std::vector<OpenBlas> loaded_openblas() {
  std::vector<std::string> paths;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0')
          static_cast<std::vector<std::string>*>(out)->emplace_back(info->dlpi_name);
        return 0;
      },
      &paths);
  std::vector<OpenBlas> found;
  for (const std::string& path : paths) {
    void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) continue;
    for (size_t i = 0; i < std::size(kShutdownNames); ++i) {
      auto* shutdown = reinterpret_cast<BlasFn>(dlsym(handle, kShutdownNames[i]));
      auto* init = reinterpret_cast<BlasFn>(dlsym(handle, kInitNames[i]));
      if (shutdown == nullptr || init == nullptr) continue;
      // A library that only links OpenBLAS resolves the names to OpenBLAS's own copy: keep each once.
      bool known = false;
      for (const OpenBlas& b : found) known |= b.shutdown == shutdown;
      if (!known) found.push_back(OpenBlas{shutdown, init, static_cast<const int*>(dlsym(handle, kRunningNames[i]))});
      break;
    }
    dlclose(handle);  // the NOLOAD handle only took a reference: the library stays loaded
  }
  return found;
}

int thread_count() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return 1;
  int n = 0;
  while (const dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

// Set while init() or respawn() forks: the children strata forks ignore SIGINT (below).
bool g_strata_forks = false;

void child_ignores_sigint() {
  if (g_strata_forks) signal(SIGINT, SIG_IGN);
}

}  // namespace

ForkGuard::ForkGuard() {
  // A terminal's Ctrl-C reaches every process of the foreground group, the children too. It is the
  // parent's to handle (it cancels the run and kills the children that owe work): a child that took it
  // would fail its task with a KeyboardInterrupt — or, idle, carry it into its next task.
  static const bool registered = pthread_atfork(nullptr, nullptr, &child_ignores_sigint) == 0;
  (void)registered;
  g_strata_forks = true;
  for (const OpenBlas& b : loaded_openblas()) {
    if (b.running != nullptr && *b.running == 0) continue;  // no pool now (OpenBLAS starts it lazily)
    b.shutdown();
    restart_.push_back(b.init);
  }
}

ForkGuard::~ForkGuard() {
  g_strata_forks = false;
  for (BlasFn init : restart_) init();
}

void check_threads(const char* what, bool allow_threads) {
  if (allow_threads) return;
  int threads = thread_count();
  // A thread told to stop a moment ago (OpenBLAS's pool, shut down by the ForkGuard) stays listed until
  // it has finished exiting: count again for up to 100 ms before refusing. Seen under load, once in a
  // few dozen runs of the Python tests.
  for (int i = 0; threads > 1 && i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    threads = thread_count();
  }
  if (threads <= 1) return;
  std::string names;
  try {
    py::object threading = py::module_::import("threading");
    py::object current = threading.attr("current_thread")();
    for (const py::handle t : threading.attr("enumerate")())
      if (!t.is(current)) names += (names.empty() ? "" : ", ") + py::str(t.attr("name")).cast<std::string>();
  } catch (const py::error_already_set&) {
    // the count alone, then
  }
  const int others = threads - 1;
  throw UsageError(std::string(what) + ": this process runs " + std::to_string(others) + " other thread" +
                   (others == 1 ? "" : "s") + (names.empty() ? "" : " (Python threads: " + names + ")") +
                   ", and a forked child can deadlock on a lock one of them held; start them after init(), or "
                   "pass allow_threads=True to strata.Worker if you know they hold no lock the children need "
                   "(OpenBLAS's pool is stopped around the fork by strata and is not counted)");
}

void PyWorker::on_wait() {
  py::gil_scoped_acquire gil;
  // A signal handler that raised (KeyboardInterrupt for SIGINT) stops the run.
  if (!cancelled && PyErr_CheckSignals() != 0) cancel_for(py::error_already_set());
}

void PyWorker::on_progress(const RunProgress& p) {
  py::gil_scoped_acquire gil;
  if (cancelled) return;
  try {
    py::dict d;
    d["run"] = p.run;
    d["submitted"] = p.submitted;
    d["finished"] = p.finished;
    d["elapsed_s"] = p.elapsed_s;
    progress_fn(d);
  } catch (py::error_already_set& e) {
    cancel_for(std::move(e));
  }
}

void PyWorker::cancel_for(py::error_already_set error) {
  interrupt = std::make_unique<py::error_already_set>(std::move(error));
  cancelled = true;
  std::string reason = "interrupted";
  try {
    reason = py::str(interrupt->type().attr("__name__")).cast<std::string>();
  } catch (const py::error_already_set&) {
    // the generic reason
  }
  try {
    if (worker) worker->cancel_run(reason);
  } catch (const std::exception&) {
    // not in a run: nothing to cancel (the hooks are called inside runs only)
  }
}

void PyWorker::raise_interrupt() {
  if (interrupt) {
    py::error_already_set e = *interrupt;
    interrupt.reset();
    throw e;
  }
  PyErr_SetString(PyExc_KeyboardInterrupt, "the run was cancelled");
  throw py::error_already_set();
}

}  // namespace strata::python
