"""Every bundled example and stdlib module checks with no warning, and the
examples cover every formalism row of language.md §4."""
from __future__ import annotations

from pathlib import Path

import pytest

import objlang
from objlang.expressivity import written_in
from objlang.ir import nodes as n

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.obj"))
STDLIB = sorted((ROOT / "stdlib").glob("*.obj"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_checks_without_warnings(path):
    spec = objlang.load(path)
    assert spec.objectives, "an example states at least one objective"
    assert [w.render() for w in spec.warnings] == []
    assert spec.source.startswith("#"), "each example opens with a header comment"


@pytest.mark.parametrize("path", STDLIB, ids=lambda p: p.name)
def test_stdlib_module_checks(path):
    spec = objlang.load(path)
    defs = spec.of_type(n.DefDecl)
    assert defs and len(defs) == len(spec.decls) - len(spec.of_type(n.ImportDecl))


def test_at_least_18_examples_cover_every_formalism():
    assert len(EXAMPLES) >= 18
    keys = set()
    for path in EXAMPLES:
        spec = objlang.load(path)
        keys |= {written_in(o, spec)[0] for o in spec.objectives}
    rows = {"MR", "LAR", "LTL", "RM", "INMR", "ONMR", "IMORL", "OMORL", "FTR", "FOMR",
            "FTLR", "GOMORL", "OMO", "TLO", "RRL", "FPR", "PO", "pareto"}
    assert rows <= keys, f"missing: {sorted(rows - keys)}"


def test_patterns_module_has_every_pattern_of_the_language_reference():
    names = {d.name for d in objlang.load(ROOT / "stdlib" / "patterns.obj").of_type(n.DefDecl)}
    for family in ["absence", "universality", "existence", "bounded_existence", "response",
                   "precedence", "chain_response"]:
        assert {family, f"{family}_before", f"{family}_after", f"{family}_between"} <= names \
            or family in names and any(x.startswith(family + "_") for x in names), family
    for mission in ["visit", "sequenced_visit", "ordered_visit", "strict_ordered_visit",
                    "fair_visit", "patrolling", "sequenced_patrolling", "ordered_patrolling",
                    "strict_ordered_patrolling", "fair_patrolling", "avoidance", "reach_avoid",
                    "wait", "instantaneous_reaction", "delayed_reaction", "bound_reaction"]:
        assert any(x == mission or x.startswith(mission) for x in names), mission
