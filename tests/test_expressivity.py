"""The expressivity preorder, the classification pass, `objlang express` and
`objlang hasse`.

References: the closure and the ≱ propagation are recomputed here by brute force
(Warshall on a boolean matrix read straight from the data file); the formalism of
every example objective is written down by hand; SVG output is parsed and its
geometry checked."""
from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import objlang
from objlang.cli import main
from objlang.expressivity import hasse
from objlang.expressivity.classify import classify
from objlang.expressivity.preorder import DATA, load

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
FIVE = ["RRL", "ONMR", "RM", "LTL", "LAR"]


# ---- the preorder as data ---------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    return json.loads(DATA.read_text("utf-8"))


@pytest.fixture(scope="module")
def brute(data):
    """(keys, ge) with ge[i, j] iff keys[i] ≥ keys[j], by Warshall's algorithm."""
    keys = [f["key"] for f in data["formalisms"]]
    ix = {k: i for i, k in enumerate(keys)}
    ge = np.eye(len(keys), dtype=bool)
    for e in data["edges"]:
        ge[ix[e["stronger"]], ix[e["weaker"]]] = True
    for c in data["classes"]:
        for a, b in itertools.permutations(c["members"], 2):
            ge[ix[a], ix[b]] = True
    for k in range(len(keys)):
        ge |= ge[:, [k]] & ge[[k], :]
    return keys, ge


def test_data_has_17_formalisms_and_three_classes_of_three(data):
    p = load()
    assert len(p.keys) == 17 and len(set(p.keys)) == 17
    assert {"MR", "LAR", "LTL", "RM", "INMR", "ONMR", "IMORL", "OMORL", "GOMORL", "FTR",
            "FOMR", "FTLR", "OMO", "TLO", "RRL", "FPR", "PO"} == set(p.keys)
    big = [c for c in p.classes if len(c) > 1]
    assert sorted(big) == [("GOMORL", "OMO", "TLO"), ("INMR", "IMORL", "FTR"),
                           ("OMORL", "FOMR", "FTLR")]
    assert len(p.classes) == 11
    # every fact says where it comes from, how sure it is, and whether the paper says it
    for group in ("formalisms", "classes", "edges", "not_geq", "incomparable"):
        for fact in data[group]:
            assert fact["confidence"] in ("high", "medium", "low") and fact["source"]
            assert isinstance(fact["cited"], bool)


def test_closure_matches_warshall(brute):
    keys, ge = brute
    p = load()
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            proof = p.geq(a, b)
            assert (proof is not None) == ge[i, j], (a, b)
            if proof is not None and a != b:  # the chain of facts links a to b
                assert proof.steps[0].split(" ")[0] == a
                assert proof.steps[-1].split(" ")[-1] == b
                assert all(s.split(" ")[-1] == t.split(" ")[0]
                           for s, t in zip(proof.steps, proof.steps[1:]))


def test_every_pair_is_settled_and_the_stated_incomparabilities_follow(data):
    p = load()
    assert all(p.compare(a, b) != "open" for a in p.keys for b in p.keys)
    for f in data["incomparable"]:
        assert p.compare(*f["pair"]) == "incomparable"


def test_not_geq_is_the_propagation_of_the_base_facts(data, brute):
    keys, ge = brute
    ix = {k: i for i, k in enumerate(keys)}
    p = load()
    for a, b in itertools.product(keys, keys):
        # a ≱ b iff some base x ≱ y has a ≤ x and y ≤ b
        expected = any(ge[ix[f["x"]], ix[a]] and ge[ix[b], ix[f["y"]]] for f in data["not_geq"])
        assert (p.not_geq(a, b) is not None) == expected, (a, b)
        assert not (expected and ge[ix[a], ix[b]]), f"the data contradicts itself on {a}, {b}"


