// python/src/bindings.hpp — what the files of the `strata._strata` extension module share.
//
// The module binds the public C++ API (include/strata/) with pybind11. Every binding is entered with the
// GIL; the calls that may wait give it up while they do (run(), close(), blocking() Orchestrator calls),
// and a Worker busy in one thread refuses the others (Busy). strata itself starts no thread in this
// process, and the Worker's children are forked by init() and respawn() while the calling thread holds
// the GIL, so a forked child may call Python (see worker.cpp, call_in_child; processes.cpp for threads
// and Ctrl-C).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "strata/worker.hpp"

namespace strata::python {

namespace py = pybind11;

/// A strata DType for a numpy dtype-like object or a strata.DType; UsageError if there is none.
DType to_dtype(const py::handle& obj);
/// The numpy dtype of a strata DType; UsageError for bf16 (numpy has none).
py::dtype to_numpy(DType dt);

/// A tensor describing a numpy array (C-contiguous; UsageError otherwise), a domain buffer or a
/// strata.Tensor. Where the memory is, is not checked here: submit checks it, as in C++.
Tensor to_tensor(const py::handle& obj);

/// TaskArgs plus the Python objects whose memory its tensors describe, kept alive until the run that
/// used them has finished.
struct PyTaskArgs {
  TaskArgs args;
  std::vector<py::object> keep;
};

/// The Python face of a Worker. Orchestrators and domains hold a reference to it.
///
/// A top-level Worker owns its C++ Worker (`worker`). A child Worker of a pod (add_worker) is owned by
/// the pod's C++ Worker: its handle holds only `child` and the pod's handle (`parent`), so the handle
/// never frees it and refuses every call once the pod is closed.
struct PyWorker {
  /// Host arrays the bring-up writes its outputs into, until close(); declared before `worker`, so they
  /// outlive it (its destructor may store the outputs).
  std::vector<py::object> bringup_outputs;
  std::unique_ptr<Worker> worker;
  Worker* child = nullptr;
  py::object parent;
  /// Objects the running run's tasks use (released when run() returns).
  std::vector<py::object> run_keep;
  /// WorkerOptions::allow_threads, for the binding's own check (processes.cpp).
  bool allow_threads = false;
  /// Ctrl-C (processes.cpp): the exception a signal handler raised while a run waited, kept until it is
  /// raised; `cancelled` once the run was cancelled for it (reset by the next run()).
  std::unique_ptr<py::error_already_set> interrupt;
  bool cancelled = false;
  /// The thread inside a call that released the GIL (run(), close()): the C++ Worker is not
  /// thread-safe, so another thread's call is refused while it lasts. Read and written with the GIL.
  std::thread::id busy_thread;
  int busy = 0;
  /// UsageError while the Worker is busy in another thread.
  void check_thread() const;
  /// WorkerOptions::on_wait: looks for a pending signal (Ctrl-C) and cancels the run if a handler raised.
  void on_wait();
  /// strata.Worker(on_progress=fn): fn(progress) with the GIL; if it raises, the run is cancelled and
  /// run() raises what it raised.
  py::object progress_fn;
  /// WorkerOptions::on_progress when progress_fn is set.
  void on_progress(const RunProgress& p);
  /// Keeps the Python exception now set (`error`) to raise from run() and cancels the run for it.
  void cancel_for(py::error_already_set error);
  /// Raises the kept exception (or a KeyboardInterrupt) into Python.
  [[noreturn]] void raise_interrupt();
  /// The Python kernels registered on it: (trampoline slot, name) (worker.cpp).
  std::vector<std::pair<size_t, std::string>> py_kernels;
  PyWorker() = default;
  PyWorker(const PyWorker&) = delete;
  PyWorker& operator=(const PyWorker&) = delete;
  ~PyWorker();
  /// The Worker: UsageError once it (or, for a child, its pod) is closed, or while it is busy in another
  /// thread.
  Worker& get();
  /// get() for what only the Worker that owns its processes does (init, run, close, buffers, ...):
  /// UsageError on a child Worker's handle, naming `what`.
  Worker& own(const char* what);
  /// get() for a registration (kernels, host callables, children): on a child Worker, UsageError once
  /// its pod was initialised (its process got what was registered by fork).
  Worker& registrable(const char* what);
  /// The top-level Worker's handle (this one, or the pod's at the top of its `parent` chain).
  PyWorker& root();
  const PyWorker& root() const;
  /// Closes the Worker (idempotent) and frees its Python kernels' slots; UsageError on a child's handle.
  /// GIL held.
  void close();

