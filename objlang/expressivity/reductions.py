"""Exact reductions: rewrites of an objective, IR to IR, towards the lowest formalism.

Each rule of :data:`RULES` is a pure function ``(ctx, objective) -> _Rewrite |
None``: a new objective (and any declaration it needs), with the reason why it
orders every policy exactly as the old one does (on the spec's env: bounds of
rewards are read there), so that ``written_in`` of the result is a formalism
that can express the task. :func:`reduce` applies them to a fixpoint. The rules,
and the traps they leave alone:

* a regulariser with weight 0 is removed (RRL -> its base);
* ``lex(X)`` / ``pareto(X)`` of one component -> X (two or more: not reduced);
* ``G(m)`` of a one-state machine -> ``G(m_reward)``, a new ``reward m_reward =
  Σ [guard] * reward`` over its edges (a machine with two states or more keeps a
  memory: not reduced);
* ``P[φ]`` or a trace indicator ``[φ]`` with φ equivalent to true or false
  (Spot) -> 1 or 0 (a goal left with no value in it ties every policy, as MR
  with the reward 0 does);
* linearity of expectation: ``E[a·X + b·Y + c]`` -> ``a·E[X] + b·E[Y] + c`` for
  returns and trace indicators X, Y (a nonlinear function inside E, even an
  increasing one like ``E[exp(G(r))]``, is risk-sensitive: not reduced);
* ``Σ w_i E[G(r_i)]`` with one discount -> ``E[G(Σ w_i r_i)]``;
* a strictly monotone f of one value, ``f(E[G(r)])``, -> ``E[G(r)]`` (the sense
  flipped where f decreases), with monotonicity decided by sympy over the
  interval the value can take: for a return, ``[min r, max r] / (1 - γ)``, the
  reward's bounds taken over the finite env's transitions, else by interval
  arithmetic on its expression, else the whole real line;
* a constraint that holds for every policy (by the same intervals) is dropped.

>>> import objlang
>>> s = objlang.loads("reward r = [obs == 1]\\ndiscount 0.9\\n"
...                   "objective o { maximize 2 * E[G(r)] + 1 }")
>>> out = reduce(s, "o")
>>> [(st.before, st.after) for st in out.steps], out.lowest
([('ONMR', 'MR')], ['MR'])
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import numpy as np
import sympy

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from ..syntax.printer import expr as show
from .classify import _VALUE_ATOMS
from .written import written_in

__all__ = ["Reduction", "Reduced", "RULES", "reduce"]

#: trajectory random variables that are sums of rewards
_RETURNS = (sym.Ret, sym.Total)
_RANDOM = (sym.Ret, sym.Total, sym.Avg)
_INF = math.inf


@dataclass(frozen=True)
class Reduction:
    """One rewrite: the rule, why it is exact, and the formalism before and after."""

    rule: str
    reason: str
    before: str
    after: str

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Reduced:
    """The outcome of :func:`reduce`: ``spec`` with the objective rewritten."""

    spec: n.Spec
    objective: str
    steps: list[Reduction]
    lowest: list[str]

    def to_json(self) -> dict:
        return {"objective": self.objective, "steps": [s.to_json() for s in self.steps],
                "lowest": self.lowest}


def _num(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else ("∞" if x > 0 else "-∞")


def _interval(lo: float, hi: float) -> str:
    left, right = "(" if lo == -_INF else "[", ")" if hi == _INF else "]"
    return f"{left}{_num(lo)}, {_num(hi)}{right}"


class _Rewrite(NamedTuple):
    """What a rule returns: the new objective, why, and declarations it refers to."""

    obj: n.ObjectiveDecl
    reason: str
    decls: tuple = ()


class _Context:
    """The spec (with the declarations the rules have added) and what the rules read
    from it, computed once: the finite env (None when there is none), reward bounds
    and Spot's verdicts on formulas."""

    def __init__(self, spec: n.Spec):
        self.spec = spec
        self.machines = {d.name: d for d in spec.of_type(n.MachineDecl)}
        self._mdp: list = []
        self._ranges: dict = {}
        self.constants: dict = {}

    def mdp(self):
        if not self._mdp:
            from ..finite.extract import finite_env

            try:
                self._mdp.append(finite_env(self.spec))
            except ObjlangError:  # no env, or not a finite one: bounds by interval arithmetic
                self._mdp.append(None)
        return self._mdp[0]

    def discount(self, obj: n.ObjectiveDecl, ret) -> Optional[float]:
        """The discount of ``G(...)`` (None when the spec declares none)."""
        if isinstance(ret, sym.Total):
            return 1.0
        from ..finite.solve import _discount

        try:
            return _discount(obj, self.spec, ret)
        except ObjlangError:
            return None

    def reward_range(self, x) -> tuple[float, float, str]:
        """Bounds of the reward ``x`` (an expression, or a machine's name) on one
        step, and how they were found."""
        if x not in self._ranges:
            self._ranges[x] = self._reward_range(x)
        return self._ranges[x]

    def _reward_range(self, x):
        if isinstance(x, sympy.Symbol) and x.name in self.machines:
            # a step emits one edge's reward, or 0 where no edge is taken
            parts = [self.reward_range(e.reward) for e in self.machines[x.name].edges
                     if e.reward is not None]
            return (min([0.0] + [p[0] for p in parts]), max([0.0] + [p[1] for p in parts]),
                    f"over the rewards of machine {x.name}'s edges and 0")
        mdp = self.mdp()
        if mdp is not None:
            from ..finite.extract import transition_values

            try:
                data = transition_values(mdp, self.spec, x).data
            except ObjlangError:  # reads info or external props: bound it by its expression
                pass
            else:
                lo, hi = (float(data.min()), float(data.max())) if len(data) else (0.0, 0.0)
                return lo, hi, "over the env's transitions"
        return _enclosed(x, {sym.name(d.name): d.expr for d in self.spec.of_type(n.RewardDecl)})

    def random_range(self, obj, a) -> tuple[float, float, str]:
        """Bounds of a trajectory variable ``G(r)``, ``sum(r)``, ``avg(r)`` or ``[φ]``."""
        if isinstance(a, sym.Iverson):
            return 0.0, 1.0, f"{show(a)} is 0 or 1"
        lo, hi, how = self.reward_range(a.args[0])
        why = f"{show(a.args[0])} ∈ {_interval(lo, hi)} {how}"
        if isinstance(a, sym.Avg):
            return lo, hi, f"{why}, so {show(a)} ∈ {_interval(lo, hi)}"
        gamma = self.discount(obj, a)
        if gamma is not None and gamma < 1:
            glo, ghi = lo / (1 - gamma), hi / (1 - gamma)
            why += f" and γ = {_num(gamma)}"
        else:  # a sum of any length: only the signs of the rewards bound it
            glo, ghi = (0.0 if lo >= 0 else -_INF), (0.0 if hi <= 0 else _INF)
            why += " and γ = 1" if gamma is not None else " and no discount is declared"
        return glo, ghi, f"{why}, so {show(a)} ∈ {_interval(glo, ghi)}"

    def value_range(self, obj, a) -> tuple[float, float, str]:
        """Bounds of a value atom over all policies (the whole line where unknown)."""
        if isinstance(a, (sym.Prob, sym.PiProb)):
            return 0.0, 1.0, f"{show(a)} is a probability"
        if not isinstance(a, sym.Expect):
            return -_INF, _INF, f"{show(a)} is not bounded here"
        x = a.args[0]
        if isinstance(x, _RANDOM):
            return self.random_range(obj, x)
        parts = {v: self.random_range(obj, v) for v in _trajectory_atoms(x)}
        try:
            lo, hi = _enclose(x, {v: p[:2] for v, p in parts.items()})
        except _NoBound:
            return -_INF, _INF, f"{show(x)} is not bounded here"
        why = "; ".join(p[2] for p in parts.values())
        return lo, hi, f"{why}, so {show(x)} ∈ {_interval(lo, hi)}"

    def formula_constant(self, phi) -> Optional[int]:
        """1 or 0 where the formula φ holds on every trace or on none (Spot), else None."""
        if phi not in self.constants:
            self.constants[phi] = self._formula_constant(phi)
        return self.constants[phi]

    def _formula_constant(self, phi):
        from ..automata.ltl import _limited, spot_text, time_limit

        names = {s.name for s in phi.atoms(sympy.Symbol)}
        finite = any(d.finite and d.name in names for d in self.spec.of_type(n.LtlDecl))
        text, _ = spot_text(phi, self.spec, finite)
        try:
            out = _limited(_spot_constant, (text, finite), time_limit(),
                           f"the formula {show(phi)}", None, self.spec)
        except ObjlangError:  # Spot timed out or failed: undecided, so not reduced
            return None
        return {"tt": 1, "ff": 0}.get(out)


