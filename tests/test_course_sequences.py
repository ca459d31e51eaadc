"""Chapter 9 (sequences): each lesson's claim, checked on small settings.

The language model beats the unigram entropy on a small made-up corpus; the masked BiLSTM
beats chance and ignores padding; CTC recovers label sequences on a toy task; the
encoder-decoder's addition beats the best constant answer; clipping keeps a loss finite that
diverges without it; the SimpleRNN's gradient fades through time faster than the LSTM's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from chalknet import course
from chalknet.course import (
    sequences_addition,
    sequences_classification,
    sequences_ctc,
    sequences_gradients,
    sequences_language_model,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_chapter_is_registered_by_name_and_number():
    assert course.chapter("sequences").NAME == "sequences"
    assert course.chapter(9) is course.chapter("sequences")
    assert set(course.chapter("sequences").LESSONS) == {
        "gradients", "language_model", "classification", "ctc", "addition"}


# ----- gradients through time --------------------------------------------------------------


def test_simple_rnn_gradient_fades_through_time_faster_than_the_lstms():
    profiles = sequences_gradients.gradient_profiles(steps=40)
    simple, lstm, open_lstm = (profiles[name] for name in sequences_gradients.gradient_profiles(
        steps=2))
    assert simple[-1] == lstm[-1] == 1.0
    # 30 steps back the SimpleRNN keeps less of its gradient than the LSTM, and the LSTM
    # whose forget gate is near 1 keeps the most (measured: ~1e-5, ~1e-3, ~1).
    assert simple[-31] < 0.1 * lstm[-31]
    assert lstm[-31] < 0.1 * open_lstm[-31]


def test_clipnorm_keeps_the_loss_finite_where_the_unclipped_run_diverges():
    unclipped_losses, _ = sequences_gradients.train_with_gradient_norms(None, 4)
    clipped_losses, clipped_norms = sequences_gradients.train_with_gradient_norms(1.0, 4)
    assert not np.all(np.isfinite(unclipped_losses))      # inf/NaN without clipping
    assert np.all(np.isfinite(clipped_losses))
    assert np.all(np.isfinite(clipped_norms))
    # ... and the clipped run learns: well below the target's variance 5/3 (the mean's loss).
    assert np.mean(clipped_losses[-8:]) < 0.5 * (5 / 3)


# ----- character language model ------------------------------------------------------------


def test_unigram_entropy_by_hand():
    ids = np.array([0, 0, 1])
    expected = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert sequences_language_model.unigram_entropy(ids, 2) == pytest.approx(expected, 1e-12)


def small_corpus(words=3000, seed=1):
    """Words from a short list: the letters follow each other predictably within a word."""
    vocabulary = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "red", "big", "hat"]
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(vocabulary, size=words))


def test_language_model_loss_falls_well_below_the_unigram_entropy():
    trained = sequences_language_model.train(small_corpus(), units=32, length=24,
                                             batch_size=16, rounds=4, batches_per_round=50)
    # A context-free model cannot beat the unigram entropy (~2.6 nats here); inside a word
    # the next letter is nearly determined, so a model that learned anything beats it by far.
    assert trained["validation_losses"][-1] < trained["unigram_entropy"] - 0.5
    text = sequences_language_model.sample(trained["model"], trained["vocabulary"], "the ",
                                           40, 0.5, np.random.default_rng(0))
    assert text.startswith("the ") and len(text) == 44
    assert set(text) <= set(trained["vocabulary"].characters)


# ----- many-to-one -------------------------------------------------------------------------


def test_count_task_labels_and_padding():
    x, y = sequences_classification.count_task(200, np.random.default_rng(0))
    lengths = np.sum(x != 0, axis=1)
    assert np.all(x[np.arange(x.shape[1]) >= lengths[:, None]] == 0)   # padding only at the end
    a_count, b_count = np.sum(x == 1, axis=1), np.sum(x == 2, axis=1)
    assert np.all(a_count != b_count)
    np.testing.assert_array_equal(y[:, 0], (a_count > b_count).astype(np.float32))


def test_masked_bilstm_beats_chance_and_ignores_padding(tmp_path):
    results = sequences_classification.run(tmp_path, quick=True, epochs=3, train_size=600)
    assert results["accuracy"] > 0.8                   # chance is 0.5
    assert results["masked_padding_change"] < 1e-6     # padding is invisible behind the mask
    assert results["unmasked_padding_change"] > 1e-3   # ... and not without it


# ----- many-to-less: CTC -------------------------------------------------------------------


def test_digit_rows_put_each_digit_in_its_columns():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 28, 28)).astype(np.uint8)
    digits = np.arange(10)
    x, labels = sequences_ctc.digit_rows(images, digits, 6, rng)
    assert x.shape == (6, sequences_ctc.STEPS, sequences_ctc.SIDE)
    small = sequences_ctc.shrink(images)
    side = sequences_ctc.SIDE
    for row, label in zip(x, labels, strict=True):
        used = label[label > 0] - 1
        assert sequences_ctc.MIN_DIGITS <= len(used) <= sequences_ctc.MAX_DIGITS
        for position, digit in enumerate(used):
            np.testing.assert_array_equal(row[position * side:(position + 1) * side].T,
                                          small[digit])
        assert np.all(row[len(used) * side:] == 0)


def toy_ctc_task(count, rng, steps=12, classes=4):
    """Each label symbol (1..classes-1) is shown as 2 steps of its one-hot feature, with 0-2
    empty steps between; the model must read the symbols in order."""
    x = np.zeros((count, steps, classes), dtype=np.float32)
    labels = np.zeros((count, 3), dtype=np.int64)
    for row in range(count):
        length = int(rng.integers(1, 4))
        symbols = rng.integers(1, classes, size=length)
        t = int(rng.integers(0, 2))
        for symbol in symbols:
            x[row, t:t + 2, symbol] = 1.0
            t += 2 + int(rng.integers(1, 3))
        labels[row, :length] = symbols
    return x + 0.1 * rng.standard_normal(x.shape).astype(np.float32), labels


def test_ctc_trained_toy_model_decodes_the_label_sequences():
    from chalknet import losses, ops, optimizers
    from chalknet.layers import LSTM, Bidirectional, Dense
    from chalknet.models import Input, Sequential
    from chalknet.utils import set_random_seed

    set_random_seed(0)
    rng = np.random.default_rng(0)
    x, labels = toy_ctc_task(256, rng)
    x_test, labels_test = toy_ctc_task(100, rng)
    model = Sequential([Input((12, 4)), Bidirectional(LSTM(12, return_sequences=True)),
                        Dense(4)])
    model.compile(optimizer=optimizers.Adam(0.02), loss=losses.CTC())
    model.fit(x, labels, batch_size=32, epochs=25, verbose=0)
    decoded, _ = ops.ctc_decode(model.predict(x_test), np.full(len(x_test), 12))
    read = [[int(c) for c in row if c >= 0] for row in decoded[0]]
    truth = [[int(c) for c in row if c > 0] for row in labels_test]
    assert np.mean([r == t for r, t in zip(read, truth, strict=True)]) >= 0.9


# ----- many-to-many: addition ---------------------------------------------------------------


def test_addition_strings_are_reversed_and_padded():
    questions, answers = sequences_addition.addition_strings([(12, 5), (99, 99)], 2)
    assert questions == [" 5+21", "99+99"]
    assert answers == ["17 ", "198"]


def test_encoder_decoder_addition_beats_the_best_constant_answer():
    _, _, losses, accuracies = sequences_addition.train(
        digits=2, units=48, epochs=4, train_count=3000, test_count=300)
    # The commonest 2-digit sum (99) is 1 % of the pairs: a constant answer gets at most 0.01.
    assert accuracies[-1] > 0.03
    assert losses[-1] < losses[0]
