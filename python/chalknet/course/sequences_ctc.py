"""Sequences, lesson 4 — many-to-less with CTC: reading a row of handwritten digits.

A row of 3 to 5 bundled MNIST digits (shrunk to 14 x 14 by 2 x 2 averaging, padded on the
right to 5 digits) is read column by column: 70 time steps of 14 pixels. A
``Bidirectional(LSTM(units, return_sequences=True))`` followed by ``Dense(11)`` gives logits
per column for the blank (class 0) and the digits 0-9 (classes 1-10). The labels say only
*which* digits, in order, never *where*: ``losses.CTC`` (Graves et al. 2006) sums the
probability of every alignment of the label to the 70 columns, so no segmentation is needed.
At test time ``ops.ctc_decode`` reads the best path greedily: the most probable class per
column, repeats merged, blanks dropped. A row counts as right only when every digit is.
"""

from __future__ import annotations

import numpy as np

from ._common import Pictures, one_thread, say

CHAPTER = "sequences"
MIN_DIGITS, MAX_DIGITS = 3, 5
SIDE = 14                        # digits shrunk from 28 x 28
STEPS = SIDE * MAX_DIGITS        # columns per row


def shrink(images):
    """28 x 28 uint8 digits -> 14 x 14 floats in [0, 1] (mean of each 2 x 2 block)."""
    images = images.astype(np.float32) / 255.0
    return images.reshape(len(images), SIDE, 2, SIDE, 2).mean(axis=(2, 4))


def digit_rows(images, digits, count, rng, min_digits=MIN_DIGITS, max_digits=MAX_DIGITS):
    """Rows of random digits as sequences of columns (count, STEPS, SIDE), and their CTC labels
    (count, max_digits): digit + 1 (0 is the blank), padded with 0."""
    small = shrink(images)
    x = np.zeros((count, STEPS, SIDE), dtype=np.float32)
    labels = np.zeros((count, max_digits), dtype=np.int64)
    for row in range(count):
        length = int(rng.integers(min_digits, max_digits + 1))
        chosen = rng.integers(0, len(small), size=length)
        picture = np.concatenate(list(small[chosen]), axis=1)   # (SIDE, SIDE * length)
        x[row, :picture.shape[1]] = picture.T                    # time = columns
        labels[row, :length] = digits[chosen] + 1
    return x, labels


def build_model(units):
    from .. import losses, optimizers
    from ..layers import LSTM, Bidirectional, Dense
    from ..models import Input, Sequential

    model = Sequential([Input(shape=(STEPS, SIDE)),
                        Bidirectional(LSTM(units, return_sequences=True)),
                        Dense(11)])    # logits: blank + 10 digits
    model.compile(optimizer=optimizers.Adam(0.005, global_clipnorm=5.0), loss=losses.CTC())
    return model


def greedy_read(model, x):
    """The decoded rows as lists of digits (greedy best path)."""
    from .. import ops

    logits = model.predict(x, batch_size=256)
    decoded, _ = ops.ctc_decode(logits, np.full(len(x), STEPS), greedy=True)
    return [[int(c) - 1 for c in row if c >= 0] for row in decoded[0]], logits


def label_digits(labels):
    return [[int(c) - 1 for c in row if c > 0] for row in labels]


def draw(pictures, x, labels, read, logits, history):
    figure, axes = pictures.new(columns=2, rows=3, width=5.0, height=1.9)
    if figure is None:
        return
    shown = zip(axes.flat[:5], x, labels, read, logits, strict=False)  # the first five rows
    for ax, image, truth, guess, row_logits in shown:
        ax.imshow(image.T, cmap="gray_r", aspect="auto", extent=(0, STEPS, SIDE, 0))
        best = row_logits.argmax(axis=1)
        for column in np.flatnonzero(best > 0):
            ax.text(column + 0.5, SIDE + 2.5, str(best[column] - 1), fontsize=6,
                    ha="center", color="tab:blue")
        ax.set_ylim(SIDE + 4, 0)
        ax.set_yticks([])
        mark = "right" if guess == truth else "WRONG"
        ax.set_title(f"read {''.join(map(str, guess))} | label {''.join(map(str, truth))} "
                     f"({mark})", fontsize=8)
    last = axes.flat[5]
    last.plot(np.arange(1, len(history["loss"]) + 1), history["loss"], "o-", label="training")
    last.plot(np.arange(1, len(history["val_loss"]) + 1), history["val_loss"], "s-",
              label="test rows")
    last.set(xlabel="epoch", ylabel="CTC loss", title="Loss (blue digits: non-blank columns)")
    last.legend(fontsize=7)
    pictures.save(figure, "ctc_digit_rows.png")


def run(output_dir, quick=False, units=None, epochs=None, train_rows=None, seed=0) -> dict:
    from ..datasets import mnist_mini
    from ..utils import set_random_seed

    pictures = Pictures(output_dir, CHAPTER)
    units = units if units is not None else (32 if quick else 48)
    epochs = epochs if epochs is not None else (5 if quick else 12)
    train_rows = train_rows if train_rows is not None else (1500 if quick else 4000)
    set_random_seed(seed)
    rng = np.random.default_rng(seed)
    (train_images, train_digits), (test_images, test_digits) = mnist_mini.load_data()
    x, labels = digit_rows(train_images, train_digits, train_rows, rng)
    x_test, labels_test = digit_rows(test_images, test_digits, 500, rng)  # unseen writers' digits
    with one_thread():
        model = build_model(units)
        history = model.fit(x, labels, batch_size=32, epochs=epochs, verbose=0,
                            validation_data=(x_test, labels_test)).history
        read, logits = greedy_read(model, x_test)
    truth = label_digits(labels_test)
    sequence_accuracy = float(np.mean([r == t for r, t in zip(read, truth, strict=True)]))
    length_right = float(np.mean([len(r) == len(t) for r, t in zip(read, truth, strict=True)]))
    draw(pictures, x_test, truth, read, logits, history)
    say(CHAPTER, f"Many-to-less (CTC): Bidirectional(LSTM({units})) -> Dense(11) over {STEPS} "
                 f"columns, {train_rows} rows, {epochs} epochs\n"
                 f"  test rows read exactly right: {sequence_accuracy:.3f} (the right number of "
                 f"digits: {length_right:.3f})\n"
                 "Notice: no label says where a digit is; the network still emits each digit on "
                 "one or two columns\nand blanks everywhere else (the blue marks in "
                 "ctc_digit_rows.png). A bidirectional reader\nsees the whole row at every "
                 "column, so a spike need not sit under its digit.")
    return dict(sequence_accuracy=sequence_accuracy, length_accuracy=length_right,
                history=history, pictures=list(pictures.written))