class _NoBound(Exception):
    """An expression that interval arithmetic does not cover."""


def _enclose(e, boxes: dict) -> tuple[float, float]:
    """``(lo, hi)`` of ``e`` over ``boxes`` (term -> (lo, hi) floats), by
    :func:`objlang.finite.intervals.enclose`."""
    from ..finite.intervals import NoEnclosure, enclose

    try:
        lo, hi = enclose(e, {k: (np.array(a), np.array(b)) for k, (a, b) in boxes.items()})
    except NoEnclosure:
        raise _NoBound(e) from None
    return float(lo), float(hi)


def _enclosed(x, rewards: dict) -> tuple[float, float, str]:
    """Bounds of a reward expression by interval arithmetic: reward names inlined,
    ``[b]`` in [0, 1], observations, actions and anything else unbounded; 0 is
    always in, the reward once the env has terminated (language.md §6)."""
    while x.free_symbols & rewards.keys():
        x = x.xreplace(rewards)
    boxes: dict = {}

    def fresh(lo, hi):
        d = sympy.Dummy()
        boxes[d] = (lo, hi)
        return d

    x = x.replace(lambda e: isinstance(e, sym.Iverson), lambda e: fresh(0.0, 1.0))
    x = x.replace(lambda e: isinstance(e, (sym.Index, sym.Attr, sym.Norm, sym.Dot))
                  or (isinstance(e, sympy.Symbol) and e not in boxes),
                  lambda e: fresh(-_INF, _INF))
    try:
        lo, hi = _enclose(x, boxes)
    except _NoBound:
        lo, hi = -_INF, _INF
    if (lo, hi) == (-_INF, _INF):
        return lo, hi, "(no bound known: no finite env, and its expression is unbounded)"
    return (min(lo, 0.0), max(hi, 0.0),
            "by interval arithmetic on its expression, with 0 after a termination")


