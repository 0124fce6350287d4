"""Occupancy-measure LPs and regularised values (objlang.finite.lp) on tiny MDPs
solved by hand, and against brute force over deterministic policies and exact
policy evaluation ((I - gamma P_pi) v = r_pi, by spsolve)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import linprog
from scipy.spatial import ConvexHull

from objlang import ObjlangError
from objlang.finite.lp import (constrained, expected_reward, lexicographic, occupancy_lp,
                               pareto_front, policy_from_occupancy, scalarised, soft_value,
                               total_reward)
from objlang.finite.model import FiniteMDP


def make_mdp(P, init=None, name="t") -> FiniteMDP:
    """A FiniteMDP from a dense (S, A, S) transition array."""
    P = np.asarray(P, dtype=float)
    S, A, _ = P.shape
    init = np.eye(S)[0] if init is None else np.asarray(init, dtype=float)
    Pm = sp.csr_matrix(P.reshape(S * A, S))
    return FiniteMDP(
        name=name, state_names=tuple(f"s{i}" for i in range(S)),
        action_names=tuple(f"a{i}" for i in range(A)), P=Pm, init=init,
        obs=np.arange(S), terminal=np.zeros(S, dtype=bool),
        env_reward=sp.csr_matrix(Pm.shape))


def one_state(n_actions: int) -> FiniteMDP:
    return make_mdp(np.ones((1, n_actions, 1)))


def random_mdp(rng, S, A, absorbing=1) -> FiniteMDP:
    P = rng.random((S, A, S)) * (rng.random((S, A, S)) < 0.5)
    P[:, :, 0] += 1e-3  # every row has some mass
    for s in range(S - absorbing, S):  # absorbing states make values fractional
        P[s] = 0.0
        P[s, :, s] = 1.0
    P /= P.sum(axis=2, keepdims=True)
    return make_mdp(P)


def evaluate(mdp: FiniteMDP, gamma: float, R, pi, extra=None) -> float:
    """Exact discounted value of policy pi from init: (I - gamma P_pi) v = r_pi (+ extra)."""
    S, A = mdp.n_states, mdp.n_actions
    r = expected_reward(mdp, R).reshape(S, A)
    P = mdp.P.toarray().reshape(S, A, S)
    P_pi = np.einsum("sa,sat->st", pi, P)
    r_pi = (pi * r).sum(axis=1) + (0.0 if extra is None else extra)
    v = spla.spsolve(sp.csc_matrix(np.eye(S) - gamma * P_pi), r_pi)
    return float(mdp.init @ v), np.asarray(v)


def deterministic_values(mdp, gamma, rewards):
    """Value vectors of all A^S deterministic policies."""
    S, A = mdp.n_states, mdp.n_actions
    out = []
    for choice in itertools.product(range(A), repeat=S):
        pi = np.eye(A)[list(choice)]
        out.append([evaluate(mdp, gamma, R, pi)[0] for R in rewards])
    return np.array(out)


def pareto_vertices_brute(points: np.ndarray, tol=1e-9) -> np.ndarray:
    """Vertices of conv(points) not dominated by any point of conv(points)."""
    pts = np.unique(np.round(points, 12), axis=0)
    hull = pts[ConvexHull(pts).vertices]
    keep = []
    for p in hull:
        # max sum(y - p) over y = lambda @ pts >= p, lambda in the simplex
        k, d = pts.shape
        res = linprog(-(pts - p).sum(axis=1), A_ub=-(pts - p).T, b_ub=np.zeros(d),
                      A_eq=np.ones((1, k)), b_eq=[1.0], bounds=(0, None), method="highs")
        if -res.fun <= tol:
            keep.append(p)
    return np.array(keep)


def same_points(a, b, tol=1e-7) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    return (all(np.abs(b - p).max(axis=1).min() <= tol for p in a)
            and all(np.abs(a - p).max(axis=1).min() <= tol for p in b))


# --- occupancy polytope -------------------------------------------------------


def test_occupancy_lp_flow_equations_and_policy_recovery():
    rng = np.random.default_rng(0)
    mdp = random_mdp(rng, 5, 3)
    lp = occupancy_lp(mdp, 0.9)
    assert lp.A_eq.shape == (5, 15) and sp.issparse(lp.A_eq)
    # the occupancy of a policy solves the flow equations and gives it back
    pi = rng.random((5, 3))
    pi /= pi.sum(axis=1, keepdims=True)
    P = mdp.P.toarray().reshape(5, 3, 5)
    P_pi = np.einsum("sa,sat->st", pi, P)
    d = np.linalg.solve((np.eye(5) - 0.9 * P_pi).T, mdp.init)  # state occupancy
    x = (d[:, None] * pi).ravel()
    assert np.allclose(lp.A_eq @ x, lp.b_eq)
    assert math.isclose(x.sum(), 1 / (1 - 0.9))
    assert np.allclose(policy_from_occupancy(x, 3), pi)
    # unvisited states get the uniform policy
    assert np.allclose(policy_from_occupancy(np.array([[0.0, 2.0], [0.0, 0.0]])),
                       [[0.0, 1.0], [0.5, 0.5]])
    with pytest.raises(ObjlangError, match="discount"):
        occupancy_lp(mdp, 1.0)


def test_reward_forms_agree():
    rng = np.random.default_rng(1)
    mdp = random_mdp(rng, 4, 2)
    R_trans = sp.csr_matrix(rng.random((8, 4)))
    r = expected_reward(mdp, R_trans)
    assert np.allclose(r, (mdp.P.toarray() * R_trans.toarray()).sum(axis=1))
    assert np.allclose(expected_reward(mdp, r.reshape(4, 2)), r)
    assert np.allclose(expected_reward(mdp, R_trans.toarray()), r)
    assert np.allclose(expected_reward(mdp, 2.5), 2.5)


# --- CMDP ---------------------------------------------------------------------


def test_cmdp_optimum_is_stochastic():
    # One state, two actions, gamma = 0.5 (total occupancy 1 / (1 - 0.5) = 2).
    # Action 0: reward 1, cost 1; action 1: reward 0, cost 0.
    # A stationary policy playing action 0 with probability p has
    #   E[G(reward)] = 2p,  E[G(cost)] = 2p.
    # maximise 2p subject to 2p <= 0.5  =>  p = 1/4, value 1/2.
    # Both deterministic policies are worse: action 0 violates (cost 2), action 1
    # has value 0.
    mdp = one_state(2)
    reward = np.array([[1.0, 0.0]])
    cost = np.array([[1.0, 0.0]])
    res = constrained(mdp, 0.5, reward, [(cost, "<=", 0.5)])
    assert math.isclose(res.value, 0.5, abs_tol=1e-9)
    assert np.allclose(res.policy, [[0.25, 0.75]], atol=1e-9)
    assert np.allclose(res.constraint_values, [0.5], atol=1e-9)
    assert np.allclose(res.occupancy, [[0.5, 1.5]], atol=1e-9)
    assert math.isclose(evaluate(mdp, 0.5, reward, res.policy)[0], 0.5, abs_tol=1e-9)
    # minimising instead: cost >= 1 forces p >= 1/2; min 2p = 1
    res = constrained(mdp, 0.5, reward, [(cost, ">=", 1.0)], maximize=False)
    assert math.isclose(res.value, 1.0, abs_tol=1e-9)
    assert np.allclose(res.policy, [[0.5, 0.5]], atol=1e-9)


def test_cmdp_two_states_by_hand():
    # s0 --a0 (reward 1, cost 1)--> s1 ; s0 --a1 (reward 0)--> s0 ;
    # s1 absorbing with reward 0; s2 absorbing and unreachable. gamma = 0.9, start in s0.
    # Playing a0 with probability p in s0 each visit: with V = value of s0,
    #   V_r = p + 0.9 (1 - p) V_r  =>  V_r = p / (1 - 0.9 (1 - p)) = p / (0.1 + 0.9 p);
    #   the cost has the same value. Constraint V_c <= 0.5  =>  p = 0.5 (0.1 + 0.9 p)
    #   =>  0.55 p = 0.05  =>  p = 1/11, and the value is 0.5.
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = 1.0
    P[0, 1, 0] = 1.0
    P[1, :, 1] = 1.0
    P[2, :, 2] = 1.0
    mdp = make_mdp(P)
    r = np.array([[1.0, 0.0], [0.0, 0.0], [5.0, 0.0]])
    res = constrained(mdp, 0.9, r, [(r, "<=", 0.5, "cost")])
    assert math.isclose(res.value, 0.5, abs_tol=1e-9)
    assert math.isclose(res.policy[0, 0], 1 / 11, abs_tol=1e-9)
    assert np.allclose(res.policy[2], [0.5, 0.5])  # never visited: uniform
    assert math.isclose(evaluate(mdp, 0.9, r, res.policy)[0], 0.5, abs_tol=1e-9)


def test_cmdp_random_agrees_with_policy_evaluation_and_beats_deterministic():
    rng = np.random.default_rng(2)
    gamma = 0.8
    for _ in range(5):
        mdp = random_mdp(rng, 4, 3)
        r, c = rng.random((4, 3)), rng.random((4, 3))
        vals = deterministic_values(mdp, gamma, [r, c])
        bound = float(np.median(vals[:, 1]))
        res = constrained(mdp, gamma, r, [(c, "<=", bound)])
        assert math.isclose(evaluate(mdp, gamma, r, res.policy)[0], res.value, abs_tol=1e-8)
        assert math.isclose(evaluate(mdp, gamma, c, res.policy)[0],
                            res.constraint_values[0], abs_tol=1e-8)
        assert res.constraint_values[0] <= bound + 1e-8
        feasible = vals[vals[:, 1] <= bound]
        assert res.value >= feasible[:, 0].max() - 1e-8


def test_cmdp_infeasible_names_the_constraint():
    # one state, gamma 0.5: E[G(cost)] = 2p lies in [0, 2]
    mdp = one_state(2)
    reward, cost = np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]])
    with pytest.raises(ObjlangError) as info:
        constrained(mdp, 0.5, reward, [(reward, ">=", 0.0), (cost, ">=", 3.0, "fuel")])
    msg = info.value.message
    assert msg.startswith("the constraints cannot all hold: ")
    assert "constraint 2 (fuel)" in msg and "greatest achievable value is 2" in msg
    # each alone can hold, together they cannot: both are named
    with pytest.raises(ObjlangError) as info:
        constrained(mdp, 0.5, reward, [(cost, "<=", 0.5), (reward, ">=", 0.1),
                                       (reward, ">=", 1.5)])
    msg = info.value.message
    assert "constraint 1" in msg and "constraint 3" in msg and "constraint 2" not in msg
    assert "cannot hold together" in msg


# --- lexicographic ------------------------------------------------------------


def test_lexicographic_second_objective_breaks_the_tie():
    # One state, three actions, gamma = 0.5 (values = 2 x per-step rewards).
    # r1 = (1, 1, 0): actions 0 and 1 tie at 2; r2 = (0, 2, 5) prefers action 2
    # but only action 1 keeps r1 optimal => values (2, 4). r2 alone would give 10.
    mdp = one_state(3)
    r1, r2 = np.array([[1.0, 1.0, 0.0]]), np.array([[0.0, 2.0, 5.0]])
    res = lexicographic(mdp, 0.5, [r1, r2])
    assert np.allclose(res.values, [2.0, 4.0], atol=1e-8)
    assert np.allclose(res.policy, [[0.0, 1.0, 0.0]], atol=1e-6)
    res = lexicographic(mdp, 0.5, [r2, r1])
    assert np.allclose(res.values, [10.0, 0.0], atol=1e-8)
    # minimising the second component among r1-optimal policies: action 0
    res = lexicographic(mdp, 0.5, [r1, r2], maximize=[True, False])
    assert np.allclose(res.values, [2.0, 0.0], atol=1e-8)


def test_lexicographic_multi_state_against_brute_force():
    # the lexicographic optimum of two rewards over the deterministic policies
    # (which suffice for an unconstrained lexicographic MDP), with a tie built in
    rng = np.random.default_rng(3)
    gamma = 0.7
    mdp = random_mdp(rng, 4, 3)
    r1 = np.round(rng.random((4, 3)))  # 0/1 rewards: many ties
    r1[:, 1] = r1[:, 0]
    r2 = rng.random((4, 3))
    vals = deterministic_values(mdp, gamma, [r1, r2])
    best1 = vals[:, 0].max()
    best2 = vals[vals[:, 0] >= best1 - 1e-9, 1].max()
    res = lexicographic(mdp, gamma, [r1, r2])
    assert np.allclose(res.values, [best1, best2], atol=1e-7)
    assert math.isclose(evaluate(mdp, gamma, r2, res.policy)[0], res.values[1], abs_tol=1e-8)


# --- scalarisation ------------------------------------------------------------


def test_chebyshev_differs_from_linear():
    # One state, gamma = 0.5; actions: a -> (1, 0), b -> (0, 1), c -> (0.4, 0.4).
    # Achievable values: 2 * conv{(1,0), (0,1), (0.4,0.4)}.
    # Linear, w = (0.6, 0.4): a gives 0.6*2 = 1.2, b 0.8, c 0.8 => V = (2, 0).
    # Chebyshev, w = (1, 1), reference 0: maximise min(V1, V2); mixing a and b
    # half-half gives (1, 1) (min 1) beating c's (0.8, 0.8) => value 1, stochastic.
    # Reference "ideal" = (2, 2): maximise min(V1 - 2, V2 - 2) => same point, -1.
    mdp = one_state(3)
    r1, r2 = np.array([[1.0, 0.0, 0.4]]), np.array([[0.0, 1.0, 0.4]])
    lin = scalarised(mdp, 0.5, [r1, r2], [0.6, 0.4])
    assert math.isclose(lin.value, 1.2, abs_tol=1e-9)
    assert np.allclose(lin.values, [2.0, 0.0], atol=1e-9)
    che = scalarised(mdp, 0.5, [r1, r2], [1.0, 1.0], kind="chebyshev")
    assert math.isclose(che.value, 1.0, abs_tol=1e-9)
    assert np.allclose(che.values, [1.0, 1.0], atol=1e-8)
    assert np.allclose(che.policy, [[0.5, 0.5, 0.0]], atol=1e-8)
    ideal = scalarised(mdp, 0.5, [r1, r2], [1.0, 1.0], kind="chebyshev", reference="ideal")
    assert math.isclose(ideal.value, -1.0, abs_tol=1e-9)
    # weights (1, 2): maximise min(V1, 2 V2) on V1 + V2 = 2 => V1 = 2 V2 => (4/3, 2/3)
    che = scalarised(mdp, 0.5, [r1, r2], [1.0, 2.0], kind="chebyshev")
    assert np.allclose(che.values, [4 / 3, 2 / 3], atol=1e-8)
    for res in (lin, che):
        for R, v in zip((r1, r2), res.values):
            assert math.isclose(evaluate(mdp, 0.5, R, res.policy)[0], v, abs_tol=1e-8)


def test_chebyshev_refinement_gives_a_pareto_optimal_point():
    # One state, gamma = 0.5; actions (1, 1) and (1, 2) per step: V1 = 2 <= V2 for
    # every policy, so every policy is max-min optimal for min(V1, V2) = 2 (weights
    # (1, 1), reference 0); the refinement picks the Pareto-optimal (2, 4).
    mdp = one_state(2)
    r1, r2 = np.array([[1.0, 1.0]]), np.array([[1.0, 2.0]])
    res = scalarised(mdp, 0.5, [r1, r2], [1.0, 1.0], kind="chebyshev")
    assert math.isclose(res.value, 2.0, abs_tol=1e-9)
    assert np.allclose(res.values, [2.0, 4.0], atol=1e-8)
    # a zero weight makes its term 0 in the min: min(1 * V1, 0) = 0
    res = scalarised(mdp, 0.5, [r1, r2], [1.0, 0.0], kind="chebyshev")
    assert math.isclose(res.value, 0.0, abs_tol=1e-9)


# --- Pareto fronts ------------------------------------------------------------


def test_pareto_two_objectives_hand():
    # One state, gamma = 0.5, per-step vectors: (1,0), (0.8,0.7), (0.3,0.9),
    # (0,1), (0.2,0.2). Values = 2x. Upper-right hull: (1,0) -> (0.8,0.7) ->
    # (0.3,0.9) -> (0,1)? (0.3,0.9) lies above the segment (0.8,0.7)-(0,1)
    # (at x = 0.3 that segment has y = 1 - 0.3*0.375 = 0.8875 < 0.9), so it is a
    # vertex; (0.2,0.2) is dominated.
    mdp = one_state(5)
    r1 = np.array([[1.0, 0.8, 0.3, 0.0, 0.2]])
    r2 = np.array([[0.0, 0.7, 0.9, 1.0, 0.2]])
    front = pareto_front(mdp, 0.5, [r1, r2])
    got = np.array([v.values for v in front])
    assert same_points(got, 2 * np.array([[1, 0], [0.8, 0.7], [0.3, 0.9], [0, 1]]))
    assert np.all(np.diff(got[:, 0]) < 0)  # sorted by decreasing first value
    for v in front:
        assert np.isclose(v.weights.sum(), 1.0) and (v.weights >= 0).all()
        assert np.allclose(v.policy.max(axis=1), 1.0)  # vertices: deterministic here



def assert_front_is_brute_force_hull(mdp, gamma, rewards):
    """The Pareto vertices are the non-dominated hull vertices over all
    deterministic policies, and each vertex's policy achieves its values."""
    front = pareto_front(mdp, gamma, rewards)
    got = np.array([v.values for v in front])
    expected = pareto_vertices_brute(deterministic_values(mdp, gamma, rewards))
    assert same_points(got, expected), (got, expected)
    for v in front:
        for R, val in zip(rewards, v.values):
            assert math.isclose(evaluate(mdp, gamma, R, v.policy)[0], val, abs_tol=1e-8)


