"""Checked expressions compiled to batched numpy functions (objlang.ir.evaluate):
hand-computed values, the "props inside rewards are read on next" rule, and no
sympy work per call."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
import sympy

import objlang

from _samples import MDP_EXAMPLE
from objlang import ObjlangError
from objlang.ir import sym
from objlang.ir.evaluate import Scope, compile_bool, compile_real


def load(text: str):
    spec = objlang.loads(textwrap.dedent(text).strip() + "\n", "t.obj")
    return spec, Scope.of(spec)


def prop(spec, scope, name, **kw):
    return compile_bool(spec.named()[name].expr, scope, **kw)


def reward(spec, scope, name, **kw):
    return compile_real(spec.named()[name].expr, scope, **kw)


FROZEN = """
    env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
    prop goal = obs == 15
    prop hole = obs in {5, 7, 11, 12}
    prop safe = !hole & !goal
    reward step = -0.01
    reward win = 10 * [goal] - 0.01
    reward both = step + 2 * win
    reward here = [obs == 15]
"""


def test_frozenlake_props():
    spec, scope = load(FROZEN)
    obs = np.arange(16)
    assert prop(spec, scope, "goal")({"obs": obs}).tolist() == [s == 15 for s in range(16)]
    hole = prop(spec, scope, "hole")({"obs": obs})
    assert hole.dtype == np.bool_ and hole.shape == (16,)
    assert np.flatnonzero(hole).tolist() == [5, 7, 11, 12]
    safe = prop(spec, scope, "safe")({"obs": obs})
    assert np.flatnonzero(~safe).tolist() == [5, 7, 11, 12, 15]


def test_prop_inside_reward_is_read_on_next():
    spec, scope = load(FROZEN)
    win = reward(spec, scope, "win")
    values = {"obs": np.array([15, 14, 15, 0]), "next": np.array([15, 15, 3, 0])}
    out = win(values)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [9.99, 9.99, -0.01, -0.01])
    assert win.reads == {"next"}
    # obs written directly in a reward is o_t
    here = reward(spec, scope, "here")
    np.testing.assert_array_equal(here(values), [1.0, 0.0, 1.0, 0.0])
    assert here.reads == {"obs"}
    # a reward inside a reward
    both = reward(spec, scope, "both")
    np.testing.assert_allclose(both(values), [-0.01 + 2 * 9.99, -0.01 + 2 * 9.99,
                                              -0.03, -0.03])
    # a constant reward gets the batch's shape
    np.testing.assert_allclose(reward(spec, scope, "step")(values), [-0.01] * 4)


def test_machine_guard_reads_props_on_next():
    spec, scope = load(FROZEN)
    guard = compile_bool(sym.And_(sym.name("goal"), sym.Eq_(sym.name("obs"), 14)), scope,
                         level="transition")
    out = guard({"obs": np.array([14, 14, 15]), "next": np.array([15, 13, 15])})
    assert out.tolist() == [True, False, False]


def test_cartpole_vector_observations():
    spec, scope = load("""
        prop right = obs[2] > 0.2
        reward dist = norm(obs[0:2] - [1.0, 2.0])
        reward d = dot(obs[0:2], next[2:4])
        reward tail = obs[-1] + obs[:1][0] + obs[3:][0]
        reward lo = min(obs[0], 3) + max(obs[1], 0, -1)
        reward clipped = clip(obs[0], 0, 1)
        reward scaled = norm(obs[2] * obs[0:2])
    """)
    obs = np.array([[4.0, 6.0, 0.3, -1.0],
                    [1.0, 2.0, 0.1, 2.0],
                    [0.5, -3.0, 0.2, 0.0]])
    nxt = np.array([[1.0, 1.0, 2.0, 3.0]] * 3)
    v = {"obs": obs, "next": nxt}
    assert prop(spec, scope, "right")(v).tolist() == [True, False, False]
    np.testing.assert_allclose(reward(spec, scope, "dist")(v), [5.0, 0.0, np.hypot(0.5, 5)])
    np.testing.assert_allclose(reward(spec, scope, "d")(v), [4 * 2 + 6 * 3, 1 * 2 + 2 * 3,
                                                            0.5 * 2 - 3 * 3])
    np.testing.assert_allclose(reward(spec, scope, "tail")(v), [-1 + 4 - 1, 2 + 1 + 2, 0.5])
    np.testing.assert_allclose(reward(spec, scope, "lo")(v), [3 + 6, 1 + 2, 0.5 + 0])
    np.testing.assert_allclose(reward(spec, scope, "clipped")(v), [1.0, 1.0, 0.5])
    np.testing.assert_allclose(reward(spec, scope, "scaled")(v),
                               [0.3 * np.hypot(4, 6), 0.1 * np.hypot(1, 2),
                                0.2 * np.hypot(0.5, 3)])


def test_min_ite_iverson_and_arithmetic():
    spec, scope = load("""
        prop a = obs > 2
        reward m = min(obs, 3)
        reward pick = if a then 1 else 2
        reward arith = obs ^ 2 / 4 + abs(obs - 5) + sqrt(obs) + exp(0) + log(1)
        reward div = if obs == 0 then 0 else 1 / obs
    """)
    obs = np.array([0, 1, 4, 9])
    # props inside rewards read next: give both
    v = {"obs": obs, "next": obs}
    np.testing.assert_array_equal(reward(spec, scope, "m")(v), [0, 1, 3, 3])
    np.testing.assert_array_equal(reward(spec, scope, "pick")(v), [2, 2, 1, 1])
    np.testing.assert_allclose(reward(spec, scope, "arith")(v),
                               obs ** 2 / 4 + np.abs(obs - 5) + np.sqrt(obs) + 1)
    with np.errstate(all="raise"):  # the branch not taken does not warn
        np.testing.assert_allclose(reward(spec, scope, "div")(v), [0, 1, 0.25, 1 / 9])


def test_logic():
    spec, scope = load("""
        prop p = obs > 0
        prop q = obs > 1
        prop imp = p -> q
        prop eqv = p <-> q
        prop x = p xor q
        prop any_ = p | q | false
        prop ne = obs != 1
        prop tr = true
    """)
    v = {"obs": np.array([0, 1, 2])}
    assert prop(spec, scope, "imp")(v).tolist() == [True, False, True]
    assert prop(spec, scope, "eqv")(v).tolist() == [True, False, True]
    assert prop(spec, scope, "x")(v).tolist() == [False, True, False]
    assert prop(spec, scope, "any_")(v).tolist() == [False, True, True]
    assert prop(spec, scope, "ne")(v).tolist() == [True, False, True]
    assert prop(spec, scope, "tr")(v).tolist() == [True, True, True]


def test_info_dict_observations_and_env_reward():
    spec, scope = load("""
        prop coffee = info.coffee
        prop deep = info.pos.x > 1
        prop near = obs["agent"][1] < 0.5
        reward r = [coffee] + 10 * env_reward[1] + obs["agent"][0]
        reward plain = 2 * env_reward
        reward act = action * 2
    """)
    info = {"coffee": np.array([True, False]), "pos": {"x": np.array([0.0, 3.0])}}
    obs = {"agent": np.array([[1.0, 0.2], [2.0, 0.9]])}
    assert prop(spec, scope, "coffee")({"info": info}).tolist() == [True, False]
    assert prop(spec, scope, "deep")({"info": info}).tolist() == [False, True]
    assert prop(spec, scope, "near")({"obs": obs}).tolist() == [True, False]
    r = reward(spec, scope, "r")
    out = r({"obs": obs, "next_info": info, "env_reward": np.array([[0.0, 1.0], [5.0, 0.5]])})
    np.testing.assert_allclose(out, [1 + 10 + 1, 0 + 5 + 2])
    assert r.reads == {"obs", "next_info", "env_reward"}
    assert r.sources["next_info"] == "coffee" and r.sources["obs"] is None
    np.testing.assert_allclose(reward(spec, scope, "plain")({"env_reward": np.array([1.5])}),
                               [3.0])
    np.testing.assert_allclose(reward(spec, scope, "act")({"action": np.array([0, 3])}), [0, 6])
    with pytest.raises(KeyError, match="info has no key 'coffee'"):
        prop(spec, scope, "coffee")({"info": {"tea": np.array([True])}})


def test_external_props_are_read_from_values():
    spec, scope = load("""
        prop lit = external
        reward r = [lit]
    """)
    f = compile_bool(sym.name("lit"), scope)
    assert f({"props": {"lit": np.array([True, False])}}).tolist() == [True, False]
    r = reward(spec, scope, "r")
    assert r.reads == {"next_props"}
    np.testing.assert_array_equal(r({"next_props": {"lit": np.array([0, 1])}}), [0.0, 1.0])


def test_mdp_state_and_action_names_are_constants():
    spec, scope = load(MDP_EXAMPLE + """
        prop end = obs in {b, done}
        reward went_right = [action == right] + [next == done]
    """)
    assert scope.states == {"s0": 0, "a": 1, "b": 2, "done": 3}
    assert scope.actions == {"left": 0, "right": 1}
    v = {"obs": np.arange(4)}
    assert prop(spec, scope, "at_a")(v).tolist() == [False, True, False, False]
    assert prop(spec, scope, "end")(v).tolist() == [False, False, True, True]
    r = reward(spec, scope, "went_right")
    np.testing.assert_array_equal(
        r({"obs": np.zeros(3), "action": np.array([0, 1, 1]), "next": np.array([3, 3, 2])}),
        [1.0, 2.0, 1.0])


def test_trajectory_atoms_and_level_errors():
    spec, scope = load(FROZEN)
    for expr, what in [(sym.Expect(sym.Ret(sym.name("win"))), "E[...]"),
                       (sym.Ret(sym.name("win")), "G(...)"),
                       (sym.Total(sym.name("win")), "sum(...)"),
                       (sym.Prob(sym.name("goal")), "P[...]")]:
        with pytest.raises(ObjlangError) as e:
            compile_real(expr, scope)
        assert what in e.value.message and "cannot be evaluated" in e.value.message
    with pytest.raises(ObjlangError, match="temporal operator F"):
        compile_bool(sym.Finally(sym.name("goal")), scope)
    with pytest.raises(ObjlangError, match="'next' is only defined in rewards"):
        compile_bool(sym.Eq_(sym.name("next"), 1), scope)
    with pytest.raises(ObjlangError, match="unknown proposition 'gaol'"):
        compile_bool(sym.name("gaol"), scope)


def test_errors_inside_a_named_declaration_are_located():
    spec, _ = load(FROZEN)
    # a scope in which a reward's body holds something unevaluable
    bad = Scope(props={}, rewards={"r": sym.Expect(sym.name("x"))},
                decls={"r": spec.named()["win"]})
    with pytest.raises(ObjlangError) as e:
        compile_real(sym.name("r"), bad)
    assert e.value.line == spec.named()["win"].loc.line


def test_compiled_function_does_no_sympy_work(monkeypatch):
    spec, scope = load(FROZEN + """
        prop far = norm(obs[0:2] - [1.0, 2.0]) > 1
        reward mix = if goal then min(obs, 3) else max(next, 1) ^ 2 + [obs in {1, 2}]
    """)
    fns = [reward(spec, scope, "win"), reward(spec, scope, "both"),
           reward(spec, scope, "mix"), prop(spec, scope, "hole"), prop(spec, scope, "far")]
    values = [{"obs": np.array([15, 3]), "next": np.array([15, 1])}] * 3 + [
        {"obs": np.array([5, 6])}, {"obs": np.array([[0.0, 0.0], [1.0, 2.0]])}]
    expected = [f(v) for f, v in zip(fns, values)]

    def boom(*a, **k):
        raise AssertionError("sympy called while evaluating")

    for name in ("subs", "xreplace", "atoms", "doit", "has", "__eq__", "__hash__", "func"):
        monkeypatch.setattr(sympy.Basic, name, property(boom) if name == "func" else boom)
    monkeypatch.setattr(sympy.Basic, "args", property(boom))
    monkeypatch.setattr(sympy.Expr, "__float__", boom)
    monkeypatch.setattr(sympy.core.evalf.EvalfMixin, "evalf", boom)
    monkeypatch.setattr(sympy, "lambdify", boom)
    for f, v, want in zip(fns, values, expected):
        np.testing.assert_array_equal(f(v), want)
