"""Chapter 6 — Generative models: GANs, a conditional GAN, and an autoencoder's decoder.

Three ways to make new digits, all trained on the bundled MNIST digits
(``chalknet.datasets.mnist_mini``), with plain Dense networks:

1. **A GAN** (``chalknet.gan.GAN``). A generator maps 32 random numbers to an image; a
   discriminator says how likely an image is to be real. Training alternates a discriminator
   step (real digits labelled 1, generated ones labelled 0) and a generator step through the
   frozen discriminator (generated digits labelled 1: "make it say real"). The chapter saves
   a grid of samples from the *same* 64 noise vectors after every epoch, so you can watch the
   noise turn into strokes, and the curves of d_loss, g_loss and the discriminator's accuracy.
   That accuracy tells the story of the game: near 100 % at first (the untrained generator
   makes noise), then falling towards 50 % (a coin) as the samples become plausible.
2. **A conditional GAN** (``chalknet.gan.ConditionalGAN``): the requested digit, one-hot,
   is appended to the noise and to the image the discriminator judges, so the generator
   learns to draw *that* digit. The chapter draws a row per digit 0..9.
3. **An autoencoder**: an encoder squeezes each image into 16 numbers (its code), a decoder
   rebuilds the image from the code; trained on reconstruction error alone. The decoder is
   then a generator: feed it codes drawn from a Gaussian fitted to the codes of real digits,
   or codes on the line between two digits' codes, and it draws digits. (Unlike a GAN, it is
   never told what a *good* digit looks like, only to copy; its samples are blurrier.)

A small classifier (a Dense network trained on the real digits first) judges the samples:
how often does it recognise a generated image as a digit with confidence, compared with noise?

Run it: ``python -m chalknet demo gans --out DIR``.
"""

from __future__ import annotations

import numpy as np

from ._common import Pictures, one_thread, say

NAME = "gans"
NUMBER = 6
TITLE = "Generative models: a GAN, a conditional GAN and an autoencoder on MNIST digits"

LATENT_DIM = 32
CODE_DIM = 16
IMAGE_PIXELS = 28 * 28
CLASSES = 10
# The judge "recognises a digit" when one class gets at least half the probability: a clear
# winner among ten (uniform noise almost never gets one; real test digits almost always do).
CONFIDENT = 0.5


# ----- data -------------------------------------------------------------------------------------


def load_digits(count: int):
    """``(x_train, y_train), (x_test, y_test)``: the first ``count`` bundled training digits
    and the 2,000 test digits, flattened to 784 values in [-1, 1] (the range of the
    generator's tanh output), with integer labels."""
    from ..datasets import mnist_mini

    (x_train, y_train), (x_test, y_test) = mnist_mini.load_data()
    scale = lambda images: (images.reshape(len(images), -1).astype(np.float32)  # noqa: E731
                            / 127.5 - 1.0)
    return ((scale(x_train[:count]), y_train[:count].astype(np.int64)),
            (scale(x_test), y_test.astype(np.int64)))


# ----- the networks -----------------------------------------------------------------------------


def make_generator(hidden: int, input_dim: int = LATENT_DIM):
    """noise (and label) -> Dense(hidden) -> LeakyReLU(0.2) -> Dense(784, tanh).

    The output layer's biases start at -1, so the untrained generator paints a dark page
    (tanh(-1) = -0.76) with noise on it instead of a uniform grey: four fifths of every
    digit image is black background, and starting there lets the first generator steps work
    on strokes. (It does not hand the generator any digit shape; with zero biases the same
    lessons need several times more steps.)"""
    from ..initializers import Constant
    from ..layers import Dense, LeakyReLU
    from ..models import Input, Sequential

    return Sequential([Input(shape=(input_dim,)), Dense(hidden), LeakyReLU(0.2),
                       Dense(IMAGE_PIXELS, activation="tanh",
                             bias_initializer=Constant(-1.0))], name="generator")


