"""Sequences, lesson 1 — gradients through time: vanishing, exploding, and clipping.

1. **Vanishing.** Backpropagation through time multiplies one Jacobian per step. For a
   SimpleRNN, h_t = tanh(W x_t + U h_{t-1} + b), so dh_t/dh_{t-1} = diag(1 - h_t^2) U: a factor
   below 1 per step (tanh' <= 1) unless U is large. The LSTM's memory cell carries
   c_t = f_t * c_{t-1} + i_t * g_t, so dc_t/dc_{t-1} = diag(f_t): the forget gate alone sets how
   fast the gradient fades, and a forget gate near 1 keeps it. We measure it with the layers'
   own ``backward``: return_sequences=True, dL/dy zero except at the last step, and the norm of
   dL/dx_t (what reaches the input at step t) for every t.
2. **Exploding, and the cure.** With large recurrent weights (an orthogonal U times 1.5), the
   same product grows instead: one gradient step throws the weights far away and the loss
   becomes inf, then NaN. ``optimizers.SGD(clipnorm=1.0)`` rescales every gradient whose norm
   exceeds 1 — the direction is kept, the step is bounded — and the same model trains.
"""

from __future__ import annotations

import numpy as np

from ._common import Pictures, one_thread, say

CHAPTER = "sequences"

PROFILE_STEPS = 100
PROFILE_UNITS = 32
FORGET_BIAS_LARGE = 3.0  # sigmoid(3) ~ 0.95: a forget gate that mostly keeps the cell

EXPLODING_GAIN = 1.5     # the recurrent kernel: an orthogonal matrix times this
EXPLODING_STEPS = 40
EXPLODING_LEARNING_RATE = 0.1
CLIPNORM = 1.0


# ----- 1. the gradient through time --------------------------------------------------------


def input_gradient_profile(layer, x, seed=0):
    """||dL/dx_t|| for t = 0..T-1 (batch mean), for L = sum(R * y_T): a loss that reads only the
    last output. ``layer`` must have return_sequences=True."""
    outputs = layer.forward(x)
    d_outputs = np.zeros_like(outputs)
    d_outputs[:, -1] = np.random.default_rng(seed).standard_normal(outputs[:, -1].shape)
    d_x = layer.backward(d_outputs)
    return np.linalg.norm(d_x, axis=2).mean(axis=0)


def lstm_with_forget_bias(units, forget_bias, input_features):
    """An LSTM whose forget-gate biases (the second block of four, gates i, f, c, o) are set."""
    from ..layers import LSTM

    layer = LSTM(units, return_sequences=True)
    layer.maybe_build((None, input_features))
    layer.bias[units:2 * units] = forget_bias
    return layer


def gradient_profiles(steps=PROFILE_STEPS, units=PROFILE_UNITS, batch=16, features=8, seed=0):
    """The three profiles, each divided by its value at the last step (so all start at 1)."""
    from ..layers import LSTM, SimpleRNN
    from ..utils import set_random_seed

    set_random_seed(seed)
    x = np.random.default_rng(seed).standard_normal((batch, steps, features)).astype(np.float32)
    layers = {
        "SimpleRNN": SimpleRNN(units, return_sequences=True),
        "LSTM (forget bias 1)": LSTM(units, return_sequences=True),
        f"LSTM (forget bias {FORGET_BIAS_LARGE:g})":
            lstm_with_forget_bias(units, FORGET_BIAS_LARGE, features),
    }
    profiles = {}
    for name, layer in layers.items():
        norms = input_gradient_profile(layer, x, seed)
        profiles[name] = norms / norms[-1]
    return profiles


# ----- 2. exploding gradients and clipnorm ---------------------------------------------------


def sum_of_last_five(count, rng, steps=EXPLODING_STEPS):
    """Inputs uniform in [-1, 1], shape (count, steps, 1); target: the sum of the last five."""
    x = rng.uniform(-1.0, 1.0, (count, steps, 1)).astype(np.float32)
    return x, x[:, -5:, 0].sum(axis=1, keepdims=True)


def train_with_gradient_norms(clipnorm, epochs, seed=0, samples=512, batch_size=32):
    """SimpleRNN(32, recurrent kernel = 1.5 x orthogonal) + Dense(1), MSE, SGD(0.1), written out
    step by step so the gradient norm of every step can be recorded. Returns (losses per step,
    gradient norms per step) — the norm before clipping."""
    from .. import initializers, losses, optimizers
    from ..layers import Dense, SimpleRNN
    from ..models import Input, Sequential
    from ..utils import set_random_seed

    set_random_seed(seed)
    x, y = sum_of_last_five(samples, np.random.default_rng(seed))
    model = Sequential([Input((EXPLODING_STEPS, 1)),
                        SimpleRNN(32, recurrent_initializer=initializers.Orthogonal(
                            gain=EXPLODING_GAIN)),
                        Dense(1)])
    loss = losses.MeanSquaredError()
    optimizer = optimizers.SGD(EXPLODING_LEARNING_RATE, clipnorm=clipnorm)
    step_losses, step_norms = [], []
    with np.errstate(all="ignore"):  # the unclipped run overflows on purpose
        for _ in range(epochs):
            for start in range(0, samples, batch_size):
                x_batch, y_batch = x[start:start + batch_size], y[start:start + batch_size]
                prediction = model.forward(x_batch, training=True)
                step_losses.append(float(loss(y_batch, prediction)))
                model.backward(loss.gradient(y_batch, prediction))
                pairs = [(gradient, getattr(layer, name))
                         for layer in model.layers
                         for name, gradient in zip(layer.weight_names, layer.get_gradients(),
                                                               strict=True)]
                step_norms.append(float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2)
                                                    for g, _ in pairs))))
                optimizer.apply_gradients(pairs)
    return np.array(step_losses), np.array(step_norms)


