"""CTC loss, its gradient and the decoders: the reference for ``chalknet.ops.ctc_*``.

Connectionist temporal classification (Graves, Fernandez, Gomez and Schmidhuber, ICML 2006)
trains a network that reads T time steps to emit a shorter label sequence l (a word, a row of
digits) without saying which step emits which label.  At every step the network gives a
probability to each class and to one extra class, the *blank* ("nothing new here")::

    logits  (batch, time, classes)      unnormalised scores u; y = softmax(u) over classes
    labels  (batch, max_label_length)   l, the first label_lengths[b] entries of row b are used

An *alignment* (a path) picks one class per time step; it reads as a label sequence once
repeats are merged and blanks dropped:  "a a - b b - b" -> "a b b" ("-" is the blank; the blank
between the two b's is what keeps them apart).  The probability of the label is the sum over
all its alignments of the product of the y's along the path, and the loss is

    loss = -ln p(l | x) = -ln sum_{paths pi -> l} prod_t y^t_{pi_t}

The sum has exponentially many terms; the forward-backward algorithm computes it in O(T * S).
It runs over the *extended label* l' = (blank, l_1, blank, l_2, ..., blank, l_L, blank) of
length S = 2L + 1: every alignment of l is a walk along l' that, at each step, stays on its
state s, moves to s + 1, or skips the blank to s + 2 when l'_{s+2} is a label different from
l'_s (a skip between equal labels would merge them).

    alpha_t(s): probability of the first t+1 steps of all paths that are at state s at time t
    beta_t(s):  probability of the steps t .. T-1 of all paths that are at state s at time t
                and finish the label (the paper's definition: y^t_{l'_s} is in both)

The numbers shrink like y^T, so everything below works with logarithms: a "*" of the paper
is a "+" here, and a "+" of the paper is ``np.logaddexp``.  The recursions are those of the
paper's section 4.1, with time and states counted from 0 as in Python.

The gradient with respect to the logits (the paper's section 4.2) is

    dL/du^t_k = y^t_k - 1 / (y^t_k p(l|x)) * sum_{s : l'_s = k} alpha_t(s) beta_t(s)

the softmax minus the posterior probability that the path is on class k at time t.

A label that cannot fit in the time steps (it needs one step per label plus one blank between
each pair of equal neighbours) has no alignment: p = 0, the loss is +inf and the gradient 0
(``zero_infinity=True`` reports the loss as 0 instead, as PyTorch's option does).
"""

from __future__ import annotations

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ----- argument checks (shared with chalknet.ops, so both raise the same errors) --------------

def _float_logits(logits, op):
    logits = np.asarray(logits)
    if logits.dtype.kind in "biu":
        logits = logits.astype(np.float32)
    elif logits.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{op}: logits must be float32 or float64 (or integer), "
                        f"got dtype {logits.dtype}")
    if logits.ndim != 3:
        raise ValueError(f"{op}: logits must be 3-D (batch, time, classes), "
                         f"got shape {logits.shape}")
    if logits.shape[2] < 1:
        raise ValueError(f"{op}: logits need at least one class (the blank), "
                         f"got shape {logits.shape}")
    return np.ascontiguousarray(logits)


def _integer_array(values, op, name, ndim, shape_text):
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise TypeError(f"{op}: {name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D {shape_text}, got shape {arr.shape}")
    return arr.astype(np.int64)


def _lengths(values, op, name, batch, limit, limit_text):
    lengths = _integer_array(values, op, name, 1, "(batch,)")
    if lengths.shape != (batch,):
        raise ValueError(f"{op}: {name} must have shape ({batch},), got {lengths.shape}")
    bad = np.flatnonzero((lengths < 0) | (lengths > limit))
    if bad.size:
        b = int(bad[0])
        raise ValueError(f"{op}: {name}[{b}] = {lengths[b]} is outside [0, {limit}] "
                         f"({limit_text})")
    return lengths


def _blank(blank, n_classes, op):
    if not isinstance(blank, (int, np.integer)) or not 0 <= blank < n_classes:
        raise ValueError(f"{op}: blank must be a class index in [0, {n_classes}), got {blank!r}")
    return int(blank)


