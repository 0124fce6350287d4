"""`objlang solve`: the exact optimum of an objective on a finite environment.

The objective's goal decides the engine:

* ``P[φ]`` (ltl): the product with a deterministic parity automaton; the
  accepting end components (for each even colour c, the end components using
  only edges of colour >= c that contain an edge of colour c); then maximal
  reachability of them. ``minimize P[φ]`` is one minus the maximal probability
  of the odd (rejecting) end components.
* ``P[φ]`` (ltlf): the product with the DFA; reachability of a terminated
  state whose DFA state accepts (a trace that never terminates satisfies no
  ltlf formula).
* ``E[G(r)]``, ``E[G(r, γ)]``: discounted values by policy iteration;
  ``E[G(m)]`` of a machine: the same on the product with the machine;
* ``E[avg(r)]``: the gain-optimal limit average of multichain MDPs (objlang/finite/average.py);
* constraints (chance constraints ``P[φ] >= p`` too), ``lex``, ``min``,
  ``pareto``, linear combinations of returns, undiscounted totals ``E[sum(r)]``
  and regularisers: objlang/finite/occupancy.py.

Forms with no exact engine yet are refused with the formalism they are
written in and the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy

from ..automata import automaton_of
from ..automata.table import Automaton
from ..errors import Loc, ObjlangError
from ..ir import nodes as n
from ..ir import sym
from ..ir.evaluate import Scope
from .extract import finite_env, labels, transition_values
from .mec import mec_partition
from .model import FiniteMDP
from .product import Product, edge_rewards, product
from .reach import reach_prob


@dataclass(frozen=True, eq=False)
class Solution:
    """An exact optimum and a finite-memory policy that attains it."""

    objective: str
    value: float
    env_states: int
    product_states: int
    policy: dict = field(repr=False)
    solver: str
    values: np.ndarray = field(repr=False, default=None)
    product: Product | None = field(repr=False, default=None)
    #: lex: the value of every component; pareto: the value vector of every vertex
    components: list | None = None
    pareto: list | None = None

    def to_json(self) -> dict:
        out = {"objective": self.objective, "value": self.value,
               "env_states": self.env_states, "product_states": self.product_states,
               "policy": self.policy, "solver": self.solver}
        if self.components is not None:
            out["components"] = self.components
        if self.pareto is not None:
            out["pareto"] = self.pareto
        return out


def pick_objective(spec: n.Spec, name: str | None) -> n.ObjectiveDecl:
    """The objective called ``name``, or the only one."""
    objs = spec.objectives
    if name is None:
        if len(objs) != 1:
            raise ObjlangError(
                f"the spec has {len(objs)} objectives; choose one with --objective",
                Loc(spec.file, 1, 1), hint="objectives: " + (", ".join(o.name for o in objs) or "none"))
        return objs[0]
    for o in objs:
        if o.name == name:
            return o
    raise ObjlangError(f"no objective named '{name}'", Loc(spec.file, 1, 1),
                       hint="objectives: " + (", ".join(o.name for o in objs) or "none"))


def state_letters(auto: Automaton, mdp: FiniteMDP, spec: n.Spec) -> np.ndarray:
    """The letter of every state for a formula automaton (props on the state)."""
    scope = Scope.of(spec)
    props = [p for p in auto.props if p in scope.props]
    cols = labels(mdp, spec, props, {p: auto.conditions[p] for p in auto.props
                                     if p not in scope.props})
    return auto.letters(cols) if auto.props else np.zeros(mdp.n_states, np.int64)


def transition_letters(auto: Automaton, mdp: FiniteMDP, spec: n.Spec) -> np.ndarray:
    """The letter of every transition (aligned with ``mdp.P.data``) for a machine."""
    P = mdp.P.tocsr()
    P.sort_indices()
    out = np.zeros(P.nnz, np.int64)
    for i, p in enumerate(auto.props):
        vals = transition_values(mdp, spec, sym.Iverson(auto.conditions[p]))
        vals = vals.tocsr()
        vals.sort_indices()
        aligned = np.asarray(vals[np.repeat(np.arange(P.shape[0]), np.diff(P.indptr)),
                                  P.indices]).ravel()
        out |= (aligned > 0.5).astype(np.int64) << i
    return out


def build_product(mdp: FiniteMDP, spec: n.Spec, autos: list[Automaton]) -> Product:
    """The product of the env with formula and machine automata."""
    machine = [a.acceptance == "machine" for a in autos]
    return product(mdp, autos,
                   [None if m else state_letters(a, mdp, spec) for a, m in zip(autos, machine)],
                   [transition_letters(a, mdp, spec) if m else None
                    for a, m in zip(autos, machine)],
                   [edge_rewards(a, mdp, spec) if m else None for a, m in zip(autos, machine)])


def parity_conditions(colors, n_states: int, n_actions: int, parity: int) -> list:
    """The Streett-style conditions of a parity product, one per colour c of the
    given parity (0: even, accepting; 1: odd, rejecting): ``(allowed, takes)``
    with ``allowed`` the ``(S, A)`` actions whose edges all have colours >= c and
    ``takes`` the ``(S * A,)`` rows that may take an edge of colour c. An end
    component of the allowed actions with an action that takes c has least
    colour c seen infinitely often.

    ``colors`` is aligned with ``mdp.P`` and holds colour + 1 (0: none)."""
    c = colors.tocsr()
    top = np.iinfo(np.int64).max // 2
    data = np.where(c.data >= 1, c.data - 1, top).astype(np.int64)
    rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
    row_min = np.full(c.shape[0], top)
    np.minimum.at(row_min, rows, data)
    out = []
    for color in np.unique(data[(data < top) & (data % 2 == parity)]):
        takes = np.zeros(c.shape[0], bool)
        np.logical_or.at(takes, rows, data == color)
        out.append(((row_min >= color).reshape(n_states, n_actions), takes))
    return out


def accepting_states(mdp: FiniteMDP, colors, parity: int) -> np.ndarray:
    """States of end components whose least colour seen infinitely often has
    the given parity (0: even, accepting; 1: odd, rejecting); see
    :func:`parity_conditions`."""
    S, A = mdp.n_states, mdp.n_actions
    good = np.zeros(S, bool)
    for allowed, takes in parity_conditions(colors, S, A, parity):
        mec_id, act = mec_partition(mdp, allowed)
        hit = (takes.reshape(S, A) & act).any(axis=1)
        ids = np.unique(mec_id[hit])
        good |= np.isin(mec_id, ids[ids >= 0])
    return good


def _discount(obj: n.ObjectiveDecl, spec: n.Spec, ret) -> float:
    gamma = spec.discount_for(obj, ret)
    if gamma is None:
        raise ObjlangError("G(r) needs a discount: declare `discount 0.99`, give the "
                           "objective one, or write G(r, 0.99)", obj.loc, source=spec.source)
    return gamma


def _policy_json(mdp: FiniteMDP, pol: np.ndarray) -> dict:
    return {mdp.state_names[s]: mdp.action_names[a] for s, a in enumerate(pol) if a >= 0}


def _unsupported(obj: n.ObjectiveDecl, spec: n.Spec, why: str) -> ObjlangError:
    from ..expressivity import written_in

    key, _ = written_in(obj, spec)
    return ObjlangError(f"objective '{obj.name}' is written in {key}; {why}", obj.loc,
                        source=spec.source)


def solve(spec: n.Spec, objective: str | None = None) -> Solution:
    """The exact optimum of an objective of a checked spec on its finite env.

    >>> import objlang
    >>> s = objlang.loads('''mdp m { start s0
    ...     s0 safe -> s1
    ...     s0 risky -> s2 : 0.9, s3 : 0.1
    ...     s1 * -> s1
    ...     s2 * -> s2
    ...     s3 * -> s3 }
    ... env m
    ... prop bad = obs == s3
    ... prop good = obs == s2
    ... ltl f = F good
    ... objective o { maximize P[f] }''')
    >>> round(solve(s).value, 9)
    0.9
    """
    obj = pick_objective(spec, objective)
    goal = obj.goal
    maximize = goal.sense == "maximize"
    e = goal.expr
    mdp = finite_env(spec)
    if obj.constraints or obj.regularizers or isinstance(e, (sym.Lex, sym.Pareto, sympy.Min)):
        from .occupancy import solve_occupancy

        return solve_occupancy(obj, spec, mdp)
    if isinstance(e, sym.Prob):
        return _solve_formula(obj, spec, mdp, e.args[0], maximize)
    if isinstance(e, sym.Expect) and isinstance(e.args[0], sym.Ret):
        return _solve_return(obj, spec, mdp, e.args[0], maximize)
    if isinstance(e, sym.Expect) and isinstance(e.args[0], sym.Avg):
        from .average import average_value

        R = transition_values(mdp, spec, e.args[0].args[0], where=obj)
        gains, pol = average_value(mdp, R, maximize)
        return Solution(obj.name, float(mdp.init @ gains), mdp.n_states, mdp.n_states,
                        _policy_json(mdp, pol),
                        "maximal end components, gain inside each, best reachable gain",
                        gains)
    from .occupancy import solve_occupancy

    # totals, linear combinations of returns and probabilities; refuses the rest
    return solve_occupancy(obj, spec, mdp)


def _formula_name(spec: n.Spec, phi, name: str = "_goal") -> tuple[str, n.Spec]:
    """A named formula for φ (an inline formula gets a temporary declaration ``name``)."""
    if isinstance(phi, sympy.Symbol) and any(d.name == phi.name for d in spec.of_type(n.LtlDecl)):
        return phi.name, spec
    import dataclasses

    finite = any(d.finite and d.name in {s.name for s in phi.atoms(sympy.Symbol)}
                 for d in spec.of_type(n.LtlDecl))
    decl = n.LtlDecl(name, phi, finite)
    return name, dataclasses.replace(spec, decls=spec.decls + (decl,))


def _solve_formula(obj, spec, mdp, phi, maximize) -> Solution:
    name, spec = _formula_name(spec, phi)
    auto = automaton_of(spec, name)
    prod = build_product(mdp, spec, [auto])
    pm = prod.mdp
    if auto.acceptance == "finite":
        target = pm.terminal & auto.final[prod.q[:, 0]]
        values, pol = reach_prob(pm, target, maximize)
        solver = "product with DFA, reachability of accepting terminations"
    elif maximize:
        values, pol = reach_prob(pm, accepting_states(pm, prod.color[0], 0), True)
        solver = "product with parity automaton, accepting MECs, max reachability"
    else:
        bad, pol = reach_prob(pm, accepting_states(pm, prod.color[0], 1), True)
        values = 1.0 - bad
        solver = "product with parity automaton, rejecting MECs, 1 - max reachability"
    return Solution(obj.name, float(pm.init @ values), mdp.n_states, pm.n_states,
                    _policy_json(pm, pol), solver, values, prod)


def _solve_return(obj, spec, mdp, ret, maximize) -> Solution:
    from .discounted import discounted_value

    gamma = _discount(obj, spec, ret)
    x = ret.args[0]
    machine = next((d for d in spec.of_type(n.MachineDecl)
                    if isinstance(x, sympy.Symbol) and d.name == x.name), None)
    if machine is not None:
        prod = build_product(mdp, spec, [automaton_of(spec, machine.name)])
        pm, R = prod.mdp, prod.reward[0]
        solver = f"product with machine, policy iteration (γ = {gamma:g})"
    else:
        prod, pm = None, mdp
        R = transition_values(mdp, spec, x, where=obj)
        solver = f"policy iteration (γ = {gamma:g})"
    values, pol = discounted_value(pm, R, gamma, maximize)
    return Solution(obj.name, float(pm.init @ values), mdp.n_states, pm.n_states,
                    _policy_json(pm, pol), solver, values, prod)
