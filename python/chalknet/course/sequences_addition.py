"""Sequences, lesson 5 — many-to-many with an encoder-decoder: learning addition from strings.

"12+345" -> "357": the question is read by an encoder LSTM, reversed as in Keras's
addition example (the last digits, which decide the first answer digits' carries, come
first); its final state (h, c) starts a decoder LSTM that writes the answer one character at a
time. chalknet's Sequential has one input, and the functional API is not there, so the two
networks are separate layers and the training step is written out — the course's explicit
forward and backward:

* **Teacher forcing** (training): the decoder reads the *true* previous answer character
  ("=" to start) and predicts the next one; all answer steps in one call. Backward runs
  Dense -> decoder, whose ``initial_state_gradients`` (dL/dh_0, dL/dc_0) are the gradient of
  the encoder's final state: ``encoder.backward([None, dL/dh, dL/dc])``.
* **Greedy decoding** (test): the decoder reads its *own* previous prediction, one step at a
  time, carrying (h, c) by ``return_state=True`` and ``initial_state=``.

Exact-match accuracy is measured on sums whose pair of numbers was never seen in training.
"""

from __future__ import annotations

import numpy as np

from ._common import Pictures, one_thread, say

CHAPTER = "sequences"
CHARACTERS = "0123456789+ ="   # " " pads, "=" starts the answer
START = "="


def encode_one_hot(strings):
    index = {c: i for i, c in enumerate(CHARACTERS)}
    ids = np.array([[index[c] for c in s] for s in strings])
    return np.eye(len(CHARACTERS), dtype=np.float32)[ids], ids


def addition_strings(pairs, digits):
    """Questions (reversed, padded to 2 * digits + 1) and answers (padded to digits + 1)."""
    questions = [f"{a}+{b}".ljust(2 * digits + 1)[::-1] for a, b in pairs]
    answers = [str(a + b).ljust(digits + 1) for a, b in pairs]
    return questions, answers


