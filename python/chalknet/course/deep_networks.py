"""Chapter 5 — Deep networks: vanishing gradients, new activations, and overfitting.

Three lessons, all on the bundled MNIST digits (``chalknet.datasets.mnist_mini``):

1. **The vanishing gradient.** Backpropagation multiplies, layer after layer, by the
   activation's derivative and by the weights: dL/da_{l-1} = (dL/da_l * f'(z_l)) W_l^T.
   The sigmoid's derivative is at most 1/4, so in a deep sigmoid network the gradient shrinks
   by a roughly constant factor at every layer on its way down to the input, and the first
   layers barely learn. ReLU's derivative is exactly 1 where the unit is active, so with He
   initialisation (weights of variance 2 / fan_in, which keeps the signal's size through ReLU
   layers) the gradient arrives at the first layer about as large as it left the last. The
   chapter measures ||dL/dW_l|| for every layer l of a 10-layer network on one batch of
   digits, for both, and then trains both for a moment to show what that means.
2. **Maxout and PReLU at work.** PReLU is max(z, 0) + alpha min(z, 0) with a slope alpha
   *learned* per unit (He et al., 2015); Maxout (Goodfellow et al., 2013) outputs the max of k
   linear pieces, a learned convex activation (ReLU is the case max(z, 0)). Both are compared
   with ReLU in the same 2-hidden-layer network on a few thousand digits.
3. **Overfitting, and three cures.** A network with 100,000 weights trained on a few hundred
   digits memorises them: training loss goes to zero while the validation loss, after a first
   fall, rises again. The gap between the two is the overfitting. L2 weight decay (a penalty
   lambda sum w^2 on the kernels), dropout (random units switched off while training) and
   early stopping (keep the weights of the epoch with the best validation loss) each shrink
   it; the chapter trains the same network four ways and draws their train/validation curves.

Run it: ``python -m chalknet demo deep_networks --out DIR``.
"""

from __future__ import annotations

import numpy as np

from ._common import Pictures, one_thread, say

NAME = "deep_networks"
NUMBER = 5
TITLE = ("Deep networks: vanishing gradients (sigmoid vs ReLU), Maxout and PReLU, "
         "overfitting cured by L2, dropout and early stopping")


# ----- data -------------------------------------------------------------------------------------


def load_digits(train_count: int, validation_count: int):
    """``(x_train, y_train), (x_val, y_val)``: flattened bundled digits scaled to [0, 1],
    integer labels. Training images come from the start of the bundled training split,
    validation images from its held-out test split (never seen in training)."""
    from ..datasets import mnist_mini

    (x_train, y_train), (x_test, y_test) = mnist_mini.load_data()
    flat = lambda images: images.reshape(len(images), -1).astype(np.float32) / 255.0  # noqa: E731
    return ((flat(x_train[:train_count]), y_train[:train_count].astype(np.int64)),
            (flat(x_test[:validation_count]), y_test[:validation_count].astype(np.int64)))


# ----- lesson 1: the vanishing gradient --------------------------------------------------------


def deep_network(activation: str, depth: int, width: int, initializer: str, seed: int):
    """``depth`` hidden Dense(width, activation) layers, then Dense(10, softmax)."""
    from ..layers import Dense
    from ..models import Input, Sequential
    from ..utils import set_random_seed

    set_random_seed(seed)
    model = Sequential([Input(shape=(784,))], name=f"deep_{activation}")
    for index in range(depth):
        model.add(Dense(width, activation=activation, kernel_initializer=initializer,
                        name=f"hidden_{index + 1}"))
    model.add(Dense(10, activation="softmax", name="output"))
    return model


def gradient_norms(model, x, y) -> np.ndarray:
    """||dL/dW|| (Frobenius norm of the kernel's gradient) of every Dense layer, first layer
    first, for the cross-entropy loss on the batch (x, y)."""
    model.input_gradient(x, y_true=y, loss="sparse_categorical_crossentropy")
    return np.array([float(np.linalg.norm(layer.get_gradients()[0])) for layer in model.layers])


