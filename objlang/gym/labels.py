"""Props, rewards and automaton letters evaluated on one env's observations.

Everything is compiled once, at wrap time, from the IR: into lookup tables
when the observation (and action) spaces are ``Discrete`` and the expression
reads nothing else, otherwise into the batched numpy functions of
:mod:`objlang.ir.evaluate`, called on a batch of one. A step then does table
lookups or one precompiled call per quantity -- no sympy, no IR walking.

Whether a spec fits the env is checked here too: every prop and reward is
evaluated on sample observations of the env's spaces, and a failure
(indexing a ``Discrete`` observation, a key absent from a ``Dict``
observation, a state name of another mdp) is an :class:`ObjlangError` that
names the prop and the observation space.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from gymnasium import spaces

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from ..ir.evaluate import Compiled, Scope, compile_bool, compile_real

#: a table over (obs, action, next) is built when it has at most this many entries
MAX_TABLE = 1 << 22


def _batch(x):
    """One value as a batch of one (dicts of values, recursively)."""
    if isinstance(x, Mapping):
        return {k: _batch(v) for k, v in x.items()}
    return np.asarray(x)[None]


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


class Reader:
    """Props and transition quantities of one spec on one env's spaces.

    ``props`` maps the names of ``external`` props to Python callables
    ``fn(obs, info) -> bool``.
    """

    def __init__(self, spec: n.Spec, observation_space, action_space,
                 props: Mapping[str, Callable] | None = None):
        self.spec = spec
        self.scope = Scope.of(spec)
        self.obs_space, self.action_space = observation_space, action_space
        self.external = dict(props or {})
        missing = [p for p, body in self.scope.props.items()
                   if body is None and p not in self.external]
        self._missing = set(missing)
        self._obs_values = _discrete_values(observation_space)
        self._act_values = _discrete_values(action_space)

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
            out = fn(values)
        except ObjlangError:
            raise
        except Exception as exc:  # an index, key or shape the space does not have
            raise self.fail(what, name, exc) from None
        if not np.all(np.isfinite(np.asarray(out, dtype=float))):
            raise ObjlangError(f"{what} is not finite on some observations", None,
                               None, self.scope.source)
        return out

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
        if self._obs_values is not None and fn.reads <= {"obs"}:
            table = fn({"obs": self._obs_values})
            start = int(self._obs_values[0])
            return lambda obs, info, ext: bool(table[int(obs) - start])
        return lambda obs, info, ext: bool(fn({"obs": _batch(obs), "info": _batch(info),
                                               "props": ext})[0])

    def external_values(self, obs, info) -> dict:
        """The external props on one observation, as batches of one."""
        return {p: np.array([bool(f(obs, info))]) for p, f in self.external.items()}

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
            if not fn.reads <= {"obs"}:
                return None
            out |= fn({"obs": self._obs_values}).astype(np.int64) << i
        return out

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
        if ov is not None and av is not None and fn.reads <= {"obs", "action", "next"} \
                and len(ov) ** 2 * len(av) <= MAX_TABLE:
            o, a, o2 = np.meshgrid(ov, av, ov, indexing="ij")
            table = fn({"obs": o.ravel(), "action": a.ravel(), "next": o2.ravel()}
                       ).reshape(o.shape)
            s0, a0 = int(ov[0]), int(av[0])
            if boolean:
                return lambda obs, act, nxt, *rest: bool(table[obs - s0, act - a0, nxt - s0])
            return lambda obs, act, nxt, *rest: float(table[obs - s0, act - a0, nxt - s0])
        cast = bool if boolean else float

        def call(obs, act, nxt, env_reward, info, next_info, ext, next_ext):
            out = fn({"obs": _batch(obs), "action": _batch(act), "next": _batch(nxt),
                      "env_reward": _batch(env_reward), "info": _batch(info),
                      "next_info": _batch(next_info), "props": ext, "next_props": next_ext})
            return cast(out[0])
        return call
