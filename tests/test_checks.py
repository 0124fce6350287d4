"""The checking passes: each error with its message and location, warnings,
imports, macros, and the rewriting of G(φ)."""
from __future__ import annotations

import textwrap

import pytest
import sympy

import objlang
from objlang import ObjlangError
from objlang.ir import nodes as n
from objlang.ir import sym

from _samples import LANGUAGE_EXAMPLE, MDP_EXAMPLE


def load(text: str, **kw):
    return objlang.loads(textwrap.dedent(text).strip() + "\n", "t.obj", **kw)


def fails(text: str, **kw) -> ObjlangError:
    with pytest.raises(ObjlangError) as info:
        load(text, **kw)
    return info.value




def test_language_example_checks_without_warnings():
    spec = load(LANGUAGE_EXAMPLE)
    assert [o.name for o in spec.objectives] == ["reach", "fast"]
    assert spec.warnings == ()
    fast = spec.objectives[1]
    step, win, hole = sym.name("step"), sym.name("win"), sym.name("hole")
    assert fast.goal.expr == sym.Expect(sym.Ret(step + win))
    assert fast.constraints[0].expr == sym.Ge_(sym.Prob(sym.Always(sym.Not_(hole))),
                                               sympy.Float(0.9))


def test_unknown_proposition_with_suggestion_and_location():
    e = fails('''
        prop goal = obs == 15
        prop hole = obs == 5
        ltl safe_goal = !hole U gaol
        objective o { maximize P[safe_goal] }
    ''')
    assert (e.line, e.column) == (3, 25)
    assert e.message == "unknown proposition 'gaol' (did you mean 'goal'?)"
    assert "^~~~" in e.render()


@pytest.mark.parametrize("text, line, col, message", [
    ("prop p = action == 1\nobjective o { maximize P[p] }", 1, 10,
     "'action' is only defined in rewards and costs"),
    ("prop p = next == 1\nobjective o { maximize P[p] }", 1, 10,
     "'next' is only defined in rewards and costs"),
    ("reward r = 1\nobjective o { maximize E[r] }", 2, 26,
     "reward 'r' is per step; a trajectory needs its return"),
    ("prop p = obs == 1\nreward r = p + 1\nobjective o { maximize E[G(r)] }", 2, 12,
     "'p' is a prop, not a reward or constant"),
    ("reward r = E[G(r)]\nobjective o { maximize E[G(r)] }", 1, 12,
     "E[...] cannot appear in a reward or cost"),
    ("prop p = F obs == 1\nobjective o { maximize P[p] }", 1, 10,
     "the temporal operator F cannot appear in a state condition"),
    ("reward r = 1\nobjective o { maximize G(r) }", 2, 24,
     "G(...) is random: an objective needs its expectation"),
    ("prop p = obs == 1\nobjective o { maximize p }", 2, 24,
     "'p' is a formula: maximise its probability"),
    ("reward r = 1\nobjective o { maximize E[G (r)] }", 2, 26,
     "'G x' (globally) where a number is expected"),
    ("reward r = 1\nobjective o { maximize E[G(r)] + lex(E[G(r)]) }", 2, 34,
     "lex(...) orders policies; it can only be the whole goal"),
    ("reward r = 1\nobjective o { maximize E[G(r, 1.5)] }", 2, 31,
     "a discount is a number in [0, 1]"),
    ("discount 2\nreward r = 1\nobjective o { maximize E[G(r)] }", 1, 10,
     "a discount is a number in [0, 1]"),
    ('env "CartPole-v1" { max_episode_steps: obs }\nreward r = 1\n'
     'objective o { maximize E[G(r)] }', 1, 40,
     "arguments of env and options must be literals (numbers, strings, true/false, "
     "[lists], {sets})"),
    ('env "CartPole-v1"\nreward r = 1\nobjective o { maximize -(pi(0, 1) - 0.5)^2 }', 3, 26,
     "pi(s, a) needs a finite environment"),
    ("reward r = 1\nobjective o { maximize E[G(r)] maximize E[G(r)] }", 2, 1,
     "objective 'o' needs exactly one maximize or minimize, has 2"),
    ("reward r = 1\nobjective o { maximize E[G(r)] subject to E[G(r)] }", 2, 32,
     "`subject to` needs a comparison: X <= c or X >= c"),
    ("prop p = obs[0] > 1 & info.__class__\nobjective o { maximize P[p] }", 1, 23,
     "names beginning with '__' are reserved: '__class__'"),
    ("reward r = a + 1\nreward a = r\nobjective o { maximize E[G(r)] }", 1, 1,
     "'r' is defined through itself (r -> a -> r)"),
    ("prop G = obs == 1", 1, 1, "'G' is a reserved word and cannot name a prop"),
    ("prop p = obs == 1\nprop p = obs == 2\nobjective o { maximize P[p] }", 2, 1,
     "'p' is declared twice"),
    ("ltlf f = F p\nprop p = obs == 1\nltl g = f & G p\nobjective o { maximize P[g] }", 3, 9,
     "'f' is an ltlf formula; it cannot be mixed with ltl"),
])
def test_type_errors(text, line, col, message):
    e = fails(text)
    assert e.message == message
    assert (e.line, e.column) == (line, col)


