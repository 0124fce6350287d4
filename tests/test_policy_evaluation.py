"""Exact policy evaluation against Monte Carlo rollouts of the gymnasium env,
and against the optimum that `solve` finds."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import objlang
from objlang.finite.evaluate import evaluate
from objlang.finite.extract import finite_env
from objlang.finite.solve import solve

SPEC = """
env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
prop goal = obs == 15
prop hole = obs in {5, 7, 11, 12}
reward win = [goal]
ltl safe = !hole U goal
objective p { maximize P[safe] }
objective g { maximize E[G(win, 0.9)] }
objective v { maximize Var[G(win, 0.9)] }
"""

HOLES = {5, 7, 11, 12}


def rollouts(policy: np.ndarray, episodes: int, seed: int):
    """Satisfaction of !hole U goal and discounted returns of `win`, sampled."""
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True).unwrapped
    rng = np.random.default_rng(seed)
    sat, returns = [], []
    for ep in range(episodes):
        s, _ = env.reset(seed=int(rng.integers(2**31)))
        ok, g, disc = None, 0.0, 1.0
        for _ in range(2000):
            a = int(rng.choice(4, p=policy[s]))
            s, r, terminated, _, _ = env.step(a)
            g += disc * (1.0 if s == 15 else 0.0)
            disc *= 0.9
            if ok is None and s in HOLES:
                ok = False
            if ok is None and s == 15:
                ok = True
            if terminated:
                break
        sat.append(bool(ok))
        returns.append(g)
    return np.array(sat, float), np.array(returns)


@pytest.fixture(scope="module")
def setting():
    spec = objlang.loads(SPEC)
    mdp = finite_env(spec)
    rng = np.random.default_rng(0)
    policy = rng.dirichlet(np.ones(4), size=mdp.n_states)
    policy[: 16] = rng.dirichlet(np.ones(4) * 0.5, size=16)
    sat, returns = rollouts(policy[:16], 4000, seed=1)
    return spec, policy, sat, returns


def within_ci(exact: float, sample: np.ndarray, z: float = 4.0) -> bool:
    half = z * sample.std(ddof=1) / np.sqrt(len(sample))
    return abs(sample.mean() - exact) <= max(half, 1e-12)


def test_probability_agrees_with_rollouts(setting):
    spec, policy, sat, _ = setting
    assert within_ci(evaluate(spec, policy, "p"), sat)


def test_discounted_return_and_variance_agree_with_rollouts(setting):
    spec, policy, _, returns = setting
    mean = evaluate(spec, policy, "g")
    assert within_ci(mean, returns)
    var = evaluate(spec, policy, "v")
    # the sample variance of a bounded variable: compare within a loose band
    assert var == pytest.approx(returns.var(ddof=1), rel=0.15)
    assert var >= 0


def test_optimal_policy_of_solve_evaluates_to_the_optimum():
    spec = objlang.loads(SPEC)
    sol = solve(spec, "g")
    mdp = finite_env(spec)
    policy = np.array([int(sol.policy[name]) for name in mdp.state_names])
    assert evaluate(spec, policy, "g") == pytest.approx(sol.value, abs=1e-10)
    uniform = np.full((mdp.n_states, 4), 0.25)
    assert evaluate(spec, uniform, "g") < sol.value


def test_pi_terms_and_lex_vectors():
    spec = objlang.loads("""
mdp m {
    start s
    s a -> s
    s b -> s
}
env m
reward r = [action == a]
objective f { maximize -(pi(s, a) - 0.5) ^ 2 }
objective l { maximize lex(E[G(r, 0.5)], -E[G(r, 0.5)]) }
""")
    assert evaluate(spec, np.array([[0.25, 0.75]]), "f") == pytest.approx(-0.0625)
    assert evaluate(spec, np.array([[0.25, 0.75]]), "l") == pytest.approx([0.5, -0.5])