def _spot_constant(text: str, finite: bool) -> Optional[str]:
    """"tt" or "ff" where the formula (Spot syntax) is equivalent to true or false.

    An ``ltlf`` formula is only ever reduced to false: one true on every finite
    trace still fails on a run that never ends (language.md §6)."""
    import spot

    f = spot.formula(text)
    if finite:
        return "ff" if spot.are_equivalent(spot.from_ltlf(f, "alive_"),
                                           spot.formula.ff()) else None
    if spot.are_equivalent(f, spot.formula.tt()):
        return "tt"
    return "ff" if spot.are_equivalent(f, spot.formula.ff()) else None


def _trajectory_atoms(x) -> set:
    """The random variables of E[x]: returns, totals, averages and trace indicators
    ``[φ]`` (not the indicators inside a reward, nor comparisons of returns)."""
    randoms = x.atoms(*_RANDOM)
    hidden = {a: sympy.Dummy() for a in randoms}
    stripped = x.xreplace(hidden)
    return randoms | {i for i in stripped.atoms(sym.Iverson) if not i.has(*hidden.values())}


def _map_values(obj: n.ObjectiveDecl, f: Callable) -> n.ObjectiveDecl:
    """The objective with ``f`` applied to its goal and its constraints."""
    return dataclasses.replace(
        obj, goals=(dataclasses.replace(obj.goal, expr=f(obj.goal.expr)),) + obj.goals[1:],
        constraints=tuple(dataclasses.replace(c, expr=f(c.expr)) for c in obj.constraints))


