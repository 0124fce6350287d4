"""`objlang export --prism`: the env of a spec as a PRISM model, with a
properties file whose queries Storm (or PRISM) answers with the numbers
``objlang solve`` computes.

The model is the finite env (objlang/finite/prism.py) with one label per
proposition the objective's formulas read (inline state conditions get labels
``objlang_c0``, ...) and one reward structure per reward or inline return. The
properties file holds the goal: ``Pmax=? [ φ ]`` for ``P[φ]`` (LTL in PRISM
syntax, ``W``, ``R``, ``M``, ``xor``, ``->`` and ``<->`` rewritten with ``U``, ``G``,
``!``, ``&`` and ``|``; prefixed with ``X`` when the model has an added initial state that
draws the initial distribution) and ``R{"r"}max=? [ Cdiscount=γ ]`` for
``E[G(r, γ)]`` (rewards divided by γ when there is an added initial state,
which delays them by one step).
"""
from __future__ import annotations

import dataclasses

import sympy

from ..automata.ltl import render_formula
from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from .extract import finite_env, labels, transition_values
from .prism import prism_init_state, to_prism
from .solve import _discount, _unsupported, pick_objective

_INLINE = "objlang_c"


def prism_ltl(expr, spec: n.Spec) -> tuple[str, dict]:
    """PRISM/Storm LTL text of a checked formula, and the condition of each label.

    >>> import objlang
    >>> s = objlang.loads("prop a = obs == 1\\nprop b = obs == 2\\nltl f = a W b\\n"
    ...                   "objective o { maximize P[f] }")
    >>> prism_ltl(s.objectives[0].goal.expr.args[0], s)[0]
    '((("a" U "b") | (G "a")))'
    """
    def op_text(cls, a: list[str]) -> str:
        if cls is sym.Not_:
            return f"(!{a[0]})"
        if cls in (sym.And_, sym.Or_):
            return "(" + (" & " if cls is sym.And_ else " | ").join(a) + ")"
        if cls is sym.Xor:
            out = a[0]
            for b in a[1:]:
                out = f"(({out} & !{b}) | (!{out} & {b}))"
            return out
        if cls is sym.Implies:  # Storm's path formulas have no => or <=>
            return f"((!{a[0]}) | {a[1]})"
        if cls is sym.Equiv:
            return f"(({a[0]} & {a[1]}) | ((!{a[0]}) & (!{a[1]})))"
        if cls in (sym.Next, sym.Finally, sym.Always):
            return f"({cls.syntax} {a[0]})"
        if cls is sym.Until:
            return f"({a[0]} U {a[1]})"
        if cls is sym.WeakUntil:
            return f"(({a[0]} U {a[1]}) | (G {a[0]}))"
        if cls is sym.Release:
            return f"(!((!{a[0]}) U (!{a[1]})))"
        return f"({a[1]} U ({a[0]} & {a[1]}))"  # StrongRelease

    return render_formula(expr, spec, op_text, _INLINE, ("true", "false"))


def export_prism(spec: n.Spec, objective: str | None = None) -> tuple[str, str]:
    """(model text, properties text) of the spec's env and objective."""
    from ..ir.evaluate import Scope, compile_bool
    import numpy as np

    obj = pick_objective(spec, objective)
    if obj.constraints or obj.regularizers:
        raise _unsupported(obj, spec, "its constraints and regularisers have no PRISM "
                                      "property in the export yet")
    mdp = finite_env(spec)
    goal = obj.goal.expr
    sense = "max" if obj.goal.sense == "maximize" else "min"
    _, fresh = prism_init_state(mdp)
    label_masks, rewards = {}, {}
    if isinstance(goal, sym.Prob):
        if any(d.finite for d in spec.of_type(n.LtlDecl)
               if d.name in {s.name for s in goal.args[0].atoms(sympy.Symbol)}):
            raise _unsupported(obj, spec, "ltlf formulas have no PRISM property in the "
                                          "export yet")
        text, conditions = prism_ltl(goal.args[0], spec)
        scope = Scope.of(spec)
        named = [k for k in conditions if not k.startswith(_INLINE)]
        label_masks.update(labels(mdp, spec, named))
        for k, cond in conditions.items():
            if k.startswith(_INLINE):
                label_masks[k] = np.asarray(compile_bool(cond, scope, level="state")(
                    {"obs": np.asarray(mdp.obs)}), bool)
        if fresh:  # the added initial state reads no label: skip it
            text = f"X {text}"
        prop = f"P{sense}=? [ {text} ]"
    elif isinstance(goal, sym.Expect) and isinstance(goal.args[0], sym.Ret):
        ret = goal.args[0]
        if isinstance(ret.args[0], sympy.Symbol) and any(
                d.name == ret.args[0].name for d in spec.of_type(n.MachineDecl)):
            raise _unsupported(obj, spec, "machine returns have no PRISM property in the "
                                          "export yet")
        gamma = _discount(obj, spec, ret)
        R = transition_values(mdp, spec, ret.args[0], where=obj)
        # the added initial state delays every reward by one step: rewards scaled by
        # 1/γ make the value there the init-weighted value of the spec
        rewards["r"] = R / gamma if fresh and gamma > 0 else R
        prop = f'R{{"r"}}{sense}=? [ Cdiscount={gamma!r} ]'

    else:
        raise _unsupported(obj, spec, "the export writes properties for P[φ] and E[G(r)]")
    model = to_prism(mdp, label_masks, rewards)
    return model, prop + "\n"


__all__ = ["export_prism", "prism_ltl"]