def test_G_call_of_a_formula_is_globally_and_of_a_reward_is_a_return():
    spec = load('''
        reward r = 1
        prop p = obs == 1
        ltl f = G(p -> F p)
        objective o { maximize E[G(r)] + P[f] + E[[G(p)]] }
    ''')
    p, r = sym.name("p"), sym.name("r")
    ltl = spec.of_type(n.LtlDecl)[0]
    assert ltl.formula == sym.Always(sym.Implies(p, sym.Finally(p)))
    goal = spec.objectives[0].goal.expr
    assert goal.has(sym.Ret(r)) and goal.has(sym.Iverson(sym.Always(p)))
    assert not goal.has(sym.Ret(p))


def test_mdp_states_are_constants_and_pi_is_allowed():
    spec = load(MDP_EXAMPLE + '''
        ltl f = F at_a
        policy prior = uniform
        objective o { maximize -(pi(s0, left) - 0.5)^2 regularize 0.1 * kl(pi, prior) }
        objective p { maximize P[f] }
    ''')
    assert spec.warnings == ()


@pytest.mark.parametrize("rows, line, message", [
    ("start s0\ns0 a -> s1 : 0.9, s0 : 0.2\ns1 * -> s1", 3,
     "'s0 a': probabilities sum to 1.1, not 1"),
    ("start s0\ns0 a -> s1 : 0.5, s0\ns1 * -> s1", 3,
     "'s0 a': give every outcome a probability, or none"),
    ("start s0\ns0 a -> s1, s0\ns1 * -> s1", 3, "'s0 a': several outcomes need probabilities"),
    ("start s0\ns0 a -> s1 : 1.5\ns1 * -> s1", 3,
     "'s0 a': probability 1.5 of 's1' is not in [0, 1]"),
    ("start s0\ns0 a -> s1\ns1 b -> s1", 4, "state 's1' has no row for action 'a'"),
    ("start s0\ns0 * -> s1", 3, "state 's1' of mdp 'm' has no rows"),
    ("start s0\ns0 a -> s0\ns0 a -> s0", 4, "state 's0' has two rows for action 'a'"),
    ("s0 a -> s0", 1, "mdp 'm' has no start state"),
    ("start s0 : 0.5, s1 : 0.4\ns0 * -> s0\ns1 * -> s1", 2,
     "start of mdp 'm': probabilities sum to 0.9, not 1"),
])
def test_mdp_errors(rows, line, message):
    body = "\n".join("    " + r for r in rows.splitlines())
    e = fails(f"mdp m {{\n{body}\n}}\nenv m\nprop p = obs == s0\nobjective o {{ maximize P[p] }}")
    assert (message, line) in [(d.message, d.loc.line) for d in e.diagnostics]