def _values(obj: n.ObjectiveDecl) -> list:
    return [obj.goal.expr] + [c.expr for c in obj.constraints]


def _constant(obj: n.ObjectiveDecl) -> bool:
    goal = obj.goal.expr
    return not isinstance(goal, (sym.Lex, sym.Pareto)) and not goal.atoms(*_VALUE_ATOMS)


def _with_goal(obj: n.ObjectiveDecl, goal, sense: Optional[str] = None) -> n.ObjectiveDecl:
    g = dataclasses.replace(obj.goal, expr=goal, sense=sense or obj.goal.sense)
    return dataclasses.replace(obj, goals=(g,) + obj.goals[1:])


# ---- the rules ---------------------------------------------------------------------

def _zero_regularizer(ctx: _Context, obj: n.ObjectiveDecl):
    zero = [r for r in obj.regularizers if sympy.expand(r.expr) == 0]
    if not zero:
        return None
    kept = tuple(r for r in obj.regularizers if r not in zero)
    texts = ", ".join(f"`regularize {show(r.expr)}`" for r in zero)
    return _Rewrite(dataclasses.replace(obj, regularizers=kept),
                    f"{texts} adds 0 to the value of every policy, so removing it changes "
                    f"no preference")


def _single_order(ctx: _Context, obj: n.ObjectiveDecl):
    goal = obj.goal.expr
    if not isinstance(goal, (sym.Lex, sym.Pareto)) or len(goal.args) != 1:
        return None
    return _Rewrite(_with_goal(obj, goal.args[0]),
                    f"{show(goal)} has one component, so it orders policies as "
                    f"{show(goal.args[0])} does")


def _one_state_machine(ctx: _Context, obj: n.ObjectiveDecl):
    rets = set().union(*(v.atoms(sym.Ret) for v in _values(obj)))
    for ret in sorted(rets, key=sympy.default_sort_key):
        m = ctx.machines.get(getattr(ret.args[0], "name", None))
        if m is None or len(m.states) != 1 or m.finals:
            continue
        # a declared reward, not an inline G(...): its guards may read the action
        name = f"{m.name}_reward"
        while name in ctx.spec.named():
            name += "_"
        decl = n.RewardDecl(name, sympy.Add(*(sym.Iverson(e.guard) * e.reward
                                              for e in m.edges if e.reward is not None)))
        new = sym.Ret(sym.name(name), *ret.args[1:])
        return _Rewrite(_map_values(obj, lambda v: v.xreplace({ret: new})),
                        f"machine {m.name} has one state, {m.start}: the reward it emits on a "
                        f"step depends on that step's transition only, so {show(ret)} = "
                        f"{show(new)}, the return of the Markov reward `reward {name} = "
                        f"{show(decl.expr)}`", (decl,))
    return None


def _constant_formula(ctx: _Context, obj: n.ObjectiveDecl):
    formulas = set()
    for v in _values(obj):
        formulas |= {p.args[0] for p in v.atoms(sym.Prob)}
        for e in v.atoms(sym.Expect):
            formulas |= {i.args[0] for i in _trajectory_atoms(e.args[0])
                         if isinstance(i, sym.Iverson)}
    decided = {}
    for phi in sorted(formulas, key=sympy.default_sort_key):
        c = ctx.formula_constant(phi)
        if c is not None:
            decided[phi] = sympy.Integer(c)
    if not decided:
        return None
    subs = {}
    for phi, c in decided.items():
        subs[sym.Prob(phi)] = subs[sym.Iverson(phi)] = c
    said = "; ".join(f"{show(phi)} is equivalent to {'true' if c else 'false'}, so "
                     f"P[{show(phi)}] = {c} for every policy" for phi, c in decided.items())
    return _Rewrite(_map_values(obj, lambda v: v.xreplace(subs)), f"by Spot, {said}")