@pytest.mark.parametrize("seed", range(4))
def test_pareto_two_objectives_random_vs_brute_force(seed):
    rng = np.random.default_rng(10 + seed)
    gamma = 0.8
    mdp = random_mdp(rng, 4, 3)
    rewards = [rng.random((4, 3)), rng.random((4, 3))]
    assert_front_is_brute_force_hull(mdp, gamma, rewards)


def test_pareto_three_objectives_hand():
    # One state, gamma = 0.5; actions e1, e2, e3 (per step) and (0.3, 0.3, 0.3).
    # (0.6, 0.6, 0.6) = 2 * (0.3, 0.3, 0.3) is dominated by the centroid
    # (2/3, 2/3, 2/3) of the facet through 2e1, 2e2, 2e3, so the vertices are 2e_i.
    mdp = one_state(4)
    R = np.array([[1, 0, 0, 0.3], [0, 1, 0, 0.3], [0, 0, 1, 0.3]], dtype=float)
    front = pareto_front(mdp, 0.5, [R[i][None] for i in range(3)])
    assert same_points(np.array([v.values for v in front]), 2 * np.eye(3))
    # with (0.4, 0.4, 0.4) instead, above that facet (1.2 > 1): four vertices
    R[:, 3] = 0.4
    front = pareto_front(mdp, 0.5, [R[i][None] for i in range(3)])
    assert same_points(np.array([v.values for v in front]),
                       2 * np.vstack([np.eye(3), [0.4, 0.4, 0.4]]))


