"""CTC loss, gradient and decoders: ops (the Cython module) against the NumPy reference, a
brute-force enumeration of every alignment, central finite differences, PyTorch, and decoding
cases worked out by hand.

Tolerances.  Both implementations work in double precision on logs.  ln p is a sum over T
steps of log-sum-exps; each of the T * S cells of alpha (and beta) rounds a value whose size is
bounded by the magnitude of ln p itself, at most T * (2 max|u| + ln C).  So the float64 bound
on a loss is 8 * T * S * eps64 * (1 + T * (2 max|u| + ln C)) (8: the roundings of one
log-sum-exp cell and of the final sum), and the gradient (a softmax minus a posterior, both in
[0, 1]) gets the same bound divided by the size of ln p (the posteriors are exp(ln alpha +
ln beta - ln p), whose error is the error of the exponent).  float32 outputs are the double
results rounded once: add eps32 * |value|, computed against the float32 inputs seen as float64.
"""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chalknet
from chalknet import _ctc, losses, ops, reference
from op_compare import assert_within, central_difference

EPS64 = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)


def log_scale(logits):
    """Bound on |ln p| for any label: T * (2 max|u| + ln C)."""
    _, time, classes = logits.shape
    top = float(np.max(np.abs(logits))) if logits.size else 0.0
    return time * (2 * top + np.log(classes))


def loss_bound(logits, max_label_length, dtype):
    time = logits.shape[1]
    states = 2 * max_label_length + 1
    scale = log_scale(logits)
    bound = 8 * max(time, 1) * states * EPS64 * (1 + scale)
    if dtype == np.float32:
        bound += EPS32 * scale
    return bound


def gradient_bound(logits, max_label_length, dtype):
    time = logits.shape[1]
    states = 2 * max_label_length + 1
    bound = 8 * max(time, 1) * states * EPS64 * (1 + log_scale(logits))
    if dtype == np.float32:
        bound += 2 * EPS32                          # |d_logits| <= 1, rounded once
    return bound


def finite_only(losses, d_logits):
    """Losses with +inf replaced by a marker the comparison reads exactly."""
    return np.where(np.isinf(losses), -1.0, losses), d_logits


# ----- brute force: every path, one by one ------------------------------------------------------

def collapse(path, blank):
    """Merge repeats, then drop blanks: (1, 1, 0, 1, 2, 2) -> (1, 1, 2) with blank 0."""
    merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return tuple(k for k in merged if k != blank)


def brute_force(logits, label, blank):
    """-ln p(label) and its gradient by enumerating all C^T paths of one sample (T, C).

    p = sum over paths that collapse to the label of prod_t y^t_{pi_t};  the gradient of
    -ln p with respect to u^t_k is y^t_k - P(pi_t = k | label), the posterior summed over the
    paths themselves (no alpha, no beta)."""
    time, classes = logits.shape
    y = np.exp(logits - logits.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    total = 0.0
    on_class = np.zeros((time, classes))
    for path in itertools.product(range(classes), repeat=time):
        if collapse(path, blank) != tuple(label):
            continue
        prob = np.prod(y[np.arange(time), path])
        total += prob
        on_class[np.arange(time), path] += prob
    if total == 0.0:
        return np.inf, np.zeros((time, classes))
    return -np.log(total), y - on_class / total


@settings(max_examples=80, deadline=None)
@given(time=st.integers(1, 5), classes=st.integers(2, 3), data=st.data(),
       seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]))
