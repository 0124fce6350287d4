"""Automaton tables against Spot: languages agree on random formulas and words."""
from __future__ import annotations

import re

import numpy as np
import pytest

import objlang
from objlang.automata import automaton_of
from objlang.automata.export import to_dot, to_hoa
from objlang.automata.ltl import spot_text, translate
from objlang.ir import nodes as n

spot = pytest.importorskip("spot")

PROPS = ["a", "b", "c"]
HEAD = "".join(f"prop {p} = obs == {i}\n" for i, p in enumerate(PROPS))


def spec_with(formula: str, finite: bool = False):
    kw = "ltlf" if finite else "ltl"
    return objlang.loads(HEAD + f"{kw} f = {formula}\nobjective o {{ maximize P[f] }}")


def random_formulas(count: int, seed: int) -> list[str]:
    """Spot's randltl formulas over a, b, c, written in objlang syntax."""
    gen = spot.randltl(PROPS, seed=seed, tree_size=(5, 15))
    out = []
    for _ in range(count):
        f = next(gen)
        text = f.to_str("spot", True)  # fully parenthesised Spot syntax
        out.append(re.sub(r"\b1\b", "true", re.sub(r"\b0\b", "false", text)))
    return out


def accepts_lasso(auto, prefix: list[int], cycle: list[int]) -> bool:
    """Parity min even acceptance of the ultimately periodic word prefix.cycle^ω."""
    q = auto.init
    for x in prefix:
        q = int(auto.delta[q, x])
    seen = {}
    colors = []
    while (q, 0) not in seen:  # run the cycle until a state repeats at its start
        seen[(q, 0)] = len(colors)
        for x in cycle:
            colors.append(int(auto.color[q, x]))
            q = int(auto.delta[q, x])
    loop = colors[seen[(q, 0)]:]
    return min(loop) % 2 == 0


def spot_accepts(formula: str, prefix: list[int], cycle: list[int]) -> bool:
    def letter(x):
        lits = [p if (x >> i) & 1 else f"!{p}" for i, p in enumerate(PROPS)]
        return " & ".join(lits)
    word = "; ".join(letter(x) for x in prefix)
    word = (word + "; " if word else "") + "cycle{" + "; ".join(letter(x) for x in cycle) + "}"
    aut = spot.translate(formula)
    return aut.intersects(spot.parse_word(word, aut.get_dict()).as_automaton())


@pytest.mark.parametrize("formula", random_formulas(60, seed=7))
def test_parity_tables_accept_the_formulas_language(formula):
    spec = spec_with(formula)
    auto = automaton_of(spec, "f")
    # letters are over the props the formula uses: map them back to a, b, c bits
    rng = np.random.default_rng(abs(hash(formula)) % 2**32)
    index = [PROPS.index(p) for p in auto.props]
    spot_formula = spot_text(spec.of_type(n.LtlDecl)[0].formula, spec)[0]
    for _ in range(8):
        prefix = list(rng.integers(0, 8, rng.integers(0, 4)))
        cycle = list(rng.integers(0, 8, rng.integers(1, 4)))
        ours = [sum(((x >> j) & 1) << i for i, j in enumerate(index)) for x in prefix]
        ours_c = [sum(((x >> j) & 1) << i for i, j in enumerate(index)) for x in cycle]
        assert accepts_lasso(auto, ours, ours_c) == spot_accepts(spot_formula, prefix, cycle)


@pytest.mark.parametrize("formula", random_formulas(20, seed=11))
def test_hoa_output_is_equivalent_to_spots_automaton(formula):
    auto = automaton_of(spec_with(formula), "f")
    assert spot.are_equivalent(spot.automaton(to_hoa(auto)), spot.automaton(auto.hoa))


