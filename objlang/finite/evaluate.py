"""Exact values of a given policy: the engine that the expressivity checks and
the trainers' evaluation use.

A stationary policy of the environment (``(S, A)`` row-stochastic, or ``(S,)``
actions, over the states of :func:`~objlang.finite.extract.finite_env`) fixes a
Markov chain. On it, every atom of the value level has an exact value:

* ``P[φ]``: the chain times the formula's automaton; for ltl the bottom strongly
  connected components whose least colour is even, then the probability of
  reaching them; for ltlf the probability of terminating in an accepting DFA state;
* ``E[G(r)]`` and ``E[G(m)]``: a linear solve (on the product for a machine);
* ``Var[G(r)]``: the second moment solves ``M = b + γ² P M`` with
  ``b(s) = E[r² + 2γ r V(s')]``, then ``M - V²``;
* ``E[avg(r)]``: the chain's gains (stationary distributions of its recurrent classes);
* ``pi(s, a)``: the policy itself.

The goal is then evaluated by substituting these values into its expression
(``lex``/``pareto`` give the vector of their components).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import sympy

from ..automata import automaton_of
from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from .extract import finite_env, transition_values
from .model import FiniteMDP
from .reach import _solve, policy_matrix


def chain_of(mdp: FiniteMDP, pi: np.ndarray) -> FiniteMDP:
    """The Markov chain of a policy as a one-action FiniteMDP (same states)."""
    S, A = mdp.n_states, mdp.n_actions
    G = sp.csr_matrix((pi.ravel(), (np.repeat(np.arange(S), A), np.arange(S * A))),
                      shape=(S, S * A))
    P = (G @ mdp.P.tocsr()).tocsr()
    P.sort_indices()
    # the env's reward of a chain transition: its mean over the policy's actions
    num = (G @ mdp.P.tocsr().multiply(mdp.env_reward)).tocsr()
    rows = np.repeat(np.arange(S), np.diff(P.indptr))
    R = P.copy()
    R.data = np.asarray(num[rows, P.indices]).ravel() / np.where(P.data > 0, P.data, 1.0)
    return FiniteMDP(mdp.name + " (policy)", mdp.state_names, ("policy",), P, mdp.init,
                     mdp.obs, mdp.terminal, R, mdp.obs_names)


def _per_state(mdp: FiniteMDP, pi: np.ndarray, per_row: np.ndarray) -> np.ndarray:
    """Σ_a pi(a|s) x(s, a) for a vector x over the rows (s, a) of P."""
    return (pi * per_row.reshape(mdp.n_states, mdp.n_actions)).sum(axis=1)


class _Evaluator:
    def __init__(self, spec: n.Spec, obj: n.ObjectiveDecl, mdp: FiniteMDP, pi: np.ndarray):
        self.spec, self.obj, self.mdp, self.pi = spec, obj, mdp, pi
        self.chain = chain_of(mdp, pi)

    def atom(self, a) -> float:
        if isinstance(a, sym.Prob):
            return self.probability(a.args[0])
        if isinstance(a, sym.Expect) and isinstance(a.args[0], sym.Ret):
            return self.discounted(a.args[0])[0]
        if isinstance(a, sym.Variance) and isinstance(a.args[0], sym.Ret):
            mean, second = self.discounted(a.args[0], second_moment=True)
            return second - mean ** 2
        if isinstance(a, sym.Expect) and isinstance(a.args[0], sym.Avg):
            from .average import evaluate_average

            R = transition_values(self.mdp, self.spec, a.args[0].args[0], where=self.obj)
            return float(self.mdp.init @ evaluate_average(self.mdp, R, self.pi))
        if isinstance(a, sym.PiProb):
            return self.pi_prob(*a.args)
        from .solve import _unsupported
        raise _unsupported(self.obj, self.spec, f"{a} has no exact policy evaluation yet")

    def discounted(self, ret, second_moment: bool = False):
        from .solve import _discount

        gamma = _discount(self.obj, self.spec, ret)
        x = ret.args[0]
        machine = isinstance(x, sympy.Symbol) and any(
            d.name == x.name for d in self.spec.of_type(n.MachineDecl))
        if machine:
            from .solve import build_product

            prod = build_product(self.mdp, self.spec, [automaton_of(self.spec, x.name)])
            mdp, pi, R = prod.mdp, self.pi[prod.state], prod.reward[0]
        else:
            mdp, pi = self.mdp, self.pi
            R = transition_values(self.mdp, self.spec, x, where=self.obj)
        P = mdp.P.tocsr()
        chain = chain_of(mdp, pi).P.tocsc()
        eye = sp.identity(mdp.n_states, format="csc")
        r = _per_state(mdp, pi, np.asarray(P.multiply(R).sum(axis=1)).ravel())
        v = _solve(eye - gamma * chain, r)
        if not second_moment:
            return float(mdp.init @ v), None
        # E[G²] = E[r² + 2γ r V(s') + γ² G'²]: per (s, a) row, over next states s'
        Rc = R.tocsr()
        RV = Rc.copy()
        RV.data = Rc.data * v[Rc.indices]
        b = _per_state(mdp, pi, np.asarray(P.multiply(Rc.multiply(Rc) + 2 * gamma * RV)
                                           .sum(axis=1)).ravel())
        m = _solve(eye - gamma ** 2 * chain, b)
        return float(mdp.init @ v), float(mdp.init @ m)

    def probability(self, phi) -> float:
        from .reach import reach_prob
        from .solve import _formula_name, accepting_states, build_product

        name, spec = _formula_name(self.spec, phi)
        auto = automaton_of(spec, name)
        prod = build_product(self.chain, spec, [auto])
        pm = prod.mdp
        if auto.acceptance == "finite":
            target = pm.terminal & auto.final[prod.q[:, 0]]
        else:
            target = accepting_states(pm, prod.color[0], 0)
        values, _ = reach_prob(pm, target, True)
        return float(pm.init @ values)

    def pi_prob(self, s, a) -> float:
        states = {nm: i for i, nm in enumerate(self.mdp.obs_names)}
        acts = {nm: i for i, nm in enumerate(self.mdp.action_names)}
        o = int(s) if isinstance(s, sympy.Integer) else states[s.name]
        k = int(a) if isinstance(a, sympy.Integer) else acts[a.name]
        rows = np.flatnonzero(np.asarray(self.mdp.obs) == o)
        return float(self.pi[rows[0], k])


def evaluate(spec: n.Spec, policy, objective: str | None = None):
    """The exact value of an objective's goal for a stationary policy of the env.

    ``policy``: ``(S, A)`` row-stochastic array or ``(S,)`` actions over the
    states of ``finite_env(spec)`` (absorbing copies included; their rows do not
    matter). Returns a float, or a list of floats for ``lex``/``pareto`` goals.

    >>> import objlang, numpy as np
    >>> s = objlang.loads("mdp m { start s  s a -> s  s b -> s }\\nenv m\\n"
    ...                   "reward r = [action == a]\\nobjective o { maximize E[G(r, 0.5)] }")
    >>> evaluate(s, np.array([[0.25, 0.75]]))
    0.5
    """
    from .solve import pick_objective

    obj = pick_objective(spec, objective)
    mdp = finite_env(spec)
    pi = policy_matrix(mdp, policy)
    ev = _Evaluator(spec, obj, mdp, pi)
    goal = obj.goal.expr
    parts = goal.args if isinstance(goal, (sym.Lex, sym.Pareto)) else (goal,)
    out = []
    for part in parts:
        atoms = {a for a in sympy.preorder_traversal(part)
                 if isinstance(a, (sym.Prob, sym.Expect, sym.Variance, sym.PiProb))}
        value = part.xreplace({a: sympy.Float(ev.atom(a)) for a in atoms})
        try:
            out.append(float(value))
        except TypeError:
            raise ObjlangError(f"cannot evaluate {value}", obj.loc, source=spec.source) \
                from None
    return out if isinstance(goal, (sym.Lex, sym.Pareto)) else out[0]
