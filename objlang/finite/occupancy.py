"""`solve` for the forms that need linear programs or regularised values.

Discounted returns (one discount γ), on the env, or on the product of the env
with the machines whose returns ``E[G(m)]`` occur (the policy is then one of
product states: finite memory):

* ``c + Σ w_i E[G(x_i)]``: the reward ``Σ w_i r_i`` (an exact reduction to
  Markov rewards), solved by policy iteration;
* ``min(E[G(a)], E[G(b)], ...)``: Chebyshev scalarisation (weights 1, reference 0);
* ``lex(v_1, v_2, ...)``, each a linear combination of returns: action
  elimination by policy iteration (sequential LPs under constraints);
* ``pareto(...)``: the exact Pareto vertices (2 or 3 objectives);
* ``subject to E[G(c)] <= b`` (or ``>=``): the constrained MDP LP;
* ``regularize w * entropy(pi)`` (a bonus) or ``w * kl(pi, prior)`` (a penalty):
  soft policy iteration.

Undiscounted totals ``E[sum(x)]`` and probabilities ``P[φ]`` (linear
combinations of them as the goal and in constraints, chance constraints
``P[φ] >= p`` included), on the product of the env with the automata of the
formulas: one LP over expected visits with stop choices
(:func:`objlang.finite.lp.total_reward`). A run may stop in an end component
of the product where every total stays 0 forever, and counts as satisfying the
formulas whose acceptance that end component meets; probabilities enter every
inequality on the side where a lower bound is exact (``P[φ] <= p`` is read as
``P[!φ] >= 1 - p``).

Discounted returns together with probabilities or totals (mixed criteria) are
refused with the reason.
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from ..syntax.printer import expr as show
from .extract import transition_values
from .model import FiniteMDP

_SENSE = {sym.Le_: "<=", sym.Lt_: "<=", sym.Ge_: ">=", sym.Gt_: ">="}

_HANDLED = ("`solve` handles P[φ], E[G(r)], E[G(m)], E[sum(r)], E[avg(r)], linear "
            "combinations of expected returns, totals and probabilities, min, lex and pareto "
            "of E[G(r)], constraints on returns, totals and probabilities and entropy/KL "
            "regularisers so far")

_MIXED = ("discounted returns E[G(...)] do not combine exactly with probabilities P[...] or "
          "undiscounted totals E[sum(...)]: under a chance constraint the best discounted "
          "value may need a non-stationary policy and may not be attained (mixed criteria, "
          "Feinberg & Shwartz 1994, 1995); write the goal as an undiscounted total E[sum(r)] or a "
          "probability P[ψ]")


def _fail(obj, spec, why: str) -> ObjlangError:
    from .solve import _unsupported

    return _unsupported(obj, spec, why)


def linear_terms(e) -> tuple[list, float] | None:
    """``(terms, constant)`` when ``e`` is ``c + Σ w_i a_i`` with every ``a_i`` an
    ``E[G(x)]``, ``E[sum(x)]`` or ``P[φ]`` (terms: ``(w_i, a_i)``), else None."""
    terms, const = [], 0.0
    for t in sympy.Add.make_args(e):
        coeff, rest = t.as_coeff_Mul()
        if rest == 1 and coeff.is_number:
            const += float(coeff)
        elif isinstance(rest, sym.Prob) or (
                isinstance(rest, sym.Expect) and isinstance(rest.args[0], (sym.Ret, sym.Total))):
            terms.append((float(coeff), rest))
        else:
            return None
    return (terms, const) if terms else None


def linear_parts(obj: n.ObjectiveDecl, spec: n.Spec):
    """``(order, goals, constraints)`` of an objective whose goal and constraints
    are linear in expected returns, totals and probabilities (else an error):
    ``order`` is sym.Lex, sym.Pareto, sympy.Min or None; ``goals`` the
    :func:`linear_terms` of the goal (one) or of each argument of the order;
    ``constraints`` ``(terms, sense, bound, text)`` for ``Σ w a sense bound``
    (sense ``"<="`` or ``">="``)."""
    e = obj.goal.expr
    order = type(e) if isinstance(e, (sym.Lex, sym.Pareto, sympy.Min)) else None
    goals = []
    for part in e.args if order else (e,):
        lin = linear_terms(part)
        if lin is None:
            raise _fail(obj, spec, _HANDLED)
        goals.append(lin)
    cons = []
    for con in obj.constraints:
        text = show(con.expr)
        lin = linear_terms(con.expr.args[0] - con.expr.args[1]) \
            if type(con.expr) in _SENSE else None
        if lin is None:
            raise _fail(obj, spec, f"the constraint `{text}` is not a comparison of a linear "
                                   f"combination of expected returns, totals and "
                                   f"probabilities with a number")
        terms, c = lin
        cons.append((terms, _SENSE[type(con.expr)], -c, text))
    return order, goals, cons


def _machine(spec, atom) -> str | None:
    """The machine whose return ``atom`` (an E[G(x)]) is, if any."""
    x = atom.args[0].args[0]
    if isinstance(x, sympy.Symbol) and any(d.name == x.name for d in spec.of_type(n.MachineDecl)):
        return x.name
    return None


def _product(mdp, spec, names: list[str]):
    """The product of ``mdp`` with the automata called ``names`` (None: none)."""
    from ..automata import automaton_of
    from .solve import build_product

    if not names:
        return None, mdp
    prod = build_product(mdp, spec, [automaton_of(spec, m) for m in names])
    return prod, prod.mdp


def _policy_json(mdp: FiniteMDP, pi: np.ndarray, extra: tuple[str, ...] = ()) -> dict:
    """State name -> action (or ``{action: probability}``); ``extra`` names the
    columns after the actions."""
    names = mdp.action_names + extra
    out = {}
    for s in range(mdp.n_states):
        row = {names[a]: float(p) for a, p in enumerate(pi[s]) if p > 1e-12}
        out[mdp.state_names[s]] = next(iter(row)) if len(row) == 1 else row
    return out


def _located(obj, spec, exc: ObjlangError) -> ObjlangError:
    """An error of an LP solver, placed at the objective."""
    if exc.loc is not None:
        return exc
    return ObjlangError(f"objective '{obj.name}': {exc.message}", obj.loc, exc.hint,
                        spec.source)


def solve_occupancy(obj: n.ObjectiveDecl, spec: n.Spec, mdp: FiniteMDP):
    """The exact optimum of the forms listed in the module docstring."""
    order, goals, cons = linear_parts(obj, spec)
    atoms = [a for terms, _ in goals for _, a in terms] + [a for c in cons for _, a in c[0]]
    discounted = {isinstance(a, sym.Expect) and isinstance(a.args[0], sym.Ret) for a in atoms}
    if discounted == {True, False}:
        raise _fail(obj, spec, _MIXED)
    try:
        if True in discounted:
            return _solve_discounted(obj, spec, mdp, order, goals, cons)
        if obj.regularizers:
            raise _fail(obj, spec, "regularisers go with discounted returns E[G(r)] only")
        if order:
            raise _fail(obj, spec, "lex, min and pareto of undiscounted totals and "
                                   "probabilities are not solved exactly yet")
        return _solve_undiscounted(obj, spec, mdp, goals[0], cons)
    except ObjlangError as exc:
        raise _located(obj, spec, exc) from None


# ---------------------------------------------------------------------------
# discounted returns


def _solve_discounted(obj, spec, mdp, order, goals, cons):
    from . import lp
    from .discounted import discounted_value
    from .solve import Solution, _discount

    maximize = obj.goal.sense == "maximize"
    atoms = [a for terms, _ in goals for _, a in terms] + [a for c in cons for _, a in c[0]]
    machines = list(dict.fromkeys(filter(None, (_machine(spec, a) for a in atoms))))
    prod, pm = _product(mdp, spec, machines)
    gammas = {_discount(obj, spec, a.args[0]) for a in atoms}
    if len(gammas) > 1:
        raise _fail(obj, spec, "its returns use different discounts")
    gamma = gammas.pop()

    def reward(terms):
        out = None
        for w, a in terms:
            m = _machine(spec, a)
            R = prod.reward[machines.index(m)] if m else \
                transition_values(pm, spec, a.args[0].args[0], where=obj)
            out = w * R if out is None else out + w * R
        return out

    costs = [(reward(terms), sense, bound, text) for terms, sense, bound, text in cons]
    init = np.asarray(pm.init)
    env_n, prod_n = mdp.n_states, pm.n_states

    def solution(value, policy, solver, values=None, **kw):
        return Solution(obj.name, value, env_n, prod_n, policy, f"{solver} (γ = {gamma:g})",
                        values, prod, **kw)

    if obj.regularizers:
        if costs or order:
            raise _fail(obj, spec, "regularisers together with constraints or orders are not "
                                   "solved exactly yet")
        (terms, const), = goals
        R = reward(terms) * (1 if maximize else -1)
        alpha_kl, alpha_h, prior = 0.0, 0.0, None
        for r in obj.regularizers:
            for t in sympy.Add.make_args(r.expr):
                w, atom = t.as_coeff_Mul()
                if isinstance(atom, sym.Entropy):
                    alpha_h += float(w)
                elif isinstance(atom, sym.KL):
                    alpha_kl += float(w)
                    prior = _prior(spec, atom.args[1].name, pm)
                else:
                    raise _fail(obj, spec, "a regulariser is a weighted entropy(pi) or kl")
        if alpha_kl > 0:
            V, pi = lp.soft_value(pm, R, gamma, alpha_kl, prior, entropy_alpha=alpha_h)
        else:
            V, pi = lp.soft_value(pm, R, gamma, alpha_h)
        value = float(init @ V) * (1 if maximize else -1) + const
        return solution(value, _policy_json(pm, pi), "soft policy iteration", V)
    sign = 1.0 if maximize else -1.0
    rewards = [reward(terms) for terms, _ in goals]
    consts = [c for _, c in goals]
    if order is sym.Pareto:
        front = lp.pareto_front(pm, gamma, [sign * R for R in rewards], constraints=costs)
        vertices = [[sign * float(x) + c for x, c in zip(v.values, consts)] for v in front]
        return solution(None, _policy_json(pm, front[0].policy) if front else {},
                        f"exact Pareto vertices ({len(front)}) by weighted "
                        f"{'LPs' if costs else 'policy iteration'}",
                        pareto=vertices)
    if order is sym.Lex:
        res = lp.lexicographic(pm, gamma, rewards, maximize=maximize, constraints=costs)
        values = [float(v) + c for v, c in zip(res.values, consts)]
        return solution(values[0], _policy_json(pm, res.policy),
                        "lexicographic LPs" if costs else
                        "lexicographic action elimination (policy iteration)",
                        components=values)
    if order is sympy.Min:
        if not maximize:
            raise _fail(obj, spec, "`minimize min(...)` is not a scalarisation; write "
                                   "`maximize min(...)`")
        res = lp.scalarised(pm, gamma, rewards, [1.0] * len(rewards), "chebyshev",
                            reference=[-c for c in consts], constraints=costs)
        return solution(float(res.value), _policy_json(pm, res.policy),
                        "Chebyshev scalarisation LP" if costs else
                        "Chebyshev scalarisation by column generation (policy iteration)")
    (R,), (const,) = rewards, consts
    if costs:
        res = lp.constrained(pm, gamma, R, costs, maximize)
        return solution(float(res.value) + const, _policy_json(pm, res.policy),
                        "constrained MDP LP over occupancy measures")
    V, pol = discounted_value(pm, R, gamma, maximize)
    return solution(float(init @ V) + const,
                    {pm.state_names[s]: pm.action_names[a] for s, a in enumerate(pol)},
                    "policy iteration on the combined reward", V)


def _prior(spec: n.Spec, name: str, mdp: FiniteMDP) -> np.ndarray:
    """A declared policy as an (S, A) matrix (unlisted states act uniformly)."""
    decl = next(d for d in spec.of_type(n.PolicyDecl) if d.name == name)
    S, A = mdp.n_states, mdp.n_actions
    pi = np.full((S, A), 1.0 / A)
    states = {nm: i for i, nm in enumerate(mdp.obs_names)}
    actions = {nm: i for i, nm in enumerate(mdp.action_names)}

    def index(x, table):
        return int(x) if isinstance(x, sympy.Integer) else table[x.name]

    for row in decl.rows or ():
        o = index(row.state, states)
        dist = np.zeros(A)
        for a, p in row.choices:
            dist[index(a, actions)] = 1.0 if p is None else float(p)
        pi[np.asarray(mdp.obs) == o] = dist
    return pi


# ---------------------------------------------------------------------------
# undiscounted totals and probabilities


def _lower_bounds(terms, const: float, direction: int, props: list):
    """Rewrite ``Σ w a + const`` so that every probability has a coefficient of
    sign ``direction`` (+1: goal to maximise or ``>=`` constraint; -1: goal to
    minimise or ``<=`` constraint), where the LP's count of satisfied formulas --
    a lower bound of the true probability -- is exact: ``w P[φ] = w - w P[!φ]``.
    Returns ``(totals [(w, atom)], probabilities {property index: w}, const)``;
    ``props`` collects the properties ``(φ, holds)``."""
    totals, probs = [], {}
    for w, a in terms:
        if not isinstance(a, sym.Prob):
            totals.append((w, a))
            continue
        prop = (a.args[0], w * direction >= 0)
        if not prop[1]:
            const += w
            w = -w
        if prop not in props:
            props.append(prop)
        i = props.index(prop)
        probs[i] = probs.get(i, 0.0) + w
    return totals, probs, const


def _acceptance(prod, i: int, holds: bool) -> list:
    """The ways a run staying in an end component of the product satisfies
    formula ``i`` (``holds``) or its negation: a list of ``(allowed (N, A) or
    None, states (N,) or None, required (N * A,) or None)`` -- an end component
    of the allowed actions on those states with a required action qualifies.

    Parity min even: for each colour c of the right parity, the actions whose
    edges all have colours >= c, with an action that may take colour c. DFA:
    terminated states in an accepting (or, negated, a rejecting) DFA state, or
    states not terminated (a trace that never ends satisfies no ltlf formula)."""
    pm, auto = prod.mdp, prod.automata[i]
    N, A = pm.n_states, pm.n_actions
    if auto.acceptance == "finite":
        done = pm.terminal & auto.final[prod.q[:, i]]
        return [(None, done if holds else ~done, None)]
    from .solve import parity_conditions

    return [(allowed, None, takes) for allowed, takes
            in parity_conditions(prod.color[i], N, A, 0 if holds else 1)]


def _stop_options(prod, pm, props: list, zero: np.ndarray):
    """Where a run may stop: ``(stops (N, m) bool, kinds)``, ``kinds[j]`` the set
    of properties stop choice j satisfies. For every set K of properties and
    every way of meeting each of them (:func:`_acceptance`), the maximal end
    components of the zero-reward actions meeting them all; a state keeps only
    the choices whose K is maximal there."""
    from .mec import mec_partition

    N = pm.n_states
    ways = [_acceptance(prod, i, holds) for i, holds in props]
    found = []  # (K, states)
    for K in sorted(range(2 ** len(props)), key=lambda k: -bin(k).count("1")):
        members = [i for i in range(len(props)) if K >> i & 1]
        good = np.zeros(N, bool)
        for combo in itertools.product(*(ways[i] for i in members)):
            allowed, states = zero.copy(), np.ones(N, bool)
            for a, st, _ in combo:
                allowed &= True if a is None else a
                states &= True if st is None else st
            mec_id, act = mec_partition(pm, allowed, states)
            ids = np.unique(mec_id[mec_id >= 0])
            for _, _, req in combo:
                if req is not None:
                    ids = np.intersect1d(ids, mec_id[(req.reshape(act.shape) & act).any(axis=1)])
            good |= np.isin(mec_id, ids) & (mec_id >= 0)
        covered = np.zeros(N, bool)
        for K2, st in found:  # a larger (or equal) set already offered there
            if K & K2 == K:
                covered |= st
        if (good & ~covered).any():
            found.append((K, good & ~covered))
    stops = np.stack([st for _, st in found], axis=1) if found else np.zeros((N, 0), bool)
    return stops, [frozenset(i for i in range(len(props)) if K >> i & 1) for K, _ in found]


def _solve_undiscounted(obj, spec, mdp, goal, cons):
    from . import lp
    from .solve import Solution, _formula_name

    maximize = obj.goal.sense == "maximize"
    props: list = []
    g_totals, g_probs, g_const = _lower_bounds(*goal, 1 if maximize else -1, props)
    rows = []  # (totals, probs, constant, sense, bound, text)
    for terms, sense, bound, text in cons:
        rows.append((*_lower_bounds(terms, 0.0, 1 if sense == ">=" else -1, props), sense,
                     bound, text))
    formulas = list(dict.fromkeys(phi for phi, _ in props))
    names = []
    for k, phi in enumerate(formulas):
        name, spec = _formula_name(spec, phi, f"_goal{k}")
        names.append(name)
    prod, pm = _product(mdp, spec, names)
    # sum(x) takes rewards only (the type checker refuses a machine there)
    R_of = {a: transition_values(pm, spec, a.args[0].args[0], where=obj)
            for a in dict.fromkeys([a for _, a in g_totals] + [a for r in rows for _, a in r[0]])}
    zero = np.ones((pm.n_states, pm.n_actions), bool)
    for R in R_of.values():
        zero &= (lp.expected_reward(pm, abs(R)) == 0).reshape(zero.shape)
    stops, kinds = _stop_options(prod, pm, [(formulas.index(phi), holds)
                                            for phi, holds in props], zero)

    def quantity(t_terms, probs, const):
        # every run stops once (Σ z = 1): the constant is a terminal reward of every choice
        R = sum((w * R_of[a] for w, a in t_terms), start=0)
        t = np.array([const + sum(w for i, w in probs.items() if i in K) for K in kinds])
        return (R, t)

    costs = [(quantity(t, p, c), s, b, text) for t, p, c, s, b, text in rows]
    res = lp.total_reward(pm, quantity(g_totals, g_probs, g_const), stops, costs, maximize)

    def prop_text(i):
        phi, holds = props[i]
        return show(phi if holds else sym.Not_(phi))

    stay = tuple("stay" + (" (" + ", ".join(prop_text(i) for i in sorted(K)) + ")" if K else "")
                 for K in kinds)
    k = len(names)
    return Solution(obj.name, float(res.value), mdp.n_states, pm.n_states,
                    _policy_json(pm, res.policy, stay),
                    "undiscounted LP over expected visits with stop choices in end "
                    "components (Etessami et al. 2008, Forejt et al. 2011)"
                    + (f" on the product with {k} automat{'on' if k == 1 else 'a'}" if k else ""),
                    product=prod)