def _linearity(ctx: _Context, obj: n.ObjectiveDecl):
    for v in _values(obj):
        for e in sorted(v.atoms(sym.Expect), key=sympy.default_sort_key):
            x = e.args[0]
            atoms = sorted(_trajectory_atoms(x), key=sympy.default_sort_key)
            if isinstance(x, (*_RANDOM, sym.Iverson)):
                continue
            ds = [sympy.Dummy() for _ in atoms]
            y = x.xreplace(dict(zip(atoms, ds)))
            affine = y.free_symbols <= set(ds) and (not ds or y.is_polynomial(*ds) and
                                                    sympy.Poly(y, *ds).total_degree() <= 1)
            if not affine:
                continue
            y = sympy.expand(y)
            split = y.subs({d: 0 for d in ds}) + sympy.Add(*(
                y.coeff(d) * (sym.Prob(a.args[0]) if isinstance(a, sym.Iverson)
                              else sym.Expect(a)) for a, d in zip(atoms, ds)))
            what = "the expectation of a constant is that constant" if not atoms else \
                "expectation is linear"
            return _Rewrite(_map_values(obj, lambda w: w.xreplace({e: split})),
                            f"{what}: {show(e)} = {show(split)}")
    return None


def _combine_returns(ctx: _Context, obj: n.ObjectiveDecl):
    for v in _values(obj):
        for add in sorted(v.atoms(sympy.Add), key=sympy.default_sort_key):
            groups: dict = {}
            for term in add.args:
                w, rest = term.as_coeff_Mul()
                if isinstance(rest, sym.Expect) and isinstance(rest.args[0], _RETURNS) \
                        and getattr(rest.args[0].args[0], "name", None) not in ctx.machines:
                    ret = rest.args[0]
                    groups.setdefault((type(ret), ctx.discount(obj, ret)), []).append((w, term))
            for (kind, gamma), terms in groups.items():
                if len(terms) < 2:
                    continue
                rets = [t.as_coeff_Mul()[1].args[0] for _, t in terms]
                reward = sympy.Add(*(w * r.args[0] for (w, _), r in zip(terms, rets)))
                tails = {r.args[1:] for r in rets}
                # one written discount is kept; several spellings of one value become it
                tail = tails.pop() if len(tails) == 1 else (sympy.Float(gamma),)
                merged = sym.Expect(kind(reward, *tail))
                old = sympy.Add(*(t for _, t in terms))
                new_add = add.func(*[a for a in add.args if a not in [t for _, t in terms]],
                                   merged)
                g = "" if kind is sym.Total else \
                    f" (γ = {_num(gamma)})" if gamma is not None else " (one discount)"
                return _Rewrite(_map_values(obj, lambda u: u.xreplace({add: new_add})),
                                f"returns with one discount{g} add up: {show(old)} = "
                                f"{show(merged)}, the expected return of one Markov reward")
    return None


def _direction(f, x, lo: float, hi: float) -> Optional[int]:
    """+1 where f is strictly increasing on [lo, hi], -1 where strictly decreasing,
    None where sympy cannot tell: f continuous there and f' <= 0 (resp. >= 0) at
    finitely many points at most."""
    if lo == hi:
        return 1
    box = sympy.Interval(-sympy.oo if lo == -_INF else sympy.Rational(lo),
                         sympy.oo if hi == _INF else sympy.Rational(hi))
    try:
        if not box.is_subset(sympy.calculus.util.continuous_domain(f, x, box)):
            return None
        d = sympy.diff(f, x)
        for sign, bad in ((1, d <= 0), (-1, d >= 0)):
            where = sympy.solveset(bad, x, box)
            if where is sympy.S.EmptySet or isinstance(where, sympy.FiniteSet):
                return sign
    except (NotImplementedError, ValueError, TypeError):  # sympy gives up: undecided
        return None
    return None


