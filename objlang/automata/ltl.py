"""LTL and LTLf formulas to automaton tables, through Spot.

A formula of the IR becomes Spot text over atomic propositions: each prop by
its name, each inline state condition (``G (obs != 5)``) under a fresh name
``_c0``, ``_c1``, ...; named formulas inside formulas are inlined. Spot then
builds

* ``kind="parity"``: a complete deterministic parity automaton, acceptance
  "parity min even", one colour on every edge (for exact solving);
* ``kind="buchi"``: a complete deterministic Büchi automaton, when the formula
  is a recurrence property (Manna-Pnueli class S, G, O or R) -- else an error;
* for ``ltlf``: a complete DFA (Spot's ``from_ltlf`` and ``to_finite``).

and :func:`tables` turns it into :class:`~objlang.automata.table.Automaton`.
"""
from __future__ import annotations

import numpy as np
import sympy

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from .table import Automaton

#: limits: more letters or states than this end with an ObjlangError
MAX_PROPS = 20
MAX_STATES = 1_000_000

_UNARY = {sym.Not_: "!", sym.Next: "X", sym.Finally: "F", sym.Always: "G"}
_BINARY = {sym.Until: "U", sym.WeakUntil: "W", sym.Release: "R", sym.StrongRelease: "M",
           sym.Implies: "->", sym.Equiv: "<->"}
_NARY = {sym.And_: "&", sym.Or_: "|", sym.Xor: "xor"}


def formula_decl(spec: n.Spec, name: str) -> n.LtlDecl:
    """The ``ltl``/``ltlf`` declaration called ``name``."""
    for d in spec.of_type(n.LtlDecl):
        if d.name == name:
            return d
    names = [d.name for d in spec.of_type(n.LtlDecl)]
    raise ObjlangError(f"no formula named '{name}'",
                       hint="formulas: " + (", ".join(names) or "none"))


_LOGIC = (sym.Not_, sym.And_, sym.Or_, sym.Xor, sym.Implies, sym.Equiv, sym.Next, sym.Finally,
          sym.Always, sym.Until, sym.WeakUntil, sym.Release, sym.StrongRelease)


def render_formula(expr, spec: n.Spec, op_text, inline_prefix: str,
                   constants: tuple[str, str]) -> tuple[str, dict[str, sympy.Basic]]:
    """A checked formula as text in some tool's syntax, and the condition of each
    atomic proposition. Named formulas are inlined; props are quoted names; any
    other state condition becomes a proposition ``<inline_prefix><k>``.
    ``op_text(cls, args)`` spells a logical or temporal node from its arguments'
    texts; ``constants`` spell true and false."""
    formulas = {d.name: d.formula for d in spec.of_type(n.LtlDecl)}
    conditions: dict[str, sympy.Basic] = {}
    inline: dict[sympy.Basic, str] = {}

    def visit(e) -> str:
        if e is sympy.true or e is sympy.false:
            return constants[0] if e is sympy.true else constants[1]
        if isinstance(e, sympy.Symbol):
            if e.name in formulas:
                return "(" + visit(formulas[e.name]) + ")"
            conditions[e.name] = e
            return '"' + e.name + '"'
        if isinstance(e, _LOGIC):
            return op_text(type(e), [visit(a) for a in e.args])
        if e not in inline:  # a state condition: an atomic proposition of its own
            inline[e] = f"{inline_prefix}{len(inline)}"
            conditions[inline[e]] = e
        return '"' + inline[e] + '"'

    return visit(expr), conditions


def spot_text(expr, spec: n.Spec, finite: bool = False) -> tuple[str, dict[str, sympy.Basic]]:
    """Spot syntax of a checked formula, and the condition of each atomic prop.
    In ``ltlf`` formulas ``X`` is the strong next of LTLf (false at the last
    position), which Spot writes ``X[!]``.

    >>> import objlang
    >>> s = objlang.loads("prop hole = obs == 5\\nprop goal = obs == 15\\n"
    ...                   "ltl f = !hole U goal\\nobjective o { maximize P[f] }")
    >>> spot_text(formula_decl(s, "f").formula, s)[0]
    '(!("hole")) U ("goal")'
    """
    def op_text(cls, a: list[str]) -> str:
        if cls in _UNARY:
            op = "X[!]" if finite and cls is sym.Next else _UNARY[cls]
            return f"{op}({a[0]})"
        if cls in _BINARY:
            return f"({a[0]}) {_BINARY[cls]} ({a[1]})"
        return f" {_NARY[cls]} ".join(f"({x})" for x in a)

    return render_formula(expr, spec, op_text, "_c", ("1", "0"))


