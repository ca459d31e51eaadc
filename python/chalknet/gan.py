"""Generative adversarial networks: the alternating training loop, written to be read.

A GAN is two networks playing a game (Goodfellow et al., 2014):

* the generator G turns noise z ~ N(0, I) into a sample G(z) (an image, here);
* the discriminator D takes a sample and outputs the probability that it is real.

Training alternates two steps on every batch:

1. **Discriminator step.** Show D a batch of real samples labelled 1 and a batch of generated
   samples G(z) labelled 0; one gradient step on the binary cross-entropy. D learns to tell
   them apart.
2. **Generator step.** Draw fresh noise, label the generated samples 1 ("real") and train the
   *combined* model x = D(G(z)) on that, with D frozen: the gradient flows back through D into
   G, and only G's weights move. G learns to make D answer "real". (This is the
   "non-saturating" generator loss -log D(G(z)) of the paper's section 3, which gives G strong
   gradients early on, when D easily rejects its samples.)

Freezing follows the Keras recipe (tf.keras 2 semantics, see docs/DESIGN.md): D is compiled
first, then ``D.trainable = False``, then the combined ``Sequential([G, D])`` is compiled. D's
own ``train_on_batch`` still updates D (its trainable flags were read at its compile), while the
combined model's optimizer never sees D's weights.

At the game's equilibrium G's samples look like the data and D can do no better than a coin:
its accuracy on real vs generated samples tends to 50 %. In practice the accuracy falls from
nearly 100 % (untrained G makes noise) towards that value and wanders above it.

:class:`ConditionalGAN` draws a requested digit: the label (a scaled one-hot vector) is
concatenated to the noise (G's input) and to the image (D's input). chalknet has no
multi-input models yet, so the concatenation is done in NumPy, and the generator step is the
combined model's forward and backward written out by hand (``D.input_gradient`` then
``G.backward``); D's weights are never handed to an optimizer there, which is what "frozen"
means.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import losses as losses_module
from . import optimizers as optimizers_module
from .models import Model, Sequential
from .optimizers import Optimizer
from .utils.random import get_rng

REAL, FAKE = 1.0, 0.0


def _batches_per_epoch(count: int, batch_size: int) -> int:
    return max(1, count // batch_size)


class GAN:
    """The alternating loop around a ``generator`` (noise -> sample) and a ``discriminator``
    (sample -> probability of real, one sigmoid unit).

    Both are chalknet ``Sequential`` models, not yet compiled. ``latent_dim`` is the noise
    size (the generator's input width). Optimizers default to Adam(2e-4, beta_1=0.5), the
    DCGAN paper's setting (Radford et al., 2015), which is steadier than Adam's defaults here.

    After construction: ``discriminator`` is compiled (binary cross-entropy, accuracy) and
    frozen inside ``combined = Sequential([generator, discriminator])``.
    """

    def __init__(self, generator: Model, discriminator: Model, latent_dim: int,
                 d_optimizer: str | Optimizer | None = None,
                 g_optimizer: str | Optimizer | None = None):
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        # 1. D trains on its own: compile it while its layers are trainable.
        self.discriminator.compile(optimizer=d_optimizer or _default_optimizer(),
                                   loss="binary_crossentropy", metrics=["accuracy"])
        # 2. Freeze D (its own compile above already recorded it as trainable).
        self.discriminator.trainable = False
        self._compile_generator(g_optimizer or _default_optimizer())
        self.history: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "d_accuracy": []}

    def _compile_generator(self, g_optimizer) -> None:
        """3. The combined model x = D(G(z)), compiled with D frozen: its optimizer sees only
        G's weights."""
        self.combined = Sequential([self.generator, self.discriminator],
                                   name="generator_then_discriminator")
        self.combined.compile(optimizer=g_optimizer, loss="binary_crossentropy")

    # ----- sampling --------------------------------------------------------------------------
    def sample_noise(self, count: int) -> np.ndarray:
        """``count`` latent vectors z ~ N(0, I), float32, shape (count, latent_dim)."""
        return get_rng().standard_normal((count, self.latent_dim)).astype(np.float32)

    def generate(self, count: int | None = None, noise: np.ndarray | None = None) -> np.ndarray:
        """Generated samples G(z) (inference mode) for ``noise`` or ``count`` fresh draws."""
        if noise is None:
            noise = self.sample_noise(count)
        return self.generator.predict_on_batch(noise)

    # ----- the two steps ---------------------------------------------------------------------
    def discriminator_step(self, real: np.ndarray) -> tuple[float, float]:
        """One step of D on ``real`` (label 1) and as many generated samples (label 0).
        Returns D's (loss, accuracy) on that batch before the update."""
        fake = self.generate(len(real))
        samples = np.concatenate([real, fake])
        labels = np.concatenate([np.full((len(real), 1), REAL, np.float32),
                                 np.full((len(fake), 1), FAKE, np.float32)])
        loss, accuracy = self.discriminator.train_on_batch(samples, labels)
        return float(loss), float(accuracy)

    def generator_step(self, batch_size: int) -> float:
        """One step of G through the frozen D: fresh noise, target "real" (1).
        Returns the generator's loss -mean(log D(G(z))) before the update."""
        noise = self.sample_noise(batch_size)
        wanted = np.full((batch_size, 1), REAL, np.float32)
        return float(self.combined.train_on_batch(noise, wanted))

    # ----- the loop --------------------------------------------------------------------------
    def fit(self, x: np.ndarray, epochs: int = 1, batch_size: int = 64,
            on_epoch_end: Callable[[int, GAN], Any] | None = None,
            verbose: int = 1) -> dict:
        """Alternate ``discriminator_step`` and ``generator_step`` over shuffled batches of
        ``x`` (the real samples, already scaled like the generator's output).

        Records per epoch the mean ``d_loss``, ``g_loss`` and ``d_accuracy`` (D's accuracy on
        the batches it trained on: real and generated) in ``self.history``, which it returns.
        ``on_epoch_end(epoch, gan)`` is called after each epoch (e.g. to save a sample grid).
        """
        x = np.asarray(x, dtype=np.float32)
        steps = _batches_per_epoch(len(x), batch_size)
        for epoch in range(epochs):
            order = get_rng().permutation(len(x))
            d_losses, d_accuracies, g_losses = [], [], []
            for step in range(steps):
                real = x[order[step * batch_size:(step + 1) * batch_size]]
                d_loss, d_accuracy = self.discriminator_step(real)
                g_losses.append(self.generator_step(batch_size))
                d_losses.append(d_loss)
                d_accuracies.append(d_accuracy)
            self._record(epoch, epochs, d_losses, g_losses, d_accuracies, verbose)
            if on_epoch_end is not None:
                on_epoch_end(epoch, self)
        return self.history

    def _record(self, epoch, epochs, d_losses, g_losses, d_accuracies, verbose) -> None:
        self.history["d_loss"].append(float(np.mean(d_losses)))
        self.history["g_loss"].append(float(np.mean(g_losses)))
        self.history["d_accuracy"].append(float(np.mean(d_accuracies)))
        if verbose:
            print(f"epoch {epoch + 1}/{epochs} - d_loss: {self.history['d_loss'][-1]:.4f} - "
                  f"g_loss: {self.history['g_loss'][-1]:.4f} - "
                  f"d_accuracy: {self.history['d_accuracy'][-1]:.4f}")

    def discriminator_accuracy(self, real: np.ndarray) -> float:
        """D's accuracy (inference mode, threshold 0.5) on ``real`` and as many fresh
        generated samples: 1.0 means it tells them apart perfectly, 0.5 is a coin."""
        fake = self.generate(len(real))
        said_real = self.discriminator.predict_on_batch(real)[:, 0] > 0.5
        said_fake = self.discriminator.predict_on_batch(fake)[:, 0] <= 0.5
        return float((said_real.sum() + said_fake.sum()) / (len(real) + len(fake)))


class ConditionalGAN(GAN):
    """A GAN that draws a requested class (Mirza & Osindero, 2014).

    The generator's input is ``[z, one_hot(label)]`` (width latent_dim + classes); the
    discriminator's input is ``[sample, one_hot(label)]`` (width sample features + classes),
    and it answers "is this a real sample *of this label*?". Both concatenations happen in
    NumPy because chalknet has no multi-input model yet.

    The networks see the label as ``label_scale * one_hot(label)`` (:meth:`label_code`).
    A 0/1 one-hot vector has norm 1 next to an image of norm about 20 (784 pixels in
    [-1, 1]), so in the first Dense layer the label is a whisper and both networks take a
    long time to start listening; with the default scale 10 the two have similar weight.
    (On the bundled digits, 750 steps drew the requested digit about 10 % of the time, i.e.
    chance, with scale 1, 65 % with scale 4, and nearly always with scale 10.)

    The generator step cannot use a combined Sequential (the label must enter D beside G's
    output), so it is written out: forward G, append the labels, let D compute dL/d(input)
    for the target "real", keep the part of that gradient that belongs to the image, run it
    back through G and give only G's gradients to G's optimizer. D's weights are untouched.
    """

    def __init__(self, generator: Model, discriminator: Model, latent_dim: int,
                 num_classes: int, d_optimizer: str | Optimizer | None = None,
                 g_optimizer: str | Optimizer | None = None, label_scale: float = 10.0):
        self.num_classes = int(num_classes)
        self.label_scale = float(label_scale)
        self.loss = losses_module.BinaryCrossentropy()
        super().__init__(generator, discriminator, latent_dim, d_optimizer, g_optimizer)

    def _compile_generator(self, g_optimizer) -> None:
        """No combined model: G's optimizer is kept and fed G's gradients by hand."""
        self.g_optimizer = optimizers_module.get(g_optimizer)

    def label_code(self, labels: np.ndarray) -> np.ndarray:
        """Integer labels -> ``label_scale * one_hot``, shape (count, num_classes), float32:
        the columns appended to the noise and to the discriminator's input."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"ConditionalGAN: labels must be in [0, {self.num_classes}), got "
                             f"values from {labels.min()} to {labels.max()}")
        return self.label_scale * np.eye(self.num_classes, dtype=np.float32)[labels]

    def sample_labels(self, count: int) -> np.ndarray:
        return get_rng().integers(0, self.num_classes, size=count)

    def generate(self, count: int | None = None, noise: np.ndarray | None = None,
                 labels: np.ndarray | None = None) -> np.ndarray:
        """Samples of the requested ``labels`` (random labels when None)."""
        if noise is None:
            noise = self.sample_noise(count if count is not None else len(labels))
        if labels is None:
            labels = self.sample_labels(len(noise))
        return self.generator.predict_on_batch(np.concatenate([noise, self.label_code(labels)],
                                                              axis=1))

    def discriminator_step(self, real: np.ndarray,
                           real_labels: np.ndarray | None = None) -> tuple[float, float]:
        """D on three kinds of pairs: (real sample, its label) -> 1; (G(z, c), c) for random
        c -> 0; and (real sample, a wrong label) -> 0.

        The third kind is the "matching-aware" discriminator of Reed et al. (2016): without
        it D can ignore the label columns (they are 10 inputs of 794) and judge realism
        alone, and then nothing pushes G to draw the requested class."""
        # Half the "fake" answers are generated samples, half mismatched real ones, so that
        # real and fake stay balanced (a D that always says "fake" gets 50 %, not 67 %).
        count = len(real)
        real_labels = np.asarray(real_labels, dtype=np.int64)
        fake_labels = self.sample_labels(count - count // 2)
        fake = self.generate(noise=self.sample_noise(len(fake_labels)), labels=fake_labels)
        mismatched = get_rng().permutation(count)[:count // 2]
        # A label that is surely wrong: shift the true one by 1..classes-1, modulo classes.
        wrong_labels = (real_labels[mismatched]
                        + get_rng().integers(1, self.num_classes, size=len(mismatched))
                        ) % self.num_classes
        samples = np.concatenate([
            np.concatenate([real, self.label_code(real_labels)], axis=1),
            np.concatenate([fake, self.label_code(fake_labels)], axis=1),
            np.concatenate([real[mismatched], self.label_code(wrong_labels)], axis=1)])
        targets = np.concatenate([np.full((count, 1), REAL, np.float32),
                                  np.full((count, 1), FAKE, np.float32)])
        loss, accuracy = self.discriminator.train_on_batch(samples, targets)
        return float(loss), float(accuracy)

    def generator_step(self, batch_size: int) -> float:
        """G through frozen D, by hand: L = BCE(1, D([G([z, c]), c]))."""
        labels = self.label_code(self.sample_labels(batch_size))
        generated = self.generator.forward(np.concatenate([self.sample_noise(batch_size),
                                                           labels], axis=1), training=True)
        judged = np.concatenate([generated, labels], axis=1)
        wanted = np.full((batch_size, 1), REAL, np.float32)
        loss = float(self.loss(wanted, self.discriminator.predict_on_batch(judged)))
        # dL/d(D's input) through D (its parameter gradients are computed but never applied),
        # then keep the columns that came from G: the label columns are not G's doing.
        d_judged = self.discriminator.input_gradient(judged, y_true=wanted, loss=self.loss)
        self.generator.backward(d_judged[:, :generated.shape[1]])
        self.g_optimizer.apply_gradients(list(zip(self.generator.get_gradients(),
                                                  _parameters(self.generator), strict=True)))
        return loss

    def fit(self, x: np.ndarray, labels: np.ndarray | None = None, epochs: int = 1,
            batch_size: int = 64, on_epoch_end: Callable[[int, GAN], Any] | None = None,
            verbose: int = 1) -> dict:
        """As :meth:`GAN.fit`, with the real samples' ``labels`` (integers)."""
        x = np.asarray(x, dtype=np.float32)
        labels = np.asarray(labels)
        if labels.shape != (len(x),):
            raise ValueError(f"ConditionalGAN.fit: expected labels of shape {(len(x),)}, got "
                             f"{labels.shape}")
        steps = _batches_per_epoch(len(x), batch_size)
        for epoch in range(epochs):
            order = get_rng().permutation(len(x))
            d_losses, d_accuracies, g_losses = [], [], []
            for step in range(steps):
                batch = order[step * batch_size:(step + 1) * batch_size]
                d_loss, d_accuracy = self.discriminator_step(x[batch], labels[batch])
                g_losses.append(self.generator_step(batch_size))
                d_losses.append(d_loss)
                d_accuracies.append(d_accuracy)
            self._record(epoch, epochs, d_losses, g_losses, d_accuracies, verbose)
            if on_epoch_end is not None:
                on_epoch_end(epoch, self)
        return self.history


def _default_optimizer():
    return optimizers_module.Adam(learning_rate=2e-4, beta_1=0.5)


def _parameters(model) -> list[np.ndarray]:
    """The parameter arrays of ``model`` in ``get_weights()`` order (the arrays themselves,
    which optimizers update in place)."""
    return [getattr(layer, name) for layer in model.layers for name in layer.weight_names]


__all__ = ["GAN", "ConditionalGAN"]
