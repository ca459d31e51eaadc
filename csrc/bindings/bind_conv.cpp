// bind_conv.cpp: conv2d and pooling kernels for chalknet._core.
//
// Each function takes NHWC arrays of one float dtype (float32 or float64, chosen by the first
// array; the others must match) plus the geometry already resolved by chalknet/ops.py:
// strides (sh, sw), dilation (dh, dw) and explicit pads (top, bottom, left, right).  It checks
// every shape, derives the output size, allocates the outputs with the GIL held and releases
// the GIL only around the kernel call.  Nothing is converted here: ops.py does that.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <sstream>
#include <string>

#include "checks.h"
#include "conv2d.h"
#include "pool.h"

namespace py = pybind11;
using namespace chalknet;
using bind::require_array;
using bind::require_ndim;
using bind::shape_str;

namespace {

using Pair = std::array<int64_t, 2>;
using Pads = std::array<int64_t, 4>;  // top, bottom, left, right

[[noreturn]] void fail(const std::string& message) { throw py::value_error(message); }

std::string tuple_str(std::initializer_list<int64_t> values) {
  std::ostringstream s;
  s << "(";
  bool first = true;
  for (int64_t v : values) {
    s << (first ? "" : ", ") << v;
    first = false;
  }
  s << ")";
  return s.str();
}

// Run body(T{}) with T the float type of x; anything but float32/float64 is a TypeError.
template <typename Body>
py::object with_float_type(const py::handle& x, const char* op, const char* name, Body body) {
  if (!py::isinstance<py::array>(x)) {
    throw py::type_error(std::string(op) + ": " + name + " must be a numpy array, got " +
                         std::string(py::str(py::type::of(x).attr("__name__"))));
  }
  const auto dtype = py::reinterpret_borrow<py::array>(x).dtype();
  if (dtype.equal(py::dtype::of<float>())) return body(float{});
  if (dtype.equal(py::dtype::of<double>())) return body(double{});
  throw py::type_error(std::string(op) + ": " + name + " must have dtype float32 or float64, got " +
                       std::string(py::str(dtype)));
}

void check_geometry(const char* op, const Pair& strides, const Pair& dilation, const Pads& pads) {
  if (strides[0] < 1 || strides[1] < 1) {
    fail(std::string(op) + ": strides must be >= 1, got " + tuple_str({strides[0], strides[1]}));
  }
  if (dilation[0] < 1 || dilation[1] < 1) {
    fail(std::string(op) + ": dilation must be >= 1, got " + tuple_str({dilation[0], dilation[1]}));
  }
  for (int64_t p : pads) {
    if (p < 0) fail(std::string(op) + ": padding must be >= 0, got " +
                    tuple_str({pads[0], pads[1], pads[2], pads[3]}));
  }
}

// Output length along one axis: (in + pads - dilated window) / stride + 1; an error when < 1.
int64_t out_length(const char* op, const char* axis, int64_t in, int64_t pad_total,
                   int64_t window, int64_t stride, int64_t dilation) {
  const int64_t span = (window - 1) * dilation + 1;
  if (in + pad_total < span) {
    std::ostringstream s;
    s << op << ": input " << axis << " " << in << " (padded " << in + pad_total
      << ") is smaller than the window " << span;
    fail(s.str());
  }
  return (in + pad_total - span) / stride + 1;
}

void require_shape(const py::array& a, std::initializer_list<int64_t> expected, const char* op,
                   const char* name) {
  std::vector<int64_t> want(expected);
  bool same = a.ndim() == static_cast<py::ssize_t>(want.size());
  for (size_t i = 0; same && i < want.size(); ++i) same = a.shape(i) == want[i];
  if (!same) {
    std::ostringstream s;
    s << op << ": " << name << " must have shape " << tuple_str(expected) << ", got "
      << shape_str(a);
    fail(s.str());
  }
}

Conv2dShape conv_shape(const char* op, const std::array<int64_t, 4>& input,
                       const std::array<int64_t, 4>& kernel, const Pair& strides,
                       const Pads& pads, const Pair& dilation) {
  check_geometry(op, strides, dilation, pads);
  for (int64_t d : input) {
    if (d < 0) fail(std::string(op) + ": input shape must be non-negative");
  }
  if (kernel[0] < 1 || kernel[1] < 1 || kernel[3] < 1 || input[3] < 1) {
    fail(std::string(op) + ": kernel " + tuple_str({kernel[0], kernel[1], kernel[2], kernel[3]}) +
         " and input channels must be >= 1");
  }
  if (kernel[2] != input[3]) {
    std::ostringstream s;
    s << op << ": kernel expects " << kernel[2] << " input channels (kernel shape "
      << tuple_str({kernel[0], kernel[1], kernel[2], kernel[3]}) << "), input has " << input[3]
      << " (input shape " << tuple_str({input[0], input[1], input[2], input[3]}) << ")";
    fail(s.str());
  }
  Conv2dShape s{};
  s.batch = input[0], s.in_h = input[1], s.in_w = input[2], s.in_c = input[3];
  s.kernel_h = kernel[0], s.kernel_w = kernel[1], s.filters = kernel[3];
  s.stride_h = strides[0], s.stride_w = strides[1];
  s.dilation_h = dilation[0], s.dilation_w = dilation[1];
  s.pad_top = pads[0], s.pad_left = pads[2];
  s.out_h = out_length(op, "height", s.in_h, pads[0] + pads[1], s.kernel_h, s.stride_h,
                       s.dilation_h);
  s.out_w = out_length(op, "width", s.in_w, pads[2] + pads[3], s.kernel_w, s.stride_w,
                       s.dilation_w);
  return s;
}

std::array<int64_t, 4> dims4(const py::array& a) {
  return {a.shape(0), a.shape(1), a.shape(2), a.shape(3)};
}

template <typename T>
py::array_t<T> new_array(std::initializer_list<int64_t> shape) {
  return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

py::object conv2d_forward_binding(py::handle x_obj, py::handle kernel_obj, py::handle bias_obj,
                                  Pair strides, Pads pads, Pair dilation) {
  const char* op = "ops.conv2d";
  return with_float_type(x_obj, op, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto x = require_array<T>(x_obj, op, "x");
    auto kernel = require_array<T>(kernel_obj, op, "kernel");
    require_ndim(x, 4, op, "x");
    require_ndim(kernel, 4, op, "kernel");
    const Conv2dShape s = conv_shape(op, dims4(x), dims4(kernel), strides, pads, dilation);
    const T* bias_ptr = nullptr;
    py::array_t<T> bias;
    if (!bias_obj.is_none()) {
      bias = require_array<T>(bias_obj, op, "bias");
      require_shape(bias, {s.filters}, op, "bias");
      bias_ptr = bias.data();
    }
    auto y = new_array<T>({s.batch, s.out_h, s.out_w, s.filters});
    T* y_ptr = y.mutable_data();
    const T *x_ptr = x.data(), *k_ptr = kernel.data();
    {
      py::gil_scoped_release release;
      conv2d_forward<T>(y_ptr, x_ptr, k_ptr, bias_ptr, s);
    }
    return std::move(y);
  });
}

py::object conv2d_backward_input_binding(py::handle dy_obj, py::handle kernel_obj,
                                         std::array<int64_t, 4> input_shape, Pair strides,
                                         Pads pads, Pair dilation) {
  const char* op = "ops.conv2d_backward_input";
  return with_float_type(dy_obj, op, "d_output", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto dy = require_array<T>(dy_obj, op, "d_output");
    auto kernel = require_array<T>(kernel_obj, op, "kernel");
    require_ndim(kernel, 4, op, "kernel");
    const Conv2dShape s = conv_shape(op, input_shape, dims4(kernel), strides, pads, dilation);
    require_shape(dy, {s.batch, s.out_h, s.out_w, s.filters}, op, "d_output");
    auto dx = new_array<T>({s.batch, s.in_h, s.in_w, s.in_c});
    T* dx_ptr = dx.mutable_data();
    const T *dy_ptr = dy.data(), *k_ptr = kernel.data();
    {
      py::gil_scoped_release release;
      conv2d_backward_input<T>(dx_ptr, dy_ptr, k_ptr, s);
    }
    return std::move(dx);
  });
}

