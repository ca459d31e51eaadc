// checks.h: argument checks shared by the bindings. Every check runs while the GIL is held and
// throws a Python ValueError/TypeError naming the op, what it expected and what it received.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <sstream>
#include <string>

namespace chalknet::bind {

namespace py = pybind11;

inline std::string shape_str(const py::array& x) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < x.ndim(); ++i) s << (i ? ", " : "") << x.shape(i);
  if (x.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

// A C-contiguous, writeable-or-not array of exactly dtype T; anything else is a TypeError.
template <typename T>
py::array_t<T> require_array(const py::handle& obj, const char* op, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(op) + ": " + name + " must be a numpy array, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!arr.dtype().equal(py::dtype::of<T>())) {
    throw py::type_error(std::string(op) + ": " + name + " must have dtype " +
                         std::string(py::str(py::dtype::of<T>())) + ", got " +
                         std::string(py::str(arr.dtype())));
  }
  if (!(arr.flags() & py::array::c_style)) {
    throw py::value_error(std::string(op) + ": " + name + " must be C-contiguous");
  }
  return py::reinterpret_borrow<py::array_t<T>>(arr);
}

inline void require_ndim(const py::array& x, py::ssize_t ndim, const char* op, const char* name) {
  if (x.ndim() != ndim) {
    std::ostringstream s;
    s << op << ": " << name << " must be " << ndim << "-D, got shape " << shape_str(x);
    throw py::value_error(s.str());
  }
}

inline void require_writeable(const py::array& x, const char* op, const char* name) {
  if (!x.writeable()) throw py::value_error(std::string(op) + ": " + name + " is read-only");
}

}  // namespace chalknet::bind
