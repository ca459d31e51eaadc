// rnn.h: whole-sequence forward and backward-through-time for SimpleRNN, LSTM and GRU, with
// Keras's weight layouts and gate orders.
//
// Sizes: B = batch, T = time steps, I = input features, H = units.  Every array is a
// C-contiguous row-major block; sequences are batch-major as in Keras:
//
//   x         (B, T, I)      inputs
//   mask      (B, T)         uint8, 1 = real step, 0 = padded step; may be null (no masking).
//                            At a masked step the state is carried unchanged: h_t = h_{t-1}
//                            (and c_t = c_{t-1}); the gradient passes straight through it.
//   states    (B, T, H)      h_t for every step (the carried state; at masked steps h_{t-1}).
//                            Zeroing the outputs of masked steps, as Keras does, is the
//                            caller's business (chalknet/ops.py).
//   d_states  (B, T, H)      dL/dh_t from the layer above, for every step
//   d_final_h (B, H)         dL/dh_T through the returned final state (added to step T-1);
//                            may be null (zero).  Likewise d_final_c for the LSTM.
//
// Gradients are returned for the inputs, the initial states and every weight; a null
// d_bias skips the bias gradient (a layer without bias).
//
// Activations: `activation` is the cell's output nonlinearity (tanh by default) and
// `recurrent_activation` the gates' (sigmoid by default); hard_sigmoid is Keras 3's
// clip(x / 6 + 1 / 2, 0, 1).  Every derivative the backward pass needs is computed from the
// activation's output, so the forward pass caches outputs only.
#pragma once
#include <cstdint>

namespace chalknet {

enum class Activation { Tanh, Relu, Linear, Sigmoid, HardSigmoid };

struct RnnShape {
  int64_t batch, steps, input_size, units;
};

// ----- SimpleRNN ------------------------------------------------------------------------------
//   kernel (I, H), recurrent_kernel (H, H), bias (H,) or null, h0 (B, H)
//   h_t = act(x_t . kernel + h_{t-1} . recurrent_kernel + bias)
// Cache: states only (act' is read from h_t).
template <typename T>
void simple_rnn_forward(T* states, const T* x, const T* h0, const T* kernel,
                        const T* recurrent_kernel, const T* bias, const uint8_t* mask,
                        const RnnShape& s, Activation activation);

//   d_x (B, T, I), d_h0 (B, H), d_kernel (I, H), d_recurrent_kernel (H, H), d_bias (H,) or null
template <typename T>
void simple_rnn_backward(T* d_x, T* d_h0, T* d_kernel, T* d_recurrent_kernel, T* d_bias,
                         const T* d_states, const T* d_final_h, const T* x, const T* h0,
                         const T* kernel, const T* recurrent_kernel, const T* states,
                         const uint8_t* mask, const RnnShape& s, Activation activation);

// ----- LSTM -----------------------------------------------------------------------------------
//   kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or null, h0 and c0 (B, H);
//   gate blocks of H columns in Keras's order i, f, c, o.
//   z = x_t . kernel + h_{t-1} . recurrent_kernel + bias,   split into z_i, z_f, z_c, z_o
//   i = rec_act(z_i)   input gate         f = rec_act(z_f)   forget gate
//   g = act(z_c)       candidate memory   o = rec_act(z_o)   output gate
//   c_t = f * c_{t-1} + i * g             memory cell
//   h_t = o * act(c_t)
// Cache: gates (B, T, 4H) = i, f, g, o after their activations; cells (B, T, H) = c_t.
template <typename T>
void lstm_forward(T* states, T* cells, T* gates, const T* x, const T* h0, const T* c0,
                  const T* kernel, const T* recurrent_kernel, const T* bias, const uint8_t* mask,
                  const RnnShape& s, Activation activation, Activation recurrent_activation);

//   d_x (B, T, I), d_h0 and d_c0 (B, H), d_kernel (I, 4H), d_recurrent_kernel (H, 4H),
//   d_bias (4H,) or null
template <typename T>
void lstm_backward(T* d_x, T* d_h0, T* d_c0, T* d_kernel, T* d_recurrent_kernel, T* d_bias,
                   const T* d_states, const T* d_final_h, const T* d_final_c, const T* x,
                   const T* h0, const T* c0, const T* kernel, const T* recurrent_kernel,
                   const T* states, const T* cells, const T* gates, const uint8_t* mask,
                   const RnnShape& s, Activation activation, Activation recurrent_activation);

// ----- GRU (Keras's reset_after=True) ---------------------------------------------------------
//   kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) = (input bias, recurrent bias) or
//   null, h0 (B, H); gate blocks in Keras's order z, r, h.
//   x_z, x_r, x_h = x_t . kernel + input_bias
//   u_z, u_r, u_h = h_{t-1} . recurrent_kernel + recurrent_bias
//   z  = rec_act(x_z + u_z)          update gate
//   r  = rec_act(x_r + u_r)          reset gate
//   h~ = act(x_h + r * u_h)          candidate (the reset applies after the product)
//   h_t = z * h_{t-1} + (1 - z) * h~
// Cache: gates (B, T, 3H) = z, r, h~ after their activations; recurrent_h (B, T, H) = u_h.
template <typename T>
void gru_forward(T* states, T* gates, T* recurrent_h, const T* x, const T* h0, const T* kernel,
                 const T* recurrent_kernel, const T* bias, const uint8_t* mask,
                 const RnnShape& s, Activation activation, Activation recurrent_activation);

//   d_x (B, T, I), d_h0 (B, H), d_kernel (I, 3H), d_recurrent_kernel (H, 3H),
//   d_bias (2, 3H) or null
template <typename T>
void gru_backward(T* d_x, T* d_h0, T* d_kernel, T* d_recurrent_kernel, T* d_bias,
                  const T* d_states, const T* d_final_h, const T* x, const T* h0,
                  const T* kernel, const T* recurrent_kernel, const T* states, const T* gates,
                  const T* recurrent_h, const uint8_t* mask, const RnnShape& s,
                  Activation activation, Activation recurrent_activation);

}  // namespace chalknet
