"""`solve` for the forms that need occupancy-measure LPs or regularised values:

* ``c + Σ w_i E[G(r_i)]`` with one discount: the reward ``Σ w_i r_i`` (an exact
  reduction to Markov rewards), solved by policy iteration;
* ``min(E[G(a)], E[G(b)], ...)``: Chebyshev scalarisation (weights 1, reference 0);
* ``lex(v_1, v_2, ...)``, each ``±E[G(r_i)]`` (or a linear combination of them):
  sequential LPs;
* ``pareto(...)``: the exact Pareto vertices (2 or 3 objectives);
* ``subject to E[G(c)] <= b`` (or ``>=``): the constrained MDP LP;
* ``regularize w * entropy(pi)`` (a bonus) or ``w * kl(pi, prior)`` (a penalty):
  soft policy iteration.

Everything here is on the env's MDP (returns of rewards, one discount); machines,
formulas and chance constraints ``P[φ] >= p`` are refused with the reason.
"""
from __future__ import annotations

import numpy as np
import sympy

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from .extract import transition_values
from .model import FiniteMDP


def _fail(obj, spec, why: str) -> ObjlangError:
    from .solve import _unsupported

    return _unsupported(obj, spec, why)


def _reward_of(obj, spec, mdp, e, gamma_box: list):
    """The transition reward matrix of a linear combination of E[G(r)] (+ sign)."""
    from .solve import _discount, linear_returns

    lin = linear_returns(e)
    if lin is None:
        raise _fail(obj, spec, f"`{e}` is not a linear combination of expected returns")
    terms, _ = lin
    R = None
    for w, ret in terms:
        x = ret.args[0]
        if isinstance(x, sympy.Symbol) and any(d.name == x.name
                                               for d in spec.of_type(n.MachineDecl)):
            raise _fail(obj, spec, "machine returns inside orders, constraints and "
                                   "scalarisations are not solved exactly yet")
        gamma = _discount(obj, spec, ret)
        if gamma_box and abs(gamma_box[0] - gamma) > 1e-15:
            raise _fail(obj, spec, "its returns use different discounts")
        gamma_box[:1] = [gamma]
        Ri = transition_values(mdp, spec, x, where=obj) * w
        R = Ri if R is None else R + Ri
    return R


def _constraints(obj, spec, mdp, gamma_box):
    costs = []
    for con in obj.constraints:
        lhs, rhs = con.expr.args
        flip = {sym.Le_: ">=", sym.Lt_: ">=", sym.Ge_: "<=", sym.Gt_: "<="}
        same = {sym.Le_: "<=", sym.Lt_: "<=", sym.Ge_: ">=", sym.Gt_: ">="}
        if isinstance(rhs, sympy.Number):
            value, bound, sense = lhs, float(rhs), same[type(con.expr)]
        elif isinstance(lhs, sympy.Number):
            value, bound, sense = rhs, float(lhs), flip[type(con.expr)]
        else:
            raise _fail(obj, spec, "a constraint compares a value with a number")
        if value.has(sym.Prob):
            raise _fail(obj, spec, "chance constraints P[φ] >= p are not solved exactly yet")
        costs.append((_reward_of(obj, spec, mdp, value, gamma_box), sense, bound))
    return costs


def _policy_json(mdp: FiniteMDP, pi: np.ndarray) -> dict:
    out = {}
    for s in range(mdp.n_states):
        row = {mdp.action_names[a]: float(p) for a, p in enumerate(pi[s]) if p > 1e-12}
        if len(row) == 1:
            out[mdp.state_names[s]] = next(iter(row))
        else:
            out[mdp.state_names[s]] = row
    return out