# ----- pictures ------------------------------------------------------------------------------


def draw_profiles(pictures, profiles):
    figure, axes = pictures.new(width=6.5, height=4.2)
    if figure is None:
        return
    steps = len(next(iter(profiles.values())))
    for name, profile in profiles.items():
        axes.semilogy(np.arange(steps), np.maximum(profile, 1e-30), label=name)
    axes.set_xlabel("time step t (the loss reads only the last output)")
    axes.set_ylabel("||dL/dx_t|| / ||dL/dx_T||")
    axes.set_title("Gradient through time: how much step t can still learn")
    axes.legend()
    axes.grid(True, which="major", alpha=0.3)
    pictures.save(figure, "gradient_through_time.png")


def draw_clipping(pictures, unclipped, clipped):
    figure, axes = pictures.new(columns=3, width=4.6, height=4.0)
    if figure is None:
        return
    for (losses, norms), label in ((unclipped, "no clipping"),
                                   (clipped, f"clipnorm={CLIPNORM:g}")):
        steps = np.arange(len(losses))
        shown = np.where(np.isfinite(losses), losses, np.nan)
        axes[0].semilogy(steps, shown, label=label)
        axes[1].semilogy(steps, np.where(np.isfinite(norms), norms, np.nan), label=label)
        first_bad = np.flatnonzero(~np.isfinite(losses))
        if first_bad.size:
            axes[0].axvline(first_bad[0], color="red", linestyle=":",
                            label=f"{label}: loss inf/NaN from step {first_bad[0]}")
    axes[2].plot(np.arange(len(clipped[0])), clipped[0], color="tab:orange")
    axes[2].axhline(5 / 3, color="gray", linestyle="--", label="predicting the mean")
    axes[2].set(xlabel="training step", ylabel="MSE", ylim=(0, None),
                title=f"clipnorm={CLIPNORM:g}: the loss falls")
    axes[0].set(xlabel="training step", ylabel="MSE (log)", title="Loss")
    axes[1].set(xlabel="training step", ylabel="gradient norm before clipping (log)",
                title="Gradient norm")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    pictures.save(figure, "clipping.png")


# ----- the lesson ----------------------------------------------------------------------------


def first_non_finite(values):
    bad = np.flatnonzero(~np.isfinite(values))
    return int(bad[0]) if bad.size else None


def run(output_dir, quick=False) -> dict:
    pictures = Pictures(output_dir, CHAPTER)
    with one_thread():
        profiles = gradient_profiles(steps=50 if quick else PROFILE_STEPS)
        epochs = 4 if quick else 10
        unclipped = train_with_gradient_norms(None, epochs)
        clipped = train_with_gradient_norms(CLIPNORM, epochs)
    draw_profiles(pictures, profiles)
    draw_clipping(pictures, unclipped, clipped)

    steps = len(next(iter(profiles.values())))
    back = min(50, steps - 1)
    lines = [f"Gradient {back} steps back from the last output, relative to the last step:"]
    for name, profile in profiles.items():
        lines.append(f"  {name:<22} {profile[-1 - back]:.1e}")
    say(CHAPTER, "\n".join(lines) + (
        "\nNotice: the SimpleRNN's gradient fades fastest (tanh' and U at every step); the "
        "LSTM's\ncell path multiplies only by the forget gate, and a forget gate near 1 keeps "
        "the gradient\nalive over many steps — that is what the gates are for."))
    target_variance = 5 / 3  # the target sums five uniform(-1, 1) values, each of variance 1/3
    bad = first_non_finite(unclipped[0])
    say(CHAPTER, f"Exploding gradients (SimpleRNN, U = {EXPLODING_GAIN} x orthogonal, SGD "
                 f"{EXPLODING_LEARNING_RATE}):\n"
                 f"  no clipping: largest gradient norm {np.nanmax(unclipped[1]):.1e}, loss "
                 f"{'inf/NaN from step ' + str(bad) if bad is not None else 'finite'}\n"
                 f"  clipnorm={CLIPNORM:g}: final loss {np.mean(clipped[0][-16:]):.3f} "
                 f"(predicting the mean would give {target_variance:.3f})\n"
                 "Notice: clipping keeps each step's length bounded, so one huge gradient "
                 "cannot throw the\nweights away; the direction is unchanged.")
    results = {f"profile_{name}": profile for name, profile in profiles.items()}
    results.update(
        profile_names=list(profiles),
        unclipped_losses=unclipped[0], unclipped_gradient_norms=unclipped[1],
        clipped_losses=clipped[0], clipped_gradient_norms=clipped[1],
        unclipped_first_non_finite_step=bad,
        clipped_final_loss=float(np.mean(clipped[0][-16:])),
        target_variance=target_variance,
        pictures=list(pictures.written))
    return results
