"""Chapter 7 — Reinforcement learning: REINFORCE with a baseline.

No labels any more: an agent acts, and the environment pays it now and then. The agent's
policy is a chalknet network, state -> softmax over actions, trained by the policy gradient
of ``chalknet.rl`` (Williams 1992; Sutton & Barto 2018, ch. 13):

    G_t = r_{t+1} + gamma G_{t+1}                                  the discounted return
    A_t = G_t - b                                                   the advantage (b: baseline)
    dL/dz_t = (A_t / E) (pi(. | s_t) - onehot(a_t))                 at the softmax's logits z_t

which is the cross-entropy gradient with the agent's own action as the label, weighted by how
much better than the baseline the rest of the episode went; the layers' backward do the rest.

Lessons:
1. A delayed reward (``rl.KeyDoorCorridor``): the key lies where the agent starts, the locked
   door is 5 cells away, and only opening the door pays. The decisive action (picking up the
   key) earns nothing at the time; the reward arrives 6 steps later. The discounted return
   carries the reward back to it: in a successful episode every earlier step gets
   G_t = gamma^(T-1-t), and the advantage G_t - b is positive all the way back to the pick-up,
   negative along failed episodes. Over training the probability of picking up the key before
   leaving the start cell climbs, and the success rate goes from chance (about 1 in 6) to
   nearly 1.
2. The baseline (CartPole-v1, gymnasium, the ``rl`` extra: a pole balanced on a cart, +1 per
   step upright, at most 500 steps). At the untrained policy, one-episode estimates of the
   policy gradient with b = 0 and with b = a mean return have the same mean, but the second
   varies less: all CartPole returns are positive, so without a baseline every action taken is
   pushed up, good and bad alike, only by different amounts.
3. CartPole solved. REINFORCE with the settings in ``CARTPOLE`` solves it by the usual rule
   (mean return >= 475 over 100 consecutive training episodes) within 1,000 episodes.

Run it: ``python -m chalknet demo reinforcement --out DIR`` (about 15 s; ``--quick`` trains
CartPole for 120 episodes only, without the solve).
"""

from __future__ import annotations

import textwrap
import time

import numpy as np

from ._common import Pictures, one_thread, say

NAME = "reinforcement"
NUMBER = 7
TITLE = "Reinforcement learning: REINFORCE with a baseline, a delayed reward, CartPole"

# The corridor lesson: 400 episodes in batches of 8, discount 0.9 (so the credit visibly fades
# with the distance to the reward), a running-mean baseline.
CORRIDOR = {"length": 6, "max_steps": 20, "episodes": 400, "batch": 8, "gamma": 0.9,
            "hidden": (16,), "learning_rate": 0.05, "baseline": "running_mean"}

# CartPole-v1, tuned on this machine: with seed 0 it solves at episode 370 (~8 s on one core);
# seeds 0-11 all solved, between episodes 355 and 761.
CARTPOLE = {"episodes": 1000, "batch": 8, "gamma": 0.99, "hidden": (32,),
            "learning_rate": 0.01, "baseline": "batch_mean", "seed": 0}
SOLVE_THRESHOLD, SOLVE_WINDOW = 475.0, 100


# ----- lesson 1: the corridor ----------------------------------------------------------------


def chance_success_rate(episodes: int = 4000, length: int = 6, max_steps: int = 20,
                        seed: int = 12345) -> float:
    """How often uniformly random actions open the door: the rate learning starts from."""
    from .. import rl

    rng = np.random.default_rng(seed)
    env = rl.KeyDoorCorridor(length, max_steps)
    successes = 0
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(3)))
            done = terminated or truncated
        successes += reward > 0
    return successes / episodes


def start_observation(env):
    """The observation in the start cell without the key, as a batch of one."""
    return env.reset()[0][None, :]


def key_first_probability(policy, start) -> float:
    """P(the agent picks up the key before it leaves the start cell) under ``policy``.

    In the start cell "left" bumps into the wall and changes nothing, so what decides the
    episode is which comes first, "pick up" or "right": pi(pick up) / (pi(pick up) + pi(right)).
    A uniform policy gives 0.5."""
    from ..rl import KeyDoorCorridor

    pi = policy.forward(start)[0]
    pick_up, right = pi[KeyDoorCorridor.PICK_UP], pi[KeyDoorCorridor.RIGHT]
    return float(pick_up / (pick_up + right))


