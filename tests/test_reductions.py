"""Exact reductions (objlang.expressivity.reductions): each rule's output orders a
sample of policies (every deterministic one and random stochastic ones) exactly as
its input does, by the exact evaluator; the traps are left alone, and where easy
the naive reduction of a trap is shown to change the order."""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import sympy

import objlang
from objlang.expressivity.reductions import RULES, reduce
from objlang.finite.evaluate import evaluate
from objlang.finite.extract import finite_env
from objlang.ir import nodes as n
from objlang.ir import sym

#: 3 states, 2 actions, uneven transitions so that the values of policies differ
BASE = '''
mdp m {
    start s0
    s0 a -> s1 : 0.7, s2 : 0.3
    s0 b -> s0 : 0.4, s2 : 0.6
    s1 a -> s0
    s1 b -> s2 : 0.5, s1 : 0.5
    s2 a -> s1 : 0.2, s0 : 0.8
    s2 b -> s2
}
env m
discount 0.9
prop at1 = obs == s1
prop at2 = obs == s2
reward r = [action == a] + 0.5 * [at2]
reward c = [at1] - 0.3 * [action == b]
ltl reach1 = F at1
ltl valid = G at1 | F !at1
ltl never = G at1 & F !at1
'''

#: a one-step gamble: safe earns 1, risky earns 1.8 or 0 (mean 0.9)
GAMBLE = '''
mdp g {
    start s0
    s0 safe  -> mid
    s0 risky -> hi : 0.5, lo : 0.5
    mid * -> end
    hi  * -> end
    lo  * -> end
    end * -> end
}
env g
discount 0.5
prop at_mid = obs == mid
prop at_end = obs == end
prop at_hi = obs == hi
reward r = [at_mid] + 1.8 * [at_hi]
reward reach_end = [at_end] * [obs != end]
reward lucky = [at_hi]
'''


def spec_of(body: str, base: str = BASE):
    return objlang.loads(base + body)


def policies(spec, n_random: int = 12, seed: int = 0, free=None) -> list:
    """Every deterministic stationary policy (choosing at the states ``free``, all by
    default, the first action elsewhere), and random stochastic ones."""
    mdp = finite_env(spec)
    S, A = mdp.n_states, mdp.n_actions
    free = range(S) if free is None else free
    det = []
    for choice in itertools.product(range(A), repeat=len(free)):
        p = np.zeros((S, A))
        p[:, 0] = 1
        p[list(free)] = np.eye(A)[list(choice)]
        det.append(p)
    rng = np.random.default_rng(seed)
    return det + list(rng.dirichlet(np.ones(A), size=(n_random, S)))


def scores(spec, name: str, pols) -> list:
    """Values oriented so that larger is better (lex/pareto: tuples)."""
    obj = spec.named()[name]
    sign = 1 if obj.goal.sense == "maximize" else -1
    out = []
    for p in pols:
        v = evaluate(spec, p, name)
        out.append(tuple(sign * x for x in v) if isinstance(v, list) else sign * v)
    return out


def _cmp(x, y, tol: float = 1e-9) -> int:
    """-1, 0, 1; tuples lexicographically, each component tied within tol."""
    for a, b in zip(*((x, y) if isinstance(x, tuple) else ((x,), (y,)))):
        if abs(a - b) > tol:
            return 1 if a > b else -1
    return 0


def order(values) -> list:
    return [_cmp(values[i], values[j]) for i, j in itertools.combinations(range(len(values)), 2)]


def assert_same_order(spec, name: str, reduced_spec, reduced_name: str | None = None):
    pols = policies(spec)
    before = order(scores(spec, name, pols))
    after = order(scores(reduced_spec, reduced_name or name, pols))
    assert before == after
    assert any(before), "the sample should not tie every policy"
    return before


def reduced(spec, name: str):
    out = reduce(spec, name)
    # the reduced spec is a valid objlang spec: printed and checked again, it is the same
    assert objlang.loads(objlang.fmt(out.spec)).named()[name] == out.spec.named()[name]
    return out


def goal_text(out) -> str:
    obj = out.spec.named()[out.objective]
    return f"{obj.goal.sense} {objlang.syntax.printer.expr(obj.goal.expr)}"


