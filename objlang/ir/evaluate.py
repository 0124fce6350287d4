"""Checked expressions compiled into batched numpy functions.

The IR is walked once, at compile time, into a tree of small closures over
numpy operations; calling the result does no sympy work and no IR walking.
The operations come from an :class:`ArrayOps` namespace (``ops=``): numpy's by
default, torch's for the batched torch backend (:mod:`objlang.torch.expr`), so
both run the one compiler.
Every function takes ``values``, a dict whose arrays have the batch as their
first axis:

``"obs"``, ``"next"``
    o_t and o_{t+1}: ``(N,)``, ``(N, d...)``, or a dict of such arrays for
    ``Dict`` observations (``obs["agent"][1]``);
``"action"``, ``"env_reward"``
    a_t (``(N,)`` or ``(N, d)``) and the env's own reward (``(N,)``, or
    ``(N, d)`` for vector rewards);
``"info"``, ``"next_info"``
    the info returned with o_t and with o_{t+1}: dicts of ``(N,)`` arrays
    (nested dicts for nested keys);
``"props"``, ``"next_props"``
    the values of ``external`` props on o_t and o_{t+1}: name -> ``(N,)`` bool.

Only the keys an expression reads need to be there (``fn.reads`` lists them).

Semantics (language.md §2, §3): numbers are float64; ``[b]`` is 1.0 or 0.0;
a named prop is compiled from its declaration, and inside a reward, cost or
machine edge (the *transition* level) it is read on ``next`` and
``next_info`` -- "a state prop inside a reward is read on next" -- while
``obs`` written directly in a reward is o_t; a reward named in a reward is
compiled recursively; state and action names of the env's mdp are the
integers of their index. Vectors (``Vec`` literals, slices, vector
observations) keep the batch axis first; a per-sample number combined with a
vector is broadcast over the vector's entries; ``norm``/``dot`` reduce all
non-batch axes. A comparison of vectors holds when it holds entrywise
(``!=``: when some entry differs).

>>> import numpy as np, objlang
>>> spec = objlang.loads('''
... prop goal = obs == 15
... reward win = 10 * [goal] - 0.01
... ''')
>>> scope = Scope.of(spec)
>>> goal = compile_bool(spec.named()["goal"].expr, scope)
>>> goal({"obs": np.array([14, 15])})
array([False,  True])
>>> win = compile_real(spec.named()["win"].expr, scope)
>>> win({"obs": np.array([14, 15]), "next": np.array([15, 3])})
array([ 9.99, -0.01])
>>> sorted(win.reads)
['next']
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import numpy as np
import sympy

from ..errors import ObjlangError
from . import nodes as n
from . import sym

__all__ = ["ArrayOps", "Scope", "compile_real", "compile_bool", "Compiled"]

STATE, TRANSITION = "state", "transition"

#: the values keys read for o_t and for o_{t+1}
_NOW = {"obs": "obs", "info": "info", "props": "props"}
_NEXT = {"obs": "next", "info": "next_info", "props": "next_props"}

_WHAT = {
    sym.Expect: "E[...]", sym.Prob: "P[...]", sym.Variance: "Var[...]", sym.Ret: "G(...)",
    sym.Total: "sum(...)", sym.Avg: "avg(...)", sym.Entropy: "entropy(...)",
    sym.KL: "kl(...)", sym.PiProb: "pi(s, a)", sym.Lex: "lex(...)",
    sym.Pareto: "pareto(...)", sym.Occ: "occ(...)", sym.Call: "a macro call",
}


def _what(e) -> str:
    if type(e) in _WHAT:
        return _WHAT[type(e)]
    syntax = getattr(type(e), "syntax", "")
    if isinstance(e, (sym.Next, sym.Finally, sym.Always, sym.Until, sym.WeakUntil,
                      sym.Release, sym.StrongRelease)):
        return f"the temporal operator {syntax}"
    return type(e).__name__.rstrip("_").lower()


@dataclass(frozen=True)
class Scope:
    """What the names of a spec mean when its expressions are evaluated.

    Attributes:
        props: prop name -> its (checked) boolean expression, or None for an
            ``external`` prop.
        rewards: reward and cost names -> their real expression.
        states, actions: the state and action names of the env's mdp block
            -> their index (``states_of``/``actions_of`` order, the
            observation and action order of the finite env). A name that is
            both a state and an action means the action where it is compared
            with ``action``, the state elsewhere.
        decls: name -> declaration, to locate errors.
        source: the spec's text, for error messages.

    >>> import objlang
    >>> s = Scope.of(objlang.loads('mdp m { start a  a go -> b  b * -> b }\\nenv m'))
    >>> s.states, s.actions
    ({'a': 0, 'b': 1}, {'go': 0})
    """

    props: Mapping[str, Optional[sympy.Basic]] = field(default_factory=dict)
    rewards: Mapping[str, sympy.Basic] = field(default_factory=dict)
    states: Mapping[str, int] = field(default_factory=dict)
    actions: Mapping[str, int] = field(default_factory=dict)
    decls: Mapping[str, Any] = field(default_factory=dict, repr=False)
    source: Optional[str] = field(default=None, repr=False)

    @staticmethod
    def of(spec: n.Spec) -> "Scope":
        """The scope of a checked spec (its props, rewards, costs and the
        names of its env's mdp block, if it has one)."""
        from ..passes.mdps import actions_of, states_of

        props, rewards, decls = {}, {}, {}
        for d in spec.decls:
            if isinstance(d, n.PropDecl):
                props.setdefault(d.name, d.expr)
                decls.setdefault(d.name, d)
            elif isinstance(d, n.RewardDecl):
                rewards.setdefault(d.name, d.expr)
                decls.setdefault(d.name, d)
        states, actions = {}, {}
        env = next(iter(spec.of_type(n.EnvDecl)), None)
        if env is not None and env.is_mdp:
            mdp = next((m for m in spec.of_type(n.MdpDecl) if m.name == env.env_id), None)
            if mdp is not None:
                states = {s: i for i, s in enumerate(states_of(mdp))}
                actions = {a: i for i, a in enumerate(actions_of(mdp))}
        return Scope(props, rewards, states, actions, decls, spec.source)

    @property
    def constants(self) -> dict[str, int]:
        """Every state and action name -> its index (states win a clash)."""
        return {**self.actions, **self.states}


class Compiled:
    """A compiled expression: call it with ``values`` (see the module docstring).

    Attributes:
        expr: the expression it was compiled from.
        reads: the keys of ``values`` it reads.
        sources: for each key read, the name of the first declaration whose
            own expression reads it (None: the compiled expression itself).
    """

    __slots__ = ("expr", "reads", "sources", "_fn", "_cast", "_ops")

    def __init__(self, expr, fn, sources: dict, cast, ops: "ArrayOps"):
        self.expr, self._fn, self._cast, self._ops = expr, fn, cast, ops
        self.sources = dict(sources)
        self.reads = frozenset(sources)

    def __call__(self, values: Mapping[str, Any]):
        out = self._cast(self._fn(values) if callable(self._fn) else self._fn)
        size = _batch_size(values)
        if size is not None and (out.ndim == 0 or out.shape[0] != size):
            if out.ndim and out.shape[0] == 1:
                out = out[0]
            out = self._ops.broadcast_to(out, (size, *out.shape))
        return out

    def __repr__(self) -> str:
        return f"Compiled({self.expr})"


def _batch_size(values: Mapping[str, Any]) -> Optional[int]:
    for key in ("obs", "next", "action", "env_reward", "info", "next_info", "props",
                "next_props"):
        v = values.get(key)
        while isinstance(v, Mapping):
            v = next(iter(v.values()), None)
        if v is not None:
            return len(v) if np.ndim(v) else 1
    return None


def compile_real(expr, scope: Scope, *, level: str = TRANSITION, where=None,
                 ops: "ArrayOps | None" = None) -> Compiled:
    """A real expression as a function of ``values`` -> float64 ``(N,)`` array.

    ``level`` is ``"transition"`` (rewards, costs, machine edge rewards,
    ``G(...)`` arguments: named props are read on ``next``) or ``"state"``.
    ``where`` (a declaration) locates errors in the expression; ``ops`` is the
    array namespace it runs on (default: numpy).

    >>> import numpy as np, objlang
    >>> scope = Scope.of(objlang.loads('reward r = norm(obs[0:2] - [1.0, 2.0])'))
    >>> compile_real(scope.rewards["r"], scope)({"obs": np.array([[4.0, 6.0, 0.0]])})
    array([5.])
    """
    ops = ops or NUMPY
    c = _Compiler(scope, level, where, ops)
    fn = c.real(expr, _NOW)
    return Compiled(expr, fn, c.sources, ops.floats, ops)


def compile_bool(expr, scope: Scope, *, level: str = STATE, where=None,
                 ops: "ArrayOps | None" = None) -> Compiled:
    """A condition as a function of ``values`` -> bool ``(N,)`` array.

    ``level="state"`` (a prop's body) or ``"transition"`` (a machine guard:
    named props are read on ``next``); ``ops`` as in :func:`compile_real`.

    >>> import numpy as np, objlang
    >>> scope = Scope.of(objlang.loads('prop hole = obs in {5, 7}'))
    >>> compile_bool(scope.props["hole"], scope)({"obs": np.arange(4, 9)})
    array([False,  True, False,  True, False])
    """
    ops = ops or NUMPY
    c = _Compiler(scope, level, where, ops)
    fn = c.boolean(expr, _NOW)
    return Compiled(expr, fn, c.sources, ops.bools, ops)


# ---- the compiler ----------------------------------------------------------------

def _is_fn(x) -> bool:
    return callable(x)


def _lift(op: Callable, *parts):
    """op applied to compiled parts: folded now when every part is constant."""
    if not any(_is_fn(p) for p in parts):
        return op(*parts)
    getters = [p if _is_fn(p) else (lambda v, c=p: c) for p in parts]
    if len(getters) == 1:
        g0 = getters[0]
        return lambda v: op(g0(v))
    if len(getters) == 2:
        g0, g1 = getters
        return lambda v: op(g0(v), g1(v))
    return lambda v: op(*[g(v) for g in getters])


class ArrayOps:
    """The array operations compiled expressions run on: numpy's.

    A subclass that overrides the primitives (the first block) runs the same
    compiled expressions on another array library; the composite operations
    below them are written with the primitives only.
    """

    # ---- primitives ----------------------------------------------------------------
    add, multiply, minimum, maximum = (staticmethod(f) for f in (
        np.add, np.multiply, np.minimum, np.maximum))
    logical_and, logical_or, logical_xor, logical_not = (staticmethod(f) for f in (
        np.logical_and, np.logical_or, np.logical_xor, np.logical_not))
    equal, not_equal, less, less_equal, greater, greater_equal = (staticmethod(f) for f in (
        np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal))
    sqrt, abs, exp, log, power, where = (staticmethod(f) for f in (
        np.sqrt, np.abs, np.exp, np.log, np.power, np.where))

    # constants (number: float64, truth: bool) and conversions: x as an array of this
    # namespace (asarray), as float64 (floats), as bool (bools) -- numpy's own
    # functions, called without a Python frame of their own on the hot path
    number, truth = staticmethod(np.float64), staticmethod(np.bool_)
    asarray = staticmethod(np.asarray)
    floats = staticmethod(functools.partial(np.asarray, dtype=np.float64))
    bools = staticmethod(functools.partial(np.asarray, dtype=np.bool_))

    def reduce(self, how: str, x, axes: tuple):
        """``all``, ``any`` or ``sum`` of x over ``axes``."""
        return getattr(np, how)(x, axis=axes)

    def stack(self, arrs):
        """Equal-shape arrays stacked along a new axis 1."""
        return np.stack(np.broadcast_arrays(*arrs), axis=1)

    def isin(self, x, members):
        return np.isin(x, members)

    def take_rows(self, x, ix):
        """``x[n, ix[n]]`` for every n of the batch (ix: one index or one per sample)."""
        ix = np.asarray(ix).astype(np.intp)
        ix = np.broadcast_to(ix.reshape(-1) if ix.ndim else ix, (x.shape[0],))
        return x[np.arange(x.shape[0]), ix]

    def broadcast_to(self, x, shape):
        """A fresh array: x broadcast to ``shape``."""
        return np.broadcast_to(x, shape).copy()

    # ---- composite operations --------------------------------------------------------
    def align(self, a, b):
        """a and b broadcast batch-first: the one with fewer axes gets trailing ones."""
        return _aligned(self.asarray(a), self.asarray(b))

    def binary(self, name: str) -> Callable:
        """The elementwise operation ``name`` on batch-first aligned operands."""
        # locals, not attributes: the closure runs on every evaluation
        f, asarray = getattr(self, name), self.asarray
        return lambda a, b: f(*_aligned(asarray(a), asarray(b)))

    def pow(self, a, b):
        return self.power(*self.align(self.floats(a), self.floats(b)))

    def reduce_entries(self, x, how: str):
        """A boolean per sample: all (or any) of the non-batch axes of x."""
        x = self.asarray(x)
        if x.ndim <= 1:
            return x
        return self.reduce(how, x, tuple(range(1, x.ndim)))

    def compare(self, name: str, how: str = "all") -> Callable:
        """The comparison ``name``, entrywise then ``how`` (all/any) over the entries."""
        f, asarray, reduce = getattr(self, name), self.asarray, self.reduce_entries
        return lambda a, b: reduce(f(*_aligned(asarray(a), asarray(b))), how)

    def norm(self, x):
        x = self.floats(x)
        if x.ndim <= 1:
            return self.abs(x)
        return self.sqrt(self.reduce("sum", x * x, tuple(range(1, x.ndim))))

    def dot(self, a, b):
        p = self.binary("multiply")(self.floats(a), self.floats(b))
        if p.ndim <= 1:
            return p
        return self.reduce("sum", p, tuple(range(1, p.ndim)))

    def vec(self, *xs):
        """A vector literal: batch axis first (1 when every entry is constant)."""
        arrs = [self.floats(x) for x in xs]
        return self.stack([a.reshape(1) if a.ndim == 0 else a for a in arrs])

    def ite(self, b, x, y):
        x, y = self.align(x, y)
        b, x = self.align(b, x)
        b, y = self.align(b, y)
        return self.where(b, x, y)

    def entry(self, x, i: int):
        x = self.asarray(x)
        if x.ndim < 2:
            raise IndexError(f"cannot index [{i}]: the value has no entries beyond the batch "
                             f"axis (shape {tuple(x.shape)})")
        return x[:, i]

    def slice(self, x, sl: slice):
        x = self.asarray(x)
        if x.ndim < 2:
            raise IndexError(f"cannot slice: the value has no entries beyond the batch axis "
                             f"(shape {tuple(x.shape)})")
        return x[:, sl]

    def gather(self, x, ix):
        x = self.asarray(x)
        if x.ndim < 2:
            raise IndexError("cannot index: the value has no entries beyond the batch axis")
        return self.take_rows(x, ix)


def _aligned(a, b):
    """Arrays a and b broadcast batch-first (:meth:`ArrayOps.align`)."""
    if a.ndim and b.ndim and a.ndim != b.ndim:
        if a.ndim < b.ndim:
            a = a.reshape(a.shape + (1,) * (b.ndim - a.ndim))
        else:
            b = b.reshape(b.shape + (1,) * (a.ndim - b.ndim))
    return a, b


NUMPY = ArrayOps()

#: comparison class -> (primitive, how entries of vectors combine)
_CMPS = {
    sym.Eq_: ("equal", "all"), sym.Ne_: ("not_equal", "any"), sym.Lt_: ("less", "all"),
    sym.Le_: ("less_equal", "all"), sym.Gt_: ("greater", "all"),
    sym.Ge_: ("greater_equal", "all"),
}

_REAL_UNARY = {sympy.Abs: "abs", sympy.exp: "exp", sympy.log: "log"}


class _Compiler:
    def __init__(self, scope: Scope, level: str, where, ops: ArrayOps):
        if level not in (STATE, TRANSITION):
            raise ValueError(f"level must be 'state' or 'transition', not {level!r}")
        self.scope, self.level, self.where, self.ops = scope, level, where, ops
        self._add, self._mul, self._min, self._max = (ops.binary(f) for f in (
            "add", "multiply", "minimum", "maximum"))
        self._and, self._or, self._xor = (ops.binary(f) for f in (
            "logical_and", "logical_or", "logical_xor"))
        self._cmps = {cls: ops.compare(f, how) for cls, (f, how) in _CMPS.items()}
        self.decl_name: Optional[str] = None  # whose expression is being compiled
        self.sources: dict[str, Optional[str]] = {}
        self.cache: dict = {}
        self.stack: list[str] = []

    # ---- errors and reads ----------------------------------------------------
    def fail(self, message: str, node=None, hint: str | None = None):
        from ..passes.context import span

        decl = self.scope.decls.get(self.decl_name) if self.decl_name else self.where
        loc = span(decl, node) if decl is not None else None
        raise ObjlangError(message, loc, hint, self.scope.source)

    def read(self, key: str) -> None:
        self.sources.setdefault(key, self.decl_name)

    def leaf(self, key: str, what: str):
        self.read(key)

        def get(v):
            try:
                return v[key]
            except KeyError:
                raise KeyError(f"the expression reads {what} but values has no '{key}'") \
                    from None
        return get

    # ---- numbers ---------------------------------------------------------------
    def real(self, e, view):
        ops = self.ops
        if isinstance(e, sympy.Number) or isinstance(e, sympy.NumberSymbol):
            return ops.number(float(e))
        if e is sympy.true or e is sympy.false:
            return ops.number(1.0 if e is sympy.true else 0.0)
        if isinstance(e, sympy.Symbol):
            return self.real_name(e, view)
        if isinstance(e, (sym.Index, sym.Slice, sym.Attr)):
            return _lift(ops.floats, self.path(e, view))
        if isinstance(e, sympy.Add):
            return self.fold(self._add, [self.real(a, view) for a in e.args])
        if isinstance(e, sympy.Mul):
            return self.fold(self._mul, [self.real(a, view) for a in e.args])
        if isinstance(e, sympy.Min):
            return self.fold(self._min, [self.real(a, view) for a in e.args])
        if isinstance(e, sympy.Max):
            return self.fold(self._max, [self.real(a, view) for a in e.args])
        if isinstance(e, sympy.Pow):
            base, ex = e.args
            if ex == sympy.Rational(1, 2):
                return _lift(lambda x: ops.sqrt(ops.floats(x)), self.real(base, view))
            return _lift(ops.pow, self.real(base, view), self.real(ex, view))
        if type(e) in _REAL_UNARY:
            f = getattr(ops, _REAL_UNARY[type(e)])
            return _lift(lambda x: f(ops.floats(x)), self.real(e.args[0], view))
        if isinstance(e, sym.Iverson):
            return _lift(ops.floats, self.boolean(e.args[0], view))
        if isinstance(e, sym.Ite):
            b, x, y = e.args
            return self.ite(self.boolean(b, view), self.real(x, view), self.real(y, view))
        if isinstance(e, sym.Vec):
            return _lift(ops.vec, *[self.real(a, view) for a in e.args])
        if isinstance(e, sym.Norm):
            return _lift(ops.norm, self.real(e.args[0], view))
        if isinstance(e, sym.Dot):
            return _lift(ops.dot, self.real(e.args[0], view), self.real(e.args[1], view))
        self.unsupported(e)

    def fold(self, op, parts):
        consts = [p for p in parts if not _is_fn(p)]
        fns = [p for p in parts if _is_fn(p)]
        const = functools.reduce(op, consts) if consts else None
        if not fns:
            return const
        acc = fns[0]
        for f in fns[1:]:
            acc = _lift(op, acc, f)
        return acc if const is None else _lift(op, const, acc)

    def ite(self, b, x, y):
        ite = self.ops.ite
        if not _is_fn(b):
            b = self.ops.bools(b)
            return x if bool(b.all()) else y if not bool(b.any()) else ite(b, x, y)

        gb, gx, gy = [p if _is_fn(p) else (lambda v, c=p: c) for p in (b, x, y)]

        def fn(v):
            with np.errstate(all="ignore"):  # the branch not taken may divide by 0
                return ite(gb(v), gx(v), gy(v))
        return fn

    def real_name(self, e, view):
        name = e.name
        if name == "obs":
            return self.leaf(view["obs"], "obs")
        if name in ("next", "action", "env_reward"):
            if self.level == STATE:
                self.fail(f"'{name}' is only defined in rewards and costs", e)
            return self.leaf(name, name)
        if name == "info":
            self.fail("'info' is a dict: read a key, e.g. info.coffee", e)
        if name in self.scope.rewards:
            if self.level == STATE:
                self.fail(f"'{name}' is a reward; a prop cannot use it", e)
            return self.named(name, view, lambda: self.real(self.scope.rewards[name], view))
        if name in self.scope.states or name in self.scope.actions:
            return self.ops.number(self.scope.constants[name])
        if name in self.scope.props:
            self.fail(f"'{name}' is a prop, not a number", e, "write [p] for 1 where p holds")
        self.fail(f"unknown name '{name}' in an expression to evaluate", e)

    def named(self, name: str, view, build):
        key = (name, view["obs"])
        if key in self.cache:
            return self.cache[key]
        if name in self.stack:
            self.fail(f"'{name}' is defined through itself "
                      f"({' -> '.join([*self.stack[self.stack.index(name):], name])})")
        outer = self.decl_name
        self.stack.append(name)
        self.decl_name = name
        try:
            out = build()
        finally:
            self.decl_name = outer
            self.stack.pop()
        self.cache[key] = out
        return out

    # ---- obs[...], info.key, ... --------------------------------------------------
    def path(self, e, view):
        """The raw value (array or dict) that a path reads."""
        if isinstance(e, sympy.Symbol):
            if e.name == "obs":
                return self.leaf(view["obs"], "obs")
            if e.name == "info":
                return self.leaf(view["info"], "info")
            if e.name in ("next", "env_reward", "action"):
                if self.level == STATE:
                    self.fail(f"'{e.name}' is only defined in rewards and costs", e)
                return self.leaf(e.name, e.name)
            self.fail(f"only obs, next, info and env_reward can be indexed, not '{e.name}'", e)
        if isinstance(e, sym.Attr):
            base, key = self.path(e.args[0], view), str(e.args[1].name)
            return _lift(lambda x: _key(x, key, "info"), base)
        if isinstance(e, sym.Index):
            base, ix = self.path(e.args[0], view), e.args[1]
            if isinstance(ix, sym.Str):
                key = str(ix.name)
                return _lift(lambda x: _key(x, key, "the observation"), base)
            if isinstance(ix, sympy.Integer):
                i = int(ix)
                entry = self.ops.entry
                return _lift(lambda x: entry(x, i), base)
            return _lift(self.ops.gather, base, self.real(ix, view))
        if isinstance(e, sym.Slice):
            bounds = []
            for b in e.args[1:]:
                if b == sym.NO_BOUND:
                    bounds.append(None)
                elif isinstance(b, sympy.Integer):
                    bounds.append(int(b))
                else:
                    self.fail("slice bounds must be integers", b)
            sl = slice(*bounds)
            cut = self.ops.slice
            return _lift(lambda x: cut(x, sl), self.path(e.args[0], view))
        # an expression being indexed, e.g. (obs - next)[0]
        return self.real(e, view)

    # ---- conditions ------------------------------------------------------------
    def boolean(self, e, view):
        ops = self.ops
        if e is sympy.true or e is sympy.false:
            return ops.truth(e is sympy.true)
        if isinstance(e, sympy.Symbol):
            return self.prop(e, view)
        if isinstance(e, (sym.Attr, sym.Index)):
            return _lift(ops.bools, self.path(e, view))
        if isinstance(e, sym.Not_):
            return _lift(ops.logical_not, self.boolean(e.args[0], view))
        if isinstance(e, sym.And_):
            return self.fold(self._and, [self.boolean(a, view) for a in e.args])
        if isinstance(e, sym.Or_):
            return self.fold(self._or, [self.boolean(a, view) for a in e.args])
        if isinstance(e, sym.Xor):
            return self.fold(self._xor, [self.boolean(a, view) for a in e.args])
        if isinstance(e, sym.Implies):
            a, b = (self.boolean(x, view) for x in e.args)
            return _lift(lambda x, y: self._or(ops.logical_not(x), y), a, b)
        if isinstance(e, sym.Equiv):
            a, b = (self.boolean(x, view) for x in e.args)
            return _lift(ops.binary("equal"), a, b)
        if type(e) in _CMPS:
            a, b = e.args
            as_action = self.mentions_action(a) or self.mentions_action(b)
            return _lift(self._cmps[type(e)], self.operand(a, view, as_action),
                         self.operand(b, view, as_action))
        if isinstance(e, sym.In_):
            x, s = e.args
            if not isinstance(s, sym.SetLit):
                self.fail("'in' needs a set: x in {1, 2}", s)
            as_action = self.mentions_action(x)
            xv = self.operand(x, view, as_action)
            items = [self.operand(a, view, as_action) for a in s.args]
            if not any(_is_fn(i) for i in items):
                members = ops.floats([float(i) for i in items])
                return _lift(lambda v: ops.reduce_entries(ops.isin(v, members), "all"), xv)
            eq = self._cmps[sym.Eq_]
            return self.fold(self._or, [_lift(eq, xv, i) for i in items]) if items \
                else ops.truth(False)
        self.unsupported(e, "a condition")

    @staticmethod
    def mentions_action(e) -> bool:
        return isinstance(e, sympy.Symbol) and e.name == "action"

    def operand(self, e, view, as_action: bool):
        """A side of a comparison: action names mean actions next to ``action``."""
        if as_action and isinstance(e, sympy.Symbol) and e.name in self.scope.actions:
            return self.ops.number(self.scope.actions[e.name])
        return self.real(e, view)

    def prop(self, e, view):
        name = e.name
        if name not in self.scope.props:
            if name in self.scope.rewards:
                self.fail(f"'{name}' is a reward, not a condition", e)
            self.fail(f"unknown proposition '{name}'", e)
        # a prop in a transition-level expression is read on o_{t+1}
        inner = _NEXT if self.level == TRANSITION else view
        body = self.scope.props[name]
        if body is None:
            key = inner["props"]

            def build():
                get = self.leaf(key, f"the external prop '{name}'")
                return lambda v: _key(get(v), name, "the external props")
        else:
            def build():
                level, self.level = self.level, STATE
                try:
                    return self.boolean(body, inner)
                finally:
                    self.level = level
        return self.named(name, inner, build)

    def unsupported(self, e, where: str = "a number"):
        self.fail(f"{_what(e)} cannot be evaluated as {where} of a state or transition", e,
                  "trajectory and policy-level terms (E, P, G, sum, avg, ...) are "
                  "computed by the solvers, not per step")


# ---- runtime helpers ----------------------------------------------------------

def _key(x, key: str, what: str):
    if type(x) is not dict and not isinstance(x, Mapping):
        raise TypeError(f"cannot read key '{key}': {what} is not a dict")
    try:
        return x[key]
    except KeyError:
        raise KeyError(f"{what} has no key '{key}'") from None
