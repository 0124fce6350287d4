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
which delays them by one step), ``R{"r"}max=? [ C ]`` for ``E[sum(r)]``, and
Storm's multi-objective query for constraints on totals and probabilities:
``multi(R{"r"}max=? [ C ], P>=0.8 [ G (!"ruined") ])`` (its engine takes ``F a``,
``G a`` and ``a U b`` with propositional a, b; other formulas are refused).
"""
from __future__ import annotations

import sympy

from ..automata.ltl import render_formula
from ..ir import nodes as n
from ..ir import sym
from ..syntax.printer import expr as show
from .extract import finite_env, labels, transition_values
from .prism import _num, prism_init_state, to_prism
from .solve import _discount, _unsupported, pick_objective

_INLINE = "objlang_c"
_TEMPORAL = (sym.Next, sym.Finally, sym.Always, sym.Until, sym.WeakUntil, sym.Release,
             sym.StrongRelease)


def prism_ltl(expr, spec: n.Spec, inline: str = _INLINE) -> tuple[str, dict]:
    """PRISM/Storm LTL text of a checked formula, and the condition of each label
    (inline state conditions become labels ``<inline>0``, ...).

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

    return render_formula(expr, spec, op_text, inline, ("true", "false"))


def _labels(mdp, spec: n.Spec, conditions: dict) -> dict:
    """The ``(S,)`` mask of every label a formula text uses (props and inline
    state conditions)."""
    return labels(mdp, spec, [k for k in conditions if not k.startswith(_INLINE)],
                  {k: c for k, c in conditions.items() if k.startswith(_INLINE)})


def _is_ltlf(spec: n.Spec, phi) -> bool:
    return any(d.finite for d in spec.of_type(n.LtlDecl)
               if d.name in {s.name for s in phi.atoms(sympy.Symbol)})


def _temporal(e, formulas: dict) -> bool:
    """Whether a formula uses a temporal operator (named formulas inlined)."""
    if isinstance(e, sympy.Symbol):
        return e.name in formulas and _temporal(formulas[e.name], formulas)
    return isinstance(e, _TEMPORAL) or any(_temporal(a, formulas) for a in e.args)


def _path_formula(obj, spec: n.Spec, phi, prefix: str) -> tuple[str, dict]:
    """Storm text of a formula its multi-objective engine accepts -- ``F a``,
    ``G a`` or ``a U b`` with propositional a, b -- and the conditions of its
    labels (inline ones named ``prefix...``)."""
    formulas = {d.name: d.formula for d in spec.of_type(n.LtlDecl)}
    while isinstance(phi, sympy.Symbol) and phi.name in formulas:
        phi = formulas[phi.name]
    ops = {sym.Finally: "F", sym.Always: "G", sym.Until: "U"}
    if type(phi) not in ops or any(_temporal(a, formulas) for a in phi.args):
        raise _unsupported(obj, spec, f"Storm's multi-objective engine takes P[F a], P[G a] "
                                      f"and P[a U b] with propositional a, b only, not "
                                      f"P[{show(phi)}]")
    texts, conditions = [], {}
    for i, a in enumerate(phi.args):
        text, c = prism_ltl(a, spec, f"{prefix}{i}_")
        texts.append(text)
        conditions.update(c)
    if type(phi) is sym.Until:
        return f"{texts[0]} U {texts[1]}", conditions
    return f"{ops[type(phi)]} {texts[0]}", conditions


def _multi(obj, spec: n.Spec, mdp, fresh: bool, label_masks: dict, rewards: dict) -> str:
    """Storm's multi-objective query (``multi(...)``, or the goal's query alone
    without constraints) for a goal that is one total or probability and
    constraints that each bound one total or probability; fills the labels and
    reward structures it uses."""
    from .occupancy import linear_parts

    order, goals, cons = linear_parts(obj, spec)
    terms, const = goals[0]
    if order is not None or len(terms) != 1 or terms[0][0] != 1 or const \
            or any(len(t) != 1 for t, *_ in cons):
        raise _unsupported(obj, spec, "the export writes a Storm multi-objective query for a "
                                      "goal that is one E[sum(r)] or P[φ] and constraints "
                                      "that each bound one of them")
    totals: dict = {}

    def query(atom, op: str, k: int) -> str:
        if isinstance(atom, sym.Prob):
            if _is_ltlf(spec, atom.args[0]):
                raise _unsupported(obj, spec, "ltlf formulas have no PRISM property in the "
                                              "export yet")
            if fresh:
                raise _unsupported(obj, spec, "the initial distribution is not one state: the "
                                              "exported model starts in an added state, which "
                                              "Storm's multi-objective formulas (no X) cannot "
                                              "skip")
            text, conditions = _path_formula(obj, spec, atom.args[0], f"{_INLINE}{k}_")
            label_masks.update(_labels(mdp, spec, conditions))
            return f"P{op} [ {text} ]"
        if not isinstance(atom.args[0], sym.Total):
            raise _unsupported(obj, spec, "the export writes Storm multi-objective queries for "
                                          "undiscounted totals E[sum(r)] and probabilities "
                                          "P[φ] only")
        if atom not in totals:
            totals[atom] = name = "r" if not totals else f"c{len(totals)}"
            rewards[name] = transition_values(mdp, spec, atom.args[0].args[0], where=obj)
        return f'R{{"{totals[atom]}"}}{op} [ C ]'

    parts = [query(terms[0][1], ("max" if obj.goal.sense == "maximize" else "min") + "=?", 0)]
    for ((w, atom),), sense, bound, _ in cons:
        if w < 0:
            sense = "<=" if sense == ">=" else ">="
        parts.append(query(atom, f"{sense}{_num(bound / w)}", len(parts)))
    return f"multi({', '.join(parts)})" if cons else parts[0]


def export_prism(spec: n.Spec, objective: str | None = None) -> tuple[str, str]:
    """(model text, properties text) of the spec's env and objective."""
    obj = pick_objective(spec, objective)
    if obj.regularizers:
        raise _unsupported(obj, spec, "its regularisers have no PRISM property in the export")
    mdp = finite_env(spec)
    goal = obj.goal.expr
    sense = "max" if obj.goal.sense == "maximize" else "min"
    _, fresh = prism_init_state(mdp)
    label_masks, rewards = {}, {}
    if obj.constraints or goal.has(sym.Total):
        prop = _multi(obj, spec, mdp, fresh, label_masks, rewards)
    elif isinstance(goal, sym.Prob):
        if _is_ltlf(spec, goal.args[0]):
            raise _unsupported(obj, spec, "ltlf formulas have no PRISM property in the "
                                          "export yet")
        text, conditions = prism_ltl(goal.args[0], spec)
        label_masks.update(_labels(mdp, spec, conditions))
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
        raise _unsupported(obj, spec, "the export writes properties for P[φ], E[G(r)] and "
                                      "E[sum(r)], and Storm multi-objective queries for "
                                      "constraints on totals and probabilities")
    model = to_prism(mdp, label_masks, rewards)
    return model, prop + "\n"


__all__ = ["export_prism", "prism_ltl"]
