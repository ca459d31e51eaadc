"""Recurrent cells over whole sequences, the reference for ``chalknet.ops.simple_rnn``,
``ops.lstm``, ``ops.gru`` and their backward passes.  Read these first.

Shapes (batch-major sequences and Keras's weight layouts)::

    x                 (B, T, I)     B sequences of T steps, I features per step
    h0 (and c0)       (B, H)        the state before the first step (H = units)
    kernel            (I, G*H)      input weights, G gate blocks side by side
    recurrent_kernel  (H, G*H)      weights applied to the previous state
    bias              (G*H,)        (the GRU: (2, 3H), an input and a recurrent bias)
    mask              (B, T) bool   optional; False marks a padded step
    outputs           (B, T, H)     h_t for every step (zero at masked steps)

A recurrent layer applies the same cell at every step, feeding each step's state into the
next.  The forward pass is the loop over time below; the backward pass ("backpropagation
through time") walks the same loop backwards, carrying dL/dh (and dL/dc) from step t to
step t-1, and adds up each weight's gradient over all the steps.

Masking (variable-length batches): at a masked step the state is carried over unchanged,
h_t = h_{t-1} (and c_t = c_{t-1}), and the output is zero, as Keras does.  Backward, the
gradient of a carried state flows straight through to the step before.

Every forward returns ``cache``, a dict with the inputs and what the backward pass reads:
"states" (B, T, H), the carried state h_t of every step, plus, for the LSTM, "gates"
(B, T, 4H) = i, f, g, o after their activations and "cells" (B, T, H) = c_t; for the GRU,
"gates" (B, T, 3H) = z, r, h~ and "recurrent_h" (B, T, H) = the recurrent part u_h of the
candidate before the reset gate multiplies it.  ``chalknet.ops`` returns the same dict.
"""

import numpy as np

# name: (f(x), f'(x) written in terms of y = f(x)); the backward pass only keeps outputs.
ACTIVATIONS = {
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "relu": (lambda x: np.maximum(x, 0), lambda y: (y > 0).astype(y.dtype)),
    "linear": (lambda x: x, np.ones_like),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda y: y * (1 - y)),
    # Keras 3's hard sigmoid: clip(x / 6 + 1/2, 0, 1)
    "hard_sigmoid": (lambda x: np.clip(x / 6 + 0.5, 0, 1),
                     lambda y: (((y > 0) & (y < 1)) / 6).astype(y.dtype)),
}


def _activation(name, op):
    if name not in ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def _keep(mask, t, batch):
    """(B, 1) booleans: True where step t is real (all True without a mask)."""
    if mask is None:
        return np.ones((batch, 1), dtype=bool)
    return np.asarray(mask, dtype=bool)[:, t, None]


def _outputs(states, mask):
    """The layer's outputs: the states, zeroed at masked steps."""
    if mask is None:
        return states.copy()
    return np.where(np.asarray(mask, dtype=bool)[:, :, None], states, 0).astype(states.dtype)


def _final_gradient(d_final, like):
    return np.zeros_like(like) if d_final is None else np.asarray(d_final, dtype=like.dtype)


def _masked(d_outputs, mask):
    """dL/d(states) from dL/d(outputs): a masked step's output is the constant 0."""
    if mask is None:
        return d_outputs
    return np.where(np.asarray(mask, dtype=bool)[:, :, None], d_outputs, 0)


# ----- SimpleRNN ------------------------------------------------------------------------------


