"""Reward machines as automaton tables.

A machine reads one letter per transition (o_t, a_t, o_{t+1}): the valuation
of the atoms of its guards -- props (read on o_{t+1}) and inline transition
conditions (``action == 1``). From state q on a letter, the edge whose guard
holds is taken (the checks proved at most one can); if none holds the machine
stays in q with reward 0. Edge rewards that are numbers fill ``reward``; any
edge's index is in ``edge`` so that a backend can evaluate a transition-level
reward expression (``edge_rewards``) per transition.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from .ltl import MAX_PROPS
from .table import Automaton

_LOGIC = {sym.And_: np.logical_and.reduce, sym.Or_: np.logical_or.reduce,
          sym.Xor: np.logical_xor.reduce}


def _atoms(guard, props: set[str], out: dict) -> None:
    """Collect the atoms of a guard: props by name, other conditions whole."""
    if guard in (sympy.true, sympy.false):
        return
    if isinstance(guard, sympy.Symbol) and guard.name in props:
        out.setdefault(guard.name, guard)
    elif isinstance(guard, (sym.Not_, sym.And_, sym.Or_, sym.Xor, sym.Implies, sym.Equiv)):
        for a in guard.args:
            _atoms(a, props, out)
    elif guard not in out.values():
        out[f"_c{sum(1 for k in out if k.startswith('_c'))}"] = guard


def truth(guard, bit_of: dict, letters: np.ndarray) -> np.ndarray:
    """Which letters satisfy a boolean combination of atoms (``bit_of``: atom -> bit)."""
    if guard is sympy.true:
        return np.ones(letters.shape, bool)
    if guard is sympy.false:
        return np.zeros(letters.shape, bool)
    if guard in bit_of:
        return (letters >> bit_of[guard]) & 1 == 1
    cls = type(guard)
    args = [truth(a, bit_of, letters) for a in guard.args]
    if cls is sym.Not_:
        return ~args[0]
    if cls in _LOGIC:
        return _LOGIC[cls](args)
    if cls is sym.Implies:
        return ~args[0] | args[1]
    if cls is sym.Equiv:
        return args[0] == args[1]
    raise ObjlangError(f"cannot read {cls.__name__} as a guard")


def machine_automaton(decl: n.MachineDecl, spec: n.Spec) -> Automaton:
    """The tables of a checked machine declaration."""
    props = {d.name for d in spec.of_type(n.PropDecl)}
    atoms: dict = {}
    for e in decl.edges:
        _atoms(e.guard, props, atoms)
    if len(atoms) > MAX_PROPS:
        raise ObjlangError(f"machine '{decl.name}' reads {len(atoms)} conditions; at most "
                           f"{MAX_PROPS} are supported", decl.loc)
    names = list(atoms)
    bit_of = {atoms[k]: i for i, k in enumerate(names)}
    states = list(decl.states)
    index = {s: i for i, s in enumerate(states)}
    n_q, n_l = len(states), 1 << len(names)
    letters = np.arange(n_l)
    delta = np.tile(np.arange(n_q, dtype=np.int32)[:, None], (1, n_l))
    edge = np.full((n_q, n_l), -1, dtype=np.int32)
    reward = np.zeros((n_q, n_l))
    for k, e in enumerate(decl.edges):
        holds = truth(e.guard, bit_of, letters)
        for s in e.sources:
            q = index[s]
            delta[q, holds] = index[e.target]
            edge[q, holds] = k
            if e.reward is not None and isinstance(e.reward, sympy.Number):
                reward[q, holds] = float(e.reward)
    final = np.array([s in decl.finals for s in states])
    auto = Automaton(name=decl.name, props=tuple(names), init=index[decl.start], delta=delta,
                     acceptance="machine", color=np.full((n_q, n_l), -1, np.int32),
                     accepting=final[delta], sink=np.zeros(n_q, bool), reward=reward,
                     final=final, conditions=dict(atoms))
    return replace(auto, edge=edge, edge_rewards=tuple(e.reward for e in decl.edges))
