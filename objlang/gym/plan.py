"""What a compiled env must emit for an objective: its *plan*.

An objective of a checked spec becomes one of these per-step forms:

``return``
    a scalar Markov reward: ``c + Σ w_i E[G(x_i)]`` (or ``sum``/``avg``) where
    each x_i is a reward expression or a machine; the per-step reward is
    ``Σ w_i x_i`` (machines contribute the reward of the edge taken).
``ltl`` / ``ltlf``
    ``maximize P[φ]`` (``minimize P[φ]`` maximises ``P[!φ]``): a product with
    φ's automaton and an LTL reward scheme (:mod:`objlang.gym.schemes`); ``ltlf``
    pays 1 at the end of an episode whose trace the DFA accepts.
``vector``
    ``lex``, ``pareto``, ``min`` or another function of several expected
    returns (GOMORL, OMORL, ONMR): the float32 vector of the per-step rewards
    of its returns, the outer order or function recorded for trainers.
``terminal``
    ``E[f(G(r1), ...)]`` (INMR, IMORL) on episodic envs: the running returns
    join the observation and ``f`` of them is paid when the episode ends.

Forms that no per-step reward can carry (occupancy measures, functions of the
policy, variances) are refused by :func:`plan` with the trainer that handles
them. Constraints ``E[G(c)] <= b`` make costs (``info["cost"]``), chance
constraints ``P[ψ] >= p`` make monitors of ψ, regularisers are recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym

#: what a per-step reward cannot carry: no `objlang train` trainer (nor `objlang
#: solve`) optimises these forms yet; `objlang.evaluate` values a given policy
_EVALUATE = "on a finite env, objlang.evaluate gives a policy's exact value"
TRAINERS = {
    "FOMR": f"objlang train has no occupancy-measure trainer yet; {_EVALUATE}",
    "OMO": f"objlang train has no occupancy-measure trainer yet; {_EVALUATE}",
    "FTLR": f"objlang train has no trajectory-lottery (Var[G]) trainer yet; {_EVALUATE}",
    "TLO": f"objlang train has no trajectory-lottery trainer yet; {_EVALUATE}",
    "FPR": f"objlang train has no policy-function trainer yet; {_EVALUATE}",
    "PO": f"objlang train has no policy-function trainer yet; {_EVALUATE}",
    "FTR": f"objlang train has no trajectory-return trainer yet; {_EVALUATE}",
}


@dataclass(frozen=True)
class Term:
    """``weight * x`` of a reward component: x a reward expression or a machine."""

    weight: float
    expr: object = None        # a transition-level sympy expression, or None
    machine: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to emit for one objective (see the module docstring)."""

    objective: str
    formalism: str
    mode: str
    components: tuple[tuple[Term, ...], ...] = ()
    aggregate: str = "discounted"      # discounted | total | average
    discount: float | None = None
    outer: str | None = None           # lex | pareto | min | the function, printed
    formula: str | None = None         # the formula read by the ltl / ltlf modes
    terminal: object = None            # f of the returns, with G_i as env_reward[i]
    monitors: tuple[str, ...] = ()     # formulas of chance constraints
    regularizers: tuple[str, ...] = ()
    formulas: dict = field(default_factory=dict)  # extra formula decls (inline φ)

    @property
    def machines(self) -> tuple[str, ...]:
        """The machines the rewards read, in order of first use."""
        out: list[str] = []
        for comp in self.components:
            for t in comp:
                if t.machine and t.machine not in out:
                    out.append(t.machine)
        return tuple(out)