def vanishing_gradient(x, y, x_val, y_val, depth, width, epochs, seed):
    """Per-layer gradient norms of a deep sigmoid and a deep ReLU network (before training),
    and their validation accuracy after a short training run with plain SGD."""
    from ..optimizers import SGD

    setups = {"sigmoid": "glorot_uniform", "relu": "he_normal"}
    results = {}
    for activation, initializer in setups.items():
        model = deep_network(activation, depth, width, initializer, seed)
        norms = gradient_norms(model, x[:256], y[:256])
        model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0,
                            validation_data=(x_val, y_val))
        results[activation] = {
            "initializer": initializer,
            "gradient_norms": norms.tolist(),
            # How much smaller the first hidden layer's gradient is than the last hidden
            # layer's (the output layer is left out: it has no activation derivative below it).
            "first_to_last_hidden_ratio": float(norms[0] / norms[-2]),
            "val_accuracy": history.history["val_accuracy"],
            "loss": history.history["loss"],
        }
    return results


def draw_vanishing(pictures, results):
    figure, axes = pictures.new(columns=2, width=5.0, height=3.8)
    if figure is None:
        return
    left, right = axes
    for activation, result in results.items():
        norms = result["gradient_norms"]
        left.semilogy(range(1, len(norms) + 1), norms, marker="o",
                      label=f"{activation} ({result['initializer']})")
        epochs = range(1, len(result["val_accuracy"]) + 1)
        right.plot(epochs, result["val_accuracy"], marker="o", label=activation)
    left.set_xlabel("layer (1 = next to the input; last = softmax output)")
    left.set_ylabel("||dL/dW|| (log scale)")
    left.set_title("gradient size per layer, one batch, before training")
    left.legend(fontsize=8)
    right.set_xlabel("epoch")
    right.set_ylabel("validation accuracy")
    right.set_ylim(0, 1)
    right.set_title("the same deep networks, trained with SGD")
    right.legend(fontsize=8)
    pictures.save(figure, "vanishing_gradient.png")


# ----- lesson 2: PReLU and Maxout ---------------------------------------------------------------


def activation_network(kind: str, width: int, seed: int):
    """784 -> [Dense -> activation] x 2 -> Dense(10, softmax), with the hidden activation
    ``kind``: "relu", "prelu" (learned slope per unit, starting at 0: plain ReLU) or
    "maxout" (Dense(2 * width) then Maxout(width): each unit the max of 2 linear pieces)."""
    from ..layers import Dense, Maxout, PReLU, ReLU
    from ..models import Input, Sequential
    from ..utils import set_random_seed

    set_random_seed(seed)
    model = Sequential([Input(shape=(784,))], name=kind)
    for _ in range(2):
        if kind == "maxout":
            model.add(Dense(2 * width))
            model.add(Maxout(width))
        else:
            model.add(Dense(width))
            model.add(PReLU() if kind == "prelu" else ReLU())
    model.add(Dense(10, activation="softmax"))
    return model


def compare_activations(x, y, x_val, y_val, width, epochs, seed):
    """Train ReLU, PReLU and Maxout networks the same way; their accuracies and PReLU's
    learned slopes."""
    results = {}
    for kind in ("relu", "prelu", "maxout"):
        model = activation_network(kind, width, seed)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0,
                            validation_data=(x_val, y_val))
        results[kind] = {"val_accuracy": history.history["val_accuracy"],
                         "parameters": model.count_params()}
        if kind == "prelu":
            slopes = np.concatenate([layer.get_weights()[0].ravel() for layer in model.layers
                                     if type(layer).__name__ == "PReLU"])
            results[kind]["alpha"] = slopes.tolist()
    return results


def draw_activations(pictures, results):
    figure, axes = pictures.new(columns=2, width=5.0, height=3.8)
    if figure is None:
        return
    left, right = axes
    for kind, result in results.items():
        epochs = range(1, len(result["val_accuracy"]) + 1)
        left.plot(epochs, result["val_accuracy"], marker="o",
                  label=f"{kind} ({result['parameters']:,} params)")
    left.set_xlabel("epoch")
    left.set_ylabel("validation accuracy")
    left.set_title("same network, three hidden activations")
    left.legend(fontsize=8)
    right.hist(results["prelu"]["alpha"], bins=30, color="tab:orange")
    right.axvline(0.0, color="k", linestyle="--", linewidth=1)
    right.set_xlabel("learned PReLU slope alpha (started at 0 = ReLU)")
    right.set_ylabel("units")
    right.set_title("PReLU learns a negative-side slope per unit")
    pictures.save(figure, "prelu_maxout.png")


# ----- lesson 3: overfitting and its cures ------------------------------------------------------