py::object conv2d_backward_kernel_binding(py::handle dy_obj, py::handle x_obj, Pair kernel_size,
                                          Pair strides, Pads pads, Pair dilation) {
  const char* op = "ops.conv2d_backward_kernel";
  return with_float_type(dy_obj, op, "d_output", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto dy = require_array<T>(dy_obj, op, "d_output");
    auto x = require_array<T>(x_obj, op, "x");
    require_ndim(x, 4, op, "x");
    require_ndim(dy, 4, op, "d_output");
    const std::array<int64_t, 4> kernel_dims{kernel_size[0], kernel_size[1], x.shape(3),
                                             dy.shape(3)};
    const Conv2dShape s = conv_shape(op, dims4(x), kernel_dims, strides, pads, dilation);
    require_shape(dy, {s.batch, s.out_h, s.out_w, s.filters}, op, "d_output");
    auto d_kernel = new_array<T>({s.kernel_h, s.kernel_w, s.in_c, s.filters});
    auto d_bias = new_array<T>({s.filters});
    T *dk_ptr = d_kernel.mutable_data(), *db_ptr = d_bias.mutable_data();
    const T *dy_ptr = dy.data(), *x_ptr = x.data();
    {
      py::gil_scoped_release release;
      conv2d_backward_kernel<T>(dk_ptr, db_ptr, dy_ptr, x_ptr, s);
    }
    return py::make_tuple(d_kernel, d_bias);
  });
}

