"""chalknet.rl (REINFORCE) and course chapter 7: returns, the policy gradient against finite
differences, the delayed-reward corridor learned, and CartPole-v1 solved (with gymnasium)."""

from __future__ import annotations

import numpy as np
import pytest

import chalknet
from chalknet import rl
from chalknet.course import reinforcement as chapter
from chalknet.utils import set_random_seed

pytestmark = pytest.mark.usefixtures("one_thread")


# ----- discounted returns --------------------------------------------------------------------


def test_discounted_returns_match_a_hand_computed_example():
    # rewards 1, 0, 2 with gamma 0.5:  G_2 = 2,  G_1 = 0 + 0.5 * 2 = 1,  G_0 = 1 + 0.5 * 1 = 1.5
    np.testing.assert_array_equal(rl.discounted_returns([1.0, 0.0, 2.0], 0.5), [1.5, 1.0, 2.0])
    # only the last step pays (the corridor): G_t = gamma^(T-1-t)
    np.testing.assert_allclose(rl.discounted_returns([0, 0, 0, 1], 0.9), [0.729, 0.81, 0.9, 1.0],
                               rtol=1e-15)


def test_discounted_returns_limits():
    rewards = [3.0, -1.0, 2.0, 5.0]
    np.testing.assert_array_equal(rl.discounted_returns(rewards, 0.0), rewards)
    np.testing.assert_array_equal(rl.discounted_returns(rewards, 1.0), [9.0, 6.0, 7.0, 5.0])
    assert rl.discounted_returns([], 0.9).shape == (0,)
    with pytest.raises(ValueError, match="gamma"):
        rl.discounted_returns(rewards, 1.5)
    with pytest.raises(ValueError, match="1-D"):
        rl.discounted_returns(np.ones((2, 2)), 0.9)


# ----- the policy gradient -------------------------------------------------------------------


def test_policy_gradient_matches_finite_differences_of_the_surrogate_loss():
    set_random_seed(3)
    rng = np.random.default_rng(4)
    policy = rl.policy_network(5, 3, hidden=(4, 6), dtype="float64")
    observations = rng.standard_normal((9, 5))
    policy.forward(observations)
    # random output weights too (policy_network starts them at zero)
    policy.set_weights([rng.standard_normal(w.shape) for w in policy.get_weights()])
    actions = rng.integers(0, 3, 9)
    advantages = rng.standard_normal(9)
    episodes = 2

    analytic = [g.copy() for g, _ in rl.policy_gradient(policy, observations, actions,
                                                         advantages, episodes)]
    variables = [v for _, v in rl.policy_gradient(policy, observations, actions, advantages,
                                                  episodes)]
    assert len(analytic) == len(policy.get_weights()) == 6
    step = 1e-6
    for gradient, variable in zip(analytic, variables, strict=True):
        numeric = np.zeros_like(variable)
        for index in np.ndindex(variable.shape):
            saved = variable[index]
            variable[index] = saved + step
            up = rl.surrogate_loss(policy, observations, actions, advantages, episodes)
            variable[index] = saved - step
            down = rl.surrogate_loss(policy, observations, actions, advantages, episodes)
            variable[index] = saved
            numeric[index] = (up - down) / (2 * step)
        error = np.max(np.abs(gradient - numeric)) / max(np.max(np.abs(numeric)), 1e-12)
        assert error < 1e-6, (variable.shape, error)