def translate(expr, spec: n.Spec, finite: bool = False, kind: str = "parity",
              name: str = "formula") -> Automaton:
    """The automaton of a checked formula as tables (see the module docstring)."""
    import spot

    text, conditions = spot_text(expr, spec, finite)
    if len(conditions) > MAX_PROPS:
        raise ObjlangError(f"formula '{name}' uses {len(conditions)} propositions; at most "
                           f"{MAX_PROPS} are supported ({2 ** MAX_PROPS} letters)")
    f = spot.formula(text)
    if finite:
        aut = spot.to_finite(spot.translate(spot.from_ltlf(f, "alive_"), "buchi",
                                            "deterministic", "sbacc", "complete"), "alive_")
        acceptance = "finite"
    elif kind == "parity":
        aut = spot.translate(f, "parity min even", "deterministic", "complete", "colored")
        acceptance = "parity min even"
    elif kind == "buchi":
        if spot.mp_class(f) not in ("S", "G", "O", "B", "R"):
            raise ObjlangError(f"formula '{name}' has no deterministic Büchi automaton "
                               f"(it is not a recurrence property)",
                               hint="use kind 'parity'")
        aut = spot.translate(f, "buchi", "deterministic", "complete")
        acceptance = "buchi"
    else:
        raise ObjlangError(f"unknown automaton kind '{kind}'",
                           hint="kinds: parity, buchi (ltlf formulas always give a DFA)")
    if aut.num_states() > MAX_STATES:
        raise ObjlangError(f"the automaton of formula '{name}' has {aut.num_states()} states,"
                           f" more than {MAX_STATES}")
    if not spot.is_deterministic(aut):
        raise ObjlangError(f"Spot gave no deterministic automaton for formula '{name}'")
    return tables(aut, acceptance, list(conditions), conditions, name)


def _edge_masks(aut, props: list[str]):
    """For every edge condition (a BDD), the letters that satisfy it."""
    import buddy

    n_letters = 1 << len(props)
    letters = np.arange(n_letters)
    var_bit = {aut.register_ap(p): i for i, p in enumerate(props)}
    memo: dict[int, np.ndarray] = {}

    def mask(b) -> np.ndarray:
        if b == buddy.bddtrue:
            return np.ones(n_letters, bool)
        if b == buddy.bddfalse:
            return np.zeros(n_letters, bool)
        key = b.id()
        if key not in memo:
            bit = var_bit[buddy.bdd_var(b)]
            on = (letters >> bit) & 1 == 1
            memo[key] = np.where(on, mask(buddy.bdd_high(b)), mask(buddy.bdd_low(b)))
        return memo[key]

    return mask


def tables(aut, acceptance: str, props: list[str], conditions: dict, name: str) -> Automaton:
    """Tables of a deterministic Spot automaton (completed with a rejecting sink)."""
    import spot

    for p in props:  # letters range over these props even if Spot dropped some
        aut.register_ap(p)
    mask = _edge_masks(aut, props)
    n_q, n_l = aut.num_states(), 1 << len(props)
    delta = np.full((n_q + 1, n_l), n_q, dtype=np.int32)  # state n_q: added sink
    color = np.full((n_q + 1, n_l), -1, dtype=np.int32)
    accepting = np.zeros((n_q + 1, n_l), bool)
    final = np.zeros(n_q + 1, bool)
    sink_color = 1 if acceptance == "parity min even" else -1
    color[n_q, :] = sink_color
    for q in range(n_q):
        if acceptance == "finite":
            final[q] = bool(aut.state_is_accepting(q))
        for e in aut.out(q):
            m = mask(e.cond)
            delta[q, m] = e.dst
            marks = list(e.acc.sets())
            if acceptance == "parity min even":
                color[q, m] = marks[0] if marks else sink_color
                accepting[q, m] = bool(marks) and marks[0] % 2 == 0
            elif acceptance == "buchi":
                accepting[q, m] = bool(marks) or bool(aut.state_is_accepting(q)) \
                    if aut.prop_state_acc().is_true() else bool(marks)
    if acceptance == "finite":
        accepting = final[delta]
    used_sink = bool((delta[:n_q] == n_q).any())
    if not used_sink:  # Spot's automaton was complete: drop the spare sink
        delta, color, accepting, final = delta[:n_q], color[:n_q], accepting[:n_q], final[:n_q]
    sink = _rejecting_sinks(aut, acceptance, final, delta.shape[0], n_q)
    return Automaton(name=name, props=tuple(props), init=int(aut.get_init_state_number()),
                     delta=delta, acceptance=acceptance, color=color, accepting=accepting,
                     sink=sink, final=final if acceptance == "finite" else None,
                     hoa=aut.to_str("hoa"), conditions=dict(conditions))


def _rejecting_sinks(aut, acceptance: str, final: np.ndarray, n_total: int, n_q: int):
    """States from which no accepting continuation exists."""
    import spot

    sink = np.ones(n_total, bool)
    if acceptance == "finite":
        # a DFA state is alive when an accepting state is reachable from it
        graph = {q: {e.dst for e in aut.out(q)} for q in range(n_q)}
        alive = {q for q in range(n_q) if final[q]}
        changed = True
        while changed:
            changed = False
            for q, succ in graph.items():
                if q not in alive and succ & alive:
                    alive.add(q)
                    changed = True
        for q in alive:
            sink[q] = False
        return sink
    init = aut.get_init_state_number()
    try:
        for q in range(n_q):
            aut.set_init_state(q)
            sink[q] = bool(aut.is_empty())
    finally:
        aut.set_init_state(init)
    return sink
