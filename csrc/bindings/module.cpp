// module.cpp: the pybind11 module chalknet._core. It checks shapes and dtypes, allocates
// outputs while holding the GIL and releases the GIL only around the raw-pointer kernel call.
// Only chalknet/ops.py imports this module.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <sstream>
#include <string>

#include "checks.h"
#include "cpu.h"
#include "gemm.h"
#include "gemm_kernels.h"
#include "team.h"

namespace py = pybind11;
using namespace chalknet;

void bind_conv(py::module_& m);  // bind_conv.cpp
void bind_rnn(py::module_& m);   // bind_rnn.cpp
void bind_activations(py::module_& m);  // bind_activations.cpp
using bind::require_array;
using bind::require_ndim;
using bind::shape_str;

namespace {

// Sizes (m, n, k) of op(a) @ op(b) for 2-D arrays, or a ValueError naming both shapes.
template <typename T>
std::array<int64_t, 3> product_sizes(const py::array_t<T>& a, const py::array_t<T>& b,
                                     bool trans_a, bool trans_b, const char* op) {
  require_ndim(a, 2, op, "a");
  require_ndim(b, 2, op, "b");
  const int64_t m = trans_a ? a.shape(1) : a.shape(0);
  const int64_t k = trans_a ? a.shape(0) : a.shape(1);
  const int64_t kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t n = trans_b ? b.shape(0) : b.shape(1);
  if (k != kb) {
    throw py::value_error(std::string(op) + ": inner dimensions differ: a is " + shape_str(a) +
                          ", b is " + shape_str(b));
  }
  return {m, n, k};
}

// c (m, n) = alpha * op(a) @ op(b) + beta * c, the GIL released around the kernel.  With
// prepacked, b is first packed into a PackedB and gemm_packed computes the product.
template <typename T, bool prepacked = false>
void run_gemm(py::array_t<T>& c, const py::array_t<T>& a, const py::array_t<T>& b, bool trans_a,
              bool trans_b, const std::array<int64_t, 3>& sizes, T alpha, T beta) {
  const auto [m, n, k] = sizes;
  if (m == 0 || n == 0) return;
  T* c_ptr = c.mutable_data();
  const T* a_ptr = a.data();
  const T* b_ptr = b.data();
  const int64_t lda = a.shape(1), ldb = b.shape(1), ldc = n;
  py::gil_scoped_release release;
  if constexpr (prepacked) {
    const PackedB<T> packed(b_ptr, ldb, trans_b, k, n);
    gemm_packed<T>(c_ptr, ldc, a_ptr, lda, trans_a, packed, m, alpha, beta);
  } else {
    gemm<T>(c_ptr, ldc, a_ptr, lda, trans_a, b_ptr, ldb, trans_b, m, n, k, alpha, beta);
  }
}

// gemm(c, a, b, trans_a, trans_b, alpha, beta): c = alpha * op(a) @ op(b) + beta * c in place.
// The prepacked instantiation is the test hook _gemm_prepacked_*: the same through PackedB.
template <typename T, bool prepacked = false>
void gemm_binding(py::handle c_obj, py::handle a_obj, py::handle b_obj, bool trans_a,
                  bool trans_b, double alpha, double beta) {
  const char* op = "ops.matmul";
  auto a = require_array<T>(a_obj, op, "a");
  auto b = require_array<T>(b_obj, op, "b");
  auto c = require_array<T>(c_obj, op, "out");
  require_ndim(c, 2, op, "out");
  bind::require_writeable(c, op, "out");
  const auto sizes = product_sizes(a, b, trans_a, trans_b, op);
  if (c.shape(0) != sizes[0] || c.shape(1) != sizes[1]) {
    std::ostringstream s;
    s << op << ": out must have shape (" << sizes[0] << ", " << sizes[1] << "), got "
      << shape_str(c);
    throw py::value_error(s.str());
  }
  run_gemm<T, prepacked>(c, a, b, trans_a, trans_b, sizes, static_cast<T>(alpha),
                         static_cast<T>(beta));
}

// matmul(a, b, trans_a, trans_b) -> a new (m, n) array op(a) @ op(b): the short path for
// ops.matmul when both inputs are already C-contiguous arrays of dtype T.
template <typename T>
py::array_t<T> matmul_binding(py::handle a_obj, py::handle b_obj, bool trans_a, bool trans_b) {
  const char* op = "ops.matmul";
  auto a = require_array<T>(a_obj, op, "a");
  auto b = require_array<T>(b_obj, op, "b");
  const auto sizes = product_sizes(a, b, trans_a, trans_b, op);
  py::array_t<T> c({sizes[0], sizes[1]});
  run_gemm<T>(c, a, b, trans_a, trans_b, sizes, T(1), T(0));
  return c;
}

// set_isa(name) -> bool: switch gemm's instruction-set path; False (nothing changed) when this
// build or CPU cannot run it.  An unknown name is a ValueError.
bool set_isa(const std::string& name) {
  Isa isa;
  if (!parse_isa(name, &isa)) {
    throw py::value_error("set_isa: expected one of 'generic', 'avx2', 'avx512', got '" + name +
                          "'");
  }
  return set_gemm_isa(isa);
}

// The paths this build and this CPU can run, best last.
py::list available_isas() {
  py::list names;
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512}) {
    if (gemm_isa_available(isa)) names.append(isa_name(isa));
  }
  return names;
}

