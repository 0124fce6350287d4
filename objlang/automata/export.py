"""Automata as text: HOA (the Hanoi Omega-Automata format) and Graphviz dot,
written from the tables, so that formulas and machines print the same way.

Edge labels are the letters of an edge written as a sum of products over the
props (``goal & !hole``), simplified exactly with sympy's SOP minimisation.
ε-moves (:mod:`objlang.automata.gfm`) are dashed ``ε`` edges in dot; HOA has
no ε-moves, so there an ε-move followed by a letter is written as a
nondeterministic edge on that letter (the same language and acceptance).
"""
from __future__ import annotations

from collections import Counter
from xml.sax.saxutils import escape

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
    shown = {f"p{i}": str(i) if hoa else _prop_text(auto, p) for i, p in enumerate(auto.props)}

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


def _prop_text(auto: Automaton, prop: str) -> str:
    """A prop in pictures: its name, or the inline condition it stands for."""
    from ..syntax.printer import expr

    cond = auto.conditions.get(prop)
    return prop if cond is None or isinstance(cond, sympy.Symbol) else f"({expr(cond)})"


def _edges(auto: Automaton):
    """(source, target, letters, mark) grouped per source, target and mark."""
    for q in range(auto.n_states):
        groups: dict = {}
        for letter in range(auto.n_letters):
            dst = int(auto.delta[q, letter])
            if auto.acceptance == "parity min even":
                mark = int(auto.color[q, letter])
            elif auto.acceptance == "machine":  # the machine's edge (-1: staying)
                mark = int(auto.edge[q, letter])
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
             acc[1], acc[0], "properties: trans-labels explicit-labels "
             + ("complete" if auto.n_epsilon else "deterministic complete"), "--BODY--"]
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
    own = {q: list(edges) for q, edges in by_state.items()}
    for q in range(auto.n_states):  # ε-moves, then a letter
        for t in _epsilon_closure(auto, q):
            by_state[q] = list(dict.fromkeys(by_state.get(q, []) + own.get(t, [])))
    for q in range(auto.n_states):
        head = f"State: {q}"
        if auto.final is not None and auto.final[q]:
            head += ' "final"'
        lines.append(head)
        lines += by_state.get(q, [])
    lines.append("--END--")
    return "\n".join(lines) + "\n"


def _epsilon_closure(auto: Automaton, q: int) -> list[int]:
    """The states other than q reachable from q by ε-moves alone."""
    seen, todo = [], list(auto.epsilon[q]) if auto.n_epsilon else []
    while todo:
        t = todo.pop()
        if t != q and t not in seen:
            seen.append(t)
            todo += auto.epsilon[t]
    return seen


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
        lines.append(f'  {q} -> {dst} [label="{_edge_text(auto, letters, mark)}"];')
    for q in range(auto.n_states if auto.n_epsilon else 0):
        lines += [f'  {q} -> {t} [label="ε", style=dashed];' for t in auto.epsilon[q]]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _edge_text(auto: Automaton, letters: list[int], mark) -> str:
    """An edge's label in pictures (dot, SVG): its letters, then its colour
    ``{c}``, its acceptance mark ``●`` or its machine reward ``/ r``."""
    from ..syntax.printer import expr

    label = _label(auto, letters, hoa=False)
    if auto.acceptance == "parity min even":
        return f"{label} {{{mark}}}"
    if auto.acceptance == "machine":
        reward = auto.edge_rewards[mark] if mark >= 0 else None
        return label if reward is None else f"{label} / {expr(reward)}"
    return label + " ●" if mark else label


#: SVG layout, in pixels: state radius, distance of columns and rows; accepting edges' colour
_R, _DX, _DY = 22, 170, 100
_GREEN = "#1a7f37"


