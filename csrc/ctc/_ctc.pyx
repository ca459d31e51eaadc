# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""CTC (connectionist temporal classification) loss, its gradient, and the two decoders.

What it computes.  For each sample b of a batch, with logits u (time, classes) and a label
sequence l of length L, the CTC loss is  -ln p(l | x)  where  p(l | x)  sums, over every
alignment (a path of one class per time step that becomes l after merging repeats and dropping
blanks), the product of the softmax probabilities y_k^t = softmax(u^t)_k along the path
(Graves, Fernandez, Gomez and Schmidhuber, "Connectionist Temporal Classification: Labelling
Unsegmented Sequence Data with Recurrent Neural Networks", ICML 2006).  The gradient returned is
the one with respect to the logits u (section 4.2 of the paper):

    dL/du_k^t = y_k^t - 1 / (y_k^t p(l|x)) * sum_{s : l'_s = k} alpha_t(s) beta_t(s)

How.  The sum over alignments is the forward-backward recursion of the paper (section 4.1)
over the extended label l' = (blank, l_1, blank, l_2, ..., l_L, blank) of
length S = 2L + 1, carried out in log space so that no product of probabilities underflows:
a "+" of the paper is a log-sum-exp here, a "*" is a "+".  The work per sample is O(T * S):
alpha is kept whole (T x S), beta only two rows at a time (t + 1 and t), and each gradient row
t is written as soon as beta_t is known.  The arithmetic is in double precision whatever the
dtype of the logits (float32 or float64, a fused type): the recursion sums T * S terms and the
rounding of float32 would show in long sequences.

Layout and threads.  logits and d_logits are C-contiguous (batch, time, classes); one sample is
one contiguous (time, classes) block.  Samples are independent, so the batch is split over
OpenMP threads (prange, dynamic schedule since lengths differ); each thread allocates its own
work space per sample.  Every index is checked by ``_check_arguments`` while the GIL is held,
before the parallel section: no input can make the kernels read or write out of bounds.

Decoding.  ``greedy_decode`` (best path) runs over the batch like the loss; ``beam_decode``
(prefix beam search, Hannun et al. 2014) keeps its prefixes in a trie of C++ containers and
runs one sample at a time with the GIL held, so that running out of memory raises MemoryError
instead of ending the process.

Impossible alignments.  When a label needs more time steps than the sample has (its length
plus one separating blank per pair of equal neighbours), p(l|x) = 0: the loss is +inf and the
gradient is zero for that sample (ops.ctc_loss offers zero_infinity to report 0 instead).
"""

from cython.parallel cimport prange
from libc.math cimport INFINITY, exp, log, log1p
from libc.stdlib cimport free, malloc

cimport cython
from cython.operator cimport dereference as deref
from libcpp.algorithm cimport reverse
from libcpp.algorithm cimport sort as cpp_sort
from libcpp.pair cimport pair
from libcpp.unordered_map cimport unordered_map
from libcpp.vector cimport vector

ctypedef vector[int] Prefix                         # a label sequence

# ln 2 to the last digit NumPy's logaddexp uses (M_LN2 is not in MSVC's math.h by default).
cdef double LN2 = 0.693147180559945309417232121458176568


cdef inline double _log_add(double a, double b) noexcept nogil:
    """ln(e^a + e^b), exact when either is -inf (ln 0); NumPy's logaddexp, step for step, so
    the beam search ranks prefixes exactly as the reference does."""
    if a == b:
        return a + LN2
    if a > b:
        return a + log1p(exp(b - a))
    if a < b:
        return b + log1p(exp(a - b))
    return a + b                                    # a NaN


# A term e^(x - big) below 2^-53 cannot change a sum that is >= 1 (it is under half an ulp), so
# it is skipped without changing a bit of the result: that spares its exp.
cdef double NEGLIGIBLE = -40.0                      # e^-40 = 4e-18 < 2^-53 = 1.1e-16


cdef inline double _log_add3(double a, double b, double c) noexcept nogil:
    """ln(e^a + e^b + e^c) with one log: shift by the largest term so no exp overflows, and
    spend no exp on the largest term (e^0 = 1), on a term that is ln 0 (-inf), nor on a
    negligible one.  NaN in, NaN out."""
    cdef double big, other1, other2
    cdef double total = 1.0
    if a != a or b != b or c != c:
        return a + b + c
    if a >= b and a >= c:
        big, other1, other2 = a, b, c
    elif b >= c:
        big, other1, other2 = b, a, c
    else:
        big, other1, other2 = c, a, b
    if big == -INFINITY:
        return big
    if other1 - big > NEGLIGIBLE:
        total += exp(other1 - big)
    if other2 - big > NEGLIGIBLE:
        total += exp(other2 - big)
    return big + log(total)


cdef inline void _log_softmax_row(const cython.floating* row, double* log_out,
                                  double* prob_out, Py_ssize_t n_classes) noexcept nogil:
    """log_out = ln softmax(u) = u - ln sum_k e^{u_k} (shifted by max(u) first, so no exp
    overflows); prob_out = softmax(u), when not NULL."""
    cdef Py_ssize_t k
    cdef double top = row[0]
    cdef double total = 0.0
    cdef double log_total
    for k in range(1, n_classes):
        if row[k] > top:
            top = row[k]
    for k in range(n_classes):
        log_out[k] = exp(row[k] - top)
        total += log_out[k]
    if prob_out != NULL:
        for k in range(n_classes):
            prob_out[k] = log_out[k] / total
    log_total = top + log(total)
    for k in range(n_classes):
        log_out[k] = row[k] - log_total


cdef inline Py_ssize_t _first_state(Py_ssize_t t, Py_ssize_t time,
                                    Py_ssize_t n_states) noexcept nogil:
    """Lowest state on a complete path at time t: the path still has to reach state S-2 or S-1
    by step T-1, at most two states per step, so s >= S - 2 (T - t)."""
    cdef Py_ssize_t first = n_states - 2 * (time - t)
    return first if first > 0 else 0


cdef inline Py_ssize_t _last_state(Py_ssize_t t, Py_ssize_t n_states) noexcept nogil:
    """Highest state on a path at time t: it started at state 0 or 1, at most two states per
    step, so s <= 2t + 1.  Outside [_first_state, _last_state] alpha_t(s) beta_t(s) = 0, and the
    recursions below neither compute nor read those states."""
    return 2 * t + 1 if 2 * t + 1 < n_states else n_states - 1


cdef inline bint _can_skip(const int* ext, Py_ssize_t s, int blank) noexcept nogil:
    """Whether a path may jump from l'_{s-2} straight to l'_s (the third term of the alpha
    recursion): only onto a label that differs from the previous label, never onto a blank."""
    return s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]


cdef Py_ssize_t _needed_steps(const int* label, Py_ssize_t label_length) noexcept nogil:
    """Fewest time steps that can emit the label: one per label, plus a blank between repeats."""
    cdef Py_ssize_t i
    cdef Py_ssize_t steps = label_length
    for i in range(1, label_length):
        if label[i] == label[i - 1]:
            steps += 1
    return steps


cdef void _forward(double* alpha, const double* log_probs, const int* ext,
                   Py_ssize_t time, Py_ssize_t n_classes, Py_ssize_t n_states,
                   int blank) noexcept nogil:
    """ln alpha_t(s) for all t, s (the forward recursion), alpha stored (time, n_states)."""
    cdef Py_ssize_t t, s, first, last
    cdef const double* prev
    cdef double* cur
    cdef double stay, step, skip
    for s in range(n_states):
        alpha[s] = -INFINITY
    alpha[0] = log_probs[blank]                     # start in the leading blank ...
    if n_states > 1:
        alpha[1] = log_probs[ext[1]]                # ... or on the first label
    for t in range(1, time):
        prev = alpha + (t - 1) * n_states
        cur = alpha + t * n_states
        first, last = _first_state(t, time, n_states), _last_state(t, n_states)
        for s in range(n_states):
            if s < first or s > last:
                cur[s] = -INFINITY
                continue
            stay = prev[s]
            step = prev[s - 1] if s >= 1 else -INFINITY
            skip = prev[s - 2] if _can_skip(ext, s, blank) else -INFINITY
            cur[s] = _log_add3(stay, step, skip) + log_probs[t * n_classes + ext[s]]


cdef void _backward_and_gradient(cython.floating* d_logits, double* beta_next, double* beta_cur,
                                 double* occupancy, const double* alpha,
                                 const double* log_probs, const double* probs, const int* ext,
                                 double log_likelihood,
                                 Py_ssize_t time, Py_ssize_t n_classes, Py_ssize_t n_states,
                                 int blank) noexcept nogil:
    """ln beta_t(s) from t = T-1 down to 0 (beta includes y_t as in the paper), and
    for each t the gradient row:  d_logits[t, k] = y_k^t - occupancy_t(k), where
    occupancy_t(k) = sum_{s : l'_s = k} alpha_t(s) beta_t(s) / (y_k^t p(l|x)) is the posterior
    probability of being on class k at time t (a number in [0, 1], summed in linear space)."""
    cdef Py_ssize_t t, s, k, first, last
    cdef double stay, step, skip, log_posterior
    cdef double* swap
    cdef const double* row
    cdef const double* alpha_row
    for t in range(time - 1, -1, -1):
        row = log_probs + t * n_classes
        alpha_row = alpha + t * n_states
        first, last = _first_state(t, time, n_states), _last_state(t, n_states)
        for s in range(n_states):
            if s < first or s > last:
                beta_cur[s] = -INFINITY
            elif t == time - 1:                       # end on the last label or the final blank
                beta_cur[s] = row[ext[s]] if s >= n_states - 2 else -INFINITY
            else:
                stay = beta_next[s]
                step = beta_next[s + 1] if s + 1 < n_states else -INFINITY
                skip = beta_next[s + 2] if (s + 2 < n_states
                                            and _can_skip(ext, s + 2, blank)) else -INFINITY
                beta_cur[s] = _log_add3(stay, step, skip) + row[ext[s]]
        for k in range(n_classes):
            occupancy[k] = 0.0
        for s in range(first, last + 1):
            # ln of the posterior of state s; below e^-700 (1e-304) it adds nothing that a
            # gradient could show (and exp would soon return subnormals)
            log_posterior = alpha_row[s] + beta_cur[s] - row[ext[s]] - log_likelihood
            if log_posterior > -700.0:
                occupancy[ext[s]] += exp(log_posterior)
        for k in range(n_classes):
            d_logits[t * n_classes + k] = <cython.floating>(probs[t * n_classes + k]
                                                             - occupancy[k])
        swap = beta_next
        beta_next = beta_cur
        beta_cur = swap


cdef int _ctc_one_sample(cython.floating* loss, cython.floating* d_logits,
                         const cython.floating* logits, const int* label,
                         Py_ssize_t time, Py_ssize_t max_time, Py_ssize_t n_classes,
                         Py_ssize_t label_length, int blank) noexcept nogil:
    """Loss and gradient of one sample: logits/d_logits (max_time, n_classes), the first
    ``time`` rows valid; label (label_length,).  d_logits NULL: the loss only (no beta pass).
    Returns 0, or 1 when out of memory."""
    cdef Py_ssize_t n_states = 2 * label_length + 1
    cdef Py_ssize_t t, s, k
    cdef double* work
    cdef double* log_probs
    cdef double* probs
    cdef double* alpha
    cdef int* ext
    cdef double log_likelihood
    if d_logits != NULL:
        for k in range(max_time * n_classes):
            d_logits[k] = 0
    if _needed_steps(label, label_length) > time:
        loss[0] = INFINITY                          # no alignment: p(l|x) = 0, gradient 0
        return 0
    if time == 0:                                   # only the empty label fits no time at all
        loss[0] = 0
        return 0
    # the size is computed in double first, so that no product can wrap around in Py_ssize_t
    if (<double>time * (2 * n_classes + n_states) + 3.0 * n_states + n_classes) * 8.0 > 2.0**62:
        return 1
    work = <double*>malloc((2 * time * n_classes + time * n_states + 2 * n_states + n_classes)
                           * sizeof(double) + n_states * sizeof(int))
    if work == NULL:
        return 1
    log_probs = work
    probs = log_probs + time * n_classes
    alpha = probs + time * n_classes
    ext = <int*>(alpha + time * n_states + 2 * n_states + n_classes)
    for s in range(n_states):                       # l' = blank, l_1, blank, ..., l_L, blank
        ext[s] = label[(s - 1) // 2] if s % 2 == 1 else blank
    for t in range(time):
        _log_softmax_row(logits + t * n_classes, log_probs + t * n_classes,
                         probs + t * n_classes if d_logits != NULL else NULL, n_classes)
    _forward(alpha, log_probs, ext, time, n_classes, n_states, blank)
    # p(l|x) = alpha_{T-1}(S-1) + alpha_{T-1}(S-2): paths end on the final blank or last label
    log_likelihood = alpha[(time - 1) * n_states + n_states - 1]
    if n_states > 1:
        log_likelihood = _log_add(log_likelihood, alpha[(time - 1) * n_states + n_states - 2])
    loss[0] = <cython.floating>(-log_likelihood)
    if log_likelihood == -INFINITY or d_logits == NULL:    # -inf: only with -inf logits
        free(work)
        return 0
    _backward_and_gradient(d_logits, alpha + time * n_states,
                           alpha + time * n_states + n_states,
                           alpha + time * n_states + 2 * n_states,
                           alpha, log_probs, probs, ext, log_likelihood, time, n_classes,
                           n_states, blank)
    free(work)
    return 0


cdef int _sane_threads(int requested, Py_ssize_t batch):
    """Between 1 and min(batch, 256): a direct call asking for a million threads must not make
    the OpenMP runtime abort the process when it fails to create them."""
    cdef Py_ssize_t most = min(batch, 256)
    return <int>max(1, min(<Py_ssize_t>requested, most))


def _check_lengths(name, const int[::1] lengths, Py_ssize_t batch, Py_ssize_t limit,
                   limit_name):
    if lengths.shape[0] != batch:
        raise ValueError(f"_ctc: {name} must have shape ({batch},), got ({lengths.shape[0]},)")
    cdef Py_ssize_t b
    for b in range(batch):
        if lengths[b] < 0 or lengths[b] > limit:
            raise ValueError(f"_ctc: {name}[{b}] = {lengths[b]} is outside [0, {limit}] "
                             f"({limit_name})")


def _check_arguments(Py_ssize_t batch, Py_ssize_t max_time, Py_ssize_t n_classes,
                     const int[:, ::1] labels, const int[::1] label_lengths,
                     const int[::1] logit_lengths, int blank):
    """Every index the kernels will use, checked while the GIL is held."""
    cdef Py_ssize_t b, i
    if n_classes < 1:
        raise ValueError("_ctc: logits need at least one class (the blank)")
    if blank < 0 or blank >= n_classes:
        raise ValueError(f"_ctc: blank = {blank} is outside [0, {n_classes})")
    if labels.shape[0] != batch:
        raise ValueError(f"_ctc: labels must have {batch} rows, got {labels.shape[0]}")
    _check_lengths("label_lengths", label_lengths, batch, labels.shape[1], "labels.shape[1]")
    _check_lengths("logit_lengths", logit_lengths, batch, max_time, "logits.shape[1]")
    for b in range(batch):
        for i in range(label_lengths[b]):
            if labels[b, i] < 0 or labels[b, i] >= n_classes or labels[b, i] == blank:
                raise ValueError(f"_ctc: labels[{b}, {i}] = {labels[b, i]} must be a class in "
                                 f"[0, {n_classes}) other than the blank {blank}")


def ctc_loss_and_gradient(cython.floating[::1] losses, cython.floating[:, :, ::1] d_logits,
                          const cython.floating[:, :, ::1] logits, const int[:, ::1] labels,
                          const int[::1] label_lengths, const int[::1] logit_lengths,
                          int blank, int num_threads):
    """Fill losses (batch,) with -ln p(label | logits) and d_logits (batch, time, classes) with
    its gradient w.r.t. the logits; rows past a sample's logit length get zeros.
    All arrays C-contiguous; logits, losses and d_logits of one float dtype, the rest int32."""
    cdef tuple shape = (logits.shape[0], logits.shape[1], logits.shape[2])
    cdef tuple d_shape = (d_logits.shape[0], d_logits.shape[1], d_logits.shape[2])
    if d_shape != shape:
        raise ValueError(f"_ctc: d_logits must have the shape of logits {shape}, got {d_shape}")
    _loss_over_batch(losses, &d_logits[0, 0, 0] if d_logits.size else NULL, logits, labels,
                     label_lengths, logit_lengths, blank, num_threads)


def ctc_loss(cython.floating[::1] losses, const cython.floating[:, :, ::1] logits,
             const int[:, ::1] labels, const int[::1] label_lengths,
             const int[::1] logit_lengths, int blank, int num_threads):
    """``ctc_loss_and_gradient`` without the gradient: the alpha pass only, half the work."""
    _loss_over_batch(losses, NULL, logits, labels, label_lengths, logit_lengths, blank,
                     num_threads)


cdef _loss_over_batch(cython.floating[::1] losses, cython.floating* d_logits,
                      const cython.floating[:, :, ::1] logits, const int[:, ::1] labels,
                      const int[::1] label_lengths, const int[::1] logit_lengths, int blank,
                      int num_threads):
    """Checks every index, then one sample per OpenMP iteration; d_logits NULL: loss only."""
    cdef Py_ssize_t batch = logits.shape[0]
    cdef Py_ssize_t max_time = logits.shape[1]
    cdef Py_ssize_t n_classes = logits.shape[2]
    cdef Py_ssize_t b
    cdef int failed = 0
    if losses.shape[0] != batch:
        raise ValueError(f"_ctc: losses must have shape ({batch},), got ({losses.shape[0]},)")
    _check_arguments(batch, max_time, n_classes, labels, label_lengths, logit_lengths, blank)
    if batch == 0 or max_time == 0 or n_classes == 0:
        for b in range(batch):
            losses[b] = 0 if label_lengths[b] == 0 else INFINITY
        return
    num_threads = _sane_threads(num_threads, batch)
    for b in prange(batch, nogil=True, schedule="dynamic", num_threads=num_threads):
        failed += _ctc_one_sample(&losses[b],
                                  d_logits + b * max_time * n_classes if d_logits != NULL
                                  else NULL,
                                  &logits[b, 0, 0],
                                  &labels[b, 0] if labels.shape[1] > 0 else <int*>NULL,
                                  logit_lengths[b], max_time, n_classes, label_lengths[b],
                                  blank)
    if failed:
        raise MemoryError("_ctc: out of memory for the CTC work space")


def greedy_decode(int[:, ::1] decoded, int[::1] decoded_lengths,
                  cython.floating[::1] log_probabilities,
                  const cython.floating[:, :, ::1] logits, const int[::1] logit_lengths,
                  int blank, int num_threads):
    """Best path decoding: per time step the most probable class (the first on ties), then
    repeats merged and blanks dropped.  decoded (batch, time) gets the labels left-aligned,
    decoded_lengths their count, log_probabilities the log-probability of the best path,
    sum_t max_k ln y_k^t."""
    cdef Py_ssize_t batch = logits.shape[0]
    cdef Py_ssize_t max_time = logits.shape[1]
    cdef Py_ssize_t n_classes = logits.shape[2]
    cdef Py_ssize_t b
    if (decoded.shape[0] != batch or decoded.shape[1] != max_time
            or decoded_lengths.shape[0] != batch or log_probabilities.shape[0] != batch):
        raise ValueError(f"_ctc: decoded must be ({batch}, {max_time}), decoded_lengths and "
                         f"log_probabilities ({batch},)")
    if n_classes < 1 or blank < 0 or blank >= n_classes:
        raise ValueError(f"_ctc: blank = {blank} is outside [0, {n_classes})")
    _check_lengths("logit_lengths", logit_lengths, batch, max_time, "logits.shape[1]")
    if max_time == 0:
        for b in range(batch):
            decoded_lengths[b] = 0
            log_probabilities[b] = 0
        return
    num_threads = _sane_threads(num_threads, batch)
    for b in prange(batch, nogil=True, schedule="static", num_threads=num_threads):
        _greedy_one_sample(&decoded[b, 0], &decoded_lengths[b], &log_probabilities[b],
                           &logits[b, 0, 0], logit_lengths[b], n_classes, blank)


cdef void _greedy_one_sample(int* decoded, int* decoded_length, cython.floating* log_probability,
                             const cython.floating* logits, Py_ssize_t time,
                             Py_ssize_t n_classes, int blank) noexcept nogil:
    cdef Py_ssize_t t, k
    cdef int best, previous = blank
    cdef int count = 0
    cdef double top, total, path = 0.0
    cdef const cython.floating* row
    for t in range(time):
        row = logits + t * n_classes
        best = 0
        for k in range(1, n_classes):
            if row[k] > row[best]:
                best = <int>k
        top = row[best]
        total = 0.0
        for k in range(n_classes):
            total += exp(row[k] - top)
        path -= log(total)                          # ln y_best = -ln sum_k e^(u_k - u_best)
        if best != blank and best != previous:
            decoded[count] = best
            count += 1
        previous = best
    decoded_length[0] = count
    log_probability[0] = <cython.floating>path


# ----- prefix beam search --------------------------------------------------------------------
# Prefixes live in a trie: node 0 is the empty prefix, every other node one label appended to
# its parent, so a prefix is an int and "prefix + k" is a lookup.  A candidate of the next step
# is either a node already in the trie or, when the prefix is new, its (parent, label) pair; only
# the candidates that survive pruning become nodes, so the trie grows by at most beam_width
# nodes per step.


cdef struct Candidate:
    int node                                        # its trie node, or -1 while new
    int parent                                      # for a new prefix: its parent node ...
    int label                                       # ... and the label appended to it
    double log_blank                                # ln p of its alignments ending in a blank
    double log_label                                # ln p of those ending in its last label


cdef class _Trie:
    cdef vector[int] parent
    cdef vector[int] label
    cdef unordered_map[long long, int] children     # parent * classes + label -> node
    cdef long long n_classes
    # The candidate a node is at the current step: candidate_of[node], valid when
    # candidate_step[node] is the current step (so nothing is cleared between steps).
    cdef vector[Py_ssize_t] candidate_step
    cdef vector[int] candidate_of

    def __cinit__(self, long long n_classes):
        self.n_classes = n_classes
        self._push(-1, -1)                          # node 0: the empty prefix

    cdef void _push(self, int parent, int label) except *:
        self.parent.push_back(parent)
        self.label.push_back(label)
        self.candidate_step.push_back(-1)
        self.candidate_of.push_back(-1)

    cdef int child(self, int node, int k) except -2:
        """The node of prefix(node) + k, or -1 when it is not in the trie yet."""
        it = self.children.find(node * self.n_classes + k)
        return -1 if it == self.children.end() else deref(it).second

    cdef int add(self, int node, int k) except -1:
        self._push(node, k)
        self.children[node * self.n_classes + k] = <int>(self.parent.size() - 1)
        return <int>(self.parent.size() - 1)

    cdef Prefix prefix(self, int node) except *:
        """The labels of a node, first to last."""
        cdef Prefix labels
        while node > 0:
            labels.push_back(self.label[node])
            node = self.parent[node]
        reverse(labels.begin(), labels.end())
        return labels

    cdef Prefix candidate_prefix(self, const Candidate& candidate) except *:
        cdef Prefix labels
        if candidate.node >= 0:
            return self.prefix(candidate.node)
        labels = self.prefix(candidate.parent)
        labels.push_back(candidate.label)
        return labels


cdef void _accumulate(vector[Candidate]& candidates, _Trie trie, Py_ssize_t step, int node,
                      int parent, int label, double log_blank, double log_label) except *:
    """Add probability (in logs) to a candidate's two halves, creating the candidate if new.
    A prefix already in the trie (node >= 0) can be reached twice in one step (staying, and
    extended from its parent); a new one (node = -1) only once, from its parent's one beam
    entry and one class, so it needs no look-up."""
    cdef Candidate fresh
    cdef int index
    if node >= 0 and trie.candidate_step[node] == step:
        index = trie.candidate_of[node]
        candidates[index].log_blank = _log_add(candidates[index].log_blank, log_blank)
        candidates[index].log_label = _log_add(candidates[index].log_label, log_label)
        return
    fresh.node, fresh.parent, fresh.label = node, parent, label
    fresh.log_blank, fresh.log_label = log_blank, log_label
    if node >= 0:
        trie.candidate_step[node] = step
        trie.candidate_of[node] = <int>candidates.size()
    candidates.push_back(fresh)


cdef void _break_ties(vector[pair[double, Py_ssize_t]]& order, vector[Candidate]& candidates,
                      _Trie trie, Py_ssize_t keep) except *:
    """Within each run of exactly equal scores that reaches the kept part, order the candidates
    by their prefixes (lexicographic), as the reference's sort key does."""
    cdef Py_ssize_t start = 0, end, i
    cdef vector[pair[Prefix, Py_ssize_t]] run
    while start < keep and start < <Py_ssize_t>order.size():
        end = start + 1
        while end < <Py_ssize_t>order.size() and order[end].first == order[start].first:
            end += 1
        if end - start > 1:
            run.clear()
            for i in range(start, end):
                run.push_back(pair[Prefix, Py_ssize_t](
                    trie.candidate_prefix(candidates[order[i].second]), order[i].second))
            cpp_sort(run.begin(), run.end())
            for i in range(start, end):
                order[i].second = run[i - start].second
        start = end


cdef vector[Candidate] _prune(vector[Candidate]& candidates, _Trie trie,
                              Py_ssize_t beam_width) except *:
    """The ``beam_width`` most probable candidates, best first (ties by prefix), each given its
    trie node.  A NaN score ranks last, so the sort always sees a strict weak order."""
    cdef vector[pair[double, Py_ssize_t]] order
    cdef vector[Candidate] kept
    cdef Candidate candidate
    cdef double score
    cdef Py_ssize_t i, keep
    for i in range(<Py_ssize_t>candidates.size()):
        score = _log_add(candidates[i].log_blank, candidates[i].log_label)
        order.push_back(pair[double, Py_ssize_t](-score if score == score else INFINITY, i))
    cpp_sort(order.begin(), order.end())
    keep = min(beam_width, <Py_ssize_t>order.size())
    _break_ties(order, candidates, trie, keep)
    for i in range(keep):
        candidate = candidates[order[i].second]
        if candidate.node < 0:
            candidate.node = trie.add(candidate.parent, candidate.label)
        kept.push_back(candidate)
    return kept


cdef list _beam_one_sample(const cython.floating[:, ::1] logits, Py_ssize_t time,
                           Py_ssize_t beam_width, Py_ssize_t top_paths, int blank):
    """Prefix beam search of one sample; [(labels list, ln p(labels))], best first."""
    cdef Py_ssize_t n_classes = logits.shape[1]
    cdef Py_ssize_t t, i
    cdef int k, node, last
    cdef _Trie trie = _Trie(n_classes)
    cdef vector[double] log_y = vector[double](n_classes)
    cdef vector[Candidate] beams
    cdef vector[Candidate] candidates
    cdef Candidate root
    cdef double log_blank, log_label, log_total, p
    root.node, root.parent, root.label, root.log_blank, root.log_label = 0, -1, -1, 0.0, -INFINITY
    beams.push_back(root)
    for t in range(time):
        _log_softmax_row(&logits[t, 0], log_y.data(), NULL, n_classes)
        candidates.clear()
        for i in range(<Py_ssize_t>beams.size()):
            node = beams[i].node
            log_blank, log_label = beams[i].log_blank, beams[i].log_label
            log_total = _log_add(log_blank, log_label)
            last = trie.label[node]
            for k in range(<int>n_classes):
                p = log_y[k]
                if k == blank:                      # a blank: the prefix does not change
                    _accumulate(candidates, trie, t, node, -1, -1, log_total + p, -INFINITY)
                elif k == last:
                    # the same label again: merged with the last, unless a blank came between
                    _accumulate(candidates, trie, t, node, -1, -1, -INFINITY, log_label + p)
                    _accumulate(candidates, trie, t, trie.child(node, k), node, k, -INFINITY,
                                log_blank + p)
                else:
                    _accumulate(candidates, trie, t, trie.child(node, k), node, k, -INFINITY,
                                log_total + p)
        beams = _prune(candidates, trie, beam_width)
    return [(list(trie.prefix(beams[i].node)), _log_add(beams[i].log_blank, beams[i].log_label))
            for i in range(min(top_paths, <Py_ssize_t>beams.size()))]


def beam_decode(const cython.floating[:, :, ::1] logits, const int[::1] logit_lengths,
                Py_ssize_t beam_width, Py_ssize_t top_paths, int blank):
    """Prefix beam search over the batch: for each sample, its ``top_paths`` best label
    sequences as [(labels list, ln p(labels))], best first."""
    cdef Py_ssize_t batch = logits.shape[0]
    cdef Py_ssize_t n_classes = logits.shape[2]
    cdef Py_ssize_t b
    if n_classes < 1 or blank < 0 or blank >= n_classes:
        raise ValueError(f"_ctc: blank = {blank} is outside [0, {n_classes})")
    if beam_width < 1 or not 1 <= top_paths <= beam_width:
        raise ValueError(f"_ctc: need 1 <= top_paths <= beam_width, got {top_paths}, "
                         f"{beam_width}")
    _check_lengths("logit_lengths", logit_lengths, batch, logits.shape[1], "logits.shape[1]")
    return [_beam_one_sample(logits[b], logit_lengths[b], beam_width, top_paths, blank)
            for b in range(batch)]
