"""What a compiled env costs per step, against the raw gymnasium env.

    python benchmarks/wrapper_overhead.py [--steps 200000] [--rounds 50]

For FrozenLake-v1 (Discrete observations: labels are table lookups) and
CartPole-v1 (Box observations: props compare observation entries), it steps the
raw ``gymnasium.make`` env and ``objlang.make`` of an LTL spec with 3 props over
the same env with the same seeded random actions, resetting when an episode
ends, and prints µs per step of both and their ratio (goal of issue 4: at most
1.25). The floor ratio is that of :class:`Floor`, a wrapper that only copies and
wraps what a compiled env returns: no compiled env can be cheaper.

Times are the process's CPU time (``time.process_time``): on a shared machine
wall time mostly measures the other processes. The steps are split into short
rounds that alternate the envs, so that a noisy machine slows all alike; the
table gives the median round of each and the median of the rounds' ratios.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import gymnasium
import numpy as np

import objlang

FROZENLAKE = '''\
env "FrozenLake-v1"
prop goal = obs == 15
prop hole = obs in {5, 7, 11, 12}
prop left_col = obs in {0, 4, 8, 12}
ltl f = (!hole U goal) & G F left_col
objective o { maximize P[f] }
'''

CARTPOLE = '''\
env "CartPole-v1"
prop right = obs[0] > 0.5
prop upright = abs(obs[2]) < 0.1
prop fast = abs(obs[1]) > 1.0
ltl f = (!fast U right) & G F upright
objective o { maximize P[f] }
'''

CASES = [("FrozenLake-v1", FROZENLAKE), ("CartPole-v1", CARTPOLE)]


class Floor(gymnasium.Wrapper):
    """A reference, not objlang: only what every step of a compiled env with an
    automaton must do at least -- copy the env's info and add a report to it, wrap
    the observation in a dict with a new automaton-state array -- with nothing
    computed."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        info["objlang"] = {"q": [0], "accepting": False, "sink": False, "labels": {}}
        return {"obs": obs, "automaton": np.zeros(1, np.int64)}, reward, terminated, \
            truncated, info

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return {"obs": obs, "automaton": np.zeros(1, np.int64)}, dict(info)


def per_step(env, actions: np.ndarray, seed: int) -> float:
    """CPU µs per step of ``env`` over ``actions``, resets included."""
    step, reset = env.step, env.reset
    reset(seed=seed)
    t = time.process_time()
    for a in actions.tolist():
        if step(a)[2:4] != (False, False):
            reset()
    return (time.process_time() - t) / len(actions) * 1e6


def measure(env_id: str, spec: str, steps: int, rounds: int, seed: int = 0) -> tuple:
    raw = gymnasium.make(env_id)
    compiled = objlang.make(objlang.loads(spec))
    assert compiled.action_space == raw.action_space, "the benchmark steps env actions only"
    actions = np.random.default_rng(seed).integers(raw.action_space.n, size=steps // rounds)
    per_step(compiled, actions[:1000], seed)  # warm-up: first-call costs, caches
    per_step(raw, actions[:1000], seed)
    floor = Floor(gymnasium.make(env_id))
    raws, ours, floors = [], [], []
    for r in range(rounds):
        raws.append(per_step(raw, actions, seed + r))
        ours.append(per_step(compiled, actions, seed + r))
        floors.append(per_step(floor, actions, seed + r))
    return (statistics.median(raws), statistics.median(ours),
            statistics.median(b / a for a, b in zip(raws, ours)),
            statistics.median(b / a for a, b in zip(raws, floors)))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200_000, help="steps per env and side")
    ap.add_argument("--rounds", type=int, default=50)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}")
    print(f"python:  {platform.python_version()}, gymnasium {gymnasium.__version__}, "
          f"numpy {np.__version__}")
    print(f"steps:   {args.steps} per env and side, in {args.rounds} alternating rounds; "
          f"CPU time, medians\n")
    print(f"{'env':<15} {'raw µs/step':>12} {'compiled µs/step':>17} {'ratio':>6} "
          f"{'floor ratio':>12}")
    print(f"{'-' * 15} {'-' * 12} {'-' * 17} {'-' * 6} {'-' * 12}")
    for env_id, spec in CASES:
        raw, ours, ratio, floor = measure(env_id, spec, args.steps, args.rounds)
        print(f"{env_id:<15} {raw:>12.2f} {ours:>17.2f} {ratio:>6.2f} {floor:>12.2f}")


if __name__ == "__main__":
    main()