# ---- each rule, checked against the exact evaluator ------------------------------

@pytest.mark.parametrize("goal, expect, rules, lowest", [
    # affine increasing f outside E
    ("maximize 2 * E[G(r)] + 3", "maximize E[G(r)]", ["monotone function"], "MR"),
    # nonlinear but increasing on the range of E[G(r)], [0, 15]
    ("maximize log(E[G(r)] + 1)", "maximize E[G(r)]", ["monotone function"], "MR"),
    ("maximize -(E[G(r)] - 20) ^ 2", "maximize E[G(r)]", ["monotone function"], "MR"),
    # decreasing: the sense flips
    ("maximize exp(-E[G(c)])", "minimize E[G(c)]", ["monotone function"], "MR"),
    ("minimize -3 * E[G(c)]", "maximize E[G(c)]", ["monotone function"], "MR"),
    # affine increasing f inside E: linearity, then the affine outer function
    ("maximize E[2 * G(r) + 1]", "maximize E[G(r)]",
     ["linearity of expectation", "monotone function"], "MR"),
    # a linear combination of returns with one discount (written and default)
    ("maximize E[G(r)] - 2 * E[G(c, 0.9)]", "maximize E[G(-2 * c + r, 0.9)]",
     ["sum of returns"], "MR"),
    ("maximize lex(E[G(r)])", "maximize E[G(r)]", ["single component"], "MR"),
    ("maximize pareto(P[reach1])", "maximize P[reach1]", ["single component"], "LTL"),
    ("maximize 2 * P[reach1] - 1", "maximize P[reach1]", ["monotone function"], "LTL"),
])
def test_rule_preserves_the_order(goal, expect, rules, lowest):
    spec = spec_of(f"objective o {{ {goal} }}")
    out = reduced(spec, "o")
    assert goal_text(out) == expect
    assert [s.rule for s in out.steps] == rules
    assert out.lowest == [lowest]
    assert_same_order(spec, "o", out.spec)


def test_monotone_reason_names_the_function_and_the_interval():
    spec = spec_of("objective o { maximize 2 * E[G(r)] + 1 }")
    (step,) = reduce(spec, "o").steps
    # r ∈ [0, 1.5] on the mdp's transitions, γ = 0.9: G(r) ∈ [0, 15]
    assert "f(x) = 2 * x + 1 is strictly increasing on [0, 15]" in step.reason
    assert "orders policies as maximising E[G(r)] does" in step.reason
    assert (step.before, step.after) == ("ONMR", "MR")


def test_reductions_compose_to_a_fixpoint():
    # linearity, then the sum of returns, then the affine outer function: IMORL -> MR
    spec = spec_of("objective o { minimize E[2 * G(r) - G(c) + 1] }")
    out = reduced(spec, "o")
    assert [s.rule for s in out.steps] == ["linearity of expectation", "sum of returns",
                                           "monotone function"]
    assert [(s.before, s.after) for s in out.steps] == [("IMORL", "OMORL"), ("OMORL", "ONMR"),
                                                        ("ONMR", "MR")]
    assert goal_text(out) == "minimize E[G(-c + 2 * r)]"
    assert_same_order(spec, "o", out.spec)
    # a fixpoint: reducing again changes nothing
    assert reduce(out.spec, "o").steps == []


def test_one_state_machine_becomes_a_markov_reward():
    spec = spec_of('''
machine mm {
    start u0
    u0 -> u0 when at1 & action == a  reward 2
    u0 -> u0 when at2  reward -1
    u0 -> u0 when !at1 & !at2
}
objective o { maximize E[G(mm)] + E[G(r)] }''')
    out = reduced(spec, "o")
    assert [s.rule for s in out.steps] == ["one-state machine", "sum of returns"]
    assert [(s.before, s.after) for s in out.steps] == [("OMORL", "OMORL"), ("OMORL", "MR")]
    assert goal_text(out) == "maximize E[G(mm_reward + r)]"
    # the machine's edges as one Markov reward, declared before the objective
    decl = out.spec.named()["mm_reward"]
    assert objlang.syntax.printer.expr(decl.expr) == "-[at2] + 2 * [at1 & action == a]"
    assert_same_order(spec, "o", out.spec)


