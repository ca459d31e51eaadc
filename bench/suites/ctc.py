"""The CTC workload of DESIGN.md / issue 5: loss and gradient on (T=50, B=32, C=11, label
length 5), plus the two decoders on the same logits.

Engines: chalknet (ops.ctc_loss_and_gradient, one call: softmax, alpha/beta and the gradient
w.r.t. the logits), reference (the NumPy twin) and torch (log_softmax over the (batch, time,
classes) logits, ``torch.nn.functional.ctc_loss`` on the (time, batch, classes) view with
reduction="sum", and ``torch.autograd.grad`` back to the logits: the same numbers).  The
decoders have no torch counterpart (torch has no CTC decoder); the beam workload uses a beam
of 10 so that the reference finishes in about a second.
"""

from __future__ import annotations

import numpy as np

from chalknet import ops, reference

from . import Workload

TIME, BATCH, CLASSES, LABEL_LENGTH = 50, 32, 11, 5
BEAM_WIDTH = 10


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def ctc_inputs(seed=0):
    """Logits (B, T, C) float32, labels (B, L) in [1, C) (0 is the blank), full lengths."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((BATCH, TIME, CLASSES), dtype=np.float32)
    labels = rng.integers(1, CLASSES, size=(BATCH, LABEL_LENGTH))
    label_lengths = np.full(BATCH, LABEL_LENGTH)
    logit_lengths = np.full(BATCH, TIME)
    return labels, logits, label_lengths, logit_lengths


def _torch_loss_and_gradient(torch, labels, logits, label_lengths, logit_lengths):
    import torch.nn.functional as F

    logits_t = torch.from_numpy(logits).clone().requires_grad_(True)
    labels_t = torch.from_numpy(labels).long()
    label_lengths_t = torch.from_numpy(label_lengths).long()
    logit_lengths_t = torch.from_numpy(logit_lengths).long()

    def loss_and_gradient():
        log_probs = F.log_softmax(logits_t, dim=2).transpose(0, 1)     # (T, B, C) view
        loss = F.ctc_loss(log_probs, labels_t, logit_lengths_t, label_lengths_t, blank=0,
                          reduction="sum")
        return loss, torch.autograd.grad(loss, logits_t)

    return loss_and_gradient


def workloads(threads: int) -> list[Workload]:
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(threads)
    labels, logits, label_lengths, logit_lengths = ctc_inputs()
    shape = f"T={TIME} B={BATCH} C={CLASSES} L={LABEL_LENGTH}"
    loss_engines = {
        name: (lambda lib=lib: lib.ctc_loss_and_gradient(labels, logits, label_lengths,
                                                         logit_lengths))
        for name, lib in (("chalknet", ops), ("reference", reference))
    }
    if torch is not None:
        loss_engines["torch"] = _torch_loss_and_gradient(torch, labels, logits, label_lengths,
                                                         logit_lengths)
    greedy = {name: (lambda lib=lib: lib.ctc_decode(logits, logit_lengths))
              for name, lib in (("chalknet", ops), ("reference", reference))}
    beam = {name: (lambda lib=lib: lib.ctc_decode(logits, logit_lengths, greedy=False,
                                                  beam_width=BEAM_WIDTH))
            for name, lib in (("chalknet", ops), ("reference", reference))}
    return [
        Workload(f"ctc loss+grad {shape}", loss_engines),
        Workload(f"ctc greedy decode {shape}", greedy),
        Workload(f"ctc beam decode width {BEAM_WIDTH} {shape}", beam),
    ]
