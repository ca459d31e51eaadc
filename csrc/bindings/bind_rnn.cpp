// bind_rnn.cpp: SimpleRNN, LSTM and GRU kernels for chalknet._core.
//
// Each function takes C-contiguous arrays of one float dtype (float32 or float64, chosen by x
// or d_states; the others must match), an optional uint8 mask (B, T) and the activation names.
// It checks every shape against the sizes read from x (B, T, I) and recurrent_kernel (H, G*H),
// allocates the outputs with the GIL held and releases the GIL only around the kernel call.
// Nothing is converted here: chalknet/ops.py does that.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "checks.h"
#include "rnn.h"

namespace py = pybind11;
using namespace chalknet;
using bind::require_array;
using bind::require_ndim;
using bind::shape_str;

namespace {

[[noreturn]] void fail(const std::string& message) { throw py::value_error(message); }

std::string dims_str(const std::vector<int64_t>& dims) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < dims.size(); ++i) s << (i ? ", " : "") << dims[i];
  if (dims.size() == 1) s << ",";
  s << ")";
  return s.str();
}

void require_shape(const py::array& a, const std::vector<int64_t>& want, const char* op,
                   const char* name) {
  bool same = a.ndim() == static_cast<py::ssize_t>(want.size());
  for (size_t i = 0; same && i < want.size(); ++i) same = a.shape(i) == want[i];
  if (!same) {
    fail(std::string(op) + ": " + name + " must have shape " + dims_str(want) + ", got " +
         shape_str(a));
  }
}

// An array of dtype T and the given shape, or a null pointer when obj is None.
template <typename T>
const T* optional_input(py::handle obj, py::array_t<T>& keep, const std::vector<int64_t>& shape,
                        const char* op, const char* name) {
  if (obj.is_none()) return nullptr;
  keep = require_array<T>(obj, op, name);
  require_shape(keep, shape, op, name);
  return keep.data();
}

template <typename T>
const T* input(py::handle obj, py::array_t<T>& keep, const std::vector<int64_t>& shape,
               const char* op, const char* name) {
  keep = require_array<T>(obj, op, name);
  require_shape(keep, shape, op, name);
  return keep.data();
}

const uint8_t* optional_mask(py::handle obj, py::array_t<uint8_t>& keep, const RnnShape& s,
                             const char* op) {
  if (obj.is_none()) return nullptr;
  keep = require_array<uint8_t>(obj, op, "mask");
  require_shape(keep, {s.batch, s.steps}, op, "mask");
  return keep.data();
}

template <typename T>
py::array_t<T> new_array(const std::vector<int64_t>& shape) {
  return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

Activation parse_activation(const std::string& name, const char* op, const char* what) {
  if (name == "tanh") return Activation::Tanh;
  if (name == "relu") return Activation::Relu;
  if (name == "linear") return Activation::Linear;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "hard_sigmoid") return Activation::HardSigmoid;
  fail(std::string(op) + ": " + what +
       " must be 'tanh', 'relu', 'linear', 'sigmoid' or 'hard_sigmoid', got '" + name + "'");
}

// Run body(T{}) with T the float type of `first`; anything but float32/float64 is a TypeError.
template <typename Body>
py::object with_float_type(py::handle first, const char* op, const char* name, Body body) {
  if (!py::isinstance<py::array>(first)) {
    throw py::type_error(std::string(op) + ": " + name + " must be a numpy array, got " +
                         std::string(py::str(py::type::of(first).attr("__name__"))));
  }
  const auto dtype = py::reinterpret_borrow<py::array>(first).dtype();
  if (dtype.is(py::dtype::of<float>())) return body(float{});
  if (dtype.is(py::dtype::of<double>())) return body(double{});
  throw py::type_error(std::string(op) + ": " + name +
                       " must have dtype float32 or float64, got " + std::string(py::str(dtype)));
}

// Sizes from the (B, T, I) input sequence and the recurrent kernel (H, gates*H).
RnnShape rnn_shape(const py::array& sequence, const py::array& recurrent_kernel, int64_t gates,
                   const char* op, const char* seq_name) {
  require_ndim(sequence, 3, op, seq_name);
  require_ndim(recurrent_kernel, 2, op, "recurrent_kernel");
  RnnShape s{};
  s.batch = sequence.shape(0), s.steps = sequence.shape(1), s.input_size = sequence.shape(2);
  s.units = recurrent_kernel.shape(0);
  if (s.batch < 1 || s.steps < 1 || s.input_size < 1) {
    fail(std::string(op) + ": " + seq_name +
         " must have batch, time steps and features >= 1, got " + shape_str(sequence));
  }
  if (s.units < 1 || recurrent_kernel.shape(1) != gates * s.units) {
    std::ostringstream m;
    m << op << ": recurrent_kernel must have shape (units, " << gates
      << " * units) with units >= 1, got " << shape_str(recurrent_kernel);
    fail(m.str());
  }
  return s;
}

