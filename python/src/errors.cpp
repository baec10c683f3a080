// python/src/errors.cpp — strata's C++ exceptions as Python exception classes.
//
// The hierarchy mirrors include/strata/errors.hpp: Error (a RuntimeError) and its subclasses UsageError
// (also a ValueError), TimeoutError (also the builtin TimeoutError), SystemError, ChildDiedError and
// TaskError, whose attributes carry what the C++ TaskError carries.
#include <pybind11/stl.h>

#include <string>

#include "bindings.hpp"

namespace strata::python {

namespace {

PyObject* new_exception(py::module_& m, const char* name, PyObject* bases, const char* doc) {
  const std::string qualified = std::string("strata.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // the module holds the reference
  return type;
}

PyObject* g_error = nullptr;
PyObject* g_usage = nullptr;
PyObject* g_timeout = nullptr;
PyObject* g_system = nullptr;
PyObject* g_child_died = nullptr;
PyObject* g_task = nullptr;

void raise_task_error(const TaskError& e) {
  py::list chain;
  for (const Frame& f : e.frames()) {
    py::dict d;
    d["level"] = f.level;
    d["task_id"] = f.task_id;
    d["task_name"] = f.task_name;
    d["child_kind"] = child_kind_name(f.child_kind);
    d["child_index"] = f.child_index;
    chain.append(d);
  }
  py::object exc = py::reinterpret_borrow<py::object>(g_task)(e.what());
  exc.attr("task") = py::module_::import("strata").attr("FailedTask")(e.task_id(), e.task_name());
  exc.attr("child_kind") = child_kind_name(e.child_kind());
  exc.attr("child_index") = e.child_index();
  exc.attr("message") = e.message();
  exc.attr("exception_type") = e.error_type();
  exc.attr("chain") = chain;
  PyErr_SetObject(g_task, exc.ptr());
}

ChildKind child_kind_of(const std::string& name) {
  for (ChildKind k : {ChildKind::Chip, ChildKind::Sub, ChildKind::Worker})
    if (name == child_kind_name(k)) return k;
  throw UsageError("TaskError.chain: unknown child_kind '" + name + "'");
}

}  // namespace

bool is_task_error(const py::handle& exc) { return PyObject_IsInstance(exc.ptr(), g_task) == 1; }

void throw_task_error(const py::handle& exc) {
  std::vector<Frame> frames;
  for (const py::handle f : exc.attr("chain")) {
    Frame fr;
    fr.level = f["level"].cast<int>();
    fr.task_id = f["task_id"].cast<uint64_t>();
    fr.task_name = f["task_name"].cast<std::string>();
    fr.child_kind = child_kind_of(f["child_kind"].cast<std::string>());
    fr.child_index = f["child_index"].cast<int>();
    frames.push_back(std::move(fr));
  }
  if (frames.empty()) throw UsageError("a strata.TaskError without a chain");
  throw TaskError(std::move(frames), exc.attr("exception_type").cast<std::string>(),
                  exc.attr("message").cast<std::string>());
}

void bind_errors(py::module_& m) {
  py::tuple base = py::make_tuple(py::handle(PyExc_RuntimeError));
  g_error = new_exception(m, "Error", base.ptr(), "Base of every strata exception.");
  py::tuple usage = py::make_tuple(py::handle(g_error), py::handle(PyExc_ValueError));
  g_usage = new_exception(m, "UsageError", usage.ptr(),
                          "The API was used wrongly; the message says what to change. Nothing was submitted.");
  py::tuple timeout = py::make_tuple(py::handle(g_error), py::handle(PyExc_TimeoutError));
  g_timeout = new_exception(m, "TimeoutError", timeout.ptr(), "A bounded wait ran out; the message names the setting.");
  py::tuple error = py::make_tuple(py::handle(g_error));
  g_system = new_exception(m, "SystemError", error.ptr(), "A system call failed; the message carries strerror(errno).");
  g_child_died = new_exception(m, "ChildDiedError", error.ptr(),
                               "A child process of the Worker died; every call fails until respawn() or close().");
  g_task = new_exception(m, "TaskError", error.ptr(),
                         "run() failed because a task failed. Attributes: task (a FailedTask: the id, with .name), "
                         "child_kind, child_index, message, exception_type (a Python callable's exception type "
                         "name), chain (one dict per level).");

  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
    } catch (const TaskError& e) {
      raise_task_error(e);
    } catch (const UsageError& e) {
      PyErr_SetString(g_usage, e.what());
    } catch (const TimeoutError& e) {
      PyErr_SetString(g_timeout, e.what());
    } catch (const SystemError& e) {
      PyErr_SetString(g_system, e.what());
    } catch (const ChildDiedError& e) {
      PyErr_SetString(g_child_died, e.what());
    } catch (const Error& e) {
      PyErr_SetString(g_error, e.what());
    }
  });
}

}  // namespace strata::python