def test_loss_and_gradient_match_brute_force(time, classes, data, seed, dtype):
    blank = data.draw(st.integers(0, classes - 1), label="blank")
    others = [k for k in range(classes) if k != blank]
    label = data.draw(st.lists(st.sampled_from(others), max_size=4), label="label")
    rng = np.random.default_rng(seed)
    logits = (2 * rng.standard_normal((1, time, classes))).astype(dtype)
    want_loss, want_grad = brute_force(logits[0].astype(np.float64), label, blank)
    labels = np.array([label + [0] * (4 - len(label))])
    for name, lib in (("ops", ops), ("reference", reference)):
        losses, d_logits = lib.ctc_loss_and_gradient(labels, logits, [len(label)], [time], blank)
        if np.isinf(want_loss):
            assert losses[0] == np.inf, f"{name}: loss {losses[0]}, want +inf"
            assert not d_logits.any(), f"{name}: an impossible label must give zero gradient"
            continue
        assert_within(f"{name} loss", losses, np.array([want_loss]),
                      loss_bound(logits, len(label), dtype), dtype)
        assert_within(f"{name} d_logits", d_logits, want_grad[None],
                      gradient_bound(logits, len(label), dtype), dtype)


# ----- ops (Cython) against the reference --------------------------------------------------------

@st.composite
def ctc_batches(draw):
    """Random batches with lengths, repeated labels (small alphabets) and impossible labels."""
    batch = draw(st.integers(1, 4))
    time = draw(st.integers(1, 12))
    classes = draw(st.integers(1, 6))
    blank = draw(st.integers(0, classes - 1))
    others = [k for k in range(classes) if k != blank]
    width = draw(st.integers(0, 6)) if others else 0
    label_lengths = [draw(st.integers(0, width)) for _ in range(batch)]
    logit_lengths = [draw(st.integers(0, time)) for _ in range(batch)]
    labels = np.full((batch, width), -1)                     # padding the ops never read
    for b, length in enumerate(label_lengths):
        labels[b, :length] = [draw(st.sampled_from(others)) for _ in range(length)]
    seed = draw(st.integers(0, 2**16))
    scale = draw(st.sampled_from([0.1, 1.0, 8.0]))
    logits = scale * np.random.default_rng(seed).standard_normal((batch, time, classes))
    return labels, logits, label_lengths, logit_lengths, blank


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=ctc_batches(), dtype=st.sampled_from([np.float32, np.float64]))
def test_ops_match_reference(case, dtype):
    labels, logits, label_lengths, logit_lengths, blank = case
    logits = logits.astype(dtype)
    got = ops.ctc_loss_and_gradient(labels, logits, label_lengths, logit_lengths, blank)
    want = reference.ctc_loss_and_gradient(labels, logits.astype(np.float64), label_lengths,
                                           logit_lengths, blank)
    assert np.array_equal(np.isinf(got[0]), np.isinf(want[0])), (got[0], want[0])
    np.testing.assert_array_equal(
        ops.ctc_loss(labels, logits, label_lengths, logit_lengths, blank), got[0])
    got, want = finite_only(*got), finite_only(*want)
    assert_within("loss", got[0], want[0], loss_bound(logits, labels.shape[1], dtype), dtype)
    assert_within("d_logits", got[1], want[1], gradient_bound(logits, labels.shape[1], dtype),
                  dtype)


def test_gradient_rows_sum_to_zero_on_long_sharp_sequences():
    """No underflow: T = 300 with logits of size 40 (probabilities down to e^-80 per step) still
    gives a finite loss and gradient rows that sum to zero (softmax minus a posterior, both
    summing to 1), and zero rows past the logit length."""
    rng = np.random.default_rng(3)
    logits = 40 * rng.standard_normal((2, 300, 6))
    labels = rng.integers(1, 6, size=(2, 40))
    losses, d_logits = ops.ctc_loss_and_gradient(labels, logits, [40, 25], [300, 200])
    assert np.all(np.isfinite(losses)) and np.all(losses > 0), losses
    row_sum_bound = 6 * gradient_bound(logits, 40, np.float64)   # 6 entries, each within
    assert np.max(np.abs(d_logits.sum(axis=2))) < row_sum_bound, d_logits.sum(axis=2)
    assert not d_logits[1, 200:].any()