@pytest.mark.parametrize("seed", range(3))
def test_pareto_three_objectives_random_vs_brute_force(seed):
    rng = np.random.default_rng(20 + seed)
    gamma = 0.8
    mdp = random_mdp(rng, 4, 3)
    rewards = [rng.random((4, 3)) for _ in range(3)]
    assert_front_is_brute_force_hull(mdp, gamma, rewards)


def test_pareto_with_constraint_and_single_objective():
    mdp = one_state(3)
    r1, r2 = np.array([[1.0, 0.0, 0.5]]), np.array([[0.0, 1.0, 0.5]])
    # gamma = 0.5: the front is the segment (2, 0)-(0, 2); action 2's (1, 1) lies on
    # it and is no vertex. V1 <= 0.5 cuts it to the segment (0.5, 1.5)-(0, 2).
    front = pareto_front(mdp, 0.5, [r1, r2])
    assert same_points(np.array([v.values for v in front]), [[2.0, 0.0], [0.0, 2.0]])
    front = pareto_front(mdp, 0.5, [r1, r2], constraints=[(r1, "<=", 0.5)])
    assert same_points(np.array([v.values for v in front]), [[0.5, 1.5], [0.0, 2.0]])
    front = pareto_front(mdp, 0.5, [r1])
    assert len(front) == 1 and np.allclose(front[0].values, [2.0])
    with pytest.raises(ObjlangError, match="2 or 3"):
        pareto_front(mdp, 0.5, [r1, r2, r1, r2])


