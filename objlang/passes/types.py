"""Type checking: every expression is read at the level its place demands.

Levels, from the innermost:

* **state** (props): numbers, ``obs``, ``info``, props, comparisons, ``[b]``;
* **transition** (rewards, costs, machine edges): also ``action``, ``next``,
  ``env_reward`` and other rewards;
* **formula** (``ltl``, ``ltlf``, ``P[...]``, ``[φ]`` in a trajectory): props,
  state conditions and the temporal operators;
* **trajectory** (inside ``E[...]``, ``Var[...]``): ``G(r)``, ``sum(r)``,
  ``avg(r)``, ``[φ]`` and real functions of them;
* **value** (objectives): ``E``, ``P``, ``Var``, ``entropy``, ``kl``,
  ``pi(s, a)`` and real functions of them; ``lex``/``pareto`` at the top.

The pass also settles the one ambiguity of the syntax: ``G(x)`` written
without a space is the discounted return of a reward, machine or transition
expression, and globally when ``x`` is a formula.
"""
from __future__ import annotations

import dataclasses

import sympy

from ..errors import did_you_mean
from ..ir import nodes as n
from ..ir import sym
from .context import FINITE_ENVS, error, span
from .mdps import actions_of
from .names import exprs

_STATE, _TRANS = 1, 2
_REAL_FUNCS = (sympy.Add, sympy.Mul, sympy.Pow, sympy.Min, sympy.Max, sympy.Abs,
               sympy.exp, sympy.log)
_LOGIC = (sym.Not_, sym.And_, sym.Or_, sym.Xor, sym.Implies, sym.Equiv)
_TEMPORAL = (sym.Next, sym.Finally, sym.Always, sym.Until, sym.WeakUntil, sym.Release,
             sym.StrongRelease)
_CMP = (sym.Eq_, sym.Ne_, sym.Lt_, sym.Le_, sym.Gt_, sym.Ge_)
_VALUE_ATOMS = (sym.Expect, sym.Prob, sym.Variance, sym.Entropy, sym.KL, sym.PiProb)
_TRAJ_ATOMS = (sym.Ret, sym.Total, sym.Avg)
_WHAT = {  # how to name a node in a message
    sym.Expect: "E[...]", sym.Prob: "P[...]", sym.Variance: "Var[...]", sym.Ret: "G(...)",
    sym.Total: "sum(...)", sym.Avg: "avg(...)", sym.Entropy: "entropy(...)", sym.KL: "kl(...)",
    sym.PiProb: "pi(s, a)", sym.Lex: "lex(...)", sym.Pareto: "pareto(...)", sym.Occ: "occ(...)",
}


class _Fail(Exception):
    def __init__(self, message, node, hint=None, within=None):
        self.message, self.node, self.hint, self.within = message, node, hint, within


def _inside(item, check):
    """Run check(); a failure is located within the block line ``item``."""
    try:
        return check()
    except _Fail as f:
        f.within = f.within or item.loc
        if f.node is None:
            f.node, f.within = item, None
        raise


def _what(node) -> str:
    if isinstance(node, sympy.Number):
        return f"the number {node}"
    if type(node) in _WHAT:
        return _WHAT[type(node)]
    if isinstance(node, _TEMPORAL):
        return f"the temporal operator {type(node).syntax}"
    if isinstance(node, (sym.Iverson,)):
        return "[...]"
    return type(node).__name__.rstrip("_").lower()


