"""Checks of reward machines (language.md §5).

One start state; ``final`` names states of the machine; and no two edges out of
one state may have guards that can hold together. That last question is
decided exactly over the props' definitions: each prop is replaced by its
condition, comparisons ``x == c`` of one term with different constants exclude
each other, and a SAT check looks for a label satisfying both guards. Other
atomic conditions (``info.coffee``, ``obs[0] > 1``, external props) are free
booleans. Unreachable states are warnings.
"""
from __future__ import annotations

import itertools

import sympy
from sympy.logic.inference import satisfiable

from ..ir import nodes as n
from ..ir import sym
from ..syntax.printer import expr as show
from .context import error, warning


class _Encoder:
    """Boolean abstraction of guards: atoms become sympy symbols."""

    def __init__(self, props: dict):
        self.props = props
        self.atoms: dict = {}  # atom expression -> symbol
        self.equalities: dict = {}  # term -> {constant: symbol}

    def atom(self, e):
        if e not in self.atoms:
            self.atoms[e] = sympy.Symbol(f"a{len(self.atoms)}")
        return self.atoms[e]

    def encode(self, e, stack=()):
        if e is sympy.true or e is sympy.false:
            return e
        if isinstance(e, sympy.Symbol):
            body = self.props.get(e.name)
            if body is None or e.name in stack:
                return self.atom(e)
            return self.encode(body, stack + (e.name,))
        if isinstance(e, sym.Not_):
            return sympy.Not(self.encode(e.args[0], stack))
        if isinstance(e, sym.And_):
            return sympy.And(*[self.encode(a, stack) for a in e.args])
        if isinstance(e, sym.Or_):
            return sympy.Or(*[self.encode(a, stack) for a in e.args])
        if isinstance(e, sym.Xor):
            return sympy.Xor(*[self.encode(a, stack) for a in e.args])
        if isinstance(e, sym.Implies):
            return sympy.Implies(*[self.encode(a, stack) for a in e.args])
        if isinstance(e, sym.Equiv):
            return sympy.Equivalent(*[self.encode(a, stack) for a in e.args])
        if isinstance(e, (sym.Eq_, sym.Ne_)):
            term, const = e.args
            if _is_const(term) and not _is_const(const):
                term, const = const, term
            if _is_const(const) and not _is_const(term):
                s = self.equalities.setdefault(term, {}).setdefault(
                    const, self.atom(sym.Eq_(term, const)))
                return s if isinstance(e, sym.Eq_) else sympy.Not(s)
        if isinstance(e, sym.In_) and isinstance(e.args[1], sym.SetLit):
            return sympy.Or(*[self.encode(sym.Eq_(e.args[0], c), stack) for c in e.args[1].args])
        return self.atom(e)

    def exclusions(self):
        """A term equals at most one constant."""
        out = []
        for consts in self.equalities.values():
            for x, y in itertools.combinations(consts.values(), 2):
                out.append(sympy.Not(sympy.And(x, y)))
        return out

    def describe(self, model: dict) -> str:
        names = {v: k for k, v in self.atoms.items()}
        true = sorted(show(names[s]) for s, val in model.items() if val and s in names)
        return " and ".join(true) if true else "no proposition holds"


def _is_const(e) -> bool:
    return isinstance(e, (sympy.Number, sym.Str)) or (isinstance(e, sympy.Symbol)
                                                      and e.name not in sym.BUILTIN_NAMES)


def _check_machine(m: n.MachineDecl, props: dict) -> list:
    diags = []
    if not m.starts:
        diags.append(error(f"machine '{m.name}' has no start state", m.loc,
                           hint="add `start u0`"))
    elif len(m.starts) > 1:
        diags.append(error(f"machine '{m.name}' has {len(m.starts)} start states", m.loc))
    in_edges = {s for e in m.edges for s in (*e.sources, e.target)}
    mentioned = set(m.starts) | in_edges
    for f in m.finals:
        if m.edges and f not in mentioned:
            diags.append(error(f"unknown state '{f}' in `final` of machine '{m.name}'",
                               m.finals_loc or m.loc, hint="states are declared by use in edges"))
    if m.starts and m.edges and m.start not in in_edges:
        diags.append(error(f"start state '{m.start}' of machine '{m.name}' has no edges",
                           m.start_loc or m.loc))
    enc = _Encoder(props)
    by_state: dict[str, list[n.MachineEdge]] = {}
    for e in m.edges:
        for s in e.sources:
            by_state.setdefault(s, []).append(e)
    for state, edges in by_state.items():
        if state in m.finals:
            diags.append(warning(f"edges out of final state '{state}' are never taken",
                                 edges[0].loc))
        for e1, e2 in itertools.combinations(edges, 2):
            both = sympy.And(enc.encode(e1.guard), enc.encode(e2.guard), *enc.exclusions())
            model = satisfiable(both)
            if model:
                line1 = e1.loc.line if e1.loc else "?"
                diags.append(error(
                    f"in machine '{m.name}', two edges out of '{state}' can both be taken "
                    f"(lines {line1} and {e2.loc.line if e2.loc else '?'}), e.g. when "
                    f"{enc.describe(model)}", e2.loc,
                    hint="make the guards exclusive, e.g. add `& !...` to one of them"))
    if m.starts:
        reach, todo = {m.start}, [m.start]
        while todo:
            s = todo.pop()
            for e in by_state.get(s, ()):
                if e.target not in reach:
                    reach.add(e.target)
                    todo.append(e.target)
        for s in sorted(mentioned - reach):
            diags.append(warning(f"state '{s}' of machine '{m.name}' is unreachable", m.loc))
    return diags


def check_machines(spec: n.Spec, env) -> tuple[n.Spec, list]:
    props = {d.name: d.expr for d in spec.of_type(n.PropDecl) if d.expr is not None}
    diags = []
    for m in spec.of_type(n.MachineDecl):
        diags += _check_machine(m, props)
    return spec, diags
