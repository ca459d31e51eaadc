"""Chapter 9 — Recurrent networks: sequences, memory and gradients through time.

Five lessons, each in its own module (each also has ``run(output_dir, quick=False)``):

1. ``sequences_gradients``: vanishing gradients (SimpleRNN vs LSTM, dL/dx_t through time)
   and exploding ones tamed by ``clipnorm``.
2. ``sequences_language_model``: a character-level LSTM on tiny-shakespeare, its loss against
   the unigram entropy, and sampled text (skipped, with a message, when the corpus is neither
   in the dataset cache nor downloadable; ``examples/char_lstm.py PATH`` takes a path).
3. ``sequences_classification``: many-to-one, a Bidirectional LSTM counting letters in
   variable-length, masked sequences.
4. ``sequences_ctc``: many-to-less, a BiLSTM + CTC reading rows of MNIST digits.
5. ``sequences_addition``: many-to-many, an encoder-decoder learning addition from strings.

Run it: ``python -m chalknet demo sequences --out DIR`` (several minutes; ``--quick``: about a
minute, with the lessons' numbers still visible but noisier).
"""

from __future__ import annotations

from . import (
    sequences_addition,
    sequences_classification,
    sequences_ctc,
    sequences_gradients,
    sequences_language_model,
)

NAME = "sequences"
NUMBER = 9
TITLE = ("Recurrent networks: vanishing/exploding gradients, a character LSTM, many-to-one, "
         "CTC, encoder-decoder")

LESSONS = {
    "gradients": sequences_gradients,
    "language_model": sequences_language_model,
    "classification": sequences_classification,
    "ctc": sequences_ctc,
    "addition": sequences_addition,
}


def run(output_dir, quick=False) -> dict:
    """Every lesson in order; the results are keyed by lesson name, and "pictures" lists every
    PNG written."""
    results = {name: lesson.run(output_dir, quick=quick) for name, lesson in LESSONS.items()}
    results["pictures"] = [path for lesson in LESSONS for path in results[lesson]["pictures"]]
    return results