@dataclasses.dataclass
class _Names:
    """What each name of the spec is."""

    kinds: dict  # name -> "prop" | "reward" | "cost" | "ltl" | "ltlf" | ...
    states: frozenset  # state names of the env's mdp (constants in expressions)
    actions: frozenset
    finite_env: bool

    @staticmethod
    def of(spec: n.Spec) -> "_Names":
        kinds = {}
        for d in spec.decls:
            if isinstance(d, n.PropDecl):
                kinds[d.name] = "prop"
            elif isinstance(d, n.RewardDecl):
                kinds[d.name] = "cost" if d.cost else "reward"
            elif isinstance(d, n.LtlDecl):
                kinds[d.name] = "ltlf" if d.finite else "ltl"
            elif isinstance(d, (n.MachineDecl, n.PolicyDecl, n.MdpDecl, n.ObjectiveDecl,
                                n.DefDecl)):
                kinds.setdefault(d.name, n.DECL_KEYWORDS[type(d)])
        env = next(iter(spec.of_type(n.EnvDecl)), None)
        states, actions, finite = frozenset(), frozenset(), False
        if env is not None and env.is_mdp:
            mdp = next((m for m in spec.of_type(n.MdpDecl) if m.name == env.env_id), None)
            if mdp is not None:
                states = frozenset(r.state for r in mdp.rows) | {s for s, _ in mdp.start}
                actions = frozenset(actions_of(mdp))
            finite = True
        elif env is not None:
            finite = env.env_id in FINITE_ENVS
        return _Names(kinds, states, actions, finite)