def test_policy_gradient_of_one_step_is_the_advantage_weighted_score():
    # One state, action 1 taken, advantage 2: dL/dz = 2 (pi - onehot(1)) at the logits; with
    # a single Dense layer dL/dbias is exactly that, and pushing along -dL/dz raises pi(1).
    policy = rl.policy_network(2, 3, hidden=(), dtype="float64")
    state = np.array([[0.5, -1.0]])
    policy.forward(state)
    policy.layers[-1].bias[...] = [0.2, -0.1, 0.4]
    pi = policy.forward(state)[0]
    (d_kernel, kernel), (d_bias, _) = rl.policy_gradient(policy, state, [1], [2.0], 1)
    np.testing.assert_allclose(d_bias, 2.0 * (pi - [0.0, 1.0, 0.0]), rtol=1e-14)
    np.testing.assert_allclose(d_kernel, state.T @ d_bias[None, :], rtol=1e-14)
    kernel -= 0.1 * d_kernel
    policy.layers[-1].bias[...] -= 0.1 * d_bias
    assert policy.forward(state)[0, 1] > pi[1]


def test_policy_gradient_needs_a_softmax_output():
    model = chalknet.Sequential([chalknet.Input((2,)), chalknet.layers.Dense(3)])
    with pytest.raises(ValueError, match="softmax"):
        rl.policy_gradient(model, np.zeros((1, 2)), [0], [1.0], 1)


def test_sampled_actions_follow_the_probabilities_and_repeat_with_the_seed():
    probabilities = np.tile([0.1, 0.6, 0.3], (20000, 1))
    set_random_seed(0)
    actions = rl.sample_actions(probabilities)
    frequencies = np.bincount(actions, minlength=3) / len(actions)
    # standard error of each frequency is below 0.0035: 4 of them
    np.testing.assert_allclose(frequencies, [0.1, 0.6, 0.3], atol=0.014)
    set_random_seed(0)
    np.testing.assert_array_equal(rl.sample_actions(probabilities), actions)
    certain = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(rl.sample_actions(certain), [2, 0])


# ----- the corridor --------------------------------------------------------------------------


def test_corridor_pays_only_at_the_door_with_the_key():
    env = rl.KeyDoorCorridor(length=4, max_steps=10)
    observation, info = env.reset(seed=0)
    np.testing.assert_array_equal(observation, [1, 0, 0, 0, 0])
    assert info == {}
    _, reward, terminated, truncated, _ = env.step(env.PICK_UP)
    assert (reward, terminated, truncated) == (0.0, False, False)
    for _ in range(2):
        observation, reward, terminated, truncated, _ = env.step(env.RIGHT)
        assert reward == 0.0 and not terminated
    np.testing.assert_array_equal(observation, [0, 0, 1, 0, 1])
    _, reward, terminated, truncated, _ = env.step(env.RIGHT)
    assert (reward, terminated, truncated) == (1.0, True, False)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.RIGHT)


def test_corridor_door_without_the_key_and_truncation():
    env = rl.KeyDoorCorridor(length=3, max_steps=4)
    env.reset()
    env.step(env.RIGHT)
    _, reward, terminated, _, _ = env.step(env.RIGHT)
    assert (reward, terminated) == (0.0, True)
    env.reset()
    outcomes = [env.step(env.LEFT) for _ in range(4)]
    assert [o[3] for o in outcomes] == [False, False, False, True]
    assert all(o[1] == 0.0 and not o[2] for o in outcomes)
    env.reset()
    with pytest.raises(ValueError, match="action"):
        env.step(5)
    with pytest.raises(ValueError, match="max_steps"):
        rl.KeyDoorCorridor(length=6, max_steps=3)


def test_chance_success_rate_of_the_corridor_is_low():
    # Random actions open the door in roughly 1 episode of 6; the learning test starts there.
    assert 0.10 < chapter.chance_success_rate(episodes=2000) < 0.25


def test_the_delayed_reward_task_is_learned():
    result = chapter.train_corridor(seed=0)
    returns = np.asarray(result["log"].episode_returns)
    assert len(returns) == chapter.CORRIDOR["episodes"] == 400
    # The policy starts uniform: the first batch succeeds at about the chance rate.
    np.testing.assert_allclose(result["key_first_probability"][0], 0.5, atol=1e-6)
    assert returns[:40].mean() < 0.4
    assert returns[-80:].mean() >= 0.9
    assert result["key_first_probability"][-1] > 0.75


