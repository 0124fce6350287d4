"""Exact solvers on tiny MDPs whose values were solved by hand (numbers in comments)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from objlang.finite.average import average_value, evaluate_average
from objlang.finite.discounted import discounted_value, evaluate_discounted
from objlang.finite.mec import mecs, mec_partition, prob0A, prob0E, prob1A, prob1E
from objlang.finite.model import FiniteMDP
from objlang.finite.prism import prism_action_names, prism_init_state, to_prism
from objlang.finite.reach import evaluate_reach, reach_prob, reach_value


def make_mdp(trans, n_actions, init=None, rewards=None, actions=None):
    """``trans[s][a] = {t: p}``; ``rewards[(s, a)] = r`` (put on every successor)."""
    S = len(trans)
    rows, cols, vals, rv = [], [], [], []
    rewards = rewards or {}
    for s, per_a in enumerate(trans):
        assert len(per_a) == n_actions
        for a, dist in enumerate(per_a):
            for t, p in dist.items():
                rows.append(s * n_actions + a)
                cols.append(t)
                vals.append(p)
                rv.append(rewards.get((s, a), 0.0))
    P = sp.csr_matrix((vals, (rows, cols)), shape=(S * n_actions, S))
    R = sp.csr_matrix((rv, (rows, cols)), shape=(S * n_actions, S))
    if init is None:
        init = np.zeros(S)
        init[0] = 1.0
    mdp = FiniteMDP(name="hand", state_names=tuple(f"q{i}" for i in range(S)),
                    action_names=tuple(actions or (f"a{j}" for j in range(n_actions))),
                    P=P, init=np.asarray(init, float), obs=np.arange(S),
                    terminal=np.zeros(S, bool), env_reward=sp.csr_matrix((S * n_actions, S)))
    return mdp, R


# ---------------------------------------------------------------- reachability
# states: 0 = start, 1 = goal (absorbing), 2 = fail (absorbing), 3 = pre-start
#   0: a -> goal 0.9 / fail 0.1;  b -> goal 0.1 / fail 0.9
#   3: a -> 0 w.p. 0.5, goal 0.5;  b -> goal 0.2 / fail 0.8
# Pmax(0) = 0.9, Pmin(0) = 0.1
# Pmax(3) = max(0.5 + 0.5*0.9, 0.2) = 0.95 (action a)
# Pmin(3) = min(0.5 + 0.5*0.1, 0.2) = 0.2  (action b)
def reach3():
    return make_mdp([
        [{1: 0.9, 2: 0.1}, {1: 0.1, 2: 0.9}],
        [{1: 1.0}, {1: 1.0}],
        [{2: 1.0}, {2: 1.0}],
        [{0: 0.5, 1: 0.5}, {1: 0.2, 2: 0.8}],
    ], 2)[0]


GOAL3 = np.array([False, True, False, False])


def test_reach_pmax_pmin_by_hand():
    mdp = reach3()
    vmax, pmax = reach_prob(mdp, GOAL3, maximize=True)
    vmin, pmin = reach_prob(mdp, GOAL3, maximize=False)
    np.testing.assert_allclose(vmax, [0.9, 1.0, 0.0, 0.95], atol=1e-12)
    np.testing.assert_allclose(vmin, [0.1, 1.0, 0.0, 0.2], atol=1e-12)
    assert pmax[0] == 0 and pmax[3] == 0
    assert pmin[0] == 1 and pmin[3] == 1
    assert reach_value(mdp, GOAL3) == pytest.approx(0.9, abs=1e-12)
    np.testing.assert_allclose(evaluate_reach(mdp, GOAL3, pmax), vmax, atol=1e-12)
    # a stochastic policy: at 0 half a / half b -> 0.5; at 3 always a -> 0.5 + 0.5*0.5 = 0.75
    pi = np.array([[0.5, 0.5], [1, 0], [1, 0], [1, 0]])
    np.testing.assert_allclose(evaluate_reach(mdp, GOAL3, pi), [0.5, 1, 0, 0.75], atol=1e-12)


# An end component inside the "maybe" states: state 0 may loop forever (action c).
#   0: a -> goal 0.9 / fail 0.1;  b -> 0 (self-loop);  states 1 goal, 2 fail
# Pmax(0) = 0.9 (the loop gives 0: policy iteration must not pick it);
# Pmin(0) = 0 (loop forever: prob0E), and the min policy must be the loop.
def test_reach_with_end_component():
    mdp = make_mdp([
        [{1: 0.9, 2: 0.1}, {0: 1.0}],
        [{1: 1.0}, {1: 1.0}],
        [{2: 1.0}, {2: 1.0}],
    ], 2)[0]
    goal = np.array([False, True, False])
    vmax, pmax = reach_prob(mdp, goal, True)
    vmin, pmin = reach_prob(mdp, goal, False)
    np.testing.assert_allclose(vmax, [0.9, 1, 0], atol=1e-12)
    np.testing.assert_allclose(vmin, [0.0, 1, 0], atol=1e-12)
    assert pmax[0] == 0 and pmin[0] == 1
    # graph sets
    assert list(prob0A(mdp, goal)) == [False, False, True]
    assert list(prob0E(mdp, goal)) == [True, False, True]
    assert list(prob1E(mdp, goal)) == [False, True, False]
    assert list(prob1A(mdp, goal)) == [False, True, False]


# Pmax = 1 needs a strategy: 0: a -> 1 / 0 half-half (retry), b -> fail.
# Pmax(0) = 1 (retry forever reaches goal a.s.), Pmin(0) = 0.
def test_reach_prob1_policy():
    mdp = make_mdp([
        [{0: 0.5, 1: 0.5}, {2: 1.0}],
        [{1: 1.0}, {1: 1.0}],
        [{2: 1.0}, {2: 1.0}],
    ], 2)[0]
    goal = np.array([False, True, False])
    v, pol = reach_prob(mdp, goal, True)
    assert v[0] == 1.0 and pol[0] == 0
    assert prob1E(mdp, goal)[0] and not prob1A(mdp, goal)[0]
    v, pol = reach_prob(mdp, goal, False)
    assert v[0] == 0.0 and pol[0] == 1
    # restricting the actions: without action a in state 0 nothing reaches goal
    allowed = np.ones((3, 2), bool)
    allowed[0, 0] = False
    v, _ = reach_prob(mdp, goal, True, allowed=allowed)
    assert v[0] == 0.0


# ---------------------------------------------------------------- discounted
# 0: stay (r=1, self-loop) or go (r=0, -> 1);  1: self-loop r=2 under both actions.
# gamma = 0.9: V(1) = 2 / 0.1 = 20
# V(0) = max(1 / 0.1 = 10 (stay forever), 0 + 0.9 * 20 = 18) = 18 ; min = 10
# half/half at 0: V = 0.5 (1 + 0.9 V) + 0.5 (0.9 * 20) -> V = 9.5 / 0.55 = 17.2727...
def disc2():
    return make_mdp([[{0: 1.0}, {1: 1.0}], [{1: 1.0}, {1: 1.0}]], 2,
                    rewards={(0, 0): 1.0, (1, 0): 2.0, (1, 1): 2.0})


def test_discounted_closed_form():
    mdp, R = disc2()
    v, pol = discounted_value(mdp, R, 0.9)
    np.testing.assert_allclose(v, [18.0, 20.0], atol=1e-12)
    assert pol[0] == 1
    v, pol = discounted_value(mdp, R, 0.9, maximize=False)
    np.testing.assert_allclose(v, [10.0, 20.0], atol=1e-12)
    assert pol[0] == 0
    pi = np.array([[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(evaluate_discounted(mdp, R, 0.9, pi), [9.5 / 0.55, 20.0], atol=1e-12)
    with pytest.raises(ValueError):
        discounted_value(mdp, R, 1.0)


def test_discounted_expected_reward_of_transition_rewards():
    # one action, 0 -> 0 w.p. 0.5 (reward 4) or -> 1 w.p. 0.5 (reward 0); 1 absorbing, reward 0
    # expected reward at 0 is 2: V(0) = 2 + 0.9 * 0.5 V(0) -> V(0) = 2 / 0.55
    mdp, _ = make_mdp([[{0: 0.5, 1: 0.5}], [{1: 1.0}]], 1)
    R = sp.csr_matrix(([4.0], ([0], [0])), shape=(2, 2))
    v, _ = discounted_value(mdp, R, 0.9)
    np.testing.assert_allclose(v, [2 / 0.55, 0.0], atol=1e-12)


# ---------------------------------------------------------------- limit average
# 0: a -> 1, b -> 2 (reward 0)        1: self-loop, reward 1      2: self-loop, reward 3
# 3: self-loop, reward 0.5            4: a -> 1 / 2 half-half, b -> 3
# 5, 6 communicating: 5 a -> 6 (r=4), 5 b -> 5 (r=1); 6 a -> 5 (r=0), 6 b -> 6 (r=1)
# max gains: g1=1, g2=3, g3=0.5, g0 = 3 (b), g4 = max(0.5*1 + 0.5*3, 0.5) = 2,
#            g5 = g6 = max(cycle (4+0)/2 = 2, loops 1) = 2
# min gains: g0 = 1, g4 = 0.5, g5 = g6 = 1
def lar():
    return make_mdp([
        [{1: 1.0}, {2: 1.0}],
        [{1: 1.0}, {1: 1.0}],
        [{2: 1.0}, {2: 1.0}],
        [{3: 1.0}, {3: 1.0}],
        [{1: 0.5, 2: 0.5}, {3: 1.0}],
        [{6: 1.0}, {5: 1.0}],
        [{5: 1.0}, {6: 1.0}],
    ], 2, rewards={(1, 0): 1, (1, 1): 1, (2, 0): 3, (2, 1): 3, (3, 0): 0.5, (3, 1): 0.5,
                   (5, 0): 4, (5, 1): 1, (6, 1): 1})


def test_average_multichain_by_hand():
    mdp, R = lar()
    g, pol = average_value(mdp, R)
    np.testing.assert_allclose(g, [3, 1, 3, 0.5, 2, 2, 2], atol=1e-9)
    assert pol[0] == 1 and pol[4] == 0 and pol[5] == 0 and pol[6] == 0
    np.testing.assert_allclose(evaluate_average(mdp, R, pol), g, atol=1e-12)
    g, pol = average_value(mdp, R, maximize=False)
    np.testing.assert_allclose(g, [1, 1, 3, 0.5, 0.5, 1, 1], atol=1e-9)
    np.testing.assert_allclose(evaluate_average(mdp, R, pol), g, atol=1e-12)
    # stochastic policy: 0 half a / half b -> 0.5 * 1 + 0.5 * 3 = 2; 5 half/half:
    # chain 5 -> 5 (r=1) or 6 (r=4), 6 -> 5 (r=0): stationary (2/3, 1/3),
    # gain = 2/3 * (0.5*1 + 0.5*4) + 1/3 * 0 = 5/3
    pi = np.array([[0.5, 0.5], [1, 0], [1, 0], [1, 0], [0, 1], [0.5, 0.5], [1, 0]])
    np.testing.assert_allclose(evaluate_average(mdp, R, pi), [2, 1, 3, 0.5, 0.5, 5 / 3, 5 / 3],
                               atol=1e-12)


def test_mec_decomposition_by_hand():
    mdp, _ = lar()
    found = mecs(mdp)
    assert [list(s) for s, _ in found] == [[1], [2], [3], [5, 6]]
    s56, act56 = found[3]
    assert act56.tolist() == [[True, True], [True, True]]
    mec_id, act = mec_partition(mdp)
    assert mec_id.tolist() == [-1, 0, 1, 2, -1, 3, 3]
    assert not act[0].any() and not act[4].any()
    # without 5 -> 6 the component splits into two single-state MECs
    allowed = np.ones((7, 2), bool)
    allowed[5, 0] = False
    assert [list(s) for s, _ in mecs(mdp, allowed)] == [[1], [2], [3], [5], [6]]
    # restricted to a state set
    only = np.array([0, 0, 0, 0, 0, 1, 1], bool)
    assert [list(s) for s, _ in mecs(mdp, states=only)] == [[5, 6]]


# ---------------------------------------------------------------- PRISM text
def test_prism_text_shape():
    mdp, R = make_mdp([[{0: 0.25, 1: 0.75}, {1: 1.0}], [{1: 1.0}, {1: 1.0}]], 2,
                      rewards={(0, 0): 2.0}, actions=("go-left", "module"))
    assert prism_action_names(mdp) == ["go_left", "module_"]
    text = to_prism(mdp, {"goal": np.array([False, True])}, {"r": R})
    assert "s : [0..1] init 0;" in text
    assert "[go_left] s=0 -> 0.25:(s'=0) + 0.75:(s'=1);" in text
    assert 'label "goal" = s=1;' in text
    assert "[go_left] s=0 : 2;" in text
    assert prism_init_state(mdp) == (0, False)
    mdp2, _ = make_mdp([[{0: 1.0}], [{1: 1.0}]], 1, init=[0.5, 0.5])
    text2 = to_prism(mdp2)
    assert prism_init_state(mdp2) == (2, True)
    assert "s : [0..2] init 2;" in text2 and "[init_] s=2 -> 0.5:(s'=0) + 0.5:(s'=1);" in text2
    with pytest.raises(ValueError):
        to_prism(mdp, {"bad name": np.array([True, False])})
