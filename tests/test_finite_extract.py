"""Finite MDPs from mdp blocks and toy-text envs (objlang.finite.extract), with
the termination semantics of language.md §6, and labels and rewards on them."""
from __future__ import annotations

import textwrap

import gymnasium
import numpy as np
import pytest

import objlang

from _samples import MDP_EXAMPLE
from objlang import ObjlangError
from objlang.finite.extract import (finite_env, from_gym, from_mdp_decl, labels, literal,
                                    transition_values)
from objlang.finite.model import FiniteMDP

HOLES, GOAL = [5, 7, 11, 12], 15


def load(text: str):
    return objlang.loads(textwrap.dedent(text).strip() + "\n", "t.obj")


def frozen(slippery: bool) -> FiniteMDP:
    return from_gym(gymnasium.make("FrozenLake-v1", is_slippery=slippery))


def check_well_formed(m: FiniteMDP):
    S, A = m.n_states, m.n_actions
    assert m.P.shape == (S * A, S) and m.env_reward.shape == (S * A, S)
    np.testing.assert_allclose(np.asarray(m.P.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    assert (m.P.data > 0).all()
    assert np.array_equal(m.P.indptr, m.env_reward.indptr)
    assert np.array_equal(m.P.indices, m.env_reward.indices)
    assert m.init.shape == (S,) and m.init.sum() == pytest.approx(1.0)
    assert m.obs.shape == (S,) and m.terminal.shape == (S,)
    assert len(m.state_names) == S
    # absorbing copies: a self-loop under every action, reward 0, same obs
    for s in np.flatnonzero(m.terminal):
        name = m.state_names[s]
        assert name.endswith("#end")
        original = m.state_names.index(name[:-4])
        assert m.obs[s] == m.obs[original]
        assert m.init[s] == 0
        for a in range(A):
            row = m.row(s, a)
            assert m.P[row].indices.tolist() == [s] and m.P[row, s] == 1.0
            assert m.env_reward[row].sum() == 0.0


@pytest.mark.parametrize("slippery", [False, True])
def test_frozenlake_absorbing_copies(slippery):
    m = frozen(slippery)
    check_well_formed(m)
    copies = {m.state_names[s][:-4]: s for s in np.flatnonzero(m.terminal)}
    assert sorted(int(k) for k in copies) == HOLES + [GOAL]
    assert m.n_states == 16 + len(copies) and m.n_actions == 4
    assert m.init.tolist() == [1.0] + [0.0] * (m.n_states - 1)
    assert m.obs[:16].tolist() == list(range(16))
    P = m.P.tocoo()
    for r, t, p in zip(P.row, P.col, P.data):
        s = r // 4
        if m.terminal[s]:
            continue
        # every transition into a hole or the goal leads to its copy
        assert m.obs[t] not in HOLES + [GOAL] or m.terminal[t]
        assert not m.terminal[t] or m.obs[t] in HOLES + [GOAL]
    # env reward: 1.0 exactly on transitions into the goal (its copy); the goal's own
    # rows (a self-loop flagged terminated, reward 0 in the table) are unreachable
    R = m.env_reward.tocoo()
    into_goal = m.obs[R.col] == GOAL
    src = R.row // 4
    np.testing.assert_array_equal(R.data, np.where(into_goal & (src < GOAL), 1.0, 0.0))
    assert (R.data == 1.0).any()


def test_frozenlake_slippery_probabilities_merge_duplicates():
    m = frozen(True)
    # state 0, action LEFT: slips to 0 (left, wall), 0 (up... down) -> merged
    row = m.P[m.row(0, 0)]
    assert dict(zip(row.indices.tolist(), row.data.tolist())) == pytest.approx(
        {0: 2 / 3, 4: 1 / 3})
    # state 14, action RIGHT: the goal with 1/3
    row = m.P[m.row(14, 2)]
    goal_copy = m.state_names.index("15#end")
    got = dict(zip(row.indices.tolist(), row.data.tolist()))
    assert got == pytest.approx({goal_copy: 1 / 3, 10: 1 / 3, 14: 1 / 3})


def test_frozenlake_matches_gymnasium_sampling():
    m = frozen(True)
    env = gymnasium.make("FrozenLake-v1")  # slippery by default
    copies = {int(m.state_names[s][:-4]): s for s in np.flatnonzero(m.terminal)}
    for s, a in [(6, 1), (14, 2), (0, 3)]:
        counts = np.zeros(m.n_states)
        n = 300
        for i in range(n):
            if i % 50 == 0:
                env.reset(seed=1000 * s + i)
            env.unwrapped.s = s
            obs, _, terminated, _, _ = env.step(a)
            counts[copies[obs] if terminated else obs] += 1
        expected = m.P[m.row(s, a)].toarray().ravel()
        np.testing.assert_allclose(counts / n, expected, atol=0.1)
    env.close()


def test_frozenlake_8x8_and_custom_map():
    m = from_gym(gymnasium.make("FrozenLake-v1", map_name="8x8"))
    check_well_formed(m)
    assert m.n_states == 64 + 10 + 1
    spec = load('env "FrozenLake-v1" { desc: ["SHG"], is_slippery: false }')
    m = finite_env(spec)
    check_well_formed(m)
    assert m.state_names == ("0", "1", "2", "1#end", "2#end")


def test_cliffwalking_and_taxi_shapes():
    cliff = from_gym(gymnasium.make("CliffWalking-v1"))
    check_well_formed(cliff)
    # the cliff sends the agent back to the start; only the goal (47) terminates
    assert (cliff.n_states, cliff.n_actions) == (48 + 1, 4)
    assert cliff.state_names[-1] == "47#end" and cliff.init[36] == 1.0
    assert cliff.env_reward[cliff.row(36, 1), 36] == -100  # right from the start: cliff
    slippery = from_gym(gymnasium.make("CliffWalkingSlippery-v1"))
    check_well_formed(slippery)
    assert slippery.n_states == 49 and slippery.P.nnz > cliff.P.nnz
    taxi = from_gym(gymnasium.make("Taxi-v4"))
    check_well_formed(taxi)
    assert taxi.n_actions == 6 and taxi.n_states > 500
    assert taxi.n_states - 500 == taxi.terminal.sum()
    assert taxi.init[:500].sum() == pytest.approx(1.0) and (taxi.init > 0).sum() == 300
    rainy = finite_env(load('env "Taxi-v4" { is_rainy: true }'))
    check_well_formed(rainy)
    assert rainy.P.nnz > taxi.P.nnz
    with pytest.raises(ObjlangError, match="fickle_passenger=True is not a finite MDP") as e:
        finite_env(load('env "Taxi-v4" { fickle_passenger: true }'))
    assert e.value.line == 1


TWO_PATHS = MDP_EXAMPLE + """
    reward right_turn = [action == right] + [obs == s0]
"""


def test_mdp_block_two_paths():
    spec = load(TWO_PATHS)
    m = finite_env(spec)
    assert m == m and isinstance(m, FiniteMDP)
    check_well_formed(m)
    assert m.name == "two_paths"
    assert m.state_names == ("s0", "a", "b", "done") == m.obs_names
    assert m.action_names == ("left", "right")
    assert m.init.tolist() == [1, 0, 0, 0]
    assert m.obs.tolist() == [0, 1, 2, 3] and not m.terminal.any()
    dense = m.P.toarray()
    np.testing.assert_allclose(dense[m.row(0, 0)], [0, 1, 0, 0])
    np.testing.assert_allclose(dense[m.row(0, 1)], [0.1, 0, 0.9, 0])
    for s in (1, 2, 3):
        for a in (0, 1):
            np.testing.assert_allclose(dense[m.row(s, a)], [0, 0, 0, 1])
    assert m.env_reward.sum() == 0
    assert labels(m, spec)["at_a"].tolist() == [False, True, False, False]
    r = transition_values(m, spec, "right_turn").toarray()
    assert r[m.row(0, 1), 0] == 2 and r[m.row(0, 1), 2] == 2 and r[m.row(0, 0), 1] == 1
    assert r[m.row(1, 1), 3] == 1 and r[m.row(1, 0), 3] == 0


def test_mdp_start_distribution():
    spec = load("""
        mdp m {
            start x : 0.25, y : 0.75
            x * -> y
            y * -> x
        }
    """)
    m = from_mdp_decl(spec.named()["m"])
    assert m.init.tolist() == [0.25, 0.75] and m.action_names == ("any",)


FROZEN_SPEC = """
    env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
    prop goal = obs == 15
    prop hole = obs in {5, 7, 11, 12}
    reward win = 10 * [goal]
    reward paid = env_reward + [obs == 14]
"""


def test_labels_and_rewards_on_frozenlake():
    spec = load(FROZEN_SPEC)
    m = finite_env(spec)
    assert m.name == "FrozenLake-v1" and m.n_states == 21
    lab = labels(m, spec)
    assert set(lab) == {"goal", "hole"}
    goal_copy = m.state_names.index("15#end")
    assert np.flatnonzero(lab["goal"]).tolist() == [15, goal_copy]
    assert lab["hole"].sum() == 8
    assert set(labels(m, spec, ["hole"])) == {"hole"}

    win = transition_values(m, spec, "win")
    assert win.shape == m.P.shape
    assert np.array_equal(win.indices, m.P.indices)
    W = win.tocoo()
    src = W.row // m.n_actions
    into_goal = m.obs[W.col] == 15
    np.testing.assert_array_equal(W.data, np.where(into_goal & ~m.terminal[src], 10.0, 0.0))
    assert (W.data[m.terminal[src]] == 0).all()
    assert win[m.row(14, 2), goal_copy] == 10 and win[m.row(goal_copy, 0), goal_copy] == 0

    paid = transition_values(m, spec, "paid")
    assert paid[m.row(14, 2), goal_copy] == 2.0  # env reward 1 + [obs == 14]
    assert paid[m.row(14, 2), 10] == 1.0
    # an inline expression (e.g. the argument of G(...))
    from objlang.ir import sym
    inline = transition_values(m, spec, sym.Iverson(sym.Eq_(sym.name("next"), 10)))
    assert inline[m.row(14, 2), 10] == 1.0 and inline.sum() == m.P[:, 10].nnz


def test_literal_conversion():
    spec = load('env "FrozenLake-v1" { a: "s", b: 3, c: 0.5, d: true, e: false, f: [1, 2], '
                'g: ["x"], h: {1, 2} }')
    kw = {k: literal(v) for k, v in spec.decls[0].kwargs}
    assert kw == {"a": "s", "b": 3, "c": 0.5, "d": True, "e": False, "f": [1, 2],
                  "g": ["x"], "h": {1, 2}}
    assert type(kw["b"]) is int and type(kw["c"]) is float and type(kw["d"]) is bool


def test_props_reading_info_are_refused():
    spec = load(FROZEN_SPEC + """
        prop coffee = info.coffee
        prop both = coffee & goal
        reward r = [both]
    """)
    m = finite_env(spec)
    with pytest.raises(ObjlangError) as e:
        labels(m, spec)
    assert "prop 'coffee' reads info" in e.value.message
    assert e.value.line == spec.named()["coffee"].loc.line and e.value.file == "t.obj"
    with pytest.raises(ObjlangError, match="prop 'coffee' reads info"):
        labels(m, spec, ["both"])
    assert set(labels(m, spec, ["goal"])) == {"goal"}
    with pytest.raises(ObjlangError, match="prop 'coffee' reads info"):
        transition_values(m, spec, "r")


def test_external_props_are_refused():
    spec = load(FROZEN_SPEC + """
        prop lit = external
        reward r = [lit] + 1
    """)
    m = finite_env(spec)
    with pytest.raises(ObjlangError) as e:
        labels(m, spec)
    assert "prop 'lit' is external" in e.value.message
    assert e.value.line == spec.named()["lit"].loc.line
    with pytest.raises(ObjlangError, match="prop 'lit' is external"):
        transition_values(m, spec, "r")
    with pytest.raises(ObjlangError, match="unknown proposition 'nope'"):
        labels(m, spec, ["nope"])


def test_non_finite_envs_are_refused():
    spec = load('env "CartPole-v1"\nprop up = obs[2] > 0')
    with pytest.raises(ObjlangError) as e:
        finite_env(spec)
    assert "'CartPole-v1' is not a finite environment" in e.value.message
    assert (e.value.file, e.value.line, e.value.column) == ("t.obj", 1, 1)
    with pytest.raises(ObjlangError, match="is not a finite environment"):
        from_gym(gymnasium.make("CartPole-v1"))
    with pytest.raises(ObjlangError) as e:
        finite_env(load("prop p = obs == 1"))
    assert "declares no env" in e.value.message
    with pytest.raises(ObjlangError) as e:
        finite_env(load('discount 0.9\nenv "NoSuchEnv-v0"'))
    assert "cannot make env 'NoSuchEnv-v0'" in e.value.message and e.value.line == 2


def test_outcomes_with_different_rewards_into_one_state_are_averaged_per_outcome():
    """Slippery CliffWalking: a fall (-100) and a step (-1) can both lead to the start
    state; `[env_reward == -100]` of that transition is the fall's share, not 0."""
    import gymnasium

    spec = objlang.loads('env "CliffWalkingSlippery-v1"\ncost fall = [env_reward == -100]\n'
                         'reward r = env_reward')
    mdp = finite_env(spec)
    fall = transition_values(mdp, spec, "fall")
    mean = transition_values(mdp, spec, "r")
    P = gymnasium.make("CliffWalkingSlippery-v1").unwrapped.P
    A = mdp.n_actions
    names = {nm: i for i, nm in enumerate(mdp.state_names)}
    checked = 0
    for s in range(48):
        for a in range(A):
            by_target: dict = {}
            for p, t, r, term in P[s][a]:
                col = names[f"{t}#end" if term else str(t)]
                q, f, m = by_target.get(col, (0.0, 0.0, 0.0))
                by_target[col] = (q + p, f + p * (r == -100), m + p * r)
            for col, (q, f, m) in by_target.items():
                assert fall[s * A + a, col] == pytest.approx(f / q, abs=1e-12)
                assert mean[s * A + a, col] == pytest.approx(m / q, abs=1e-12)
                checked += 0 < f < q
    assert checked > 0  # some transitions mix a fall and a step