def check_loss_arguments(
    op: str, labels: np.ndarray, logits: np.ndarray, label_lengths: np.ndarray,
    logit_lengths: np.ndarray, blank: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Validate and convert: (labels int32, logits float, label_lengths int32,
    logit_lengths int32, blank int).  Raises ValueError/TypeError naming ``op``."""
    logits = _float_logits(logits, op)
    batch, time, n_classes = logits.shape
    labels = _integer_array(labels, op, "labels", 2, "(batch, max_label_length)")
    if labels.shape[0] != batch:
        raise ValueError(f"{op}: labels must have {batch} rows (the batch of logits "
                         f"{logits.shape}), got shape {labels.shape}")
    label_lengths = _lengths(label_lengths, op, "label_lengths", batch, labels.shape[1],
                             "the width of labels")
    logit_lengths = _lengths(logit_lengths, op, "logit_lengths", batch, time,
                             "the time axis of logits")
    blank = _blank(blank, n_classes, op)
    used = np.arange(labels.shape[1]) < label_lengths[:, None]
    bad = np.argwhere(used & ((labels < 0) | (labels >= n_classes) | (labels == blank)))
    if bad.size:
        b, i = (int(v) for v in bad[0])
        raise ValueError(f"{op}: labels[{b}, {i}] = {labels[b, i]} must be a class in "
                         f"[0, {n_classes}) other than the blank ({blank})")
    labels = np.where(used, labels, 0).astype(np.int32)     # padding is never read
    return (labels, logits, label_lengths.astype(np.int32), logit_lengths.astype(np.int32),
            blank)


def check_decode_arguments(
    op: str, logits: np.ndarray, logit_lengths: np.ndarray, greedy: bool, beam_width: int,
    top_paths: int, blank: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate and convert: (logits float, logit_lengths int32, blank int)."""
    logits = _float_logits(logits, op)
    batch, time, n_classes = logits.shape
    logit_lengths = _lengths(logit_lengths, op, "logit_lengths", batch, time,
                             "the time axis of logits")
    blank = _blank(blank, n_classes, op)
    for name, value in (("beam_width", beam_width), ("top_paths", top_paths)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if greedy and top_paths != 1:
        raise ValueError(f"{op}: greedy decoding finds one path, got top_paths={top_paths}")
    if not greedy and not 1 <= top_paths <= beam_width:
        raise ValueError(f"{op}: need 1 <= top_paths <= beam_width, got top_paths={top_paths}, "
                         f"beam_width={beam_width}")
    return logits, logit_lengths.astype(np.int32), blank


# ----- the loss and its gradient ---------------------------------------------------------------

def log_softmax(u):
    """ln y = u - ln sum_k e^{u_k}, along the last axis (shifted by the max: no overflow)."""
    shifted = u - u.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def extended_label(label, blank):
    """l' = (blank, l_1, blank, l_2, ..., l_L, blank): a blank before, between and after."""
    ext = np.full(2 * len(label) + 1, blank, dtype=np.int64)
    ext[1::2] = label
    return ext


def can_skip(ext, s, blank):
    """A path may go from l'_{s-2} straight to l'_s only onto a label different from l'_{s-2}
    (skipping the blank between two equal labels would merge them into one)."""
    return s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]


def forward_variables(log_y, ext, blank):
    """ln alpha (T, S), the forward variables.

    alpha_0(0) = y^0_blank,  alpha_0(1) = y^0_{l_1},  alpha_0(s) = 0 for s > 1
    alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) [+ alpha_{t-1}(s-2) if can_skip]) * y^t_{l'_s}
    """
    time, n_states = log_y.shape[0], len(ext)
    log_alpha = np.full((time, n_states), -np.inf)
    log_alpha[0, 0] = log_y[0, blank]
    if n_states > 1:
        log_alpha[0, 1] = log_y[0, ext[1]]
    for t in range(1, time):
        for s in range(n_states):
            total = log_alpha[t - 1, s]                                  # stay on s
            if s >= 1:
                total = np.logaddexp(total, log_alpha[t - 1, s - 1])     # come from s - 1
            if can_skip(ext, s, blank):
                total = np.logaddexp(total, log_alpha[t - 1, s - 2])     # skip a blank
            log_alpha[t, s] = total + log_y[t, ext[s]]
    return log_alpha


def backward_variables(log_y, ext, blank):
    """ln beta (T, S), the backward variables: the mirror image of alpha.

    beta_{T-1}(S-1) = y^{T-1}_blank,  beta_{T-1}(S-2) = y^{T-1}_{l_L},  0 elsewhere
    beta_t(s) = (beta_{t+1}(s) + beta_{t+1}(s+1) [+ beta_{t+1}(s+2) if can_skip(s+2)]) * y^t_{l'_s}
    """
    time, n_states = log_y.shape[0], len(ext)
    log_beta = np.full((time, n_states), -np.inf)
    log_beta[time - 1, n_states - 1] = log_y[time - 1, blank]
    if n_states > 1:
        log_beta[time - 1, n_states - 2] = log_y[time - 1, ext[n_states - 2]]
    for t in range(time - 2, -1, -1):
        for s in range(n_states):
            total = log_beta[t + 1, s]
            if s + 1 < n_states:
                total = np.logaddexp(total, log_beta[t + 1, s + 1])
            if s + 2 < n_states and can_skip(ext, s + 2, blank):
                total = np.logaddexp(total, log_beta[t + 1, s + 2])
            log_beta[t, s] = total + log_y[t, ext[s]]
    return log_beta


def needed_steps(label):
    """Fewest time steps that can emit ``label``: one per label, one blank between repeats."""
    label = np.asarray(label)
    return len(label) + int(np.sum(label[1:] == label[:-1]))


def ctc_sample_loss_and_gradient(logits, label, blank=0):
    """-ln p(label | logits) and its gradient for one sample: logits (T, classes)."""
    time, n_classes = logits.shape
    d_logits = np.zeros((time, n_classes))
    if needed_steps(label) > time:
        return np.inf, d_logits                     # no alignment at all: p = 0
    if time == 0:
        return 0.0, d_logits                        # the empty label in no time: p = 1
    log_y = log_softmax(logits.astype(np.float64))
    ext = extended_label(label, blank)
    log_alpha = forward_variables(log_y, ext, blank)
    log_beta = backward_variables(log_y, ext, blank)
    # p(l|x) = alpha_{T-1}(S-1) + alpha_{T-1}(S-2): paths end on the final blank or last label
    log_p = log_alpha[-1, -1] if len(ext) == 1 else np.logaddexp(log_alpha[-1, -1],
                                                                 log_alpha[-1, -2])
    if log_p == -np.inf:
        return np.inf, d_logits
    # the gradient: posterior of being on class k at time t, summed over the states s with l'_s = k;
    # alpha_t(s) beta_t(s) counts y^t_{l'_s} twice, hence the division by it (minus its log)
    posterior = np.zeros((time, n_classes))
    for s, k in enumerate(ext):
        log_term = log_alpha[:, s] + log_beta[:, s] - log_y[:, k] - log_p
        # a class of probability 0 (a -inf logit) is on no path: 0, not -inf - (-inf) = NaN
        posterior[:, k] += np.exp(np.where(np.isneginf(log_y[:, k]), -np.inf, log_term))
    d_logits[:] = np.exp(log_y) - posterior
    return -log_p, d_logits


def ctc_loss_and_gradient(labels, logits, label_lengths, logit_lengths, blank=0,
                          zero_infinity=False):
    """Per-sample losses (batch,) and d_logits (batch, time, classes), the gradient of each
    sample's loss with respect to its logits (zero past its logit length).  Both in the dtype
    of logits.  See the module docstring for the math."""
    labels, logits, label_lengths, logit_lengths, blank = check_loss_arguments(
        "reference.ctc_loss_and_gradient", labels, logits, label_lengths, logit_lengths, blank)
    losses = np.zeros(logits.shape[0])
    d_logits = np.zeros(logits.shape)
    for b in range(logits.shape[0]):
        time = logit_lengths[b]
        label = labels[b, :label_lengths[b]]
        losses[b], d_logits[b, :time] = ctc_sample_loss_and_gradient(logits[b, :time], label,
                                                                     blank)
    if zero_infinity:
        losses[np.isinf(losses)] = 0.0
    return losses.astype(logits.dtype), d_logits.astype(logits.dtype)


def ctc_loss(labels, logits, label_lengths, logit_lengths, blank=0, zero_infinity=False):
    """Per-sample CTC losses -ln p(labels[b] | logits[b]), shape (batch,)."""
    return ctc_loss_and_gradient(labels, logits, label_lengths, logit_lengths, blank,
                                 zero_infinity)[0]


# ----- decoding --------------------------------------------------------------------------------

def greedy_path(logits, blank=0):
    """Best path decoding of one sample (T, classes): the most probable class at each step
    (the first on ties), repeats merged, blanks dropped.  Returns (labels, ln p(best path))."""
    if logits.shape[0] == 0:
        return np.zeros(0, dtype=np.int32), 0.0
    log_y = log_softmax(logits.astype(np.float64))
    best = np.argmax(log_y, axis=1)
    new = np.ones(len(best), dtype=bool)
    new[1:] = best[1:] != best[:-1]                 # merge repeats ...
    labels = best[new & (best != blank)]            # ... then drop blanks
    return labels.astype(np.int32), float(log_y.max(axis=1).sum())


def _accumulate(beams, prefix, log_blank=-np.inf, log_label=-np.inf):
    """Add probability (in logs) to a prefix's two halves, creating the prefix if new."""
    old_blank, old_label = beams.get(prefix, (-np.inf, -np.inf))
    beams[prefix] = (np.logaddexp(old_blank, log_blank), np.logaddexp(old_label, log_label))


def prefix_beam_search(logits, beam_width=100, top_paths=1, blank=0):
    """Prefix beam search of one sample (T, classes) (Hannun, Maas, Jurafsky and Ng, "First-pass
    large vocabulary continuous speech recognition using bi-directional recurrent DNNs", 2014;
    Graves, "Supervised Sequence Labelling with Recurrent Neural Networks", 2012, ch. 7).

    Keeps the ``beam_width`` most probable label prefixes.  Each prefix carries two
    probabilities: of its alignments so far that end in a blank (p_blank) and of those that
    end in its last label (p_label), because the two extend differently: the same label again
    after a blank starts a new label, without the blank it merges with the last one.
    Returns the ``top_paths`` best as [(labels, ln p(labels))], best first; ties are broken by
    the prefixes' order (as tuples), so the result is deterministic."""
    log_y = log_softmax(logits.astype(np.float64))
    beams = {(): (0.0, -np.inf)}                    # prefix -> (ln p_blank, ln p_label)
    for t in range(log_y.shape[0]):
        following = {}
        for prefix, (log_blank, log_label) in beams.items():
            log_total = np.logaddexp(log_blank, log_label)
            for k in range(log_y.shape[1]):
                p = log_y[t, k]
                if k == blank:                      # a blank: the prefix does not change
                    _accumulate(following, prefix, log_blank=log_total + p)
                elif prefix and k == prefix[-1]:
                    # the same label again: merged with the last one, unless a blank came between
                    _accumulate(following, prefix, log_label=log_label + p)
                    _accumulate(following, (*prefix, k), log_label=log_blank + p)
                else:
                    _accumulate(following, (*prefix, k), log_label=log_total + p)
        ranked = sorted(following.items(),
                        key=lambda item: (-np.logaddexp(*item[1]), item[0]))
        beams = dict(ranked[:beam_width])
    ranked = sorted(beams.items(), key=lambda item: (-np.logaddexp(*item[1]), item[0]))
    return [(np.array(prefix, dtype=np.int32), float(np.logaddexp(*scores)))
            for prefix, scores in ranked[:top_paths]]


def pack_decoded(paths_per_sample: list[list[tuple[np.ndarray, float]]],
                 top_paths: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Keras's form: a list of ``top_paths`` int32 arrays (batch, longest), labels left-aligned
    and padded with -1, and log_probabilities (batch, top_paths) (-inf for a missing path)."""
    batch = len(paths_per_sample)
    log_probabilities = np.full((batch, top_paths), -np.inf)
    decoded = []
    for rank in range(top_paths):
        rows = [paths[rank][0] if rank < len(paths) else np.zeros(0, np.int32)
                for paths in paths_per_sample]
        dense = np.full((batch, max([len(r) for r in rows], default=0)), -1, dtype=np.int32)
        for b, row in enumerate(rows):
            dense[b, :len(row)] = row
            if rank < len(paths_per_sample[b]):
                log_probabilities[b, rank] = paths_per_sample[b][rank][1]
        decoded.append(dense)
    return decoded, log_probabilities


def ctc_decode(logits, logit_lengths, greedy=True, beam_width=100, top_paths=1, blank=0):
    """Decode CTC outputs as Keras's ``ctc_decode`` does.

    logits (batch, time, classes), logit_lengths (batch,).  Greedy (best path) or prefix beam
    search.  Returns ``(decoded, log_probabilities)``: decoded is a list of ``top_paths`` int32
    arrays (batch, longest decoded length), labels left-aligned and padded with -1;
    log_probabilities (batch, top_paths) in the dtype of logits: for greedy the log-probability
    of the best path, for beam search the log-probability of the label sequence (summed over
    its alignments kept in the beam).
    """
    logits, logit_lengths, blank = check_decode_arguments(
        "reference.ctc_decode", logits, logit_lengths, greedy, beam_width, top_paths, blank)
    paths = []
    for b in range(logits.shape[0]):
        sample = logits[b, :logit_lengths[b]]
        if greedy:
            paths.append([greedy_path(sample, blank)])
        else:
            paths.append(prefix_beam_search(sample, beam_width, top_paths, blank))
    decoded, log_probabilities = pack_decoded(paths, top_paths)
    return decoded, log_probabilities.astype(logits.dtype)