def train_corridor(seed: int = 0, settings=None) -> dict:
    """Train REINFORCE on the corridor; returns the log and, before training and after each
    update, ``key_first_probability``."""
    from .. import rl
    from ..utils import set_random_seed

    settings = {**CORRIDOR, **(settings or {})}
    set_random_seed(seed)
    envs = [rl.KeyDoorCorridor(settings["length"], settings["max_steps"])
            for _ in range(settings["batch"])]
    agent = rl.REINFORCE(rl.policy_network(settings["length"] + 1, 3, hidden=settings["hidden"]),
                         learning_rate=settings["learning_rate"], gamma=settings["gamma"],
                         baseline=settings["baseline"])
    start = start_observation(rl.KeyDoorCorridor(settings["length"], settings["max_steps"]))
    key_first = [key_first_probability(agent.policy, start)]
    credit_example = {}

    def after_update(agent, batch, info):
        key_first.append(key_first_probability(agent.policy, start))
        if not credit_example:
            credit_example.update(_credit_example(batch, info))
            if credit_example:
                credit_example["update"] = len(key_first) - 1

    log = agent.train(envs, episodes=settings["episodes"], seed=seed, callback=after_update)
    return {"log": log, "key_first_probability": key_first, "credit_example": credit_example,
            "settings": settings}


def _credit_example(batch, info) -> dict:
    """From a batch with a success, a failure and a baseline above 0 (so failures are pushed
    down): the first success's per-step numbers and the largest advantage given to any step
    of the batch's failed episodes. Advantages here are G_t - b before the normalisation
    (same scale as the returns)."""
    offsets = np.cumsum([0] + [len(e) for e in batch])
    raw_advantages = info["returns"] - info["baseline"]
    successes = [i for i, e in enumerate(batch) if e.total_reward > 0]
    if not successes or len(successes) == len(batch) or info["baseline"][0] <= 0:
        return {}
    index = successes[0]
    window = slice(offsets[index], offsets[index + 1])
    failed_steps = np.concatenate([raw_advantages[offsets[i]:offsets[i + 1]]
                                   for i, e in enumerate(batch) if e.total_reward == 0]
                                  or [np.zeros(0)])
    return {"actions": batch[index].actions.tolist(),
            "rewards": batch[index].rewards.tolist(),
            "returns": info["returns"][window].tolist(),
            "baseline": float(info["baseline"][window][0]),
            "advantages": raw_advantages[window].tolist(),
            "largest_failure_advantage": (float(failed_steps.max()) if failed_steps.size
                                          else None)}


# ----- lesson 2: CartPole ----------------------------------------------------------------------


def gymnasium_available() -> bool:
    try:
        import gymnasium  # noqa: F401
    except ImportError:
        return False
    return True


def train_cartpole(episodes: int | None = None, seed: int | None = None, settings=None):
    """REINFORCE on gymnasium's CartPole-v1 with ``CARTPOLE``'s settings; returns the
    ``rl.TrainingLog`` (``solved_episode`` set when the 100-episode mean reached 475)."""
    import gymnasium as gym

    from .. import rl
    from ..utils import set_random_seed

    settings = {**CARTPOLE, **(settings or {})}
    episodes = settings["episodes"] if episodes is None else episodes
    seed = settings["seed"] if seed is None else seed
    set_random_seed(seed)
    envs = [gym.make("CartPole-v1") for _ in range(settings["batch"])]
    agent = rl.REINFORCE(rl.policy_network(4, 2, hidden=settings["hidden"]),
                         learning_rate=settings["learning_rate"], gamma=settings["gamma"],
                         baseline=settings["baseline"])
    try:
        return agent.train(envs, episodes=episodes, seed=seed, solve_threshold=SOLVE_THRESHOLD,
                           solve_window=SOLVE_WINDOW)
    finally:
        for env in envs:
            env.close()