def test_formula_equivalent_to_true_or_false_is_a_constant():
    spec = spec_of('''
objective o { maximize P[valid] + E[[never] * G(c)] + E[G(r)] }
objective k { maximize P[F at1 | G !at1] }''')
    out = reduced(spec, "o")
    assert out.steps[0].rule == "constant formula"
    assert "valid is equivalent to true" in out.steps[0].reason
    assert "never is equivalent to false" in out.steps[0].reason
    assert goal_text(out) == "maximize E[G(r)]"
    assert_same_order(spec, "o", out.spec)
    # a goal that is constant for every policy: MR with the reward 0, every policy ties
    k = reduced(spec, "k")
    assert [s.rule for s in k.steps] == ["constant formula"]
    assert "every policy ties, as under the Markov reward 0" in k.steps[0].reason
    assert goal_text(k) == "maximize 1" and k.lowest == ["MR"]
    pols = policies(spec)
    assert not any(order(scores(spec, "k", pols))) and \
        not any(order(scores(k.spec, "k", pols)))


def test_an_ltlf_formula_true_on_finite_traces_is_not_a_constant():
    # on an mdp block no run ends, so an ltlf formula valid on finite traces still has
    # probability 0, not 1: only `false` reduces for ltlf
    spec = spec_of('''
ltlf fin = F at1 | !F at1
objective o { maximize P[fin] }''')
    assert reduce(spec, "o").steps == []
    assert evaluate(spec, policies(spec)[0], "o") == 0.0


def test_zero_regulariser_is_removed():
    # `regularize 0 * entropy(pi)` does not survive parsing (sympy folds 0 * x), so the
    # IR is built by hand, as a program sweeping the weight would
    spec = spec_of("objective o { maximize E[G(r)]  regularize 0.1 * entropy(pi) }")
    old = spec.named()["o"]
    zero = n.Regularizer(sympy.Mul(0, sym.Entropy(sympy.Symbol("pi")), evaluate=False))
    obj = dataclasses.replace(old, regularizers=(zero,))
    spec = dataclasses.replace(spec, decls=tuple(obj if d is old else d for d in spec.decls))
    out = reduced(spec, "o")
    assert [(s.rule, s.before, s.after) for s in out.steps] == [("zero regulariser", "RRL",
                                                                 "MR")]
    assert out.spec.named()["o"].regularizers == ()
    assert_same_order(spec, "o", out.spec)
    # a regulariser of positive weight stays (RRL)
    assert reduce(spec_of("objective o { maximize E[G(r)]  regularize 0.1 * entropy(pi) }"),
                  "o").lowest == ["RRL"]


def test_vacuous_constraints_are_dropped_and_others_kept():
    spec = spec_of('''
objective o {
    maximize E[G(r)]
    subject to E[G(c)] <= 10.5
    subject to P[reach1] >= 0
    subject to E[G(c)] <= 3
}
objective lhs { maximize E[G(c)] }''')
    out = reduced(spec, "o")
    assert [s.rule for s in out.steps] == ["vacuous constraint"] * 2
    # c ∈ [-0.3, 1] on the transitions, γ = 0.9: E[G(c)] ∈ [-3, 10]
    assert "G(c) ∈ [-3, 10]" in out.steps[0].reason
    kept = out.spec.named()["o"].constraints
    assert [objlang.syntax.printer.expr(c.expr) for c in kept] == ["E[G(c)] <= 3"]
    # independent check: the dropped bound holds on every sampled policy, the kept one
    # fails on some
    values = scores(spec, "lhs", policies(spec))
    assert max(values) <= 10.5 and max(values) > 3