def test_covers_are_the_data_edges_and_heights(data):
    p = load()
    covers = {(u[0], w[0]) for u, w in p.covers()}
    assert covers == {(e["stronger"], e["weaker"]) for e in data["edges"]}
    assert sorted(p.minimal()) == ["LAR", "LTL", "MR"]
    assert [k for k in p.keys if all(p.geq(k, x) for x in p.keys)] == ["PO"]
    assert {k: p.height(k) for k in ("MR", "RM", "ONMR", "INMR", "FTR", "OMORL", "GOMORL",
                                     "FPR", "PO")} == \
        {"MR": 0, "RM": 1, "ONMR": 1, "INMR": 2, "FTR": 2, "OMORL": 3, "GOMORL": 4, "FPR": 4,
         "PO": 5}


def test_joins():
    p = load()
    assert p.join(["MR", "LTL"]) == [("INMR", "IMORL", "FTR")]
    assert p.join(["RM", "LAR"]) == [("INMR", "IMORL", "FTR")]
    assert p.join(["RRL", "LTL"]) == [("OMORL", "FOMR", "FTLR")]
    assert p.join(["ONMR", "RM"]) == [("OMORL", "FOMR", "FTLR")]
    assert p.join(["MR", "RRL"]) == [("RRL",)]
    assert p.join(["FPR", "OMO"]) == [("PO",)]
    assert p.join(["FTR", "IMORL"]) == [("INMR", "IMORL", "FTR")]
    assert p.join([]) == [("MR",), ("LAR",), ("LTL",)]  # no least element: all minimal ones


def test_join_lists_every_minimal_upper_bound_when_not_unique():
    from objlang.expressivity.preorder import Preorder

    f = {"source": "test", "confidence": "high", "cited": False}
    toy = {"formalisms": [dict(f, key=k, name=k, definition="") for k in "abcd"],
           "classes": [], "not_geq": [], "incomparable": [],
           "edges": [dict(f, stronger=u, weaker=w) for u, w in
                     [("c", "a"), ("c", "b"), ("d", "a"), ("d", "b")]]}
    assert Preorder(toy).join(["a", "b"]) == [("c",), ("d",)]


def test_contradictory_data_is_refused():
    from objlang.expressivity.preorder import Preorder

    f = {"source": "test", "confidence": "high", "cited": False}
    bad = {"formalisms": [dict(f, key=k, name=k, definition="") for k in "ab"],
           "classes": [], "incomparable": [], "edges": [dict(f, stronger="a", weaker="b")],
           "not_geq": [dict(f, x="a", y="b")]}
    with pytest.raises(ValueError, match="both follow"):
        Preorder(bad)


def test_the_five_way_incomparability_is_cited():
    p = load()
    for a, b in itertools.permutations(FIVE, 2):
        assert p.compare(a, b) == "incomparable"
        proof = p.not_geq(a, b)
        assert proof.basis == "cited" and "abstract" in proof.facts[0].source
    # their least common upper bound is the OMORL class
    assert p.join(FIVE) == [("OMORL", "FOMR", "FTLR")]


def test_cited_and_derived_are_told_apart():
    p = load()
    assert p.geq("RM", "MR").basis == "derived"
    assert p.geq("GOMORL", "OMORL").basis == "cited"
    assert p.geq("FOMR", "FTR").basis == "derived from cited facts"  # classes + a cited edge
    assert p.not_geq("LTL", "RM").basis == "cited"
    assert p.not_geq("MR", "LTL").basis == "derived"
    assert p.geq("FTR", "MR").explain() == \
        "FTR ≥ MR: FTR ≡ INMR (cited), INMR ≥ RM (derived), RM ≥ MR (derived)"
    assert p.geq("LTL", "MR") is None and p.compare("LTL", "MR") == "incomparable"
    assert p.compare("PO", "MR") == "above" and p.compare("FTR", "INMR") == "equivalent"