def test_probabilities_summing_to_one_within_tolerance_are_accepted():
    load('''
        mdp m {
            start s0
            s0 a -> s0 : 1/3, s1 : 1/3, s2 : 1/3
            s1 * -> s1
            s2 * -> s2
        }
        env m
        prop p = obs == s1
        objective o { maximize P[F p] }
    ''')


OFFICE_PROPS = '''
prop coffee = info.coffee
prop office = info.office
prop decor = info.decor
'''


def test_coffee_machine_checks():
    spec = load(OFFICE_PROPS + '''
machine coffee_m {
    start u0
    u0 -> u1 when coffee & !decor
    u1 -> done when office & !decor  reward 1
    u0, u1 -> broken when decor
    final done, broken
}
objective o { maximize E[G(coffee_m)] }
''')
    m = spec.of_type(n.MachineDecl)[0]
    assert m.states == ("u0", "u1", "done", "broken")
    assert spec.warnings == ()


def test_overlapping_guards_are_reported_with_both_lines():
    e = fails(OFFICE_PROPS + '''
machine m {
    start u0
    u0 -> u1 when coffee
    u0 -> u2 when decor
    u1, u2 -> u0 when office
}
objective o { maximize E[G(m)] }
''')
    assert e.line == 8
    assert e.message.startswith("in machine 'm', two edges out of 'u0' can both be taken "
                                "(lines 7 and 8), e.g. when ")
    assert "info.coffee" in e.message and "info.decor" in e.message


def test_guards_on_different_values_of_one_observation_are_exclusive():
    spec = load('''
        prop a = obs == 1
        prop b = obs in {2, 3}
        machine m {
            start u0
            u0 -> u1 when a
            u0 -> u2 when b
            u1, u2 -> u0 when !a & !b
        }
        objective o { maximize E[G(m, 0.9)] }
    ''')
    assert spec.warnings == ()


def test_machine_errors_and_warnings():
    e = fails('''
        prop a = obs == 1
        machine m {
            u0 -> u1 when a
        }
        objective o { maximize E[G(m, 0.9)] }
    ''')
    assert e.message == "machine 'm' has no start state"
    e = fails('''
        prop a = obs == 1
        machine m {
            start u0
            u0 -> u1 when a
            final u9
        }
        objective o { maximize E[G(m, 0.9)] }
    ''')
    assert e.message == "unknown state 'u9' in `final` of machine 'm'"
    assert e.line == 5
    spec = load('''
        prop a = obs == 1
        machine m {
            start u0
            u0 -> u1 when a
            u2 -> u1 when a
        }
        objective o { maximize E[G(m, 0.9)] }
    ''')
    assert [w.message for w in spec.warnings] == ["state 'u2' of machine 'm' is unreachable"]


def test_unused_declarations_and_discount_one_warn():
    spec = load('''
        discount 1
        prop p = obs == 1
        prop unused = obs == 2
        reward r = [p]
        cost c = 1
        objective o { maximize E[G(r)] }
    ''')
    messages = [w.message for w in spec.warnings]
    assert "prop 'unused' is never used" in messages
    assert "G(...) with discount 1 is an infinite sum that may diverge" in messages
    assert not any("'c'" in m for m in messages)  # costs always reach info["cost"]
    assert all(w.severity == "warning" and w.loc is not None for w in spec.warnings)


