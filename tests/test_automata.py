"""Automaton tables against Spot: languages agree on random formulas and words."""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import objlang
from objlang.automata import automaton_of
from objlang.automata.export import to_dot, to_hoa, to_svg
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


# -- Spot's time limit ---------------------------------------------------------------

#: 8 Streett pairs: Spot needs minutes for its deterministic parity automaton
STREETT = "".join(f"prop p{i} = obs == {i}\nprop q{i} = obs == {8 + i}\n" for i in range(8)) \
    + "ltl fair = " + " & ".join(f"(G F p{i} -> G F q{i})" for i in range(8)) \
    + "\nobjective o { maximize P[fair] }\n"


def test_a_translation_past_the_time_limit_is_an_error_naming_the_formula(monkeypatch):
    spec = objlang.loads(STREETT)
    with pytest.raises(objlang.ObjlangError) as e:
        automaton_of(spec, "fair", timeout=0.2)
    assert e.value.message == ("Spot did not finish translating formula 'fair' within the "
                               "time limit of 0.2 s")
    assert e.value.line == 17 and "--timeout" in e.value.hint
    monkeypatch.setenv("OBJLANG_SPOT_TIMEOUT", "0.1")
    with pytest.raises(objlang.ObjlangError, match="time limit of 0.1 s"):
        automaton_of(spec, "fair")
    # the killed worker is replaced; in-process translation (0) gives the same tables
    small = spec_with("G (a -> F b)")
    ours, inline = automaton_of(small, "f"), automaton_of(small, "f", timeout=0)
    assert np.array_equal(ours.delta, inline.delta) and np.array_equal(ours.color, inline.color)
    monkeypatch.setenv("OBJLANG_SPOT_TIMEOUT", "soon")
    with pytest.raises(objlang.ObjlangError, match="OBJLANG_SPOT_TIMEOUT must be a number"):
        automaton_of(small, "f")


def test_worker_failures_become_errors():
    from objlang.automata.ltl import _limited

    spec = spec_with("F a")
    with pytest.raises(objlang.ObjlangError, match=r"Spot failed on x: ValueError"):
        _limited(int, ("not a number",), 5, "x", None, spec)
    with pytest.raises(objlang.ObjlangError, match=r"translation of x crashed \(exit code 3\)"):
        _limited(os._exit, (3,), 5, "x", None, spec)
    assert _limited(len, ("abc",), 5, "x", None, spec) == 3


# -- SVG -----------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def holds(label: str, letter: int, props: tuple) -> bool:
    """A picture label's letters (a sum of products such as ``(a & !b) | c``)."""
    if label == "true":
        return True
    bit = {p: (letter >> i) & 1 == 1 for i, p in enumerate(props)}
    return any(all(not bit[lit[1:]] if lit.startswith("!") else bit[lit]
                   for lit in term.strip("()").split(" & "))
               for term in label.split(" | "))


def svg_edges(svg: str):
    """(source, target, label) of every edge of an SVG picture, from its titles."""
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(SVG + "g"):
        if g.get("class") == "edge":
            head, label = g.find(SVG + "title").text.split(": ", 1)
            src, dst = head.split(" -> ")
            assert g.find(SVG + "text").text == label
            out.append((int(src), int(dst), label))
    return root, out


@pytest.mark.parametrize("formula", ["!a U b", "G (a -> F b) & F G !c", "a U (b U X c)"])
def test_svg_pictures_the_parity_automaton(formula):
    auto = automaton_of(spec_with(formula), "f")
    root, edges = svg_edges(to_svg(auto))
    states = [g for g in root.iter(SVG + "g") if g.get("class") == "state"]
    assert sorted(g.get("id") for g in states) == sorted(f"q{q}" for q in range(auto.n_states))
    assert [g.find(SVG + "text").text for g in states] == [str(q) for q in range(auto.n_states)]
    dashed = [g.get("id") for g in states if g.find(SVG + "circle").get("stroke-dasharray")]
    assert dashed == [f"q{q}" for q in np.flatnonzero(auto.sink)]
    assert len([p for p in root.iter(SVG + "path") if p.get("class") == "init"]) == 1
    # every (state, letter) is on exactly one edge out of its state, to delta's target
    # with the edge's colour
    for q in range(auto.n_states):
        for x in range(auto.n_letters):
            taken = [(dst, label.rsplit(" {", 1)[1]) for src, dst, label in edges
                     if src == q and holds(label.rsplit(" {", 1)[0], x, auto.props)]
            assert taken == [(auto.delta[q, x], f"{auto.color[q, x]}}}")]


def test_svg_of_a_dfa_and_a_machine():
    dfa = automaton_of(spec_with("F (a & X b)", finite=True), "f")
    root, _ = svg_edges(to_svg(dfa))
    rings = [g for g in root.iter(SVG + "g")
             if g.get("class") == "state" and len(g.findall(SVG + "circle")) == 2]
    assert len(rings) == dfa.final.sum() == 1
    spec = objlang.loads('''prop at1 = obs == 1
reward r = 1 + [action == 1]
machine m {
    start u0
    u0 -> u1 when at1 reward r
    u1 -> u0 when !at1 & obs == 2 reward -2 * [action == 0]
}
objective o { maximize E[G(m, 0.9)] }''')
    _, edges = svg_edges(to_svg(automaton_of(spec, "m")))
    assert sorted(edges) == sorted([
        (0, 0, "!at1"), (0, 1, "at1 / r"), (1, 1, "at1 | !(obs == 2)"),
        (1, 0, "(obs == 2) & !at1 / -2 * [action == 0]")])


def test_cli_writes_svg_and_takes_a_time_limit(tmp_path, capsys):
    from objlang.cli import main

    src = tmp_path / "s.obj"
    src.write_text(STREETT)
    assert main(["automaton", str(src), "--formula", "fair", "--out",
                 str(tmp_path / "x.svg"), "--timeout", "0.1"]) == 2
    assert "within the time limit of 0.1 s" in capsys.readouterr().err
    src.write_text(HEAD + "ltl f = F (a & b)\nobjective o { maximize P[f] }\n")
    assert main(["automaton", str(src), "--formula", "f", "--out", str(tmp_path / "x.svg")]) == 0
    _, edges = svg_edges((tmp_path / "x.svg").read_text("utf-8"))
    assert len(edges) == 3


def test_compressed_automaton_reads_the_occurring_letters_as_the_full_one():
    """On FrozenLake a cell is never both a hole and the goal: 3 of the 4 valuations
    occur, and the compressed tables walk the same runs."""
    from _samples import ROOT
    from objlang.finite.extract import finite_env
    from objlang.finite.solve import state_letters

    spec = objlang.load(ROOT / "examples/frozenlake/safe_goal.obj")
    full = automaton_of(spec, "safe_goal")
    occurring = np.unique(state_letters(full, finite_env(spec), spec))
    small = full.compress(occurring)
    assert small.n_letters == len(occurring) == 3 < full.n_letters
    assert small.valuations.tolist() == occurring.tolist()
    rng = np.random.default_rng(0)
    for _ in range(50):
        word = rng.choice(occurring, size=12)
        labels = {p: (word >> i) & 1 == 1 for i, p in enumerate(full.props)}
        assert small.run(small.letters(labels)) == full.run(full.letters(labels))
        q_small, q_full = small.init, full.init
        for v in word:
            j = int(np.flatnonzero(small.valuations == v)[0])
            assert small.color[q_small, j] == full.color[q_full, v]
            q_small, q_full = small.delta[q_small, j], full.delta[q_full, v]
    with pytest.raises(ValueError, match="cannot occur"):
        small.letter({"hole": True, "goal": True})
