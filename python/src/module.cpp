// python/src/module.cpp — the `strata._strata` extension module: its init, value types (Tensor, buffers,
// contexts, TaskArgs), dtype conversion and the info report. The exceptions are bound in errors.cpp, the
// Worker in worker.cpp, the Orchestrator and domains in orchestrator.cpp.
#include <pybind11/stl.h>

#include <cstring>
#include <string>

#include "bindings.hpp"
#include "strata/info.hpp"
#include "strata/version.hpp"

namespace strata::python {

DType to_dtype(const py::handle& obj) {
  py::dtype dt;
  if (py::isinstance<py::dtype>(obj)) {  // an array's dtype: the common case, no conversion
    dt = py::reinterpret_borrow<py::dtype>(obj);
  } else if (py::isinstance<DType>(obj)) {
    return obj.cast<DType>();
  } else {
    try {
      dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(obj));
    } catch (const py::error_already_set&) {
      throw UsageError("not a dtype: " + std::string(py::str(py::repr(obj))) +
                       "; pass a numpy dtype (np.float32) or a strata.DType");
    }
  }
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'f' && size == 2) return DType::F16;
  if (kind == 'f' && size == 4) return DType::F32;
  if (kind == 'f' && size == 8) return DType::F64;
  if (kind == 'i' && size == 1) return DType::I8;
  if (kind == 'i' && size == 2) return DType::I16;
  if (kind == 'i' && size == 4) return DType::I32;
  if (kind == 'i' && size == 8) return DType::I64;
  if ((kind == 'u' || kind == 'b') && size == 1) return DType::U8;
  if (kind == 'u' && size == 4) return DType::U32;
  if (kind == 'u' && size == 8) return DType::U64;
  throw UsageError("numpy dtype " + std::string(py::str(dt)) + " has no strata DType (strata takes u8, i8, i16, i32, " +
                   "i64, u32, u64, f16, f32, f64, and bf16 as strata.DType.BF16)");
}

py::dtype to_numpy(DType dt) {
  switch (dt) {
    case DType::U8:
      return py::dtype("u1");
    case DType::I8:
      return py::dtype("i1");
    case DType::I16:
      return py::dtype("i2");
    case DType::I32:
      return py::dtype("i4");
    case DType::I64:
      return py::dtype("i8");
    case DType::U32:
      return py::dtype("u4");
    case DType::U64:
      return py::dtype("u8");
    case DType::F16:
      return py::dtype("f2");
    case DType::F32:
      return py::dtype("f4");
    case DType::F64:
      return py::dtype("f8");
    default:
      break;
  }
  throw UsageError(std::string("numpy has no dtype for strata ") + dtype_name(dt) +
                   "; view the memory as np.uint16 if you need its bits");
}

Tensor to_tensor(const py::handle& obj) {
  const bool is_array = py::isinstance<py::array>(obj);  // the common case first: one cheap check
  if (!is_array && py::isinstance<DomainBuffer>(obj)) return obj.cast<const DomainBuffer&>().tensor();
  if (!is_array && py::isinstance<Tensor>(obj)) return obj.cast<Tensor>();
  if (!is_array)
    throw UsageError(
        "a task argument must be a numpy array in strata memory (Worker.create_buffer), a domain "
        "buffer or a strata.Tensor, not " +
        std::string(py::str(py::type::of(obj).attr("__name__"))));
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!(arr.flags() & py::array::c_style))
    throw UsageError(
        "a numpy array passed to a task must be C-contiguous; pass np.ascontiguousarray(x) copied "
        "into a strata buffer, or the whole buffer");
  std::vector<int64_t> shape(arr.shape(), arr.shape() + arr.ndim());
  return Tensor::make(const_cast<void*>(arr.data()), shape, to_dtype(arr.dtype()));
}

namespace {

py::object add_arg(py::object self, py::object x, Tag tag) {
  auto& a = self.cast<PyTaskArgs&>();
  a.args.add(to_tensor(x), tag);
  a.keep.push_back(std::move(x));
  return self;
}

py::object add_scalar(py::object self, const py::object& value, const py::object& dtype) {
  auto& a = self.cast<PyTaskArgs&>();
  if (dtype.is_none()) {
    // Exactly a Python int or float: the common case, decided without an attribute lookup.
    if (PyLong_CheckExact(value.ptr())) {
      a.args.scalar(value.cast<int64_t>());
      return self;
    }
    if (PyFloat_CheckExact(value.ptr())) {
      a.args.scalar(value.cast<float>());
      return self;
    }
    // A numpy scalar keeps its dtype (np.float64 is also a Python float); bool before int (a bool is an int).
    if (py::hasattr(value, "dtype")) return add_scalar(self, value, value.attr("dtype"));
    if (py::isinstance<py::bool_>(value)) return add_scalar(self, value, py::dtype("u1"));
    if (py::isinstance<py::int_>(value)) {
      a.args.scalar(value.cast<int64_t>());
      return self;
    }
    if (py::isinstance<py::float_>(value)) {
      a.args.scalar(value.cast<float>());
      return self;
    }
    throw UsageError("scalar: cannot tell the type of " + std::string(py::str(py::repr(value))) +
                     "; pass dtype= (np.int64, np.float32, ...)");
  }
  const py::dtype dt = to_numpy(to_dtype(dtype));
  const py::array one = py::array(dt, std::vector<py::ssize_t>{1});
  one.attr("__setitem__")(0, value);
  uint64_t bits = 0;
  std::memcpy(&bits, one.data(), static_cast<size_t>(dt.itemsize()));
  a.args.scalar(bits);
  return self;
}

// pybind11 gives an enum's `name` and `value` properties no docstring: give them one.
void document_enum_properties(const py::object& cls) {
  py::setattr(cls.attr("name"), "__doc__", py::str("The member's name (\"F32\"), a str."));
  py::setattr(cls.attr("value"), "__doc__", py::str("The member's numeric value, an int."));
}

}  // namespace

