"""Automata as text: HOA (the Hanoi Omega-Automata format) and Graphviz dot,
written from the tables, so that formulas and machines print the same way.

Edge labels are the letters of an edge written as a sum of products over the
props (``goal & !hole``), simplified exactly with sympy's SOP minimisation.
"""
from __future__ import annotations

import numpy as np
import sympy
from sympy.logic.boolalg import SOPform

from .table import Automaton


def _label(auto: Automaton, letters: list[int], hoa: bool) -> str:
    """A boolean formula over the props true exactly on ``letters``."""
    k = len(auto.props)
    if len(letters) == 1 << k:
        return "t" if hoa else "true"
    names = [sympy.Symbol(f"p{i}") for i in range(k)]
    minterms = [[(x >> i) & 1 for i in range(k)] for x in letters]
    f = SOPform(names, minterms)
    shown = {f"p{i}": (str(i) if hoa else auto.props[i]) for i in range(k)}

    def text(e) -> str:
        if isinstance(e, sympy.Symbol):
            return shown[e.name]
        if isinstance(e, sympy.Not):
            return "!" + text(e.args[0])
        if isinstance(e, sympy.And):
            return " & ".join(text(a) for a in e.args)
        if isinstance(e, sympy.Or):
            return " | ".join(f"({text(a)})" if isinstance(a, sympy.And) else text(a)
                              for a in e.args)
        return "t" if e is sympy.true else "f"

    return text(f)


def _edges(auto: Automaton):
    """(source, target, letters, mark) grouped per source, target and mark."""
    for q in range(auto.n_states):
        groups: dict = {}
        for letter in range(auto.n_letters):
            dst = int(auto.delta[q, letter])
            if auto.acceptance == "parity min even":
                mark = int(auto.color[q, letter])
            elif auto.acceptance == "machine":
                mark = float(auto.reward[q, letter])
            else:
                mark = bool(auto.accepting[q, letter])
            groups.setdefault((dst, mark), []).append(letter)
        for (dst, mark), letters in groups.items():
            yield q, dst, letters, mark


def to_hoa(auto: Automaton) -> str:
    """HOA text of an automaton (machines: rewards as edge comments-free names in
    the ``objlang-reward`` property of each edge)."""
    n_colors = int(auto.color.max()) + 1 if auto.acceptance == "parity min even" else 1
    acc = {
        "parity min even": (f"Acceptance: {n_colors} " + _parity(n_colors),
                            f"acc-name: parity min even {n_colors}"),
        "buchi": ("Acceptance: 1 Inf(0)", "acc-name: Buchi"),
        "finite": ("Acceptance: 1 Inf(0)", "acc-name: Buchi"),
        "machine": ("Acceptance: 0 t", "acc-name: all"),
    }[auto.acceptance]
    lines = ["HOA: v1", f'name: "{auto.name}"', f"States: {auto.n_states}",
             f"Start: {auto.init}",
             f"AP: {len(auto.props)}" + "".join(f' "{p}"' for p in auto.props),
             acc[1], acc[0], "properties: trans-labels explicit-labels deterministic complete",
             "--BODY--"]
    by_state: dict[int, list[str]] = {}
    for q, dst, letters, mark in _edges(auto):
        label = _label(auto, letters, hoa=True)
        if auto.acceptance == "parity min even":
            sets = f" {{{mark}}}"
        elif auto.acceptance in ("buchi", "finite"):
            sets = " {0}" if mark else ""
        else:
            sets = ""
        by_state.setdefault(q, []).append(f"[{label}] {dst}{sets}")
    for q in range(auto.n_states):
        head = f"State: {q}"
        if auto.final is not None and auto.final[q]:
            head += ' "final"'
        lines.append(head)
        lines += by_state.get(q, [])
    lines.append("--END--")
    return "\n".join(lines) + "\n"


def _parity(n: int) -> str:
    """The acceptance condition "parity min even n" spelled out."""
    if n <= 0:
        return "t"
    cond = "Inf(0)" if n == 1 else None
    for c in range(n - 1, -1, -1):
        atom = f"Inf({c})" if c % 2 == 0 else f"Fin({c})"
        if cond is None:
            cond = atom
        else:
            cond = f"{atom} | ({cond})" if c % 2 == 0 else f"{atom} & ({cond})"
    return cond


def to_dot(auto: Automaton) -> str:
    """Graphviz dot text of an automaton."""
    lines = [f'digraph "{auto.name}" {{', "  rankdir=LR;", '  node [shape=circle];',
             '  start [shape=point];', f"  start -> {auto.init};"]
    for q in range(auto.n_states):
        shape = "doublecircle" if auto.final is not None and auto.final[q] else "circle"
        style = ', style=dashed' if auto.sink[q] else ""
        lines.append(f'  {q} [shape={shape}{style}];')
    for q, dst, letters, mark in _edges(auto):
        label = _label(auto, letters, hoa=False)
        if auto.acceptance == "parity min even":
            label += f" {{{mark}}}"
        elif auto.acceptance == "machine" and mark:
            label += f" / {mark:g}"
        elif mark is True:
            label += " ●"
        lines.append(f'  {q} -> {dst} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