def make_discriminator(hidden: int, input_dim: int = IMAGE_PIXELS):
    """image (and label) -> Dense(hidden) -> LeakyReLU(0.2) -> Dense(1, sigmoid)."""
    from ..layers import Dense, LeakyReLU
    from ..models import Input, Sequential

    return Sequential([Input(shape=(input_dim,)), Dense(hidden), LeakyReLU(0.2),
                       Dense(1, activation="sigmoid")], name="discriminator")


def gan_optimizers(learning_rate: float):
    """Adam with beta_1 = 0.5 for each network (DCGAN's advice: less momentum keeps the
    two players from overshooting each other)."""
    from ..optimizers import Adam

    return (Adam(learning_rate=learning_rate, beta_1=0.5),
            Adam(learning_rate=learning_rate, beta_1=0.5))


def make_gan(hidden: int, learning_rate: float, seed: int):
    from ..gan import GAN
    from ..utils import set_random_seed

    set_random_seed(seed)
    d_optimizer, g_optimizer = gan_optimizers(learning_rate)
    return GAN(make_generator(hidden), make_discriminator(hidden), LATENT_DIM,
               d_optimizer=d_optimizer, g_optimizer=g_optimizer)


def make_conditional_gan(hidden: int, learning_rate: float, seed: int):
    from ..gan import ConditionalGAN
    from ..utils import set_random_seed

    set_random_seed(seed)
    d_optimizer, g_optimizer = gan_optimizers(learning_rate)
    return ConditionalGAN(make_generator(hidden, LATENT_DIM + CLASSES),
                          make_discriminator(hidden, IMAGE_PIXELS + CLASSES), LATENT_DIM,
                          CLASSES, d_optimizer=d_optimizer, g_optimizer=g_optimizer)


def make_autoencoder(hidden: int, seed: int):
    """encoder 784 -> hidden (relu) -> 16; decoder 16 -> hidden (relu) -> 784 (tanh);
    the autoencoder is Sequential([encoder, decoder])."""
    from ..layers import Dense
    from ..models import Input, Sequential
    from ..utils import set_random_seed

    set_random_seed(seed)
    encoder = Sequential([Input(shape=(IMAGE_PIXELS,)), Dense(hidden, activation="relu"),
                          Dense(CODE_DIM)], name="encoder")
    decoder = Sequential([Input(shape=(CODE_DIM,)), Dense(hidden, activation="relu"),
                          Dense(IMAGE_PIXELS, activation="tanh")], name="decoder")
    autoencoder = Sequential([encoder, decoder], name="autoencoder")
    autoencoder.compile(optimizer="adam", loss="mse")
    return encoder, decoder, autoencoder


def train_judge(x, y, epochs: int, seed: int):
    """A Dense classifier (784 -> 128 relu -> 10 softmax) trained on real digits: the judge
    of generated ones."""
    from ..layers import Dense
    from ..models import Input, Sequential
    from ..utils import set_random_seed

    set_random_seed(seed)
    judge = Sequential([Input(shape=(IMAGE_PIXELS,)), Dense(128, activation="relu"),
                        Dense(CLASSES, activation="softmax")], name="judge")
    judge.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    judge.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    return judge


def recognised(judge, images, wanted_labels=None) -> float:
    """Fraction of ``images`` the judge classifies with probability >= CONFIDENT (and, when
    ``wanted_labels`` is given, as that label)."""
    probabilities = judge.predict(images, batch_size=256)
    sure = probabilities.max(axis=1) >= CONFIDENT
    if wanted_labels is not None:
        sure &= probabilities.argmax(axis=1) == np.asarray(wanted_labels)
    return float(sure.mean())


def noise_images(count: int, rng) -> np.ndarray:
    """Uniform noise in the images' range [-1, 1]: what "not a digit" looks like."""
    return rng.uniform(-1.0, 1.0, (count, IMAGE_PIXELS)).astype(np.float32)