py::dict build_info() {
  py::dict info;
  info["version"] = CHALKNET_VERSION;
  info["compiler"] = CHALKNET_COMPILER;
  info["openmp"] = have_openmp();
  info["simd"] = isa_name(gemm_isa());
  info["simd_detected"] = isa_name(detect_isa());
  info["threads"] = get_num_threads();
  return info;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "chalknet compiled kernels (use chalknet.ops, not this module)";

  m.def("gemm_f32", &gemm_binding<float>, py::arg("c"), py::arg("a"), py::arg("b"),
        py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        "c = alpha * op(a) @ op(b) + beta * c for C-contiguous float32 arrays, in place.");
  m.def("gemm_f64", &gemm_binding<double>, py::arg("c"), py::arg("a"), py::arg("b"),
        py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        "c = alpha * op(a) @ op(b) + beta * c for C-contiguous float64 arrays, in place.");
  m.def("_gemm_prepacked_f32", &gemm_binding<float, true>, py::arg("c"), py::arg("a"),
        py::arg("b"), py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0, "gemm_f32 through a pre-packed b (a test hook for PackedB).");
  m.def("_gemm_prepacked_f64", &gemm_binding<double, true>, py::arg("c"), py::arg("a"),
        py::arg("b"), py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0, "gemm_f64 through a pre-packed b (a test hook for PackedB).");
  m.def("matmul_f32", &matmul_binding<float>, py::arg("a"), py::arg("b"), py::arg("trans_a"),
        py::arg("trans_b"), "op(a) @ op(b) as a new array, for C-contiguous float32 a and b.");
  m.def("matmul_f64", &matmul_binding<double>, py::arg("a"), py::arg("b"), py::arg("trans_a"),
        py::arg("trans_b"), "op(a) @ op(b) as a new array, for C-contiguous float64 a and b.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("_override_cold_region_ns", &override_cold_region_ns, py::arg("ns"),
        "Test hook: take a region on sleeping threads to cost ns (negative: the default).");
  m.def("_parallel_choices", &parallel_choices,
        "Test hook: how many kernels have chosen a parallel region so far.");
  m.def("build_info", &build_info);
  m.def("set_isa", &set_isa, py::arg("name"),
        "Switch gemm to the named path ('generic', 'avx2', 'avx512'); False when unavailable.");
  m.def("available_isas", &available_isas, "Paths this build and CPU can run, best last.");
  bind_conv(m);
  bind_activations(m);
  bind_rnn(m);
}