class _Checker:
    def __init__(self, names: _Names):
        self.names = names

    # ---- names ---------------------------------------------------------
    def unknown(self, node, wanted: str):
        cands = [k for k, v in self.names.kinds.items() if v in wanted] or list(self.names.kinds)
        guess = did_you_mean(node.name, [*cands, *self.names.states])
        raise _Fail(f"unknown {wanted} '{node.name}'" + (f" ({guess})" if guess else ""), node,
                    None if guess else f"declare it first, e.g. `prop {node.name} = ...`"
                    if wanted == "proposition" else None)

    def _name(self, node, level, allowed: tuple[str, ...], role: str):
        kind = self.names.kinds.get(node.name)
        if kind in allowed:
            return kind
        if kind is None:
            if (node.name in self.names.states or node.name in self.names.actions) \
                    and "const" in allowed:
                return "const"
            self.unknown(node, role)
        raise _Fail(f"'{node.name}' is a {kind}, not a {role}", node, {
            "prop": "a prop is boolean: write [p] to use it as a number",
            "reward": "a reward is per step: use G(r), sum(r) or avg(r) in an objective",
            "ltl": "a formula is read with P[φ] or [φ] in an objective",
            "ltlf": "a formula is read with P[φ] or [φ] in an objective",
            "machine": "take a machine's return with G(m)",
        }.get(kind))

    # ---- state and transition level --------------------------------------
    def real(self, e, level: int):
        """A real number of a state (level 1) or a transition (level 2)."""
        if isinstance(e, sympy.Number) or e is sympy.E:
            if not e.is_finite:
                raise _Fail("division by zero or a number too large", e)
            return e
        if isinstance(e, sympy.Symbol):
            if e.name in ("obs", "info"):
                return e
            if e.name in ("action", "next", "env_reward"):
                if level < _TRANS:
                    raise _Fail(f"'{e.name}' is only defined in rewards and costs", e,
                                "a prop reads one observation: obs and info")
                return e
            if e.name == "pi":
                raise _Fail("'pi' (the policy) belongs in an objective", e)
            kind = self._name(e, level, ("reward", "cost", "const"), "reward or constant"
                              if level >= _TRANS else "constant")
            if kind in ("reward", "cost") and level < _TRANS:
                raise _Fail(f"'{e.name}' is a {kind}; a prop cannot use it", e)
            return e
        if isinstance(e, sym.Str):
            raise _Fail("a string is not a number", e)
        if isinstance(e, (sym.Index, sym.Slice, sym.Attr)):
            return self.path(e, level)
        if isinstance(e, _REAL_FUNCS) or isinstance(e, (sym.Vec, sym.Norm, sym.Dot)):
            return e.func(*[self.real(a, level) for a in e.args])
        if isinstance(e, sym.Iverson):
            return sym.Iverson(self.boolean(e.args[0], level))
        if isinstance(e, sym.Ite):
            b, x, y = e.args
            return sym.Ite(self.boolean(b, level), self.real(x, level), self.real(y, level))
        if isinstance(e, (sympy.logic.boolalg.BooleanAtom,) + _LOGIC + _CMP + (sym.In_,)):
            raise _Fail("a condition where a number is expected", e,
                        "write [b] for 1 where b holds, else 0")
        raise _Fail(f"{_what(e)} cannot appear in a "
                    f"{'reward or cost' if level >= _TRANS else 'prop'}", e,
                    "trajectory and policy-level terms belong in objectives")

    def path(self, e, level: int):
        """obs[i], obs["k"], obs[a:b], info.key, next[...], env_reward[i]."""
        base = e.args[0]
        if isinstance(e, sym.Attr):
            if e.args[1].name.startswith("__"):
                raise _Fail(f"names beginning with '__' are reserved: '{e.args[1].name}'", e)
            if not (base == sym.name("info") or isinstance(base, (sym.Attr, sym.Index))):
                raise _Fail("'.key' reads a key of info, e.g. info.coffee", e)
        else:
            for b in e.args[1:]:
                if not isinstance(b, (sympy.Integer, sym.Str)) and b != sym.NO_BOUND:
                    self.real(b, level)
        if isinstance(base, sympy.Symbol):
            if base.name not in ("obs", "info", "next", "env_reward"):
                raise _Fail(f"only obs, next, info and env_reward can be indexed, "
                            f"not '{base.name}'", e)
            self.real(base, level)
        else:
            self.path(base, level)
        return e

    def boolean(self, e, level: int):
        """A condition on a state (props) or a transition (inside rewards)."""
        if e is sympy.true or e is sympy.false:
            return e
        if isinstance(e, sympy.Symbol):
            self._name(e, level, ("prop",), "proposition")
            return e
        if isinstance(e, (sym.Attr, sym.Index)):  # a boolean entry of info or obs
            return self.path(e, level)
        if isinstance(e, _LOGIC):
            return e.func(*[self.boolean(a, level) for a in e.args])
        if isinstance(e, _CMP):
            return e.func(*[self.real(a, level) for a in e.args])
        if isinstance(e, sym.In_):
            x, s = e.args
            if not isinstance(s, sym.SetLit):
                raise _Fail("'in' needs a set: x in {1, 2}", s)
            return sym.In_(self.real(x, level), sym.SetLit(*[self.real(a, level)
                                                             for a in s.args]))
        if isinstance(e, sym.Ret) and len(e.args) == 1:
            raise _Fail("G(...) (globally or a return) cannot appear in a state condition",
                        e, "temporal operators belong in ltl/ltlf formulas")
        if isinstance(e, _TEMPORAL):
            raise _Fail(f"{_what(e)} cannot appear in a state condition", e,
                        "declare an `ltl` formula and use it in an objective")
        raise _Fail(f"{_what(e)} where a condition is expected", e)

    # ---- formulas --------------------------------------------------------
    def formula(self, e, finite: bool):
        """An LTL (finite=False) or LTLf formula over props and state conditions."""
        if isinstance(e, sympy.Symbol):
            kind = self.names.kinds.get(e.name)
            if kind in ("ltl", "ltlf"):
                if (kind == "ltlf") != finite:
                    raise _Fail(f"'{e.name}' is an {kind} formula; it cannot be mixed with "
                                f"{'ltlf' if finite else 'ltl'}", e,
                                "finite-trace and infinite-trace semantics differ")
                return e
            self._name(e, _STATE, ("prop",), "proposition")
            return e
        if isinstance(e, sym.Ret):
            if len(e.args) != 1:
                raise _Fail("G(x, γ) is a discounted return, not a formula", e)
            return sym.Always(self.formula(e.args[0], finite))
        if isinstance(e, _TEMPORAL + _LOGIC):
            return e.func(*[self.formula(a, finite) for a in e.args])
        return self.boolean(e, _STATE)

    # ---- trajectories and values -----------------------------------------
    def trajectory(self, e, decl_finite_ok=True):
        """A random variable of a trajectory (inside E[...] or Var[...])."""
        if isinstance(e, sympy.Number):
            return self.real(e, _STATE)
        if isinstance(e, sym.Ret):
            r = e.args[0]
            if self._is_formula(r):
                raise _Fail("G(φ) of a formula inside E[...] is not a number", e,
                            "write [G φ] for the indicator, or P[G φ] for its probability")
            gamma = e.args[1:] and (self.discount(e.args[1]),)
            return sym.Ret(self.return_arg(r), *gamma)
        if isinstance(e, (sym.Total, sym.Avg)):
            return e.func(self.real(e.args[0], _TRANS))
        if isinstance(e, sym.Iverson):
            return sym.Iverson(self.trajectory_condition(e.args[0]))
        if isinstance(e, _REAL_FUNCS):
            return e.func(*[self.trajectory(a) for a in e.args])
        if isinstance(e, sym.Ite):
            b, x, y = e.args
            return sym.Ite(self.trajectory_condition(b), self.trajectory(x), self.trajectory(y))
        if isinstance(e, sympy.Symbol) and self.names.kinds.get(e.name) in ("reward", "cost"):
            raise _Fail(f"reward '{e.name}' is per step; a trajectory needs its return", e,
                        f"write G({e.name}), sum({e.name}) or avg({e.name})")
        if isinstance(e, sym.Always):
            raise _Fail("'G x' (globally) where a number is expected", e,
                        "for the discounted return write G(r) with no space")
        if isinstance(e, _VALUE_ATOMS):
            raise _Fail(f"{_what(e)} inside an expectation", e,
                        "E[...] takes a trajectory variable: G(r), sum(r), avg(r), [φ]")
        raise _Fail(f"{_what(e)} is not a random variable of a trajectory", e,
                    "E[...] takes G(r), sum(r), avg(r), [φ] and real functions of them")

    def trajectory_condition(self, b):
        """A formula, or a comparison of trajectory variables (``[G(r) >= 5]``)."""
        if isinstance(b, _CMP) and b.has(sym.Ret, sym.Total, sym.Avg):
            return b.func(*[self.trajectory(a) for a in b.args])
        return self.any_formula(b)

    def return_arg(self, r):
        if isinstance(r, sympy.Symbol) and self.names.kinds.get(r.name) == "machine":
            return r
        return self.real(r, _TRANS)

    def _is_formula(self, e) -> bool:
        if isinstance(e, sympy.Symbol):
            return self.names.kinds.get(e.name) in ("prop", "ltl", "ltlf")
        return isinstance(e, _TEMPORAL + _LOGIC + _CMP + (sym.In_,)) or e in (sympy.true,
                                                                             sympy.false)

    def any_formula(self, e):
        """A formula inside P[...] or [...]: ltlf when it names ltlf formulas."""
        finite = any(self.names.kinds.get(s.name) == "ltlf" for s in e.atoms(sympy.Symbol))
        return self.formula(e, finite)

    def value(self, e, top: bool = False):
        """A number that a policy gets: what an objective maximises."""
        if isinstance(e, sympy.Number):
            return self.real(e, _STATE)
        if isinstance(e, (sym.Lex, sym.Pareto)):
            if not top:
                raise _Fail(f"{_what(e)} orders policies; it can only be the whole goal", e)
            return e.func(*[self.value(a) for a in e.args])
        if isinstance(e, (sym.Expect, sym.Variance)):
            return e.func(self.trajectory(e.args[0]))
        if isinstance(e, sym.Prob):
            return sym.Prob(self.any_formula(e.args[0]))
        if isinstance(e, sym.Entropy):
            x = e.args[0]
            if x == sym.name("pi"):
                return e
            if isinstance(x, sym.Occ):
                return sym.Entropy(sym.Occ(self.real(x.args[0], _TRANS)))
            raise _Fail("entropy(...) takes occ(x) or pi", e)
        if isinstance(e, sym.KL):
            p, q = e.args
            if p != sym.name("pi") or not isinstance(q, sympy.Symbol):
                raise _Fail("kl(...) is written kl(pi, PRIOR) with PRIOR a declared policy", e)
            self._name(q, _STATE, ("policy",), "policy")
            return e
        if isinstance(e, sym.PiProb):
            if not self.names.finite_env:
                raise _Fail("pi(s, a) needs a finite environment", e,
                            "declare an `mdp` and `env` it, or use a toy-text env such as "
                            "FrozenLake-v1")
            for a in e.args:
                self.constant(a)
            return e
        if isinstance(e, _REAL_FUNCS):
            return e.func(*[self.value(a) for a in e.args])
        if isinstance(e, _TRAJ_ATOMS + (sym.Iverson,)):
            raise _Fail(f"{_what(e)} is random: an objective needs its expectation", e,
                        f"write E[{_what(e)}]")
        if isinstance(e, sympy.Symbol):
            kind = self.names.kinds.get(e.name)
            if kind in ("ltl", "ltlf", "prop"):
                raise _Fail(f"'{e.name}' is a formula: maximise its probability", e,
                            f"write P[{e.name}]")
            if kind in ("reward", "cost", "machine"):
                raise _Fail(f"'{e.name}' is a {kind}: maximise its expected return", e,
                            f"write E[G({e.name})]")
            self.unknown(e, "formula or reward")
        raise _Fail(f"{_what(e)} where a policy's value is expected", e,
                    "an objective is built from E[...], P[...], Var[...], entropy, kl, pi")

    def constant(self, a):
        """A state or action: a name of the env's mdp, or an integer."""
        if isinstance(a, sympy.Integer) and a >= 0:
            return a
        if isinstance(a, sympy.Symbol) and (a.name in self.names.states
                                            or a.name in self.names.actions):
            return a
        known = sorted(self.names.states | self.names.actions)
        guess = did_you_mean(str(a), known) if isinstance(a, sympy.Symbol) else None
        raise _Fail(f"'{a}' is not a state or action of the environment"
                    + (f" ({guess})" if guess else ""), a,
                    None if guess else "states and actions are names of the env's mdp, or "
                    "integers for gymnasium's Discrete spaces")

    def discount(self, g):
        if not isinstance(g, sympy.Number) or not (0 <= g <= 1):
            raise _Fail("a discount is a number in [0, 1]", g)
        return g

    def literal(self, e):
        """The value of an env or options argument: literals only."""
        if isinstance(e, (sympy.Integer, sympy.Float, sympy.Rational, sym.Str)) or e in (
                sympy.true, sympy.false):
            return e
        if isinstance(e, (sym.Vec, sym.SetLit, sym.Iverson)):
            return e.func(*[self.literal(a) for a in e.args])
        raise _Fail("arguments of env and options must be literals (numbers, strings, "
                    "true/false, [lists], {sets})", e)