def test_finite_differences_float64():
    """d_logits against central differences of the summed loss.  The loss is -ln p, a
    difference of two log-partition functions of the logits; their third derivatives are
    bounded by 2 (cumulants of a variable in [0, 1]), so the truncation error of a central
    difference with step h is at most h^2 / 6 * 2 * 2; the rounding of the two loss values (the
    loss bound of the module docstring, per sample) adds (their error) / h."""
    rng = np.random.default_rng(11)
    labels = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [2, 0, 0, 0]])
    label_lengths, logit_lengths = [3, 2, 1], [6, 5, 2]
    logits = rng.standard_normal((3, 6, 4))
    step = 1e-4

    def summed_loss():
        return float(ops.ctc_loss(labels, logits, label_lengths, logit_lengths).sum())

    _, d_logits = ops.ctc_loss_and_gradient(labels, logits, label_lengths, logit_lengths)
    numeric = central_difference(summed_loss, logits, step)
    bound = 2 * step**2 / 3 + 3 * loss_bound(logits, 4, np.float64) / step
    assert_within("d_logits vs finite differences", d_logits, numeric, bound, np.float64)


# ----- impossible alignments -------------------------------------------------------------------

@pytest.mark.parametrize("lib", [ops, reference], ids=["ops", "reference"])
def test_impossible_alignments(lib):
    """(1, 1) needs 3 steps (a blank between the equal labels); (1, 2) fits in 2; a label of
    length 3 cannot fit in 2 steps.  Impossible -> +inf and zero gradient; zero_infinity -> 0."""
    logits = np.random.default_rng(0).standard_normal((4, 3, 3))
    labels = np.array([[1, 1, 0], [1, 2, 0], [1, 2, 1], [1, 1, 0]])
    label_lengths, logit_lengths = [2, 2, 3, 2], [2, 2, 2, 3]
    losses, d_logits = lib.ctc_loss_and_gradient(labels, logits, label_lengths, logit_lengths)
    assert losses[0] == np.inf and losses[2] == np.inf
    assert np.isfinite(losses[1]) and np.isfinite(losses[3])
    assert not d_logits[0].any() and not d_logits[2].any()
    assert d_logits[1].any() and d_logits[3].any()
    zeroed = lib.ctc_loss(labels, logits, label_lengths, logit_lengths, zero_infinity=True)
    np.testing.assert_array_equal(zeroed, np.where(np.isinf(losses), 0.0, losses))


@pytest.mark.parametrize("lib", [ops, reference], ids=["ops", "reference"])
def test_empty_label_and_no_time(lib):
    """An empty label over T steps has one path, all blanks: loss = -sum_t ln y^t_blank.  With
    no time steps the empty label has probability 1 (loss 0) and any other label 0 (+inf)."""
    logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.8, 0.1, 0.1]]] * 3))
    losses = lib.ctc_loss(np.array([[0], [0], [1]]), logits, [0, 0, 1], [2, 0, 0])
    np.testing.assert_allclose(losses[0], -np.log(0.5 * 0.8), rtol=4 * EPS64)
    assert losses[1] == 0.0 and losses[2] == np.inf


def test_non_finite_logits_propagate_without_crashing():
    """NaN logits give a NaN loss and gradient for that sample only; a -inf logit is a class of
    probability 0 (here the only label, so the loss is +inf with zero gradient); the decoders
    still return their usual form."""
    logits = np.zeros((3, 4, 3))
    logits[0, 2, 1] = np.nan
    logits[1, :, 2] = -np.inf
    labels = np.array([[1, 2], [2, 2], [1, 2]])
    for lib in (ops, reference):
        with np.errstate(invalid="ignore"):          # NumPy warns about the NaN it carries
            losses, d_logits = lib.ctc_loss_and_gradient(labels, logits, [2, 1, 2], [4, 4, 4])
        assert np.isnan(losses[0]) and np.isnan(d_logits[0]).any()
        assert losses[1] == np.inf and not d_logits[1].any()
        assert np.isfinite(losses[2]) and np.isfinite(d_logits[2]).all()
    for greedy in (True, False):
        decoded, log_probs = ops.ctc_decode(logits, [4, 4, 4], greedy=greedy, beam_width=3)
        assert decoded[0].shape[0] == 3 and log_probs.shape == (3, 1)