class _Planner:
    def __init__(self, spec: n.Spec, obj: n.ObjectiveDecl):
        self.spec, self.obj = spec, obj
        self.machines = {d.name for d in spec.of_type(n.MachineDecl)}
        self.formulas = {d.name: d for d in spec.of_type(n.LtlDecl)}
        self.aggregates: set[str] = set()
        self.discounts: set[float] = set()
        self.extra: dict[str, n.LtlDecl] = {}

    def fail(self, why: str, key: str | None = None) -> ObjlangError:
        from ..expressivity import written_in

        key = key or written_in(self.obj, self.spec)[0]
        hint = TRAINERS.get(key)
        return ObjlangError(f"objective '{self.obj.name}' is written in {key}; {why}",
                            self.obj.loc, hint, self.spec.source)

    def atom(self, x) -> Term | None:
        """A return atom ``G(x)``, ``sum(x)``, ``avg(x)`` as a term of weight 1."""
        if isinstance(x, sym.Ret):
            self.aggregates.add("discounted")
            g = self.spec.discount_for(self.obj, x)
            if g is not None:
                self.discounts.add(g)
        elif isinstance(x, sym.Total):
            self.aggregates.add("total")
        elif isinstance(x, sym.Avg):
            self.aggregates.add("average")
        else:
            return None
        r = x.args[0]
        if isinstance(r, sympy.Symbol) and r.name in self.machines:
            return Term(1.0, machine=r.name)
        return Term(1.0, expr=r)

    def linear(self, e) -> tuple[Term, ...] | None:
        """``c + Σ w_i E[atom_i]`` as terms (the constant does not change the order)."""
        terms = []
        for t in sympy.Add.make_args(e):
            coeff, rest = t.as_coeff_Mul()
            if rest == 1:
                continue
            if not isinstance(rest, sym.Expect):
                return None
            term = self.atom(rest.args[0])
            if term is None:
                return None
            terms.append(Term(float(coeff) * term.weight, term.expr, term.machine))
        return tuple(terms) or None

    def formula_name(self, phi, negate: bool) -> str:
        """A declared formula for φ (or ¬φ): inline ones get a declaration."""
        if not negate and isinstance(phi, sympy.Symbol) and phi.name in self.formulas:
            return phi.name
        finite = any(self.formulas[s.name].finite for s in phi.atoms(sympy.Symbol)
                     if s.name in self.formulas)
        name = f"_{self.obj.name}_{len(self.extra)}"
        self.extra[name] = n.LtlDecl(name, sym.Not_(phi) if negate else phi, finite)
        return name

    def plan(self, options: dict) -> Plan:
        from ..expressivity import written_in

        obj, spec = self.obj, self.spec
        key, _ = written_in(obj, spec)
        e = obj.goal.expr
        sign = 1.0 if obj.goal.sense == "maximize" else -1.0
        monitors = tuple(self.monitor(c) for c in obj.constraints if c.expr.has(sym.Prob))
        regs = tuple(str(r.expr) for r in obj.regularizers)
        common = dict(objective=obj.name, formalism=key, monitors=monitors, regularizers=regs)
        prob = e.args[0] if isinstance(e, sym.Prob) else (
            e.args[0].args[0] if isinstance(e, sym.Expect) and isinstance(e.args[0], sym.Iverson)
            and not e.args[0].has(sym.Ret, sym.Total, sym.Avg) else None)
        if prob is not None:
            name = self.formula_name(prob, sign < 0)
            decl = self.formulas.get(name) or self.extra[name]
            return Plan(mode="ltlf" if decl.finite else "ltl", formula=name,
                        formulas=dict(self.extra), **common)
        if key in TRAINERS:
            raise self.fail("no per-step reward expresses it", key)
        lin = self.linear(e)
        if lin is not None:
            return self.finish(Plan(mode="return", components=(
                tuple(Term(sign * t.weight, t.expr, t.machine) for t in lin),), **common))
        if isinstance(e, (sym.Lex, sym.Pareto)) or e.has(sym.Expect) and not e.has(
                sym.Variance, sym.Occ, sym.Entropy, sym.PiProb, sym.Prob):
            return self.vector(e, sign, common)
        raise self.fail("no per-step reward expresses it", key)

    def vector(self, e, sign: float, common: dict) -> Plan:
        if isinstance(e, (sym.Lex, sym.Pareto)):
            parts, outer = e.args, type(e).__name__.lower()
        elif isinstance(e, sympy.Min) and all(self.linear(a) for a in e.args):
            parts, outer = e.args, "min"
        else:
            inner = [x for x in sympy.preorder_traversal(e) if isinstance(x, sym.Expect)]
            if any(self.atom(x.args[0]) is None for x in inner):
                return self.terminal(e, sign, common)
            parts = list(dict.fromkeys(inner))
            outer = str(e)
        comps = []
        for p in parts:
            lin = self.linear(p)
            if lin is None:
                raise self.fail(f"`{p}` is not a linear combination of expected returns")
            comps.append(tuple(Term(sign * t.weight, t.expr, t.machine) for t in lin))
        return self.finish(Plan(mode="vector", components=tuple(comps), outer=outer, **common))

    def terminal(self, e, sign: float, common: dict) -> Plan:
        """``E[f(G(r1), ...)]``: f of the running returns, paid at the episode's end."""
        if not isinstance(e, sym.Expect):
            raise self.fail("no per-step reward expresses it")
        f = e.args[0]
        atoms = [x for x in sympy.preorder_traversal(f) if isinstance(x, (sym.Ret, sym.Total))]
        atoms = list(dict.fromkeys(atoms))
        if not atoms or f.has(sym.Iverson, sym.Avg):
            raise self.fail("no per-step reward expresses it")
        comps, subs = [], {}
        for i, a in enumerate(atoms):
            term = self.atom(a)
            comps.append((term,))
            subs[a] = sym.Index(sym.name("env_reward"), sympy.Integer(i))
        return self.finish(Plan(mode="terminal", components=tuple(comps),
                                terminal=sign * f.xreplace(subs), outer=str(f), **common))

    def monitor(self, con: n.Constraint) -> str:
        lhs, rhs = con.expr.args
        p = lhs if isinstance(lhs, sym.Prob) else rhs
        if not isinstance(p, sym.Prob):
            raise self.fail("a chance constraint compares P[φ] with a number")
        return self.formula_name(p.args[0], False)

    def finish(self, plan: Plan) -> Plan:
        import dataclasses

        if len(self.aggregates) > 1:
            raise self.fail("its returns mix " + ", ".join(sorted(self.aggregates)) +
                            " returns; one per objective")
        if len(self.discounts) > 1:
            raise self.fail("its returns use different discounts; one per objective")
        return dataclasses.replace(
            plan, aggregate=next(iter(self.aggregates), "discounted"),
            discount=next(iter(self.discounts), None), formulas=dict(self.extra))


def plan(spec: n.Spec, objective: str | None = None, options: dict | None = None) -> Plan:
    """The plan of an objective of a checked spec (the only one when ``objective``
    is None).

    >>> import objlang
    >>> s = objlang.loads('prop goal = obs == 15\\nreward win = [goal]\\ndiscount 0.9\\n'
    ...                   'objective o { maximize 2 * E[G(win)] }')
    >>> p = plan(s)
    >>> p.mode, p.components[0][0].weight, p.discount
    ('return', 2.0, 0.9)
    """
    from ..finite.solve import pick_objective

    obj = pick_objective(spec, objective)
    return _Planner(spec, obj).plan(options or {})