def test_training_repeats_bit_for_bit_with_the_seed():
    settings = {"episodes": 48}
    first = chapter.train_corridor(seed=5, settings=settings)
    second = chapter.train_corridor(seed=5, settings=settings)
    assert first["log"].episode_returns == second["log"].episode_returns
    assert first["key_first_probability"] == second["key_first_probability"]


def test_agent_refuses_unknown_settings():
    policy = rl.policy_network(2, 2)
    with pytest.raises(ValueError, match="baseline"):
        rl.REINFORCE(policy, baseline="value")
    with pytest.raises(ValueError, match="gamma"):
        rl.REINFORCE(policy, gamma=2.0)


# ----- the chapter ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    chalknet.set_num_threads(1)
    return chapter.run(tmp_path_factory.mktemp("reinforcement"), quick=True)


def test_chapter_credit_assignment_claims(results):
    corridor = results["corridor"]
    example = corridor["credit_example"]
    assert example, "no batch with a success, a failure and a positive baseline"
    assert example["rewards"][-1] == 1.0 and not any(example["rewards"][:-1])
    gamma = corridor["settings"]["gamma"]
    steps = len(example["rewards"])
    np.testing.assert_allclose(example["returns"], gamma ** np.arange(steps - 1, -1, -1),
                               rtol=1e-12)
    assert corridor["every_success_step_credited"] is True
    assert corridor["every_failure_step_blamed"] is True
    assert corridor["final_success_rate"] >= 0.9 > 0.3 > corridor["chance_success_rate"]


def test_chapter_pictures(results):
    pytest.importorskip("matplotlib")
    names = sorted(p.rsplit("/", 1)[-1] for p in results["pictures"])
    expected = ["corridor_credit_assignment.png"]
    if results["cartpole"] is not None:
        expected += ["baseline_variance.png", "cartpole_learning_curve.png"]
    assert names == sorted(expected)


def test_chapter_baseline_keeps_the_mean_and_lowers_the_variance(results):
    if results["cartpole"] is None:
        pytest.skip("the baseline lesson runs on CartPole, which needs gymnasium")
    effect = results["cartpole"]["baseline_effect"]
    # The difference of the two estimates, b * sum_t grad log pi, has expectation 0: its mean
    # over the episodes is about 1 standard error long (3 would be far out).
    assert effect["mean_difference_in_standard_errors"] < 3.0
    assert effect["variance_with_baseline"] < 0.8 * effect["variance_without_baseline"]
    assert effect["baseline"] > 5  # the untrained policy lasts ~20 steps: returns well above 0


def test_cartpole_is_solved_with_the_documented_seed():
    # The chapter's claim at its full settings: mean return >= 475 over 100 consecutive
    # training episodes within 1,000 episodes, seed 0 (about 8 s on one core).
    pytest.importorskip("gymnasium", reason="CartPole needs gymnasium (the 'rl' extra)")
    log = chapter.train_cartpole()
    assert chapter.CARTPOLE["episodes"] == 1000 and chapter.CARTPOLE["seed"] == 0
    assert log.solved_episode is not None and log.solved_episode <= 1000
    window = log.episode_returns[log.solved_episode - 100:log.solved_episode]
    assert len(window) == 100 and np.mean(window) >= 475.0
    assert np.mean(log.episode_returns[:20]) < 100  # it did start from a failing policy


def test_chapter_runs_without_gymnasium(tmp_path, monkeypatch, capsys):
    # A None entry in sys.modules makes "import gymnasium" raise ImportError.
    import sys

    monkeypatch.setitem(sys.modules, "gymnasium", None)
    monkeypatch.setitem(chapter.CORRIDOR, "episodes", 48)
    results = chapter.run(tmp_path, quick=True)
    assert results["cartpole"] is None
    assert "pip install 'chalknet[rl]'" in capsys.readouterr().out
    assert len(results["corridor"]["episode_returns"]) == 48