def _check_decl(c: _Checker, d):
    if isinstance(d, n.PropDecl):
        return d if d.expr is None else dataclasses.replace(d, expr=c.boolean(d.expr, _STATE))
    if isinstance(d, n.RewardDecl):
        return dataclasses.replace(d, expr=c.real(d.expr, _TRANS))
    if isinstance(d, n.LtlDecl):
        return dataclasses.replace(d, formula=c.formula(d.formula, d.finite))
    if isinstance(d, n.DiscountDecl):
        return dataclasses.replace(d, value=c.discount(d.value))
    if isinstance(d, (n.EnvDecl, n.OptionsDecl)):
        for _, v in (d.kwargs if isinstance(d, n.EnvDecl) else d.items):
            c.literal(v)
        return d
    if isinstance(d, n.MachineDecl):
        return dataclasses.replace(d, edges=tuple(dataclasses.replace(
            e, guard=c.boolean(e.guard, _TRANS),
            reward=None if e.reward is None else c.real(e.reward, _TRANS)) for e in d.edges))
    if isinstance(d, n.PolicyDecl):
        for row in d.rows or ():
            _inside(row, lambda: [c.constant(x) for x in (row.state, *(a for a, _ in
                                                                       row.choices))])
        return d
    if isinstance(d, n.ObjectiveDecl):
        return _check_objective(c, d)
    return d