def baseline_effect(episodes: int = 400, reference_episodes: int = 200, seed: int = 0) -> dict:
    """The baseline's promise in numbers (S&B eq. 13.10): at the untrained CartPole policy,
    estimate the policy gradient from each of ``episodes`` episodes twice, with b = 0 and with
    b = the mean return G_t measured on ``reference_episodes`` other episodes (so b does not
    depend on the episode it is used with, and the estimate stays unbiased).

    Returns the total variance (sum over all weights) of both estimates, the distance between
    their means in standard errors (about 1 when the expectations agree), and, per episode, the
    gradient for the output bias of "push right" under both (the histogram)."""
    import gymnasium as gym

    from .. import rl
    from ..utils import set_random_seed

    set_random_seed(seed)
    policy = rl.policy_network(4, 2, hidden=CARTPOLE["hidden"])
    envs = [gym.make("CartPole-v1") for _ in range(CARTPOLE["batch"])]
    for i, env in enumerate(envs):
        env.reset(seed=seed + i)

    def play(count):
        played = []
        while len(played) < count:
            played += rl.run_episodes(policy, envs, [env.reset()[0] for env in envs])
        return played[:count]

    gamma = CARTPOLE["gamma"]
    baseline = float(np.mean(np.concatenate(
        [rl.discounted_returns(e.rewards, gamma) for e in play(reference_episodes)])))
    without, with_baseline = [], []
    for episode in play(episodes):
        returns = rl.discounted_returns(episode.rewards, gamma)
        for level, estimates in ((0.0, without), (baseline, with_baseline)):
            pairs = rl.policy_gradient(policy, episode.observations, episode.actions,
                                       returns - level, 1)
            estimates.append(np.concatenate([g.ravel() for g, _ in pairs]).astype(np.float64))
    for env in envs:
        env.close()
    without, with_baseline = np.array(without), np.array(with_baseline)
    difference = without - with_baseline  # b * sum_t grad log pi(a_t|s_t): expectation 0
    standard_error = np.sqrt(difference.var(axis=0).sum() / episodes)
    right_bias = -1  # the last weight is the output bias; its last entry is "push right"
    return {"baseline": baseline, "episodes": episodes,
            "variance_without_baseline": float(without.var(axis=0).sum()),
            "variance_with_baseline": float(with_baseline.var(axis=0).sum()),
            "mean_difference_in_standard_errors":
                float(np.linalg.norm(difference.mean(axis=0)) / standard_error),
            "right_bias_gradient": {"without": without[:, right_bias].tolist(),
                                    "with": with_baseline[:, right_bias].tolist()}}


# ----- pictures --------------------------------------------------------------------------------

ACTION_NAMES = {0: "left", 1: "right", 2: "pick up"}


def draw_corridor(pictures, corridor, chance):
    figure, axes = pictures.new(columns=2, width=5.5, height=4.2)
    if figure is None:
        return
    credit_ax, curve_ax = axes
    example = corridor["credit_example"]
    if example:
        steps = np.arange(len(example["rewards"]))
        credit_ax.bar(steps - 0.2, example["rewards"], width=0.4, color="tab:gray",
                      label="reward r_{t+1}")
        credit_ax.bar(steps + 0.2, example["advantages"], width=0.4, color="tab:green",
                      label="advantage G_t - b")
        credit_ax.plot(steps, example["returns"], "o-", color="tab:blue", label="return G_t")
        credit_ax.axhline(example["baseline"], color="tab:orange", linestyle="--",
                          label="baseline b")
        credit_ax.set_xticks(steps, [ACTION_NAMES[a] for a in example["actions"]],
                             rotation=45, fontsize=8)
        credit_ax.axhline(0.0, color="k", linewidth=0.6)
        credit_ax.set_xlabel(f"step t of a successful episode at update {example['update']}"
                             " (the action taken)")
        credit_ax.set_title("Credit flows back from the door to the key", fontsize=10)
        credit_ax.legend(fontsize=7, loc="upper left")
    log = corridor["log"]
    batch = corridor["settings"]["batch"]
    returns = np.asarray(log.episode_returns)
    batches = len(returns) // batch
    success_rate = returns[:batches * batch].reshape(batches, batch).mean(axis=1)
    episodes_done = np.arange(batches + 1) * batch
    curve_ax.plot(episodes_done[1:], success_rate, color="tab:green", alpha=0.6,
                  label="success rate of each batch")
    curve_ax.plot(episodes_done[:len(corridor["key_first_probability"])],
                  corridor["key_first_probability"], color="tab:blue", linewidth=2,
                  label="P(key picked up before leaving the start)")
    curve_ax.axhline(chance, color="tab:gray", linestyle="--", label="random actions' success")
    curve_ax.set_ylim(-0.02, 1.02)
    curve_ax.set_xlabel("training episodes")
    curve_ax.set_title("The early action is learned from the late reward", fontsize=10)
    curve_ax.legend(fontsize=7, loc="lower right")
    pictures.save(figure, "corridor_credit_assignment.png")