# ----- pictures ---------------------------------------------------------------------------------


def tile(images, columns: int) -> np.ndarray:
    """Images (n, 784) in [-1, 1] -> one array of rows x columns 28x28 tiles, 1-pixel gaps."""
    images = np.asarray(images).reshape(-1, 28, 28)
    rows = -(-len(images) // columns)
    canvas = np.full((rows * 29 + 1, columns * 29 + 1), -1.0, dtype=np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        canvas[1 + row * 29:1 + row * 29 + 28, 1 + column * 29:1 + column * 29 + 28] = image
    return canvas


def save_grid(pictures, images, columns, name, title, width=4.0):
    """One PNG of the images tiled ``columns`` wide, sized to the grid's shape."""
    canvas = tile(images, columns)
    figure, axis = pictures.new(width=width,
                                height=width * canvas.shape[0] / canvas.shape[1] + 0.4)
    if figure is None:
        return
    axis.imshow(canvas, cmap="gray", vmin=-1.0, vmax=1.0)
    axis.set_title(title, fontsize=9)
    axis.axis("off")
    pictures.save(figure, name)


def draw_gan_curves(pictures, history, evaluated_accuracy, name, title):
    figure, axes = pictures.new(columns=2, width=4.6, height=3.5)
    if figure is None:
        return
    left, right = axes
    epochs = range(1, len(history["d_loss"]) + 1)
    left.plot(epochs, history["d_loss"], marker="o", label="discriminator loss")
    left.plot(epochs, history["g_loss"], marker="o", label="generator loss")
    from matplotlib import ticker

    for axis in (left, right):
        axis.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    left.set_xlabel("epoch")
    left.set_title(f"{title}: losses", fontsize=9)
    left.legend(fontsize=8)
    right.plot(range(0, len(evaluated_accuracy)), evaluated_accuracy, marker="o",
               label="held-out real vs fresh generated")
    right.plot(epochs, history["d_accuracy"], marker=".", label="training batches (mean)")
    right.axhline(0.5, color="k", linestyle="--", linewidth=1, label="a coin")
    right.set_ylim(0.3, 1.02)
    right.set_xlabel("epoch (0 = before the game, after the warm-up)")
    right.set_title(f"{title}: discriminator accuracy", fontsize=9)
    right.legend(fontsize=7)
    pictures.save(figure, name)


# ----- the three lessons ------------------------------------------------------------------------


def warm_up_discriminator(gan, x, steps: int, batch_size: int, labels=None) -> None:
    """A few discriminator steps against the untrained generator: it learns at once to tell
    digits from the generator's noise (the trivial ~100 % starting point of the game)."""
    from ..utils.random import get_rng

    for _ in range(steps):
        batch = get_rng().integers(0, len(x), batch_size)
        if labels is None:
            gan.discriminator_step(x[batch])
        else:
            gan.discriminator_step(x[batch], labels[batch])


def evaluation_accuracy(gan, x_test, y_test, count: int) -> float:
    """The discriminator's accuracy on ``count`` held-out real digits and as many fresh
    generated ones (for the conditional GAN, the real digits carry their labels and the
    generated ones random labels)."""
    if y_test is None:
        return gan.discriminator_accuracy(x_test[:count])
    real = np.concatenate([x_test[:count], gan.label_code(y_test[:count])], axis=1)
    labels = gan.sample_labels(count)
    fake = np.concatenate([gan.generate(labels=labels), gan.label_code(labels)], axis=1)
    said_real = gan.discriminator.predict_on_batch(real)[:, 0] > 0.5
    said_fake = gan.discriminator.predict_on_batch(fake)[:, 0] <= 0.5
    return float((said_real.sum() + said_fake.sum()) / (2 * count))


def train_gan(x, x_test, config, seed, pictures=None):
    """Lesson 1: the GAN, with a sample grid per epoch from fixed noise. Returns the GAN, the
    discriminator's held-out accuracy after the warm-up and after every epoch, and samples of
    the untrained generator (what the game starts from)."""
    gan = make_gan(config["hidden"], config["learning_rate"], seed)
    fixed_noise = gan.sample_noise(64)
    untrained_samples = gan.generate(config["evaluate"])
    warm_up_discriminator(gan, x, config["warmup_steps"], config["batch_size"])
    accuracy = [evaluation_accuracy(gan, x_test, None, config["evaluate"])]

    def after_epoch(epoch, trained):
        accuracy.append(evaluation_accuracy(trained, x_test, None, config["evaluate"]))
        if pictures is not None:
            save_grid(pictures, trained.generate(noise=fixed_noise), 8,
                      f"gan_epoch_{epoch + 1:02d}.png",
                      f"GAN samples after epoch {epoch + 1} (same noise every epoch)")

    gan.fit(x, epochs=config["epochs"], batch_size=config["batch_size"],
            on_epoch_end=after_epoch, verbose=0)
    return gan, accuracy, untrained_samples


def train_conditional_gan(x, y, x_test, y_test, config, seed):
    """Lesson 2: the conditional GAN; its held-out discriminator accuracy per epoch."""
    gan = make_conditional_gan(config["hidden"], config["learning_rate"], seed)
    warm_up_discriminator(gan, x, config["warmup_steps"], config["batch_size"], labels=y)
    accuracy = [evaluation_accuracy(gan, x_test, y_test, config["evaluate"])]
    gan.fit(x, y, epochs=config["epochs"], batch_size=config["batch_size"], verbose=0,
            on_epoch_end=lambda epoch, trained: accuracy.append(
                evaluation_accuracy(trained, x_test, y_test, config["evaluate"])))
    return gan, accuracy


def style_spread(images, labels) -> float:
    """Per digit, the pixels' standard deviation across that digit's images, averaged over
    pixels and digits: how different the images of one digit are from each other."""
    labels = np.asarray(labels)
    return float(np.mean([images[labels == digit].std(axis=0).mean()
                          for digit in np.unique(labels)]))


def reconstruction_error(autoencoder, x) -> float:
    """Mean squared error between images and their reconstructions (pixels in [-1, 1])."""
    return float(np.mean((autoencoder.predict(x, batch_size=256) - x) ** 2))


def train_autoencoder(x, x_test, config, seed):
    """Lesson 3: the autoencoder; test reconstruction error before and after, and the
    per-epoch training loss."""
    encoder, decoder, autoencoder = make_autoencoder(config["hidden"], seed)
    before = reconstruction_error(autoencoder, x_test)
    history = autoencoder.fit(x, x, batch_size=64, epochs=config["epochs"], verbose=0)
    after = reconstruction_error(autoencoder, x_test)
    return encoder, decoder, autoencoder, {"test_error_before": before,
                                           "test_error_after": after,
                                           "loss": history.history["loss"]}


def decode_from_gaussian(encoder, decoder, x, count, rng):
    """New digits from the decoder: codes drawn from a Gaussian with the mean and
    covariance of the real digits' codes."""
    codes = encoder.predict(x, batch_size=256).astype(np.float64)
    mean, covariance = codes.mean(axis=0), np.cov(codes, rowvar=False)
    drawn = rng.multivariate_normal(mean, covariance, size=count).astype(np.float32)
    return decoder.predict(drawn)


def decode_interpolation(encoder, decoder, first, second, steps: int):
    """Decoded images along the straight line between the codes of two images."""
    codes = encoder.predict(np.stack([first, second]))
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return decoder.predict((1 - weights) * codes[0] + weights * codes[1])


# ----- the chapter ------------------------------------------------------------------------------


def settings(quick: bool) -> dict:
    """Sizes for the full chapter and for ``quick`` (tests: the same lessons, cruder digits)."""
    if quick:
        return {"train": 2000, "judge_epochs": 3, "evaluate": 500,
                "gan": {"hidden": 128, "learning_rate": 1e-3, "epochs": 5, "batch_size": 16,
                        "warmup_steps": 10, "evaluate": 500},
                "cgan": {"hidden": 128, "learning_rate": 1e-3, "epochs": 3, "batch_size": 16,
                         "warmup_steps": 10, "evaluate": 500},
                "autoencoder": {"hidden": 128, "epochs": 3}}
    return {"train": 8000, "judge_epochs": 5, "evaluate": 2000,
            "gan": {"hidden": 256, "learning_rate": 5e-4, "epochs": 10, "batch_size": 32,
                    "warmup_steps": 20, "evaluate": 1000},
            "cgan": {"hidden": 256, "learning_rate": 5e-4, "epochs": 6, "batch_size": 32,
                     "warmup_steps": 20, "evaluate": 1000},
            "autoencoder": {"hidden": 256, "epochs": 10}}


def run(output_dir, quick: bool = False, seed: int = 0) -> dict:
    """Run the three lessons; return their numbers (see the module docstring)."""
    pictures = Pictures(output_dir, NAME)
    with one_thread():
        return _run(settings(quick), seed, pictures)


def _run(config, seed, pictures):
    rng = np.random.default_rng(seed)
    (x, y), (x_test, y_test) = load_digits(config["train"])
    judge = train_judge(x, y, config["judge_epochs"], seed)
    count = config["evaluate"]
    noise_recognised = recognised(judge, noise_images(count, rng))
    real_recognised = recognised(judge, x_test[:count])

    gan, gan_accuracy, untrained_samples = train_gan(x, x_test, config["gan"], seed, pictures)
    gan_samples = gan.generate(count)
    gan_recognised = recognised(judge, gan_samples)
    untrained_recognised = recognised(judge, untrained_samples)
    epoch_accuracies = ", ".join(f"{value:.0%}" for value in gan_accuracy[1:])
    say(NAME, f"""
1. GAN ({config['gan']['epochs']} epochs over {len(x)} digits). The discriminator's accuracy on
   held-out real digits vs fresh generated ones: {gan_accuracy[0]:.0%} after its warm-up against
   the untrained generator, then after each epoch: {epoch_accuracies}.
   The judge (a classifier trained on real digits) recognises with >= {CONFIDENT:.0%} confidence:
   real test digits {real_recognised:.0%}, generated {gan_recognised:.0%}, \
noise images {noise_recognised:.0%}, the untrained generator's {untrained_recognised:.0%}.
   Notice: the discriminator starts out right almost every time (noise is easy to spot);
   once the generator learns, its accuracy drops and wanders (here {min(gan_accuracy[1:]):.0%} to \
{max(gan_accuracy[1:]):.0%}),
   because each network's progress is the other's setback. At the game's equilibrium
   D(x) = 1/2 everywhere: 50 %, a coin. The losses do not fall together as in ordinary
   training either: the two networks are opponents.""")
    draw_gan_curves(pictures, gan.history, gan_accuracy, "gan_training.png", "GAN")

    cgan, cgan_accuracy = train_conditional_gan(x, y, x_test, y_test, config["cgan"], seed)
    requested = np.repeat(np.arange(CLASSES), count // CLASSES)
    drawn = cgan.generate(labels=requested)
    drawn_as_requested = recognised(judge, drawn, wanted_labels=requested)
    judged = judge.predict(drawn, batch_size=256).argmax(axis=1)
    per_digit = [float(np.mean(judged[requested == digit] == digit)) for digit in range(CLASSES)]
    per_digit_text = " ".join(f"{value:.0%}" for value in per_digit)
    spread_generated = style_spread(drawn, requested)
    spread_real = style_spread(x_test, y_test)
    say(NAME, f"""
2. Conditional GAN: asked for each digit {count // CLASSES} times, the judge reads the requested
   digit back {np.mean(per_digit):.0%} of the time (chance: 10 %), with >= {CONFIDENT:.0%} \
confidence {drawn_as_requested:.0%};
   per digit 0..9: {per_digit_text}. Discriminator accuracy:
   {cgan_accuracy[0]:.0%} after its warm-up, {cgan_accuracy[-1]:.0%} at the end.
   Variety within a digit (pixel standard deviation over the samples of one digit,
   averaged over digits): generated {spread_generated:.2f}, real test digits {spread_real:.2f}.
   Notice: the label decides *what* is drawn. If the generated variety is much smaller than
   the real one, the noise barely changes the drawing (compare the columns of the grid):
   the generator has found one good drawing per digit and ignores the rest of its input.
   That is mode collapse, the GAN's classic failure: the discriminator judges one sample at a
   time, so nothing rewards variety. (Remedies such as minibatch discrimination, Salimans et
   al. 2016, go beyond this chapter.)""")
    style_noise = cgan.sample_noise(8)
    grid_labels = np.repeat(np.arange(CLASSES), 8)
    save_grid(pictures, cgan.generate(noise=np.tile(style_noise, (CLASSES, 1)),
                                      labels=grid_labels), 8, "conditional_gan.png",
              "conditional GAN: row = requested digit 0..9,\ncolumn = one noise vector", width=4.0)

    encoder, decoder, autoencoder, reconstruction = train_autoencoder(
        x, x_test, config["autoencoder"], seed)
    decoded = decode_from_gaussian(encoder, decoder, x, count, rng)
    decoded_recognised = recognised(judge, decoded)
    say(NAME, f"""
3. Autoencoder (784 -> {CODE_DIM} -> 784): test reconstruction error (MSE, pixels in [-1, 1])
   {reconstruction['test_error_before']:.3f} untrained, \
{reconstruction['test_error_after']:.3f} after {config['autoencoder']['epochs']} epochs.
   Its decoder, fed codes drawn from a Gaussian fitted to real digits' codes, draws images
   the judge recognises {decoded_recognised:.0%} of the time.
   Notice: the decoder is a generator too, but it was only taught to copy: its digits are
   blurred averages of what could fit a code, and codes far from the real ones decode to
   smudges. The GAN's generator was taught by an opponent what looks real.""")
    save_grid(pictures, np.concatenate([x_test[:8], autoencoder.predict(x_test[:8]),
                                        decoded[:16]]), 8, "autoencoder.png",
              "autoencoder: test digits / reconstructions /\ndecoded random codes (2 rows)",
              width=5.0)
    save_grid(pictures, decode_interpolation(encoder, decoder, x_test[0], x_test[1], 8), 8,
              "autoencoder_interpolation.png",
              f"decoding the line between the codes of a {y_test[0]} and a {y_test[1]}",
              width=5.0)
    return {
        "recognised": {"real": real_recognised, "noise": noise_recognised,
                       "gan": gan_recognised, "gan_untrained": untrained_recognised,
                       "autoencoder_decoder": decoded_recognised,
                       "conditional_as_requested": drawn_as_requested},
        "gan": {"d_accuracy_evaluated": gan_accuracy, "history": gan.history},
        "conditional_gan": {"d_accuracy_evaluated": cgan_accuracy, "history": cgan.history,
                            "requested_digit_read_back": per_digit,
                            "style_spread": {"generated": spread_generated,
                                             "real": spread_real}},
        "autoencoder": reconstruction,
        # The images behind the numbers, so a test can judge them with its own classifier.
        "samples": {"gan": gan_samples, "gan_untrained": untrained_samples,
                    "conditional": drawn, "conditional_labels": requested,
                    "autoencoder_decoder": decoded},
        "settings": config,
        "pictures": pictures.written,
    }