def _check_objective(c: _Checker, d: n.ObjectiveDecl):
    if len(d.goals) != 1:
        raise _Fail(f"objective '{d.name}' needs exactly one maximize or minimize, "
                    f"has {len(d.goals)}", None)
    if len(d.discounts) > 1:
        raise _Fail(f"objective '{d.name}' gives its discount twice", None)
    goals = tuple(dataclasses.replace(g, expr=_inside(g, lambda: c.value(g.expr, top=True)))
                  for g in d.goals)
    constraints = tuple(dataclasses.replace(con, expr=_inside(con, lambda: _constraint(c, con)))
                        for con in d.constraints)
    regs = tuple(dataclasses.replace(r, expr=_inside(r, lambda: _regularizer(c, r)))
                 for r in d.regularizers)
    discounts = tuple(dataclasses.replace(x, value=_inside(x, lambda: c.discount(x.value)))
                      for x in d.discounts)
    return dataclasses.replace(d, goals=goals, constraints=constraints,
                               regularizers=regs, discounts=discounts)


def _constraint(c: _Checker, con: n.Constraint):
    e = con.expr
    if not isinstance(e, (sym.Le_, sym.Ge_, sym.Lt_, sym.Gt_)):
        raise _Fail("`subject to` needs a comparison: X <= c or X >= c", None)
    return e.func(*[c.value(a) for a in e.args])


