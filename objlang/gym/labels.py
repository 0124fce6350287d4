"""Props, rewards and automaton letters evaluated on one env's observations.

Everything is compiled once, at wrap time, from the IR: into lookup tables
when the observation (and action) spaces are ``Discrete`` and the expression
reads nothing else, otherwise into the batched numpy functions of
:mod:`objlang.ir.evaluate`, called on a batch of one. The letters of automata
over a flat float ``Box`` observation are computed on its entries as Python
floats instead, when their conditions stay in the subset of :class:`_Scalar`.
A step then does table lookups or one precompiled call per quantity -- no
sympy, no IR walking.

Whether a spec fits the env is checked here too: every prop and reward is
evaluated on sample observations of the env's spaces, and a failure
(indexing a ``Discrete`` observation, a key absent from a ``Dict``
observation, a state name of another mdp) is an :class:`ObjlangError` that
names the prop and the observation space.
"""
from __future__ import annotations

import functools
import operator
from typing import Callable, Mapping

import numpy as np
import sympy
from gymnasium import spaces

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from ..ir.evaluate import Compiled, Scope, compile_bool, compile_real

#: a table over (obs, action, next) is built when it has at most this many entries
MAX_TABLE = 1 << 22


def _batch(x):
    """One value as a batch of one (dicts of values, recursively)."""
    # `type(x) is dict` first: an isinstance check against the Mapping ABC costs
    # about a microsecond, and infos are plain dicts
    if type(x) is dict or not isinstance(x, _LEAVES) and isinstance(x, Mapping):
        return {k: _batch(v) for k, v in x.items()}
    return np.asarray(x)[None]


#: values that are never dicts: no Mapping check for them
_LEAVES = (np.ndarray, np.generic, bool, int, float)


def _discrete_values(space) -> np.ndarray | None:
    if isinstance(space, spaces.Discrete):
        return space.start + np.arange(space.n)
    return None


def _samples(space, k: int = 8):
    """A batch of observations of ``space`` to try expressions on."""
    values = _discrete_values(space)
    if values is not None:
        return values
    seeded = space.sample()
    items = [seeded] + [space.sample() for _ in range(k - 1)]
    if isinstance(space, spaces.Dict):
        return {key: _samples_of([it[key] for it in items]) for key in space.spaces}
    return np.stack([np.asarray(it) for it in items])


def _samples_of(items):
    if isinstance(items[0], Mapping):
        return {k: _samples_of([it[k] for it in items]) for k in items[0]}
    return np.stack([np.asarray(it) for it in items])


def _size(values) -> int:
    if isinstance(values, Mapping):
        return _size(next(iter(values.values())))
    return len(values)


# ---- one flat observation at a time: Python floats instead of batches of one -------

class _NotScalar(Exception):
    """An expression outside the scalar subset: it keeps the batched numpy path."""


_SCALAR_CMPS = {sym.Eq_: operator.eq, sym.Ne_: operator.ne, sym.Lt_: operator.lt,
                sym.Le_: operator.le, sym.Gt_: operator.gt, sym.Ge_: operator.ge}

#: ``c OP x`` is ``x SWAPPED-OP c`` (a comparison of floats, whichever side asks)
_SWAPPED = {operator.eq: operator.eq, operator.ne: operator.ne, operator.lt: operator.gt,
            operator.le: operator.ge, operator.gt: operator.lt, operator.ge: operator.le}


def _and(f, g):
    return lambda o: f(o) and g(o)


def _or(f, g):
    return lambda o: f(o) or g(o)


def _xor(f, g):
    return lambda o: f(o) != g(o)