def simple_rnn(x, h0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh"):
    """The plain recurrent cell:  h_t = act(x_t . kernel + h_{t-1} . recurrent_kernel + bias).

    Returns (outputs (B, T, H), h_T (B, H), cache).
    """
    act, _ = _activation(activation, "simple_rnn")
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    states = np.empty((batch, steps, units), dtype=x.dtype)
    h = h0
    for t in range(steps):
        h_new = act(x[:, t] @ kernel + h @ recurrent_kernel + (0 if bias is None else bias))
        h = np.where(_keep(mask, t, batch), h_new, h)
        states[:, t] = h
    cache = {"x": x, "h0": h0, "kernel": kernel, "recurrent_kernel": recurrent_kernel,
             "bias": bias, "mask": mask, "activation": activation, "states": states}
    return _outputs(states, mask), states[:, -1].copy(), cache


def simple_rnn_backward(d_outputs, d_h_final, cache):
    """Backpropagation through time for ``simple_rnn``.

    d_outputs (B, T, H) = dL/d(outputs); d_h_final (B, H) = dL/dh_T (or None).
    With dh = dL/dh_t (from the output at t and from step t+1):
        dz = dh * act'(h_t)                      (z = the pre-activation)
        d_kernel += x_t^T . dz    d_recurrent_kernel += h_{t-1}^T . dz    d_bias += sum(dz)
        d_x_t = dz . kernel^T     dL/dh_{t-1} = dz . recurrent_kernel^T
    Returns (d_x, d_h0, d_kernel, d_recurrent_kernel, d_bias or None).
    """
    x, h0, states, mask = cache["x"], cache["h0"], cache["states"], cache["mask"]
    kernel, recurrent_kernel = cache["kernel"], cache["recurrent_kernel"]
    _, slope = _activation(cache["activation"], "simple_rnn_backward")
    d_states = _masked(d_outputs, mask)
    batch, steps, _ = x.shape
    d_x = np.zeros_like(x)
    d_kernel, d_recurrent_kernel = np.zeros_like(kernel), np.zeros_like(recurrent_kernel)
    d_bias = np.zeros(recurrent_kernel.shape[1], dtype=x.dtype)
    dh = _final_gradient(d_h_final, h0)
    for t in reversed(range(steps)):
        dh = dh + d_states[:, t]
        h_prev = states[:, t - 1] if t > 0 else h0
        keep = _keep(mask, t, batch)
        dz = np.where(keep, dh * slope(states[:, t]), 0)
        d_kernel += x[:, t].T @ dz
        d_recurrent_kernel += h_prev.T @ dz
        d_bias += dz.sum(axis=0)
        d_x[:, t] = dz @ kernel.T
        dh = np.where(keep, dz @ recurrent_kernel.T, dh)  # a masked step passes dh through
    return d_x, dh, d_kernel, d_recurrent_kernel, None if cache["bias"] is None else d_bias


# ----- LSTM -----------------------------------------------------------------------------------


def lstm(x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
         recurrent_activation="sigmoid"):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), Keras's gate order i, f, c, o.

    At each step the four gates read the input and the previous state through their own
    block of H columns of kernel, recurrent_kernel and bias:

        i   = sigmoid(x_t . W_i + h_{t-1} . U_i + b_i)     input gate: how much to write
        f   = sigmoid(x_t . W_f + h_{t-1} . U_f + b_f)     forget gate: how much to keep
        g   = tanh(x_t . W_c + h_{t-1} . U_c + b_c)        candidate values to write
        o   = sigmoid(x_t . W_o + h_{t-1} . U_o + b_o)     output gate: how much to show
        c_t = f * c_{t-1} + i * g                          the memory cell
        h_t = o * tanh(c_t)                                the hidden state (the output)

    (tanh is ``activation``, sigmoid ``recurrent_activation``.)
    Returns (outputs (B, T, H), h_T (B, H), c_T (B, H), cache).
    """
    act, _ = _activation(activation, "lstm")
    gate_act, _ = _activation(recurrent_activation, "lstm")
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    H = units
    states = np.empty((batch, steps, H), dtype=x.dtype)
    cells = np.empty((batch, steps, H), dtype=x.dtype)
    gates = np.empty((batch, steps, 4 * H), dtype=x.dtype)
    h, c = h0, c0
    for t in range(steps):
        z = x[:, t] @ kernel + h @ recurrent_kernel + (0 if bias is None else bias)
        input_gate = gate_act(z[:, :H])
        forget_gate = gate_act(z[:, H:2 * H])
        candidate = act(z[:, 2 * H:3 * H])
        output_gate = gate_act(z[:, 3 * H:])
        c_new = forget_gate * c + input_gate * candidate
        h_new = output_gate * act(c_new)

        keep = _keep(mask, t, batch)
        c = np.where(keep, c_new, c)
        h = np.where(keep, h_new, h)
        gates[:, t] = np.concatenate([input_gate, forget_gate, candidate, output_gate], axis=1)
        cells[:, t], states[:, t] = c, h
    cache = {"x": x, "h0": h0, "c0": c0, "kernel": kernel, "recurrent_kernel": recurrent_kernel,
             "bias": bias, "mask": mask, "activation": activation,
             "recurrent_activation": recurrent_activation,
             "states": states, "cells": cells, "gates": gates}
    return _outputs(states, mask), states[:, -1].copy(), cells[:, -1].copy(), cache


def lstm_backward(d_outputs, d_h_final, d_c_final, cache):
    """Backpropagation through time for ``lstm``.

    d_outputs (B, T, H); d_h_final and d_c_final (B, H) = dL/dh_T and dL/dc_T (or None).
    Walking back from the last step with dh = dL/dh_t and dc = dL/dc_t (the part arriving
    from step t+1), the chain rule through h_t = o * tanh(c_t) and c_t = f*c_{t-1} + i*g:

        d_o  = dh * tanh(c_t)
        dc   = dc + dh * o * (1 - tanh(c_t)^2)            all the paths into c_t
        d_i  = dc * g      d_g = dc * i      d_f = dc * c_{t-1}
        dL/dc_{t-1} = dc * f                              the memory path: only a product by f
        dz   = (d_i * i(1-i), d_f * f(1-f), d_g * (1-g^2), d_o * o(1-o))   pre-activations
        d_kernel += x_t^T . dz   d_recurrent_kernel += h_{t-1}^T . dz   d_bias += sum(dz)
        d_x_t = dz . kernel^T    dL/dh_{t-1} = dz . recurrent_kernel^T

    Returns (d_x, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias or None).
    """
    x, h0, c0, mask = cache["x"], cache["h0"], cache["c0"], cache["mask"]
    kernel, recurrent_kernel = cache["kernel"], cache["recurrent_kernel"]
    states, cells, gates = cache["states"], cache["cells"], cache["gates"]
    act, slope = _activation(cache["activation"], "lstm_backward")
    _, gate_slope = _activation(cache["recurrent_activation"], "lstm_backward")
    d_states = _masked(d_outputs, mask)
    batch, steps, _ = x.shape
    H = recurrent_kernel.shape[0]
    d_x = np.zeros_like(x)
    d_kernel, d_recurrent_kernel = np.zeros_like(kernel), np.zeros_like(recurrent_kernel)
    d_bias = np.zeros(4 * H, dtype=x.dtype)
    dh = _final_gradient(d_h_final, h0)
    dc = _final_gradient(d_c_final, c0)
    for t in reversed(range(steps)):
        dh = dh + d_states[:, t]
        h_prev = states[:, t - 1] if t > 0 else h0
        c_prev = cells[:, t - 1] if t > 0 else c0
        input_gate, forget_gate = gates[:, t, :H], gates[:, t, H:2 * H]
        candidate, output_gate = gates[:, t, 2 * H:3 * H], gates[:, t, 3 * H:]
        tanh_c = act(cells[:, t])

        d_output_gate = dh * tanh_c
        dc_total = dc + dh * output_gate * slope(tanh_c)
        d_input_gate = dc_total * candidate
        d_candidate = dc_total * input_gate
        d_forget_gate = dc_total * c_prev
        dz = np.concatenate([d_input_gate * gate_slope(input_gate),
                             d_forget_gate * gate_slope(forget_gate),
                             d_candidate * slope(candidate),
                             d_output_gate * gate_slope(output_gate)], axis=1)

        keep = _keep(mask, t, batch)
        dz = np.where(keep, dz, 0)
        d_kernel += x[:, t].T @ dz
        d_recurrent_kernel += h_prev.T @ dz
        d_bias += dz.sum(axis=0)
        d_x[:, t] = dz @ kernel.T
        dh = np.where(keep, dz @ recurrent_kernel.T, dh)
        dc = np.where(keep, dc_total * forget_gate, dc)
    d_bias = None if cache["bias"] is None else d_bias
    return d_x, dh, dc, d_kernel, d_recurrent_kernel, d_bias


# ----- GRU ------------------------------------------------------------------------------------


def gru(x, h0, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
        recurrent_activation="sigmoid"):
    """Gated recurrent unit (Cho et al., 2014) in Keras's ``reset_after=True`` form, gate order
    z, r, h.  bias is (2, 3H): row 0 is added to the input part, row 1 to the recurrent part.

        x_z, x_r, x_h = x_t . kernel + bias[0]               (three blocks of H columns)
        u_z, u_r, u_h = h_{t-1} . recurrent_kernel + bias[1]
        z   = sigmoid(x_z + u_z)                               update gate
        r   = sigmoid(x_r + u_r)                               reset gate
        h~  = tanh(x_h + r * u_h)                              candidate state
        h_t = z * h_{t-1} + (1 - z) * h~                       keep the old, or take the new

    Returns (outputs (B, T, H), h_T (B, H), cache).
    """
    act, _ = _activation(activation, "gru")
    gate_act, _ = _activation(recurrent_activation, "gru")
    batch, steps, _ = x.shape
    H = recurrent_kernel.shape[0]
    input_bias, recurrent_bias = (0, 0) if bias is None else (bias[0], bias[1])
    states = np.empty((batch, steps, H), dtype=x.dtype)
    gates = np.empty((batch, steps, 3 * H), dtype=x.dtype)
    recurrent_h = np.empty((batch, steps, H), dtype=x.dtype)
    h = h0
    for t in range(steps):
        from_input = x[:, t] @ kernel + input_bias
        from_state = h @ recurrent_kernel + recurrent_bias
        update_gate = gate_act(from_input[:, :H] + from_state[:, :H])
        reset_gate = gate_act(from_input[:, H:2 * H] + from_state[:, H:2 * H])
        candidate = act(from_input[:, 2 * H:] + reset_gate * from_state[:, 2 * H:])
        h_new = update_gate * h + (1 - update_gate) * candidate

        h = np.where(_keep(mask, t, batch), h_new, h)
        gates[:, t] = np.concatenate([update_gate, reset_gate, candidate], axis=1)
        recurrent_h[:, t] = from_state[:, 2 * H:]
        states[:, t] = h
    cache = {"x": x, "h0": h0, "kernel": kernel, "recurrent_kernel": recurrent_kernel,
             "bias": bias, "mask": mask, "activation": activation,
             "recurrent_activation": recurrent_activation,
             "states": states, "gates": gates, "recurrent_h": recurrent_h}
    return _outputs(states, mask), states[:, -1].copy(), cache


def gru_backward(d_outputs, d_h_final, cache):
    """Backpropagation through time for ``gru``.

    With dh = dL/dh_t and h_t = z * h_{t-1} + (1 - z) * h~:
        d_cand = dh * (1 - z) * (1 - h~^2)              pre-activation of the candidate
        d_z    = dh * (h_{t-1} - h~) * z(1-z)
        d_r    = d_cand * u_h * r(1-r)
        input side:     dz_in  = (d_z, d_r, d_cand)       -> d_kernel, d_x, bias[0]
        recurrent side: dz_rec = (d_z, d_r, d_cand * r)   -> d_recurrent_kernel, bias[1]
        dL/dh_{t-1} = dh * z + dz_rec . recurrent_kernel^T
    Returns (d_x, d_h0, d_kernel, d_recurrent_kernel, d_bias (2, 3H) or None).
    """
    x, h0, mask = cache["x"], cache["h0"], cache["mask"]
    kernel, recurrent_kernel = cache["kernel"], cache["recurrent_kernel"]
    states, gates, recurrent_h = cache["states"], cache["gates"], cache["recurrent_h"]
    _, slope = _activation(cache["activation"], "gru_backward")
    _, gate_slope = _activation(cache["recurrent_activation"], "gru_backward")
    d_states = _masked(d_outputs, mask)
    batch, steps, _ = x.shape
    H = recurrent_kernel.shape[0]
    d_x = np.zeros_like(x)
    d_kernel, d_recurrent_kernel = np.zeros_like(kernel), np.zeros_like(recurrent_kernel)
    d_bias = np.zeros((2, 3 * H), dtype=x.dtype)
    dh = _final_gradient(d_h_final, h0)
    for t in reversed(range(steps)):
        dh = dh + d_states[:, t]
        h_prev = states[:, t - 1] if t > 0 else h0
        update_gate, reset_gate = gates[:, t, :H], gates[:, t, H:2 * H]
        candidate = gates[:, t, 2 * H:]

        d_candidate = dh * (1 - update_gate) * slope(candidate)
        d_update = dh * (h_prev - candidate) * gate_slope(update_gate)
        d_reset = d_candidate * recurrent_h[:, t] * gate_slope(reset_gate)
        keep = _keep(mask, t, batch)
        dz_in = np.where(keep, np.concatenate([d_update, d_reset, d_candidate], axis=1), 0)
        dz_rec = np.where(keep, np.concatenate([d_update, d_reset, d_candidate * reset_gate],
                                               axis=1), 0)
        d_kernel += x[:, t].T @ dz_in
        d_recurrent_kernel += h_prev.T @ dz_rec
        d_bias[0] += dz_in.sum(axis=0)
        d_bias[1] += dz_rec.sum(axis=0)
        d_x[:, t] = dz_in @ kernel.T
        dh = np.where(keep, dh * update_gate + dz_rec @ recurrent_kernel.T, dh)
    return d_x, dh, d_kernel, d_recurrent_kernel, None if cache["bias"] is None else d_bias