 private:
  void release();
};

/// Marks a PyWorker busy in this thread for its lifetime (taken with the GIL held).
class Busy {
 public:
  explicit Busy(PyWorker& w) : w_(w) {
    w_.get();  // refuses a Worker closed or busy elsewhere
    w_.busy_thread = std::this_thread::get_id();
    ++w_.busy;
  }
  ~Busy() { --w_.busy; }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  PyWorker& w_;
};

/// What init() and respawn() fork inside (processes.cpp): the thread pool of every OpenBLAS copy loaded
/// in the process is stopped (as OpenBLAS's own fork handler does) and restarted when it is destroyed,
/// and the children forked meanwhile ignore SIGINT (Ctrl-C is the parent's to handle).
class ForkGuard {
 public:
  ForkGuard();
  ~ForkGuard();
  ForkGuard(const ForkGuard&) = delete;
  ForkGuard& operator=(const ForkGuard&) = delete;

 private:
  std::vector<int (*)()> restart_;  // each paused copy's blas_thread_init
};

/// UsageError naming the other threads of the process (Python's by name), unless allow_threads.
void check_threads(const char* what, bool allow_threads);

/// The Orchestrator handed to the orchestration function; invalid once its run() has returned.
struct PyOrchestrator {
  Orchestrator* orch = nullptr;
  py::object worker;                // the PyWorker, kept alive
  PyWorker* pyworker = nullptr;     // worker's PyWorker, looked up on the first submit (orchestrator.cpp)
  const void* last_kept = nullptr;  // the TaskArgs a submit last kept alive (orchestrator.cpp)
  Orchestrator& get();
  PyWorker& py_worker() { return worker.cast<PyWorker&>(); }
};

/// Calls `f(orch)` — an Orchestrator call that may wait (back-pressure, a domain request, a copy) —
/// without the GIL, so other Python threads run meanwhile. If the run was cancelled by Ctrl-C, before or
/// during the call, the interrupt is raised instead of what the call gave.
template <class F>
decltype(auto) blocking(PyOrchestrator& o, F&& f) {
  Orchestrator& orch = o.get();
  PyWorker& w = o.py_worker();
  if (w.cancelled) w.raise_interrupt();
  try {
    py::gil_scoped_release release;
    return f(orch);
  } catch (...) {
    if (w.cancelled) w.raise_interrupt();
    throw;
  }
}

/// Checks that `obj` is a C-contiguous numpy array (writable if asked) and returns its buffer; UsageError
/// naming `what` otherwise.
py::buffer_info host_bytes(const py::handle& obj, bool writable, const std::string& what);

/// True if `exc` is a strata.TaskError.
bool is_task_error(const py::handle& exc);
/// Throws the C++ TaskError a strata.TaskError describes (its frames, error_type and message), so a
/// failure that crossed Python on its way up keeps its levels.
[[noreturn]] void throw_task_error(const py::handle& exc);

/// A domain handle: a context manager that releases it on exit.
struct PyDomain {
  Domain domain;
  py::object worker;
};

void bind_types(py::module_& m);
void bind_errors(py::module_& m);
void bind_worker(py::module_& m);
void bind_orchestrator(py::module_& m);

}  // namespace strata::python