class _Scalar:
    """State conditions over the entries ``obs[i]`` of a 1-D float ``Box``
    observation, as closures over its ``tolist()`` (Python floats).

    On a batch of one every numpy call costs about a microsecond, an operator on
    floats some tens of nanoseconds. Only operators whose results on doubles are
    numpy's float64 results are compiled (comparisons, ``in`` constant sets,
    logic, ``+``, ``*``, ``abs``, ``[b]``, ``if``; sums and products fold in the
    evaluator's order); anything else raises :class:`_NotScalar`.
    """

    def __init__(self, scope: Scope):
        self.scope = scope

    def boolean(self, e) -> Callable:
        if e is sympy.true or e is sympy.false:
            value = e is sympy.true
            return lambda o: value
        if isinstance(e, sympy.Symbol):
            body = self.scope.props.get(e.name)
            if body is None:  # an external prop, or not a prop at all
                raise _NotScalar(e)
            return self.boolean(body)
        if isinstance(e, sym.Not_):
            f = self.boolean(e.args[0])
            return lambda o: not f(o)
        for cls, join in ((sym.And_, _and), (sym.Or_, _or), (sym.Xor, _xor)):
            if isinstance(e, cls):
                return functools.reduce(join, [self.boolean(a) for a in e.args])
        if isinstance(e, sym.Implies):
            f, g = (self.boolean(a) for a in e.args)
            return lambda o: not f(o) or g(o)
        if isinstance(e, sym.Equiv):
            f, g = (self.boolean(a) for a in e.args)
            return lambda o: f(o) == g(o)
        if type(e) in _SCALAR_CMPS:
            return self.compare(_SCALAR_CMPS[type(e)], *(self.real(a) for a in e.args))
        if isinstance(e, sym.In_) and isinstance(e.args[1], sym.SetLit):
            f, members = self.real(e.args[0]), [self.real(a) for a in e.args[1].args]
            if callable(f) and not any(callable(m) for m in members):
                members = frozenset(members)
                return lambda o: f(o) in members
        raise _NotScalar(e)

    @staticmethod
    def compare(op, a, b) -> Callable:
        if callable(a) and callable(b):
            return lambda o: op(a(o), b(o))
        if callable(a):
            return _Scalar.test(op, a, b)
        if callable(b):
            return _Scalar.test(_SWAPPED[op], b, a)
        value = op(a, b)
        return lambda o: value

    @staticmethod
    def test(op, f, c: float) -> Callable:
        """``op(f(o), c)``, with an entry ``f`` read in the same call (one call per
        condition, not three)."""
        entry = getattr(f, "entry", None)
        if entry is None:
            return lambda o: op(f(o), c)
        i, absolute = entry
        return (lambda o: op(abs(o[i]), c)) if absolute else (lambda o: op(o[i], c))

    @staticmethod
    def entry(i: int, absolute: bool) -> Callable:
        """``o[i]`` or ``abs(o[i])``, marked (``.entry``) for :meth:`test`."""
        f = (lambda o: abs(o[i])) if absolute else (lambda o: o[i])
        f.entry = i, absolute
        return f

    def real(self, e):
        """A constant float, or a closure of the observation's entries."""
        if isinstance(e, (sympy.Number, sympy.NumberSymbol)):
            return float(e)
        if isinstance(e, sym.Index) and e.args[0] == sym.name("obs") \
                and isinstance(e.args[1], sympy.Integer):
            return self.entry(int(e.args[1]), False)
        if isinstance(e, sympy.Abs):
            f = self.real(e.args[0])
            if hasattr(f, "entry"):
                return self.entry(f.entry[0], True)
            return (lambda o: abs(f(o))) if callable(f) else abs(f)
        if isinstance(e, sym.Iverson):
            f = self.boolean(e.args[0])
            return lambda o: 1.0 if f(o) else 0.0
        if isinstance(e, sym.Ite):
            b, x, y = self.boolean(e.args[0]), self.real(e.args[1]), self.real(e.args[2])
            x, y = (v if callable(v) else (lambda o, c=v: c) for v in (x, y))
            return lambda o: x(o) if b(o) else y(o)
        for cls, op in ((sympy.Add, operator.add), (sympy.Mul, operator.mul)):
            if isinstance(e, cls):
                return self.fold(op, [self.real(a) for a in e.args])
        raise _NotScalar(e)

    @staticmethod
    def fold(op, parts):
        """The evaluator's order: the constants, then the rest left to right, then
        constant (op) rest -- the same roundings."""
        consts = [p for p in parts if not callable(p)]
        fns = [p for p in parts if callable(p)]
        const = functools.reduce(op, consts) if consts else None
        if not fns:
            return const
        acc = functools.reduce(lambda f, g: lambda o: op(f(o), g(o)), fns)
        return acc if const is None else (lambda o: op(const, acc(o)))


