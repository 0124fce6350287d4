"""Exact values of a given policy: the engine that the expressivity checks and
the trainers' evaluation use.

A stationary policy of the environment (``(S, A)`` row-stochastic, or ``(S,)``
actions, over the states of :func:`~objlang.finite.extract.finite_env`) fixes a
Markov chain. On it, every value atom of language.md §4 has a value:

* ``E[X]``, ``P[φ]`` (= ``E[[φ]]``), X any real function of ``G(r)``, ``G(r, γ)``,
  ``G(m)``, ``sum(r)``, ``avg(r)`` and ``[φ]`` (:mod:`objlang.finite.trajectory`):
  the runs are split by the recurrent class they end in (which decides every
  ``[φ]`` and ``avg(r)``), polynomials of returns come from moment equations
  (linear solves, exact), other functions from a truncation of the returns on a
  grid with an error bound;
* ``Var[X] = E[X²] - E[X]²``;
* ``entropy(occ(x))``: the entropy of the normalised discounted occupancy
  measure of x (below), ``entropy(pi)`` and ``kl(pi, q)``: their discounted sums
  along the run, as the regularisers of ``solve`` count them; all three from the
  discounted state occupancy (one linear solve);
* ``pi(s, a)``: the policy itself.

The goal is then evaluated on these numbers (``lex``/``pareto`` give the vector
of their components), the regularisers are added as ``solve`` adds them, and the
atoms' error bounds are carried through the goal's expression by interval
arithmetic (:mod:`objlang.finite.intervals`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import sympy

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from .extract import finite_env, transition_values
from .intervals import NoEnclosure, enclose
from .model import FiniteMDP
from .reach import _solve, chain_matrix, policy_matrix

#: the default target, in a return's units, of the truncation and the grid of E[f(G)]
DEFAULT_TOL = 1e-6

_ATOMS = (sym.Prob, sym.Expect, sym.Variance, sym.PiProb, sym.Entropy, sym.KL)


@dataclass(frozen=True)
class Evaluation:
    """The value of an objective for one policy.

    ``value`` is a float (a list for ``lex``/``pareto`` goals); ``error_bound``
    (likewise a float or a list) bounds ``|value - exact value|``: 0.0 where every
    atom is computed exactly (linear solves, up to floating point), positive where
    an ``E[f(G)]`` is truncated on a grid (infinite where f is unbounded near the
    grid's returns), None where no bound is available (an f that interval
    arithmetic does not cover).
    """

    objective: str
    value: float | list
    error_bound: float | list | None

    def to_json(self) -> dict:
        return {"objective": self.objective, "value": self.value,
                "error_bound": self.error_bound}


class _Evaluator:
    def __init__(self, spec: n.Spec, obj: n.ObjectiveDecl, mdp: FiniteMDP, pi: np.ndarray,
                 tol: float):
        self.spec, self.obj, self.mdp, self.pi, self.tol = spec, obj, mdp, pi, tol
        self.atoms: dict = {}
        self.occupancy: dict = {}

    def fail(self, why: str) -> ObjlangError:
        from .solve import _unsupported

        return _unsupported(self.obj, self.spec, why)

    def value(self, e) -> tuple[float, float | None]:
        """``e``'s value and error bound, its atoms replaced by their values."""
        atoms = sorted({a for a in sympy.preorder_traversal(e) if isinstance(a, _ATOMS)},
                       key=sympy.default_sort_key)
        return self.value_of(e, {a: self.atom(a) for a in atoms})

    def value_of(self, e, vals: dict) -> tuple[float, float | None]:
        """An expression of terms with known values and error bounds (``vals``: term ->
        (value, bound)): its value, and its bound by interval arithmetic."""
        try:
            value = float(e.xreplace({a: sympy.Float(v) for a, (v, _) in vals.items()}))
        except TypeError:
            raise ObjlangError(f"cannot evaluate {e}", self.obj.loc, source=self.spec.source) \
                from None
        bounds = [b for _, b in vals.values()]
        if None in bounds:
            return value, None
        if not any(bounds):
            return value, 0.0
        try:
            lo, hi = enclose(e, {a: (np.array(v - b), np.array(v + b))
                                 for a, (v, b) in vals.items()})
        except NoEnclosure:
            return value, None
        return value, float(max(hi - value, value - lo))

    def atom(self, a) -> tuple[float, float | None]:
        if a not in self.atoms:
            self.atoms[a] = self._atom(a)
        return self.atoms[a]

    def _atom(self, a):
        if isinstance(a, sym.Prob):
            return self.expect([sym.Iverson(a.args[0])])[0]
        if isinstance(a, sym.Expect):
            return self.expect([a.args[0]])[0]
        if isinstance(a, sym.Variance):
            x = a.args[0]
            (m1, b1), (m2, b2) = self.expect([x, x ** 2])
            one, two = sympy.Dummy(), sympy.Dummy()
            return self.value_of(two - one ** 2, {one: (m1, b1), two: (m2, b2)})
        if isinstance(a, sym.PiProb):
            return self.pi_prob(*a.args), 0.0
        if isinstance(a, sym.Entropy) and isinstance(a.args[0], sym.Occ):
            return self.occupancy_entropy(a.args[0].args[0]), 0.0
        return self.policy_term(a), 0.0  # entropy(pi), kl(pi, q)

    def expect(self, xs: list) -> list:
        from .trajectory import expectations

        return expectations(self.spec, self.obj, self.mdp, self.pi, xs, self.tol, self.fail)

    # ---- policy-level values --------------------------------------------------------
    def discount(self) -> float:
        """The objective's discount, or the file's: occupancies and regularisers use it."""
        top = next(iter(self.spec.of_type(n.DiscountDecl)), None)
        gamma = self.obj.discount if self.obj.discount is not None else \
            top.value if top is not None else None
        if gamma is None or float(gamma) >= 1:
            raise self.fail("occupancy measures and policy regularisers need a discount "
                            "below 1: declare `discount 0.99` or give the objective one")
        return float(gamma)

    def state_occupancy(self) -> np.ndarray:
        """``ν(s) = Σ_t γ^t Pr[s_t = s]`` (total mass 1 / (1 - γ))."""
        gamma = self.discount()
        if gamma not in self.occupancy:
            chain = chain_matrix(self.mdp, self.pi)
            eye = sp.identity(self.mdp.n_states, format="csc")
            self.occupancy[gamma] = _solve((eye - gamma * chain).T.tocsc(),
                                           np.asarray(self.mdp.init, float))
        return self.occupancy[gamma]

    def occupancy_entropy(self, x) -> float:
        """Entropy (nats) of d(v) = (1 - γ) Σ_t γ^t Pr[x_t = v], x on (o_t, a_t, o_{t+1})."""
        gamma = self.discount()
        mdp = self.mdp
        # the trace repeats a terminal state forever (language.md §6): x is read there too,
        # not zeroed as a reward would be
        values = transition_values(replace(mdp, terminal=np.zeros_like(mdp.terminal)),
                                   self.spec, x, where=self.obj)
        P = mdp.P.tocsr()
        rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
        A = mdp.n_actions
        mass = (1 - gamma) * self.state_occupancy()[rows // A] * self.pi[rows // A, rows % A] \
            * P.data
        _, which = np.unique(values.data, return_inverse=True)
        d = np.bincount(which, weights=mass)
        d = d[d > 0]
        return float(-(d * np.log(d)).sum())

    def policy_term(self, a) -> float:
        """``entropy(pi)``: E[Σ_t γ^t H(pi(.|s_t))]; ``kl(pi, q)``: the same of KL(pi || q)."""
        pi = self.pi
        logpi = np.log(np.where(pi > 0, pi, 1.0))
        if isinstance(a, sym.KL):
            from .occupancy import _prior

            prior = _prior(self.spec, a.args[1].name, self.mdp)
            with np.errstate(divide="ignore"):
                per_state = (pi * (logpi - np.log(np.where(pi > 0, prior, 1.0)))).sum(axis=1)
        else:
            per_state = -(pi * logpi).sum(axis=1)
        return float(self.state_occupancy() @ per_state)

    def regularisation(self) -> float:
        """The regularisers as ``solve`` counts them: entropy a bonus, kl a penalty."""
        total = 0.0
        for r in self.obj.regularizers:
            total += float(r.expr.xreplace(
                {a: sympy.Float(self.policy_term(a) * (-1 if isinstance(a, sym.KL) else 1))
                 for a in r.expr.atoms(sym.Entropy, sym.KL)}))
        return total

    def pi_prob(self, s, a) -> float:
        states = {nm: i for i, nm in enumerate(self.mdp.obs_names)}
        acts = {nm: i for i, nm in enumerate(self.mdp.action_names)}
        o = int(s) if isinstance(s, sympy.Integer) else states[s.name]
        k = int(a) if isinstance(a, sympy.Integer) else acts[a.name]
        rows = np.flatnonzero(np.asarray(self.mdp.obs) == o)
        return float(self.pi[rows[0], k])


def evaluation(spec: n.Spec, policy, objective: str | None = None, *,
               tol: float = DEFAULT_TOL, mdp: FiniteMDP | None = None) -> Evaluation:
    """The value of an objective for a stationary policy of the env, with an error bound.

    ``policy``: ``(S, A)`` row-stochastic array or ``(S,)`` actions over the
    states of ``finite_env(spec)`` (absorbing copies included: their rows matter
    only to occupancy measures and policy regularisers). ``tol``: the target
    accuracy, in a return's units, of the truncation and grid of ``E[f(G)]`` for
    a nonlinear f (the grid is also capped by ``trajectory.MAX_ENTRIES`` and
    ``MAX_WORK``); the bound actually reached is in ``error_bound``.

    ``mdp``: the finite MDP the policy acts on, ``finite_env(spec)`` by default. A
    product's MDP (``Solution.product.mdp``) observes what the env observes, so a
    finite-memory policy -- one action or distribution per product state, like the
    policies ``solve`` returns -- is a stationary policy there and evaluates exactly.

    >>> import objlang, numpy as np
    >>> s = objlang.loads("mdp m { start s  s a -> s  s b -> s }\\nenv m\\n"
    ...                   "reward r = [action == a]\\n"
    ...                   "objective o { maximize E[exp(-G(r, 0.5))] }")
    >>> e = evaluation(s, np.array([[1.0, 0.0]]))
    >>> round(e.value, 4), e.error_bound < 1e-5
    (0.1353, True)
    """
    from .solve import pick_objective

    obj = pick_objective(spec, objective)
    mdp = finite_env(spec) if mdp is None else mdp
    pi = policy_matrix(mdp, policy)
    ev = _Evaluator(spec, obj, mdp, pi, tol)
    goal = obj.goal.expr
    order = isinstance(goal, (sym.Lex, sym.Pareto))
    if order and obj.regularizers:
        raise ev.fail("regularisers together with lex or pareto have no single value")
    parts = [ev.value(p) for p in (goal.args if order else (goal,))]
    if order:
        return Evaluation(obj.name, [v for v, _ in parts], [b for _, b in parts])
    value, bound = parts[0]
    if obj.regularizers:
        value += ev.regularisation() * (1 if obj.goal.sense == "maximize" else -1)
    return Evaluation(obj.name, value, bound)


def evaluate(spec: n.Spec, policy, objective: str | None = None, *,
             tol: float = DEFAULT_TOL, mdp: FiniteMDP | None = None):
    """The value of an objective (its goal, plus its regularisers) for a stationary
    policy of the env: a float, or a list of floats for ``lex``/``pareto`` goals
    (:func:`evaluation` without the error bound).

    >>> import objlang, numpy as np
    >>> s = objlang.loads("mdp m { start s  s a -> s  s b -> s }\\nenv m\\n"
    ...                   "reward r = [action == a]\\nobjective o { maximize E[G(r, 0.5)] }")
    >>> evaluate(s, np.array([[0.25, 0.75]]))
    0.5
    """
    return evaluation(spec, policy, objective, tol=tol, mdp=mdp).value