# ---- classification ---------------------------------------------------------------------
#: the formalism of every example objective, by hand from language.md §4
HAND = {
    ("cartpole/balance_average", "steady_centre"): "LAR",       # E[avg(r)]
    ("cartpole/chance_constrained", "centred_safely"): "OMORL",  # MR goal + P[...] >= p
    ("cartpole/keep_swinging", "patrol_track"): "LTL",
    ("cartpole/target_return", "half_skilled"): "ONMR",         # -(E[G] - 50)^2
    ("cartpole/two_returns", "both_every_run"): "IMORL",        # E[min(G(a), G(b))]
    ("cliffwalking/careful_return", "careful_speed"): "FTR",    # E[[φ] * G(r)]
    ("cliffwalking/lexicographic", "safety_first"): "GOMORL",   # lex of two returns
    ("cliffwalking/mean_variance", "mean_var"): "FTLR",         # E[G] - 0.5 Var[G]
    ("cliffwalking/safe_path", "fast_and_safe"): "OMORL",       # CMDP
    ("expressivity/lar_steady", "steady_income"): "LAR",
    ("expressivity/ltl_recurrence", "keep_coming_back"): "LTL",
    ("expressivity/onmr_quota", "hit_quota"): "ONMR",
    ("expressivity/rm_a_then_b", "fetch_then_deliver"): "RM",
    ("expressivity/rrl_entropy", "busy_but_random"): "RRL",     # MR + entropy regulariser
    ("frozenlake/explore", "explore"): "FOMR",                  # entropy(occ(obs))
    ("frozenlake/fetch_ltlf", "fetch_then_goal"): "LTL",
    ("frozenlake/reach_avoid_8x8", "reach"): "LTL",
    ("frozenlake/risk_averse", "cautious"): "INMR",             # E[-exp(-0.5 G)]
    ("frozenlake/safe_goal", "reach"): "LTL",
    ("frozenlake/safe_goal", "fast"): "OMORL",                  # MR goal + chance constraint
    ("frozenlake/start_split", "hedged_start"): "FPR",          # pi(...) + E[G]
    ("mountaincar/fair_tradeoff", "max_min"): "OMORL",          # min of two expected returns
    ("mountaincar/reliable", "predictable"): "TLO",             # lex(P, -Var)
    ("mountaincar/shaped", "climb"): "MR",
    ("officeworld/coffee_and_mail", "coffee_and_mail"): "LTL",
    ("officeworld/coffee_or_a", "coffee_vs_a"): "pareto",
    ("officeworld/deliver_coffee", "deliver_coffee"): "RM",
    ("officeworld/get_coffee", "coffee_please"): "LTL",
    ("officeworld/patrol", "rounds"): "RM",
    ("officeworld/patrol", "forever"): "LTL",
    ("taxi/deliver", "deliver"): "MR",
    ("taxi/entropy_regularized", "soft_taxi"): "RRL",
    ("taxi/legal_moves", "deliver_legally"): "OMORL",           # CMDP
    ("taxi/pareto", "deliver_vs_fuel"): "pareto",
    ("toy/diverse_optimal", "diverse_optimal"): "OMO",          # lex(E[G], entropy(occ))
    ("toy/gamble", "bold_but_solvent"): "OMORL",                # sum + chance constraint
    ("toy/kl_prior", "close_to_demo"): "RRL",
    ("toy/policy_order", "ab_test"): "PO",                      # lex(f(pi), E[G])
    ("toy/risk_budget", "within_budget"): "OMORL",              # CMDP
    ("toy/two_paths", "near_coin_flip"): "FPR",
    ("zonenav/reach_avoid", "reach"): "LTL",
}


def test_every_example_objective_has_its_hand_classification():
    found = {}
    for path in sorted((ROOT / "examples").glob("*/*.obj")):
        spec = objlang.load(path)
        for o in spec.objectives:
            found[f"{path.parent.name}/{path.stem}", o.name] = classify(o, spec).key
    assert found == HAND