Pool2dShape pool_shape(const char* op, const std::array<int64_t, 4>& input, Pair pool,
                       Pair strides, Pads pads) {
  check_geometry(op, strides, {1, 1}, pads);
  if (pool[0] < 1 || pool[1] < 1) {
    fail(std::string(op) + ": pool_size must be >= 1, got " + tuple_str({pool[0], pool[1]}));
  }
  for (int64_t d : input) {
    if (d < 0) fail(std::string(op) + ": input shape must be non-negative");
  }
  if (input[1] * input[2] > INT32_MAX) {
    fail(std::string(op) + ": images of more than 2^31 pixels are not supported");
  }
  Pool2dShape s{};
  s.batch = input[0], s.in_h = input[1], s.in_w = input[2], s.channels = input[3];
  s.pool_h = pool[0], s.pool_w = pool[1];
  s.stride_h = strides[0], s.stride_w = strides[1];
  s.pad_top = pads[0], s.pad_left = pads[2];
  s.out_h = out_length(op, "height", s.in_h, pads[0] + pads[1], s.pool_h, s.stride_h, 1);
  s.out_w = out_length(op, "width", s.in_w, pads[2] + pads[3], s.pool_w, s.stride_w, 1);
  // Every window must hold a pixel of the image (the kernels rely on it).
  const bool rows_ok = s.pad_top < s.pool_h && (s.out_h - 1) * s.stride_h - s.pad_top < s.in_h;
  const bool cols_ok = s.pad_left < s.pool_w && (s.out_w - 1) * s.stride_w - s.pad_left < s.in_w;
  if (!rows_ok || !cols_ok) {
    fail(std::string(op) + ": padding " + tuple_str({pads[0], pads[1], pads[2], pads[3]}) +
         " leaves a window outside the image " + tuple_str({s.in_h, s.in_w}));
  }
  return s;
}

// A pooling forward pass's arrays: x (4-D), its pooling geometry, and a new y.
template <typename T>
struct PoolOutput {
  py::array_t<T> x;
  Pool2dShape shape;
  py::array_t<T> y;
};

