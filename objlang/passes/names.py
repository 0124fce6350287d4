"""Declarations and their names: duplicates, reserved words, imported names.

Every named declaration (prop, reward, cost, ltl, machine, def, policy, mdp,
objective) shares one namespace per file. A file's own defs shadow imported
ones. Names that begin with ``__`` are refused everywhere: nothing in a spec
can reach Python's internals.
"""
from __future__ import annotations

import sympy

from ..errors import did_you_mean
from ..ir import nodes as n
from ..ir import sym
from .context import RESERVED, error, span


def _exprs(d) -> list:
    """Every expression of a declaration."""
    if isinstance(d, (n.PropDecl, n.RewardDecl)):
        return [d.expr]
    if isinstance(d, n.LtlDecl):
        return [d.formula]
    if isinstance(d, n.DefDecl):
        return [d.body]
    if isinstance(d, (n.DiscountDecl,)):
        return [d.value]
    if isinstance(d, n.EnvDecl):
        return [v for _, v in d.kwargs]
    if isinstance(d, n.OptionsDecl):
        return [v for _, v in d.items]
    if isinstance(d, n.MachineDecl):
        return [x for e in d.edges for x in (e.guard, e.reward)]
    if isinstance(d, n.ObjectiveDecl):
        return ([g.expr for g in d.goals] + [c.expr for c in d.constraints]
                + [r.expr for r in d.regularizers] + [x.value for x in d.discounts])
    return []


def exprs(d) -> list:
    """Every (non-None) expression of a declaration, for the passes."""
    return [e for e in _exprs(d) if e is not None]


def _dunder_names(e) -> list[tuple[str, sympy.Basic]]:
    """(name, node) of every name in e that begins with '__'."""
    found = []
    for node in sympy.preorder_traversal(e):
        if isinstance(node, sympy.Symbol) and node.name.startswith("__"):
            found.append((node.name, node))
        elif isinstance(node, (sym.Attr, sym.Call)):
            key = node.args[1] if isinstance(node, sym.Attr) else node.args[0]
            if key.name.startswith("__"):
                found.append((key.name, node))
    return found


def check_names(spec: n.Spec, env) -> tuple[n.Spec, list]:
    diags = []
    seen: dict[str, n.Node] = {}
    singles: dict[type, n.Node] = {}
    for d in spec.decls:
        name = getattr(d, "name", None)
        if name is not None:
            if name in RESERVED:
                diags.append(error(f"'{name}' is a reserved word and cannot name a "
                                   f"{n.DECL_KEYWORDS[type(d)]}", d.loc,
                                   hint="choose another name"))
            elif name.startswith("__"):
                diags.append(error(f"names beginning with '__' are reserved: '{name}'", d.loc))
            elif name in sym.BUILTIN_FUNCS and isinstance(d, n.DefDecl):
                diags.append(error(f"def '{name}' would hide the builtin function '{name}'",
                                   d.loc, hint="choose another name"))
            elif name in seen:
                first = seen[name].loc
                diags.append(error(
                    f"'{name}' is declared twice", d.loc,
                    hint=f"first declared at line {first.line}" if first else None))
            else:
                seen[name] = d
        if isinstance(d, (n.EnvDecl, n.DiscountDecl, n.OptionsDecl)):
            if type(d) in singles:
                first = singles[type(d)].loc
                diags.append(error(f"a second `{n.DECL_KEYWORDS[type(d)]}` declaration",
                                   d.loc, hint=f"the first is at line {first.line}"
                                   if first else None))
            singles[type(d)] = d
        if isinstance(d, n.DefDecl) and len(set(d.params)) != len(d.params):
            diags.append(error(f"def '{d.name}' names a parameter twice", d.loc))
        for e in exprs(d):
            for bad, node in _dunder_names(e):
                diags.append(error(f"names beginning with '__' are reserved: '{bad}'",
                                   span(d, node),
                                   hint="objlang never reaches Python objects"))
        if isinstance(d, n.ImportDecl) and d.names is not None:
            mod = env.modules.get(env.key_of(d, spec))
            defs = [x.name for x in mod.of_type(n.DefDecl)] if mod else []
            for name in d.names:
                if name not in defs:
                    diags.append(error(f"module '{d.module}' has no def '{name}'", d.loc,
                                       hint=did_you_mean(name, defs)))
    return spec, diags
