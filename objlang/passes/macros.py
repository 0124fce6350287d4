"""Macro expansion: every ``Call`` of a def is replaced by the def's body with
the arguments substituted for the parameters (a def without parameters also
expands where its bare name is used). Bodies expand in the scope of the module
that defines them, so a stdlib def may use its module's other defs. Arity is
checked, recursion is refused, and a call of an unknown function is an error
that names the closest known one.

>>> import objlang
>>> s = objlang.loads("def avoid(b) = G !b\\nprop hole = obs == 5\\nltl safe = avoid(hole)\\n"
...                   "objective o { maximize P[safe] }")
>>> objlang.fmt(s).splitlines()[-5]
'ltl safe = G !hole'
"""
from __future__ import annotations

import dataclasses

import sympy

from ..errors import Diagnostic, did_you_mean
from ..ir import nodes as n
from ..ir import sym
from .context import error, span
from .names import exprs

_CODE_WORDS = {"eval", "exec", "open", "compile", "getattr", "globals", "locals", "system"}


class _Failure(Exception):
    def __init__(self, diag: Diagnostic):
        self.diag = diag


class _Expander:
    def __init__(self, env, decl):
        self.env = env
        self.decl = decl  # the declaration being expanded, for locations
        self.call_locs: list = []

    def expand(self, e, scope_key: str, stack: tuple[str, ...] = ()):
        scope = self.env.scopes.get(scope_key, {})

        def visit(node):
            if isinstance(node, sympy.Symbol):
                hit = scope.get(node.name)
                if hit is not None and not hit[0].params:
                    return self._inline(node, hit, (), stack)
                return node
            if not node.args or isinstance(node, (sympy.Number, sym.Str)):
                return node
            args = [visit(a) for a in node.args]
            if isinstance(node, sym.Call):
                return self._call(node, args, scope, stack)
            if all(a is b for a, b in zip(args, node.args)):
                return node
            return node.func(*args)

        return visit(e)

    def _call(self, node, args, scope, stack):
        fname = node.args[0].name
        given = args[1:]
        builtin = sym.BUILTIN_FUNCS.get(fname)
        if builtin is not None:
            lo, hi, _ = builtin
            want = (f"{lo}" if lo == hi else f"at least {lo}" if hi is None
                    else f"{lo} to {hi}")
            raise _Failure(error(f"{fname}() takes {want} argument{'s' * (want != '1')}, "
                                 f"got {len(given)}", span(self.decl, node)))
        hit = scope.get(fname)
        if hit is None:
            hint = ("objlang never runs code" if fname in _CODE_WORDS
                    else did_you_mean(fname, [*scope, *sym.BUILTIN_FUNCS]))
            raise _Failure(error(f"unknown function '{fname}'", span(self.decl, node),
                                 hint=hint))
        d = hit[0]
        if len(given) != len(d.params):
            raise _Failure(error(
                f"'{fname}' takes {len(d.params)} argument{'s' * (len(d.params) != 1)} "
                f"({', '.join(d.params)}), got {len(given)}", span(self.decl, node),
                hint=f"defined at line {d.loc.line}" if d.loc else None))
        return self._inline(node, hit, given, stack)

    def _inline(self, node, hit, given, stack):
        d, key = hit
        if d.name in stack:
            raise _Failure(error(f"def '{d.name}' uses itself ({' -> '.join(stack + (d.name,))})",
                                 span(self.decl, node),
                                 hint="defs are macros and cannot be recursive"))
        body = d.body.xreplace({sym.name(p): a for p, a in zip(d.params, given)})
        result = self.expand(body, key, stack + (d.name,))
        self.call_locs.append((result, span(self.decl, node)))
        return result


def _expand_decl(d, env):
    ex = _Expander(env, d)
    f = lambda e: None if e is None else ex.expand(e, "<main>")  # noqa: E731
    if isinstance(d, n.PropDecl):
        new = dataclasses.replace(d, expr=f(d.expr))
    elif isinstance(d, n.RewardDecl):
        new = dataclasses.replace(d, expr=f(d.expr))
    elif isinstance(d, n.LtlDecl):
        new = dataclasses.replace(d, formula=f(d.formula))
    elif isinstance(d, n.DiscountDecl):
        new = dataclasses.replace(d, value=f(d.value))
    elif isinstance(d, n.MachineDecl):
        new = dataclasses.replace(d, edges=tuple(
            dataclasses.replace(e, guard=f(e.guard), reward=f(e.reward)) for e in d.edges))
    elif isinstance(d, n.ObjectiveDecl):
        new = dataclasses.replace(
            d, goals=tuple(dataclasses.replace(g, expr=f(g.expr)) for g in d.goals),
            constraints=tuple(dataclasses.replace(c, expr=f(c.expr)) for c in d.constraints),
            regularizers=tuple(dataclasses.replace(r, expr=f(r.expr)) for r in d.regularizers),
            discounts=tuple(dataclasses.replace(x, value=f(x.value)) for x in d.discounts))
    elif isinstance(d, n.DefDecl):
        # a def's body is checked by expanding it in its own scope (params stay names)
        f(d.body)
        return d
    else:
        return d
    if ex.call_locs:  # expanded text points at the call that produced it
        extra = tuple((sub, loc) for res, loc in ex.call_locs
                      for sub in sympy.preorder_traversal(res))
        new = dataclasses.replace(new, spans=new.spans + extra)
    return new


def expand_macros(spec: n.Spec, env) -> tuple[n.Spec, list]:
    diags, decls = [], []
    for d in spec.decls:
        try:
            decls.append(_expand_decl(d, env))
        except _Failure as fail:
            diags.append(fail.diag)
            decls.append(d)
    return dataclasses.replace(spec, decls=tuple(decls)), diags


__all__ = ["expand_macros", "exprs"]
