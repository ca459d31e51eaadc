// module.cpp: the pybind11 module chalknet._core. It checks shapes and dtypes, allocates
// outputs while holding the GIL and releases the GIL only around the raw-pointer kernel call.
// Only chalknet/ops.py imports this module.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <sstream>

#include "checks.h"
#include "cpu.h"
#include "gemm.h"

namespace py = pybind11;
using namespace chalknet;

void bind_conv(py::module_& m);  // bind_conv.cpp
void bind_rnn(py::module_& m);   // bind_rnn.cpp
using bind::require_array;
using bind::require_ndim;
using bind::shape_str;

namespace {

// gemm(c, a, b, trans_a, trans_b, alpha, beta): c = alpha * op(a) @ op(b) + beta * c in place.
template <typename T>
void gemm_binding(py::handle c_obj, py::handle a_obj, py::handle b_obj, bool trans_a,
                  bool trans_b, double alpha, double beta) {
  const char* op = "ops.matmul";
  auto a = require_array<T>(a_obj, op, "a");
  auto b = require_array<T>(b_obj, op, "b");
  auto c = require_array<T>(c_obj, op, "out");
  require_ndim(a, 2, op, "a");
  require_ndim(b, 2, op, "b");
  require_ndim(c, 2, op, "out");
  bind::require_writeable(c, op, "out");
  const int64_t m = trans_a ? a.shape(1) : a.shape(0);
  const int64_t k = trans_a ? a.shape(0) : a.shape(1);
  const int64_t kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t n = trans_b ? b.shape(0) : b.shape(1);
  if (k != kb) {
    throw py::value_error(std::string(op) + ": inner dimensions differ: a is " + shape_str(a) +
                          ", b is " + shape_str(b));
  }
  if (c.shape(0) != m || c.shape(1) != n) {
    std::ostringstream s;
    s << op << ": out must have shape (" << m << ", " << n << "), got " << shape_str(c);
    throw py::value_error(s.str());
  }
  if (m == 0 || n == 0) return;
  T* c_ptr = c.mutable_data();
  const T* a_ptr = a.data();
  const T* b_ptr = b.data();
  const int64_t lda = a.shape(1), ldb = b.shape(1), ldc = n;
  py::gil_scoped_release release;
  gemm<T>(c_ptr, ldc, a_ptr, lda, trans_a, b_ptr, ldb, trans_b, m, n, k, static_cast<T>(alpha),
          static_cast<T>(beta));
}

Isa g_active_isa = Isa::Generic;

py::dict build_info() {
  py::dict info;
  info["version"] = CHALKNET_VERSION;
  info["compiler"] = CHALKNET_COMPILER;
  info["openmp"] = have_openmp();
  info["simd"] = isa_name(g_active_isa);
  info["simd_detected"] = isa_name(detect_isa());
  info["threads"] = get_num_threads();
  return info;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "chalknet compiled kernels (use chalknet.ops, not this module)";
  g_active_isa = detect_isa();

  m.def("gemm_f32", &gemm_binding<float>, py::arg("c"), py::arg("a"), py::arg("b"),
        py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        "c = alpha * op(a) @ op(b) + beta * c for C-contiguous float32 arrays, in place.");
  m.def("gemm_f64", &gemm_binding<double>, py::arg("c"), py::arg("a"), py::arg("b"),
        py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        "c = alpha * op(a) @ op(b) + beta * c for C-contiguous float64 arrays, in place.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("build_info", &build_info);
  bind_conv(m);
  bind_rnn(m);
}