def solve_occupancy(obj: n.ObjectiveDecl, spec: n.Spec, mdp: FiniteMDP):
    """The exact optimum of the forms listed in the module docstring."""
    from . import lp
    from .discounted import discounted_value
    from .solve import Solution

    maximize = obj.goal.sense == "maximize"
    e = obj.goal.expr
    gamma_box: list = []
    costs = _constraints(obj, spec, mdp, gamma_box)
    init = np.asarray(mdp.init)
    if obj.regularizers:
        if costs or isinstance(e, (sym.Lex, sym.Pareto, sympy.Min)):
            raise _fail(obj, spec, "regularisers together with constraints or orders are not "
                                   "solved exactly yet")
        R = _reward_of(obj, spec, mdp, e if maximize else -e, gamma_box)
        alpha_kl, alpha_h, prior = 0.0, 0.0, None
        for r in obj.regularizers:
            for t in sympy.Add.make_args(r.expr):
                w, atom = t.as_coeff_Mul()
                if isinstance(atom, sym.Entropy):
                    alpha_h += float(w)
                elif isinstance(atom, sym.KL):
                    alpha_kl += float(w)
                    prior = _prior(spec, atom.args[1].name, mdp)
                else:
                    raise _fail(obj, spec, "a regulariser is a weighted entropy(pi) or kl")
        if alpha_kl > 0:
            V, pi = lp.soft_value(mdp, R, gamma_box[0], alpha_kl, prior, entropy_alpha=alpha_h)
        else:
            V, pi = lp.soft_value(mdp, R, gamma_box[0], alpha_h)
        value = float(init @ V) * (1 if maximize else -1)
        return Solution(obj.name, value, mdp.n_states, mdp.n_states, _policy_json(mdp, pi),
                        f"soft policy iteration (γ = {gamma_box[0]:g})", V)
    if isinstance(e, sym.Pareto):
        rewards = [_reward_of(obj, spec, mdp, a if maximize else -a, gamma_box) for a in e.args]
        front = lp.pareto_front(mdp, gamma_box[0], rewards, constraints=costs)
        vertices = [[float(x) for x in v.values] for v in front]
        return Solution(obj.name, None, mdp.n_states, mdp.n_states,
                        _policy_json(mdp, front[0].policy) if front else {},
                        f"exact Pareto vertices ({len(front)}) by weighted LPs "
                        f"(γ = {gamma_box[0]:g})", pareto=vertices)
    if isinstance(e, sym.Lex):
        signs, rewards = [], []
        for a in e.args:
            coeff, atom = a.as_coeff_Mul()
            positive = (coeff > 0) == maximize
            rewards.append(_reward_of(obj, spec, mdp, a if coeff > 0 else -a, gamma_box))
            signs.append(positive)
        res = lp.lexicographic(mdp, gamma_box[0], rewards, maximize=signs, constraints=costs)
        values = [float(v) if sg == maximize else -float(v)
                  for v, sg in zip(res.values, signs)]
        return Solution(obj.name, values[0], mdp.n_states, mdp.n_states,
                        _policy_json(mdp, res.policy),
                        f"lexicographic LPs (γ = {gamma_box[0]:g})", components=values)
    if isinstance(e, sympy.Min) and maximize:
        rewards = [_reward_of(obj, spec, mdp, a, gamma_box) for a in e.args]
        res = lp.scalarised(mdp, gamma_box[0], rewards, [1.0] * len(rewards), "chebyshev",
                            constraints=costs)
        return Solution(obj.name, float(res.value), mdp.n_states, mdp.n_states,
                        _policy_json(mdp, res.policy),
                        f"Chebyshev scalarisation LP (γ = {gamma_box[0]:g})")
    from .solve import linear_returns

    lin = linear_returns(e)
    if lin is None:
        raise _fail(obj, spec, "`solve` handles linear combinations, min, lex and pareto of "
                               "E[G(r)] here")
    R = _reward_of(obj, spec, mdp, e, gamma_box)
    if costs:
        res = lp.constrained(mdp, gamma_box[0], R, costs, maximize)
        return Solution(obj.name, float(res.value) + lin[1], mdp.n_states, mdp.n_states,
                        _policy_json(mdp, res.policy),
                        f"constrained MDP LP over occupancy measures (γ = {gamma_box[0]:g})")
    V, pol = discounted_value(mdp, R, gamma_box[0], maximize)
    return Solution(obj.name, float(init @ V) + lin[1], mdp.n_states, mdp.n_states,
                    {mdp.state_names[s]: mdp.action_names[a] for s, a in enumerate(pol)},
                    f"policy iteration on the combined reward (γ = {gamma_box[0]:g})", V)


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
