"""Sequential and the training loop: real training to stated accuracy, summary, frozen layers,
validation_split, progress output, Ctrl-C, errors."""

from __future__ import annotations

import signal

import numpy as np
import pytest

import chalknet
from chalknet import callbacks, layers, optimizers
from chalknet.utils import set_random_seed

pytestmark = pytest.mark.usefixtures("one_thread")


def mnist_mini_flat():
    (x, y), (x_test, y_test) = chalknet.datasets.mnist_mini.load_data()
    return ((x.reshape(-1, 784).astype(np.float32) / 255, y),
            (x_test.reshape(-1, 784).astype(np.float32) / 255, y_test))


def small_classifier(seed=0, dtype="float32"):
    set_random_seed(seed)
    return chalknet.Sequential([chalknet.Input(shape=(4,)),
                                layers.Dense(8, activation="relu", dtype=dtype),
                                layers.Dense(3, activation="softmax", dtype=dtype)])


def blobs(n=120, seed=1):
    """Three well separated Gaussian blobs in 4-D (labels 0, 1, 2)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=np.float32)
    return (centres[y] + 0.3 * rng.standard_normal((n, 4))).astype(np.float32), y


# ----- real training -----------------------------------------------------------------------------


def test_mlp_reaches_95_percent_on_bundled_digits():
    # 784-128-10, Adam(0.002), batch 32, 4 epochs on the 8,000 bundled training digits.
    # Threshold: >= 95 % on the 2,000 held-out digits (it lands near 95.7 %).
    (x, y), (x_test, y_test) = mnist_mini_flat()
    set_random_seed(0)
    model = chalknet.Sequential([chalknet.Input(shape=(784,)),
                                 layers.Dense(128, activation="relu"),
                                 layers.Dense(10, activation="softmax")])
    model.compile(optimizers.Adam(0.002), "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.95, f"test accuracy {accuracy:.4f} < 0.95"
    predicted = model.predict(x_test).argmax(axis=1)
    assert np.mean(predicted == y_test) == pytest.approx(accuracy, abs=1e-12)


def test_linear_regression_recovers_coefficients():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((512, 3)).astype(np.float32)
    true_w, true_b = np.array([1.5, -2.0, 0.5]), 0.7
    y = (x @ true_w + true_b + 0.01 * rng.standard_normal(512)).reshape(-1, 1)
    set_random_seed(0)
    model = chalknet.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=32, epochs=20, verbose=0)
    kernel, bias = model.get_weights()
    # Noise std 0.01 over 512 samples: the least-squares estimate is within ~1e-3 of the truth.
    np.testing.assert_allclose(kernel.ravel(), true_w, atol=0.01)
    assert bias[0] == pytest.approx(true_b, abs=0.01)


def test_same_seed_same_weights_bit_for_bit():
    x, y = blobs()

    def train():
        model = small_classifier(seed=5)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # shuffled
        return model.get_weights()

    first, second = train(), train()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    third = small_classifier(seed=6).get_weights()
    assert not np.array_equal(first[0], third[0])


# ----- the train step ----------------------------------------------------------------------------


def test_fit_step_equals_hand_written_step():
    # One batch through fit must be: forward, fused softmax-CE gradient, backward, SGD update.
    x, y = blobs(n=16)
    model = small_classifier(dtype="float64")
    twin = small_classifier(dtype="float64")
    model.compile(optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)

    probabilities = twin.predict(x.astype(np.float64))
    one_hot = np.eye(3)[y]
    dense_1, dense_2 = twin.layers
    dz2 = (probabilities - one_hot) / len(x)  # softmax + cross-entropy: dL/dz = (p - y) / n
    h = np.maximum(x @ dense_1.kernel + dense_1.bias, 0)
    d_kernel_2, d_bias_2 = h.T @ dz2, dz2.sum(0)
    dz1 = (dz2 @ dense_2.kernel.T) * (h > 0)
    d_kernel_1, d_bias_1 = x.T @ dz1, dz1.sum(0)
    expected = [w - 0.5 * g for w, g in zip(twin.get_weights(),
                                            [d_kernel_1, d_bias_1, d_kernel_2, d_bias_2],
                                            strict=True)]
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_regularization_enters_loss_and_gradient():
    x, y = blobs(n=32)
    set_random_seed(0)
    model = chalknet.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,),
                                              kernel_regularizer=chalknet.regularizers.L2(0.1),
                                              dtype="float64")])
    model.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    kernel_before = model.layers[0].kernel.copy()
    data_loss = model.loss(y, model.predict(x))
    reported = model.train_on_batch(x, y)
    assert reported == pytest.approx(data_loss + 0.1 * np.sum(kernel_before**2), rel=1e-12)
    # The update used data gradient + 2 * 0.1 * kernel.
    data_gradient = model.layers[0].get_gradients()[0]
    expected = kernel_before - 0.1 * (data_gradient + 0.2 * kernel_before)
    np.testing.assert_allclose(model.layers[0].kernel, expected, rtol=0, atol=1e-12)


def test_input_gradient_matches_finite_differences():
    x, y = blobs(n=5)
    x = x.astype(np.float64)
    model = small_classifier(dtype="float64")
    model.compile("sgd", "sparse_categorical_crossentropy")
    analytic = model.input_gradient(x, y_true=y)
    numeric = np.zeros_like(x)
    step = 1e-6
    for index in np.ndindex(x.shape):
        for sign in (1, -1):
            shifted = x.copy()
            shifted[index] += sign * step
            numeric[index] += sign * model.loss(y, model.predict(shifted)) / (2 * step)
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-7)
    # With an output gradient selecting class 1's score: d(score_1)/dx.
    selector = np.zeros((5, 3))
    selector[:, 1] = 1
    saliency = model.input_gradient(x, selector)
    assert saliency.shape == x.shape


def test_forward_backward_chain_layers():
    x, _ = blobs(n=6)
    model = small_classifier(dtype="float64")
    out = model.forward(x, training=True)
    hidden = model.layers[0].forward(x)
    np.testing.assert_array_equal(out, model.layers[1].forward(hidden))
    dy = np.ones_like(out)
    dx = model.backward(dy)
    assert dx.shape == x.shape
    assert [g.shape for g in model.get_gradients()] == [w.shape for w in model.get_weights()]


# ----- frozen layers (GAN recipe) -----------------------------------------------------------------


def test_frozen_layer_not_updated_and_counted_non_trainable():
    x, y = blobs(n=32)
    model = small_classifier()
    model.layers[0].trainable = False
    model.compile(optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.array_equal(before[2], after[2])
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 27 " in "\n".join(lines)  # 8*3 + 3
    assert "Non-trainable params: 40 " in "\n".join(lines)  # 4*8 + 8


def test_gan_recipe_discriminator_frozen_only_in_combined_model():
    set_random_seed(0)
    generator = chalknet.Sequential([layers.Dense(4, input_shape=(2,))], name="generator")
    discriminator = chalknet.Sequential([layers.Dense(1, activation="sigmoid",
                                                      input_shape=(4,))], name="discriminator")
    discriminator.compile(optimizers.SGD(0.1), "binary_crossentropy")
    discriminator.trainable = False
    gan = chalknet.Sequential([generator, discriminator])
    gan.compile(optimizers.SGD(0.1), "binary_crossentropy")
    noise = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    ones = np.ones((8, 1), dtype=np.float32)

    d_before, g_before = discriminator.get_weights(), generator.get_weights()
    gan.train_on_batch(noise, ones)
    for a, b in zip(d_before, discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # frozen inside the combined model
    assert not np.array_equal(g_before[0], generator.get_weights()[0])

    fake = generator.predict(noise)
    discriminator.train_on_batch(fake, np.zeros((8, 1), dtype=np.float32))
    assert not np.array_equal(d_before[0], discriminator.get_weights()[0])  # compiled trainable


# ----- validation --------------------------------------------------------------------------------


def test_validation_split_holds_out_the_last_samples():
    x, y = blobs(n=50)
    model = small_classifier()
    model.compile(optimizers.SGD(0.0), "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=1, validation_split=0.2, verbose=0)
    last = model.evaluate(x[40:], y[40:], batch_size=8, verbose=0, return_dict=True)
    first = model.evaluate(x[:10], y[:10], batch_size=8, verbose=0, return_dict=True)
    assert history.history["val_loss"] == [last["loss"]]
    assert history.history["val_accuracy"] == [last["accuracy"]]
    assert history.history["val_loss"] != [first["loss"]]
    # The training loss covered only the first 40 samples.
    train = model.evaluate(x[:40], y[:40], batch_size=8, verbose=0)
    assert history.history["loss"][0] == pytest.approx(train[0], rel=1e-6)


def test_validation_data_and_history_keys():
    x, y = blobs(n=40)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, validation_data=(x[:10], y[:10]), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]


def test_evaluate_and_batch_methods_return_forms():
    x, y = blobs(n=20)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}
    assert len(model.train_on_batch(x, y)) == 2
    assert len(model.test_on_batch(x, y)) == 2
    assert model.predict_on_batch(x).shape == (20, 3)
    bare = small_classifier()
    bare.compile("adam", "sparse_categorical_crossentropy")
    assert isinstance(bare.evaluate(x, y, verbose=0), float)


# ----- progress output ---------------------------------------------------------------------------


def test_progress_not_a_terminal_one_line_per_epoch(capsys):
    x, y = blobs(n=40)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("5/5 - ") and " - loss: " in lines[1] and "accuracy: " in lines[1]


def test_verbose_zero_is_silent_and_nan_is_shown(capsys):
    x, y = blobs(n=16)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
    x_nan = x.copy()
    x_nan[0, 0] = np.nan
    model.fit(x_nan, y, epochs=1, verbose=2)
    assert "loss: nan" in capsys.readouterr().out


def test_plain_live_line_without_tqdm(monkeypatch, capsys):
    from chalknet import training

    monkeypatch.setattr(training, "_interactive_stdout", lambda: True)
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)  # as if not installed
    x, y = blobs(n=40)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "\r5/5 " in out and "ETA" in out and out.endswith("\n")


# ----- stopping ----------------------------------------------------------------------------------


def test_stop_training_honoured_after_the_batch():
    x, y = blobs(n=40)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy")

    def stop(batch, logs):
        if batch == 2:
            model.stop_training = True

    history = model.fit(x, y, batch_size=8, epochs=5, verbose=0,
                        callbacks=[callbacks.LambdaCallback(on_train_batch_end=stop)])
    assert model.optimizer.iterations == 3
    assert history.epoch == [0]


def test_ctrl_c_stops_after_current_batch_and_returns_history(capsys):
    x, y = blobs(n=40)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy")

    handler_before = signal.getsignal(signal.SIGINT)

    def interrupt(batch, logs):
        if model.optimizer.iterations == 7:  # epoch 2 (index 1), batch 2 (index 1)
            signal.raise_signal(signal.SIGINT)

    history = model.fit(x, y, batch_size=8, epochs=5, verbose=0,
                        callbacks=[callbacks.LambdaCallback(on_train_batch_end=interrupt)])
    assert history.interrupted is True
    assert history.epoch == [0] and len(history.history["loss"]) == 1
    assert model.optimizer.iterations == 7  # the interrupted batch completed, no more
    assert "interrupted (Ctrl-C) in epoch 2 at batch 2/5" in capsys.readouterr().out
    # The handler in place before fit is back.
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_keyboard_interrupt_exception_mid_batch_is_handled(capsys):
    # Outside the main thread Ctrl-C arrives as an exception; fit stops the same way.
    x, y = blobs(n=40)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy")

    def raise_interrupt(batch, logs):
        if model.optimizer.iterations == 3:
            raise KeyboardInterrupt

    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[
        callbacks.LambdaCallback(on_train_batch_begin=raise_interrupt)])
    assert history.interrupted and history.epoch == [] and model.optimizer.iterations == 3
    assert "in epoch 1 at batch 4/5" in capsys.readouterr().out


def test_second_ctrl_c_leaves_at_once():
    x, y = blobs(n=40)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy")

    def press_twice(batch, logs):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[
            callbacks.LambdaCallback(on_train_batch_end=press_twice)])


# ----- structure and errors ----------------------------------------------------------------------


def test_summary_table_and_counts():
    set_random_seed(0)
    model = chalknet.Sequential(name="mlp")
    model.add(chalknet.Input(shape=(784,)))
    model.add(layers.Dense(128, activation="relu", name="hidden"))
    model.add(layers.Dense(10, activation="softmax", name="out"))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    hidden, out = 784 * 128 + 128, 128 * 10 + 10  # kernel + bias
    assert lines[0] == 'Model: "mlp"'
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text
    assert any(line.split()[:2] == ["hidden", "(Dense)"] and "(None, 128)" in line
               and line.endswith(f"{hidden:,}") for line in lines)
    assert any("(None, 10)" in line and line.endswith(f"{out:,}") for line in lines)
    assert f"Total params: {hidden + out:,} " in text
    assert f"Trainable params: {hidden + out:,} " in text and "Non-trainable params: 0 " in text


def test_input_shape_on_first_layer_builds_and_infers_shapes():
    model = chalknet.Sequential([layers.Flatten(input_shape=(4, 5)), layers.Dense(3)])
    assert model.built and model.output_shape == (None, 3)
    assert model.layers[1].kernel.shape == (20, 3)
    unbuilt = chalknet.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match="has not been built yet"):
        unbuilt.summary()
    unbuilt.predict(np.zeros((2, 7)))
    assert unbuilt.layers[0].kernel.shape == (7, 3)


def test_errors_are_clear():
    model = small_classifier()
    x, y = blobs(n=10)
    with pytest.raises(RuntimeError, match="must be compiled first"):
        model.fit(x, y)
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:5])
    with pytest.raises(ValueError, match=r"expected inputs of shape \(None, 4\)"):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="validation_split must be in"):
        model.fit(x, y, validation_split=1.5)
    with pytest.raises(TypeError, match="expected a chalknet layer"):
        chalknet.Sequential().add("dense")
    with pytest.raises(TypeError, match="functional API is not supported"):
        chalknet.Model(inputs=None, outputs=None)


def test_set_weights_round_trip_and_count_check():
    model = small_classifier()
    weights = [w + 1 for w in model.get_weights()]
    model.set_weights(weights)
    for a, b in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expected 4 arrays, got 3"):
        model.set_weights(weights[:3])


class _MaskFromZeros(layers.Layer):
    """Test-only layer: passes x through and masks the samples whose first feature is 0."""

    def forward(self, x, training=False):
        return np.asarray(x)

    def backward(self, dy):
        return dy

    def compute_mask(self, x, mask):
        return np.asarray(x)[:, 0] != 0


class _UsesMask(layers.Layer):
    """Test-only layer: zeroes the masked samples; records the mask it received."""

    uses_mask = True
    supports_masking = True

    def forward(self, x, training=False, mask=None):
        self.received = mask
        return np.asarray(x) * (1.0 if mask is None else mask[..., None])

    def backward(self, dy):
        return dy


def test_masks_flow_to_layers_that_use_them():
    user = _UsesMask()
    model = chalknet.Sequential([_MaskFromZeros(input_shape=(2,)), user])
    out = model.forward(np.array([[0.0, 1.0], [2.0, 3.0]]))
    np.testing.assert_array_equal(user.received, [False, True])
    np.testing.assert_array_equal(out, [[0.0, 0.0], [2.0, 3.0]])


def test_tqdm_bar_when_interactive(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    from chalknet import training

    monkeypatch.setattr(training, "_interactive_stdout", lambda: True)
    x, y = blobs(n=40)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=1)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "5/5" in text
    assert "loss: " in text and len(history.epoch) == 2


def test_input_shapes():
    assert chalknet.Input(shape=(28, 28, 1)).input_shape == (28, 28, 1)
    assert chalknet.Input(shape=784).input_shape == (784,)
    assert chalknet.Input(shape=(None, 8)).input_shape == (None, 8)  # variable-length sequences
    with pytest.raises(ValueError, match="positive integers or None"):
        chalknet.Input(shape=(0,))
    model = chalknet.Sequential([chalknet.Input(shape=(3,))])
    assert model.layers == []  # as Keras 3, the Input is not a layer of the model
    with pytest.raises(ValueError, match="an Input can only be the first entry"):
        model.add(chalknet.Input(shape=(3,)))


def test_weights_properties_and_get_layer():
    model = small_classifier()
    model.layers[0].trainable = False
    assert model.weights[0] is model.layers[0].kernel  # the arrays themselves
    assert [w.shape for w in model.trainable_weights] == [(8, 3), (3,)]
    assert [w.shape for w in model.non_trainable_weights] == [(4, 8), (8,)]
    assert model.get_layer(index=1) is model.layers[1]
    assert model.get_layer(model.layers[0].name) is model.layers[0]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")


def test_initial_epoch_resumes_the_count():
    x, y = blobs(n=16)
    model = small_classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    seen = []
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0, callbacks=[
        callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))])
    assert seen == [3, 4] and history.epoch == [3, 4] and len(history.history["loss"]) == 2


class _MaskSteps(layers.Layer):
    """Test-only layer for (batch, time, features): masks the steps whose first feature is 0."""

    def forward(self, x, training=False):
        return np.asarray(x)

    def backward(self, dy):
        return dy

    def compute_mask(self, x, mask=None):
        return np.asarray(x)[:, :, 0] != 0


def test_masked_steps_are_left_out_of_loss_and_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2))
    x[0, 2, 0] = x[1, 0, 0] = x[3, 1, 0] = 0.0  # three masked steps
    y = rng.standard_normal((4, 3, 1))
    y[0, 2] = y[1, 0] = y[3, 1] = 1e6  # targets that must not matter
    set_random_seed(0)
    masked = chalknet.Sequential([_MaskSteps(input_shape=(3, 2)),
                                  layers.Dense(1, dtype="float64")])
    set_random_seed(0)
    rows = chalknet.Sequential([layers.Dense(1, input_shape=(2,), dtype="float64")])
    for model in (masked, rows):
        model.compile(optimizers.SGD(0.1), "mse")
    keep = x[:, :, 0] != 0
    loss_masked = masked.train_on_batch(x, y)
    loss_rows = rows.train_on_batch(x[keep], y[keep])  # the 9 real steps as plain samples
    assert loss_masked == pytest.approx(loss_rows, rel=1e-12)
    for a, b in zip(masked.get_weights(), rows.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_mask_passes_through_a_nested_model():
    x = np.ones((2, 3, 2))
    x[1, 0, 0] = 0.0
    user = _UsesMask()
    inner = chalknet.Sequential([_MaskSteps(input_shape=(3, 2))])
    outer = chalknet.Sequential([inner, user])
    outer.forward(x)
    np.testing.assert_array_equal(user.received, x[:, :, 0] != 0)
