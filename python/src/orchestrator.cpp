// python/src/orchestrator.cpp — the Orchestrator handed to the orchestration function, and domains.
//
// Kernels, host callables and domains cross into Python as small handles: a kernel or host callable is
// its id (an int), a domain a PyDomain that keeps its Worker alive. The Python objects whose memory a
// task's arguments describe stay referenced until run() returns, so an array dropped in the
// orchestration function is not freed under a running task.
#include <pybind11/stl.h>

#include <chrono>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "bindings.hpp"

namespace strata::python {

namespace {

CallConfig call_config(uint32_t block_dim, const py::object& timeout) {
  CallConfig cfg;
  cfg.block_dim = block_dim;
  if (!timeout.is_none()) {
    const double seconds = timeout.cast<double>();
    if (seconds < 0) throw UsageError("timeout must be >= 0 seconds");
    cfg.timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0 + 0.5));
  }
  return cfg;
}

// The submit path is the hot one (docs/benchmarks.md, "From Python"): the PyWorker is looked up once per
// run, a TaskArgs submitted again and again is kept alive once, and the returned dict is built with
// interned keys.
PyWorker& worker_of(PyOrchestrator& o) {
  if (o.pyworker == nullptr) o.pyworker = &o.worker.cast<PyWorker&>();
  return *o.pyworker;
}

PyTaskArgs& task_args(const py::handle& obj) {
  if (obj.is_none()) throw UsageError("submit: args is None; pass a strata.TaskArgs()");
  try {
    return obj.cast<PyTaskArgs&>();
  } catch (const py::cast_error&) {
    throw UsageError("submit: args must be a strata.TaskArgs, not " +
                     std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
}

// Keeps the TaskArgs object (and so every array it references) alive until run() returns. The same
// TaskArgs submitted again is alive already: the address cannot be reused while the run holds it.
void keep(PyOrchestrator& o, const py::handle& args) {
  if (args.ptr() == o.last_kept) return;
  worker_of(o).run_keep.push_back(py::reinterpret_borrow<py::object>(args));
  o.last_kept = args.ptr();
}

py::dict task_ref(TaskRef&& r) {
  // Interned once and never released (the interpreter may be gone when static objects are destroyed).
  static const py::handle key_id = PyUnicode_InternFromString("id");
  static const py::handle key_tensors = PyUnicode_InternFromString("tensors");
  py::list tensors(r.tensors.size());
  for (size_t i = 0; i < r.tensors.size(); ++i) tensors[i] = py::cast(r.tensors[i]);
  py::dict d;
  d[key_id] = py::int_(r.id);
  d[key_tensors] = std::move(tensors);
  return d;
}

// One task on one child: a kernel or an orchestration function (submit), or a host callable (submit_host).
// The TaskArgs is copied with the GIL held; the submit, which may wait for back-pressure, runs without it.
template <class Fn>
py::dict submit_one(PyOrchestrator& o, Fn fn, const py::handle& args, int worker, uint32_t block_dim,
                    const py::object& timeout) {
  PyTaskArgs& a = task_args(args);
  const CallConfig cfg = call_config(block_dim, timeout);
  TaskRef r = blocking(o, [&, copy = a.args](Orchestrator& orch) mutable {
    if constexpr (std::is_same_v<Fn, HostFn>)
      return orch.submit_host(fn, std::move(copy), cfg, worker);
    else
      return orch.submit(fn, std::move(copy), cfg, worker);
  });
  keep(o, args);
  return task_ref(std::move(r));
}

const DomainBuffer& checked_buffer(const py::handle& obj, const char* what) {
  if (!py::isinstance<DomainBuffer>(obj))
    throw UsageError(std::string(what) + ": the domain end must be a domain buffer (tp[chip].buffer(name))");
  return obj.cast<const DomainBuffer&>();
}

}  // namespace

py::buffer_info host_bytes(const py::handle& obj, bool writable, const std::string& what) {
  if (!py::isinstance<py::array>(obj)) throw UsageError(what + ": the host end must be a numpy array");
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!(arr.flags() & py::array::c_style)) throw UsageError(what + ": the numpy array must be C-contiguous");
  if (writable && !arr.writeable()) throw UsageError(what + ": the numpy array is read-only");
  return arr.request(writable);
}

