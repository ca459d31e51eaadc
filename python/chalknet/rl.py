"""Reinforcement learning by policy gradient: REINFORCE with a baseline (course chapter 7).

The setting (Sutton & Barto 2018, *Reinforcement Learning: An Introduction*, ch. 3). At each
step t the agent sees a state s_t, draws an action a_t from its policy pi_theta(a | s), and
the environment answers with a reward r_{t+1} and the next state. The agent wants a large
expected *discounted return*

    G_t = r_{t+1} + gamma r_{t+2} + gamma^2 r_{t+3} + ...  =  r_{t+1} + gamma G_{t+1}  (S&B 3.8-3.9)

REINFORCE (Williams 1992, "Simple statistical gradient-following algorithms for connectionist
reinforcement learning"; S&B sec. 13.3-13.4) follows the policy gradient theorem:

    grad J(theta) = E[ sum_t (G_t - b(s_t)) grad log pi_theta(a_t | s_t) ]    (S&B 13.8, 13.11)

The baseline b(s) changes nothing in expectation, because
sum_a pi(a|s) grad log pi(a|s) = grad sum_a pi(a|s) = grad 1 = 0, but it shrinks the variance of
the estimate: an action is pushed up when its return beat what was expected from that state
and down when it fell short. The advantage A_t = G_t - b(s_t) is how much better.

We estimate the gradient from a batch of E episodes and take a step of gradient descent on the
*surrogate loss* (the advantages are numbers here, not functions of theta):

    L(theta) = -(1/E) sum_episodes sum_t A_t log pi_theta(a_t | s_t)

With a softmax policy pi = softmax(z) over the logits z that the network computes,
d log pi_a / d z_j = delta_aj - pi_j (the softmax derivative pi_a (delta_aj - pi_j) divided by
pi_a; S&B 13.9 is the same for linear preferences), so

    dL/dz_t = -(A_t / E) (onehot(a_t) - pi(. | s_t))  =  (A_t / E) (pi(. | s_t) - onehot(a_t))

which is the cross-entropy gradient (p - y) of supervised classification with the agent's own
action as the label, weighted by its advantage: REINFORCE imitates its own lucky actions and
un-learns its unlucky ones. ``policy_gradient`` hands this dL/dz to the last Dense layer's
``backward_preactivation`` and backpropagates it with each layer's explicit ``backward``;
a chalknet optimizer then applies the gradients.

    import gymnasium as gym
    from chalknet import rl
    envs = [gym.make("CartPole-v1") for _ in range(4)]
    agent = rl.REINFORCE(rl.policy_network(4, 2, hidden=(32,)), learning_rate=0.01)
    log = agent.train(envs, episodes=1000, seed=0, solve_threshold=475.0)

The built-in ``KeyDoorCorridor`` (a delayed reward, no gymnasium needed) shows the lesson of
credit assignment: the only reward comes at the door, several steps after the action that
earned it (picking up the key).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import optimizers as optimizers_module
from .layers import Dense
from .models import Input, Sequential
from .optimizers import Optimizer
from .utils.random import get_rng

# ----- returns -------------------------------------------------------------------------------


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_{t+1} + gamma G_{t+1} for every step of one episode, computed backwards.

    ``rewards[t]`` is the reward that followed the action at step t (S&B's r_{t+1}); after
    the last step the return is 0 (the episode ended, or we stop counting at truncation).
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"discounted_returns: gamma must be in [0, 1], got {gamma}")
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 1:
        raise ValueError(f"discounted_returns: rewards must be one episode, a 1-D array; got "
                         f"shape {rewards.shape}")
    returns = np.zeros_like(rewards)
    following = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        following = rewards[t] + gamma * following
        returns[t] = following
    return returns


# ----- a small environment with a delayed reward ---------------------------------------------


class Discrete:
    """The actions 0 .. n-1 (the few attributes of gymnasium's ``spaces.Discrete`` we use)."""

    def __init__(self, n: int):
        self.n = int(n)


class Box:
    """Real vectors of a fixed shape (like gymnasium's ``spaces.Box``, shape only)."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(shape)


class KeyDoorCorridor:
    """A corridor of ``length`` cells; the key lies in cell 0, where the agent starts, and a
    locked door closes the last cell. Only opening the door pays.

    Actions: 0 = step left, 1 = step right, 2 = pick up the key (only does something in cell 0).
    Stepping into the door's cell ends the episode: reward 1 with the key, 0 without (the
    door stays shut). After ``max_steps`` steps the episode is truncated (reward 0).
    Observation: one-hot position (``length`` numbers) followed by 1.0 if the key is held.

    The best play is "pick up, then right, right, ...": ``length`` steps, and the reward
    arrives ``length`` steps after the decisive first action. A uniformly random agent opens
    the door in about 1 episode of 6 (length 6, 20 steps). The API is gymnasium's:
    ``reset(seed=None) -> (observation, info)`` and
    ``step(action) -> (observation, reward, terminated, truncated, info)``.
    """

    LEFT, RIGHT, PICK_UP = 0, 1, 2

    def __init__(self, length: int = 6, max_steps: int = 20):
        if int(length) < 2:
            raise ValueError(f"KeyDoorCorridor: length must be >= 2, got {length}")
        if int(max_steps) < int(length):
            raise ValueError(f"KeyDoorCorridor: max_steps ({max_steps}) must be at least length "
                             f"({length}), or the door cannot be reached")
        self.length = int(length)
        self.max_steps = int(max_steps)
        self.action_space = Discrete(3)
        self.observation_space = Box((self.length + 1,))
        self._position = 0
        self._has_key = False
        self._steps = 0
        self._done = True

    def _observation(self) -> np.ndarray:
        observation = np.zeros(self.length + 1, dtype=np.float32)
        observation[self._position] = 1.0
        observation[-1] = float(self._has_key)
        return observation

    def reset(self, seed: int | None = None,
              options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start a new episode. (The corridor is deterministic: ``seed`` is accepted for
        gymnasium's API and has nothing to draw.)"""
        self._position, self._has_key, self._steps, self._done = 0, False, 0, False
        return self._observation(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._done:
            raise RuntimeError("KeyDoorCorridor.step: the episode is over; call reset() first")
        action = int(action)
        if action not in (self.LEFT, self.RIGHT, self.PICK_UP):
            raise ValueError(f"KeyDoorCorridor.step: action must be 0, 1 or 2, got {action}")
        if action == self.LEFT:
            self._position = max(self._position - 1, 0)
        elif action == self.RIGHT:
            self._position += 1
        elif self._position == 0:
            self._has_key = True
        self._steps += 1
        at_door = self._position == self.length - 1
        reward = 1.0 if at_door and self._has_key else 0.0
        terminated = at_door
        truncated = not terminated and self._steps >= self.max_steps
        self._done = terminated or truncated
        return self._observation(), reward, terminated, truncated, {"has_key": self._has_key}


# ----- networks ------------------------------------------------------------------------------


def policy_network(observation_size: int, n_actions: int, hidden: Sequence[int] = (32,),
                   activation: str = "tanh", dtype: str = "float32") -> Sequential:
    """observation -> Dense hidden layers -> Dense(n_actions, softmax): pi(. | s).

    The output layer starts with zero weights, so the first policy is uniform in every state:
    the agent begins by exploring evenly. (With random output weights some states start with
    one action at a few percent, and in the corridor an unlucky start can then never reach the
    door: no reward ever arrives, every advantage is 0, and nothing is learned.)
    """
    layers = [Input(shape=(int(observation_size),), dtype=dtype)]
    layers += [Dense(units, activation=activation, dtype=dtype) for units in hidden]
    layers.append(Dense(int(n_actions), activation="softmax", kernel_initializer="zeros",
                        dtype=dtype, name="policy"))
    return Sequential(layers)


# ----- the policy gradient -------------------------------------------------------------------


def surrogate_loss(policy: Sequential, observations: np.ndarray, actions: np.ndarray,
                   advantages: np.ndarray, n_episodes: int) -> float:
    """L = -(1/E) sum_t A_t log pi(a_t | s_t) for the steps of E episodes (module docstring).

    Its gradient is minus the REINFORCE estimate of grad J; finite differences of this number
    are what ``policy_gradient`` is checked against."""
    probabilities = policy.forward(np.asarray(observations), training=False)
    taken = probabilities[np.arange(len(actions)), np.asarray(actions)]
    return float(-np.sum(np.asarray(advantages) * np.log(taken)) / n_episodes)


def policy_gradient(policy: Sequential, observations: np.ndarray, actions: np.ndarray,
                    advantages: np.ndarray, n_episodes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Backpropagate the surrogate loss through ``policy``; returns [(gradient, variable)].

    The last layer must be a Dense with a softmax activation. Its dL/dz is written out
    (module docstring): dL/dz_t = (A_t / E) (pi(. | s_t) - onehot(a_t)); the layers' own
    ``backward`` carry it down to every weight.
    """
    last = policy.layers[-1]
    if getattr(getattr(last, "activation", None), "name", None) != "softmax":
        raise ValueError("policy_gradient: the policy's last layer must be a Dense with "
                         f"activation='softmax', got {type(last).__name__} "
                         f"({getattr(getattr(last, 'activation', None), 'name', None)})")
    actions = np.asarray(actions, dtype=np.int64)
    probabilities = policy.forward(np.asarray(observations), training=True)
    onehot = np.zeros_like(probabilities)
    onehot[np.arange(len(actions)), actions] = 1.0
    weights = np.asarray(advantages, dtype=probabilities.dtype)[:, None] / n_episodes
    d_logits = weights * (probabilities - onehot)
    d_input = last.backward_preactivation(d_logits)
    for layer in reversed(policy.layers[:-1]):
        d_input = layer.backward(d_input)
    return [(gradient, getattr(layer, name))
            for layer in policy.layers
            for name, gradient in zip(layer.weight_names, layer.get_gradients(), strict=True)
            if layer.trainable and name in layer.trainable_weight_names]


def sample_actions(probabilities: np.ndarray,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """One action per row of ``probabilities`` (inverse-CDF sampling with chalknet's rng)."""
    rng = get_rng() if rng is None else rng
    probabilities = np.asarray(probabilities, dtype=np.float64)
    cumulative = np.cumsum(probabilities, axis=1)
    uniforms = rng.random(len(probabilities)) * cumulative[:, -1]
    actions = np.sum(cumulative <= uniforms[:, None], axis=1)
    return np.minimum(actions, probabilities.shape[1] - 1)


# ----- episodes ------------------------------------------------------------------------------


@dataclass
class Episode:
    """One episode: what the agent saw, did, was paid, and its policy's probabilities."""

    observations: np.ndarray  # (T, observation size)
    actions: np.ndarray       # (T,)
    rewards: np.ndarray       # (T,)   rewards[t] followed actions[t]
    probabilities: np.ndarray  # (T, n_actions) pi(. | s_t) when the action was drawn

    @property
    def total_reward(self) -> float:
        return float(np.sum(self.rewards))

    def __len__(self) -> int:
        return len(self.actions)


def run_episodes(policy: Sequential, envs: Sequence[Any],
                 first_observations: Sequence[np.ndarray]) -> list[Episode]:
    """Play one episode in each environment, all in lockstep: one forward pass of the policy
    per step for every environment still running. ``first_observations`` come from reset."""
    n = len(envs)
    observations = [[np.asarray(o, dtype=np.float64)] for o in first_observations]
    actions, rewards, probabilities = ([[] for _ in range(n)] for _ in range(3))
    running = list(range(n))
    while running:
        states = np.stack([observations[i][-1] for i in running])
        pi = policy.forward(states, training=False)
        chosen = sample_actions(pi)
        still_running = []
        for row, i in enumerate(running):
            observation, reward, terminated, truncated, _ = envs[i].step(int(chosen[row]))
            actions[i].append(int(chosen[row]))
            rewards[i].append(float(reward))
            probabilities[i].append(pi[row])
            if not (terminated or truncated):
                observations[i].append(np.asarray(observation, dtype=np.float64))
                still_running.append(i)
        running = still_running
    return [Episode(np.stack(observations[i]), np.array(actions[i]), np.array(rewards[i]),
                    np.stack(probabilities[i])) for i in range(n)]


# ----- the agent -----------------------------------------------------------------------------


@dataclass
class TrainingLog:
    """What ``REINFORCE.train`` saw: per episode and per update."""

    episode_returns: list = field(default_factory=list)   # undiscounted total reward
    episode_lengths: list = field(default_factory=list)
    updates: list = field(default_factory=list)           # dict per update (see ``update``)
    solved_episode: int | None = None  # 1-based episode closing the first solving window
    seconds: float = 0.0

    def moving_average(self, window: int) -> np.ndarray:
        """Mean of the last ``window`` episode returns at each episode (fewer at the start)."""
        return moving_average(self.episode_returns, window)


def moving_average(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


class REINFORCE:
    """Monte-Carlo policy gradient with a baseline (Williams 1992; S&B sec. 13.4).

    policy: a Sequential ending in Dense(n_actions, activation="softmax") (``policy_network``).
    optimizer: a chalknet optimizer or its name (Keras's default rate); when None (the
        default), Adam(learning_rate). ``learning_rate`` is used only in that case.
    gamma: the discount of the returns.
    baseline: "running_mean" (b = an exponential moving average of the returns G_t seen in
        past batches, decay ``baseline_decay``), "batch_mean" (the mean G_t of the batch
        itself), or None (b = 0).
    normalize_advantages: divide the advantages by their standard deviation over the batch, a
        per-update step size that keeps the gradient's scale the same whether returns are
        0..1 (the corridor) or 0..100 (CartPole).
    """

    BASELINES = ("running_mean", "batch_mean", None)

    def __init__(self, policy: Sequential, optimizer: str | Optimizer | None = None,
                 learning_rate: float = 0.01, gamma: float = 0.99,
                 baseline: str | None = "batch_mean", normalize_advantages: bool = True,
                 baseline_decay: float = 0.9):
        if baseline not in self.BASELINES:
            raise ValueError(f"REINFORCE: baseline must be one of {self.BASELINES}, "
                             f"got {baseline!r}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"REINFORCE: gamma must be in [0, 1], got {gamma}")
        self.policy = policy
        self.optimizer = (optimizers_module.Adam(learning_rate) if optimizer is None
                          else optimizers_module.get(optimizer))
        self.gamma = float(gamma)
        self.baseline = baseline
        self.normalize_advantages = bool(normalize_advantages)
        self.baseline_decay = float(baseline_decay)
        self.running_mean = None  # the "running_mean" baseline, set after the first batch

    def advantages(self, episodes: Sequence[Episode]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(returns, baseline, advantages) for every step of the batch, episode after episode."""
        returns = np.concatenate([discounted_returns(e.rewards, self.gamma) for e in episodes])
        if self.baseline == "batch_mean":
            baseline = np.full_like(returns, returns.mean())
        elif self.baseline == "running_mean":
            level = returns.mean() if self.running_mean is None else self.running_mean
            baseline = np.full_like(returns, level)
        else:
            baseline = np.zeros_like(returns)
        advantages = returns - baseline
        if self.normalize_advantages:
            advantages = advantages / (advantages.std() + 1e-8)
        return returns, baseline, advantages

    def update(self, episodes: Sequence[Episode]) -> dict:
        """One gradient step from a batch of finished episodes; returns what it computed."""
        returns, baseline, advantages = self.advantages(episodes)
        observations = np.concatenate([e.observations for e in episodes])
        actions = np.concatenate([e.actions for e in episodes])
        grads_and_vars = policy_gradient(self.policy, observations, actions, advantages,
                                         len(episodes))
        self.optimizer.apply_gradients(grads_and_vars)
        if self.baseline == "running_mean":  # after the step: b never uses the batch's own G
            mean = returns.mean()
            self.running_mean = mean if self.running_mean is None else (
                self.baseline_decay * self.running_mean + (1 - self.baseline_decay) * mean)
        return {"returns": returns, "baseline": baseline, "advantages": advantages,
                "lengths": [len(e) for e in episodes]}

    def train(self, envs: Sequence[Any], episodes: int, seed: int | None = None,
              solve_threshold: float | None = None, solve_window: int = 100,
              callback: Callable[[REINFORCE, list[Episode], dict], Any] | None = None
              ) -> TrainingLog:
        """Train on batches of ``len(envs)`` episodes (one per environment, in lockstep) until
        ``episodes`` episodes have been played, or until the mean return of the last
        ``solve_window`` episodes reaches ``solve_threshold`` (then ``log.solved_episode``).

        ``seed`` seeds each environment's first reset (environment i gets seed + i); the
        policy's sampling uses chalknet's generator (``utils.set_random_seed``).
        ``callback(agent, batch, update_info)`` is called after each update.
        """
        log = TrainingLog()
        start = time.perf_counter()
        first_reset = True
        while len(log.episode_returns) < episodes:
            batch_size = min(len(envs), episodes - len(log.episode_returns))
            batch_envs = envs[:batch_size]
            first = [env.reset(seed=None if seed is None or not first_reset else seed + i)[0]
                     for i, env in enumerate(batch_envs)]
            first_reset = False
            batch = run_episodes(self.policy, batch_envs, first)
            for episode in batch:
                log.episode_returns.append(episode.total_reward)
                log.episode_lengths.append(len(episode))
                if (solve_threshold is not None and log.solved_episode is None
                        and len(log.episode_returns) >= solve_window
                        and np.mean(log.episode_returns[-solve_window:]) >= solve_threshold):
                    log.solved_episode = len(log.episode_returns)
            if log.solved_episode is not None:
                break
            info = self.update(batch)
            log.updates.append(info)
            if callback is not None:
                callback(self, batch, info)
        log.seconds = time.perf_counter() - start
        return log


__all__ = ["REINFORCE", "Box", "Discrete", "Episode", "KeyDoorCorridor", "TrainingLog",
           "discounted_returns", "moving_average", "policy_gradient", "policy_network",
           "run_episodes", "sample_actions", "surrogate_loss"]