def regularised_network(kind: str, width: int, seed: int):
    """784 -> Dense(width, relu) x 2 -> Dense(10, softmax), with ``kind``:
    "none", "l2" (L2(1e-2) on every kernel) or "dropout" (Dropout(0.2) on the input pixels
    and Dropout(0.5) after each hidden layer, the rates of Srivastava et al., 2014). Early
    stopping changes the training, not the network: it uses "none"."""
    from ..layers import Dense, Dropout
    from ..models import Input, Sequential
    from ..regularizers import L2
    from ..utils import set_random_seed

    set_random_seed(seed)
    model = Sequential([Input(shape=(784,))], name=kind)
    if kind == "dropout":
        model.add(Dropout(0.2))
    for _ in range(2):
        regularizer = L2(1e-2) if kind == "l2" else None
        model.add(Dense(width, activation="relu", kernel_regularizer=regularizer))
        if kind == "dropout":
            model.add(Dropout(0.5))
    model.add(Dense(10, activation="softmax", kernel_regularizer=L2(1e-2) if kind == "l2"
                    else None))
    return model


def cross_entropy_and_accuracy(model, x, y):
    """Data loss (no penalty) and accuracy of ``model`` in inference mode."""
    from ..losses import SparseCategoricalCrossentropy

    probabilities = model.predict(x, batch_size=256)
    loss = float(SparseCategoricalCrossentropy()(y, probabilities))
    return loss, float(np.mean(probabilities.argmax(axis=1) == y))


def overfitting(x, y, x_val, y_val, width, epochs, seed):
    """The same small-data training four ways; per way the curves and the final gaps."""
    from ..callbacks import EarlyStopping

    ways = {"no regularisation": ("none", []),
            "L2 (1e-2)": ("l2", []),
            "dropout (0.2, 0.5)": ("dropout", []),
            "early stopping": ("none", [EarlyStopping(monitor="val_loss", patience=5,
                                                      restore_best_weights=True)])}
    results = {}
    for label, (kind, callbacks) in ways.items():
        model = regularised_network(kind, width, seed)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0,
                            validation_data=(x_val, y_val), callbacks=callbacks)
        train_loss, train_accuracy = cross_entropy_and_accuracy(model, x, y)
        val_loss, val_accuracy = cross_entropy_and_accuracy(model, x_val, y_val)
        results[label] = {
            "history": history.history,
            "epochs_run": len(history.history["loss"]),
            "train_loss": train_loss, "val_loss": val_loss,
            "train_accuracy": train_accuracy, "val_accuracy": val_accuracy,
            "loss_gap": val_loss - train_loss,
            "accuracy_gap": train_accuracy - val_accuracy,
            "best_val_epoch": int(np.argmin(history.history["val_loss"])) + 1,
        }
    return results


def draw_overfitting(pictures, results):
    figure, axes = pictures.new(columns=len(results), rows=2, width=3.6, height=3.0)
    if figure is None:
        return
    for column, (label, result) in enumerate(results.items()):
        history = result["history"]
        epochs = range(1, len(history["loss"]) + 1)
        for row, key in enumerate(("loss", "accuracy")):
            axis = axes[row, column]
            axis.plot(epochs, history[key], label="training")
            axis.plot(epochs, history[f"val_{key}"], label="validation")
            if label == "early stopping":
                axis.axvline(result["best_val_epoch"], color="k", linestyle=":", linewidth=1,
                             label="weights kept")
            axis.set_xlabel("epoch")
            axis.set_title(f"{label}: {key}", fontsize=9)
            if key == "loss":
                axis.set_ylim(0, max(2.0, min(4.0, max(history["val_loss"]))))
            else:
                axis.set_ylim(0.5, 1.01)
            axis.legend(fontsize=7)
    pictures.save(figure, "overfitting.png")


# ----- the chapter ------------------------------------------------------------------------------


def settings(quick: bool) -> dict:
    """Sizes for the full chapter and for ``quick`` (tests: same lessons, smaller)."""
    if quick:
        return {"depth": 10, "width": 32, "vanish_train": 1000, "vanish_epochs": 2,
                "compare_train": 1000, "compare_width": 32, "compare_epochs": 3,
                "small_train": 200, "overfit_width": 64, "overfit_epochs": 30,
                "validation": 300}
    return {"depth": 10, "width": 64, "vanish_train": 4000, "vanish_epochs": 5,
            "compare_train": 4000, "compare_width": 64, "compare_epochs": 8,
            "small_train": 300, "overfit_width": 256, "overfit_epochs": 60,
            "validation": 1000}


