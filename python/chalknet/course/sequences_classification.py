"""Sequences, lesson 3 — many-to-one: classifying variable-length sequences with a
Bidirectional LSTM, padding hidden by a mask.

The task: a string of the letters a, b, c, d (4 to 30 of them); is the count of a's larger
than the count of b's? (Ties are not generated.) The answer needs the whole sequence — a
counter, which an LSTM cell can hold. Sequences are padded at the end with 0 to one length;
``Embedding(5, 8, mask_zero=True)`` marks the padding, and the recurrent layers then keep their
state over masked steps (the backward direction of ``Bidirectional`` starts after them). So the
prediction does not depend on how much padding there is — the same weights without the mask
(``mask_zero=False``: padding becomes a token) give different answers for different padding.
"""

from __future__ import annotations

import numpy as np

from ._common import Pictures, one_thread, say

CHAPTER = "sequences"
LETTERS = " abcd"   # id 0 is the padding
MIN_LENGTH, MAX_LENGTH = 4, 30


def count_task(count, rng, min_length=MIN_LENGTH, max_length=MAX_LENGTH):
    """Padded id sequences (count, max_length), labels (count, 1): 1 when #a > #b."""
    x = np.zeros((count, max_length), dtype=np.int64)
    y = np.zeros((count, 1), dtype=np.float32)
    filled = 0
    while filled < count:
        length = int(rng.integers(min_length, max_length + 1))
        ids = rng.integers(1, len(LETTERS), size=length)
        a_count, b_count = np.sum(ids == 1), np.sum(ids == 2)
        if a_count == b_count:
            continue
        x[filled, :length] = ids
        y[filled, 0] = float(a_count > b_count)
        filled += 1
    return x, y


def build_model(units=16, mask_zero=True):
    from .. import optimizers
    from ..layers import LSTM, Bidirectional, Dense, Embedding
    from ..models import Input, Sequential

    model = Sequential([Input(shape=(None,)),   # any length: the padding varies
                        Embedding(len(LETTERS), 8, mask_zero=mask_zero),
                        Bidirectional(LSTM(units)),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def padding_sensitivity(model, x, extra=20):
    """max |p(x padded to T) - p(x padded to T + extra)| over the samples."""
    longer = np.concatenate([x, np.zeros((len(x), extra), dtype=x.dtype)], axis=1)
    return float(np.max(np.abs(model.predict(x) - model.predict(longer))))


def unmasked_copy(model):
    """The same weights in a model whose Embedding does not mask: padding is then a token."""
    copy = build_model(model.layers[1].forward_layer.units, mask_zero=False)
    copy.set_weights(model.get_weights())
    return copy


def draw(pictures, history, x_test, y_test, probabilities):
    figure, axes = pictures.new(columns=2, width=5.0, height=3.8)
    if figure is None:
        return
    epochs = np.arange(1, len(history["accuracy"]) + 1)
    axes[0].plot(epochs, history["accuracy"], "o-", label="training")
    axes[0].plot(epochs, history["val_accuracy"], "s-", label="validation")
    axes[0].axhline(0.5, color="gray", linestyle="--", label="chance")
    axes[0].set(xlabel="epoch", ylabel="accuracy", title="Is #a > #b? (BiLSTM, masked)")
    axes[0].legend()
    difference = np.sum(x_test == 1, axis=1) - np.sum(x_test == 2, axis=1)
    axes[1].scatter(difference + np.random.default_rng(0).uniform(-0.2, 0.2, len(difference)),
                    probabilities[:, 0], s=6, c=y_test[:, 0], cmap="coolwarm")
    axes[1].axvline(0, color="gray", linewidth=0.8)
    axes[1].axhline(0.5, color="gray", linewidth=0.8)
    axes[1].set(xlabel="#a - #b", ylabel="predicted p(#a > #b)",
                title="The hard cases are differences of 1")
    pictures.save(figure, "count_classifier.png")


def run(output_dir, quick=False, epochs=None, train_size=None, seed=0) -> dict:
    from ..utils import set_random_seed

    pictures = Pictures(output_dir, CHAPTER)
    epochs = epochs if epochs is not None else (4 if quick else 8)
    train_size = train_size if train_size is not None else (1000 if quick else 2000)
    set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = count_task(train_size, rng)
    x_test, y_test = count_task(1000, rng)
    with one_thread():
        model = build_model()
        history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0,
                            validation_data=(x_test, y_test)).history
        probabilities = model.predict(x_test)
        accuracy = float(np.mean((probabilities > 0.5) == (y_test > 0.5)))
        masked_change = padding_sensitivity(model, x_test[:200])
        unmasked_change = padding_sensitivity(unmasked_copy(model), x_test[:200])
    draw(pictures, history, x_test, y_test, probabilities)
    close = np.abs(np.sum(x_test == 1, axis=1) - np.sum(x_test == 2, axis=1)) == 1
    close_accuracy = float(np.mean((probabilities[close] > 0.5) == (y_test[close] > 0.5)))
    say(CHAPTER, f"Many-to-one: Embedding(mask_zero=True) -> Bidirectional(LSTM(16)) -> "
                 f"Dense(1, sigmoid), {train_size} sequences of length {MIN_LENGTH}-"
                 f"{MAX_LENGTH}, {epochs} epochs\n"
                 f"  test accuracy {accuracy:.3f} (chance 0.5); on |#a - #b| = 1 alone "
                 f"{close_accuracy:.3f}\n"
                 f"  20 more padding steps change the prediction by at most {masked_change:.1e} "
                 f"with the mask,\n  by {unmasked_change:.2f} with the same weights and no "
                 "mask\nNotice: the mask makes padding invisible; without it the model reads "
                 "the zeros as input.")
    return dict(accuracy=accuracy, close_accuracy=close_accuracy, history=history,
                masked_padding_change=masked_change, unmasked_padding_change=unmasked_change,
                pictures=list(pictures.written))
