"""Optimizers: each update against the textbook formula worked out here by hand, element by
element in plain Python floats (not through chalknet's functions), over several steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chalknet import optimizers
from chalknet.optimizers.schedules import ExponentialDecay

W0 = [0.5, -1.0, 2.0]
GRADS = [[0.1, -0.2, 0.3], [0.4, 0.0, -0.5], [-0.3, 0.2, 0.1]]  # one gradient per step


def run(optimizer, steps=3, w0=W0, grads=GRADS, dtype=np.float64):
    w = np.array(w0, dtype=dtype)
    for g in grads[:steps]:
        optimizer.apply_gradients([(np.array(g, dtype=dtype), w)])
    return w


def hand(rule, w0=W0, grads=GRADS):
    """Apply ``rule(w, g, state, t) -> (w, state)`` to each element separately, t = 1, 2, ..."""
    out = []
    for i, w in enumerate(w0):
        state = {}
        for t, g in enumerate(grads, start=1):
            w, state = rule(w, g[i], state, t)
        out.append(w)
    return np.array(out)


def assert_close(got, want, dtype=np.float64):
    # A handful of float operations per step: a few ulps of the values involved.
    bound = 64 * np.finfo(dtype).eps * max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=0, atol=bound)


def test_sgd_plain():
    lr = 0.1
    assert_close(run(optimizers.SGD(learning_rate=lr)),
                 hand(lambda w, g, s, t: (w - lr * g, s)))


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    lr, mu = 0.1, 0.9

    def rule(w, g, s, t):
        v = mu * s.get("v", 0.0) - lr * g  # Sutskever et al. (2013), eqs. (1)-(4)
        w = w + (mu * v - lr * g if nesterov else v)
        return w, {"v": v}

    got = run(optimizers.SGD(learning_rate=lr, momentum=mu, nesterov=nesterov))
    assert_close(got, hand(rule))


def test_sgd_momentum_first_steps_by_hand():
    # w = 1, g = 1 twice, lr = 0.1, momentum 0.5: v1 = -0.1, w1 = 0.9; v2 = -0.15, w2 = 0.75.
    w = np.array([1.0])
    sgd = optimizers.SGD(learning_rate=0.1, momentum=0.5)
    sgd.apply_gradients([(np.array([1.0]), w)])
    assert w[0] == pytest.approx(0.9, abs=1e-15)
    sgd.apply_gradients([(np.array([1.0]), w)])
    assert w[0] == pytest.approx(0.75, abs=1e-15)


def test_adagrad():
    lr, eps, init = 0.5, 1e-7, 0.1

    def rule(w, g, s, t):
        acc = s.get("acc", init) + g * g  # Duchi et al. (2011): sum of squared gradients
        return w - lr * g / math.sqrt(acc + eps), {"acc": acc}

    assert_close(run(optimizers.Adagrad(learning_rate=lr)), hand(rule))


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.5, False), (0.0, True),
                                               (0.5, True)])
def test_rmsprop(momentum, centered):
    lr, rho, eps = 0.01, 0.9, 1e-7

    def rule(w, g, s, t):
        ms = rho * s.get("ms", 0.0) + (1 - rho) * g * g  # mean square E[g^2]
        mg = rho * s.get("mg", 0.0) + (1 - rho) * g  # mean gradient E[g] (centered only)
        denom = ms - mg * mg + eps if centered else ms + eps
        step = lr * g / math.sqrt(denom)
        if momentum:
            step = momentum * s.get("step", 0.0) + step
        return w - step, {"ms": ms, "mg": mg, "step": step}

    got = run(optimizers.RMSprop(learning_rate=lr, momentum=momentum, centered=centered))
    assert_close(got, hand(rule))


def adam_rule(lr, b1, b2, eps, weight_decay=0.0, amsgrad=False):
    def rule(w, g, s, t):
        w = w - lr * weight_decay * w  # AdamW: decay first, on the weight itself
        m = b1 * s.get("m", 0.0) + (1 - b1) * g
        v = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        v_used = max(s.get("vmax", 0.0), v) if amsgrad else v
        # Kingma & Ba (2015), Section 2: alpha_t = alpha sqrt(1 - b2^t) / (1 - b1^t)
        alpha_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        return w - alpha_t * m / (math.sqrt(v_used) + eps), {"m": m, "v": v, "vmax": v_used}
    return rule


def test_adam():
    got = run(optimizers.Adam(learning_rate=0.01))
    assert_close(got, hand(adam_rule(0.01, 0.9, 0.999, 1e-7)))


def test_adam_first_step_is_lr_times_sign():
    # After one step m_hat = g and v_hat = g^2, so the step is lr * g / |g| (up to epsilon).
    w = np.array([1.0, 1.0])
    optimizers.Adam(learning_rate=0.1, epsilon=0.0).apply_gradients([(np.array([3.0, -0.2]), w)])
    np.testing.assert_allclose(w, [0.9, 1.1], rtol=0, atol=1e-15)


def test_adam_amsgrad():
    got = run(optimizers.Adam(learning_rate=0.01, amsgrad=True))
    assert_close(got, hand(adam_rule(0.01, 0.9, 0.999, 1e-7, amsgrad=True)))


def test_adamw():
    got = run(optimizers.AdamW(learning_rate=0.01, weight_decay=0.1))
    assert_close(got, hand(adam_rule(0.01, 0.9, 0.999, 1e-7, weight_decay=0.1)))


def test_adam_float32_in_place():
    w = np.array(W0, dtype=np.float32)
    same = w
    optimizers.Adam(learning_rate=0.01).apply_gradients([(np.array(GRADS[0]), w)])
    assert w is same and w.dtype == np.float32
    want = hand(adam_rule(0.01, 0.9, 0.999, 1e-7), grads=GRADS[:1])
    assert_close(w, want, dtype=np.float32)


def test_keras_defaults():
    assert optimizers.SGD().learning_rate == 0.01
    assert optimizers.SGD().momentum == 0.0 and optimizers.SGD().nesterov is False
    adam = optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999,
                                                                           1e-7)
    rms = optimizers.RMSprop()
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon) == (0.001, 0.9, 0.0, 1e-7)
    ada = optimizers.Adagrad()
    assert (ada.learning_rate, ada.initial_accumulator_value) == (0.001, 0.1)
    assert optimizers.AdamW().weight_decay == 0.004


@pytest.mark.parametrize("alias,cls", [("sgd", optimizers.SGD), ("adam", optimizers.Adam),
                                       ("rmsprop", optimizers.RMSprop),
                                       ("adagrad", optimizers.Adagrad),
                                       ("adamw", optimizers.AdamW), ("Adam", optimizers.Adam)])
def test_string_aliases(alias, cls):
    assert type(optimizers.get(alias)) is cls


def test_get_errors():
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        optimizers.get("adamax")
    with pytest.raises(TypeError, match="optimizer must be"):
        optimizers.get(3)
    opt = optimizers.SGD()
    assert optimizers.get(opt) is opt


def test_clipnorm_each_gradient_separately():
    # g1 = (3, 4) has norm 5 -> scaled to norm 1: (0.6, 0.8); g2 = (0.3,) has norm 0.3 < 1, kept.
    w1, w2 = np.zeros(2), np.zeros(1)
    sgd = optimizers.SGD(learning_rate=1.0, clipnorm=1.0)
    sgd.apply_gradients([(np.array([3.0, 4.0]), w1), (np.array([0.3]), w2)])
    np.testing.assert_allclose(w1, [-0.6, -0.8], atol=1e-15)
    np.testing.assert_allclose(w2, [-0.3], atol=1e-15)


def test_global_clipnorm():
    # Joint norm of (3, 4) and (12,) is 13; everything is scaled by 2/13.
    w1, w2 = np.zeros(2), np.zeros(1)
    sgd = optimizers.SGD(learning_rate=1.0, global_clipnorm=2.0)
    sgd.apply_gradients([(np.array([3.0, 4.0]), w1), (np.array([12.0]), w2)])
    np.testing.assert_allclose(w1, [-6 / 13, -8 / 13], atol=1e-15)
    np.testing.assert_allclose(w2, [-24 / 13], atol=1e-15)


def test_clipvalue():
    w = np.zeros(3)
    optimizers.SGD(learning_rate=1.0, clipvalue=0.5).apply_gradients(
        [(np.array([2.0, -0.1, -3.0]), w)])
    np.testing.assert_allclose(w, [-0.5, 0.1, 0.5], atol=1e-15)


def test_only_one_clipping_option():
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm must be > 0"):
        optimizers.SGD(clipnorm=0.0)


def test_exponential_decay_schedule():
    schedule = ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    assert schedule(0) == 0.1 and schedule(2) == pytest.approx(0.05) and schedule(1) == \
        pytest.approx(0.1 * 0.5**0.5)
    stairs = ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)
    assert stairs(1) == 0.1 and stairs(3) == pytest.approx(0.05)
    # The optimizer evaluates the schedule at its iteration count before each step.
    sgd = optimizers.SGD(learning_rate=schedule)
    w = np.array([0.0])
    lrs = []
    for _ in range(3):
        lrs.append(sgd.learning_rate)
        sgd.apply_gradients([(np.array([1.0]), w)])
    assert w[0] == pytest.approx(-sum(lrs)) and lrs == [schedule(0), schedule(1), schedule(2)]
    with pytest.raises(TypeError, match="cannot be set to a number"):
        sgd.learning_rate = 0.3


def test_callable_learning_rate():
    sgd = optimizers.SGD(learning_rate=lambda step: 1.0 / (step + 1))
    w = np.array([0.0])
    for _ in range(3):
        sgd.apply_gradients([(np.array([1.0]), w)])
    assert w[0] == pytest.approx(-(1 + 1 / 2 + 1 / 3))


def test_learning_rate_settable():
    adam = optimizers.Adam()
    adam.learning_rate = 0.5
    assert adam.learning_rate == 0.5
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        adam.learning_rate = -1


def test_state_in_first_seen_order_and_restorable():
    a, b = np.ones(2), np.ones(3)
    adam = optimizers.Adam(learning_rate=0.1)
    adam.apply_gradients([(np.full(3, 0.5), b), (np.full(2, 0.2), a)])
    assert adam.variables[0] is b and adam.variables[1] is a
    state = adam.get_state()
    assert int(state[0]) == 1 and len(state) == 5
    # A fresh optimizer with the restored state takes exactly the same next step.
    a2, b2 = a.copy(), b.copy()
    twin = optimizers.Adam(learning_rate=0.1)
    twin.set_state([s.copy() for s in state], [b2, a2])
    for opt, (x, y) in ((adam, (a, b)), (twin, (a2, b2))):
        opt.apply_gradients([(np.full(3, -0.3), y), (np.full(2, 0.7), x)])
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)


def test_apply_gradients_checks_shapes():
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for a variable of shape"):
        optimizers.SGD().apply_gradients([(np.zeros(3), np.zeros(2))])


def test_config_round_trip():
    for opt in (optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
                optimizers.Adam(0.002, amsgrad=True),
                optimizers.RMSprop(centered=True), optimizers.AdamW(weight_decay=0.01),
                optimizers.Adam(ExponentialDecay(0.1, 10, 0.9))):
        twin = optimizers.deserialize(optimizers.serialize(opt))
        assert type(twin) is type(opt)
        assert twin.get_config() == opt.get_config()