void bind_orchestrator(py::module_& m) {
  py::class_<PyDomain>(m, "Domain",
                       "A communication domain; a context manager that releases it on exit. d[chip] is that "
                       "chip's ChipContext.")
      .def_property_readonly(
          "name", [](const PyDomain& d) { return d.domain.name(); }, "The domain's name, unique among live domains.")
      .def_property_readonly(
          "allocation_id", [](const PyDomain& d) { return d.domain.allocation_id(); },
          "Its allocation id: growing per Worker, never reused (failed attempts take one too).")
      .def_property_readonly(
          "workers", [](const PyDomain& d) { return d.domain.workers(); },
          "The member chips: workers[r] is the chip of rank r.")
      .def_property_readonly(
          "size", [](const PyDomain& d) { return d.domain.size(); }, "The number of members.")
      .def_property_readonly(
          "released", [](const PyDomain& d) { return d.domain.released(); }, "True once release() has run.")
      .def(
          "__getitem__", [](const PyDomain& d, int chip) { return d.domain[chip]; }, py::arg("chip"),
          "Member chip `chip`'s ChipContext; UsageError for a non-member or a released domain.")
      .def(
          "release", [](PyDomain& d) { d.domain.release(); },
          "Marks the domain released (idempotent); its memory is freed after the run's drain.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyDomain& d, const py::args&) {
        d.domain.release();
        return false;
      });

  py::class_<Scope>(m, "Scope", "A lifetime scope for heap allocations; a context manager closing it on exit.")
      .def("close", &Scope::close,
           "Closes the scope: its heap memory is reused once every task submitted so far has finished.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](Scope& s, const py::args&) {
        s.close();
        return false;
      });

  py::class_<PyOrchestrator>(m, "Orchestrator", "Builds the graph of one run; valid only inside that run().")
      .def("submit", &submit_one<Kernel>, py::arg("kernel"), py::arg("args"), py::arg("worker") = kAnyWorker,
           py::arg("block_dim") = 1, py::arg("timeout") = py::none(),
           "A kernel task on chip `worker` (-1: the least loaded); timeout in seconds; returns {'id', 'tensors'}.")
      .def("submit", &submit_one<OrchFn>, py::arg("fn"), py::arg("args"), py::arg("worker") = kAnyWorker,
           py::arg("block_dim") = 1, py::arg("timeout") = py::none(),
           "An orchestration function on child Worker `worker` (a pod's run).")
      .def(
          "submit_host", &submit_one<HostFn>, py::arg("fn"), py::arg("args"), py::arg("worker") = kAnyWorker,
          py::arg("block_dim") = 1, py::arg("timeout") = py::none(),
          "A host callable task on sub `worker` (-1: the least loaded); timeout in seconds; returns {'id', 'tensors'}.")
      .def(
          "submit_group",
          [](PyOrchestrator& o, Kernel kernel, const py::sequence& args, std::vector<int> workers, uint32_t block_dim,
             const py::object& timeout) {
            std::vector<TaskArgs> parts;
            for (const py::handle a : args) {
              if (a.is_none()) throw UsageError("submit_group: None among the TaskArgs");
              parts.push_back(task_args(a).args);
            }
            const CallConfig cfg = call_config(block_dim, timeout);
            TaskRef r = blocking(o, [&](Orchestrator& orch) {
              return orch.submit_group(kernel, std::move(parts), cfg, std::move(workers));
            });
            for (const py::handle a : args) keep(o, a);
            return task_ref(std::move(r));
          },
          py::arg("kernel"), py::arg("args"), py::arg("workers"), py::arg("block_dim") = 1,
          py::arg("timeout") = py::none(),
          "One task whose part i runs args[i] on chip workers[i], all parts started together; returns {'id', "
          "'tensors'}.")
      .def(
          "alloc",
          [](PyOrchestrator& o, const std::vector<int64_t>& shape, const py::object& dtype) {
            // Orchestrator::alloc takes an initializer_list: allocate flat, then give the shape.
            int64_t count = 1;
            for (int64_t d : shape) count *= d;
            const DType dt = to_dtype(dtype);
            // It may wait for the heap to free.
            Tensor t = blocking(o, [&](Orchestrator& orch) { return orch.alloc({count}, dt); });
            return Tensor::make(t.data, shape, t.dtype);
          },
          py::arg("shape"), py::arg("dtype"),
          "A Tensor from the run heap, freed when its scope closes and its tasks have finished (may wait for space).")
      .def(
          "scope", [](PyOrchestrator& o) { return o.get().scope(); }, "A nested lifetime scope (a context manager).")
      .def(
          "allocate_domain",
          [](PyOrchestrator& o, std::string name, std::vector<int> workers, size_t window_size,
             std::vector<BufferSpec> buffers) {
            Domain d = blocking(o, [&](Orchestrator& orch) {
              return orch.allocate_domain(
                  DomainSpec{std::move(name), std::move(workers), window_size, std::move(buffers)});
            });
            auto h = std::make_unique<PyDomain>();
            h->domain = std::move(d);
            h->worker = o.worker;
            return h;
          },
          py::arg("name"), py::arg("workers"), py::arg("window_size"), py::arg("buffers") = std::vector<BufferSpec>{},
          "A Domain over the chips `workers` (rank = position), window_size bytes each; UsageError for a bad spec.")
      .def(
          "copy_to",
          [](PyOrchestrator& o, const py::object& dst, const py::object& src) {
            const DomainBuffer& b = checked_buffer(dst, "copy_to");
            const py::buffer_info info = host_bytes(src, false, "copy_to");
            const auto bytes = static_cast<size_t>(info.size * info.itemsize);
            if (bytes != b.nbytes())
              throw UsageError("copy_to: the array has " + std::to_string(bytes) + " bytes, the buffer '" + b.name +
                               "' " + std::to_string(b.nbytes()));
            blocking(o, [&](Orchestrator& orch) { orch.copy_to(b, info.ptr, bytes); });
          },
          py::arg("dst"), py::arg("src"), "Copies a numpy array into a chip's domain buffer (the same byte count).")
      .def(
          "copy_from",
          [](PyOrchestrator& o, const py::object& dst, const py::object& src) {
            const DomainBuffer& b = checked_buffer(src, "copy_from");
            const py::buffer_info info = host_bytes(dst, true, "copy_from");
            const auto bytes = static_cast<size_t>(info.size * info.itemsize);
            if (bytes != b.nbytes())
              throw UsageError("copy_from: the array has " + std::to_string(bytes) + " bytes, the buffer '" + b.name +
                               "' " + std::to_string(b.nbytes()));
            blocking(o, [&](Orchestrator& orch) { orch.copy_from(info.ptr, b, bytes); });
          },
          py::arg("dst"), py::arg("src"), "Copies a chip's domain buffer into a numpy array (the same byte count).")
      .def(
          "allreduce",
          [](PyOrchestrator& o, const PyDomain& d, const std::string& buffer, ReduceOp op, uint32_t block_dim,
             const py::object& timeout) {
            const CallConfig cfg = call_config(block_dim, timeout);
            return task_ref(blocking(o, [&](Orchestrator& orch) { return orch.allreduce(d.domain, buffer, op, cfg); }));
          },
          py::arg("domain"), py::arg("buffer"), py::arg("op") = ReduceOp::Sum, py::arg("block_dim") = 1,
          py::arg("timeout") = py::none(),
          "Reduces `buffer` in place over the members with `op`; returns the task's dict.")
      .def(
          "reduce_scatter",
          [](PyOrchestrator& o, const PyDomain& d, const std::string& send, const std::string& recv, ReduceOp op,
             uint32_t block_dim, const py::object& timeout) {
            const CallConfig cfg = call_config(block_dim, timeout);
            return task_ref(
                blocking(o, [&](Orchestrator& orch) { return orch.reduce_scatter(d.domain, send, recv, op, cfg); }));
          },
          py::arg("domain"), py::arg("send"), py::arg("recv"), py::arg("op") = ReduceOp::Sum, py::arg("block_dim") = 1,
          py::arg("timeout") = py::none(),
          "Reduces `send` over the members with `op`; rank r gets its part at the start of `recv`. Returns the task's "
          "dict.")
      .def(
          "broadcast",
          [](PyOrchestrator& o, const PyDomain& d, const std::string& buffer, int root, uint32_t block_dim,
             const py::object& timeout) {
            const CallConfig cfg = call_config(block_dim, timeout);
            return task_ref(
                blocking(o, [&](Orchestrator& orch) { return orch.broadcast(d.domain, buffer, root, cfg); }));
          },
          py::arg("domain"), py::arg("buffer"), py::arg("root"), py::arg("block_dim") = 1,
          py::arg("timeout") = py::none(),
          "Copies `buffer` of member chip `root` (a chip index) into every other member's; returns the task's dict.")
      .def(
          "allgather",
          [](PyOrchestrator& o, const PyDomain& d, const std::string& buffer, uint32_t block_dim,
             const py::object& timeout) {
            const CallConfig cfg = call_config(block_dim, timeout);
            return task_ref(blocking(o, [&](Orchestrator& orch) { return orch.allgather(d.domain, buffer, cfg); }));
          },
          py::arg("domain"), py::arg("buffer"), py::arg("block_dim") = 1, py::arg("timeout") = py::none(),
          "Part r of rank r's `buffer` goes to every member's `buffer`; returns the task's dict.")
      .def(
          "alltoall",
          [](PyOrchestrator& o, const PyDomain& d, const std::string& send, const std::string& recv, uint32_t block_dim,
             const py::object& timeout) {
            const CallConfig cfg = call_config(block_dim, timeout);
            return task_ref(blocking(o, [&](Orchestrator& orch) { return orch.alltoall(d.domain, send, recv, cfg); }));
          },
          py::arg("domain"), py::arg("send"), py::arg("recv"), py::arg("block_dim") = 1,
          py::arg("timeout") = py::none(),
          "Chunk p of rank r's `send` goes to chunk r of rank p's `recv`; returns the task's dict.")
      .def_property_readonly(
          "chip_count", [](PyOrchestrator& o) { return o.get().chip_count(); }, "The run's Worker's number of chips.")
      .def_property_readonly(
          "sub_count", [](PyOrchestrator& o) { return o.get().sub_count(); },
          "The run's Worker's number of sub processes.");
}

}  // namespace strata::python
