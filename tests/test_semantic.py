"""Semantic expressivity checks (objlang/expressivity/semantic.py) on the headline
examples of examples/expressivity/.

Every `no` is re-proved here without the module's occupancy code: the task's
values (exact evaluator) confirm each preference and tie of the certificate, and
for random rewards of the formalism -- written as objlang text and appended to the
example, so values come from the evaluator of another spec -- the multipliers
times the value differences sum to 0 while the preference multipliers are
positive: no reward can hold them all. Every `yes` witness is parsed again and
must order fresh random policies (drawn here) as the task does.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import objlang
from objlang.expressivity.semantic import check
from objlang.finite.evaluate import evaluate
from objlang.finite.extract import finite_env

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "expressivity"
HEADLINE = {"RRL": "rrl_entropy", "ONMR": "onmr_quota", "RM": "rm_a_then_b",
            "LTL": "ltl_recurrence", "LAR": "lar_steady"}

# the LTL example with a two-state machine ("has the lamp been lit?") as RM structure
SEEN_LIT = """
machine seen_lit {
    start dark
    dark -> seen when lit
}
"""


def _source(name: str) -> str:
    return (EXAMPLES / f"{name}.obj").read_text()


def _table(mdp, rng) -> str:
    """A random Markov reward over every (obs, action, next), as objlang text."""
    return " + ".join(f"{rng.normal():.6f} * [obs == {o} & action == {a} & next == {o2}]"
                      for o in mdp.obs_names for a in mdp.action_names for o2 in mdp.obs_names)


def _probe(text: str, key: str, gamma, rng) -> str:
    """The spec plus an objective `probe`: a random reward of formalism `key`."""
    mdp = finite_env(objlang.loads(text))
    if key == "MR":
        return text + (f"\nreward probe_r = {_table(mdp, rng)}\n"
                       f"objective probe {{ maximize E[G(probe_r)]  discount {gamma} }}\n")
    if key == "LAR":
        return text + (f"\nreward probe_r = {_table(mdp, rng)}\n"
                       "objective probe { maximize E[avg(probe_r)] }\n")
    # RM with the structure of seen_lit: any Markov reward in each machine state
    return text + (f"\nreward probe_dark = {_table(mdp, rng)}\n"
                   f"reward probe_seen = {_table(mdp, rng)}\n"
                   "machine probe_m {\n    start dark\n"
                   "    dark -> seen when lit reward probe_dark\n"
                   "    dark -> dark when !lit reward probe_dark\n"
                   "    seen -> seen when true reward probe_seen\n}\n"
                   f"objective probe {{ maximize E[G(probe_m)]  discount {gamma} }}\n")


def _verify_refutation(text: str, result: dict, key: str) -> None:
    """Re-prove every case of a `no` certificate (see the module docstring)."""
    assert result["verdict"] == "no" and result["witness"] is None
    json.dumps(result)  # the report prints it as JSON
    cert = result["certificate"]
    assert cert["explanation"].startswith(("Policies:", "The same policies"))
    task = objlang.loads(text)
    task_obj = task.objectives[0].name
    rng = np.random.default_rng(7)
    for case in cert["cases"]:
        pis = {p["name"]: np.array(p["matrix"]) for p in case["policies"]}
        value = {k: evaluate(task, pi, task_obj) for k, pi in pis.items()}
        rows = case["rows"]
        assert any(r["relation"] == "prefers" for r in rows)
        for r in rows:
            gap = value[r["left"]] - value[r["right"]]
            if r["relation"] == "prefers":
                assert r["multiplier"] > 0 and gap > 1e-9
            else:
                assert abs(gap) <= 1e-9
        for _ in range(3):
            probe = objlang.loads(_probe(text, key, case["discount"], rng))
            v = {k: evaluate(probe, pi, "probe") for k, pi in pis.items()}
            scale = max(1.0, max(abs(x) for x in v.values()))
            combo = sum(r["multiplier"] * (v[r["left"]] - v[r["right"]]) for r in rows)
            assert abs(combo) <= 1e-8 * scale, (case["discount"], combo)


def _same_order(task, task_obj: str, witness, n: int = 12, seed: int = 3) -> None:
    """The witness orders fresh random policies as the task does: n stochastic ones
    and n deterministic ones (random choices at every state)."""
    mdp = finite_env(task)
    rng = np.random.default_rng(seed)
    pis = np.concatenate([rng.dirichlet(np.ones(mdp.n_actions), size=(n, mdp.n_states)),
                          np.eye(mdp.n_actions)[rng.integers(mdp.n_actions,
                                                             size=(n, mdp.n_states))]])
    t = np.array([evaluate(task, pi, task_obj) for pi in pis])
    w = np.array([evaluate(witness, pi) for pi in pis])
    st = np.sign(np.where(np.abs(t[:, None] - t[None]) <= 1e-9, 0, t[:, None] - t[None]))
    sw = np.sign(np.where(np.abs(w[:, None] - w[None]) <= 1e-7 * max(1, np.abs(w).max()),
                          0, w[:, None] - w[None]))
    assert (st == sw).all()
    assert np.abs(st).sum() > 0  # the policies are not all tied


# ---- the paper's headline: Markov rewards cannot express these tasks ---------------------

@pytest.mark.parametrize("formalism", sorted(HEADLINE))
def test_headline_example_is_not_a_markov_reward(formalism):
    from objlang.expressivity import written_in

    text = _source(HEADLINE[formalism])
    spec = objlang.loads(text)
    assert written_in(spec.objectives[0], spec)[0] == formalism
    result = check(spec, None, "MR")
    assert result["as"] == "MR" and result["policies_checked"] >= 3
    _verify_refutation(text, result, "MR")


def test_undiscounted_examples_are_refuted_at_every_default_discount():
    result = check(objlang.loads(_source("ltl_recurrence")), None, "MR")
    assert result["discounts"] == [0.5, 0.9, 0.99]
    assert [c["discount"] for c in result["certificate"]["cases"]] == [0.5, 0.9, 0.99]
    # off -> flip (value 1) beats waiting (0), and the coin flip at off ties flipping
    case = result["certificate"]["cases"][1]
    shown = {p["name"]: p["policy"]["off"] for p in case["policies"]}
    assert sorted(map(str, shown.values())) == ["flip", "wait", "{'flip': 0.5, 'wait': 0.5}"]


@pytest.mark.parametrize("formalism", ["LTL", "RRL", "ONMR", "RM"])
def test_headline_example_is_not_a_limit_average_reward(formalism):
    text = _source(HEADLINE[formalism])
    result = check(objlang.loads(text), None, "LAR")
    assert result["discounts"] == []
    _verify_refutation(text, result, "LAR")


def test_recurrence_is_not_a_reward_machine_of_a_seen_it_structure():
    text = _source("ltl_recurrence") + SEEN_LIT
    result = check(objlang.loads(text), "keep_coming_back", "RM")
    assert "seen_lit" in result["certificate"]["explanation"]
    _verify_refutation(text, result, "RM")


def test_a_sample_of_policies_still_proves_no():
    # 2 sampled deterministic policies that both flip: all sampled policies tie, so a
    # zero reward fits them; probe policies that wait refute it and join the set,
    # which then has no fitting reward
    text = _source("ltl_recurrence")
    result = check(objlang.loads(text), None, "LAR", max_policies=3, seed=1)
    assert "a sample" in result["notes"][0] and "probe policies" in result["notes"][2]
    assert result["policies_checked"] > 19
    _verify_refutation(text, result, "LAR")


# ---- witnesses -------------------------------------------------------------------------

SMALL = """mdp m {
    start s0
    s0 a -> s1
    s0 b -> s0 : 0.5, s2 : 0.5
    s1 a -> s0
    s1 b -> s2
    s2 * -> s2
}
env m
discount 0.9
reward r = [next == s1] - 0.5 * [obs == s2 & action == a]
objective o { maximize exp(E[G(r)]) }
"""


def test_increasing_outer_function_has_a_markov_witness():
    spec = objlang.loads(SMALL)
    result = check(spec, "o", "MR")
    assert result["verdict"] == "yes" and result["certificate"] is None
    assert result["held_out"]["pairs_disagree"] == 0 and result["held_out"]["pairs_agree"] > 0
    text = result["witness"]["spec"]
    witness = objlang.loads(text)
    assert witness.warnings == () and "maximize E[G(fitted)]" in text
    assert "discount 0.9" in text
    _same_order(spec, "o", witness)
    json.dumps(result)


def test_long_run_average_example_has_a_limit_average_witness():
    spec = objlang.loads(_source("lar_steady"))
    result = check(spec, None, "LAR")
    assert result["verdict"] == "yes"
    witness = objlang.loads(result["witness"]["spec"])
    assert "E[avg(fitted)]" in result["witness"]["spec"]
    _same_order(spec, "steady_income", witness)


def test_a_then_b_has_a_reward_machine_witness_with_its_structure():
    spec = objlang.loads(_source("rm_a_then_b"))
    result = check(spec, None, "RM")
    assert result["verdict"] == "yes"
    witness = objlang.loads(result["witness"]["spec"])
    machine = witness.named()["fitted"]
    assert machine.start == "u0" and machine.finals == ("done",)
    assert {(e.sources, e.target) for e in machine.edges} >= {(("u0",), "u1"),
                                                              (("u1",), "done")}
    _same_order(spec, "fetch_then_deliver", witness)


# ---- inputs it refuses ---------------------------------------------------------------

def test_refusals():
    spec = objlang.loads(_source("ltl_recurrence"))
    with pytest.raises(objlang.ObjlangError, match="supports MR, LAR, RM"):
        check(spec, None, "FOMR")
    with pytest.raises(objlang.ObjlangError, match="declares no machine") as e:
        check(spec, None, "RM")
    assert "declare a `machine`" in e.value.hint
    pareto = objlang.loads(SMALL.replace("exp(E[G(r)])", "pareto(E[G(r)], E[G(r, 0.5)])"))
    with pytest.raises(objlang.ObjlangError, match="Pareto"):
        check(pareto, "o", "MR")


def test_limit_distribution_by_hand():
    import scipy.sparse as sp

    from objlang.finite.average import chain_gains, limit_distribution

    # 0 is transient: to the absorbing 1 (1/4) or the cycle 2 <-> 3 (3/4)
    P = sp.csr_matrix(np.array([[0, 0.25, 0.75, 0], [0, 1, 0, 0], [0, 0, 0, 1],
                                [0, 0, 1, 0]]))
    mu = limit_distribution(P, np.array([1.0, 0, 0, 0]))
    assert np.allclose(mu, [0, 0.25, 0.375, 0.375], atol=1e-12)
    r = np.array([5.0, 1.0, 2.0, -4.0])
    assert mu @ r == pytest.approx(chain_gains(P, r)[0][0], abs=1e-12)
