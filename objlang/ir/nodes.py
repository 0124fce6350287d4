"""Declarations of a spec: frozen, slotted dataclasses with structural equality.

Source locations are kept on every node but take no part in equality, so
``parse(fmt(spec)) == spec`` compares meaning, not layout. Expressions are sympy
objects (see :mod:`objlang.ir.sym`); ``spans`` maps sub-expressions to where
they were written, for error messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import sympy

from ..errors import Loc

Expr = sympy.Basic


def _loc():
    return field(default=None, compare=False, repr=False)


def _spans():
    return field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every declaration and part of one."""


@dataclass(frozen=True, slots=True)
class EnvDecl(Node):
    """``env "ID" { key: literal, ... }`` or ``env NAME`` (an mdp of the file)."""

    env_id: str
    kwargs: tuple[tuple[str, Expr], ...] = ()
    is_mdp: bool = False
    loc: Optional[Loc] = _loc()
    spans: tuple = _spans()


@dataclass(frozen=True, slots=True)
class DiscountDecl(Node):
    """``discount 0.99``: the default discount of every return."""

    value: Expr
    loc: Optional[Loc] = _loc()
    spans: tuple = _spans()


@dataclass(frozen=True, slots=True)
class PropDecl(Node):
    """``prop NAME = BOOL`` or ``prop NAME = external`` (expr is None)."""

    name: str
    expr: Optional[Expr]
    loc: Optional[Loc] = _loc()
    spans: tuple = _spans()


@dataclass(frozen=True, slots=True)
class RewardDecl(Node):
    """``reward NAME = REAL`` or, with ``cost=True``, ``cost NAME = REAL``."""

    name: str
    expr: Expr
    cost: bool = False
    loc: Optional[Loc] = _loc()
    spans: tuple = _spans()


@dataclass(frozen=True, slots=True)
class LtlDecl(Node):
    """``ltl NAME = φ`` (infinite traces) or, with ``finite=True``, ``ltlf``."""

    name: str
    formula: Expr
    finite: bool = False
    loc: Optional[Loc] = _loc()
    spans: tuple = _spans()


@dataclass(frozen=True, slots=True)
class MachineEdge(Node):
    """``u0, u1 -> u2 when GUARD [reward REAL]``."""

    sources: tuple[str, ...]
    target: str
    guard: Expr
    reward: Optional[Expr] = None
    loc: Optional[Loc] = _loc()


@dataclass(frozen=True, slots=True)
class MachineDecl(Node):
    """``machine NAME { start u0  edges...  final u2, u3 }``; states are declared by use."""

    name: str
    starts: tuple[str, ...]
    edges: tuple[MachineEdge, ...] = ()
    finals: tuple[str, ...] = ()
    loc: Optional[Loc] = _loc()
    spans: tuple = _spans()
    start_loc: Optional[Loc] = _loc()
    finals_loc: Optional[Loc] = _loc()

    @property
    def start(self) -> Optional[str]:
        """The initial state (the checks make sure there is exactly one)."""
        return self.starts[0] if self.starts else None

    @property
    def states(self) -> tuple[str, ...]:
        """Every state, in order of first mention (start first)."""
        seen = dict.fromkeys(self.starts)
        for e in self.edges:
            seen.update(dict.fromkeys(e.sources))
            seen[e.target] = None
        seen.update(dict.fromkeys(self.finals))
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class DefDecl(Node):
    """``def NAME(p, q) = EXPR``: a macro; ``params`` is () for ``def NAME = EXPR``."""

    name: str
    params: tuple[str, ...]
    body: Expr
    loc: Optional[Loc] = _loc()
    spans: tuple = _spans()


@dataclass(frozen=True, slots=True)
class ImportDecl(Node):
    """``import M`` (names None) or ``from M import a, b``; M a stdlib name or a path."""

    module: str
    names: Optional[tuple[str, ...]] = None
    is_path: bool = False
    loc: Optional[Loc] = _loc()


@dataclass(frozen=True, slots=True)
class PolicyRow(Node):
    """``STATE -> a : p, b : q`` of a policy table; probability None means 1."""

    state: Expr
    choices: tuple[tuple[Expr, Optional[Expr]], ...]
    loc: Optional[Loc] = _loc()