def run(output_dir, quick: bool = False, seed: int = 0) -> dict:
    """Run the three lessons; return their numbers (see the module docstring)."""
    pictures = Pictures(output_dir, NAME)
    with one_thread():
        return _run(settings(quick), seed, pictures)


def _run(config, seed, pictures):
    largest = max(config["vanish_train"], config["compare_train"], config["small_train"])
    (x_all, y_all), (x_val, y_val) = load_digits(largest, config["validation"])

    vanishing = vanishing_gradient(x_all[:config["vanish_train"]], y_all[:config["vanish_train"]],
                                   x_val, y_val, config["depth"], config["width"],
                                   config["vanish_epochs"], seed)
    sigmoid, relu = vanishing["sigmoid"], vanishing["relu"]
    say(NAME, f"""
1. The vanishing gradient: {config['depth']} hidden layers of {config['width']} units, one batch.
   ||dL/dW|| of hidden layer 1 divided by that of hidden layer {config['depth']}:
     sigmoid (glorot_uniform): {sigmoid['first_to_last_hidden_ratio']:.1e}
     relu    (he_normal):      {relu['first_to_last_hidden_ratio']:.2f}
   Notice: the sigmoid's gradient shrinks by a similar factor at every layer (its
   derivative is at most 1/4), so the layers near the input hardly move.
   After {config['vanish_epochs']} epochs of SGD, validation accuracy: sigmoid net \
{sigmoid['val_accuracy'][-1]:.0%}, ReLU net {relu['val_accuracy'][-1]:.0%}.""")
    draw_vanishing(pictures, vanishing)

    activations = compare_activations(
        x_all[:config["compare_train"]], y_all[:config["compare_train"]], x_val, y_val,
        config["compare_width"], config["compare_epochs"], seed)
    alpha = np.asarray(activations["prelu"]["alpha"])
    lines = "\n".join(f"     {kind:<7} {result['val_accuracy'][-1]:.1%}  "
                      f"({result['parameters']:,} parameters)"
                      for kind, result in activations.items())
    say(NAME, f"""
2. Maxout and PReLU, {config['compare_train']} training digits; validation accuracy after \
{config['compare_epochs']} epochs:
{lines}
   Notice: PReLU started as ReLU (alpha = 0) and learned slopes of mean {alpha.mean():.3f}
   (from {alpha.min():.2f} to {alpha.max():.2f}); Maxout learns its activation's shape too,
   at the price of twice the weights in each Dense before it. On a task this easy all
   three do about as well; their advantage shows in deeper networks (PReLU) and with
   dropout (Maxout).""")
    draw_activations(pictures, activations)

    overfit = overfitting(x_all[:config["small_train"]], y_all[:config["small_train"]],
                          x_val, y_val, config["overfit_width"], config["overfit_epochs"], seed)
    def stopped(result):
        if result["epochs_run"] == config["overfit_epochs"]:
            return ""
        return f", stopped after {result['epochs_run']} epochs"

    lines = "\n".join(
        f"     {label:<18} train {r['train_accuracy']:.1%}  val {r['val_accuracy']:.1%}  "
        f"loss train {r['train_loss']:.3f} val {r['val_loss']:.3f}  (gap {r['loss_gap']:.3f})"
        f"{stopped(r)}" for label, r in overfit.items())
    plain = overfit["no regularisation"]
    cures = ", ".join(f"{label} {r['loss_gap']:.2f}" for label, r in overfit.items()
                      if r is not plain)
    say(NAME, f"""
3. Overfitting: {config['small_train']} training digits, {config['validation']} validation digits, \
up to {config['overfit_epochs']} epochs of Adam.
   Final models (losses without the L2 penalty, dropout off):
{lines}
   Notice: without regularisation the training loss goes to ~0 while the validation
   loss, after its minimum at epoch {plain['best_val_epoch']}, turns back up: the network
   memorises its {config['small_train']} digits. The gap between validation and training loss,
   {plain['loss_gap']:.2f} without a cure, is: {cures}.
   Dropout works differently: it keeps the training loss (measured with dropout on, the
   curves) from collapsing, and needs more epochs to pay off. In the curves, the L2 model's
   losses include its penalty. No cure makes {config['small_train']} digits as good as
   thousands.""")
    draw_overfitting(pictures, overfit)
    return {"vanishing_gradient": vanishing, "activations": activations,
            "overfitting": overfit, "settings": config, "pictures": pictures.written}
