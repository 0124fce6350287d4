"""Props, letters and transition quantities as batched torch code.

The expressions are those of :mod:`objlang.ir.evaluate`, compiled by the same
compiler on :class:`TorchOps` (float64, like the numpy evaluator, so both
backends compute the same numbers). With ``Discrete`` observations (and
actions) and expressions of them only, everything is precomputed into a table
on the device, and a step is one gather; otherwise a step runs the compiled
expression once on the whole batch. The gym backend's :class:`Reader` checks
every expression against the env's spaces first, so both backends refuse a
spec that does not fit its env with the same errors.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch
from gymnasium import spaces

from ..gym.labels import MAX_TABLE, Reader
from ..ir.evaluate import ArrayOps, compile_bool, compile_real


class TorchOps(ArrayOps):
    """The evaluator's array operations on torch tensors of one device.

    Floating-point inputs are read as float64, as numpy's evaluator reads them,
    and constants live on the device from compile time. A tensor on another
    device is an error, never copied.
    """

    add, multiply, minimum, maximum = (staticmethod(f) for f in (
        torch.add, torch.multiply, torch.minimum, torch.maximum))
    logical_and, logical_or, logical_xor, logical_not = (staticmethod(f) for f in (
        torch.logical_and, torch.logical_or, torch.logical_xor, torch.logical_not))
    equal, not_equal, less, less_equal, greater, greater_equal = (staticmethod(f) for f in (
        torch.eq, torch.ne, torch.lt, torch.le, torch.gt, torch.ge))
    sqrt, abs, exp, log, power, where = (staticmethod(f) for f in (
        torch.sqrt, torch.abs, torch.exp, torch.log, torch.pow, torch.where))

    def __init__(self, device):
        self.device = torch.device(device)

    def number(self, x: float):
        return torch.tensor(float(x), dtype=torch.float64, device=self.device)

    def truth(self, x: bool):
        return torch.tensor(bool(x), device=self.device)

    def asarray(self, x):
        if isinstance(x, torch.Tensor):
            if x.device != self.device:
                raise ValueError(f"a tensor on {x.device} given to an objective compiled for "
                                 f"{self.device}; move it there first")
            return x.double() if x.is_floating_point() and x.dtype != torch.float64 else x
        # numbers, lists and numpy arrays (constants, or values read by a user's props)
        return torch.as_tensor(np.asarray(x), device=self.device)

    def floats(self, x):
        return self.asarray(x).to(torch.float64)

    def bools(self, x):
        return self.asarray(x).to(torch.bool)

    def reduce(self, how: str, x, axes: tuple):
        return getattr(torch, how)(x, dim=axes)

    def stack(self, arrs):
        return torch.stack(torch.broadcast_tensors(*arrs), dim=1)

    def isin(self, x, members):
        return torch.isin(self.floats(x), members)

    def take_rows(self, x, ix):
        ix = self.asarray(ix).long()
        ix = (ix.reshape(-1) if ix.ndim else ix).expand(x.shape[0])
        return x[torch.arange(x.shape[0], device=self.device), ix]

    def broadcast_to(self, x, shape):
        return x.expand(shape).clone()


def device_of(device) -> torch.device:
    """``device`` (a string or a ``torch.device``) as the device its tensors report
    ("cuda" is "cuda:N" of the current GPU), or an ObjlangError for a name torch
    does not know or a GPU it does not find.

    >>> device_of("cpu")
    device(type='cpu')
    """
    from ..errors import ObjlangError

    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise ObjlangError(f"unknown device '{device}'", hint="use cpu or cuda (cuda:N)") \
            from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ObjlangError(f"device '{device}' is not available: torch finds no CUDA GPU",
                               hint="use --device cpu")
        if d.index is None:
            # tensors report "cuda:0", not "cuda": compare with what they report
            d = torch.device("cuda", torch.cuda.current_device())
    return d


def check_device(x, device: torch.device, what: str) -> None:
    """Raise unless every tensor in x (a tensor or a dict of them) is on ``device``."""
    if isinstance(x, Mapping):
        for key, v in x.items():
            check_device(v, device, f"{what}[{key!r}]")
    elif isinstance(x, torch.Tensor) and x.device != device:
        raise ValueError(f"{what} is on {x.device} but the objective was compiled for "
                         f"{device}; move it there first (tensors are never moved silently)")


def _discrete(space):
    """(start, n) of a Discrete space, else None."""
    return (int(space.start), int(space.n)) if isinstance(space, spaces.Discrete) else None


class StateLetters:
    """The letter (bit i = condition i) of a state: ``f(obs, info, props) -> int64 (B,)``.

    With ``Discrete`` observations, a table over the observations when the
    conditions read ``obs`` only, or ``obs`` and an info that is a function of the
    observation (:meth:`Reader.letter_table`, e.g. OfficeWorld's); else the
    compiled conditions, on the batch.
    """

    def __init__(self, conditions: list, reader: Reader, ops: TorchOps):
        self.ops = ops
        discrete = _discrete(reader.obs_space)
        self.start = discrete[0] if discrete else 0
        self.bits = [1 << i for i in range(len(conditions))]
        self.table, self.fns = reader.letter_table(conditions), []
        if self.table is None:
            for c in conditions:
                reader.condition(c, *reader.named(c))  # the gym backend's checks and errors
                self.fns.append(compile_bool(c, reader.scope, level="state", ops=ops))
        else:
            self.table = torch.as_tensor(self.table, dtype=torch.int64, device=ops.device)

    def _compiled(self, obs, info, props) -> torch.Tensor:
        values = {"obs": obs, "info": info if info is not None else {}, "props": props}
        out = None
        for bit, fn in zip(self.bits, self.fns):
            b = fn(values).long() * bit
            out = b if out is None else out | b
        return out if out is not None else torch.zeros(batch_size(obs), dtype=torch.int64,
                                                       device=self.ops.device)

    def __call__(self, obs, info, props) -> torch.Tensor:
        if self.table is not None:
            return take(self.table, obs - self.start if self.start else obs)
        return self._compiled(obs, info, props)


def _rows(obs_info: Mapping, o: torch.Tensor) -> dict:
    """The per-observation info of observation indices ``o``."""
    return {k: take(v, o) for k, v in obs_info.items()}


class Transition:
    """Several transition quantities at once: ``f(values) -> (B, k)`` (see
    :mod:`objlang.ir.evaluate` for ``values``), with ``combine`` applied to the
    ``(B, k)`` result (e.g. packing booleans into a letter).

    With ``Discrete`` observations and actions and expressions of
    (obs, action, next) only -- and of ``info``/``next_info`` where the env's info
    is a function of the observation (``obs_info``) -- the combined result is a
    table over (obs, action, next) built once on the device: a step is one gather.
    """

    def __init__(self, exprs: list, whats: list, reader: Reader, ops: TorchOps,
                 boolean: bool = False, names: list | None = None,
                 combine: Callable | None = None, obs_info: Mapping | None = None):
        self.ops, self.k = ops, len(exprs)
        self.combine = combine or (lambda x: x)
        compile_ = compile_bool if boolean else compile_real
        names = names or [None] * len(exprs)
        for e, what, name in zip(exprs, whats, names):
            reader.transition(e, what, name, boolean)  # the gym backend's checks and errors
        self.fns = [compile_(e, reader.scope, level="transition", ops=ops) for e in exprs]
        reads = frozenset().union(*(f.reads for f in self.fns))
        tabled = {"obs", "action", "next"} | ({"info", "next_info"} if obs_info else set())
        obs, act = _discrete(reader.obs_space), _discrete(reader.action_space)
        self.table = None
        if obs and act and reads <= tabled \
                and obs[1] ** 2 * act[1] * max(self.k, 1) <= MAX_TABLE:
            (s0, n_o), (a0, n_a) = obs, act
            o, a, o2 = (x.reshape(-1) for x in torch.meshgrid(
                torch.arange(n_o, device=ops.device), torch.arange(n_a, device=ops.device),
                torch.arange(n_o, device=ops.device), indexing="ij"))
            grid = {"obs": o + s0, "action": a + a0, "next": o2 + s0}
            if obs_info:
                grid.update(info=_rows(obs_info, o), next_info=_rows(obs_info, o2))
            try:
                self.table = self.combine(self._stack(grid, n_o * n_o * n_a))
            except KeyError:  # a key the per-observation info lacks: read each step's
                pass
            self.strides = (n_a * n_o, n_o)
            self.starts = (s0, a0)

    def _stack(self, values, size: int) -> torch.Tensor:
        if not self.fns:
            return torch.zeros((size, 0), dtype=torch.float64, device=self.ops.device)
        return torch.stack([f(values) for f in self.fns], dim=1)

    def __call__(self, values) -> torch.Tensor:
        if self.table is not None:
            (s0, a0), (so, sa) = self.starts, self.strides
            o, a, o2 = values["obs"], values["action"], values["next"]
            if s0 or a0:
                o, a, o2 = o - s0, a - a0, o2 - s0
            return take(self.table, o * so + a * sa + o2)
        return self.combine(self._stack(values, batch_size(values["obs"])))


def take(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``table[idx]`` along the first axis, for an index tensor of any shape
    (``index_select``: a fraction of the cost of advanced indexing)."""
    if idx.ndim == 1:
        return table.index_select(0, idx)
    out = table.index_select(0, idx.reshape(-1))
    return out.reshape(idx.shape + table.shape[1:])


def pack_letters(bits: torch.Tensor) -> torch.Tensor:
    """Booleans ``(B, k)`` as letters ``(B,)``: bit i = column i."""
    weights = 1 << torch.arange(bits.shape[1], device=bits.device)
    return (bits.long() * weights).sum(1)


def batch_size(x) -> int:
    """The batch size of a tensor, or of the first tensor of a (nested) dict."""
    while isinstance(x, Mapping):
        x = next(iter(x.values()))
    return x.shape[0]