# --- undiscounted totals with stop choices ------------------------------------


def gamble_mdp():
    """s0: a0 (safe) -> s1, a1 (risky) -> s2 0.7 | s3 0.3 (ruin); s1..s3 absorbing."""
    P = np.zeros((4, 2, 4))
    P[0, 0, 1] = 1.0
    P[0, 1, 2], P[0, 1, 3] = 0.7, 0.3
    for s in (1, 2, 3):
        P[s, :, s] = 1.0
    return make_mdp(P)


def test_total_reward_chance_constraint_by_hand():
    # payoff 1 (safe), 3 * 0.7 = 2.1 (risky); stop choice 0 "not ruined" in s1, s2, choice
    # 1 in s3. Risky with probability q: P[not ruined] = 1 - 0.3 q >= 0.8, so q = 2/3
    mdp = gamble_mdp()
    R = np.array([[1.0, 2.1], [0, 0], [0, 0], [0, 0]])
    stops = np.zeros((4, 2), bool)
    stops[[1, 2], 0] = stops[3, 1] = True
    safe = (0.0, np.array([1.0, 0.0]))
    res = total_reward(mdp, R, stops, [(safe, ">=", 0.8, "safe")])
    assert math.isclose(res.value, 1 + 1.1 * 2 / 3, abs_tol=1e-9)
    assert res.policy.shape == (4, 4) and res.occupancy.shape == (4, 4)
    assert np.allclose(res.policy[0], [1 / 3, 2 / 3, 0, 0], atol=1e-9)
    assert np.allclose(res.policy[1:], [[0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]], atol=1e-9)
    assert np.allclose(res.constraint_values, [0.8], atol=1e-9)
    # a terminal reward is a probability: the least P[ruined] given payoff >= 1.5 is 3/22
    low = total_reward(mdp, (0.0, np.array([0.0, 1.0])), stops, [(R, ">=", 1.5)],
                       maximize=False)
    assert math.isclose(low.value, 0.3 * 5 / 11, abs_tol=1e-9)
    with pytest.raises(ObjlangError, match=r"infeasible: no policy meets constraint 1 "
                       r"\(safe\).*least achievable value is 0.7\)"):
        total_reward(mdp, R, stops, [(safe, "<=", -0.5, "safe")])


