"""Sequences, lesson 2 — a character-level LSTM language model (many-to-many, one step ahead).

The model reads characters and predicts, at every step, the next one:
``Embedding(V, 32) -> LSTM(units, return_sequences=True) -> Dense(V, softmax)`` trained with the
sparse categorical cross-entropy on random windows of the text (truncated backpropagation
through time: each window is a separate sequence starting from a zero state).

The loss is in nats per character. The baseline is the **unigram entropy**
H = -sum_c p(c) ln p(c), the best loss of a model that ignores the context and only knows the
character frequencies; every nat below it is context the LSTM has learned. Sampling then runs
the LSTM one character at a time, carrying its state (h, c) from step to step, and draws the
next character from softmax(logits / temperature): a low temperature picks likely
characters (repetitive text), a high one flattens the distribution (more surprises, more typos).

The corpus: ``chalknet.datasets.tinyshakespeare.load_data()`` (cache or download), or any text
given as ``text=`` / ``corpus_path=`` (``examples/char_lstm.py`` takes the path).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ._common import Pictures, one_thread, say

CHAPTER = "sequences"
TEMPERATURES = (0.5, 1.0)


class Vocabulary:
    """The characters of a text, sorted; ``encode`` maps text to ids, ``decode`` back."""

    def __init__(self, text: str):
        self.characters = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.characters)}

    def __len__(self):
        return len(self.characters)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.characters[int(i)] for i in ids)


def unigram_entropy(ids, size) -> float:
    """-sum p ln p over the character frequencies, in nats per character."""
    p = np.bincount(ids, minlength=size) / len(ids)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def random_windows(ids, length, count, rng):
    """``count`` windows of ``length + 1`` characters: inputs (count, length) and targets (the
    same windows shifted by one)."""
    starts = rng.integers(0, len(ids) - length - 1, size=count)
    windows = ids[starts[:, None] + np.arange(length + 1)]
    return windows[:, :-1], windows[:, 1:]


def build_model(vocabulary_size, units, embedding=32, learning_rate=0.01):
    from .. import optimizers
    from ..layers import LSTM, Dense, Embedding
    from ..models import Sequential

    model = Sequential([Embedding(vocabulary_size, embedding),
                        LSTM(units, return_sequences=True),
                        Dense(vocabulary_size, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate, global_clipnorm=5.0),
                  loss="sparse_categorical_crossentropy")
    return model


def sample(model, vocabulary, prime, length, temperature, rng):
    """Generate ``length`` characters after ``prime``: a copy of the LSTM with
    return_state=True is stepped one character at a time, its (h, c) carried along."""
    from ..layers import LSTM

    embedding, lstm, dense = model.layers
    stepper = LSTM(lstm.units, return_sequences=True, return_state=True)
    stepper.maybe_build((None, embedding.output_dim))
    stepper.set_weights(lstm.get_weights())
    ids = vocabulary.encode(prime)[None, :]
    outputs, h, c = stepper.forward(embedding.forward(ids))
    generated = []
    for _ in range(length):
        probabilities = dense.forward(outputs[:, -1]).astype(np.float64)[0]
        logits = np.log(np.maximum(probabilities, 1e-30)) / temperature
        weights = np.exp(logits - logits.max())
        next_id = int(rng.choice(len(weights), p=weights / weights.sum()))
        generated.append(next_id)
        outputs, h, c = stepper.forward(embedding.forward(np.array([[next_id]])),
                                        initial_state=[h, c])
    return prime + vocabulary.decode(generated)


def load_text(text=None, corpus_path=None):
    """The text to learn: ``text``, else the file at ``corpus_path``, else tiny-shakespeare
    from the dataset cache (None when it cannot be found or downloaded)."""
    if text is not None:
        return text
    if corpus_path is not None:
        return Path(corpus_path).read_text(encoding="utf-8")
    from ..datasets import tinyshakespeare

    try:
        return tinyshakespeare.load_data()
    except (OSError, RuntimeError, ValueError) as error:
        say(CHAPTER, f"tiny-shakespeare is not available ({error}); the language model is "
                     "skipped. Give the corpus path: python examples/char_lstm.py PATH")
        return None


def train(text, units=128, length=64, batch_size=32, rounds=20, batches_per_round=40,
          seed=0, validation_fraction=0.1):
    """Train on random windows of the first 90 % of ``text``; after each round (``batches_per_
    round`` fresh batches) evaluate on fixed windows of the last 10 %. Returns a dict."""
    from ..utils import set_random_seed

    set_random_seed(seed)
    rng = np.random.default_rng(seed)
    vocabulary = Vocabulary(text)
    ids = vocabulary.encode(text)
    split = int(len(ids) * (1 - validation_fraction))
    train_ids, validation_ids = ids[:split], ids[split:]
    validation_x, validation_y = random_windows(validation_ids, length, 4 * batch_size, rng)
    model = build_model(len(vocabulary), units)
    training_losses, validation_losses = [], []
    start = time.perf_counter()
    for _ in range(rounds):
        x, y = random_windows(train_ids, length, batches_per_round * batch_size, rng)
        history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        training_losses.append(history.history["loss"][-1])
        validation_losses.append(float(model.evaluate(validation_x, validation_y,
                                                      batch_size=256, verbose=0)))
    return dict(model=model, vocabulary=vocabulary, seconds=time.perf_counter() - start,
                unigram_entropy=unigram_entropy(train_ids, len(vocabulary)),
                training_losses=training_losses, validation_losses=validation_losses,
                steps=rounds * batches_per_round, rng=rng)


def draw_losses(pictures, trained):
    figure, axes = pictures.new(width=6.5, height=4.2)
    if figure is None:
        return
    steps = np.arange(1, len(trained["training_losses"]) + 1) * (
        trained["steps"] // len(trained["training_losses"]))
    axes.plot(steps, trained["training_losses"], "o-", label="training (mean over the round)")
    axes.plot(steps, trained["validation_losses"], "s-", label="validation (held-out text)")
    axes.axhline(trained["unigram_entropy"], color="gray", linestyle="--",
                 label=f"unigram entropy {trained['unigram_entropy']:.2f}")
    axes.set(xlabel="training steps (batches)", ylabel="cross-entropy, nats per character",
             title="Character-level LSTM language model")
    axes.legend()
    axes.grid(True, alpha=0.3)
    pictures.save(figure, "language_model_loss.png")


def run(output_dir, quick=False, text=None, corpus_path=None, units=None, rounds=None,
        batches_per_round=None, sample_length=None) -> dict:
    """Train, print the losses against the unigram entropy, sample at two temperatures."""
    text = load_text(text, corpus_path)
    if text is None:
        return {"skipped": True, "pictures": []}
    pictures = Pictures(output_dir, CHAPTER)
    settings = dict(units=64 if quick else 128, rounds=4 if quick else 20,
                    batches_per_round=25 if quick else 40)
    for key, value in (("units", units), ("rounds", rounds),
                       ("batches_per_round", batches_per_round)):
        if value is not None:
            settings[key] = value
    with one_thread():
        trained = train(text, **settings)
        length = sample_length if sample_length is not None else (120 if quick else 300)
        samples = {t: sample(trained["model"], trained["vocabulary"], "ROMEO:", length, t,
                             trained["rng"]) for t in TEMPERATURES}
    draw_losses(pictures, trained)
    say(CHAPTER, f"Language model: {len(trained['vocabulary'])} characters, LSTM("
                 f"{settings['units']}), {trained['steps']} steps of 32 windows x 64 characters "
                 f"in {trained['seconds']:.0f} s\n"
                 f"  unigram entropy (context-free best): {trained['unigram_entropy']:.3f} "
                 f"nats/char\n"
                 f"  final training loss {trained['training_losses'][-1]:.3f}, validation "
                 f"loss {trained['validation_losses'][-1]:.3f} nats/char")
    for temperature, text_sample in samples.items():
        say(CHAPTER, f"Sample at temperature {temperature}:\n" + text_sample)
    say(CHAPTER, "Notice: every nat below the unigram entropy is context the LSTM uses; low "
                 "temperature repeats\nthe commonest words, temperature 1 invents more (and "
                 "misspells more).")
    return dict(unigram_entropy=trained["unigram_entropy"],
                training_losses=trained["training_losses"],
                validation_losses=trained["validation_losses"],
                final_validation_loss=trained["validation_losses"][-1],
                steps=trained["steps"], seconds=trained["seconds"], samples=samples,
                vocabulary_size=len(trained["vocabulary"]), skipped=False,
                pictures=list(pictures.written))
