"""Recurrent and sequence layers: float64 gradient checks of every layer (including
Bidirectional, masks, go_backwards, return_state, dropout) and Keras's semantics.

Gradient checks: the loss is L = sum(w * y) over every output (y and, with return_state, the
states), w fixed random, so dL/dy = w; ``backward(w)`` must match central differences of L
over the input and every weight.  Bound: the helper's rounding bound for the loss sum plus a
truncation error step^2/6 * |L'''| (at most 1 per loss term for these smooth activations and
weights of size <= 1).
"""

import numpy as np
import pytest

from chalknet import ops
from chalknet.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Embedding,
    Masking,
    RepeatVector,
    SimpleRNN,
    TimeDistributed,
)
from chalknet.utils import set_random_seed
from op_compare import assert_within, central_difference, central_difference_bound

STEP = 1e-6


def _as_list(y):
    return y if isinstance(y, list) else [y]


def _flatten(outputs):
    """Every array in (possibly nested) lists of outputs."""
    flat = []
    for y in _as_list(outputs):
        flat.extend(_flatten(y) if isinstance(y, list) else [np.asarray(y)])
    return flat


def _like(outputs, rng):
    """Random weights shaped like ``outputs`` (same nesting)."""
    if isinstance(outputs, list):
        return [_like(y, rng) for y in outputs]
    return rng.standard_normal(np.shape(outputs))


def gradient_check(layer, x, seed=0, training=False, wrt_input=True, **forward_kwargs):
    """Compare layer.backward with central differences of L = sum(w * outputs)."""

    def run():
        set_random_seed(seed)  # the same dropout mask on every call
        return layer.forward(x, training=training, **forward_kwargs)

    outputs = run()
    weights = _like(outputs, np.random.default_rng(seed + 1))

    def loss_terms():
        return np.concatenate([(w * y).ravel() for w, y in
                               zip(_flatten(weights), _flatten(run()), strict=True)])

    def loss():
        return float(loss_terms().sum())

    run()
    d_x = layer.backward(weights)
    terms = loss_terms()
    bound = central_difference_bound(terms, STEP) + STEP**2 * terms.size
    if wrt_input:
        assert_within("d_x", d_x, central_difference(loss, x, STEP), bound, np.float64)
    for name, gradient in zip(layer.weight_names, layer.get_gradients(), strict=True):
        numeric = central_difference(loss, getattr(layer, name), STEP)
        assert_within(f"d_{name}", gradient, numeric, bound, np.float64)


def sequence(batch=2, steps=4, features=3, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, steps, features))


MASK = np.array([[True, True, False, True], [True, False, False, False]])
RNN_CLASSES = [SimpleRNN, LSTM, GRU]


@pytest.mark.parametrize("cls", RNN_CLASSES)
@pytest.mark.parametrize("options", [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "go_backwards": True},
    {"use_bias": False, "activation": "relu"},
])
def test_recurrent_layer_gradients(cls, options):
    set_random_seed(1)
    layer = cls(3, dtype="float64", **options)
    gradient_check(layer, sequence())


@pytest.mark.parametrize("cls", RNN_CLASSES)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_recurrent_layer_gradients_with_mask(cls, return_sequences):
    set_random_seed(2)
    layer = cls(3, dtype="float64", return_sequences=return_sequences)
    gradient_check(layer, sequence(), mask=MASK)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_gradients_reach_the_initial_state(cls):
    set_random_seed(3)
    layer = cls(3, dtype="float64", return_sequences=True)
    rng = np.random.default_rng(4)
    initial = [rng.standard_normal((2, 3)) for _ in range(2 if cls is LSTM else 1)]
    gradient_check(layer, sequence(), initial_state=initial)
    weights = np.random.default_rng(1).standard_normal((2, 4, 3))

    def loss_terms():
        return (weights * layer.forward(sequence(), initial_state=initial)).ravel()

    layer.forward(sequence(), initial_state=initial)
    layer.backward(weights)
    terms = loss_terms()
    bound = central_difference_bound(terms, STEP) + STEP**2 * terms.size
    for name, state, gradient in zip(("d_h0", "d_c0")[:len(initial)], initial,
                                     layer.initial_state_gradients, strict=True):
        numeric = central_difference(lambda: float(loss_terms().sum()), state, STEP)
        assert_within(name, gradient, numeric, bound, np.float64)


