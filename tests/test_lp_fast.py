"""The LP-free solvers of objlang.finite.lp (policy iteration with action
elimination, objlang/finite/sweeps.py, and column generation for Chebyshev
scalarisation) against brute force over deterministic policies, closed forms,
an independent policy iteration, and the occupancy LPs (``method="lp"``)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from objlang import ObjlangError
from objlang.finite.discounted import discounted_value
from objlang.finite.lp import (constrained, expected_reward, lexicographic, pareto_front,
                               scalarised)
from objlang.finite.sweeps import Sweeps
from test_lp_hand import (assert_front_is_brute_force_hull, deterministic_values, evaluate,
                          make_mdp, random_mdp, same_points)


def sparse_random_mdp(rng, S, A, k=3):
    """S states, A actions, k successors per (s, a), the last state absorbing."""
    P = np.zeros((S, A, S))
    for s in range(S - 1):
        for a in range(A):
            nxt = rng.choice(S, size=k, replace=False)
            P[s, a, nxt] = rng.random(k) + 0.1
    P[S - 1, :, S - 1] = 1.0
    P /= P.sum(axis=2, keepdims=True)
    return make_mdp(P)


def lex_brute(vals: np.ndarray, signs, tol=1e-9) -> np.ndarray:
    """The lexicographic optimum over the rows of vals (one per policy)."""
    keep = np.ones(len(vals), dtype=bool)
    for i, sg in enumerate(signs):
        v = sg * vals[:, i]
        best = v[keep].max()
        keep &= v >= best - tol
    return vals[keep][0]


def upper_gap(a: list, b: list) -> float:
    """max over the weights of both fronts' vertices of |max_v w.v (a) - (b)|."""
    A = np.array([v.values for v in a])
    B = np.array([v.values for v in b])
    W = np.array([v.weights for v in a + b])
    return float(np.abs((W @ A.T).max(axis=1) - (W @ B.T).max(axis=1)).max())


# --- the policy-iteration engine ----------------------------------------------


@pytest.mark.parametrize("gamma", [0.9, 0.99])
def test_optimise_matches_discounted_value_with_allowed_actions(gamma):
    # values and optimal-action sets against the plain policy iteration of
    # objlang/finite/discounted.py, with some actions forbidden
    rng = np.random.default_rng(1)
    S, A = 40, 4
    mdp = sparse_random_mdp(rng, S, A)
    r = np.round(rng.random((S, A)) * 3) / 3  # few distinct values: ties
    allowed = rng.random((S, A)) < 0.7
    allowed[np.arange(S), rng.integers(0, A, S)] = True
    sw = Sweeps(mdp.P, A, mdp.init, gamma)
    V, pol, optimal = sw.optimise(r.ravel(), allowed)
    V_ref, _ = discounted_value(mdp, r, gamma, allowed=allowed)
    assert np.allclose(V, V_ref, atol=1e-10)
    assert allowed[np.arange(S), pol].all()
    P = mdp.P.toarray().reshape(S, A, S)
    Q_ref = r + gamma * P @ V_ref
    assert (optimal == (allowed & (Q_ref >= V_ref[:, None] - 1e-9))).all()
    assert optimal[np.arange(S), pol].all()


def test_optimise_far_sparse_goal_closed_form():
    # A corridor of 600 cells: "right" (action 1) moves on w.p. 0.9 and stays
    # w.p. 0.1, "left" moves back; entering the last cell pays 1 and ends there.
    # V(L-2) = 0.9 / (1 - 0.1 g) and V(s) = q V(s+1) with q = 0.9 g / (1 - 0.1 g).
    # The greedy start goes left everywhere (all ties at 0); plain policy
    # iteration would then learn one cell per factorisation (~600 of them), the
    # look-ahead about ten.
    L, gamma = 600, 0.999
    P = np.zeros((L, 2, L))
    for s in range(L - 1):
        P[s, 1, s + 1], P[s, 1, s] = 0.9, 0.1
        P[s, 0, max(s - 1, 0)] = 1.0
    P[L - 1, :, L - 1] = 1.0
    mdp = make_mdp(P)
    R = sp.lil_matrix((2 * L, L))
    R[2 * (L - 2) + 1, L - 1] = 1.0
    sw = Sweeps(mdp.P, 2, mdp.init, gamma)
    V, pol, _ = sw.optimise(expected_reward(mdp, R.tocsr()))
    q = 0.9 * gamma / (1 - 0.1 * gamma)
    s = np.arange(L - 1)
    assert np.allclose(V[:-1], 0.9 / (1 - 0.1 * gamma) * q ** (L - 2 - s), rtol=1e-10)
    assert (pol[:-1] == 1).all()
    assert sw.factorisations <= 60


