// python/src/worker.cpp — the Worker: options (bring-up included), registration, child Workers of a pod,
// init/run/close, buffers as numpy arrays, and the Python callables run in forked children: host callables
// in sub processes, kernels on sim chips, orchestration functions in a pod's child Workers.
//
// Forks and the interpreter: init() and respawn() keep the GIL while strata forks its children, so in a
// child the forking thread's Python thread state is the current one and the GIL is held. Right after
// fork, on that thread, the child runs the interpreter's after-fork hook (PyOS_AfterFork_Child: the GIL,
// the import lock and the threading module reset, the os.register_at_fork(after_in_child=...) callbacks
// run), as os.fork() would, then releases the GIL: a pthread_atfork child handler does it. It acts only
// for strata's forks: those of init() or respawn() on the thread that called them, and those a prepared
// child makes itself (a pod's child Worker forking its own chips and subs, its main thread not holding
// the GIL then). From then on any thread of the child may take the GIL (a sub's main thread, a sim chip's
// block threads, a child Worker running an orchestration function). A child leaves with _exit(), so no
// Python finaliser runs twice. run() releases the GIL while strata waits; the orchestration function
// itself runs with it held.
#include <pthread.h>
#include <pybind11/functional.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "bindings.hpp"

namespace strata::python {

Worker& PyWorker::get() {
  if (child != nullptr) {
    parent.cast<PyWorker&>().get();  // throws once the pod is closed: `child` is gone with it
    return *child;
  }
  if (!worker) throw UsageError("this Worker is closed");
  check_thread();
  return *worker;
}

void PyWorker::check_thread() const {
  if (busy != 0 && busy_thread != std::this_thread::get_id())
    throw UsageError(
        "this Worker is busy in another thread (in run() or close()); a Worker is driven from one thread "
        "at a time");
}

Worker& PyWorker::own(const char* what) {
  Worker& w = get();
  if (child != nullptr)
    throw UsageError(std::string(what) +
                     " on a child Worker: its pod initialises, runs and closes it (call it on the pod)");
  return w;
}

Worker& PyWorker::registrable(const char* what) {
  Worker& w = get();
  const PyWorker& top = root();
  if (&top != this && top.worker->initialized())
    throw UsageError(std::string(what) +
                     " on a child Worker after its pod's init(): the child's process got what was registered by "
                     "fork; register before pod.init()");
  return w;
}

Orchestrator& PyOrchestrator::get() {
  if (orch == nullptr)
    throw UsageError(
        "this Orchestrator belongs to a run() that has returned; use the one run() passes to the "
        "orchestration function, inside it");
  py_worker().check_thread();  // (a child Worker's orchestration call has a bare PyWorker: no get())
  return *orch;
}

namespace {

// ---- Python in the children ----

// The process whose interpreter state is current: a child differs until its after-fork hook ran.
pid_t g_python_pid = 0;
// Set while init() or respawn() forks, on the thread that called them (which holds the GIL).
bool g_forking = false;
pthread_t g_forking_thread{};
// In a child prepared below: its main thread's state, released (that thread forks the child's own children).
PyThreadState* g_released = nullptr;
// Decided before each fork (prepare_fork), read by the child, where fork copied them.
bool g_fork_prepares_python = false;
bool g_fork_holds_gil = false;

/// Arms the after-fork handler for the forks of one init() or respawn() call (GIL held).
struct ForkingChildren {
  ForkingChildren() {
    g_forking_thread = pthread_self();
    g_forking = true;
  }
  ~ForkingChildren() { g_forking = false; }
  ForkingChildren(const ForkingChildren&) = delete;
  ForkingChildren& operator=(const ForkingChildren&) = delete;
};

// pthread_atfork prepare handler: whether this fork is one of strata's that the child must prepare Python
// for. A fork by anything else (os.fork() prepares Python itself; another library's fork) is left alone.
void prepare_fork() noexcept {
  const bool python_here = g_python_pid == getpid();
  const bool init_fork = g_forking && pthread_equal(pthread_self(), g_forking_thread);
  const bool child_fork = g_released != nullptr;  // a prepared child forks only its own children
  g_fork_prepares_python = python_here && (init_fork || child_fork);
  g_fork_holds_gil = g_fork_prepares_python && PyGILState_Check() != 0;
}

// pthread_atfork child handler: in a child of such a fork, on its only thread, before strata's child code
// runs. It leaves the GIL released, so that the threads a sim chip starts later can take it.
void prepare_child_python() noexcept {
  if (!g_fork_prepares_python) return;
  g_fork_prepares_python = false;
  g_forking = false;
  if (!g_fork_holds_gil) PyEval_RestoreThread(g_released);  // the GIL was free: nothing else ran Python
  PyOS_AfterFork_Child();
  g_python_pid = getpid();
  g_released = PyEval_SaveThread();
}

/// Runs `cleanup` when it goes out of scope, however the scope is left.
template <class F>
struct OnExit {
  F cleanup;
  explicit OnExit(F f) : cleanup(std::move(f)) {}
  OnExit(const OnExit&) = delete;
  OnExit& operator=(const OnExit&) = delete;
  ~OnExit() { cleanup(); }
};
template <class F>
OnExit(F) -> OnExit<F>;

/// What a host callable, a kernel block or an orchestration function sees: the task's tensors as numpy
/// views and its scalars. Valid during the call.
struct PyTaskContext {
  const TaskContext* ctx = nullptr;
  const TaskContext& get() const {
    if (ctx == nullptr) throw UsageError("a task's context is valid only while its host callable or kernel block runs");
    return *ctx;
  }
};

py::array tensor_view(const Tensor& t, const py::handle& base) {
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.begin() + t.ndim);
  return py::array(to_numpy(t.dtype), shape, t.data, base);
}

// A child leaves with _exit(), which writes nothing Python buffered: flush after every call so a
// callable's print() reaches the terminal or pipe.
void flush_std_streams() {
  for (const char* name : {"stdout", "stderr"}) {
    try {
      py::object stream = py::module_::import("sys").attr(name);
      if (!stream.is_none()) stream.attr("flush")();
    } catch (const py::error_already_set&) {
      // a closed or replaced stream: nothing to flush
    }
  }
}

// Runs `body` (which calls Python) in a forked child, on any of its threads (a host callable in a sub, a
// kernel block on a chip, an orchestration function in a pod's child Worker): takes the GIL for the call
// and flushes the std streams after it. A Python exception becomes what strata carries up: a
// strata.TaskError (a task of this child's own Worker failed) the TaskError it describes, so its levels
// survive; any other a HostError carrying its type name and its message followed by its traceback, so the
// parent's TaskError says what Python said.
template <class Body>
void call_in_child(const Body& body) {
  if (getpid() != g_python_pid)
    throw std::logic_error("Python is not prepared in this process (it was not forked by Worker.init() or respawn())");
  py::gil_scoped_acquire gil;
  try {
    body();
    flush_std_streams();
  } catch (py::error_already_set& e) {
    flush_std_streams();
    if (is_task_error(e.value())) throw_task_error(e.value());
    std::string type = py::str(e.type().attr("__name__"));
    std::string text = py::str(e.value());
    try {
      py::object tb = py::module_::import("traceback").attr("format_exception")(e.type(), e.value(), e.trace());
      text += "\n" + py::str("").attr("join")(tb).cast<std::string>();
    } catch (const py::error_already_set&) {
      // the message alone, then
    }
    throw HostError(std::move(type), text);
  }
}

// Runs `fn(ctx)`: a host callable in a sub process, or one block of a Python kernel on a chip.
void host_call(const py::handle& fn, const TaskContext& ctx) {
  call_in_child([&] {
    py::object pctx = py::cast(PyTaskContext{&ctx});
    const OnExit done{[&] { pctx.cast<PyTaskContext&>().ctx = nullptr; }};
    fn(pctx);
  });
}

// What the tasks an orchestration function submitted use. Its child Worker's run goes on after the function
// returns (it waits for those tasks), so this is kept until the next orchestration call of the process:
// a Worker's runs do not overlap. Never destroyed (a child leaves with _exit()).
py::object& orch_keep() {
  static auto* keep = new py::object();
  return *keep;
}

// Runs the orchestration function `fn(o, ctx)` in a child Worker's process: `o` submits to that child's
// own chips and subs, `ctx` holds the pod's task arguments. Both are valid during the call only.
void orch_call(const py::object& fn, Orchestrator& o, const TaskContext& ctx) {
  call_in_child([&] {
    orch_keep() = py::cast(std::make_unique<PyWorker>());
    auto handle = std::make_unique<PyOrchestrator>();
    handle->orch = &o;
    handle->worker = orch_keep();
    py::object porch = py::cast(std::move(handle));
    py::object pctx = py::cast(PyTaskContext{&ctx});
    const OnExit done{[&] {
      porch.cast<PyOrchestrator&>().orch = nullptr;
      pctx.cast<PyTaskContext&>().ctx = nullptr;
    }};
    fn(porch, pctx);
  });
}

// The bring-up entries (strata.ChipBringup: rank, window_size, buffers, inputs, outputs), one per chip.
// Inputs are copied; each output array is appended to `outputs`, which the caller keeps alive as long as
// the Worker may store into it.
std::vector<ChipBringup> to_bringup(const py::list& entries, std::vector<py::object>& outputs) {
  std::vector<ChipBringup> out;
  const py::object ascontiguous = py::module_::import("numpy").attr("ascontiguousarray");
  for (size_t chip = 0; chip < entries.size(); ++chip) {
    const py::handle e = entries[chip];
    const std::string where = "bringup[" + std::to_string(chip) + "]";
    ChipBringup b;
    b.rank = e.attr("rank").cast<int>();
    b.window_size = e.attr("window_size").cast<size_t>();
    for (const py::handle spec : e.attr("buffers")) {
      if (!py::isinstance<BufferSpec>(spec))
        throw UsageError(where + ".buffers: expected strata.BufferSpec(name, dtype, count), not " +
                         std::string(py::str(py::repr(spec))));
      b.buffers.push_back(spec.cast<BufferSpec>());
    }
    for (const auto& [key, value] : e.attr("inputs").cast<py::dict>()) {
      const py::array a = ascontiguous(value);
      const auto* p = static_cast<const unsigned char*>(a.data());
      b.inputs[key.cast<std::string>()] = std::vector<unsigned char>(p, p + a.nbytes());
    }
    for (const auto& [key, value] : e.attr("outputs").cast<py::dict>()) {
      const std::string name = key.cast<std::string>();
      const py::buffer_info info = host_bytes(value, true, where + ".outputs['" + name + "']");
      b.outputs[name] =
          std::span<std::byte>(static_cast<std::byte*>(info.ptr), static_cast<size_t>(info.size * info.itemsize));
      outputs.push_back(py::reinterpret_borrow<py::object>(value));
    }
    out.push_back(std::move(b));
  }
  return out;
}

// Python kernels. Worker::register_kernel takes a plain function pointer, so each Python kernel gets one
// of a fixed set of trampolines, each reading the function from its own slot. The parent fills a slot
// before init() forks the chips, which read their copy; a slot is freed when its Worker is closed.
constexpr size_t kPyKernelSlots = 64;
std::array<PyObject*, kPyKernelSlots> g_py_kernels{};

template <size_t I>
void py_kernel_trampoline(const TaskContext& ctx) {
  host_call(g_py_kernels[I], ctx);
}

template <size_t... I>
constexpr std::array<KernelFn, sizeof...(I)> make_trampolines(std::index_sequence<I...>) {
  return {&py_kernel_trampoline<I>...};
}
constexpr std::array<KernelFn, kPyKernelSlots> kTrampolines =
    make_trampolines(std::make_index_sequence<kPyKernelSlots>());

size_t py_kernel_slot_take(const py::object& fn) {
  for (size_t i = 0; i < kPyKernelSlots; ++i)
    if (g_py_kernels[i] == nullptr) {
      g_py_kernels[i] = fn.inc_ref().ptr();
      return i;
    }
  throw UsageError("register_kernel(fn): this process already has " + std::to_string(kPyKernelSlots) +
                   " Python kernels registered with open Workers; close a Worker to free its kernels' places");
}

void py_kernel_slot_free(size_t slot) {
  PyObject* fn = std::exchange(g_py_kernels[slot], nullptr);
  Py_XDECREF(fn);
}

Kernel register_py_kernel(PyWorker& w, const py::object& fn, const std::string& name) {
  Worker& worker = w.registrable("register_kernel");
  if (worker.initialized())
    throw UsageError(
        "register_kernel(fn) after init(): a Python kernel runs in the chip processes, which get it "
        "when init() forks them; register it before init() (a C++ kernel from a library, "
        "register_kernel(name, library=...), may be loaded later)");
  // The slots belong to the top-level Worker (a pod's child handle may be dropped before the pod closes).
  PyWorker& root = w.root();
  for (const auto& [slot, name_registered] : root.py_kernels)
    if (g_py_kernels[slot] == fn.ptr() && name_registered == name)
      return worker.register_kernel(name, kTrampolines[slot]);
  const size_t slot = py_kernel_slot_take(fn);
  try {
    const Kernel k = worker.register_kernel(name, kTrampolines[slot]);
    root.py_kernels.emplace_back(slot, name);
    return k;
  } catch (...) {
    py_kernel_slot_free(slot);
    throw;
  }
}

std::chrono::milliseconds ms(int64_t v) { return std::chrono::milliseconds(v); }

// init() and respawn() fork with the GIL held on purpose (see the file comment), inside a ForkGuard
// (processes.cpp: OpenBLAS's pool stopped, children ignoring SIGINT); threads are counted after.
void fork_children(PyWorker& w, const char* what, void (Worker::*start)()) {
  Worker& worker = w.own(what);
  ForkGuard guard;
  check_threads(what, w.allow_threads);
  ForkingChildren forking;
  (worker.*start)();
}

}  // namespace