template <typename T>
PoolOutput<T> pool_output(const char* op, py::handle x_obj, Pair pool, Pair strides, Pads pads) {
  auto x = require_array<T>(x_obj, op, "x");
  require_ndim(x, 4, op, "x");
  const Pool2dShape s = pool_shape(op, dims4(x), pool, strides, pads);
  return {x, s, new_array<T>({s.batch, s.out_h, s.out_w, s.channels})};
}

enum class PoolKind { Max, Average };

py::object pool_forward_binding(PoolKind kind, py::handle x_obj, Pair pool, Pair strides,
                                Pads pads) {
  const char* op = kind == PoolKind::Max ? "ops.max_pool2d" : "ops.avg_pool2d";
  return with_float_type(x_obj, op, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    PoolOutput<T> p = pool_output<T>(op, x_obj, pool, strides, pads);
    T* y_ptr = p.y.mutable_data();
    const T* x_ptr = p.x.data();
    {
      py::gil_scoped_release release;
      if (kind == PoolKind::Max) {
        max_pool2d_forward<T>(y_ptr, x_ptr, p.shape);
      } else {
        avg_pool2d_forward<T>(y_ptr, x_ptr, p.shape);
      }
    }
    return std::move(p.y);
  });
}

// A pooling backward pass's arrays: d_output checked against the pooling geometry of
// input_shape, and a new d_input.
template <typename T>
struct PoolGradient {
  Pool2dShape shape;
  py::array_t<T> d_output, d_input;
};

template <typename T>
PoolGradient<T> pool_gradient(const char* op, py::handle dy_obj,
                              const std::array<int64_t, 4>& input_shape, Pair pool, Pair strides,
                              Pads pads) {
  auto dy = require_array<T>(dy_obj, op, "d_output");
  const Pool2dShape s = pool_shape(op, input_shape, pool, strides, pads);
  require_shape(dy, {s.batch, s.out_h, s.out_w, s.channels}, op, "d_output");
  return {s, dy, new_array<T>({s.batch, s.in_h, s.in_w, s.channels})};
}

py::object max_pool_backward_binding(py::handle dy_obj, py::handle x_obj, Pair pool,
                                     Pair strides, Pads pads) {
  const char* op = "ops.max_pool2d_backward";
  return with_float_type(dy_obj, op, "d_output", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto x = require_array<T>(x_obj, op, "x");
    require_ndim(x, 4, op, "x");
    PoolGradient<T> g = pool_gradient<T>(op, dy_obj, dims4(x), pool, strides, pads);
    T* dx_ptr = g.d_input.mutable_data();
    const T *dy_ptr = g.d_output.data(), *x_ptr = x.data();
    {
      py::gil_scoped_release release;
      max_pool2d_backward<T>(dx_ptr, dy_ptr, x_ptr, g.shape);
    }
    return std::move(g.d_input);
  });
}

py::object max_pool_forward_argmax_binding(py::handle x_obj, Pair pool, Pair strides, Pads pads) {
  const char* op = "ops.max_pool2d_with_argmax";
  return with_float_type(x_obj, op, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    PoolOutput<T> p = pool_output<T>(op, x_obj, pool, strides, pads);
    const Pool2dShape& s = p.shape;
    auto argmax = new_array<int32_t>({s.batch, s.out_h, s.out_w, s.channels});
    T* y_ptr = p.y.mutable_data();
    int32_t* argmax_ptr = argmax.mutable_data();
    const T* x_ptr = p.x.data();
    {
      py::gil_scoped_release release;
      max_pool2d_forward_argmax<T>(y_ptr, argmax_ptr, x_ptr, s);
    }
    return py::make_tuple(p.y, argmax);
  });
}