def draw_baseline(pictures, effect):
    figure, ax = pictures.new(width=6.0, height=4.0)
    if figure is None:
        return
    samples = effect["right_bias_gradient"]
    bins = np.histogram_bin_edges(samples["without"] + samples["with"], bins=40)
    for key, color, label in (("without", "tab:red", "b = 0"),
                              ("with", "tab:blue", f"b = {effect['baseline']:.1f}")):
        values = np.asarray(samples[key])
        ax.hist(values, bins=bins, color=color, alpha=0.5,
                label=f"{label}: mean {values.mean():.2f}, std {values.std():.2f}")
        ax.axvline(values.mean(), color=color, linewidth=1.5)
    ax.set_xlabel('one-episode estimate of dL/d(output bias of "push right")')
    ax.set_ylabel("episodes")
    ax.set_title("A baseline: same expectation, smaller spread", fontsize=10)
    ax.legend(fontsize=8)
    pictures.save(figure, "baseline_variance.png")


def draw_cartpole(pictures, log):
    figure, ax = pictures.new(width=7.0, height=4.2)
    if figure is None:
        return
    episodes = np.arange(1, len(log.episode_returns) + 1)
    ax.plot(episodes, log.episode_returns, color="tab:blue", alpha=0.3, linewidth=0.8,
            label="return of each training episode")
    ax.plot(episodes, log.moving_average(SOLVE_WINDOW), color="tab:blue", linewidth=2,
            label=f"mean of the last {SOLVE_WINDOW}")
    ax.axhline(SOLVE_THRESHOLD, color="tab:green", linestyle="--", label="solved: 475")
    if log.solved_episode is not None:
        ax.axvline(log.solved_episode, color="tab:green", linewidth=0.8)
        ax.annotate(f"solved at episode {log.solved_episode}",
                    (log.solved_episode, SOLVE_THRESHOLD), textcoords="offset points",
                    xytext=(-150, -40), fontsize=8,
                    arrowprops={"arrowstyle": "->", "color": "tab:green"})
    ax.set_xlabel("training episode")
    ax.set_ylabel("return (steps the pole stayed up)")
    ax.set_title("REINFORCE on CartPole-v1")
    ax.legend(fontsize=8, loc="upper left")
    pictures.save(figure, "cartpole_learning_curve.png")


# ----- the chapter -----------------------------------------------------------------------------


def run(output_dir, quick: bool = False, seed: int = 0) -> dict:
    """Run the chapter; returns the numbers behind its claims.

    quick: the baseline lesson on 120 episodes instead of 400, CartPole trained for 120
    episodes (no solve expected); the corridor is the same.
    ``seed`` is the corridor's; CartPole uses its documented seed (``CARTPOLE["seed"]``).
    """
    pictures = Pictures(output_dir, NAME)
    with one_thread():
        corridor = _corridor_lesson(pictures, seed)
        cartpole = _cartpole_lesson(pictures, quick)
    return {"corridor": corridor, "cartpole": cartpole, "pictures": pictures.written}


def _corridor_lesson(pictures, seed) -> dict:
    chance = chance_success_rate()
    corridor = train_corridor(seed)
    returns = np.asarray(corridor["log"].episode_returns)
    batch = corridor["settings"]["batch"]
    first, last = returns[:batch].mean(), returns[-5 * batch:].mean()
    key_first = corridor["key_first_probability"]
    example = corridor["credit_example"]
    say(NAME, f"""
Lesson 1: a delayed reward. A corridor of 6 cells: the key lies in the start cell, the door
is 5 cells away, and only opening the door pays (reward 1, at the last step); gamma = \
{CORRIDOR['gamma']}.
Random actions open the door in {chance:.0%} of episodes. The first batch (the policy starts
uniform) succeeded in {first:.0%}, the last {5 * batch} episodes in {last:.0%}.
P(the key is picked up before leaving the start cell) went from {key_first[0]:.2f} to \
{key_first[-1]:.2f}.""")
    every_step_credited = failures_blamed = None
    if example:
        every_step_credited = min(example["advantages"]) > 0
        failure = example["largest_failure_advantage"]
        failures_blamed = failure is not None and failure < 0
        say(NAME, f"""
A successful episode of the first batch that has a baseline above 0 (update \
{example['update']}):
{textwrap.fill(', '.join(ACTION_NAMES[a] for a in example['actions']), 88)}.
Its rewards {_numbers(example['rewards'], 0)}: only the last step paid.
Its returns G_t =
{textwrap.fill(_numbers(example['returns'], 2), 88)}
carry that reward back to every earlier step, fading by gamma per step.
With the baseline b = {example['baseline']:.3f} (a running mean of earlier returns), \
{'every' if every_step_credited else 'not every'} step of it, the
first action included, got a positive advantage G_t - b; \
{'every' if failures_blamed else 'not every'} step of the batch's failed
episodes got a negative one (G_t = 0 < b), so their actions are made less likely.
Notice: no action is judged by its own reward, which is 0 for all but the last one; credit
is assigned through the return, and the discount makes it fade with the delay.""")
    draw_corridor(pictures, corridor, chance)
    return {"chance_success_rate": chance, "first_batch_success_rate": float(first),
            "final_success_rate": float(last),
            "key_first_probability": [float(p) for p in key_first],
            "credit_example": example, "every_success_step_credited": every_step_credited,
            "every_failure_step_blamed": failures_blamed,
            "episode_returns": returns.tolist(), "settings": corridor["settings"]}


