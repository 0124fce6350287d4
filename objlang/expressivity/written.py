"""The formalism an objective is written in: the key and a one-line reason.

A thin front of :func:`objlang.expressivity.classify.classify`, used by ``check``,
``solve``, the gym backend and the demo. No reduction is applied:
``2 * E[G(r)] + 1`` is written in ONMR even though it reduces to MR.

>>> import objlang
>>> s = objlang.loads("reward r = 1\\nobjective o { maximize E[G(r)] }")
>>> written_in(s.objectives[0], s)[0]
'MR'
"""
from __future__ import annotations

from ..ir import nodes as n
from .classify import classify


def written_in(obj: n.ObjectiveDecl, spec: n.Spec) -> tuple[str, str]:
    """(formalism key, reason) for a checked objective; key "pareto" for a
    Pareto order, which is none of the 17 formalisms."""
    c = classify(obj, spec)
    return c.key, c.reason
