"""chalknet.gan and chapter 6 (GANs, a conditional GAN, an autoencoder).

The mechanics (a frozen discriminator stays frozen) are checked on tiny networks; the claims
of the chapter on one quick run of it, judged by a classifier that this file trains itself.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from chalknet import Input, Sequential
from chalknet.course import gans as chapter
from chalknet.gan import GAN, ConditionalGAN
from chalknet.layers import Dense, LeakyReLU
from chalknet.utils import set_random_seed

pytestmark = pytest.mark.usefixtures("one_thread")


# ----- the loop's mechanics, on tiny networks -------------------------------------------------


def tiny_gan(conditional=False):
    set_random_seed(3)
    classes = 3 if conditional else 0
    generator = Sequential([Input(shape=(4 + classes,)), Dense(8), LeakyReLU(0.2),
                            Dense(6, activation="tanh")])
    discriminator = Sequential([Input(shape=(6 + classes,)), Dense(8), LeakyReLU(0.2),
                                Dense(1, activation="sigmoid")])
    if conditional:
        return ConditionalGAN(generator, discriminator, latent_dim=4, num_classes=classes)
    return GAN(generator, discriminator, latent_dim=4)


def real_batch(count=16):
    return np.random.default_rng(0).uniform(-1, 1, (count, 6)).astype(np.float32)


@pytest.mark.parametrize("conditional", [False, True], ids=["gan", "conditional"])
def test_generator_step_leaves_the_frozen_discriminator_unchanged(conditional):
    gan = tiny_gan(conditional)
    d_before = gan.discriminator.get_weights()
    g_before = gan.generator.get_weights()
    gan.generator_step(16)
    for before, after in zip(d_before, gan.discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    moved = [np.max(np.abs(b - a)) for b, a in zip(g_before, gan.generator.get_weights(),
                                                    strict=True)]
    assert min(moved) > 0, "every generator weight should move in a generator step"


@pytest.mark.parametrize("conditional", [False, True], ids=["gan", "conditional"])
def test_discriminator_step_trains_the_discriminator_only(conditional):
    gan = tiny_gan(conditional)
    d_before = gan.discriminator.get_weights()
    g_before = gan.generator.get_weights()
    if conditional:
        gan.discriminator_step(real_batch(), np.array([0, 1, 2, 0] * 4))
    else:
        gan.discriminator_step(real_batch())
    for before, after in zip(g_before, gan.generator.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    moved = [np.max(np.abs(b - a)) for b, a in zip(d_before, gan.discriminator.get_weights(),
                                                    strict=True)]
    assert min(moved) > 0


def test_combined_model_sees_only_the_generators_weights():
    gan = tiny_gan()
    trainable = gan.combined.trainable_weight_names
    assert len(trainable) == 4
    assert set(trainable) == set(gan.generator.weight_names)


def test_generator_step_loss_is_the_non_saturating_loss():
    # -mean(log D(G(z))) for the noise the step draws: replay the draw with the same seed.
    gan = tiny_gan()
    set_random_seed(11)
    noise = gan.sample_noise(16)
    p_real = gan.discriminator.predict_on_batch(gan.generator.predict_on_batch(noise))
    expected = -np.mean(np.log(np.clip(p_real, 1e-7, 1 - 1e-7)))
    set_random_seed(11)
    assert gan.generator_step(16) == pytest.approx(expected, rel=1e-5)


def test_fit_records_one_value_per_epoch_and_calls_back():
    gan = tiny_gan()
    seen = []
    history = gan.fit(real_batch(40), epochs=3, batch_size=8, verbose=0,
                      on_epoch_end=lambda epoch, trained: seen.append(epoch))
    assert seen == [0, 1, 2]
    assert set(history) == {"d_loss", "g_loss", "d_accuracy"}
    assert all(len(values) == 3 for values in history.values())
    assert all(0.0 <= value <= 1.0 for value in history["d_accuracy"])


def test_conditional_gan_refuses_bad_labels():
    gan = tiny_gan(conditional=True)
    with pytest.raises(ValueError, match=r"ConditionalGAN.*\[0, 3\).*5"):
        gan.generate(labels=[0, 5])
    with pytest.raises(ValueError, match=r"ConditionalGAN.fit.*\(40,\)"):
        gan.fit(real_batch(40), np.zeros(39, dtype=int), epochs=1)


def test_conditional_generator_output_depends_on_the_label():
    gan = tiny_gan(conditional=True)
    noise = gan.sample_noise(2)
    same_noise = np.repeat(noise[:1], 2, axis=0)
    samples = gan.generate(noise=same_noise, labels=[0, 1])
    assert samples.shape == (2, 6)
    assert np.max(np.abs(samples[0] - samples[1])) > 0


# ----- the chapter's claims, judged by a classifier trained here --------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return chapter.run(tmp_path_factory.mktemp("gans"), quick=True)


@pytest.fixture(scope="module")
def classifier():
    """784 -> 64 relu -> 10 softmax on the 8,000 bundled training digits scaled to [-1, 1],
    2 epochs (a different network from the chapter's judge). It reaches about 93 % on the
    test digits; the test below checks it is good enough to be a judge."""
    set_random_seed(5)
    (x, y), _ = chapter.load_digits(8000)
    model = Sequential([Input(shape=(784,)), Dense(64, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    return model


def recognised(classifier, images, labels=None):
    """Fraction of images whose top class gets probability >= 0.5 (and is ``labels``)."""
    probabilities = classifier.predict(images, batch_size=256)
    sure = probabilities.max(axis=1) >= 0.5
    if labels is not None:
        sure &= probabilities.argmax(axis=1) == labels
    return float(sure.mean())


def test_the_classifier_is_a_fair_judge(classifier):
    _, (x_test, y_test) = chapter.load_digits(1)
    # Right on > 88 % of the held-out digits, recognises (p >= 0.5) > 85 % of them and
    # < 10 % of uniform noise images.
    assert np.mean(classifier.predict(x_test).argmax(axis=1) == y_test) > 0.88
    noise = np.random.default_rng(1).uniform(-1, 1, (500, 784)).astype(np.float32)
    assert recognised(classifier, noise) < 0.10
    assert recognised(classifier, x_test[:500]) > 0.85


def test_discriminator_accuracy_falls_from_trivial_towards_a_coin(results):
    # After its warm-up against the untrained generator the discriminator is almost always
    # right (>= 95 %); once the generator has learned, its accuracy on held-out real digits
    # and fresh samples is, averaged over the last three epochs, at most 90 % and at least
    # 8 points below the start. (A GAN's accuracy wanders; the average steadies the check.)
    accuracy = results["gan"]["d_accuracy_evaluated"]
    assert accuracy[0] >= 0.95
    late = float(np.mean(accuracy[-3:]))
    assert late <= 0.90
    assert late <= accuracy[0] - 0.08


def test_generated_samples_are_recognised_as_digits_more_often_than_noise(results, classifier):
    # Threshold: at least 15 points more of the generated samples than of uniform noise, and
    # than of the untrained generator's samples, get a top-class probability >= 0.5.
    samples = results["samples"]
    noise = np.random.default_rng(2).uniform(-1, 1, samples["gan"].shape).astype(np.float32)
    generated = recognised(classifier, samples["gan"])
    assert generated >= recognised(classifier, noise) + 0.15
    assert generated >= recognised(classifier, samples["gan_untrained"]) + 0.15


def test_conditional_gan_draws_the_requested_digit(results, classifier):
    # Asked for each digit equally often, the classifier reads the requested digit back (top
    # class, any confidence) at least 30 % of the time: three times chance.
    samples = results["samples"]
    read = classifier.predict(samples["conditional"]).argmax(axis=1)
    assert np.mean(read == samples["conditional_labels"]) >= 0.30


def test_autoencoder_reconstruction_error_falls(results):
    autoencoder = results["autoencoder"]
    assert autoencoder["test_error_after"] < 0.5 * autoencoder["test_error_before"]
    loss = autoencoder["loss"]
    assert all(later < earlier for earlier, later in itertools.pairwise(loss))


def test_chapter_reports_every_lesson(results):
    assert results["samples"]["gan"].shape == (results["settings"]["evaluate"], 784)
    assert np.all(np.abs(results["samples"]["gan"]) <= 1.0)
    labels = results["samples"]["conditional_labels"]
    assert np.array_equal(np.bincount(labels), np.full(10, len(labels) // 10))
    assert len(results["conditional_gan"]["requested_digit_read_back"]) == 10
    epochs = results["settings"]["gan"]["epochs"]
    assert len(results["gan"]["d_accuracy_evaluated"]) == epochs + 1
    assert all(len(values) == epochs for values in results["gan"]["history"].values())


def test_pictures_show_every_epoch(results):
    pytest.importorskip("matplotlib")
    names = sorted(path.rsplit("/", 1)[-1] for path in results["pictures"])
    epochs = results["settings"]["gan"]["epochs"]
    assert [f"gan_epoch_{epoch:02d}.png" for epoch in range(1, epochs + 1)] == [
        name for name in names if name.startswith("gan_epoch_")]
    assert {"gan_training.png", "conditional_gan.png", "autoencoder.png",
            "autoencoder_interpolation.png"} <= set(names)


def test_style_spread_is_zero_for_copies_and_grows_with_variety():
    rng = np.random.default_rng(0)
    copies = np.repeat(rng.uniform(-1, 1, (1, 784)), 6, axis=0)
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert chapter.style_spread(copies, labels) < 1e-12  # rounding in the mean
    varied = copies + rng.normal(0, 0.1, copies.shape)
    assert chapter.style_spread(varied, labels) == pytest.approx(0.1, rel=0.3)