def to_svg(auto: Automaton) -> str:
    """An SVG picture of an automaton, drawn here (no Graphviz binary needed).

    States stand in columns by breadth-first distance from the initial state
    (an arrow points at it); edges are arrows labelled as in :func:`to_dot`,
    curved where a straight line could overlap another edge. Final states have a
    double circle, rejecting sinks are grey and dashed, accepting (Büchi, DFA)
    edges green, ε-moves dashed. Each state is a ``<g class="state">`` and each
    edge a ``<g class="edge">`` with a ``<title>``."""
    pos = _layout(auto)
    edges = [(q, dst, _edge_text(auto, letters, mark),
              "acc" if mark is True else "") for q, dst, letters, mark in _edges(auto)]
    edges += [(q, t, "ε", "eps") for q in range(auto.n_states if auto.n_epsilon else 0)
              for t in auto.epsilon[q]]
    pairs = Counter(frozenset((q, dst)) for q, dst, _, _ in edges)
    x0, y0 = pos[auto.init]
    body = [f'<path class="init" d="M{x0 - _R - 30},{y0} H{x0 - _R}" stroke="black" '
            f'marker-end="url(#arrow)"/>']
    # the picture's extent: state circles, then every curve's control point and label
    lo, hi = pos.min(axis=0) - _R - 40, pos.max(axis=0) + _R
    seen: Counter = Counter()
    for q, dst, text, kind in edges:
        k = seen[(q, dst)]
        seen[(q, dst)] += 1
        half = np.array([3.5 * len(text), 7])  # a label's half width and half height
        if q == dst:
            path, bend, label = _loop(pos[q], k)
        else:
            path, bend, label = _arc(pos[q], pos[dst], k, pairs[frozenset((q, dst))] > 1, half)
        lo = np.minimum.reduce([lo, bend, label - half])
        hi = np.maximum.reduce([hi, bend, label + half])
        color = _GREEN if kind == "acc" else "black"
        dash = ' stroke-dasharray="5,3"' if kind == "eps" else ""
        body.append(f'<g class="edge"><title>{q} -&gt; {dst}: {escape(text)}</title>'
                    f'<path d="{path}" fill="none" stroke="{color}"{dash} '
                    f'marker-end="url(#{"arrow-acc" if kind == "acc" else "arrow"})"/>'
                    f'<text x="{label[0]:.1f}" y="{label[1] + 4:.1f}" text-anchor="middle" '
                    f'fill="{color}">{escape(text)}</text></g>')
    for q, (x, y) in enumerate(pos):
        sink = ' fill="#e8e8e8" stroke-dasharray="4,3"' if auto.sink[q] else ' fill="white"'
        ring = (f'<circle cx="{x:g}" cy="{y:g}" r="{_R - 4}" fill="none" stroke="black"/>'
                if auto.final is not None and auto.final[q] else "")
        body.append(f'<g class="state" id="q{q}"><circle cx="{x:g}" cy="{y:g}" r="{_R}" '
                    f'stroke="black"{sink}/>{ring}<text x="{x:g}" y="{y + 4:g}" '
                    f'text-anchor="middle">{q}</text></g>')
    (x, y), (w, h) = lo - 10, hi - lo + 20
    head = ['<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
            f'viewBox="{x:.0f} {y:.0f} {w:.0f} {h:.0f}" font-family="sans-serif" '
            f'font-size="12">', f"<title>{escape(auto.name)}: {auto.acceptance}</title>",
            "<defs>"]
    head += [f'<marker id="{marker}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
             f'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/>'
             f"</marker>" for marker, color in (("arrow", "black"), ("arrow-acc", _GREEN))]
    return "\n".join(head + ["</defs>"] + body + ["</svg>"]) + "\n"


def _layout(auto: Automaton) -> np.ndarray:
    """``(n_states, 2)`` centres: column = breadth-first distance from the
    initial state (unreachable states in a last column), then one row per state."""
    moves = [set(map(int, auto.delta[q])) | set(auto.epsilon[q] if auto.n_epsilon else ())
             for q in range(auto.n_states)]
    depth = {auto.init: 0}
    todo = [auto.init]
    for q in todo:  # todo grows while it is read: a breadth-first queue
        for t in sorted(moves[q] - depth.keys()):
            depth[t] = depth[q] + 1
            todo.append(t)
    last = max(depth.values()) + 1
    rows: dict = {}
    pos = np.zeros((auto.n_states, 2))
    for q in range(auto.n_states):
        col = depth.get(q, last)
        row = rows[col] = rows.get(col, -1) + 1
        pos[q] = _DX * col, _DY * row
    return pos


def _arc(a: np.ndarray, b: np.ndarray, k: int, shared: bool, half: np.ndarray):
    """The k-th edge from centre a to centre b: its path (a quadratic curve,
    straight for a lone edge to the next column), control point and the centre
    of its label (of half extent ``half``), beside the curve's middle."""
    d = b - a
    normal = np.array([d[1], -d[0]]) / np.hypot(*d)
    straight = not shared and k == 0 and np.isclose(d[0], _DX)
    c = (a + b) / 2 + (0 if straight else 30 + 25 * k) * normal
    start = a + _R * (c - a) / np.hypot(*(c - a))
    end = b + _R * (c - b) / np.hypot(*(c - b))
    label = (start + 2 * c + end) / 4 + normal * (4 + half)
    return (f"M{start[0]:.1f},{start[1]:.1f} Q{c[0]:.1f},{c[1]:.1f} "
            f"{end[0]:.1f},{end[1]:.1f}"), c, label


def _loop(a: np.ndarray, k: int):
    """The k-th self-loop of a state, above it: path, top and label place."""
    x, y = a
    h = 35 + 30 * k
    top = np.array([x, y - _R - h])
    return (f"M{x - _R / 2:.1f},{y - 0.87 * _R:.1f} C{x - _R - h / 2:.1f},{top[1]:.1f} "
            f"{x + _R + h / 2:.1f},{top[1]:.1f} {x + _R / 2:.1f},{y - 0.87 * _R:.1f}"
            ), top, top + [0, 0.25 * h - 9]
