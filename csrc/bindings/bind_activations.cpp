// bind_activations.cpp: the bindings of activations.h (elementwise activation kernels).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "activations.h"
#include "checks.h"

namespace py = pybind11;
using chalknet::bind::require_array;
using chalknet::bind::shape_str;

namespace {

// relu_backward(d_output, x) -> d_input: d_output where x > 0, else 0.  Both arrays C-contiguous
// of dtype T and of one shape (ops.relu_backward converts).
template <typename T>
py::array_t<T> relu_backward_binding(py::handle dy_obj, py::handle x_obj) {
  const char* op = "ops.relu_backward";
  auto dy = require_array<T>(dy_obj, op, "d_output");
  auto x = require_array<T>(x_obj, op, "x");
  const std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
  if (std::vector<py::ssize_t>(dy.shape(), dy.shape() + dy.ndim()) != shape) {
    throw py::value_error(std::string(op) + ": d_output must have the shape of x " +
                          shape_str(x) + ", got " + shape_str(dy));
  }
  py::array_t<T> dx(shape);
  T* dx_ptr = dx.mutable_data();
  const T *dy_ptr = dy.data(), *x_ptr = x.data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release release;
    chalknet::relu_backward<T>(dx_ptr, dy_ptr, x_ptr, n);
  }
  return dx;
}

}  // namespace

void bind_activations(py::module_& m) {
  m.def("relu_backward_f32", &relu_backward_binding<float>, py::arg("d_output"), py::arg("x"),
        "d_output where x > 0, else 0, for C-contiguous float32 arrays of one shape.");
  m.def("relu_backward_f64", &relu_backward_binding<double>, py::arg("d_output"), py::arg("x"),
        "d_output where x > 0, else 0, for C-contiguous float64 arrays of one shape.");
}