py::object max_pool_backward_argmax_binding(py::handle dy_obj, py::handle argmax_obj,
                                            std::array<int64_t, 4> input_shape, Pair pool,
                                            Pair strides, Pads pads) {
  const char* op = "ops.max_pool2d_backward_argmax";
  return with_float_type(dy_obj, op, "d_output", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto argmax = require_array<int32_t>(argmax_obj, op, "argmax");
    PoolGradient<T> g = pool_gradient<T>(op, dy_obj, input_shape, pool, strides, pads);
    require_shape(argmax, {g.shape.batch, g.shape.out_h, g.shape.out_w, g.shape.channels}, op,
                  "argmax");
    T* dx_ptr = g.d_input.mutable_data();
    const T* dy_ptr = g.d_output.data();
    const int32_t* argmax_ptr = argmax.data();
    {
      py::gil_scoped_release release;
      max_pool2d_backward_argmax<T>(dx_ptr, dy_ptr, argmax_ptr, g.shape);
    }
    return std::move(g.d_input);
  });
}

py::object avg_pool_backward_binding(py::handle dy_obj, std::array<int64_t, 4> input_shape,
                                     Pair pool, Pair strides, Pads pads) {
  const char* op = "ops.avg_pool2d_backward";
  return with_float_type(dy_obj, op, "d_output", [&](auto tag) -> py::object {
    using T = decltype(tag);
    PoolGradient<T> g = pool_gradient<T>(op, dy_obj, input_shape, pool, strides, pads);
    T* dx_ptr = g.d_input.mutable_data();
    const T* dy_ptr = g.d_output.data();
    {
      py::gil_scoped_release release;
      avg_pool2d_backward<T>(dx_ptr, dy_ptr, g.shape);
    }
    return std::move(g.d_input);
  });
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward_binding, py::arg("x"), py::arg("kernel"),
        py::arg("bias"), py::arg("strides"), py::arg("pads"), py::arg("dilation"),
        "NHWC conv2d; returns y. pads = (top, bottom, left, right).");
  m.def("conv2d_backward_input", &conv2d_backward_input_binding, py::arg("d_output"),
        py::arg("kernel"), py::arg("input_shape"), py::arg("strides"), py::arg("pads"),
        py::arg("dilation"), "Returns d_input of an NHWC conv2d.");
  m.def("conv2d_backward_kernel", &conv2d_backward_kernel_binding, py::arg("d_output"),
        py::arg("x"), py::arg("kernel_size"), py::arg("strides"), py::arg("pads"),
        py::arg("dilation"), "Returns (d_kernel, d_bias) of an NHWC conv2d.");
  m.def(
      "max_pool2d_forward",
      [](py::handle x, Pair pool, Pair strides, Pads pads) {
        return pool_forward_binding(PoolKind::Max, x, pool, strides, pads);
      },
      py::arg("x"), py::arg("pool_size"), py::arg("strides"), py::arg("pads"));
  m.def(
      "avg_pool2d_forward",
      [](py::handle x, Pair pool, Pair strides, Pads pads) {
        return pool_forward_binding(PoolKind::Average, x, pool, strides, pads);
      },
      py::arg("x"), py::arg("pool_size"), py::arg("strides"), py::arg("pads"));
  m.def("max_pool2d_backward", &max_pool_backward_binding, py::arg("d_output"), py::arg("x"),
        py::arg("pool_size"), py::arg("strides"), py::arg("pads"));
  m.def("max_pool2d_forward_argmax", &max_pool_forward_argmax_binding, py::arg("x"),
        py::arg("pool_size"), py::arg("strides"), py::arg("pads"),
        "Returns (y, argmax): argmax int32, the pixel index row * in_w + col of each maximum.");
  m.def("max_pool2d_backward_argmax", &max_pool_backward_argmax_binding, py::arg("d_output"),
        py::arg("argmax"), py::arg("input_shape"), py::arg("pool_size"), py::arg("strides"),
        py::arg("pads"), "Returns d_input of max pooling from the forward pass's argmax.");
  m.def("avg_pool2d_backward", &avg_pool_backward_binding, py::arg("d_output"),
        py::arg("input_shape"), py::arg("pool_size"), py::arg("strides"), py::arg("pads"));
}