def test_input_dropout_gradients_use_the_same_mask():
    set_random_seed(5)
    layer = LSTM(3, dtype="float64", dropout=0.4, return_sequences=True)
    gradient_check(layer, sequence(), training=True, seed=9)
    dropped = layer._dropout_mask
    assert dropped.shape == (2, 1, 3) and np.any(dropped == 0)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_gradients(merge_mode, return_sequences):
    set_random_seed(6)
    layer = Bidirectional(LSTM(2, dtype="float64", return_sequences=return_sequences),
                          merge_mode=merge_mode)
    gradient_check(layer, sequence(), mask=MASK)


def test_bidirectional_gradients_with_states():
    set_random_seed(7)
    layer = Bidirectional(GRU(2, dtype="float64", return_state=True, return_sequences=True))
    gradient_check(layer, sequence())


def test_time_distributed_gradients():
    set_random_seed(8)
    layer = TimeDistributed(SimpleRNN(2, dtype="float64"))
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 2))  # (batch, time, inner time, f)
    gradient_check(layer, x)
    assert layer(x).shape == (2, 3, 2)


def test_embedding_gradients_add_up_per_id():
    set_random_seed(9)
    layer = Embedding(5, 3, dtype="float64")
    ids = np.array([[1, 2, 1], [4, 1, 0]])
    gradient_check(layer, ids, wrt_input=False)
    dy = np.ones((2, 3, 3))
    layer.forward(ids)
    assert layer.backward(dy) is None
    np.testing.assert_array_equal(layer.get_gradients()[0][:, 0], [1, 3, 1, 0, 1])


def test_repeat_vector_and_masking_gradients():
    x = np.random.default_rng(2).standard_normal((2, 3))
    gradient_check(RepeatVector(4, dtype="float64"), x)
    padded = sequence()
    padded[0, 2:] = 0.0
    layer = Masking(dtype="float64")
    np.testing.assert_array_equal(layer.compute_mask(padded)[0], [True, True, False, False])
    # The mask is a step function of x: at a padded step (x == mask_value exactly) the output
    # jumps when x moves, so differences are only taken at the real steps; padded steps get
    # a zero gradient, as in Keras.
    weights = np.random.default_rng(3).standard_normal(padded.shape)
    layer.forward(padded)
    d_x = layer.backward(weights)
    np.testing.assert_array_equal(d_x[0, 2:], 0.0)
    np.testing.assert_array_equal(d_x[:, :2], weights[:, :2])  # y = x at real steps
    np.testing.assert_array_equal(d_x[1], weights[1])


# ----- Keras semantics --------------------------------------------------------------------