def test_hand_computed_loss():
    """T = 2, classes (blank, a), y = (0.6, 0.4) at both steps: the label "a" has the paths
    aa, a-, -a with probability 0.16 + 0.24 + 0.24 = 0.64."""
    logits = np.log(np.array([[[0.6, 0.4], [0.6, 0.4]]]))
    for lib in (ops, reference):
        loss = lib.ctc_loss(np.array([[1]]), logits, [1], [2])
        np.testing.assert_allclose(loss, [-np.log(0.64)], rtol=8 * EPS64)


# ----- decoders ----------------------------------------------------------------------------------

def probability_logits(*rows):
    """Logits whose softmax is exactly the given probability rows (log of the rows)."""
    return np.log(np.array(rows, dtype=np.float64))[None]


@pytest.mark.parametrize("lib", [ops, reference], ids=["ops", "reference"])
def test_greedy_decode_by_hand(lib):
    """Best path 1 1 - 1 2 2 - (blank 0) reads "1 1 2": the repeats merge, the blank keeps the
    two 1's apart.  Each step's best class has probability 0.5: ln p = 7 ln 0.5."""
    best = [1, 1, 0, 1, 2, 2, 0]
    rows = []
    for k in best:
        row = [0.25, 0.25, 0.25]
        row[k] = 0.5
        rows.append(row)
    logits = np.concatenate([probability_logits(*rows), probability_logits(*rows)])
    decoded, log_probs = lib.ctc_decode(logits, [7, 3])
    assert len(decoded) == 1
    np.testing.assert_array_equal(decoded[0], [[1, 1, 2], [1, -1, -1]])
    assert decoded[0].dtype == np.int32 and log_probs.shape == (2, 1)
    np.testing.assert_allclose(log_probs[:, 0], [7 * np.log(0.5), 3 * np.log(0.5)],
                               rtol=16 * EPS64)


@pytest.mark.parametrize("lib", [ops, reference], ids=["ops", "reference"])
def test_beam_search_by_hand(lib):
    """Classes (blank, a), y = (0.6, 0.4) at each of 3 steps.  Greedy picks "---" (empty), but
    summed over alignments:  p("") = 0.6^3 = 0.216;  p("a") = aaa + aa- + -aa + a-- + -a- + --a
    = 0.064 + 0.096 + 0.096 + 0.144 * 3 = 0.688;  p("a a") = a-a = 0.096 (total 1)."""
    logits = probability_logits([0.6, 0.4], [0.6, 0.4], [0.6, 0.4])
    greedy, greedy_log_prob = lib.ctc_decode(logits, [3])
    assert greedy[0].shape == (1, 0)
    np.testing.assert_allclose(greedy_log_prob, [[3 * np.log(0.6)]], rtol=16 * EPS64)
    decoded, log_probs = lib.ctc_decode(logits, [3], greedy=False, beam_width=10, top_paths=3)
    np.testing.assert_array_equal(decoded[0], [[1]])
    np.testing.assert_array_equal(decoded[1], np.zeros((1, 0)))
    np.testing.assert_array_equal(decoded[2], [[1, 1]])
    np.testing.assert_allclose(log_probs, np.log([[0.688, 0.216, 0.096]]), rtol=16 * EPS64)


@pytest.mark.parametrize("lib", [ops, reference], ids=["ops", "reference"])
def test_beam_search_fewer_labellings_than_paths(lib):
    """One step of (blank, a): only "" and "a" exist; the third path is padding with -inf."""
    decoded, log_probs = lib.ctc_decode(probability_logits([0.3, 0.7]), [1], greedy=False,
                                        beam_width=4, top_paths=3)
    np.testing.assert_array_equal(decoded[0], [[1]])
    assert decoded[2].shape == (1, 0)
    np.testing.assert_allclose(log_probs[0, :2], np.log([0.7, 0.3]), rtol=16 * EPS64)
    assert log_probs[0, 2] == -np.inf


@settings(max_examples=40, deadline=None)
@given(case=ctc_batches(), beam_width=st.integers(1, 6), dtype=st.sampled_from([np.float32,
                                                                                np.float64]))