class Reader:
    """Props and transition quantities of one spec on one env's spaces.

    ``props`` maps the names of ``external`` props to Python callables
    ``fn(obs, info) -> bool``.
    """

    def __init__(self, spec: n.Spec, observation_space, action_space,
                 props: Mapping[str, Callable] | None = None, obs_info: Mapping | None = None):
        self.spec = spec
        self.scope = Scope.of(spec)
        self.obs_space, self.action_space = observation_space, action_space
        self.external = dict(props or {})
        missing = [p for p, body in self.scope.props.items()
                   if body is None and p not in self.external]
        self._missing = set(missing)
        self._obs_values = _discrete_values(observation_space)
        self._act_values = _discrete_values(action_space)
        # the info of every observation, when it is a function of it (:func:`obs_info`):
        # then props and rewards that read info become tables too
        self._obs_info = dict(obs_info) if obs_info and self._obs_values is not None else None

    # ---- checking ------------------------------------------------------------------
    def fail(self, what: str, decl_name: str | None, exc: Exception) -> ObjlangError:
        decl = self.scope.decls.get(decl_name) if decl_name else None
        return ObjlangError(f"{what} does not fit the env's observation space "
                            f"{self.obs_space}: {exc}", decl.loc if decl is not None else None,
                            "props and rewards must read the env's observations as they are "
                            "(a Discrete observation is a number, not a vector)",
                            self.scope.source)

    def _try(self, fn: Compiled, values: dict, what: str, name: str | None):
        try:
            # NaN and inf are reported below, not as numpy warnings (errors under -W error)
            with np.errstate(all="ignore"):
                out = fn(values)
        except ObjlangError:
            raise
        except Exception as exc:  # an index, key or shape the space does not have
            raise self.fail(what, name, exc) from None
        if not np.all(np.isfinite(np.asarray(out, dtype=float))):
            decl = self.scope.decls.get(name) if name else None
            raise ObjlangError(f"{what} is not finite on some observations of the env's "
                               f"observation space {self.obs_space}",
                               decl.loc if decl is not None else None, None, self.scope.source)
        return out

    def _table(self, fn: Compiled, values: dict, infos: Mapping) -> np.ndarray | None:
        """``fn`` on the grid of Discrete values in ``values``, an info key of
        ``infos`` (``{"info": "obs"}``) read from the per-observation info of its
        observation key; None when ``fn`` reads anything else, or an info key that
        the per-observation info lacks (then each step's info is read)."""
        if self._obs_values is None:
            return None
        readable = set(values) | (set(infos) if self._obs_info else set())
        if not fn.reads <= readable:
            return None
        values = dict(values)
        start = int(self._obs_values[0])
        for key, obs_key in infos.items():
            if key in fn.reads:
                ix = np.asarray(values[obs_key]) - start
                values[key] = {k: v[ix] for k, v in self._obs_info.items()}
        try:
            with np.errstate(all="ignore"):
                return np.asarray(fn(values))
        except KeyError:
            return None

    def _needs_external(self, fn: Compiled, what: str) -> None:
        for key in ("props", "next_props"):
            if key in fn.sources:
                for p in self._missing:
                    decl = self.scope.decls.get(p)
                    raise ObjlangError(f"{what} reads the external prop '{p}', which was not "
                                       f"given", decl.loc if decl is not None else None,
                                       f"pass props={{'{p}': fn}} with fn(obs, info) -> bool",
                                       self.scope.source)

    def _sample_values(self, fn: Compiled) -> dict:
        obs = _samples(self.obs_space)
        size = _size(obs)
        values: dict = {"obs": obs, "next": obs}
        if "action" in fn.reads:
            acts = np.stack([np.asarray(self.action_space.sample()) for _ in range(size)])
            values["action"] = acts
        if "env_reward" in fn.reads:
            values["env_reward"] = np.zeros(size)
        for key in ("info", "next_info"):
            if key in fn.reads:
                values[key] = {}
        for key in ("props", "next_props"):
            if key in fn.reads:
                values[key] = {p: np.zeros(size, bool) for p in self.external}
        return values

    # ---- state level: props and letters --------------------------------------------
    def condition(self, expr, what: str, name: str | None = None) -> Callable:
        """A state condition as ``f(obs, info, ext) -> bool`` (ext: external prop values)."""
        fn = compile_bool(expr, self.scope, level="state")
        self._needs_external(fn, what)
        if "info" not in fn.reads:
            self._try(fn, self._sample_values(fn), what, name)
        table = self._table(fn, {"obs": self._obs_values}, {"info": "obs"})
        if table is not None:
            start = int(self._obs_values[0])
            return lambda obs, info, ext: bool(table[int(obs) - start])
        if "info" not in fn.reads:
            return lambda obs, info, ext: bool(fn({"obs": _batch(obs), "props": ext})[0])
        return lambda obs, info, ext: bool(fn({"obs": _batch(obs), "info": _batch(info),
                                               "props": ext})[0])

    def external_values(self, obs, info) -> dict:
        """The external props on one observation, as batches of one."""
        return {p: np.array([bool(f(obs, info))]) for p, f in self.external.items()}

    def named(self, expr) -> tuple[str, str | None]:
        """How errors name a state condition: a declared prop by its name (and location)."""
        name = getattr(expr, "name", None)
        if name in self.scope.props:
            return f"prop '{name}'", name
        return f"condition '{expr}'", None

    def prop(self, name: str) -> Callable:
        """A declared prop as ``f(obs, info, ext) -> bool``."""
        return self.condition(sym.name(name), f"prop '{name}'", name)

    def letter_table(self, conditions: list) -> np.ndarray | None:
        """For Discrete observations read by conditions of obs only: the letter of
        every observation (bit i = condition i)."""
        if self._obs_values is None:
            return None
        out = np.zeros(len(self._obs_values), np.int64)
        for i, c in enumerate(conditions):
            fn = compile_bool(c, self.scope, level="state")
            if fn.reads <= {"obs"}:
                bits = self._try(fn, {"obs": self._obs_values}, *self.named(c))
            else:
                bits = self._table(fn, {"obs": self._obs_values}, {"info": "obs"})
                if bits is None:
                    return None
            out |= bits.astype(np.int64) << i
        return out

    def scalar_letter(self, conditions: list) -> Callable | None:
        """For a 1-D float ``Box`` observation space and conditions of its entries
        only: the letter (bit i = condition i) as ``f(obs, info, ext) -> int`` on
        Python floats (:class:`_Scalar`); None otherwise. Call it after the
        conditions were checked (:meth:`condition`)."""
        space = self.obs_space
        if not (isinstance(space, spaces.Box) and len(space.shape) == 1
                and np.issubdtype(space.dtype, np.floating)):
            return None
        try:
            bits = [(1 << i, _Scalar(self.scope).boolean(c)) for i, c in enumerate(conditions)]
        except _NotScalar:
            return None

        def letter(obs, info, ext):
            o = obs.tolist() if type(obs) is np.ndarray else np.asarray(obs).tolist()
            out = 0
            for bit, f in bits:
                if f(o):
                    out |= bit
            return out
        return letter

    # ---- transition level: rewards, costs, machine letters --------------------------
    def transition(self, expr, what: str, name: str | None = None, boolean: bool = False):
        """A transition quantity as ``f(obs, action, next, env_reward, info, next_info,
        ext, next_ext) -> float`` (a table lookup for Discrete spaces)."""
        compile_ = compile_bool if boolean else compile_real
        fn = compile_(expr, self.scope, level="transition")
        self._needs_external(fn, what)
        if not fn.reads & {"info", "next_info"}:
            self._try(fn, self._sample_values(fn), what, name)
        ov, av = self._obs_values, self._act_values
        table = None
        if ov is not None and av is not None and len(ov) ** 2 * len(av) <= MAX_TABLE and \
                fn.reads <= {"obs", "action", "next", "info", "next_info"}:
            o, a, o2 = np.meshgrid(ov, av, ov, indexing="ij")
            table = self._table(fn, {"obs": o.ravel(), "action": a.ravel(), "next": o2.ravel()},
                                {"info": "obs", "next_info": "next"})
        if table is not None:
            table = table.reshape(o.shape)
            s0, a0 = int(ov[0]), int(av[0])
            if boolean:
                return lambda obs, act, nxt, *rest: bool(table[obs - s0, act - a0, nxt - s0])
            return lambda obs, act, nxt, *rest: float(table[obs - s0, act - a0, nxt - s0])
        cast = bool if boolean else float

        # only what the expression reads is batched (an info dict has many keys); obs
        # always, as it gives the batch size of a result that reads nothing
        keys = ("obs", "action", "next", "env_reward", "info", "next_info")
        picks = [(k, i) for i, k in enumerate(keys) if k in fn.reads or k == "obs"]

        def call(*transition):
            values = {k: _batch(transition[i]) for k, i in picks}
            values["props"], values["next_props"] = transition[6], transition[7]
            return cast(fn(values)[0])
        return call


def obs_info(env, obs_space) -> dict | None:
    """key -> ``(n_obs,)`` array: the info of every observation of a ``Discrete`` env
    whose info is a function of its state (a batched env's ``finite.info``, a gym
    env's ``unwrapped.state_info``: the observation of state s is s), else None."""
    if not isinstance(obs_space, spaces.Discrete):
        return None
    finite = getattr(env, "finite", None)
    if finite is not None and finite.info:
        obs = np.asarray(finite.obs, np.int64) - int(obs_space.start)
        out = {}
        for k, v in finite.info.items():
            out[k] = np.zeros(int(obs_space.n), np.asarray(v).dtype)
            out[k][obs] = v  # absorbing copies observe (and carry) what their original does
        return out
    info = getattr(getattr(env, "unwrapped", None), "state_info", None)
    if info and all(len(v) == obs_space.n for v in info.values()):
        return {k: np.asarray(v) for k, v in info.items()}
    return None