def spec_of(body: str):
    return objlang.loads("mdp m { start s\n s a -> t\n s b -> s\n t * -> t }\nenv m\n"
                         "discount 0.9\nprop at_t = obs == t\nltl reach = F at_t\n"
                         "reward r = [action == a]\nreward c = [action == b]\n"
                         "machine mm { start u0\n u0 -> u1 when at_t reward 1 }\n"
                         "policy prior = uniform\n" + body)


@pytest.mark.parametrize("body, key, parts", [
    # a sum of expectations of different kinds: the join of MR and LTL
    ("maximize E[G(r)] + P[reach]", "FTR", ["MR", "LTL", "FTR"]),
    ("maximize E[avg(r)] + E[G(r)]", "FTR", ["LAR", "MR", "FTR"]),
    ("maximize P[reach] + P[G !at_t]", "FTR", ["LTL", "LTL", "FTR"]),  # not closed under +
    ("maximize 2 * P[reach] + 1", "LTL", []),                    # an affine map keeps it
    ("maximize E[G(r)] - 0.1 * entropy(pi)", "RRL", ["MR", "RRL"]),
    ("maximize E[G(r)] - 0.5 * Var[G(r)]", "FTLR", ["MR", "FTLR"]),
    ("maximize min(E[G(r)], P[reach])", "FTLR", ["MR", "LTL", "FTLR"]),
    ("maximize E[G(r)] + entropy(occ(obs))", "FOMR", ["MR", "FOMR"]),
    # an outer function of a machine's return: RM ⊔ ONMR is the OMORL class
    ("maximize -(E[G(mm)] - 1)^2", "OMORL", ["RM", "ONMR"]),
    ("maximize E[-exp(-G(mm))]", "INMR", ["RM", "INMR"]),
    ("maximize E[G(r)] + E[G(c)]", "OMORL", ["MR", "MR", "OMORL"]),
    ("maximize lex(pi(s, a), E[G(r)])", "PO", ["FPR", "MR", "TLO"]),
    ("maximize lex(E[G(r)])", "MR", []),
    # constraints and regularisers join the goal
    ("maximize P[reach]\n regularize 0.1 * entropy(pi)", "OMORL", ["LTL", "RRL"]),
    ("maximize E[G(mm)]\n regularize 0.1 * kl(pi, prior)", "OMORL", ["RM", "RRL"]),
    ("maximize E[G(r)]\n subject to E[G(c)] <= 1", "OMORL", ["MR", "MR", "OMORL"]),
    ("maximize entropy(occ(obs))\n subject to P[reach] >= 0.5", "FOMR",
     ["FOMR", "LTL", "OMORL"]),
    ("maximize pareto(E[G(r)], P[reach])\n subject to E[G(c)] <= 1", "pareto", None),
])
def test_composites_get_the_join_of_their_parts(body, key, parts):
    spec = spec_of("objective o {\n " + body + "\n}\n")
    c = classify(spec.objectives[0], spec)
    assert c.key == key
    d = c.derivation
    if parts:  # the combination, if any, comes last
        assert sorted(p.key for p in d.parts[:-1]) == sorted(parts[:-1])
        assert d.parts[-1].key == parts[-1]
        assert list(d.join) == load().join(parts) and key in d.join[0]
        assert "join of" in c.reason
    elif parts == []:
        assert not d.join


def test_a_constant_goal_is_trivial():
    spec = spec_of("objective o { maximize E[G(0)] }\n")
    c = classify(spec.objectives[0], spec)
    assert c.trivial and c.key == "MR"
    assert not classify(*(lambda s: (s.objectives[0], s))(
        spec_of("objective o { maximize E[sum(1)] }\n"))).trivial  # episode length counts


def test_written_in_is_the_classification(capsys):
    from objlang.expressivity import written_in

    spec = spec_of("objective o { maximize E[G(r)]\n subject to P[reach] >= 0.5 }\n")
    assert written_in(spec.objectives[0], spec) == (
        "OMORL", classify(spec.objectives[0], spec).reason)


