"""Every wrong thing a student can type, thrown at every public layer and at Sequential.

Each example builds one layer (fresh, float32) with valid or absurd constructor arguments and
calls it on a valid input changed by one mutation.  Allowed outcomes:

* a ``ValueError``/``TypeError`` whose message names the layer's class;
* a result: then for layout changes (Fortran order, negative strides, read-only) and integer or
  bool input it must equal, bit for bit, what the same layer gives for the plain C-contiguous
  float32 copy of that input; for shape changes (rank, zero-size or resized axes, batch 0) it
  must have the shape ``compute_output_shape`` promises and be finite; for NaN/inf input it
  must have the right shape (where a NaN goes is the op fuzzing's job: tests/test_bad_input.py).

A crash kills the run.  Complex input is never silently cast (the imaginary part would be lost).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chalknet
from chalknet import layers, utils

EXAMPLES = int(os.environ.get("CHALKNET_FUZZ_EXAMPLES_LAYERS", "3000"))
BAD_DTYPES = [np.int32, np.int64, np.uint8, np.bool_, np.complex64, object, "U3"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _normalization(rng):
    layer = layers.Normalization()
    layer.adapt(rng.standard_normal((8, 3)))
    return layer


# name -> (make layer from rng, per-sample input shape, integer input?)
LAYERS = {
    "Dense": (lambda rng: layers.Dense(int(rng.integers(1, 4)), activation="relu"), (3,)),
    "Conv2D": (lambda rng: layers.Conv2D(2, int(rng.integers(1, 4)),
                                         strides=int(rng.integers(1, 3)),
                                         padding=str(rng.choice(["valid", "same"]))), (5, 4, 2)),
    "MaxPooling2D": (lambda rng: layers.MaxPooling2D(int(rng.integers(1, 3))), (4, 5, 2)),
    "AveragePooling2D": (lambda rng: layers.AveragePooling2D(2, padding="same"), (4, 5, 2)),
    "GlobalMaxPooling2D": (lambda rng: layers.GlobalMaxPooling2D(), (3, 3, 2)),
    "GlobalAveragePooling2D": (lambda rng: layers.GlobalAveragePooling2D(), (3, 3, 2)),
    "ZeroPadding2D": (lambda rng: layers.ZeroPadding2D((1, 2)), (3, 3, 2)),
    "SimpleRNN": (lambda rng: layers.SimpleRNN(3, return_sequences=bool(rng.integers(2))), (4, 2)),
    "LSTM": (lambda rng: layers.LSTM(2, return_sequences=bool(rng.integers(2))), (4, 2)),
    "GRU": (lambda rng: layers.GRU(2), (4, 2)),
    "Bidirectional": (lambda rng: layers.Bidirectional(layers.LSTM(2)), (3, 2)),
    "Embedding": (lambda rng: layers.Embedding(10, 3), (4,)),
    "Masking": (lambda rng: layers.Masking(), (4, 2)),
    "RepeatVector": (lambda rng: layers.RepeatVector(3), (2,)),
    "TimeDistributed": (lambda rng: layers.TimeDistributed(layers.Dense(2)), (4, 3)),
    "Dropout": (lambda rng: layers.Dropout(0.5), (3, 2)),
    "Normalization": (_normalization, (3,)),
    "Activation": (lambda rng: layers.Activation(str(rng.choice(["relu", "softmax", "tanh"]))),
                   (4,)),
    "ReLU": (lambda rng: layers.ReLU(), (4,)),
    "LeakyReLU": (lambda rng: layers.LeakyReLU(0.1), (4,)),
    "PReLU": (lambda rng: layers.PReLU(), (4,)),
    "Maxout": (lambda rng: layers.Maxout(2), (4,)),
    "Softmax": (lambda rng: layers.Softmax(), (4,)),
    "Flatten": (lambda rng: layers.Flatten(), (2, 3)),
    "Reshape": (lambda rng: layers.Reshape((3, 2)), (6,)),
}

# Constructor calls no layer may accept silently: each must raise naming the layer, or build a
# layer that then computes something of the right shape.
ABSURD_CONSTRUCTORS = {
    "Dense": [lambda: layers.Dense(-1), lambda: layers.Dense(0), lambda: layers.Dense(2.5),
              lambda: layers.Dense("ten"), lambda: layers.Dense(2, activation="nope")],
    "Conv2D": [lambda: layers.Conv2D(2, 9), lambda: layers.Conv2D(2, 3, strides=0),
               lambda: layers.Conv2D(-2, 3), lambda: layers.Conv2D(2, 0),
               lambda: layers.Conv2D(2, 3, padding="full"), lambda: layers.Conv2D(2, (3, 3, 3)),
               lambda: layers.Conv2D(2, 3, strides=-1),
               lambda: layers.Conv2D(2, 3, dilation_rate=0)],
    "MaxPooling2D": [lambda: layers.MaxPooling2D(9), lambda: layers.MaxPooling2D(0),
                     lambda: layers.MaxPooling2D(2, strides=0), lambda: layers.MaxPooling2D(-2)],
    "AveragePooling2D": [lambda: layers.AveragePooling2D(9), lambda: layers.AveragePooling2D(0),
                         lambda: layers.AveragePooling2D(2, padding="bogus")],
    "SimpleRNN": [lambda: layers.SimpleRNN(-1), lambda: layers.SimpleRNN(0),
                  lambda: layers.SimpleRNN(2, activation="bogus")],
    "LSTM": [lambda: layers.LSTM(-3), lambda: layers.LSTM(0), lambda: layers.LSTM(1.5)],
    "GRU": [lambda: layers.GRU(-3), lambda: layers.GRU(0)],
    "Bidirectional": [lambda: layers.Bidirectional(layers.Dense(2)),
                      lambda: layers.Bidirectional(layers.LSTM(2), merge_mode="bogus")],
    "Embedding": [lambda: layers.Embedding(0, 3), lambda: layers.Embedding(10, -1),
                  lambda: layers.Embedding(-5, 2)],
    "RepeatVector": [lambda: layers.RepeatVector(-1), lambda: layers.RepeatVector(0)],
    "Dropout": [lambda: layers.Dropout(1.5), lambda: layers.Dropout(-0.1),
                lambda: layers.Dropout(1.0), lambda: layers.Dropout("half")],
    "Maxout": [lambda: layers.Maxout(3), lambda: layers.Maxout(0), lambda: layers.Maxout(-2)],
    "Reshape": [lambda: layers.Reshape((5, 5)), lambda: layers.Reshape((-1, -1)),
                lambda: layers.Reshape((0,))],
    "LeakyReLU": [lambda: layers.LeakyReLU("x")],
}


def _valid_input(name, shape, rng, batch):
    if name == "Embedding":
        return rng.integers(0, 10, size=(batch, *shape))
    return rng.standard_normal((batch, *shape)).astype(np.float32)


# ----- mutations of the input: each returns (new input, kind of expectation) ----------------------

def _bad_dtype(x, rng):
    return x.astype(BAD_DTYPES[rng.integers(len(BAD_DTYPES))]), "same_as_float"


def _non_finite(x, rng):
    x = x.astype(np.float32)
    x.reshape(-1)[rng.integers(x.size)] = rng.choice([np.nan, np.inf, -np.inf])
    return x, "shape_only"


def _fortran(x, rng):
    return np.asfortranarray(x), "same_as_float"


def _negative_strides(x, rng):
    return np.flip(x, axis=int(rng.integers(x.ndim))), "same_as_float"


def _read_only(x, rng):
    x = x.copy()
    x.flags.writeable = False
    return x, "same_as_float"


def _wrong_rank(x, rng):
    if rng.integers(2):
        return x[..., None], "shape_and_finite"
    return x.reshape(x.shape[0], -1) if x.ndim > 2 else x.reshape(-1), "shape_and_finite"


def _resize_axis(x, rng):
    shape = list(x.shape)
    axis = int(rng.integers(len(shape)))
    shape[axis] = int(rng.choice([0, max(shape[axis] - 1, 0), shape[axis] + 1, shape[axis] + 6]))
    if x.dtype.kind in "iu":
        return rng.integers(0, 10, size=shape), "shape_and_finite"
    return rng.standard_normal(shape).astype(np.float32), "shape_and_finite"


def _batch_zero(x, rng):
    return x[:0], "shape_and_finite"


def _scalar(x, rng):
    return np.float32(1.5) if rng.integers(2) else [[1, "a"]], "error"


MUTATIONS = [_bad_dtype, _non_finite, _fortran, _negative_strides, _read_only, _wrong_rank,
             _resize_axis, _batch_zero, _scalar]


WRAPPED = {"Bidirectional": ("LSTM",), "TimeDistributed": ("Dense",)}


def _refused_clearly(error, name, what, also=("ops.",)):
    assert isinstance(error, (ValueError, TypeError)), (
        f"{name} after {what} raised {type(error).__name__}: {error}")
    # A wrapper may let the layer it wraps (which sees the input first) say what is wrong.
    names = (name, *WRAPPED.get(name, ()), *also)
    assert any(n in str(error) for n in names), (
        f"{name} after {what}: the error does not name the layer: {error}")


def _run(layer, x):
    try:
        return layer(x), None
    except Exception as error:
        return None, error


def _expected_shape(layer, x_shape):
    return (x_shape[0], *layer.compute_output_shape(tuple(x_shape[1:])))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(sorted(LAYERS)),
       mutation=st.sampled_from(MUTATIONS))
def test_layers_refuse_bad_input_clearly_or_compute_right(seed, name, mutation):
    rng = np.random.default_rng(seed)
    make, shape = LAYERS[name]
    clean = _valid_input(name, shape, rng, int(rng.integers(1, 4)))
    x, expectation = mutation(clean, rng)
    what = f"{mutation.__name__.strip('_')} (input {getattr(x, 'shape', x)!r}, " \
           f"dtype {getattr(x, 'dtype', type(x).__name__)})"
    utils.set_random_seed(seed % 1000)  # same weights and dropout mask for both calls
    layer = make(np.random.default_rng(seed))
    result, error = _run(layer, x)
    if error is not None:
        _refused_clearly(error, name, what)
        return
    assert expectation != "error", f"{name} accepted {what}"
    x = np.asarray(x)
    assert x.dtype.kind in "fiub", f"{name} accepted {what} (a non-real dtype) silently"
    assert result.shape == _expected_shape(layer, x.shape), (
        f"{name} after {what}: output shape {result.shape}, "
        f"compute_output_shape says {_expected_shape(layer, x.shape)}")
    if expectation == "same_as_float":
        utils.set_random_seed(seed % 1000)
        twin = make(np.random.default_rng(seed))
        plain = np.ascontiguousarray(x, dtype=np.int64 if name == "Embedding" else np.float32)
        want = twin(plain)
        assert np.array_equal(result, want, equal_nan=True), (
            f"{name} after {what}: differs from the plain float32 input's result")
    elif expectation == "shape_and_finite":
        assert np.isfinite(result).all(), f"{name} after {what}: non-finite output"


@pytest.mark.parametrize("name", sorted(ABSURD_CONSTRUCTORS))
def test_absurd_hyper_parameters_are_refused_or_work(name):
    make_input = np.random.default_rng(0)
    shape = LAYERS[name][1]
    for construct in ABSURD_CONSTRUCTORS[name]:
        try:
            layer = construct()
            x = _valid_input(name, shape, make_input, 2)
            y = layer(x)
        except (ValueError, TypeError) as error:
            # A constructor error may name the argument instead (the user just typed it).
            _refused_clearly(error, name, "an absurd constructor argument",
                             also=("ops.", "activation"))
            continue
        assert y.shape == _expected_shape(layer, x.shape) and y.size > 0, (
            f"{name}: an absurd argument gave output {y.shape} silently ({layer.get_config()})")


# ----- Sequential.fit / predict / evaluate --------------------------------------------------

def _model():
    utils.set_random_seed(0)
    model = chalknet.Sequential([chalknet.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _labels(n, rng):
    return np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=n)]


TRAINING_CALLS = {
    "x of the wrong width": lambda r: (r.standard_normal((6, 5)), _labels(6, r)),
    "x of the wrong rank": lambda r: (r.standard_normal((6, 4, 1)), _labels(6, r)),
    "y of the wrong width": lambda r: (r.standard_normal((6, 4)), np.ones((6, 2))),
    "x and y batches differ": lambda r: (r.standard_normal((6, 4)), _labels(5, r)),
    "batch 0": lambda r: (np.zeros((0, 4)), np.zeros((0, 3))),
    "complex x": lambda r: (r.standard_normal((6, 4)) * 1j, _labels(6, r)),
    "string y": lambda r: (r.standard_normal((6, 4)), np.array(["a"] * 6)),
    "object x": lambda r: (np.array([[1, "a", None, 2]] * 6, dtype=object), _labels(6, r)),
    "None x": lambda r: (None, _labels(6, r)),
}
TRAINING_WORDS = ("Dense", "fit", "predict", "evaluate", "x", "y", "crossentropy", "Crossentropy",
                  "batch", "samples", "shape", "dtype")


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("case", sorted(TRAINING_CALLS))
def test_sequential_refuses_bad_data_clearly(method, case):
    rng = np.random.default_rng(1)
    x, y = TRAINING_CALLS[case](rng)
    model = _model()
    weights = [w.copy() for w in model.get_weights()]
    call = {"fit": lambda: model.fit(x, y, epochs=1, batch_size=4, verbose=0),
            "evaluate": lambda: model.evaluate(x, y, verbose=0),
            "predict": lambda: model.predict(x, verbose=0)}[method]
    try:
        result = call()
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(word in message for word in TRAINING_WORDS), (
            f"{method} with {case}: the error says neither where nor what: {message}")
        if method == "fit":
            for before, after in zip(weights, model.get_weights(), strict=True):
                assert np.array_equal(before, after), f"fit with {case} changed weights"
        return
    # Accepted: only cases that are in fact fine for this method may get here.
    fine = {"predict": {"y of the wrong width", "x and y batches differ", "string y", "batch 0"},
            "evaluate": set(), "fit": set()}[method]
    assert case in fine, f"{method} accepted {case} and returned {result!r}"
    if case == "batch 0":
        assert np.shape(result) == (0, 3)


def test_fixed_findings():
    """Found by the fuzzing above: Masking and RepeatVector cast complex input silently (and
    text with an error that named no layer); softmax over zero classes raised NumPy's
    'zero-size array to reduction' instead of returning the empty result."""
    for layer in (layers.Masking(), layers.RepeatVector(2)):
        for bad in (np.ones((2, 3, 2) if isinstance(layer, layers.Masking) else (2, 3)) * 1j,
                    [[1, "a"]]):
            with pytest.raises(TypeError, match=type(layer).__name__):
                layer(bad)
    assert layers.Activation("softmax")(np.zeros((2, 0))).shape == (2, 0)
    assert layers.Softmax()(np.zeros((3, 0))).shape == (3, 0)


def test_dense_with_zero_input_features_gives_the_bias():
    """Found by the fuzzing: Dense on (batch, 0) inputs failed in reshape(-1, 0) with NumPy's
    message; with no features the output is the bias (a (0, units) kernel), as in Keras."""
    layer = layers.Dense(2, bias_initializer="ones")
    assert np.array_equal(layer(np.zeros((3, 0))), np.ones((3, 2), dtype=np.float32))
    wrapped = layers.TimeDistributed(layers.Dense(2))
    assert wrapped(np.zeros((3, 4, 0))).shape == (3, 4, 2)


def test_maxout_refuses_zero_features():
    """Found by the fuzzing: Maxout on (batch, 0) failed inside np.argmax (empty groups)."""
    with pytest.raises(ValueError, match="Maxout"):
        layers.Maxout(2)(np.zeros((2, 0)))
