"""LTL optima against Storm, the independent model checker: the examples on
FrozenLake 4x4 and 8x8 (slippery), and 300 random MDPs x random formulas."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import sympy

import objlang
from objlang.automata import automaton_of
from objlang.finite.export import export_prism, prism_ltl
from objlang.finite.model import FiniteMDP
from objlang.finite.prism import solve_prism_with_storm, to_prism
from objlang.finite.product import product
from objlang.finite.reach import reach_prob
from objlang.finite.solve import accepting_states, solve
from objlang.ir import nodes as n
from objlang.ir import sym

stormpy = pytest.importorskip("stormpy")
spot = pytest.importorskip("spot")

ROOT = Path(__file__).resolve().parent.parent


def frozenlake_ltl_examples():
    out = []
    for path in sorted((ROOT / "examples").rglob("*.obj")):
        spec = objlang.load(path)
        env = next(iter(spec.of_type(n.EnvDecl)), None)
        if env is None or not env.env_id.startswith("FrozenLake"):
            continue
        finite = {d.name for d in spec.of_type(n.LtlDecl) if d.finite}
        for o in spec.objectives:
            e = o.goal.expr
            if (isinstance(e, sym.Prob) and not o.constraints and not o.regularizers
                    and not {s.name for s in e.atoms(sympy.Symbol)} & finite):
                out.append((path, o.name))
    return out


def on_map(spec, map_name: str):
    """The spec on slippery FrozenLake with another map."""
    env = spec.of_type(n.EnvDecl)[0]
    new = dataclasses.replace(env, env_id="FrozenLake-v1", kwargs=(
        ("map_name", sym.Str(map_name)), ("is_slippery", sympy.true)))
    return dataclasses.replace(spec, decls=tuple(new if d is env else d for d in spec.decls))


EXAMPLES = frozenlake_ltl_examples()


@pytest.mark.parametrize("map_name", ["4x4", "8x8"])
@pytest.mark.parametrize("path, objective", EXAMPLES,
                         ids=[f"{p.name}:{o}" for p, o in EXAMPLES])
def test_frozenlake_examples_agree_with_storm(path, objective, map_name):
    spec = on_map(objlang.load(path), map_name)
    ours = solve(spec, objective)
    model, prop = export_prism(spec, objective)
    theirs = solve_prism_with_storm(model, prop)
    assert ours.value == pytest.approx(theirs, abs=1e-6)
    assert 0.0 <= ours.value <= 1.0


# ---- random MDPs x random formulas ------------------------------------------

PROPS = ["a", "b", "c", "d"]
HEAD = "".join(f"prop {p} = obs == {i}\n" for i, p in enumerate(PROPS))


def random_mdp(rng) -> tuple[FiniteMDP, dict]:
    S = int(rng.integers(3, 41))
    A = int(rng.integers(2, 5))
    rows, cols, vals = [], [], []
    absorbing = rng.random(S) < 0.2
    for s in range(S):
        for a in range(A):
            if absorbing[s]:
                succ, p = np.array([s]), np.array([1.0])
            else:
                k = int(rng.integers(1, 4))
                succ = rng.choice(S, size=k, replace=False)
                p = rng.dirichlet(np.ones(k))
            rows += [s * A + a] * len(succ)
            cols += list(succ)
            vals += list(p)
    P = sp.csr_matrix((vals, (rows, cols)), shape=(S * A, S))
    init = np.zeros(S)
    init[0] = 1.0
    mdp = FiniteMDP("random", tuple(f"s{i}" for i in range(S)), tuple(f"a{i}" for i in range(A)),
                    P, init, np.arange(S), np.zeros(S, bool), sp.csr_matrix((S * A, S)))
    labels = {p: rng.random(S) < 0.35 for p in PROPS}
    return mdp, labels


def random_formulas(seed: int, count: int) -> list[str]:
    gen = spot.randltl(PROPS, seed=seed, tree_size=(3, 12), ltl_priorities="xor=0,M=0")
    out = []
    for _ in range(count):
        text = next(gen).to_str("spot", True)
        out.append(re.sub(r"\b1\b", "true", re.sub(r"\b0\b", "false", text)))
    # recurrence and persistence formulas, which need the parity acceptance
    out += ["G F a", "F G b", "G F a & G F b", "F G (a | c)", "G F a -> G F d",
            "(G F a) U b", "G (a -> F b)", "F G !c & G F d"]
    return out


FORMULAS = random_formulas(2024, 52)


@pytest.mark.parametrize("chunk", range(6))
def test_random_mdps_agree_with_storm(chunk):
    """300 (MDP, formula) pairs, Pmax and Pmin, in 6 chunks of 50."""
    rng = np.random.default_rng(100 + chunk)
    for i in range(50):
        formula = FORMULAS[(chunk * 50 + i) % len(FORMULAS)]
        mdp, labels = random_mdp(rng)
        spec = objlang.loads(HEAD + f"ltl f = {formula}\nobjective o {{ maximize P[f] }}")
        auto = automaton_of(spec, "f")
        letters = auto.letters({p: labels[p] for p in auto.props})
        prod = product(mdp, [auto], [letters], [None])
        pm = prod.mdp
        vmax, _ = reach_prob(pm, accepting_states(pm, prod.color[0], 0), True)
        vbad, _ = reach_prob(pm, accepting_states(pm, prod.color[0], 1), True)
        ours_max, ours_min = float(pm.init @ vmax), float(pm.init @ (1.0 - vbad))
        model = to_prism(mdp, labels)
        text = prism_ltl(spec.of_type(n.LtlDecl)[0].formula, spec)[0]
        theirs_max = solve_prism_with_storm(model, f"Pmax=? [ {text} ]")
        theirs_min = solve_prism_with_storm(model, f"Pmin=? [ {text} ]")
        assert ours_max == pytest.approx(theirs_max, abs=1e-6), (formula, i)
        assert ours_min == pytest.approx(theirs_min, abs=1e-6), (formula, i)