def test_total_reward_needs_finite_and_bounded_totals():
    mdp = gamble_mdp()
    stops = np.zeros((4, 1), bool)
    stops[1:, 0] = True
    R = np.array([[1.0, 2.1], [0, 0], [0, 0], [0, 0]])
    R_loop = R.copy()
    R_loop[2, 1] = 0.5  # the absorbing s2 can earn forever
    with pytest.raises(ObjlangError, match="the objective is unbounded: the end component "
                       "of state 's2' can repeat action 'a1'"):
        total_reward(mdp, R_loop, stops)
    # minimised, the loop only hurts: the LP stays exact (safe, total 1)
    assert math.isclose(total_reward(mdp, -R_loop, stops).value, -1.0, abs_tol=1e-9)
    none = np.zeros((4, 1), bool)
    none[1, 0] = True  # only s1 may stop: risky reaches s2 or s3, where no run can stop
    assert math.isclose(total_reward(mdp, R, none).value, 1.0, abs_tol=1e-9)
    with pytest.raises(ObjlangError, match="no policy makes the totals finite: from state "
                       "'s0'"):
        total_reward(mdp, R, np.zeros((4, 1), bool))


@pytest.mark.parametrize("seed", range(4))
def test_total_reward_random_transient_vs_brute_force(seed):
    # every action of s0..s3 leaks to the absorbing s4, so every policy stops there:
    # the best total over deterministic policies, (I - Q_pi)^-1 r_pi, is the optimum
    rng = np.random.default_rng(seed)
    P = rng.random((5, 3, 5)) * (rng.random((5, 3, 5)) < 0.6)
    P[:, :, 4] += 0.2
    P[4] = 0.0
    P[4, :, 4] = 1.0
    P /= P.sum(axis=2, keepdims=True)
    mdp = make_mdp(P)
    r = rng.normal(size=(5, 3))
    r[4] = 0.0
    stops = np.zeros((5, 1), bool)
    stops[4, 0] = True
    best = -np.inf
    for choice in itertools.product(range(3), repeat=4):
        pi = np.eye(3)[list(choice)]
        Q = np.einsum("sa,sat->st", pi, P[:4])[:, :4]
        best = max(best, float(np.linalg.solve(np.eye(4) - Q, (pi * r[:4]).sum(axis=1))[0]))
    res = total_reward(mdp, r, stops)
    assert math.isclose(res.value, best, abs_tol=1e-8)
    # and the returned (deterministic here) policy attains it
    pi = res.policy[:4, :3]
    Q = np.einsum("sa,sat->st", pi, P[:4])[:, :4]
    assert math.isclose(float(np.linalg.solve(np.eye(4) - Q, (pi * r[:4]).sum(axis=1))[0]),
                        best, abs_tol=1e-8)