# --- lexicographic --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_lexicographic_brute_force_with_ties(seed):
    # 0/1 rewards make many policies tie on the first components; mixed senses
    rng = np.random.default_rng(100 + seed)
    gamma = 0.8
    mdp = random_mdp(rng, 4, 3)
    rewards = [np.round(rng.random((4, 3))) for _ in range(2)] + [rng.random((4, 3))]
    signs = [True, bool(seed % 2), True]
    vals = deterministic_values(mdp, gamma, rewards)
    expected = lex_brute(vals, [1 if s else -1 for s in signs])
    res = lexicographic(mdp, gamma, rewards, maximize=signs)
    assert np.allclose(res.values, expected, atol=1e-9)
    assert res.values[0] == res.value
    visited = res.occupancy.sum(axis=1) > 0  # uniform elsewhere, as from the LP
    assert np.allclose(res.policy[visited].max(axis=1), 1.0)  # deterministic
    for R, v in zip(rewards, res.values):
        assert math.isclose(evaluate(mdp, gamma, R, res.policy)[0], v, abs_tol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_lexicographic_matches_lp(seed):
    # tolerance 0: the LP stages hold each earlier optimum exactly, as the
    # elimination does (with the default 1e-9 the LP may buy ~1e-8 of a later
    # component with the slack)
    rng = np.random.default_rng(200 + seed)
    S, A, gamma = 60, 4, 0.95
    mdp = sparse_random_mdp(rng, S, A)
    rewards = [np.round(rng.random((S, A)) * 2), -np.round(rng.random((S, A))),
               rng.random((S, A))]
    fast = lexicographic(mdp, gamma, rewards, 0.0)
    ref = lexicographic(mdp, gamma, rewards, 0.0, method="lp")
    assert np.allclose(fast.values, ref.values, atol=1e-7)
    assert np.allclose(fast.occupancy.sum(), 1 / (1 - gamma))


def test_unreachable_states_and_method_check():
    # state 2 is never reached: no occupancy there and a uniform policy, as the
    # LP path returns
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[0, 1, 0] = 1.0
    P[1, :, 1] = 1.0
    P[2, :, 0] = 1.0
    mdp = make_mdp(P)
    r1 = np.array([[0.0, 1.0], [0.0, 0.0], [5.0, 5.0]])
    res = lexicographic(mdp, 0.5, [r1])
    assert math.isclose(res.value, 2.0)  # stay in 0 with action 1: 1 / (1 - 0.5)
    assert np.allclose(res.occupancy[2], 0.0)
    assert np.allclose(res.policy[2], 0.5)
    with pytest.raises(ObjlangError, match="unknown method"):
        lexicographic(mdp, 0.5, [r1], method="simplex")


# --- Pareto fronts -----------------------------------------------------------------


@pytest.mark.parametrize("k,seed", [(2, 0), (2, 1), (3, 2), (3, 3)])
def test_pareto_brute_force_with_ties(k, seed):
    # rounded rewards: whole faces of optimal policies per weight, duplicated
    # values; the vertices are still exactly the brute-force ones
    rng = np.random.default_rng(300 + seed)
    gamma = 0.8
    mdp = random_mdp(rng, 4, 3)
    rewards = [np.round(rng.random((4, 3)) * 2) / 2 for _ in range(k)]
    assert_front_is_brute_force_hull(mdp, gamma, rewards)


@pytest.mark.parametrize("k,S,seed", [(2, 30, 0), (2, 30, 1), (3, 10, 2)])
def test_pareto_matches_lp(k, S, seed):
    rng = np.random.default_rng(400 + seed)
    A, gamma = 3, 0.9
    mdp = sparse_random_mdp(rng, S, A)
    rewards = [rng.random((S, A)) for _ in range(k)]
    fast = pareto_front(mdp, gamma, rewards)
    ref = pareto_front(mdp, gamma, rewards, method="lp")
    assert len(fast) == len(ref)
    assert same_points([v.values for v in fast], [v.values for v in ref], tol=1e-7)
    assert upper_gap(fast, ref) <= 1e-8


# --- scalarisation -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_chebyshev_column_generation_matches_lp(seed):
    rng = np.random.default_rng(500 + seed)
    S, A, gamma = 25, 3, 0.9
    mdp = sparse_random_mdp(rng, S, A)
    rewards = [rng.random((S, A)) - 0.5 for _ in range(3)]
    for weights, reference in [([1.0, 1.0, 1.0], None), ([1.0, 2.0, 0.5], "ideal"),
                               ([1.0, 0.0, 3.0], [0.5, 0.0, -1.0])]:
        fast = scalarised(mdp, gamma, rewards, weights, "chebyshev", reference)
        ref = scalarised(mdp, gamma, rewards, weights, "chebyshev", reference, method="lp")
        assert math.isclose(fast.value, ref.value, abs_tol=1e-8)
        assert np.allclose(fast.values, ref.values, atol=1e-7)
        # the mixture is a stationary policy with exactly these values
        for R, v in zip(rewards, fast.values):
            assert math.isclose(evaluate(mdp, gamma, R, fast.policy)[0], v, abs_tol=1e-9)


def test_linear_scalarisation_matches_lp():
    rng = np.random.default_rng(600)
    S, A, gamma = 50, 4, 0.95
    mdp = sparse_random_mdp(rng, S, A)
    rewards = [rng.random((S, A)) for _ in range(3)]
    w = [0.5, -1.0, 2.0]
    fast = scalarised(mdp, gamma, rewards, w)
    ref = scalarised(mdp, gamma, rewards, w, method="lp")
    assert math.isclose(fast.value, ref.value, rel_tol=1e-9)
    assert math.isclose(fast.value, float(mdp.init @ discounted_value(
        mdp, sum(wi * R for wi, R in zip(w, rewards)), gamma)[0]), rel_tol=1e-10)


# --- constrained (still an LP) ------------------------------------------------------


def test_constrained_matches_an_independent_lp():
    # the same CMDP written out densely here and solved by HiGHS's interior point
    # method: max r0 . x s.t. sum_a x(s', a) - gamma sum P(s'|s,a) x(s,a) = init(s'),
    # r1 . x <= b1, r2 . x >= b2, x >= 0
    rng = np.random.default_rng(700)
    S, A, gamma = 30, 3, 0.9
    mdp = sparse_random_mdp(rng, S, A)
    r0, r1, r2 = (rng.random((S, A)) for _ in range(3))
    P = mdp.P.toarray().reshape(S, A, S)
    E = np.repeat(np.eye(S), A, axis=0)  # (S*A, S)
    A_eq = (E - gamma * P.reshape(S * A, S)).T
    # the uniform policy meets both bounds; the r0-optimal one does not
    uniform = np.full((S, A), 1.0 / A)
    b1, b2 = (evaluate(mdp, gamma, R, uniform)[0] for R in (r1, r2))
    ref = linprog(-r0.ravel(), A_ub=np.vstack([r1.ravel(), -r2.ravel()]), b_ub=[b1, -b2],
                  A_eq=A_eq, b_eq=mdp.init, bounds=(0, None), method="highs-ipm")
    assert ref.status == 0
    res = constrained(mdp, gamma, r0, [(r1, "<=", b1), (r2, ">=", b2)])
    assert math.isclose(res.value, -ref.fun, rel_tol=1e-8)
    assert res.constraint_values[0] <= b1 + 1e-8 and res.constraint_values[1] >= b2 - 1e-8
    free = float(mdp.init @ discounted_value(mdp, r0, gamma)[0])
    assert res.value < free - 1e-3  # a constraint binds
