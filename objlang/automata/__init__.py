"""Automata of formulas and machines, as integer tables (:class:`Automaton`).

>>> import objlang
>>> from objlang.automata import automaton_of
>>> s = objlang.loads("prop goal = obs == 15\\nltl f = F goal\\nobjective o { maximize P[f] }")
>>> a = automaton_of(s, "f")
>>> a.props, a.acceptance
(('goal',), 'parity min even')
"""
from __future__ import annotations

from ..errors import Loc, ObjlangError
from ..ir import nodes as n
from .table import Automaton

__all__ = ["Automaton", "automaton_of"]


def automaton_of(spec: n.Spec, name: str, kind: str = "parity",
                 timeout: float | None = None) -> Automaton:
    """The automaton of the formula or machine called ``name`` in a checked spec
    (``kind``: "parity", "buchi" or "ldba" -- the good-for-MDPs automaton of
    :mod:`objlang.automata.gfm` -- for ltl formulas; ltlf gives a DFA;
    ``timeout``: seconds Spot may spend, see :func:`objlang.automata.ltl.time_limit`)."""
    from .ltl import translate
    from .machine import machine_automaton

    for d in spec.decls:
        if isinstance(d, n.LtlDecl) and d.name == name:
            if kind == "ldba" and not d.finite:
                from .gfm import ldba

                return ldba(translate(d.formula, spec, kind="parity", name=name, timeout=timeout))
            return translate(d.formula, spec, finite=d.finite, kind=kind, name=name,
                             timeout=timeout)
        if isinstance(d, n.MachineDecl) and d.name == name:
            return machine_automaton(d, spec)
    known = [d.name for d in spec.decls if isinstance(d, (n.LtlDecl, n.MachineDecl))]
    raise ObjlangError(f"no formula or machine named '{name}'", Loc(spec.file, 1, 1),
                       hint="there are: " + (", ".join(known) or "none"))