# --- regularised values -------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.05, 0.5, 3.0])
def test_soft_value_one_state_closed_form(alpha):
    # V = alpha log sum_a exp((r_a + gamma V) / alpha) = gamma V + alpha log sum_a e^{r_a/alpha}
    #   => V = alpha log(e^{r1/alpha} + e^{r2/alpha}) / (1 - gamma),
    #      pi(a) = e^{r_a/alpha} / sum_b e^{r_b/alpha}.
    gamma, r1, r2 = 0.9, 1.0, 0.3
    mdp = one_state(2)
    V, pi = soft_value(mdp, np.array([[r1, r2]]), gamma, alpha)
    expected = alpha * np.logaddexp(r1 / alpha, r2 / alpha) / (1 - gamma)
    assert math.isclose(V[0], expected, rel_tol=1e-12)
    z = np.exp(np.array([r1, r2]) / alpha)
    assert np.allclose(pi, [z / z.sum()], atol=1e-12)
    # KL to q: V = alpha log(q1 e^{r1/alpha} + q2 e^{r2/alpha}) / (1 - gamma)
    q = np.array([0.2, 0.8])
    V, pi = soft_value(mdp, np.array([[r1, r2]]), gamma, alpha, prior=q)
    expected = alpha * np.log(q @ np.exp(np.array([r1, r2]) / alpha)) / (1 - gamma)
    assert math.isclose(V[0], expected, rel_tol=1e-12)
    assert np.allclose(pi, [q * z / (q * z).sum()], atol=1e-12)
    # KL weight k plus entropy weight h, beta = k + h:
    # V = beta log sum_a q_a^{k/beta} e^{r_a/beta} / (1 - gamma)
    k, h = alpha, 0.3
    V, _ = soft_value(mdp, np.array([[r1, r2]]), gamma, k, prior=q, entropy_alpha=h)
    beta = k + h
    expected = beta * np.log((q ** (k / beta)) @ np.exp(np.array([r1, r2]) / beta)) / (1 - gamma)
    assert math.isclose(V[0], expected, rel_tol=1e-12)


