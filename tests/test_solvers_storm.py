"""The exact solvers against Storm on random MDPs (and the PRISM export with them).

Each random MDP (seeded numpy, <= 40 states, 2-4 actions, some absorbing
states) is exported once with :func:`to_prism`, built once by Storm, and
checked for Pmax/Pmin of ``F "goal"``, max/min discounted reward
(``Cdiscount=0.9``) and max/min long-run average reward, at every state
Storm builds, within 1e-6. Rewards lie in [0, 1] (Storm's LRA solver has a
relative precision of ~1e-6 that stormpy cannot tighten; see
:func:`objlang.finite.prism.storm_environment`). Our optimal policies are
also evaluated exactly and must reproduce our values.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

stormpy = pytest.importorskip("stormpy")

from objlang.finite.average import average_value, evaluate_average  # noqa: E402
from objlang.finite.discounted import discounted_value, evaluate_discounted  # noqa: E402
from objlang.finite.model import FiniteMDP  # noqa: E402
from objlang.finite.prism import prism_init_state, solve_prism_with_storm, storm_values, to_prism  # noqa: E402
from objlang.finite.reach import evaluate_reach, reach_prob  # noqa: E402

GAMMA = 0.9
PROPS = ['Pmax=? [F "goal"]', 'Pmin=? [F "goal"]',
         f'R{{"r"}}max=? [Cdiscount={GAMMA}]', f'R{{"r"}}min=? [Cdiscount={GAMMA}]',
         'R{"r"}max=? [LRA]', 'R{"r"}min=? [LRA]']


def random_mdp(seed: int, single_init: bool = False):
    rng = np.random.default_rng(seed)
    S = int(rng.integers(2, 41))
    A = int(rng.integers(2, 5))
    absorbing = rng.random(S) < 0.15
    absorbing[rng.integers(S)] = True
    rows, cols, vals = [], [], []
    for s in range(S):
        for a in range(A):
            r = s * A + a
            if absorbing[s]:
                rows.append(r)
                cols.append(s)
                vals.append(1.0)
                continue
            succ = rng.choice(S, size=min(int(rng.integers(1, 4)), S), replace=False)
            p = rng.random(succ.size) + 0.05
            p /= p.sum()
            rows += [r] * succ.size
            cols += succ.tolist()
            vals += p.tolist()
    P = sp.csr_matrix((vals, (rows, cols)), shape=(S * A, S))
    R = P.copy()
    R.data = np.round(rng.random(R.data.size), 3) * (rng.random(R.data.size) < 0.6)
    R.eliminate_zeros()
    if single_init:
        init = np.zeros(S)
        init[0] = 1.0
    else:
        init = rng.random(S)
        init /= init.sum()
    goal = rng.random(S) < 0.15
    mdp = FiniteMDP(name=f"random{seed}", state_names=tuple(f"x{i}" for i in range(S)),
                    action_names=tuple(f"a{j}" for j in range(A)), P=P, init=init,
                    obs=np.arange(S), terminal=np.zeros(S, bool),
                    env_reward=sp.csr_matrix((S * A, S)))
    return mdp, goal, R


def ours(mdp, goal, R):
    vals, pols = [], []
    for f in (lambda: reach_prob(mdp, goal, True), lambda: reach_prob(mdp, goal, False),
              lambda: discounted_value(mdp, R, GAMMA, True),
              lambda: discounted_value(mdp, R, GAMMA, False),
              lambda: average_value(mdp, R, True), lambda: average_value(mdp, R, False)):
        v, p = f()
        vals.append(v)
        pols.append(p)
    return vals, pols


@pytest.mark.parametrize("batch", range(20))
def test_random_mdps_against_storm(batch):
    for seed in range(batch * 10, batch * 10 + 10):  # 200 MDPs in all
        mdp, goal, R = random_mdp(seed)
        S = mdp.n_states
        vals, pols = ours(mdp, goal, R)
        # our policies reproduce our values (exact policy evaluation)
        np.testing.assert_allclose(evaluate_reach(mdp, goal, pols[0]), vals[0], atol=1e-9)
        np.testing.assert_allclose(evaluate_reach(mdp, goal, pols[1]), vals[1], atol=1e-9)
        np.testing.assert_allclose(evaluate_discounted(mdp, R, GAMMA, pols[2]), vals[2], atol=1e-9)
        np.testing.assert_allclose(evaluate_discounted(mdp, R, GAMMA, pols[3]), vals[3], atol=1e-9)
        np.testing.assert_allclose(evaluate_average(mdp, R, pols[4]), vals[4], atol=1e-9)
        np.testing.assert_allclose(evaluate_average(mdp, R, pols[5]), vals[5], atol=1e-9)
        text = to_prism(mdp, {"goal": goal}, {"r": R})
        theirs = storm_values(text, PROPS, n_states=S + 1)  # + the fresh initial state
        for prop, mine, st in zip(PROPS, vals, theirs):
            built = ~np.isnan(st[:S])
            assert built.any()
            err = np.abs(st[:S][built] - mine[built]).max()
            assert err <= 1e-6, f"seed {seed}: {prop} differs from Storm by {err:g}"
        # the fresh initial state averages the real ones (a discounted value gains a factor gamma)
        init = mdp.init
        assert theirs[0][S] == pytest.approx(init @ vals[0], abs=1e-6)
        assert theirs[2][S] == pytest.approx(GAMMA * (init @ vals[2]), abs=1e-6)
        assert theirs[4][S] == pytest.approx(init @ vals[4], abs=1e-6)


def test_single_initial_state_and_helper():
    mdp, goal, R = random_mdp(1234, single_init=True)
    assert prism_init_state(mdp) == (0, False)
    text = to_prism(mdp, {"goal": goal}, {"r": R})
    vals, _ = ours(mdp, goal, R)
    for prop, v in zip(PROPS, vals):
        assert solve_prism_with_storm(text, prop) == pytest.approx(v[0], abs=1e-6)
