"""The IR as JSON (``objlang ir --json``): declarations as objects with a
``kind``, expressions as trees, source locations in fields of their own."""
from __future__ import annotations

import dataclasses

import sympy

from ..errors import Loc
from . import nodes as n
from .sym import Str

_KIND = {n.EnvDecl: "env", n.DiscountDecl: "discount", n.PropDecl: "prop",
         n.RewardDecl: "reward", n.LtlDecl: "ltl", n.MachineDecl: "machine",
         n.DefDecl: "def", n.ImportDecl: "import", n.PolicyDecl: "policy",
         n.OptionsDecl: "options", n.MdpDecl: "mdp", n.ObjectiveDecl: "objective",
         n.MachineEdge: "edge", n.MdpRow: "row", n.PolicyRow: "row", n.Goal: "goal",
         n.Constraint: "constraint", n.Regularizer: "regularizer"}


def expr_json(e):
    """An expression as a JSON tree.

    >>> expr_json(sympy.Symbol("obs") + 1)
    {'op': 'Add', 'args': [{'int': 1}, {'name': 'obs'}]}
    """
    if e is None:
        return None
    if isinstance(e, sympy.Symbol):
        return {"name": e.name}
    if isinstance(e, Str):
        return {"str": e.name}
    if e is sympy.true or e is sympy.false:
        return {"bool": e is sympy.true}
    if isinstance(e, sympy.Integer):
        return {"int": int(e)}
    if isinstance(e, sympy.Rational):
        return {"rational": [int(e.p), int(e.q)]}
    if isinstance(e, sympy.Float):
        return {"float": float(e)}
    if isinstance(e, sympy.Basic) and not e.args:
        return {"const": str(e)}
    return {"op": type(e).__name__, "args": [expr_json(a) for a in e.args]}


def node_json(node):
    """A declaration (or a part of one) as a JSON object."""
    if isinstance(node, Loc):
        return node.to_json()
    if isinstance(node, sympy.Basic):
        return expr_json(node)
    if isinstance(node, tuple):
        return [node_json(x) for x in node]
    if not dataclasses.is_dataclass(node):
        return node
    out = {"kind": _KIND.get(type(node), type(node).__name__)}
    if isinstance(node, n.RewardDecl) and node.cost:
        out["kind"] = "cost"
    if isinstance(node, n.LtlDecl) and node.finite:
        out["kind"] = "ltlf"
    for f in dataclasses.fields(node):
        if f.name in ("spans",):
            continue
        out[f.name] = node_json(getattr(node, f.name))
    return out


def spec_json(spec: n.Spec) -> dict:
    return {"file": spec.file, "decls": [node_json(d) for d in spec.decls],
            "warnings": [{"message": w.message, "loc": w.loc.to_json() if w.loc else None}
                         for w in spec.warnings]}