def test_rejecting_sinks_and_sizes():
    auto = automaton_of(spec_with("!a U b"), "f")
    assert auto.props == ("a", "b")
    assert auto.delta.shape == (3, 4)
    # reading a (without b) from the start leads to the state no word can leave
    trap = auto.delta[auto.init, 0b01]
    assert auto.sink[trap] and not auto.sink[auto.init]
    assert auto.delta[auto.init, 0b10] != trap and not auto.sink[auto.delta[auto.init, 0b10]]


def ltlf_holds(formula, word: list[int], i: int = 0) -> bool:
    """Finite-trace semantics of a small formula tree (a, b, c are bits 0, 1, 2)."""
    op = formula[0]
    if op in PROPS:
        return bool((word[i] >> PROPS.index(op)) & 1)
    if op == "!":
        return not ltlf_holds(formula[1], word, i)
    if op == "&":
        return ltlf_holds(formula[1], word, i) and ltlf_holds(formula[2], word, i)
    if op == "X":
        return i + 1 < len(word) and ltlf_holds(formula[1], word, i + 1)
    if op == "F":
        return any(ltlf_holds(formula[1], word, j) for j in range(i, len(word)))
    if op == "G":
        return all(ltlf_holds(formula[1], word, j) for j in range(i, len(word)))
    if op == "U":
        return any(ltlf_holds(formula[2], word, j)
                   and all(ltlf_holds(formula[1], word, k) for k in range(i, j))
                   for j in range(i, len(word)))
    raise AssertionError(op)


@pytest.mark.parametrize("text, tree", [
    ("F a", ("F", ("a",))),
    ("G a", ("G", ("a",))),
    ("a U b", ("U", ("a",), ("b",))),
    ("F (a & X b)", ("F", ("&", ("a",), ("X", ("b",))))),
    ("G (a -> F b)", ("G", ("!", ("&", ("a",), ("!", ("F", ("b",))))))),
    ("!c U (a & F b)", ("U", ("!", ("c",)), ("&", ("a",), ("F", ("b",))))),
])
def test_dfa_of_ltlf_agrees_with_finite_trace_semantics(text, tree):
    auto = automaton_of(spec_with(text, finite=True), "f")
    assert auto.acceptance == "finite"
    index = [PROPS.index(p) for p in auto.props]
    rng = np.random.default_rng(3)
    for _ in range(200):
        word = list(rng.integers(0, 8, rng.integers(1, 7)))
        letters = [sum(((x >> j) & 1) << i for i, j in enumerate(index)) for x in word]
        q = auto.run(letters)[-1]
        assert bool(auto.final[q]) == ltlf_holds(tree, word), (text, word)


def test_coffee_machine_tables():
    spec = objlang.loads('''
prop coffee = info.coffee
prop office = info.office
prop decor = info.decor
machine m {
    start u0
    u0 -> u1 when coffee & !decor
    u1 -> done when office & !decor  reward 1
    u0, u1 -> broken when decor
    final done, broken
}
objective o { maximize E[G(m, 0.9)] }
''')
    auto = automaton_of(spec, "m")
    assert auto.props == ("coffee", "decor", "office")
    coffee, decor, office = 1, 2, 4
    u0, u1, done, broken = range(4)
    assert auto.delta[u0, coffee] == u1 and auto.delta[u0, 0] == u0
    assert auto.delta[u1, office] == done and auto.reward[u1, office] == 1.0
    assert auto.delta[u1, office | decor] == broken and auto.reward[u1, office | decor] == 0
    assert auto.delta[u0, coffee | decor] == broken
    assert list(auto.final) == [False, False, True, True]
    assert to_dot(auto).count(" / 1") == 1  # the one rewarded edge


def test_buchi_kind_only_for_recurrence_properties():
    spec = spec_with("G F a")
    auto = translate(spec.of_type(n.LtlDecl)[0].formula, spec, kind="buchi")
    assert auto.acceptance == "buchi" and auto.accepting.any()
    spec = spec_with("F G a")
    with pytest.raises(objlang.ObjlangError, match="no deterministic Büchi automaton"):
        translate(spec.of_type(n.LtlDecl)[0].formula, spec, kind="buchi")
