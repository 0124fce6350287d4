"""The Hasse diagram of the preorder, drawn without any system binary.

One node per equivalence class (``INMR = IMORL = FTR``), one line per covering
pair, classes in layers by height (the longest chain of covers below them: MR, LTL
and LAR at the bottom, PO on top), each layer ordered by the mean position of its
lower neighbours to keep lines from crossing. A line is solid when the data file's
edge is cited, dashed when derived. ``highlight`` marks the class a spec is written
in and the classes of its lowest formalisms.

SVG is written directly (each class a ``<g class="node">`` with ``data-members``;
each line a ``<g class="edge">`` with a ``<title>``); PNG goes through matplotlib
(the ``plot`` extra).

>>> import xml.etree.ElementTree as ET
>>> svg = ET.fromstring(to_svg())
>>> len([g for g in svg.iter("{http://www.w3.org/2000/svg}g")
...      if g.get("class", "").startswith("node")])
11
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ..errors import ObjlangError
from .preorder import load

_W, _H, _GAP_X, _GAP_Y, _MARGIN = 170, 40, 30, 70, 30
_FILL = {"written": "#ffd54f", "lowest": "#a5d6a7", "both": "#ffd54f", "": "#ffffff"}
#: a class that is both written-in and lowest: yellow with the green of lowest around it
_STROKE = {"both": "#2e7d32"}


@dataclass(frozen=True)
class Node:
    members: tuple[str, ...]
    x: float  # centre
    y: float  # centre
    mark: str  # "", "written", "lowest" or "both"


@dataclass(frozen=True)
class Line:
    """A covering pair, drawn from the bottom of ``upper`` to the top of ``lower``
    through ``points`` (two per layer it crosses: in and out of its slot)."""

    upper: tuple[str, ...]
    lower: tuple[str, ...]
    cited: bool
    points: tuple[tuple[float, float], ...]


def _crossings(layers, links) -> int:
    """Pairs of links between two adjacent layers that cross."""
    at = {item: i for layer in layers for i, item in enumerate(layer)}
    count = 0
    for level in range(1, len(layers)):
        here = [(at[a], at[b]) for a, b in links if a in layers[level] and b in layers[level - 1]]
        count += sum((a1 - a2) * (b1 - b2) < 0 for i, (a1, b1) in enumerate(here)
                     for a2, b2 in here[i + 1:])
    return count


def _size(item) -> float:
    """Room an item takes in its layer: a box and a gap, or a narrow slot for a line."""
    return _GAP_X * 1.5 if item[0] == "via" else _W + _GAP_X


def _sweep(layers, links, up: bool) -> None:
    """Sort each layer by the mean position of its neighbours in the layer before."""
    order = range(1, len(layers)) if up else range(len(layers) - 2, -1, -1)
    for lv in order:
        near = {item: i for i, item in enumerate(layers[lv - 1] if up else layers[lv + 1])}
        own = {item: i for i, item in enumerate(layers[lv])}

        def centre(item):
            xs = [near[b] for a, b in links if a == item and b in near] if up else \
                [near[a] for a, b in links if b == item and a in near]
            return sum(xs) / len(xs) if xs else own[item]
        layers[lv].sort(key=centre)


def _place(layers, links) -> dict:
    """x of every item: its order kept, each near the mean x of its neighbours
    (passes up and down, the last ones over both sides), never closer to the next
    than their sizes allow."""
    xs = {}
    for layer in layers:
        x = 0.0
        for item in layer:
            xs[item] = x + _size(item) / 2
            x += _size(item)
    for sweep in range(12):
        up = sweep % 2 == 0
        for lv in (range(1, len(layers)) if up else range(len(layers) - 2, -1, -1)):
            want = {}
            for item in layers[lv]:
                # neighbours below (up sweeps) or above, then both for the last passes
                nb = [xs[b] for a, b in links if a == item and (up or sweep >= 8)] + \
                    [xs[a] for a, b in links if b == item and (not up or sweep >= 8)]
                want[item] = sum(nb) / len(nb) if nb else xs[item]
            # left to right, then right to left, so pushes share out
            layer = layers[lv]
            pos = [want[i] for i in layer]
            for i in range(1, len(layer)):
                gap = (_size(layer[i - 1]) + _size(layer[i])) / 2
                pos[i] = max(pos[i], pos[i - 1] + gap)
            for i in range(len(layer) - 2, -1, -1):
                gap = (_size(layer[i]) + _size(layer[i + 1])) / 2
                pos[i] = min(pos[i], pos[i + 1] - gap)
            xs.update(zip(layer, pos))
    return xs


def layout(written: str | None = None,
           lowest: tuple[str, ...] = ()) -> tuple[list[Node], list[Line]]:
    """Node centres and lines of the diagram (layered, Sugiyama-style: a line that
    spans several layers gets a point of its own in each, so it passes no node)."""
    p = load()
    covers = p.covers()
    level = {c: p.height(c[0]) for c in p.classes}
    layers: list[list] = [[] for _ in range(max(level.values()) + 1)]
    for c in p.classes:
        layers[level[c]].append(c)
    links, chains = [], {}
    for u, w in covers:
        chain = [u] + [("via", u, w, k) for k in range(level[u] - 1, level[w], -1)] + [w]
        for item in chain[1:-1]:
            layers[item[3]].append(item)
        links += list(zip(chain, chain[1:]))
        chains[u, w] = chain
    # order each layer: barycentre sweeps from every order of the bottom layer; keep
    # the order with the fewest crossings (the diagram is small)
    best = None
    for bottom in itertools.permutations(layers[0]):
        layers[0] = list(bottom)
        for sweep in range(6):
            _sweep(layers, links, up=sweep % 2 == 0)
            cand = (_crossings(layers, links), [list(x) for x in layers])
            if best is None or cand[0] < best[0]:
                best = cand
    layers = best[1]
    xs = _place(layers, links)
    ys = {item: _MARGIN + _H / 2 + (len(layers) - 1 - lv) * (_H + _GAP_Y)
          for lv, layer in enumerate(layers) for item in layer}
    cx = _MARGIN - min(x - (0 if i[0] == "via" else _W / 2) for i, x in xs.items())
    nodes = []
    for c in p.classes:
        w = bool(written) and written in c
        lo = any(k in c for k in lowest)
        mark = "both" if w and lo else "written" if w else "lowest" if lo else ""
        nodes.append(Node(c, cx + xs[c], ys[c], mark))
    lines = []
    for (u, w), chain in chains.items():
        fact = p.edge_fact(u[0], w[0])
        # through a layer it crosses, a line runs straight down its own slot
        pts = [(cx + xs[u], ys[u] + _H / 2)] + [(cx + xs[i], ys[i] + dy) for i in chain[1:-1]
                                                for dy in (-_H / 2, _H / 2)] \
            + [(cx + xs[w], ys[w] - _H / 2)]
        lines.append(Line(u, w, fact is not None and fact.cited, tuple(pts)))
    return nodes, lines


def _extent(nodes: list[Node], lines: list[Line]) -> tuple[float, float]:
    """Width and height the nodes and lines need, margins included."""
    right = max([nd.x + _W / 2 for nd in nodes] + [x for ln in lines for x, _ in ln.points])
    return right + _MARGIN, max(nd.y for nd in nodes) + _H / 2 + _MARGIN


def to_svg(written: str | None = None, lowest: tuple[str, ...] = (),
           title: str = "Expressivity of objective-specification formalisms") -> str:
    """The diagram as SVG text; ``written``/``lowest`` are highlighted."""
    nodes, lines = layout(written, lowest)
    width, height = _extent(nodes, lines)
    height += 40 if written or lowest else 20  # the legend
    body = []
    for ln in lines:
        how = "cited" if ln.cited else "derived"
        dash = "" if ln.cited else ' stroke-dasharray="6 4"'
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in ln.points)
        body.append(f'<g class="edge {how}"><title>{escape(ln.upper[0])} ≥ '
                    f'{escape(ln.lower[0])} ({how})</title><polyline points="{pts}" '
                    f'fill="none" stroke="#555" stroke-width="1.5"{dash}/></g>')
    for nd in nodes:
        label = " = ".join(nd.members)
        cls = "node" + (f" {nd.mark}" if nd.mark else "")
        stroke = 3 if nd.mark else 1.2
        names = "; ".join(f"{k}: {load().formalisms[k].name}" for k in nd.members)
        members = quoteattr(" ".join(nd.members))
        body.append(
            f'<g class="{cls}" id="n-{nd.members[0]}" data-members={members}>'
            f"<title>{escape(names)}</title>"
            f'<rect x="{nd.x - _W / 2:.1f}" y="{nd.y - _H / 2:.1f}" width="{_W}" height="{_H}" '
            f'rx="8" fill="{_FILL[nd.mark]}" stroke="{_STROKE.get(nd.mark, "#333")}" '
            f'stroke-width="{stroke}"/>'
            f'<text x="{nd.x:.1f}" y="{nd.y + 4:.1f}" text-anchor="middle">{escape(label)}</text>'
            f"</g>")
    legend = ["solid line: cited from the paper; dashed: derived"]
    if written:
        legend.append("yellow: written in")
    if lowest:
        legend.append("green: lowest after exact reductions (a green frame: both)")
    body.append(f'<text class="legend" x="{_MARGIN}" y="{height - 12:.1f}" font-size="11" '
                f'fill="#444">{escape("; ".join(legend))}</text>')
    head = ['<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'font-family="sans-serif" font-size="13">',
            f"<title>{escape(title)}</title>",
            f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>']
    return "\n".join(head + body + ["</svg>", ""])


def to_png(path: Path, written: str | None = None, lowest: tuple[str, ...] = ()) -> None:
    """The same diagram as a PNG file, through matplotlib."""
    try:
        import matplotlib
    except ImportError:
        raise ObjlangError("writing a .png needs matplotlib, which is not installed",
                           hint="pip install 'objlang[plot]', or write an .svg") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    nodes, lines = layout(written, lowest)
    width, height = _extent(nodes, lines)
    fig, ax = plt.subplots(figsize=(width / 80, height / 80), dpi=100)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    for ln in lines:
        ax.plot([x for x, _ in ln.points], [y for _, y in ln.points], color="#555", lw=1.2,
                ls="-" if ln.cited else "--", zorder=1)
    for nd in nodes:
        ax.add_patch(FancyBboxPatch((nd.x - _W / 2, nd.y - _H / 2), _W, _H,
                                    boxstyle="round,pad=0,rounding_size=8",
                                    fc=_FILL[nd.mark], ec=_STROKE.get(nd.mark, "#333"),
                                    lw=2.5 if nd.mark else 1,
                                    zorder=2))
        ax.text(nd.x, nd.y, " = ".join(nd.members), ha="center", va="center", fontsize=9,
                zorder=3)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def write(out: Path, written: str | None = None, lowest: tuple[str, ...] = ()) -> None:
    """Write the diagram to ``out`` (.svg or .png)."""
    if out.suffix == ".svg":
        out.write_text(to_svg(written, lowest), "utf-8")
    elif out.suffix == ".png":
        to_png(out, written, lowest)
    else:
        raise ObjlangError(f"cannot draw the diagram as '{out.suffix or out.name}'",
                           hint="use a .svg or .png file")