def _regularizer(c: _Checker, r: n.Regularizer):
    v = c.value(r.expr)
    if not v.has(sym.Entropy, sym.KL):
        raise _Fail("`regularize` takes a weighted entropy(pi) or kl(pi, prior)", None)
    return v


def _cycles(spec: n.Spec) -> list:
    """Props or rewards defined through themselves."""
    defs = {d.name: d for d in spec.decls
            if isinstance(d, (n.PropDecl, n.RewardDecl, n.LtlDecl)) and
            getattr(d, "expr", getattr(d, "formula", None)) is not None}
    diags, state = [], {}

    def visit(name, path):
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = path[path.index(name):] + [name]
            d = defs[name]
            diags.append(error(f"'{name}' is defined through itself ({' -> '.join(cycle)})",
                               d.loc))
            return
        state[name] = "active"
        d = defs[name]
        body = d.formula if isinstance(d, n.LtlDecl) else d.expr
        for s in sorted(x.name for x in body.atoms(sympy.Symbol)):
            if s in defs:
                visit(s, path + [name])
        state[name] = "done"

    for name in defs:
        visit(name, [])
    return diags


def _spaced_brackets(d) -> list:
    """`E [x]` parses as indexing a name E: say what was meant."""
    out = []
    for e in exprs(d):
        for node in sympy.preorder_traversal(e):
            if (isinstance(node, sym.Index) and isinstance(node.args[0], sympy.Symbol)
                    and node.args[0].name in ("E", "P", "Var")):
                name = node.args[0].name
                out.append(error(f"'{name} [' has a space: {name}[...] is written with no "
                                 f"space before '['", span(d, node)))
    return out


def check_types(spec: n.Spec, env) -> tuple[n.Spec, list]:
    c = _Checker(_Names.of(spec))
    diags, decls = [], []
    for d in spec.decls:
        spaced = _spaced_brackets(d)
        if spaced:
            diags += spaced
            decls.append(d)
            continue
        try:
            decls.append(_check_decl(c, d))
        except _Fail as f:
            if isinstance(f.node, n.Node):
                where = f.node.loc
            else:
                where = span(d, f.node, within=f.within) if f.node is not None else d.loc
            diags.append(error(f.message, where, f.hint))
            decls.append(d)
    if not diags:
        diags += _cycles(spec)
    return dataclasses.replace(spec, decls=tuple(decls)), diags