def test_reward_bounds_without_a_finite_env_come_from_interval_arithmetic():
    spec = objlang.loads('''
discount 0.9
prop goal = obs == 3
reward r = 2 * [goal] - 1
reward q = obs
reward one = 1
objective a { maximize -(E[G(r)] - 20) ^ 2 }
objective b { maximize -(E[G(q)] - 20) ^ 2 }
objective c { maximize 2 * E[G(q)] + 1 }
objective d { maximize -(E[G(one)] - 5) ^ 2 }''')
    a = reduce(spec, "a")  # r ∈ [-1, 1]: G(r) ∈ [-10, 10], where f increases
    assert a.lowest == ["MR"] and "[-10, 10]" in a.steps[0].reason
    assert "interval arithmetic" in a.steps[0].reason
    assert reduce(spec, "b").lowest == ["ONMR"]  # q unbounded: f is not monotone on ℝ
    assert reduce(spec, "c").lowest == ["MR"]  # affine: increasing on the whole line
    # a constant reward still earns 0 after a termination: G(one) ∈ [0, 10], not {10}
    assert reduce(spec, "d").lowest == ["ONMR"]


def test_rules_are_listed_once():
    names = [name for name, _ in RULES]
    assert len(names) == len(set(names)) and all(callable(f) for _, f in RULES)


# ---- the traps: not reduced, and the naive reduction changes the order -----------

def assert_orders_differ(spec, name: str, naive: str, free=(0,)):
    # in GAMBLE only the first state has a choice
    pols = policies(spec, n_random=3, free=free)
    assert order(scores(spec, name, pols)) != order(scores(spec, naive, pols))


def test_nonlinear_increasing_function_inside_E_is_not_reduced():
    # risk-seeking: E[exp(G)] prefers the gamble, E[G] the sure 1
    spec = spec_of('''
objective o { maximize E[exp(G(r))] }
objective naive { maximize E[G(r)] }''', GAMBLE)
    out = reduce(spec, "o")
    assert out.steps == [] and out.lowest == ["INMR"]
    assert_orders_differ(spec, "o", "naive")


def test_function_not_monotone_on_the_range_is_not_reduced():
    # E[G(r)] ∈ [0, 15] on BASE: -(x - 5)^2 rises, then falls
    spec = spec_of('''
objective o { maximize -(E[G(r)] - 5) ^ 2 }
objective naive { maximize E[G(r)] }''')
    out = reduce(spec, "o")
    assert out.steps == [] and out.lowest == ["ONMR"]
    assert_orders_differ(spec, "o", "naive")


def test_scaled_return_next_to_a_regulariser_is_not_reduced():
    # the regulariser is added to 2 * E[G(r)]: halving the return changes the trade-off
    spec = spec_of('''
objective o { maximize 2 * E[G(r)]  regularize 3 * entropy(pi) }
objective naive { maximize E[G(r)]  regularize 3 * entropy(pi) }
objective shifted { maximize E[G(r)] + 1  regularize 3 * entropy(pi) }''')
    assert reduce(spec, "o").steps == []
    pols = policies(spec, n_random=6, free=None)
    assert order(scores(spec, "o", pols)) != order(scores(spec, "naive", pols))
    # a shift keeps it: reduced, and the same order
    out = reduced(spec, "shifted")
    assert goal_text(out) == "maximize E[G(r)]"
    assert_same_order(spec, "shifted", out.spec)


def test_lex_of_two_is_not_reduced():
    # every policy reaches `end` at step 2 (a tie on the first component); the second
    # prefers the gamble: dropping it changes the order
    spec = spec_of('''
objective o { maximize lex(E[G(reach_end)], E[G(lucky)]) }
objective naive { maximize E[G(reach_end)] }
objective p { maximize pareto(E[G(reach_end)], E[G(lucky)]) }''', GAMBLE)
    out = reduce(spec, "o")
    assert out.steps == [] and out.lowest == ["GOMORL"]
    assert reduce(spec, "p").lowest == ["pareto"]
    assert_orders_differ(spec, "o", "naive")


def test_two_state_machine_is_not_reduced():
    # reward at `end` only after `mid` was seen: the naive Markov reward Σ [guard] * reward
    # forgets the machine's state and pays the gamble too
    spec = spec_of('''
machine m2 {
    start u0
    u0 -> u1 when at_mid
    u1 -> u1 when at_end  reward 1
}
objective o { maximize E[G(m2)] }
objective naive { maximize E[G([at_end])] }''', GAMBLE)
    out = reduce(spec, "o")
    assert out.steps == [] and out.lowest == ["RM"]
    assert_orders_differ(spec, "o", "naive")
