"""Warnings: declarations nothing uses, a discount of 1 under an infinite-horizon
return, formulas that are the constant true or false."""
from __future__ import annotations

import sympy

from ..ir import nodes as n
from ..ir import sym
from .context import span, warning
from .names import exprs

_USABLE = (n.PropDecl, n.RewardDecl, n.LtlDecl, n.MachineDecl, n.PolicyDecl, n.MdpDecl)


def _used_names(spec: n.Spec) -> set[str]:
    used = set()
    for d in spec.decls:
        for e in exprs(d):
            used |= {s.name for s in e.atoms(sympy.Symbol)}
        if isinstance(d, n.EnvDecl) and d.is_mdp:
            used.add(d.env_id)
    return used


def _top_discount(spec: n.Spec):
    d = next(iter(spec.of_type(n.DiscountDecl)), None)
    return None if d is None else d.value


def check_usage(spec: n.Spec, env) -> tuple[n.Spec, list]:
    diags = []
    used = _used_names(spec)
    for d in spec.decls:
        if isinstance(d, _USABLE) and d.name not in used:
            kind = "cost" if isinstance(d, n.RewardDecl) and d.cost else n.DECL_KEYWORDS[type(d)]
            if kind != "cost":  # every cost is reported in info["cost"]
                diags.append(warning(f"{kind} '{d.name}' is never used", d.loc))
        if isinstance(d, n.LtlDecl) and d.formula in (sympy.true, sympy.false):
            diags.append(warning(f"formula '{d.name}' is always {str(d.formula).lower()}",
                                 d.loc))
    top = _top_discount(spec)
    for o in spec.objectives:
        gamma = o.discount if o.discount is not None else top
        for e in [g.expr for g in o.goals] + [c.expr for c in o.constraints]:
            for ret in e.atoms(sym.Ret):
                g = ret.args[1] if len(ret.args) > 1 else gamma
                if g is not None and g == 1:
                    diags.append(warning(
                        "G(...) with discount 1 is an infinite sum that may diverge",
                        span(o, ret), hint="use sum(r) on episodic envs, avg(r) for "
                                           "limit averages, or a discount below 1"))
    return spec, diags