def test_macros_expand_with_arity_checks_and_no_recursion():
    spec = load('''
        def avoid(b) = G !b
        def reach_avoid(g, b) = !b U g & avoid(b)
        def bonus = 10
        prop goal = obs == 15
        prop hole = obs == 5
        reward win = bonus * [goal]
        ltl f = reach_avoid(goal, hole)
        objective o { maximize P[f] + E[G(win, 0.9)] }
    ''')
    goal, hole = sym.name("goal"), sym.name("hole")
    assert spec.of_type(n.LtlDecl)[0].formula == sym.And_(  # U binds tighter than &
        sym.Until(sym.Not_(hole), goal), sym.Always(sym.Not_(hole)))
    assert spec.of_type(n.RewardDecl)[0].expr == 10 * sym.Iverson(goal)
    e = fails("def f(a, b) = a U b\nprop p = obs == 1\nltl g = f(p)\n"
              "objective o { maximize P[g] }")
    assert (e.message, e.line, e.column) == ("'f' takes 2 arguments (a, b), got 1", 3, 9)
    e = fails("def f(a) = g(a)\ndef g(a) = f(a)\nprop p = obs == 1\nltl h = f(p)\n"
              "objective o { maximize P[h] }")
    assert e.message == "def 'g' uses itself (g -> f -> g)"
    e = fails("reward r = exp(1, 2)\nobjective o { maximize E[G(r)] }")
    assert (e.message, e.column) == ("exp() takes 1 argument, got 2", 12)
    e = fails("reward r = nrom(obs[0:2])\nobjective o { maximize E[G(r)] }")
    assert e.message == "unknown function 'nrom'" and e.hint == "did you mean 'norm'?"


def test_stdlib_imports():
    spec = load('''
        import patterns
        from risk import exp_utility
        prop goal = obs == 15
        prop hole = obs == 5
        reward win = [goal]
        ltl f = reach_avoid(goal, hole)
        objective o { maximize P[f] }
        objective u { maximize E[exp_utility(G(win, 0.9), 0.5)] }
    ''')
    goal, hole = sym.name("goal"), sym.name("hole")
    assert spec.of_type(n.LtlDecl)[0].formula == sym.Until(sym.Not_(hole), goal)
    e = fails("import patters\nprop p = obs == 1\nobjective o { maximize P[p] }")
    assert e.message == "no stdlib module named 'patters'"
    assert e.hint == "did you mean 'patterns'?"
    e = fails("from patterns import reach_avod\nprop p = obs == 1\n"
              "objective o { maximize P[p] }")
    assert e.message == "module 'patterns' has no def 'reach_avod'"


def test_file_imports_are_relative_and_cycles_are_errors(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mine.obj").write_text("def twice(x) = 2 * x\n")
    main = tmp_path / "main.obj"
    main.write_text('from "lib/mine.obj" import twice\nreward r = twice(obs)\n'
                    'objective o { maximize E[G(r, 0.9)] }\n')
    spec = objlang.load(main)
    assert spec.of_type(n.RewardDecl)[0].expr == 2 * sym.name("obs")
    (tmp_path / "a.obj").write_text('import "b.obj"\ndef fa(x) = x\n')
    (tmp_path / "b.obj").write_text('import "a.obj"\ndef fb(x) = x\n')
    (tmp_path / "c.obj").write_text('import "a.obj"\nreward r = fa(1)\n'
                                    'objective o { maximize E[G(r, 0.9)] }\n')
    with pytest.raises(ObjlangError) as info:
        objlang.load(tmp_path / "c.obj")
    assert info.value.message.startswith("import cycle: ")
    assert info.value.message.endswith("a.obj")
    with pytest.raises(ObjlangError) as info:
        objlang.load(tmp_path / "missing.obj")
    assert info.value.message.startswith("cannot read")


def test_several_errors_are_all_reported():
    e = fails("prop p = action == 1\nprop q = next == 1\nobjective o { maximize P[p & q] }")
    assert [d.loc.line for d in e.diagnostics] == [1, 2]


def test_guards_on_action_and_its_negation_are_exclusive():
    """`action == x` and `action != x` cannot both hold; `action != y` can hold with it."""
    base = "mdp m { start a  a x -> b  a y -> a  b * -> b }\nenv m\n"
    objlang.loads(base + "machine k { start u0  u0 -> u1 when action == x reward 1\n"
                         "u0 -> u2 when action != x  final u1 }")
    with pytest.raises(objlang.ObjlangError, match="can both be taken"):
        objlang.loads(base + "machine k { start u0  u0 -> u1 when action == x reward 1\n"
                             "u0 -> u2 when action != y  final u1 }")