def _monotone(ctx: _Context, obj: n.ObjectiveDecl):
    goal = obj.goal.expr
    atoms = goal.atoms(*_VALUE_ATOMS)
    if isinstance(goal, (sym.Lex, sym.Pareto)) or len(atoms) != 1:
        return None
    (a,) = atoms
    if goal == a or not isinstance(a, (sym.Expect, sym.Prob)):
        return None
    x = sympy.Symbol("x", real=True)
    f = goal.xreplace({a: x})
    if not f.free_symbols <= {x}:
        return None
    lo, hi, why = ctx.value_range(obj, a)
    sign = _direction(f, x, lo, hi)
    # a regulariser is added to f(value): only a shift of the value keeps the trade-off
    if sign is None or obj.regularizers and lo != hi and sympy.diff(f, x) != 1:
        return None
    sense = obj.goal.sense if sign > 0 else \
        {"maximize": "minimize", "minimize": "maximize"}[obj.goal.sense]
    shown = show(f.xreplace({x: sympy.Symbol("x")}))
    if lo == hi:
        because = f"{show(a)} is {_num(lo)} for every policy ({why})"
    else:
        because = (f"f(x) = {shown} is strictly {'in' if sign > 0 else 'de'}creasing on "
                   f"{_interval(lo, hi)} ({why})")
    verb = {"maximize": "maximising", "minimize": "minimising"}
    return _Rewrite(_with_goal(obj, a, sense),
                    f"{because}, so {verb[obj.goal.sense]} f({show(a)}) orders policies as "
                    f"{verb[sense]} {show(a)} does")


def _vacuous_constraint(ctx: _Context, obj: n.ObjectiveDecl):
    for con in obj.constraints:
        atoms = con.expr.atoms(*_VALUE_ATOMS)
        ranges = {a: ctx.value_range(obj, a) for a in atoms}
        try:
            sure, _ = _enclose(sym.Iverson(con.expr), {a: r[:2] for a, r in ranges.items()})
        except _NoBound:
            continue
        if sure == 1:
            why = "; ".join(r[2] for r in ranges.values()) or "it has no value in it"
            return _Rewrite(dataclasses.replace(obj, constraints=tuple(
                c for c in obj.constraints if c is not con)),
                f"`subject to {show(con.expr)}` holds for every policy ({why}): dropped")
    return None


#: the rewrites, tried in this order; each one's output orders policies as its input
RULES: tuple = (
    ("zero regulariser", _zero_regularizer),
    ("single component", _single_order),
    ("one-state machine", _one_state_machine),
    ("constant formula", _constant_formula),
    ("linearity of expectation", _linearity),
    ("sum of returns", _combine_returns),
    ("monotone function", _monotone),
    ("vacuous constraint", _vacuous_constraint),
)


def reduce(spec: n.Spec, objective: Optional[str] = None) -> Reduced:
    """Apply :data:`RULES` to the objective (the only one where ``objective`` is
    None) until none applies; the reduced spec, the steps with their reasons, and
    ``lowest``: the formalism of the final objective."""
    from ..finite.solve import pick_objective

    obj = start = pick_objective(spec, objective)
    ctx = _Context(spec)
    steps = []
    while True:
        for name, rule in RULES:
            out = rule(ctx, obj)
            if out is not None:
                at = ctx.spec.decls.index(start)  # new declarations go before the objective
                ctx.spec = dataclasses.replace(ctx.spec, decls=ctx.spec.decls[:at] + out.decls
                                               + ctx.spec.decls[at:])
                reason = out.reason
                if _constant(out.obj) and not _constant(obj):
                    reason += (f"; the goal is now the constant {show(out.obj.goal.expr)}: every "
                               f"policy ties, as under the Markov reward 0 (MR)")
                steps.append(Reduction(name, reason, written_in(obj, spec)[0],
                                       written_in(out.obj, spec)[0]))
                obj = out.obj
                break
        else:
            break
    reduced = dataclasses.replace(ctx.spec, decls=tuple(obj if d is start else d
                                                        for d in ctx.spec.decls))
    return Reduced(reduced, obj.name, steps, [written_in(obj, reduced)[0]])