void bind_types(py::module_& m) {
  const auto dtype_enum =
      py::enum_<DType>(m, "DType", "Element type of a tensor.")
          .value("U8", DType::U8, "Unsigned 8-bit integer (numpy uint8; bool arrays map here too).")
          .value("I8", DType::I8, "Signed 8-bit integer (numpy int8).")
          .value("I16", DType::I16, "Signed 16-bit integer (numpy int16).")
          .value("I32", DType::I32, "Signed 32-bit integer (numpy int32).")
          .value("I64", DType::I64, "Signed 64-bit integer (numpy int64).")
          .value("U32", DType::U32, "Unsigned 32-bit integer (numpy uint32).")
          .value("U64", DType::U64, "Unsigned 64-bit integer (numpy uint64).")
          .value("F16", DType::F16, "IEEE half-precision float (numpy float16).")
          .value("BF16", DType::BF16, "bfloat16 (numpy has no such dtype: view its memory as np.uint16).")
          .value("F32", DType::F32, "32-bit float (numpy float32).")
          .value("F64", DType::F64, "64-bit float (numpy float64).");
  document_enum_properties(dtype_enum);
  const auto reduce_op_enum =
      py::enum_<ReduceOp>(m, "ReduceOp", "How a reducing collective combines the ranks' elements.")
          .value("Sum", ReduceOp::Sum, "The elementwise sum over the ranks.")
          .value("Max", ReduceOp::Max, "The elementwise maximum over the ranks.")
          .value("Min", ReduceOp::Min, "The elementwise minimum over the ranks.")
          .value("Avg", ReduceOp::Avg,
                 "The sum divided by the rank count (integers: the wrapped sum divided with truncation toward zero).");
  document_enum_properties(reduce_op_enum);
  m.def("dtype_size", &dtype_size, "Bytes per element of a strata.DType.");
  m.def("info_text", &info_text,
        "What `strata info` prints: version, chip backends and every tunable (the same text; libstrata builds it).");
  m.def("info_json", &info_json, "What `strata info --json` prints: one JSON object on one line, as a str.");

  py::class_<Tensor>(m, "Tensor", "A view of memory a task reads or writes (from Orchestrator.alloc).")
      .def_property_readonly(
          "data", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data); },
          "The address of the first element, as an int (dependencies are tracked per this address).")
      .def_property_readonly(
          "shape", [](const Tensor& t) { return std::vector<int64_t>(t.shape.begin(), t.shape.begin() + t.ndim); },
          "The dimensions, as a list of ints (empty for a scalar tensor).")
      .def_readonly("dtype", &Tensor::dtype, "The element type, a strata.DType.")
      .def("numel", &Tensor::numel, "The number of elements: the product of the shape (1 for a scalar tensor).")
      .def("nbytes", &Tensor::nbytes, "The size in bytes: numel() times the element size.")
      .def("__repr__", [](const Tensor& t) {
        return "<strata.Tensor " + std::string(dtype_name(t.dtype)) + " x " + std::to_string(t.numel()) + ">";
      });

  py::class_<BufferSpec>(m, "BufferSpec", "A named buffer to carve from every member's window: count elements.")
      .def(py::init([](std::string name, const py::object& dtype, size_t count) {
             return BufferSpec{std::move(name), to_dtype(dtype), count};
           }),
           py::arg("name"), py::arg("dtype"), py::arg("count"))
      .def_readonly("name", &BufferSpec::name, "The buffer's name, unique within its domain.")
      .def_readonly("dtype", &BufferSpec::dtype, "The element type, a strata.DType.")
      .def_readonly("count", &BufferSpec::count, "The number of elements (not bytes).");

  py::class_<DomainBuffer>(m, "DomainBuffer",
                           "One named buffer in one chip's window: a task argument and a copy_to/copy_from end.")
      .def_readonly("name", &DomainBuffer::name, "The buffer's name (from its BufferSpec).")
      .def_readonly("dtype", &DomainBuffer::dtype, "The element type, a strata.DType.")
      .def_readonly("count", &DomainBuffer::count, "The number of elements (not bytes).")
      .def_readonly("chip", &DomainBuffer::chip, "The index of the chip whose window holds it.")
      .def_property_readonly("nbytes", &DomainBuffer::nbytes, "The size in bytes: count times the element size.")
      .def_property_readonly(
          "data", [](const DomainBuffer& b) { return reinterpret_cast<uintptr_t>(b.data); },
          "Its address in the chip's address space, as an int.")
      .def("__repr__", [](const DomainBuffer& b) {
        return "<strata.DomainBuffer '" + b.name + "' " + dtype_name(b.dtype) + " x " + std::to_string(b.count) +
               " on chip " + std::to_string(b.chip) + ">";
      });

  py::class_<ChipContext>(m, "ChipContext", "One chip's view of a domain.")
      .def_readonly("domain", &ChipContext::domain, "The domain's name; \"\" for the bring-up domain.")
      .def_readonly("chip", &ChipContext::chip, "The chip's index in the Worker.")
      .def_readonly("device_id", &ChipContext::device_id, "The chip's device id.")
      .def_readonly("rank", &ChipContext::rank, "This chip's position among the domain's members (0..size-1).")
      .def_readonly("size", &ChipContext::size, "The number of members of the domain.")
      .def_readonly("device_ctx", &ChipContext::device_ctx,
                    "The address of this chip's CommContext in its address space: pass it to a kernel as a scalar.")
      .def_readonly("window_base", &ChipContext::window_base,
                    "The address where this chip's window starts (chip address space).")
      .def_readonly("window_size", &ChipContext::window_size,
                    "The window's bytes usable for buffers (at least the size asked for).")
      .def_readonly("buffers", &ChipContext::buffers, "The named buffers (DomainBuffer), in declaration order.")
      .def("buffer", &ChipContext::buffer, py::arg("name"), py::return_value_policy::copy,
           "The named buffer; UsageError for an unknown name.")
      .def("buffer_ptrs", &ChipContext::buffer_ptrs,
           "A dict: every buffer's name -> its address on this chip (an int).");

  py::class_<LiveDomain>(m, "LiveDomain", "A domain that is live now (Worker.live_domains()).")
      .def_readonly("name", &LiveDomain::name, "The domain's name.")
      .def_readonly("allocation_id", &LiveDomain::allocation_id, "Its allocation id: growing per Worker, never reused.")
      .def_readonly("workers", &LiveDomain::workers, "The member chips: workers[r] is the chip of rank r.")
      .def("__repr__", [](const LiveDomain& d) {
        return "<strata.LiveDomain '" + d.name + "' #" + std::to_string(d.allocation_id) + ">";
      });

  py::class_<PyTaskArgs>(m, "TaskArgs",
                         "Arguments of one task: tagged tensors (numpy arrays in strata memory, domain buffers, "
                         "strata.Tensor) and 64-bit scalars, in the order the callable reads them.")
      .def(py::init<>())
      .def(
          "input", [](py::object self, py::object x) { return add_arg(std::move(self), std::move(x), Tag::Input); },
          "Appends x read by the task (waits for its last writer); returns self.")
      .def(
          "output", [](py::object self, py::object x) { return add_arg(std::move(self), std::move(x), Tag::Output); },
          "Appends x written by the task (waits for its last writer and readers); returns self.")
      .def(
          "inout", [](py::object self, py::object x) { return add_arg(std::move(self), std::move(x), Tag::InOut); },
          "Appends x read and written by the task (waits for its last writer and readers); returns self.")
      .def(
          "output_existing",
          [](py::object self, py::object x) { return add_arg(std::move(self), std::move(x), Tag::OutputExisting); },
          "Appends x written by the task, never allocated by strata (ordered like output); returns self.")
      .def(
          "no_dep", [](py::object self, py::object x) { return add_arg(std::move(self), std::move(x), Tag::NoDep); },
          "Appends x with no dependency tracking (the task waits for nothing on it); returns self.")
      .def("scalar", &add_scalar, py::arg("value"), py::arg("dtype") = py::none(),
           "Appends a scalar: int -> i64 and float -> f32 unless dtype says otherwise.")
      .def_property_readonly(
          "tensor_count", [](const PyTaskArgs& a) { return a.args.tensor_count(); }, "The number of tensors appended.")
      .def_property_readonly(
          "scalar_count", [](const PyTaskArgs& a) { return a.args.scalar_count(); }, "The number of scalars appended.");
}

}  // namespace strata::python

PYBIND11_MODULE(_strata, m) {
  m.doc() = "strata's C++ runtime; use the `strata` package, which re-exports it.";
  m.attr("__version__") = strata::version();
  strata::python::bind_errors(m);
  strata::python::bind_types(m);
  strata::python::bind_worker(m);
  strata::python::bind_orchestrator(m);
}