def _cartpole_lesson(pictures, quick) -> dict | None:
    if not gymnasium_available():
        say(NAME, "Lessons 2 and 3 need gymnasium (pip install 'chalknet[rl]'): CartPole "
                  "skipped.")
        return None
    effect = baseline_effect(episodes=120 if quick else 400,
                             reference_episodes=60 if quick else 200)
    ratio = effect["variance_without_baseline"] / effect["variance_with_baseline"]
    say(NAME, f"""
Lesson 2: the baseline, on CartPole-v1 (gymnasium) with the untrained policy. The
policy gradient estimated from one episode, {effect['episodes']} times, with b = 0 and with
b = {effect['baseline']:.1f} (the mean return of {60 if quick else 200} other episodes):
the two means differ by {effect['mean_difference_in_standard_errors']:.1f} standard errors (the \
same expectation), and the total
variance falls from {effect['variance_without_baseline']:.0f} to \
{effect['variance_with_baseline']:.0f} ({ratio:.1f} times smaller).
Notice: with b = 0 every return is positive, so every action taken is pushed up, the
good ones only a little more than the bad; b turns that into "better or worse than usual".""")
    draw_baseline(pictures, effect)
    episodes = 120 if quick else CARTPOLE["episodes"]
    start = time.perf_counter()
    log = train_cartpole(episodes=episodes)
    seconds = time.perf_counter() - start
    average = log.moving_average(SOLVE_WINDOW)
    say(NAME, f"""
Lesson 3: CartPole-v1 solved. REINFORCE with a batch-mean baseline and normalised
advantages; policy 4 -> {CARTPOLE['hidden'][0]} tanh -> 2 softmax; \
Adam({CARTPOLE['learning_rate']}); batches of {CARTPOLE['batch']} episodes;
gamma {CARTPOLE['gamma']}; seed {CARTPOLE['seed']}.
{len(log.episode_returns)} episodes ({sum(log.episode_lengths)} steps) in {seconds:.1f} s. The \
first 20 lasted {np.mean(log.episode_returns[:20]):.0f} steps
on average; the mean of the last {min(SOLVE_WINDOW, len(average))} is {average[-1]:.0f}.""")
    if log.solved_episode is not None:
        say(NAME, f"""
Solved at episode {log.solved_episode}: the mean return of episodes
{log.solved_episode - SOLVE_WINDOW + 1}-{log.solved_episode} is >= {SOLVE_THRESHOLD:.0f}.
Notice: the returns stay low and noisy for a long while, then climb steeply once the policy
can balance for a few hundred steps: a longer episode gives more (and better) training data.""")
    elif not quick:
        say(NAME, f"Not solved within {episodes} episodes (this should not happen with seed "
                  f"{CARTPOLE['seed']}).")
    draw_cartpole(pictures, log)
    return {"baseline_effect": effect, "solved_episode": log.solved_episode,
            "episodes": len(log.episode_returns),
            "steps": int(sum(log.episode_lengths)), "seconds": seconds,
            "episode_returns": [float(r) for r in log.episode_returns],
            "final_moving_average": float(average[-1]), "settings": dict(CARTPOLE),
            "quick": quick}


def _numbers(values, decimals) -> str:
    return "[" + ", ".join(f"{v:.{decimals}f}" for v in values) + "]"