// Expected bias shape: (G*H,) for SimpleRNN/LSTM, (2, 3H) for the GRU.
std::vector<int64_t> bias_shape(int64_t gates, const RnnShape& s, bool gru) {
  if (gru) return {2, gates * s.units};
  return {gates * s.units};
}

// ----- forward ------------------------------------------------------------------------------

enum class Cell { SimpleRnn, Lstm, Gru };

int64_t gate_count(Cell cell) { return cell == Cell::Lstm ? 4 : cell == Cell::Gru ? 3 : 1; }

const char* op_name(Cell cell, bool backward) {
  switch (cell) {
    case Cell::SimpleRnn: return backward ? "ops.simple_rnn_backward" : "ops.simple_rnn";
    case Cell::Lstm: return backward ? "ops.lstm_backward" : "ops.lstm";
    case Cell::Gru: return backward ? "ops.gru_backward" : "ops.gru";
  }
  return "ops.rnn";
}

// Returns (states, cache_1, cache_2): SimpleRNN (states, None, None); LSTM (states, cells,
// gates); GRU (states, gates, recurrent_h).
py::object rnn_forward_binding(Cell cell, py::handle x_obj, py::handle h0_obj, py::handle c0_obj,
                               py::handle kernel_obj, py::handle recurrent_obj,
                               py::handle bias_obj, py::handle mask_obj,
                               const std::string& activation_name,
                               const std::string& recurrent_activation_name) {
  const char* op = op_name(cell, false);
  const int64_t G = gate_count(cell);
  const Activation activation = parse_activation(activation_name, op, "activation");
  const Activation recurrent_activation =
      parse_activation(recurrent_activation_name, op, "recurrent_activation");
  return with_float_type(x_obj, op, "x", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto x = require_array<T>(x_obj, op, "x");
    auto recurrent = require_array<T>(recurrent_obj, op, "recurrent_kernel");
    const RnnShape s = rnn_shape(x, recurrent, G, op, "x");
    const int64_t B = s.batch, T_ = s.steps, I = s.input_size, H = s.units;
    py::array_t<T> h0, c0, kernel, bias;
    py::array_t<uint8_t> mask;
    const T* h0_ptr = input<T>(h0_obj, h0, {B, H}, op, "h0");
    const T* c0_ptr = cell == Cell::Lstm ? input<T>(c0_obj, c0, {B, H}, op, "c0") : nullptr;
    const T* kernel_ptr = input<T>(kernel_obj, kernel, {I, G * H}, op, "kernel");
    const T* bias_ptr = optional_input<T>(bias_obj, bias, bias_shape(G, s, cell == Cell::Gru),
                                          op, "bias");
    const uint8_t* mask_ptr = optional_mask(mask_obj, mask, s, op);
    const T* recurrent_ptr = recurrent.data();
    const T* x_ptr = x.data();

    auto states = new_array<T>({B, T_, H});
    T* states_ptr = states.mutable_data();
    if (cell == Cell::SimpleRnn) {
      py::gil_scoped_release release;
      simple_rnn_forward<T>(states_ptr, x_ptr, h0_ptr, kernel_ptr, recurrent_ptr, bias_ptr,
                            mask_ptr, s, activation);
    }
    if (cell == Cell::SimpleRnn) return py::make_tuple(states, py::none(), py::none());
    if (cell == Cell::Lstm) {
      auto cells = new_array<T>({B, T_, H});
      auto gates = new_array<T>({B, T_, G * H});
      T *cells_ptr = cells.mutable_data(), *gates_ptr = gates.mutable_data();
      {
        py::gil_scoped_release release;
        lstm_forward<T>(states_ptr, cells_ptr, gates_ptr, x_ptr, h0_ptr, c0_ptr, kernel_ptr,
                        recurrent_ptr, bias_ptr, mask_ptr, s, activation, recurrent_activation);
      }
      return py::make_tuple(states, cells, gates);
    }
    auto gates = new_array<T>({B, T_, G * H});
    auto recurrent_h = new_array<T>({B, T_, H});
    T *gates_ptr = gates.mutable_data(), *recurrent_h_ptr = recurrent_h.mutable_data();
    {
      py::gil_scoped_release release;
      gru_forward<T>(states_ptr, gates_ptr, recurrent_h_ptr, x_ptr, h0_ptr, kernel_ptr,
                     recurrent_ptr, bias_ptr, mask_ptr, s, activation, recurrent_activation);
    }
    return py::make_tuple(states, gates, recurrent_h);
  });
}