PyWorker& PyWorker::root() {
  PyWorker* r = this;
  while (r->child != nullptr) r = &r->parent.cast<PyWorker&>();
  return *r;
}

const PyWorker& PyWorker::root() const { return const_cast<PyWorker*>(this)->root(); }

void PyWorker::close() {
  if (child != nullptr) own("close()");
  release();
}

void PyWorker::release() {
  if (worker) {
    {
      Busy in_use(*this);
      py::gil_scoped_release release;  // close() waits for the children to exit
      worker->close();
    }
    worker.reset();
  }
  // The chips are gone: their Python kernels' places are free again, and no output is stored any more.
  for (const auto& entry : py_kernels) py_kernel_slot_free(entry.first);
  py_kernels.clear();
  bringup_outputs.clear();
}

PyWorker::~PyWorker() {
  try {
    release();
  } catch (...) {
    // close() already tried its best; a destructor cannot report it
  }
}

void bind_worker(py::module_& m) {
  g_python_pid = getpid();
  if (const int rc = pthread_atfork(&prepare_fork, nullptr, &prepare_child_python); rc != 0)
    throw SystemError(std::string("pthread_atfork: ") + std::strerror(rc));

  py::class_<PyTaskContext>(m, "TaskContext",
                            "What a host callable or a kernel block is given: the task's tensors and scalars.")
      .def_property_readonly(
          "task_id", [](const PyTaskContext& c) { return c.get().task_id(); },
          "The task's id (as in the dict submit returned). UsageError after the call.")
      .def_property_readonly(
          "worker_index", [](const PyTaskContext& c) { return c.get().worker_index(); },
          "The index of the child running this call among its kind (chip, sub or child Worker). UsageError after the "
          "call.")
      .def_property_readonly(
          "tensor_count", [](const PyTaskContext& c) { return c.get().tensor_count(); },
          "The number of tensors the task was given. UsageError after the call.")
      .def_property_readonly(
          "scalar_count", [](const PyTaskContext& c) { return c.get().scalar_count(); },
          "The number of scalars the task was given. UsageError after the call.")
      .def_property_readonly(
          "block_idx", [](const PyTaskContext& c) { return c.get().block_idx(); },
          "This call's block, 0..block_dim-1. UsageError after the call.")
      .def_property_readonly(
          "block_dim", [](const PyTaskContext& c) { return c.get().block_dim(); },
          "The number of blocks the kernel runs as (the submit's block_dim). UsageError after the call.")
      .def_property_readonly(
          "part", [](const PyTaskContext& c) { return c.get().part(); },
          "For a group task: this chip's position in the group, 0..parts-1; 0 otherwise. UsageError after the call.")
      .def_property_readonly(
          "parts", [](const PyTaskContext& c) { return c.get().parts(); },
          "For a group task: the number of parts; 1 otherwise. UsageError after the call.")
      .def(
          "tensor",
          [](py::object self, size_t i) { return tensor_view(self.cast<PyTaskContext&>().get().tensor(i), self); },
          py::arg("i"), "The i-th tensor as a numpy view of its memory (valid during the call).")
      .def(
          "scalar",
          [](const PyTaskContext& c, size_t i, const py::object& dtype) {
            const uint64_t bits = c.get().scalar_bits(i);
            const py::dtype dt = to_numpy(to_dtype(dtype));
            py::array one(dt, std::vector<py::ssize_t>{1});
            std::memcpy(one.mutable_data(), &bits, static_cast<size_t>(dt.itemsize()));
            return one.attr("item")(0);
          },
          py::arg("i"), py::arg("dtype") = py::dtype("i8"), "The i-th scalar read as dtype (default int64).");

  py::class_<Kernel>(m, "Kernel", "A kernel registered with a Worker (runs on chips).")
      .def_readonly("id", &Kernel::id, "The kernel's id in its Worker.");
  py::class_<OrchFn>(m, "OrchFn", "An orchestration function registered with a pod (runs in its child Workers).")
      .def_readonly("id", &OrchFn::id, "The orchestration function's id in its pod.");
  py::class_<HostFn>(m, "HostFn", "A host callable registered with a Worker (runs in a sub process).")
      .def_readonly("id", &HostFn::id, "The host callable's id in its Worker.");

  py::class_<RawBuffer>(m, "RawBuffer", "Shared host memory owned by a numpy array's base.")
      .def_property_readonly("bytes", &RawBuffer::bytes, "The size of the memory in bytes.");

  py::class_<PyWorker>(m, "Worker", "The C++ Worker; use strata.Worker, which wraps it.")
      .def(py::init([](int level, int chips, std::vector<int> device_ids, int sub_workers, bool fail_fast,
                       std::string trace_path, std::vector<int64_t> timeouts, size_t heap_bytes, size_t buffer_bytes,
                       uint32_t task_ring, std::string backend, std::string backend_options, uint32_t chip_threads,
                       bool allow_threads, const py::list& bringup, const py::object& parent,
                       const py::object& on_progress) {
             WorkerOptions o;
             o.level = level;
             o.chips = chips;
             o.device_ids = std::move(device_ids);
             o.sub_workers = sub_workers;
             o.fail_fast = fail_fast;
             o.trace_path = std::move(trace_path);
             if (timeouts.size() != 6) throw UsageError("timeouts: 6 values in ms expected");
             o.timeouts = {ms(timeouts[0]), ms(timeouts[1]), ms(timeouts[2]),
                           ms(timeouts[3]), ms(timeouts[4]), ms(timeouts[5])};
             o.memory = {heap_bytes, buffer_bytes, task_ring};
             o.backend = {std::move(backend), std::move(backend_options), chip_threads};
             o.allow_threads = allow_threads;
             std::vector<py::object> outputs;
             o.bringup = to_bringup(bringup, outputs);
             auto w = std::make_unique<PyWorker>();
             if (parent.is_none()) {
               w->allow_threads = allow_threads;
               // The Worker is owned by the PyWorker: the hook never outlives it.
               o.on_wait = [pw = w.get()] { pw->on_wait(); };
               if (!on_progress.is_none()) {
                 w->progress_fn = on_progress;
                 o.on_progress = [pw = w.get()](const RunProgress& p) { pw->on_progress(p); };
               }
               w->worker = std::make_unique<Worker>(std::move(o));
               w->bringup_outputs = std::move(outputs);
               return w;
             }
             // A child Worker: the pod's Worker owns it, and the top-level handle keeps the output arrays.
             if (!on_progress.is_none())
               throw UsageError(
                   "add_worker(on_progress=...): a child Worker's runs are its pod's tasks; pass "
                   "on_progress to the pod");
             PyWorker& p = parent.cast<PyWorker&>();
             w->child = &p.registrable("add_worker").add_worker(std::move(o));
             w->parent = parent;
             for (py::object& a : outputs) p.root().bringup_outputs.push_back(std::move(a));
             return w;
           }),
           py::arg("level"), py::arg("chips"), py::arg("device_ids"), py::arg("sub_workers"), py::arg("fail_fast"),
           py::arg("trace_path"), py::arg("timeouts"), py::arg("heap_bytes"), py::arg("buffer_bytes"),
           py::arg("task_ring"), py::arg("backend"), py::arg("backend_options"), py::arg("chip_threads"),
           py::arg("allow_threads"), py::arg("bringup") = py::list(), py::arg("parent") = py::none(),
           py::arg("on_progress") = py::none())
      .def(
          "register_kernel",
          [](PyWorker& w, const std::string& name) { return w.registrable("register_kernel").register_kernel(name); },
          "A kernel linked into the process by name (before or after init()); UsageError for an unknown name.")
      .def(
          "load_kernel",
          [](PyWorker& w, const std::string& library, const std::string& name) {
            return w.registrable("register_kernel").load_kernel(library, name);
          },
          "A kernel exported with STRATA_KERNEL(name) from the shared library at `library` (every chip loads it).")
      .def("register_py_kernel", &register_py_kernel, py::arg("fn"), py::arg("name"),
           "A Python callable fn(ctx) run once per block in the chip processes; before init() only (UsageError after).")
      .def(
          "register_host",
          [](PyWorker& w, py::object fn, std::string name) {
            return w.registrable("register_host")
                .register_host([fn = std::move(fn)](const TaskContext& ctx) { host_call(fn, ctx); }, std::move(name));
          },
          "A Python callable fn(ctx) run in a sub process; before init() only.")
      .def(
          "register_orch",
          [](PyWorker& w, py::object fn, std::string name) {
            return w.registrable("register_orch")
                .register_orch([fn = std::move(fn)](Orchestrator& o, const TaskContext& ctx) { orch_call(fn, o, ctx); },
                               std::move(name));
          },
          "An orchestration function fn(o, ctx) run in a pod's child Workers (level >= 4, before init()).")
      .def(
          "init", [](PyWorker& w) { fork_children(w, "init()", &Worker::init); },
          "Forks the chips and subs and waits until each is ready; UsageError in a process running other threads.")
      .def(
          "respawn", [](PyWorker& w) { fork_children(w, "respawn()", &Worker::respawn); },
          "Between runs: re-forks every child that died or was declared lost; UsageError inside a run.")
      .def(
          "run",
          [](py::object self, const py::object& fn) {
            PyWorker& w = self.cast<PyWorker&>();
            Worker& worker = w.own("run()");
            Busy busy(w);
            w.interrupt.reset();
            w.cancelled = false;
            auto orch = std::make_unique<PyOrchestrator>();
            orch->worker = self;
            py::object porch = py::cast(std::move(orch));
            auto end = [&] {
              porch.cast<PyOrchestrator&>().orch = nullptr;
              w.run_keep.clear();
            };
            try {
              py::gil_scoped_release release;
              worker.run([&](Orchestrator& o) {
                py::gil_scoped_acquire gil;
                porch.cast<PyOrchestrator&>().orch = &o;
                try {
                  fn(porch);
                } catch (py::error_already_set& e) {
                  // Ctrl-C while the function ran Python code: stop the run too, not just the function.
                  if (!w.cancelled && e.matches(PyExc_KeyboardInterrupt)) {
                    w.cancelled = true;
                    worker.cancel_run("KeyboardInterrupt");
                  }
                  throw;
                }
              });
            } catch (py::error_already_set&) {
              end();
              if (w.interrupt) w.raise_interrupt();  // the function swallowed it, or raised another
              throw;
            } catch (...) {
              end();
              if (w.cancelled) w.raise_interrupt();  // the run's failure is the cancellation's doing
              throw;
            }
            end();
            if (w.cancelled) w.raise_interrupt();  // Ctrl-C during the drain, with nothing left to fail
          },
          "Calls fn(o) with an Orchestrator, then waits for every submitted task; raises TaskError naming the first "
          "failed task, or what fn raised.")
      .def("close", &PyWorker::close,
           "Shuts every child down and frees the Worker's memory; a second call does nothing. UsageError on a pod's "
           "child Worker (its pod closes it).")
      .def_property_readonly(
          "closed", [](const PyWorker& w) { return !w.root().worker; },
          "True once close() has run (for a child Worker: once its pod is closed).")
      .def(
          "create_buffer",
          [](PyWorker& w, const std::vector<py::ssize_t>& shape, const py::object& dtype) {
            const py::dtype dt = to_numpy(to_dtype(dtype));
            size_t count = 1;
            for (py::ssize_t d : shape) {
              if (d < 0) throw UsageError("create_buffer: negative dimension");
              count *= static_cast<size_t>(d);
            }
            RawBuffer raw = w.own("create_buffer").create_raw_buffer(count * static_cast<size_t>(dt.itemsize()));
            void* data = raw.data();
            py::object owner = py::cast(std::move(raw));
            return py::array(dt, shape, data, owner);
          },
          "A C-contiguous numpy array in memory every child shares (zero-copy task argument); its base "
          "owns the memory.")
      .def(
          "live_domains", [](PyWorker& w) { return w.own("live_domains()").live_domains(); },
          "The domains allocated and not released, oldest first, as LiveDomain (the bring-up is not listed).")
      .def(
          "chip_contexts", [](PyWorker& w) { return w.own("chip_contexts()").chip_contexts(); },
          "Per chip, its ChipContext in the bring-up domain; UsageError before init() or without bringup.")
      .def(
          "store_outputs", [](PyWorker& w) { w.own("store_outputs()").store_outputs(); },
          "Between runs: copies every bring-up output buffer into its numpy array (close() does it too).")
      .def(
          "status_text", [](PyWorker& w) { return w.own("status()").status().to_string(); },
          "What status() reports, as readable text (the stall report).")
      .def(
          "status",
          [](PyWorker& w) {
            const WorkerStatus s = w.own("status()").status();
            py::list children;
            for (const ChildStatus& c : s.children) {
              py::dict d;
              d["kind"] = child_kind_name(c.kind);
              d["index"] = c.index;
              d["name"] = c.name;
              d["state"] = c.state;
              d["pid"] = c.pid;
              d["generation"] = c.generation;
              d["running_task"] = c.running_task;
              d["gone"] = c.gone;
              children.append(d);
            }
            py::dict out;
            out["in_run"] = s.in_run;
            out["run"] = s.run;
            out["submitted"] = s.submitted;
            out["finished"] = s.finished;
            out["children"] = children;
            out["unfinished_total"] = s.unfinished_total;
            out["text"] = s.to_string();
            return out;
          },
          "What the Worker is doing now, as a dict: in_run, run, submitted, finished, children (one dict each), "
          "unfinished_total, text.")
      .def_property_readonly(
          "level", [](PyWorker& w) { return w.get().level(); }, "3 for a node; 4, 5 or 6 for a pod.")
      .def_property_readonly(
          "chip_count", [](PyWorker& w) { return w.get().chip_count(); },
          "The number of chips (a node's; 0 for a pod).")
      .def_property_readonly(
          "sub_count", [](PyWorker& w) { return w.get().sub_count(); }, "The number of sub processes.")
      .def_property_readonly(
          "worker_count", [](PyWorker& w) { return w.get().worker_count(); },
          "The number of child Workers (a pod's; 0 for a node).")
      .def_property_readonly(
          "initialized", [](PyWorker& w) { return w.worker && w.worker->initialized(); },
          "True from a successful init() until close() (always False on a pod's child handle).");
}

}  // namespace strata::python