@pytest.mark.parametrize("cls", RNN_CLASSES)
def test_masked_padding_gives_the_unpadded_result(cls):
    # Masking of padded steps: the final output of a padded sequence is the final output of
    # the same sequence without the padding, and padded steps output zeros.
    set_random_seed(10)
    layer = cls(4, dtype="float64", return_sequences=True)
    x = sequence(1, 6, 3, seed=3)
    short = layer.forward(x[:, :4])
    padded = layer.forward(x, mask=np.array([[1, 1, 1, 1, 0, 0]], bool))
    np.testing.assert_allclose(padded[:, :4], short, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(padded[:, 4:], 0.0)
    layer.return_sequences = False
    final = layer.forward(x, mask=np.array([[1, 1, 1, 1, 0, 0]], bool))
    np.testing.assert_allclose(final, short[:, -1], rtol=0, atol=1e-15)


def test_embedding_mask_zero_drives_the_lstm():
    set_random_seed(11)
    embedding = Embedding(6, 3, mask_zero=True, dtype="float64")
    lstm = LSTM(2, dtype="float64")
    ids = np.array([[3, 5, 0, 0], [2, 0, 0, 0]])
    mask = embedding.compute_mask(ids)
    y = lstm.forward(embedding(ids), mask=mask)
    np.testing.assert_allclose(y[0], lstm.forward(embedding(ids[:1, :2]))[0], atol=1e-15)
    np.testing.assert_allclose(y[1], lstm.forward(embedding(ids[1:, :1]))[0], atol=1e-15)


def test_go_backwards_reads_the_reversed_sequence():
    set_random_seed(12)
    layer = GRU(3, dtype="float64", return_sequences=True, go_backwards=True)
    x = sequence()
    y = layer.forward(x)
    h0 = np.zeros((2, 3))
    want, _, _ = ops.gru(x[:, ::-1], h0, layer.kernel, layer.recurrent_kernel, layer.bias)
    np.testing.assert_array_equal(y, want)


def test_bidirectional_concat_is_forward_then_backward_in_time_order():
    set_random_seed(13)
    layer = Bidirectional(SimpleRNN(2, dtype="float64", return_sequences=True))
    x = sequence()
    y = layer.forward(x)
    forward, backward = layer.forward_layer, layer.backward_layer
    h0 = np.zeros((2, 2))
    want_f, _, _ = ops.simple_rnn(x, h0, forward.kernel, forward.recurrent_kernel, forward.bias)
    want_b, _, _ = ops.simple_rnn(x[:, ::-1], h0, backward.kernel, backward.recurrent_kernel,
                                  backward.bias)
    np.testing.assert_array_equal(y, np.concatenate([want_f, want_b[:, ::-1]], axis=-1))
    assert not np.array_equal(forward.kernel, backward.kernel)  # two sets of weights


def test_weights_layouts_and_initializers_follow_keras():
    set_random_seed(14)
    lstm, gru, rnn = LSTM(5), GRU(5), SimpleRNN(5)
    for layer in (lstm, gru, rnn):
        layer(np.zeros((1, 2, 3), np.float32))
    assert [w.shape for w in lstm.get_weights()] == [(3, 20), (5, 20), (20,)]
    assert [w.shape for w in gru.get_weights()] == [(3, 15), (5, 15), (2, 15)]
    np.testing.assert_array_equal(lstm.bias, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    np.testing.assert_allclose(rnn.recurrent_kernel.T @ rnn.recurrent_kernel, np.eye(5),
                               atol=1e-6)  # orthogonal (float32)
    assert LSTM(5, unit_forget_bias=False).count_params() == 0  # not built yet


def test_output_shapes_and_config_round_trip():
    layer = LSTM(4, return_sequences=True, return_state=True, go_backwards=True, dropout=0.25)
    assert layer.compute_output_shape((7, 3)) == [(7, 4), (4,), (4,)]
    clone = LSTM.from_config(layer.get_config())
    assert clone.get_config() == {**layer.get_config(), "name": clone.name}
    wrapped = Bidirectional(GRU(3, return_sequences=True), merge_mode="sum")
    assert wrapped.compute_output_shape((7, 3)) == (7, 3)
    assert Bidirectional(GRU(3)).compute_output_shape((7, 3)) == (6,)
    again = Bidirectional.from_config(wrapped.get_config())
    assert again.merge_mode == "sum" and isinstance(again.forward_layer, GRU)
    assert TimeDistributed(SimpleRNN(2)).compute_output_shape((5, 4, 3)) == (5, 2)


@pytest.mark.parametrize("make, error, message", [
    (lambda: LSTM(3, stateful=True), ValueError, r"LSTM: stateful=True is not supported"),
    (lambda: GRU(3, recurrent_dropout=0.2), ValueError, r"GRU: recurrent_dropout is not "),
    (lambda: GRU(3, reset_after=False), ValueError, r"GRU: only reset_after=True"),
    (lambda: SimpleRNN(0), ValueError, r"SimpleRNN: units must be a positive integer, got 0"),
    (lambda: LSTM(2, activation="softmax"), ValueError, r"LSTM: activation must be one of"),
    (lambda: LSTM(2, dropout=1.0), ValueError, r"LSTM: dropout must be in \[0, 1\), got 1.0"),
    (lambda: Bidirectional(RepeatVector(2)), TypeError, r"Bidirectional: layer must be a"),
    (lambda: Bidirectional(LSTM(2), merge_mode="max"), ValueError,
     r"Bidirectional: merge_mode must be one of"),
    (lambda: Embedding(0, 2), ValueError, r"Embedding: input_dim must be a positive integer"),
])
def test_constructor_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_call_errors_name_the_layer_and_shapes():
    layer = LSTM(2, name="encoder")
    with pytest.raises(ValueError, match=r"LSTM layer 'encoder': expected inputs \(batch, time, "
                                         r"features\), received shape \(3, 4\)"):
        layer(np.zeros((3, 4)))
    layer(np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"LSTM layer 'encoder': expected 4 features, shape "
                                         r"\(None, None, 4\), received \(1, 2, 5\)"):
        layer(np.zeros((1, 2, 5)))
    with pytest.raises(ValueError, match=r"LSTM layer 'encoder': mask must have shape \(1, 2\)"):
        layer.forward(np.zeros((1, 2, 4)), mask=np.ones((2, 1), bool))
    with pytest.raises(ValueError, match=r"Embedding layer 'ids': ids must be in \[0, 3\), got "
                                         r"values from 0 to 5"):
        Embedding(3, 2, name="ids")(np.array([[0, 5]]))