def test_decoders_match_reference(case, beam_width, dtype):
    _, logits, _, logit_lengths, blank = case
    logits = logits.astype(dtype)
    top_paths = min(2, beam_width)
    for greedy, paths in ((True, 1), (False, top_paths)):
        got_decoded, got_log_probs = ops.ctc_decode(logits, logit_lengths, greedy, beam_width,
                                                    paths, blank)
        want_decoded, want_log_probs = reference.ctc_decode(logits, logit_lengths, greedy,
                                                            beam_width, paths, blank)
        assert len(got_decoded) == len(want_decoded) == paths
        for rank, (got, want) in enumerate(zip(got_decoded, want_decoded, strict=True)):
            np.testing.assert_array_equal(got, want, err_msg=f"greedy={greedy} path {rank}")
        finite = np.isfinite(want_log_probs)
        assert np.array_equal(np.isfinite(got_log_probs), finite)
        assert_within("log_probabilities", np.where(finite, got_log_probs, 0),
                      np.where(finite, want_log_probs, 0),
                      loss_bound(logits, logits.shape[1], dtype), dtype)


def test_beam_ties_are_broken_by_prefix_order():
    """Uniform logits make many prefixes exactly equally probable; both implementations keep
    the lexicographically first ones, so they agree exactly where a sort by score alone would
    be arbitrary.  By hand for 1 step of 3 classes (blank 0): "", "1", "2" each 1/3."""
    for lib in (ops, reference):
        decoded, log_probs = lib.ctc_decode(np.zeros((1, 1, 3)), [1], greedy=False,
                                            beam_width=2, top_paths=2)
        assert decoded[0].shape == (1, 0)
        np.testing.assert_array_equal(decoded[1], [[1]])
        np.testing.assert_allclose(log_probs, np.log([[1 / 3, 1 / 3]]), rtol=16 * EPS64)
    logits = np.zeros((3, 5, 4))
    got = ops.ctc_decode(logits, [5, 4, 2], greedy=False, beam_width=3, top_paths=3)
    want = reference.ctc_decode(logits, [5, 4, 2], greedy=False, beam_width=3, top_paths=3)
    for rank in range(3):
        np.testing.assert_array_equal(got[0][rank], want[0][rank], err_msg=f"path {rank}")
    np.testing.assert_array_equal(got[1], want[1])


@settings(max_examples=30, deadline=None)
@given(time=st.integers(1, 4), classes=st.integers(2, 3), seed=st.integers(0, 2**16))
def test_unpruned_beam_gives_the_ctc_probability(time, classes, seed):
    """With a beam wide enough to keep every prefix, the beam's log-probability of its best
    labelling is exactly -ctc_loss of that labelling."""
    logits = np.random.default_rng(seed).standard_normal((1, time, classes))
    decoded, log_probs = ops.ctc_decode(logits, [time], greedy=False, beam_width=1000)
    label = decoded[0][0][decoded[0][0] >= 0]
    loss = ops.ctc_loss(label[None], logits, [len(label)], [time])
    np.testing.assert_allclose(log_probs[0, 0], -loss[0], rtol=0,
                               atol=loss_bound(logits, time, np.float64))


