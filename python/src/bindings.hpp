// python/src/bindings.hpp — what the files of the `strata._strata` extension module share.
//
// The module binds the public C++ API (include/strata/) with pybind11. Every binding runs on the thread
// that holds the GIL; strata itself starts no thread in this process, and the Worker's children are
// forked by init() and respawn() while the calling thread holds the GIL, so a forked child may call
// Python (see worker.cpp, call_in_child).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
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

/// The Python face of a Worker; owns it. Orchestrators and domains hold a reference to it.
struct PyWorker {
  std::unique_ptr<Worker> worker;
  /// Objects the running run's tasks use (released when run() returns).
  std::vector<py::object> run_keep;
  /// The Python kernels registered on it: (trampoline slot, name) (worker.cpp).
  std::vector<std::pair<size_t, std::string>> py_kernels;
  PyWorker() = default;
  PyWorker(const PyWorker&) = delete;
  PyWorker& operator=(const PyWorker&) = delete;
  ~PyWorker();
  Worker& get();
  /// Closes the Worker (idempotent) and frees its Python kernels' slots. GIL held.
  void close();
};

/// The Orchestrator handed to the orchestration function; invalid once its run() has returned.
struct PyOrchestrator {
  Orchestrator* orch = nullptr;
  py::object worker;  // the PyWorker, kept alive
  Orchestrator& get();
};

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