// ----- backward -----------------------------------------------------------------------------

// Returns (d_x, d_h0, d_c0 or None, d_kernel, d_recurrent_kernel, d_bias or None).
// cache_1/cache_2 as returned by the forward binding (None for the SimpleRNN).
py::object rnn_backward_binding(Cell cell, py::handle d_states_obj, py::handle d_final_h_obj,
                                py::handle d_final_c_obj, py::handle x_obj, py::handle h0_obj,
                                py::handle c0_obj, py::handle kernel_obj,
                                py::handle recurrent_obj, bool use_bias, py::handle states_obj,
                                py::handle cache1_obj, py::handle cache2_obj,
                                py::handle mask_obj, const std::string& activation_name,
                                const std::string& recurrent_activation_name) {
  const char* op = op_name(cell, true);
  const int64_t G = gate_count(cell);
  const Activation activation = parse_activation(activation_name, op, "activation");
  const Activation recurrent_activation =
      parse_activation(recurrent_activation_name, op, "recurrent_activation");
  return with_float_type(d_states_obj, op, "d_states", [&](auto tag) -> py::object {
    using T = decltype(tag);
    auto d_states = require_array<T>(d_states_obj, op, "d_states");
    auto x = require_array<T>(x_obj, op, "x");
    auto recurrent = require_array<T>(recurrent_obj, op, "recurrent_kernel");
    const RnnShape s = rnn_shape(x, recurrent, G, op, "x");
    const int64_t B = s.batch, T_ = s.steps, I = s.input_size, H = s.units;
    require_shape(d_states, {B, T_, H}, op, "d_states");
    py::array_t<T> d_final_h, d_final_c, h0, c0, kernel, states, cache1, cache2;
    py::array_t<uint8_t> mask;
    const T* d_final_h_ptr = optional_input<T>(d_final_h_obj, d_final_h, {B, H}, op, "d_h_final");
    const T* h0_ptr = input<T>(h0_obj, h0, {B, H}, op, "h0");
    const T* kernel_ptr = input<T>(kernel_obj, kernel, {I, G * H}, op, "kernel");
    const T* states_ptr = input<T>(states_obj, states, {B, T_, H}, op, "states");
    const uint8_t* mask_ptr = optional_mask(mask_obj, mask, s, op);
    const T *d_final_c_ptr = nullptr, *c0_ptr = nullptr, *cache1_ptr = nullptr,
            *cache2_ptr = nullptr;
    if (cell == Cell::Lstm) {
      d_final_c_ptr = optional_input<T>(d_final_c_obj, d_final_c, {B, H}, op, "d_c_final");
      c0_ptr = input<T>(c0_obj, c0, {B, H}, op, "c0");
      cache1_ptr = input<T>(cache1_obj, cache1, {B, T_, H}, op, "cells");
      cache2_ptr = input<T>(cache2_obj, cache2, {B, T_, G * H}, op, "gates");
    } else if (cell == Cell::Gru) {
      cache1_ptr = input<T>(cache1_obj, cache1, {B, T_, G * H}, op, "gates");
      cache2_ptr = input<T>(cache2_obj, cache2, {B, T_, H}, op, "recurrent_h");
    }
    const T *recurrent_ptr = recurrent.data(), *x_ptr = x.data(), *ds_ptr = d_states.data();

    auto d_x = new_array<T>({B, T_, I});
    auto d_h0 = new_array<T>({B, H});
    auto d_kernel = new_array<T>({I, G * H});
    auto d_recurrent = new_array<T>({H, G * H});
    py::object d_c0_obj = py::none(), d_bias_obj = py::none();
    T* d_c0_ptr = nullptr;
    T* d_bias_ptr = nullptr;
    if (cell == Cell::Lstm) {
      auto d_c0 = new_array<T>({B, H});
      d_c0_ptr = d_c0.mutable_data();
      d_c0_obj = d_c0;
    }
    if (use_bias) {
      auto d_bias = new_array<T>(bias_shape(G, s, cell == Cell::Gru));
      d_bias_ptr = d_bias.mutable_data();
      d_bias_obj = d_bias;
    }
    T *dx_ptr = d_x.mutable_data(), *dh0_ptr = d_h0.mutable_data();
    T *dk_ptr = d_kernel.mutable_data(), *dr_ptr = d_recurrent.mutable_data();
    {
      py::gil_scoped_release release;
      switch (cell) {
        case Cell::SimpleRnn:
          simple_rnn_backward<T>(dx_ptr, dh0_ptr, dk_ptr, dr_ptr, d_bias_ptr, ds_ptr,
                                 d_final_h_ptr, x_ptr, h0_ptr, kernel_ptr, recurrent_ptr,
                                 states_ptr, mask_ptr, s, activation);
          break;
        case Cell::Lstm:
          lstm_backward<T>(dx_ptr, dh0_ptr, d_c0_ptr, dk_ptr, dr_ptr, d_bias_ptr, ds_ptr,
                           d_final_h_ptr, d_final_c_ptr, x_ptr, h0_ptr, c0_ptr, kernel_ptr,
                           recurrent_ptr, states_ptr, cache1_ptr, cache2_ptr, mask_ptr, s,
                           activation, recurrent_activation);
          break;
        case Cell::Gru:
          gru_backward<T>(dx_ptr, dh0_ptr, dk_ptr, dr_ptr, d_bias_ptr, ds_ptr, d_final_h_ptr,
                          x_ptr, h0_ptr, kernel_ptr, recurrent_ptr, states_ptr, cache1_ptr,
                          cache2_ptr, mask_ptr, s, activation, recurrent_activation);
          break;
      }
    }
    return py::make_tuple(d_x, d_h0, d_c0_obj, d_kernel, d_recurrent, d_bias_obj);
  });
}

}  // namespace

