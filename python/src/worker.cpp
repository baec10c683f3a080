// python/src/worker.cpp — the Worker: options, registration, init/run/close, buffers as numpy arrays,
// and Python host callables run in sub processes.
//
// Forks and the interpreter: init() and respawn() keep the GIL while strata forks its children, so in a
// child the forking thread's Python thread state is the current one and the GIL is held. A sub process
// runs each host callable on that thread: before its first Python call it runs the interpreter's
// after-fork hook (PyOS_AfterFork_Child: the GIL, the import lock and the threading module reset, the
// os.register_at_fork(after_in_child=...) callbacks run), as os.fork() would. A child leaves with _exit(),
// so no Python finaliser runs twice. run() releases the GIL while strata waits; the orchestration
// function itself runs with it held.
#include <pybind11/functional.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>

#include "bindings.hpp"

namespace strata::python {

Worker& PyWorker::get() {
  if (!worker) throw UsageError("this Worker is closed");
  if (busy != 0 && busy_thread != std::this_thread::get_id())
    throw UsageError(
        "this Worker is busy in another thread (in run() or close()); a Worker is driven from one thread "
        "at a time");
  return *worker;
}

Orchestrator& PyOrchestrator::get() {
  if (orch == nullptr)
    throw UsageError(
        "this Orchestrator belongs to a run() that has returned; use the one run() passes to the "
        "orchestration function, inside it");
  py_worker().get();  // refuses another thread
  return *orch;
}

namespace {

// The process whose interpreter state is current: a forked child differs until it ran the after-fork hook.
pid_t g_python_pid = 0;

void after_fork_if_needed() {
  if (getpid() == g_python_pid) return;
  PyOS_AfterFork_Child();
  g_python_pid = getpid();
}

/// What a host callable sees: the task's tensors as numpy views and its scalars. Valid during the call.
struct PyTaskContext {
  const TaskContext* ctx = nullptr;
  const TaskContext& get() const {
    if (ctx == nullptr) throw UsageError("a host callable's context is valid only while the callable runs");
    return *ctx;
  }
};

py::array tensor_view(const Tensor& t, const py::handle& base) {
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.begin() + t.ndim);
  return py::array(to_numpy(t.dtype), shape, t.data, base);
}

// A sub process leaves with _exit(), which writes nothing Python buffered: flush after every call so a
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

// Runs `fn(ctx)` in a sub process. A Python exception becomes a HostError carrying its type name and
// message followed by its traceback, so the parent's TaskError says what Python said.
void host_call(const py::object& fn, const TaskContext& ctx) {
  after_fork_if_needed();
  py::gil_scoped_acquire gil;
  py::object pctx = py::cast(PyTaskContext{&ctx});
  try {
    fn(pctx);
    pctx.cast<PyTaskContext&>().ctx = nullptr;
    flush_std_streams();
  } catch (py::error_already_set& e) {
    pctx.cast<PyTaskContext&>().ctx = nullptr;
    flush_std_streams();
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

std::chrono::milliseconds ms(int64_t v) { return std::chrono::milliseconds(v); }

}  // namespace

void bind_worker(py::module_& m) {
  g_python_pid = getpid();

  py::class_<PyTaskContext>(m, "TaskContext", "What a host callable is given: the task's tensors and scalars.")
      .def_property_readonly("task_id", [](const PyTaskContext& c) { return c.get().task_id(); })
      .def_property_readonly("worker_index", [](const PyTaskContext& c) { return c.get().worker_index(); })
      .def_property_readonly("tensor_count", [](const PyTaskContext& c) { return c.get().tensor_count(); })
      .def_property_readonly("scalar_count", [](const PyTaskContext& c) { return c.get().scalar_count(); })
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

  py::class_<Kernel>(m, "Kernel", "A kernel registered with a Worker (runs on chips).").def_readonly("id", &Kernel::id);
  py::class_<HostFn>(m, "HostFn", "A host callable registered with a Worker (runs in a sub process).")
      .def_readonly("id", &HostFn::id);

  py::class_<RawBuffer>(m, "RawBuffer", "Shared host memory owned by a numpy array's base.")
      .def_property_readonly("bytes", &RawBuffer::bytes);

  py::class_<PyWorker>(m, "Worker")
      .def(py::init([](int level, int chips, std::vector<int> device_ids, int sub_workers, bool fail_fast,
                       std::string trace_path, std::vector<int64_t> timeouts, size_t heap_bytes, size_t buffer_bytes,
                       uint32_t task_ring, std::string backend, std::string backend_options, uint32_t chip_threads,
                       bool allow_threads) {
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
             auto w = std::make_unique<PyWorker>();
             w->allow_threads = allow_threads;
             // The Worker is owned by the PyWorker: the hook never outlives it.
             o.on_wait = [pw = w.get()] { pw->on_wait(); };
             w->worker = std::make_unique<Worker>(std::move(o));
             return w;
           }),
           py::arg("level"), py::arg("chips"), py::arg("device_ids"), py::arg("sub_workers"), py::arg("fail_fast"),
           py::arg("trace_path"), py::arg("timeouts"), py::arg("heap_bytes"), py::arg("buffer_bytes"),
           py::arg("task_ring"), py::arg("backend"), py::arg("backend_options"), py::arg("chip_threads"),
           py::arg("allow_threads"))
      .def("register_kernel", [](PyWorker& w, const std::string& name) { return w.get().register_kernel(name); })
      .def("load_kernel", [](PyWorker& w, const std::string& library,
                             const std::string& name) { return w.get().load_kernel(library, name); })
      .def("register_host",
           [](PyWorker& w, py::object fn, std::string name) {
             return w.get().register_host([fn = std::move(fn)](const TaskContext& ctx) { host_call(fn, ctx); },
                                          std::move(name));
           })
      // init() and respawn() fork with the GIL held on purpose (see the file comment), inside a ForkGuard
      // (processes.cpp: OpenBLAS's pool stopped, children ignoring SIGINT); threads are counted after.
      .def("init",
           [](PyWorker& w) {
             Worker& worker = w.get();
             ForkGuard guard;
             check_threads("init()", w.allow_threads);
             worker.init();
           })
      .def("respawn",
           [](PyWorker& w) {
             Worker& worker = w.get();
             ForkGuard guard;
             check_threads("respawn()", w.allow_threads);
             worker.respawn();
           })
      .def("run",
           [](py::object self, const py::object& fn) {
             PyWorker& w = self.cast<PyWorker&>();
             Worker& worker = w.get();
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
           })
      .def("close",
           [](PyWorker& w) {
             if (!w.worker) return;
             {
               Busy busy(w);
               py::gil_scoped_release release;  // close() waits for the children to exit
               w.worker->close();
             }
             w.worker.reset();
           })
      .def_property_readonly("closed", [](const PyWorker& w) { return !w.worker; })
      .def("create_buffer",
           [](PyWorker& w, const std::vector<py::ssize_t>& shape, const py::object& dtype) {
             const py::dtype dt = to_numpy(to_dtype(dtype));
             size_t count = 1;
             for (py::ssize_t d : shape) {
               if (d < 0) throw UsageError("create_buffer: negative dimension");
               count *= static_cast<size_t>(d);
             }
             RawBuffer raw = w.get().create_raw_buffer(count * static_cast<size_t>(dt.itemsize()));
             void* data = raw.data();
             py::object owner = py::cast(std::move(raw));
             return py::array(dt, shape, data, owner);
           })
      .def("live_domains", [](PyWorker& w) { return w.get().live_domains(); })
      .def("status_text", [](PyWorker& w) { return w.get().status().to_string(); })
      .def("status",
           [](PyWorker& w) {
             const WorkerStatus s = w.get().status();
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
           })
      .def_property_readonly("level", [](PyWorker& w) { return w.get().level(); })
      .def_property_readonly("chip_count", [](PyWorker& w) { return w.get().chip_count(); })
      .def_property_readonly("sub_count", [](PyWorker& w) { return w.get().sub_count(); })
      .def_property_readonly("initialized", [](PyWorker& w) { return w.worker && w.worker->initialized(); });
}

}  // namespace strata::python
