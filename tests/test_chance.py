"""Chance constraints, undiscounted totals and machine returns inside orders and
constraints (objlang/finite/occupancy.py): tiny MDPs solved by hand (the numbers are
worked out in the comments), and Storm's multi-objective engine on the exported
gamble and on random MDPs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import objlang
from objlang.cli import main
from objlang.finite.export import export_prism
from objlang.finite.solve import solve

ROOT = Path(__file__).resolve().parent.parent
GAMBLE = ROOT / "examples" / "toy" / "gamble.obj"

# s0 --safe--> small (pays 1); s0 --risky--> big 0.7 (pays 3) | ruin 0.3. Taking risky
# with probability q: P[ruin] = 0.3 q, E[payoff] = 1 + (2.1 - 1) q, P[F big] = 0.7 q.
GAMBLE_MDP = """
mdp gamble {
    start s0
    s0 safe -> small
    s0 risky -> big : 0.7, ruin : 0.3
    small * -> small
    big * -> big
    ruin * -> ruin
}
env gamble
prop ruined = obs == ruin
prop rich = obs == big
reward payoff = [obs == s0 & next == small] + 3 * [obs == s0 & next == big]
"""

# the hub: from s0 go west or east, then back to s0. The machine pays 1 for east after
# west, so it needs memory: the optimum alternates west, east, west, ...
HUB = """
mdp hub {
    start s0
    s0 left -> west
    s0 right -> east
    west * -> s0
    east * -> s0
}
env hub
discount 0.5
prop at_west = obs == west
prop at_east = obs == east
reward lefty = [next == west]
reward visit = [next != s0]
machine alt {
    start u0
    u0 -> u1 when at_west
    u1 -> u0 when at_east reward 1
}
"""

FROZEN = """
env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
prop goal = obs == 15
prop hole = obs in {5, 7, 11, 12}
reward step = -0.01
ltl f_goal = F goal
ltlf g_goal = F goal
ltl f_hole = F hole
ltlf g_hole = F hole
"""


def value(text: str, objective: str):
    return solve(objlang.loads(text), objective)


def start_row(sol, state="s0"):
    (row,) = [v for k, v in sol.policy.items() if k.split("|")[0] == state]
    return row


def test_gamble_example_takes_the_risk_with_probability_two_thirds(capsys):
    # P[G !ruined] = 1 - 0.3 q >= 0.8 gives q <= 2/3, and the payoff grows with q
    sol = solve(objlang.load(GAMBLE))
    assert sol.value == pytest.approx(1 + 1.1 * 2 / 3, abs=1e-9)
    assert start_row(sol) == pytest.approx({"safe": 1 / 3, "risky": 2 / 3}, abs=1e-9)
    assert main(["solve", str(GAMBLE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == pytest.approx(1 + 1.1 * 2 / 3)


def test_upper_bounds_and_minimised_probabilities_use_the_negation():
    # P[F ruined] <= 0.2 is P[G !ruined] >= 0.8: the gamble again
    up = value(GAMBLE_MDP + "objective o { maximize E[sum(payoff)] "
               "subject to P[F ruined] <= 0.2 }", "o")
    assert up.value == pytest.approx(1 + 1.1 * 2 / 3, abs=1e-9)
    # 1 + 1.1 q >= 1.5 needs q >= 5/11: P[F ruined] = 0.3 * 5/11 = 3/22
    low = value(GAMBLE_MDP + "objective o { minimize P[F ruined] "
                "subject to E[sum(payoff)] >= 1.5 }", "o")
    assert low.value == pytest.approx(3 / 22, abs=1e-9)
    # P[F rich] - P[F ruined] = 0.4 q is largest at q = 1; a constant is carried along
    diff = value(GAMBLE_MDP + "objective o { maximize P[F rich] - P[F ruined] + 1 }", "o")
    assert diff.value == pytest.approx(1.4, abs=1e-9)
    assert start_row(diff) == "risky"


def test_infeasible_constraints_are_named():
    with pytest.raises(objlang.ObjlangError, match=r"infeasible: no policy meets constraint "
                       r"1 \(E\[sum\(payoff\)\] >= 2.5\).*greatest achievable value is 2.1"):
        value(GAMBLE_MDP + "objective o { maximize E[sum(payoff)] "
              "subject to E[sum(payoff)] >= 2.5 }", "o")
    # q <= 2/3 and 0.7 q >= 0.6 (q >= 6/7): each alone holds, not both
    with pytest.raises(objlang.ObjlangError) as err:
        value(GAMBLE_MDP + "objective o { maximize E[sum(payoff)] subject to "
              "P[G !ruined] >= 0.8 subject to P[F rich] >= 0.6 }", "o")
    msg = err.value.message
    assert "infeasible" in msg and "P[G !ruined] >= 0.8" in msg and "P[F rich] >= 0.6" in msg
    assert "cannot hold together" in msg and err.value.line is not None
    with pytest.raises(objlang.ObjlangError, match=r"P\[F ruined\] <= -0.1\): value <= -0.1 "
                       r"even alone \(its least achievable value is 0\)"):
        value(GAMBLE_MDP + "objective o { maximize E[sum(payoff)] "
              "subject to P[F ruined] <= -0.1 }", "o")


def test_discounted_goal_with_a_chance_constraint_is_refused(tmp_path, capsys):
    text = GAMBLE_MDP + "objective o { maximize E[G(payoff, 0.9)] " \
                        "subject to P[G !ruined] >= 0.8 }\n"
    with pytest.raises(objlang.ObjlangError, match="non-stationary.*Feinberg.*E\\[sum\\(r\\)\\]"):
        value(text, "o")
    path = tmp_path / "mixed.obj"
    path.write_text(text)
    assert main(["solve", str(path)]) == 2
    assert "may not be attained" in capsys.readouterr().err


def test_totals_must_be_finite_and_bounded():
    loop = "mdp m {\n start s\n s a -> s\n s b -> s\n}\nenv m\n"
    # b earns nothing forever: the least total is 0
    assert value(loop + "reward r = [action == a]\nobjective o { minimize E[sum(r)] }",
                 "o").value == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(objlang.ObjlangError, match="the objective is unbounded: the end "
                       "component of state 's' can repeat action 'a'"):
        value(loop + "reward r = [action == a]\nobjective o { maximize E[sum(r)] }", "o")
    with pytest.raises(objlang.ObjlangError, match=r"constraint 1 \(E\[sum\(r\)\] >= 1\) is "
                       "unbounded"):
        value(loop + "reward r = [action == a]\nobjective o { minimize E[sum(r)] "
              "subject to E[sum(r)] >= 1 }", "o")
    with pytest.raises(objlang.ObjlangError, match="no policy makes the totals finite"):
        value(loop + "reward r = 1\nobjective o { minimize E[sum(r)] }", "o")


def test_ltlf_constraints_agree_with_ltl_on_frozenlake():
    # holes and the goal terminate, and a run that never terminates earns -0.01 per step
    # forever, so the ltl and ltlf readings of F goal / F hole coincide
    text = FROZEN + "".join(
        f"objective {n} {{ minimize E[sum(-step)] subject to P[{f}] {op} 0.5 }}\n"
        for n, f, op in [("a", "f_goal", ">="), ("b", "g_goal", ">="),
                         ("c", "f_hole", "<="), ("d", "g_hole", "<=")])
    spec = objlang.loads(text)
    a, b, c, d = (solve(spec, n).value for n in "abcd")
    assert a == pytest.approx(b, abs=1e-9) and c == pytest.approx(d, abs=1e-9)
    assert 0 < a < 1 and 0 < c < 1


def test_machine_return_inside_lex_min_pareto_and_a_constraint():
    # γ = 0.5; one decision every two steps (β = γ² = 1/4), visits pay at the decision.
    # Alternating west/east from the start: alt pays at t = 2, 6, ...: γ²/(1-γ⁴) = 4/15;
    # lefty pays at t = 0, 4, ...: 1/(1-γ⁴) = 16/15; every policy has visit = 4/3.
    lx = value(HUB + "objective o { maximize lex(E[G(visit)], E[G(alt)]) }", "o")
    assert lx.components == pytest.approx([4 / 3, 4 / 15], abs=1e-8)
    assert lx.product_states > lx.env_states
    mm = value(HUB + "objective o { maximize min(E[G(alt)], E[G(lefty)]) }", "o")
    assert mm.value == pytest.approx(4 / 15, abs=1e-8)
    par = value(HUB + "objective o { maximize pareto(E[G(alt)], E[G(lefty)]) }", "o")
    assert sorted(map(tuple, np.round(par.pareto, 8))) == \
        sorted([(round(4 / 15, 8), round(16 / 15, 8)), (0.0, round(4 / 3, 8))])
    # lefty + (the discounted decisions that go east) = 4/3, and going east after west
    # is what alt counts: x_east = 0.2 is the cheapest way to alt >= 0.2, lefty = 4/3 - 0.2
    con = value(HUB + "objective o { maximize E[G(lefty)] subject to E[G(alt)] >= 0.2 }",
                "o")
    assert con.value == pytest.approx(4 / 3 - 0.2, abs=1e-8)
    # after west (machine state 1): east with probability x_east / (x_east + x_west),
    # x_west = (β + β² 0.2 - 0.2) / (1 - β) = 1/12
    assert con.policy["s0|1"] == pytest.approx({"right": 0.2 / (0.2 + 1 / 12),
                                        "left": (1 / 12) / (0.2 + 1 / 12)}, abs=1e-8)
    lin = value(HUB + "objective o { maximize E[G(alt)] + E[G(lefty)] + 1 }", "o")
    assert lin.value == pytest.approx(4 / 3 + 1, abs=1e-9)


# --- Storm's multi-objective engine --------------------------------------------------


def storm_value(spec, objective):
    from objlang.finite.prism import solve_prism_with_storm

    model, props = export_prism(spec, objective)
    return props.strip(), solve_prism_with_storm(model, props.strip())


def test_exported_gamble_agrees_with_storm():
    pytest.importorskip("stormpy")
    prop, theirs = storm_value(objlang.load(GAMBLE), None)
    assert prop == 'multi(R{"r"}max=? [ C ], P>=0.8 [ G (!"ruined") ])'
    assert theirs == pytest.approx(1 + 1.1 * 2 / 3, abs=1e-9)


def test_export_refuses_what_storm_cannot_check():
    spec = objlang.loads(GAMBLE_MDP + "ltl later = F G rich\n"
                         "objective a { maximize E[sum(payoff)] subject to P[later] >= 0.5 }\n"
                         "objective b { maximize E[sum(payoff)] + P[F rich] }\n")
    with pytest.raises(objlang.ObjlangError, match="takes P\\[F a\\], P\\[G a\\]"):
        export_prism(spec, "a")
    with pytest.raises(objlang.ObjlangError, match="one E\\[sum\\(r\\)\\] or P\\[φ\\]"):
        export_prism(spec, "b")


def random_mdp_text(rng) -> str:
    """An mdp block: states s0 .. s{S-3} random, s{S-2} (goal) and s{S-1} absorbing;
    per (state, action) a cost with probability 0.7 (else 0)."""
    S, A = int(rng.integers(5, 11)), int(rng.integers(2, 4))
    lines = ["mdp m {", "    start s0"]
    for s in range(S - 2):
        for a in range(A):
            succ = rng.choice(S, size=int(rng.integers(1, 4)), replace=False)
            p = rng.random(len(succ)) + 0.1
            p = np.round(p / p.sum(), 3)
            p[-1] = round(1 - p[:-1].sum(), 3)
            lines.append(f"    s{s} a{a} -> "
                         + ", ".join(f"s{t} : {float(q)!r}" for t, q in zip(succ, p)))
    lines += [f"    s{s} * -> s{s}" for s in (S - 2, S - 1)] + ["}", "env m"]
    bad = [f"s{1 + s}" for s in rng.choice(S - 3, size=2, replace=False)] + [f"s{S - 1}"]
    costs = [f"{round(float(rng.random()), 3)!r} * [obs == s{s} & action == {a}]"
             for s in range(S - 2) for a in range(A) if rng.random() < 0.7]
    lines += [f"prop goal = obs == s{S - 2}", "prop bad = obs in {" + ", ".join(bad) + "}",
              "reward c = " + (" + ".join(costs) or "0")]
    return "\n".join(lines) + "\n"


def test_random_mdps_agree_with_storm():
    # a reachability (and an invariance or until) chance constraint with a total cost to
    # minimise, and a probability to maximise under a bound on the total cost; Storm
    # restricts to schedulers with finite totals as the LP does. Storm did not terminate
    # on P>=1 [...], so p stays in [0.05, 0.95].
    pytest.importorskip("stormpy")
    rng = np.random.default_rng(7)
    feasible = 0
    for i in range(24):
        other = ["G !bad", "!bad U goal"][i % 2]
        p, b = 0.05 + 0.9 * float(rng.random()), 3 * float(rng.random())
        text = random_mdp_text(rng) + (
            f"objective lo {{ minimize E[sum(c)] subject to P[F goal] >= {p:.2f} }}\n"
            f"objective hi {{ maximize P[{other}] subject to E[sum(c)] <= {b:.2f} }}\n")
        spec = objlang.loads(text)
        for name in ("lo", "hi"):
            prop, theirs = storm_value(spec, name)
            try:
                ours = solve(spec, name).value
            except objlang.ObjlangError as err:
                assert "infeasible" in err.message
                ours = None
            if ours is None or theirs is None:
                assert ours is theirs, (i, name, prop, ours, theirs, text)
            else:
                feasible += 1
                assert ours == pytest.approx(theirs, abs=1e-8), (i, name, prop, text)
    assert feasible >= 40  # most of the 48 problems have a value