def split_pairs(digits, train_count, test_count, rng):
    """Distinct pairs (a, b), a and b below 10**digits, split into train and test."""
    size = 10 ** digits
    chosen = rng.choice(size * size, size=min(train_count + test_count, size * size),
                        replace=False)
    pairs = np.stack([chosen // size, chosen % size], axis=1)
    return pairs[:train_count], pairs[train_count:train_count + test_count]


class EncoderDecoder:
    """Encoder LSTM -> (h, c) -> decoder LSTM -> Dense(softmax over CHARACTERS)."""

    def __init__(self, units, learning_rate=0.01):
        from .. import losses, optimizers
        from ..layers import LSTM, Dense

        self.encoder = LSTM(units, return_state=True)
        self.decoder = LSTM(units, return_sequences=True, return_state=True)
        self.output_layer = Dense(len(CHARACTERS), activation="softmax")
        self.loss = losses.SparseCategoricalCrossentropy()
        self.optimizer = optimizers.Adam(learning_rate, global_clipnorm=5.0)

    @property
    def layers(self):
        return [self.encoder, self.decoder, self.output_layer]

    def train_step(self, questions, decoder_inputs, targets) -> float:
        """One teacher-forced step on one-hot questions (B, Tq, V), decoder inputs (B, Ta, V)
        and target ids (B, Ta). Returns the loss."""
        _, h, c = self.encoder.forward(questions, training=True)
        sequence, _, _ = self.decoder.forward(decoder_inputs, training=True,
                                              initial_state=[h, c])
        probabilities = self.output_layer.forward(sequence, training=True)
        loss = float(self.loss(targets, probabilities))
        # softmax + cross-entropy: dL/dz = (p - onehot) / count, fused in the loss
        d_logits = self.loss.preactivation_gradient(targets, probabilities,
                                                    self.output_layer.activation)
        d_sequence = self.output_layer.backward_preactivation(d_logits)
        self.decoder.backward([d_sequence, None, None])
        d_h, d_c = self.decoder.initial_state_gradients
        self.encoder.backward([None, d_h, d_c])
        self.optimizer.apply_gradients(
            [(gradient, getattr(layer, name)) for layer in self.layers
             for name, gradient in zip(layer.weight_names, layer.get_gradients(), strict=True)])
        return loss

    def greedy_decode(self, questions, steps) -> np.ndarray:
        """Answer ids (B, steps), each step fed the previous prediction."""
        _, h, c = self.encoder.forward(questions)
        token = np.full(len(questions), CHARACTERS.index(START))
        eye = np.eye(len(CHARACTERS), dtype=np.float32)
        answer = np.empty((len(questions), steps), dtype=np.int64)
        for step in range(steps):
            output, h, c = self.decoder.forward(eye[token][:, None, :], initial_state=[h, c])
            token = self.output_layer.forward(output[:, 0]).argmax(axis=1)
            answer[:, step] = token
        return answer


def teacher_forcing_arrays(pairs, digits):
    questions, answers = addition_strings(pairs, digits)
    question_hot, _ = encode_one_hot(questions)
    decoder_hot, _ = encode_one_hot([START + a[:-1] for a in answers])
    _, target_ids = encode_one_hot(answers)
    return question_hot, decoder_hot, target_ids


def exact_match(model, pairs, digits):
    question_hot, _, target_ids = teacher_forcing_arrays(pairs, digits)
    answer = model.greedy_decode(question_hot, digits + 1)
    return float(np.mean(np.all(answer == target_ids, axis=1))), answer


def train(digits=2, units=128, epochs=20, train_count=7000, test_count=1000, batch_size=32,
          learning_rate=0.01, seed=0):
    from ..utils import set_random_seed

    set_random_seed(seed)
    rng = np.random.default_rng(seed)
    train_pairs, test_pairs = split_pairs(digits, train_count, test_count, rng)
    questions, decoder_inputs, targets = teacher_forcing_arrays(train_pairs, digits)
    model = EncoderDecoder(units, learning_rate)
    losses, accuracies = [], []
    for _ in range(epochs):
        order = rng.permutation(len(train_pairs))
        epoch_losses = [model.train_step(questions[batch], decoder_inputs[batch],
                                         targets[batch])
                        for batch in np.array_split(order, max(1, len(order) // batch_size))]
        losses.append(float(np.mean(epoch_losses)))
        accuracies.append(exact_match(model, test_pairs, digits)[0])
    return model, test_pairs, losses, accuracies


def draw(pictures, losses, accuracies, digits):
    figure, axes = pictures.new(columns=2, width=4.8, height=3.6)
    if figure is None:
        return
    epochs = np.arange(1, len(losses) + 1)
    axes[0].plot(epochs, losses, "o-")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy per character",
                title="Teacher-forced training loss")
    axes[1].plot(epochs, accuracies, "s-")
    axes[1].set(xlabel="epoch", ylabel="exact-match accuracy", ylim=(0, 1),
                title=f"Greedy decoding, unseen {digits}-digit sums")
    pictures.save(figure, "addition_encoder_decoder.png")


def run(output_dir, quick=False, digits=None, units=None, epochs=None, train_count=None,
        seed=0) -> dict:
    pictures = Pictures(output_dir, CHAPTER)
    settings = dict(digits=2, units=64, epochs=8, train_count=3000) if quick else \
        dict(digits=2, units=96, epochs=15, train_count=7000)
    for key, value in (("digits", digits), ("units", units), ("epochs", epochs),
                       ("train_count", train_count)):
        if value is not None:
            settings[key] = value
    with one_thread():
        model, test_pairs, losses, accuracies = train(seed=seed, **settings)
        _, answers = exact_match(model, test_pairs[:5], settings["digits"])
    draw(pictures, losses, accuracies, settings["digits"])
    questions, _ = addition_strings(test_pairs[:5], settings["digits"])
    examples = [f"{q[::-1].strip()} = {''.join(CHARACTERS[i] for i in a).strip()}"
                for q, a in zip(questions, answers, strict=True)]
    say(CHAPTER, f"Many-to-many (encoder-decoder): {settings['digits']}-digit addition, "
                 f"LSTM({settings['units']}) x 2, {settings['train_count']} training sums, "
                 f"{settings['epochs']} epochs\n"
                 f"  exact-match accuracy on unseen sums, greedy decoding: {accuracies[-1]:.3f}\n"
                 f"  for example: {'; '.join(examples)}\n"
                 "Notice: training feeds the true previous character (teacher forcing); at "
                 "test time the decoder\nfeeds itself, so one wrong digit can spoil the rest.")
    return dict(accuracy=accuracies[-1], accuracies=accuracies, losses=losses,
                examples=examples, pictures=list(pictures.written), **settings)