# ----- PyTorch ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch(dtype):
    """Against torch.nn.functional.ctc_loss (log_softmax first, gradient back to the logits).
    PyTorch runs the recursion in the dtype of its input, so its own rounding, the float64
    bound of the module docstring with that dtype's eps, is added to ours."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional 'bench' extra)")
    rng = np.random.default_rng(5)
    batch, time, classes, width = 6, 20, 7, 6
    logits = (3 * rng.standard_normal((batch, time, classes))).astype(dtype)
    labels = rng.integers(1, classes, size=(batch, width))
    labels[0, :3] = 4                                               # repeats
    label_lengths = np.array([6, 5, 1, 0, 3, 6])
    logit_lengths = np.array([20, 17, 1, 9, 20, 13])
    losses, d_logits = ops.ctc_loss_and_gradient(labels, logits, label_lengths, logit_lengths)

    logits_t = torch.tensor(logits, requires_grad=True)
    log_probs = torch.log_softmax(logits_t, dim=2).transpose(0, 1)  # (T, B, C)
    want = torch.nn.functional.ctc_loss(log_probs, torch.tensor(labels), torch.tensor(
        logit_lengths), torch.tensor(label_lengths), blank=0, reduction="none")
    want.sum().backward()
    torch_eps = EPS32 if dtype == np.float32 else EPS64
    torch_bound = 8 * time * (2 * width + 1) * torch_eps * (1 + log_scale(logits))
    assert_within("loss vs torch", losses, want.detach().double().numpy(),
                  loss_bound(logits, width, dtype) + torch_bound, dtype)
    assert_within("d_logits vs torch", d_logits, logits_t.grad.double().numpy(),
                  gradient_bound(logits, width, dtype) + torch_bound, dtype)


# ----- threads, errors --------------------------------------------------------------------------

def test_same_result_on_any_thread_count(monkeypatch):
    """Samples are independent, so 1 and 2 threads give identical bits (the size threshold
    below which ops stay serial is lowered so that this small case does run in parallel)."""
    monkeypatch.setattr(ops, "_CTC_CELLS_PER_THREAD", 1)
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((9, 15, 5)).astype(np.float32)
    labels = rng.integers(1, 5, size=(9, 4))
    args = (labels, logits, rng.integers(0, 5, 9), rng.integers(0, 16, 9))
    before = chalknet.get_num_threads()
    try:
        chalknet.set_num_threads(1)
        one = ops.ctc_loss_and_gradient(*args)
        chalknet.set_num_threads(2)
        two = ops.ctc_loss_and_gradient(*args)
    finally:
        chalknet.set_num_threads(before)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


GOOD = dict(labels=np.array([[1, 2]]), logits=np.zeros((1, 4, 3)), label_lengths=[2],
            logit_lengths=[4])


@pytest.mark.parametrize("change, error, message", [
    (dict(logits=np.zeros((4, 3))), ValueError, r"logits must be 3-D \(batch, time, classes\), "
                                                r"got shape \(4, 3\)"),
    (dict(logits=np.zeros((1, 4, 3), dtype=np.complex64)), TypeError,
     "logits must be float32 or float64 .* got dtype complex64"),
    (dict(labels=np.array([[1.0, 2.0]])), TypeError, "labels must be an integer array, got "
                                                     "dtype float64"),
    (dict(labels=np.array([[1, 2], [1, 2]])), ValueError,
     r"labels must have 1 rows \(the batch of logits \(1, 4, 3\)\), got shape \(2, 2\)"),
    (dict(labels=np.array([[1, 3]])), ValueError, r"labels\[0, 1\] = 3 must be a class in "
                                                  r"\[0, 3\) other than the blank \(0\)"),
    (dict(labels=np.array([[0, 1]])), ValueError, r"labels\[0, 0\] = 0 .* blank"),
    (dict(label_lengths=[3]), ValueError, r"label_lengths\[0\] = 3 is outside \[0, 2\]"),
    (dict(label_lengths=[1, 1]), ValueError,
     r"label_lengths must have shape \(1,\), got \(2,\)"),
    (dict(logit_lengths=[5]), ValueError, r"logit_lengths\[0\] = 5 is outside \[0, 4\]"),
    (dict(logit_lengths=[-1]), ValueError, r"logit_lengths\[0\] = -1 is outside"),
    (dict(blank=3), ValueError, r"blank must be a class index in \[0, 3\), got 3"),
])
@pytest.mark.parametrize("lib, op", [(ops, "ops"), (reference, "reference")])
def test_loss_errors(lib, op, change, error, message):
    args = {**GOOD, **change}
    with pytest.raises(error, match=f"{op}.ctc_loss_and_gradient: {message}"):
        lib.ctc_loss_and_gradient(**args)
    with pytest.raises(error, match=f"{op}.ctc_loss(_and_gradient)?: {message}"):
        lib.ctc_loss(**args)


@pytest.mark.parametrize("kwargs, message", [
    (dict(greedy=True, top_paths=2), "greedy decoding finds one path, got top_paths=2"),
    (dict(greedy=False, beam_width=2, top_paths=3), r"need 1 <= top_paths <= beam_width"),
    (dict(greedy=False, beam_width=0), r"need 1 <= top_paths <= beam_width"),
    (dict(blank=-1), r"blank must be a class index in \[0, 3\), got -1"),
])
def test_decode_errors(kwargs, message):
    with pytest.raises(ValueError, match=f"ops.ctc_decode: {message}"):
        ops.ctc_decode(np.zeros((1, 4, 3)), [4], **kwargs)
    with pytest.raises(ValueError, match=r"ops\.ctc_decode: logit_lengths must have shape"):
        ops.ctc_decode(np.zeros((1, 4, 3)), [4, 4])
    with pytest.raises(TypeError, match=r"ops\.ctc_decode: beam_width must be an int, got 2\.5"):
        ops.ctc_decode(np.zeros((1, 4, 3)), [4], greedy=False, beam_width=2.5)


def test_the_compiled_module_checks_every_index_itself():
    """A direct call into chalknet._ctc with bad indices raises; it never reads out of bounds."""
    logits = np.zeros((1, 4, 3))
    losses, d_logits = np.empty(1), np.empty((1, 4, 3))
    labels = np.array([[1, 2]], dtype=np.int32)
    ok_lengths = np.array([2], dtype=np.int32), np.array([4], dtype=np.int32)
    bad = [
        (np.array([[1, 7]], dtype=np.int32), *ok_lengths, 0, r"labels\[0, 1\] = 7"),
        (labels, np.array([9], dtype=np.int32), ok_lengths[1], 0, r"label_lengths\[0\] = 9"),
        (labels, ok_lengths[0], np.array([-3], dtype=np.int32), 0, r"logit_lengths\[0\] = -3"),
        (labels, ok_lengths[0], np.array([4, 4], dtype=np.int32), 0, "logit_lengths must have"),
        (labels, *ok_lengths, 5, "blank = 5 is outside"),
    ]
    for bad_labels, label_lengths, logit_lengths, blank, message in bad:
        with pytest.raises(ValueError, match=message):
            _ctc.ctc_loss_and_gradient(losses, d_logits, logits, bad_labels, label_lengths,
                                       logit_lengths, blank, 1)
        with pytest.raises(ValueError, match=message):
            _ctc.ctc_loss(losses, logits, bad_labels, label_lengths, logit_lengths, blank, 1)
    with pytest.raises(ValueError, match=r"losses must have shape \(1,\), got \(2,\)"):
        _ctc.ctc_loss(np.empty(2), logits, labels, *ok_lengths, 0, 1)
    with pytest.raises(ValueError, match="d_logits"):
        _ctc.ctc_loss_and_gradient(losses, np.empty((1, 3, 3)), logits, labels, *ok_lengths,
                                   0, 1)
    for threads in (-5, 2**31 - 1):                 # clamped to [1, batch]
        _ctc.ctc_loss_and_gradient(losses, d_logits, logits, labels, *ok_lengths, 0, threads)
        assert np.isfinite(losses).all()
    with pytest.raises(ValueError, match="logit_lengths"):
        _ctc.beam_decode(logits, np.array([5], dtype=np.int32), 4, 1, 0)
    with pytest.raises(ValueError, match="logit_lengths"):
        _ctc.greedy_decode(np.empty((1, 4), np.int32), np.empty(1, np.int32), np.empty(1),
                           logits, np.array([5], dtype=np.int32), 0, 1)


# ----- the Keras-style loss class ---------------------------------------------------------------

def test_ctc_loss_class_keras_convention():
    """Keras 3's convention: 0 is the blank and the padding, labels = the non-zero entries,
    every time step used; the value is the batch mean.  The hand case of
    test_hand_computed_loss (-ln 0.64) sits in a batch with a second sample."""
    loss = losses.get("ctc")
    assert isinstance(loss, losses.CTC) and isinstance(losses.get("CTC"), losses.CTC)
    first = np.log(np.array([[0.6, 0.4, 1e-300], [0.6, 0.4, 1e-300]]))
    second = np.random.default_rng(4).standard_normal((2, 3))
    y_pred = np.stack([first, second])
    y_true = np.array([[1, 0, 0], [2, 1, 0]])
    want_second = ops.ctc_loss([[2, 1]], second[None], [2], [2])[0]
    np.testing.assert_allclose(loss(y_true, y_pred), (-np.log(0.64) + want_second) / 2,
                               rtol=16 * EPS64)
    _, d_logits = ops.ctc_loss_and_gradient(np.array([[1, 0], [2, 1]]), y_pred, [1, 2], [2, 2])
    np.testing.assert_array_equal(loss.gradient(y_true, y_pred), d_logits / 2)
    assert loss.gradient(y_true, y_pred.astype(np.float32)).dtype == np.float32


def test_ctc_loss_class_gradient_by_finite_differences():
    rng = np.random.default_rng(8)
    y_pred = rng.standard_normal((3, 7, 5))
    y_true = np.array([[1, 1, 4, 0], [2, 0, 0, 0], [3, 4, 1, 2]])
    loss = losses.CTC()
    step = 1e-4
    numeric = central_difference(lambda: loss(y_true, y_pred), y_pred, step)
    bound = 2 * step**2 / 3 + loss_bound(y_pred, 4, np.float64) / step   # batch mean
    assert_within("CTC.gradient vs finite differences", loss.gradient(y_true, y_pred), numeric,
                  bound, np.float64)


@pytest.mark.parametrize("y_true, y_pred, error, message", [
    (np.array([[1, 0, 2]]), np.zeros((1, 5, 3)), ValueError, r"CTC: y_true\[0\] = \[1, 0, 2\] "
                                                             r"has padding \(0\) before a label"),
    (np.array([[1, 3]]), np.zeros((1, 5, 3)), ValueError, r"CTC: labels must be in \[1, 3\)"),
    (np.array([[1, 2]]), np.zeros((5, 3)), ValueError, r"CTC: y_pred must be logits of shape "
                                                       r"\(batch, time, classes\), got shape"),
    (np.array([1, 2]), np.zeros((1, 5, 3)), ValueError, r"CTC: y_true must be labels of shape "
                                                        r"\(batch, max_label_length\)"),
    (np.array([[1.5, 2]]), np.zeros((1, 5, 3)), TypeError, "CTC: y_true must hold integer"),
])
def test_ctc_loss_class_errors(y_true, y_pred, error, message):
    with pytest.raises(error, match=message):
        losses.CTC()(y_true, y_pred)


def test_gradient_descent_on_free_logits_learns_the_labels():
    """End to end: treat the logits themselves as parameters, step against losses.CTC's
    gradient, and the greedy decoder then reads the labels back, repeats and all (the blank
    between the two 3's must be learned).  Plain gradient descent (step 3 times the batch-mean
    gradient, seeded start): every step lowers the loss, and it ends below 5% of where it began."""
    rng = np.random.default_rng(12)
    y_true = np.array([[3, 3, 1, 0], [2, 4, 2, 4], [1, 0, 0, 0]])
    logits = 0.1 * rng.standard_normal((3, 10, 5))
    loss = losses.CTC()
    history = []
    for _ in range(150):
        history.append(loss(y_true, logits))
        logits -= 3.0 * loss.gradient(y_true, logits)
    assert all(later <= earlier for earlier, later in itertools.pairwise(history))
    assert history[-1] < 0.05 * history[0], history[::30]
    decoded, _ = ops.ctc_decode(logits, [10, 10, 10])
    np.testing.assert_array_equal(decoded[0], [[3, 3, 1, -1], [2, 4, 2, 4], [1, -1, -1, -1]])