void bind_rnn(py::module_& m) {
  const char* forward_doc =
      "Whole-sequence forward; returns (states, cache_1, cache_2): SimpleRNN (states, None, "
      "None), LSTM (states, cells, gates), GRU (states, gates, recurrent_h).";
  const char* backward_doc =
      "Backward through time; returns (d_x, d_h0, d_c0 or None, d_kernel, d_recurrent_kernel, "
      "d_bias or None).";
  for (Cell cell : {Cell::SimpleRnn, Cell::Lstm, Cell::Gru}) {
    const std::string base = cell == Cell::SimpleRnn ? "simple_rnn"
                             : cell == Cell::Lstm    ? "lstm"
                                                     : "gru";
    m.def(
        (base + "_forward").c_str(),
        [cell](py::handle x, py::handle h0, py::handle c0, py::handle kernel,
               py::handle recurrent_kernel, py::handle bias, py::handle mask,
               const std::string& activation, const std::string& recurrent_activation) {
          return rnn_forward_binding(cell, x, h0, c0, kernel, recurrent_kernel, bias, mask,
                                     activation, recurrent_activation);
        },
        py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("bias"), py::arg("mask"), py::arg("activation"),
        py::arg("recurrent_activation"), forward_doc);
    m.def(
        (base + "_backward").c_str(),
        [cell](py::handle d_states, py::handle d_h_final, py::handle d_c_final, py::handle x,
               py::handle h0, py::handle c0, py::handle kernel, py::handle recurrent_kernel,
               bool use_bias, py::handle states, py::handle cache_1, py::handle cache_2,
               py::handle mask, const std::string& activation,
               const std::string& recurrent_activation) {
          return rnn_backward_binding(cell, d_states, d_h_final, d_c_final, x, h0, c0, kernel,
                                      recurrent_kernel, use_bias, states, cache_1, cache_2, mask,
                                      activation, recurrent_activation);
        },
        py::arg("d_states"), py::arg("d_h_final"), py::arg("d_c_final"), py::arg("x"),
        py::arg("h0"), py::arg("c0"), py::arg("kernel"), py::arg("recurrent_kernel"),
        py::arg("use_bias"), py::arg("states"), py::arg("cache_1"), py::arg("cache_2"),
        py::arg("mask"), py::arg("activation"), py::arg("recurrent_activation"), backward_doc);
  }
}