@dataclass(frozen=True, slots=True)
class PolicyDecl(Node):
    """``policy NAME = uniform`` (rows None) or ``policy NAME = table { rows }``."""

    name: str
    rows: Optional[tuple[PolicyRow, ...]] = None
    loc: Optional[Loc] = _loc()


@dataclass(frozen=True, slots=True)
class OptionsDecl(Node):
    """``options { key: literal, ... }``."""

    items: tuple[tuple[str, Expr], ...]
    loc: Optional[Loc] = _loc()
    spans: tuple = _spans()


@dataclass(frozen=True, slots=True)
class MdpRow(Node):
    """``s a -> t1 : p1, t2 : p2``; action ``"*"`` means every action."""

    state: str
    action: str
    outcomes: tuple[tuple[str, Optional[Expr]], ...]
    loc: Optional[Loc] = _loc()


@dataclass(frozen=True, slots=True)
class MdpDecl(Node):
    """``mdp NAME { start s0 [: p, ...]  rows... }``."""

    name: str
    start: tuple[tuple[str, Optional[Expr]], ...]
    rows: tuple[MdpRow, ...]
    loc: Optional[Loc] = _loc()
    start_loc: Optional[Loc] = _loc()


@dataclass(frozen=True, slots=True)
class Goal(Node):
    """``maximize X`` or ``minimize X``."""

    sense: str
    expr: Expr
    loc: Optional[Loc] = _loc()


@dataclass(frozen=True, slots=True)
class Constraint(Node):
    """``subject to X <= c``: ``expr`` is the comparison."""

    expr: Expr
    loc: Optional[Loc] = _loc()


@dataclass(frozen=True, slots=True)
class Regularizer(Node):
    """``regularize 0.01 * entropy(pi)``."""

    expr: Expr
    loc: Optional[Loc] = _loc()


@dataclass(frozen=True, slots=True)
class ObjectiveDecl(Node):
    """``objective NAME { goal, constraints, regularizers, discount }``.

    The parser keeps every item written; the checks require exactly one goal
    and at most one discount.
    """

    name: str
    goals: tuple[Goal, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    regularizers: tuple[Regularizer, ...] = ()
    discounts: tuple[DiscountDecl, ...] = ()
    loc: Optional[Loc] = _loc()
    spans: tuple = _spans()

    @property
    def goal(self) -> Goal:
        return self.goals[0]

    @property
    def discount(self) -> Optional[Expr]:
        return self.discounts[0].value if self.discounts else None


Decl = Any  # one of the *Decl classes above

DECL_KEYWORDS = {
    EnvDecl: "env", DiscountDecl: "discount", PropDecl: "prop", RewardDecl: "reward",
    LtlDecl: "ltl", MachineDecl: "machine", DefDecl: "def", ImportDecl: "import",
    PolicyDecl: "policy", OptionsDecl: "options", MdpDecl: "mdp", ObjectiveDecl: "objective",
}


@dataclass(frozen=True, slots=True)
class Spec(Node):
    """One parsed file: its declarations in order."""

    decls: tuple[Decl, ...]
    file: Optional[str] = field(default=None, compare=False)
    source: Optional[str] = field(default=None, compare=False, repr=False)
    #: the source's comments as (line, column, text), for the printer
    comments: tuple = field(default=(), compare=False, repr=False)
    #: warnings of the checks (a checked spec only)
    warnings: tuple = field(default=(), compare=False, repr=False)

    def of_type(self, cls) -> list:
        return [d for d in self.decls if isinstance(d, cls)]

    def named(self) -> dict[str, Decl]:
        """Declarations that carry a name, by name (first one wins)."""
        out: dict[str, Decl] = {}
        for d in self.decls:
            n = getattr(d, "name", None)
            if n is not None:
                out.setdefault(n, d)
        return out

    @property
    def objectives(self) -> list[ObjectiveDecl]:
        return self.of_type(ObjectiveDecl)

    def discount_for(self, obj: Optional[ObjectiveDecl] = None, ret=None) -> Optional[float]:
        """The discount of a return ``G(r, γ)`` (``ret``): its own γ, else the
        objective's ``discount``, else the file's; None when none is declared."""
        if ret is not None and len(ret.args) > 1:
            return float(ret.args[1])
        if obj is not None and obj.discount is not None:
            return float(obj.discount)
        top = next(iter(self.of_type(DiscountDecl)), None)
        return None if top is None else float(top.value)
