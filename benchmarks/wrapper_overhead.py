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

    python benchmarks/wrapper_overhead.py --instructions [--steps 5000]

counts instead the CPU instructions per step of the same loops (no timing):
it runs itself under ``valgrind --tool=callgrind``, which dumps its counters
whenever the loop calls the marker ``os.getppid()`` before and after each env.
Instruction counts do not depend on the machine's load.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
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


def marked_loops(steps: int, seed: int = 0) -> None:
    """The raw, floor and compiled envs of each case stepped ``steps`` times, each
    loop between two calls of ``os.getppid()`` (the marker callgrind dumps at)."""
    for env_id, spec in CASES:
        envs = [gymnasium.make(env_id), Floor(gymnasium.make(env_id)),
                objlang.make(objlang.loads(spec))]
        actions = np.random.default_rng(seed).integers(envs[0].action_space.n, size=steps)
        for env in envs:
            per_step(env, actions[:300], seed)  # warm-up
            os.getppid()
            per_step(env, actions, seed)
            os.getppid()


def instructions(steps: int) -> list[tuple]:
    """(env, raw, floor, compiled) instructions per step, counted by callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", "--dump-before=getppid",
                        f"--callgrind-out-file={out}", sys.executable, __file__,
                        "--marked", "--steps", str(steps)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": "0",
                            "OBJLANG_SPOT_TIMEOUT": "0"})  # Spot in-process: no marker
        loops = 3 * len(CASES)
        # a dump at each marker and one at the exit: any other getppid() call shifts them
        assert len(os.listdir(tmp)) == 2 * loops + 1, sorted(os.listdir(tmp))
        counts = []
        for k in range(2, 2 * loops + 1, 2):  # dumps 2, 4, ...: inside the loops
            with open(f"{out}.{k}") as f:
                counts.append(int(re.search(r"^(?:summary|totals):\s+(\d+)", f.read(),
                                            re.M).group(1)) / steps)
    return [(env_id, *counts[3 * i:3 * i + 3]) for i, (env_id, _) in enumerate(CASES)]


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
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions per step with valgrind (default steps 5000)")
    ap.add_argument("--marked", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.marked:
        return marked_loops(args.steps)
    if args.instructions:
        steps = args.steps if args.steps != ap.get_default("steps") else 5000
        print(f"{'env':<15} {'raw instr/step':>15} {'compiled':>9} {'ratio':>6} "
              f"{'floor ratio':>12}")
        for env_id, raw, floor, ours in instructions(steps):
            print(f"{env_id:<15} {raw:>15.0f} {ours:>9.0f} {ours / raw:>6.3f} "
                  f"{floor / raw:>12.3f}")
        return
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