# ---- objlang express ----------------------------------------------------------------------
def express_json(capsys, *args) -> dict:
    assert main(["express", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_express_json_fields_on_a_composite(capsys):
    r = express_json(capsys, ROOT / "examples/frozenlake/safe_goal.obj", "--objective", "fast")
    assert r["written_in"] == "OMORL" and r["equivalence_class"] == ["OMORL", "FOMR", "FTLR"]
    assert r["reductions"] == [] and r["lowest"] == ["OMORL"]
    yes = {v["key"] for v in r["expressible_by"]}
    assert yes == {k for k in load().keys if load().geq(k, "OMORL")}
    assert yes == {"OMORL", "FOMR", "FTLR", "GOMORL", "OMO", "TLO", "FPR", "PO"}
    assert all(v["by"] == "preorder" for v in r["expressible_by"])
    no = {v["key"]: v for v in r["not_expressible_by"]}
    assert set(no) == set(load().keys) - yes and r["open"] == []
    assert no["INMR"]["by"] == "cited" and no["MR"]["by"] == "derived"
    assert no["INMR"]["proof"]["steps"][0]["fact"] == "INMR ≱ OMORL"
    assert [v["key"] for v in r["formalisms"]] == list(load().keys)
    assert [p["key"] for p in r["derivation"]["parts"]] == ["MR", "LTL", "OMORL"]
    assert "semantic" not in r


def test_express_after_a_reduction(capsys, tmp_path):
    f = tmp_path / "affine.obj"
    f.write_text("mdp m { start s\n s a -> t\n s b -> s\n t * -> t }\nenv m\ndiscount 0.9\n"
                 "reward r = [action == a]\nobjective o { maximize 2 * E[G(r)] + 1 }\n")
    r = express_json(capsys, f)
    assert r["written_in"] == "ONMR" and r["lowest"] == ["MR"]
    assert [(s["before"], s["after"]) for s in r["reductions"]][-1][1] == "MR"
    assert all(s["reason"] for s in r["reductions"])
    by = {v["key"]: (v["verdict"], v["by"]) for v in r["formalisms"]}
    assert by["ONMR"] == ("yes", "preorder") and by["MR"] == ("yes", "reduction")
    assert by["RM"] == ("yes", "reduction") and by["RRL"] == ("yes", "reduction")
    assert by["LTL"] == ("no", "derived") and by["LAR"] == ("no", "derived")


def test_express_pareto_is_outside_the_17(capsys):
    r = express_json(capsys, ROOT / "examples/taxi/pareto.obj")
    assert r["written_in"] == "pareto" and r["equivalence_class"] == []
    assert r["expressible_by"] == [] and len(r["not_expressible_by"]) == 17


def test_express_text_and_errors(capsys, tmp_path):
    path = ROOT / "examples/cliffwalking/careful_return.obj"
    assert main(["express", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "careful_speed: written in FTR (Functions from Trajectories to Reals)"
    assert "  equivalence class: INMR = IMORL = FTR" in out
    assert any(line.strip().startswith("join of LTL, MR, FTR: INMR = IMORL = FTR")
               for line in out)
    assert sum(line.startswith("    ") and line.split()[0] in load().keys and
               line.split()[1] in ("yes", "no", "open") for line in out) == 17
    assert main(["express", str(ROOT / "examples/frozenlake/safe_goal.obj")]) == 2
    assert "2 objectives; choose one with --objective" in capsys.readouterr().err


def test_express_as_mr_runs_the_semantic_check(capsys, tmp_path):
    f = tmp_path / "entropy.obj"
    f.write_text("mdp m { start s\n s a -> s\n s b -> s }\nenv m\ndiscount 0.9\n"
                 "reward r = [action == a]\n"
                 "objective o { maximize E[G(r)]\n regularize 1.0 * entropy(pi) }\n")
    r = express_json(capsys, f, "--as", "MR")
    assert r["written_in"] == "RRL" and r["semantic"]["as"] == "MR"
    assert r["semantic"]["verdict"] == "no" and r["semantic"]["policies_checked"] > 0


def test_python_api_gives_the_json(tmp_path):
    r = objlang.express(ROOT / "examples/officeworld/deliver_coffee.obj")
    assert r["written_in"] == "RM" and r["objective"] == "deliver_coffee"


# ---- objlang hasse ------------------------------------------------------------------------
def parse_svg(path) -> tuple[list, list]:
    root = ET.parse(path).getroot()
    groups = list(root.iter(f"{SVG}g"))
    nodes = [g for g in groups if g.get("class", "").split()[0] == "node"]
    edges = [g for g in groups if g.get("class", "").split()[0] == "edge"]
    return nodes, edges


def test_hasse_svg_has_17_formalisms_in_11_nodes(tmp_path, capsys):
    out = tmp_path / "h.svg"
    assert main(["hasse", "--out", str(out)]) == 0
    nodes, edges = parse_svg(out)
    members = [g.get("data-members").split() for g in nodes]
    assert len(nodes) == 11 and sorted(k for m in members for k in m) == sorted(load().keys)
    assert sorted(len(m) for m in members) == [1] * 8 + [3] * 3
    assert len(edges) == 13
    cited = {g.find(f"{SVG}title").text for g in edges if "cited" in g.get("class")}
    assert cited == {"PO ≥ GOMORL (cited)", "GOMORL ≥ OMORL (cited)", "OMORL ≥ INMR (cited)"}
    assert not any(len(g.get("class").split()) > 1 for g in nodes)  # nothing highlighted


def test_hasse_lines_pass_no_box():
    nodes, lines = hasse.layout()
    w, h = hasse._W / 2, hasse._H / 2
    for ln in lines:
        for (x0, y0), (x1, y1) in zip(ln.points, ln.points[1:]):
            for t in np.linspace(0, 1, 50)[1:-1]:
                x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                inside = [nd.members for nd in nodes
                          if abs(x - nd.x) < w - 1 and abs(y - nd.y) < h - 1]
                assert not inside, (ln.upper, ln.lower, inside)
    for a, b in itertools.combinations(nodes, 2):  # boxes do not overlap
        assert abs(a.x - b.x) >= 2 * w or abs(a.y - b.y) >= 2 * h


def test_hasse_highlight(tmp_path, capsys):
    out = tmp_path / "h.svg"
    spec = ROOT / "examples/expressivity/onmr_quota.obj"
    assert main(["hasse", "--highlight", str(spec), "--out", str(out)]) == 0
    nodes, _ = parse_svg(out)
    assert capsys.readouterr().out.startswith("Hasse diagram of the 17 formalisms (ONMR "
                                              "written, lowest ")
    lowest = objlang.express(spec)["lowest"]
    marks = {}
    for g in nodes:
        for k in g.get("data-members").split():
            marks[k] = g.get("class").split()[1:]
    for k in load().keys:
        expected = ["both"] if k == "ONMR" and k in lowest else ["written"] if k == "ONMR" \
            else ["lowest"] if any(load().equivalent(k, x) for x in lowest) else []
        assert marks[k] == expected, k


def test_hasse_png_or_a_clear_error(tmp_path, capsys):
    out = tmp_path / "h.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert main(["hasse", "--out", str(out)]) == 2
        assert "needs matplotlib" in capsys.readouterr().err
    else:
        assert main(["hasse", "--out", str(out)]) == 0
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["hasse", "--out", str(tmp_path / "h.pdf")]) == 2
    assert "use a .svg or .png file" in capsys.readouterr().err


def test_docs_diagram_is_current():
    assert (ROOT / "docs/hasse.svg").read_text("utf-8") == hasse.to_svg()
