"""`objlang solve` end to end on tiny hand-solved specs (the numbers are worked
out in the comments), and its command line."""
from __future__ import annotations

import json
import math

import pytest

import objlang
from objlang.cli import main
from objlang.finite.solve import solve

# one state, actions a and b, each looping back
LOOP = """
mdp m {
    start s
    s a -> s
    s b -> s
}
env m
"""


# s0 --safe--> s1 (absorbing, not goal); s0 --risky--> goal 0.9 | bad 0.1
RISKY = """
mdp m {
    start s0
    s0 safe -> s1
    s0 risky -> goal : 0.9, bad : 0.1
    s1 * -> s1
    goal * -> goal
    bad * -> bad
}
env m
prop g = obs == goal
prop b = obs == bad
ltl f = !b U g
"""


def value(text: str, objective=None):
    return solve(objlang.loads(text), objective)


def test_ltl_reach_avoid_by_hand():
    sol = value(RISKY + "objective hi { maximize P[f] }\n", "hi")
    assert sol.value == pytest.approx(0.9, abs=1e-12)
    first = next(k for k in sol.policy if k.startswith("s0|"))
    assert sol.policy[first] == "risky"


def test_ltl_min_and_recurrence_by_hand():
    text = RISKY + """
objective lo { minimize P[f] }
objective inf { maximize P[G F g] }
objective never { minimize P[G F g] }
"""
    assert value(text, "lo").value == pytest.approx(0.0, abs=1e-12)   # take `safe`
    assert value(text, "inf").value == pytest.approx(0.9, abs=1e-12)  # goal repeats forever
    assert value(text, "never").value == pytest.approx(0.0, abs=1e-12)


def test_discounted_return_by_hand():
    # a pays 1 per step, b pays 0: V = 1 / (1 - 0.5) = 2 with a, 0 with b
    text = LOOP + "reward r = [action == a]\nobjective o { maximize E[G(r, 0.5)] }\n" \
        "objective p { minimize E[G(r, 0.5)] }\n"
    assert value(text, "o").value == pytest.approx(2.0, abs=1e-12)
    assert value(text, "p").value == pytest.approx(0.0, abs=1e-12)
    assert value(text, "o").policy == {"s": "a"}


def test_limit_average_by_hand():
    # s0 chooses between two absorbing loops: `left` pays 1 on every other step
    # (gain 1/2), `right` pays 0.4 every step (gain 0.4)
    text = """
mdp m {
    start s0
    s0 left -> l1
    s0 right -> r1
    l1 * -> l2
    l2 * -> l1
    r1 * -> r1
}
env m
reward pay = 1 * [obs == l1 & next == l2] + 0.4 * [obs == r1]
objective hi { maximize E[avg(pay)] }
objective lo { minimize E[avg(pay)] }
"""
    assert value(text, "hi").value == pytest.approx(0.5, abs=1e-10)
    assert value(text, "lo").value == pytest.approx(0.4, abs=1e-10)


def test_linear_combination_reduces_to_one_reward():
    # 3 * E[G(r)] - E[G(c)] + 1 with r = c = [a]: per step a gives 2, b gives 0 -> 2 * 2 + 1
    text = LOOP + "reward r = [action == a]\nreward c = [action == a]\n" \
        "objective o { maximize 3 * E[G(r, 0.5)] - E[G(c, 0.5)] + 1 }\n"
    assert value(text).value == pytest.approx(5.0, abs=1e-12)


def test_constrained_mdp_needs_a_stochastic_policy():
    # reward 1 and cost 1 with a, 0 and 0 with b, γ = 0.5: a policy taking a with
    # probability p has V = 2p and C = 2p; C <= 1 gives p = 1/2, V = 1
    sol = value(LOOP + "reward r = [action == a]\ncost c = [action == a]\n"
                "objective o { maximize E[G(r, 0.5)] subject to E[G(c, 0.5)] <= 1 }\n")
    assert sol.value == pytest.approx(1.0, abs=1e-8)
    assert sol.policy["s"] == pytest.approx({"a": 0.5, "b": 0.5}, abs=1e-8)
    with pytest.raises(objlang.ObjlangError, match="the constraints cannot all hold"):
        value(LOOP + "reward r = [action == a]\ncost c = [action == a]\n"
              "objective o { maximize E[G(r, 0.5)] subject to E[G(c, 0.5)] >= 3 }\n")


def test_lex_min_and_pareto_by_hand():
    # x pays (1, 0) per step with a and (0, 1) with b; γ = 0.5 multiplies by 2
    head = LOOP + "reward x = [action == a]\nreward y = [action == b]\n"
    lex = value(head + "objective o { maximize lex(E[G(y, 0.5)], -E[G(x, 0.5)]) }\n")
    assert lex.components == pytest.approx([2.0, 0.0], abs=1e-8)
    mm = value(head + "objective o { maximize min(E[G(x, 0.5)], E[G(y, 0.5)]) }\n")
    assert mm.value == pytest.approx(1.0, abs=1e-8)  # mix a and b half-half
    par = value(head + "objective o { maximize pareto(E[G(x, 0.5)], E[G(y, 0.5)]) }\n")
    vertices = sorted(x for v in par.pareto for x in [tuple(round(c, 8) for c in v)])
    assert vertices == [(0.0, 2.0), (2.0, 0.0)]


def test_entropy_regularised_value_in_closed_form():
    # one state, rewards 1 (a) and 0 (b), entropy bonus α = 0.5, γ = 0.5:
    # V = α log(e^{1/α} + e^0) / (1 - γ)
    sol = value(LOOP + "reward r = [action == a]\n"
                "objective o { maximize E[G(r, 0.5)] regularize 0.5 * entropy(pi) }\n")
    assert sol.value == pytest.approx(0.5 * math.log(math.e ** 2 + 1) / 0.5, abs=1e-9)


def test_ltlf_equals_ltl_reachability_when_the_goal_terminates():
    text = ('env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }\n'
            "prop goal = obs == 15\nltl f = F goal\nltlf g = F goal\n"
            "objective a { maximize P[f] }\nobjective b { maximize P[g] }\n")
    a, b = value(text, "a"), value(text, "b")
    assert a.value == pytest.approx(b.value, abs=1e-9)
    assert 0.5 < a.value <= 1.0


def test_unsupported_forms_name_their_formalism():
    with pytest.raises(objlang.ObjlangError, match="written in INMR"):
        value(LOOP + "reward r = [action == a]\n"
              "objective o { maximize E[-exp(-G(r, 0.5))] }\n")
    with pytest.raises(objlang.ObjlangError, match="is not a finite environment"):
        value('env "CartPole-v1"\nreward r = 1\nobjective o { maximize E[G(r, 0.9)] }\n')


def test_cli_solve_json(tmp_path, capsys):
    spec = tmp_path / "loop.obj"
    spec.write_text(LOOP + "reward r = [action == a]\nobjective o { maximize E[G(r, 0.5)] }\n")
    assert main(["solve", str(spec), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"objective", "value", "env_states", "product_states", "policy",
                        "solver"}
    assert out["value"] == pytest.approx(2.0) and out["policy"] == {"s": "a"}
    assert main(["solve", str(tmp_path / "missing.obj")]) == 2