def regularised_value(mdp, gamma, R, pi, h=0.0, k=0.0, q=None):
    """Exact value of pi for E[sum gamma^t (r_t + h H(pi) - k KL(pi || q))]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logpi = np.where(pi > 0, np.log(pi), 0.0)
        bonus = -h * (pi * logpi).sum(axis=1)
        if k:
            bonus -= k * (pi * (logpi - np.where(pi > 0, np.log(q), 0.0))).sum(axis=1)
    return evaluate(mdp, gamma, R, pi, extra=bonus)[1]


@pytest.mark.parametrize("seed", range(3))
def test_soft_value_brute_force(seed):
    rng = np.random.default_rng(30 + seed)
    S, A, gamma = 6, 3, 0.95
    mdp = random_mdp(rng, S, A)
    R = sp.csr_matrix(rng.normal(size=(S * A, S)))
    q = rng.random((S, A))
    q[0, 2] = 0.0  # the prior excludes an action
    q /= q.sum(axis=1, keepdims=True)
    for kw, (h, k) in [({"alpha": 0.2}, (0.2, 0.0)),
                       ({"alpha": 0.2, "prior": q}, (0.0, 0.2)),
                       ({"alpha": 0.1, "prior": q, "entropy_alpha": 0.05}, (0.05, 0.1))]:
        V, pi = soft_value(mdp, R, gamma, **kw)
        assert np.allclose(pi.sum(axis=1), 1.0)
        v_pi = regularised_value(mdp, gamma, R, pi, h=h, k=k, q=q)
        assert np.abs(v_pi - V).max() <= 1e-9
        if k:
            assert pi[0, 2] == 0.0
        # no other policy does better (random ones, and perturbations of pi)
        for _ in range(20):
            other = pi + 0.05 * rng.random((S, A))
            if k:
                other = np.where(q > 0, other, 0.0)
            other /= other.sum(axis=1, keepdims=True)
            assert (regularised_value(mdp, gamma, R, other, h=h, k=k, q=q) <= V + 1e-9).all()
        # the soft Bellman equation holds
        Q = (expected_reward(mdp, R).reshape(S, A)
             + gamma * (mdp.P @ V).reshape(S, A))
        if k == 0:
            assert np.allclose(V, h * np.log(np.exp(Q / h).sum(axis=1)), atol=1e-10)


def test_soft_value_approaches_plain_optimum_and_rejects_bad_weights():
    rng = np.random.default_rng(40)
    mdp = random_mdp(rng, 5, 2)
    r = rng.random((5, 2))
    V, pi = soft_value(mdp, r, 0.9, 1e-4)
    best = deterministic_values(mdp, 0.9, [r])[:, 0].max()
    # the entropy bonus adds at most alpha log 2 / (1 - gamma)
    assert best - 1e-9 <= mdp.init @ V <= best + 1e-4 * math.log(2) / 0.1 + 1e-9
    with pytest.raises(ObjlangError, match="weights"):
        soft_value(mdp, r, 0.9, 0.0)
    with pytest.raises(ObjlangError, match="prior"):
        soft_value(mdp, r, 0.9, 0.1, prior=np.ones((5, 2)))
