"""The expressivity preorder of the 17 formalisms, as data and as reasoning.

``formalisms.json`` (next to this module) holds the facts: the formalisms, three
equivalence classes, the covering edges of the Hasse diagram and results of the
form "x cannot express some task that y can" (x ≱ y), each with its source, a
confidence and ``cited`` (stated by the paper's abstract, TL;DR or reviews) or not
(derived here from the definitions). :class:`Preorder` closes them:

* ``geq(a, b)``: a ≥ b by reflexivity and transitivity over edges and classes,
  with the chain of facts that proves it;
* ``not_geq(a, b)``: a ≱ b from a base fact x ≱ y with a ≤ x and y ≤ b (were
  a ≥ b, then x ≥ a ≥ b ≥ y), with that fact and both chains;
* equivalence classes, comparisons, joins (all minimal upper bounds), heights
  and the covering relation that the Hasse diagram draws.

>>> p = load()
>>> p.geq("FTR", "MR").explain()
'FTR ≥ MR: FTR ≡ INMR (cited), INMR ≥ RM (derived), RM ≥ MR (derived)'
>>> [list(c) for c in p.join(["MR", "LTL"])]
[['INMR', 'IMORL', 'FTR']]
>>> p.compare("RM", "LTL")
'incomparable'
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).with_name("formalisms.json")


@dataclass(frozen=True)
class Formalism:
    """One of the 17 formalisms."""

    key: str
    name: str
    definition: str
    source: str
    confidence: str
    cited: bool


@dataclass(frozen=True)
class Fact:
    """One stated fact of the data file.

    ``kind`` is "class" (``keys`` are equivalent), "edge" (``keys[0] ≥ keys[1]``),
    "not_geq" (``keys[0] ≱ keys[1]``) or "incomparable" (neither way).
    """

    kind: str
    keys: tuple[str, ...]
    source: str
    confidence: str
    cited: bool
    note: str = ""
    witness: str = ""

    @property
    def statement(self) -> str:
        """The fact in symbols, e.g. ``RM ≥ MR``."""
        sep = {"class": " ≡ ", "edge": " ≥ ", "not_geq": " ≱ ", "incomparable": " ⋈ "}
        return sep[self.kind].join(self.keys)

    def to_json(self) -> dict:
        out = {"fact": self.statement, "kind": self.kind, "cited": self.cited,
               "source": self.source, "confidence": self.confidence}
        if self.note:
            out["note"] = self.note
        if self.witness:
            out["witness"] = self.witness
        return out


@dataclass(frozen=True)
class Proof:
    """Why ``claim`` holds: the facts used, in the order of the argument.

    ``facts`` is empty for reflexivity (a ≥ a).
    """

    claim: str
    facts: tuple[Fact, ...]
    #: the facts' statements as they are used (a class fact reads "a ≡ b" for the
    #: two members it links)
    steps: tuple[str, ...] = ()

    @property
    def cited(self) -> bool:
        """The claim is itself one cited fact."""
        return len(self.facts) == 1 and self.facts[0].cited

    @property
    def basis(self) -> str:
        """"cited", "derived from cited facts" (closure of cited facts only) or "derived"."""
        if self.cited:
            return "cited"
        if self.facts and all(f.cited for f in self.facts):
            return "derived from cited facts"
        return "derived"

    @property
    def confidence(self) -> str:
        """The weakest confidence among the facts used."""
        order = ["low", "medium", "high"]
        return min((f.confidence for f in self.facts), key=order.index, default="high")

    def explain(self) -> str:
        """One line: the claim and each step, marked cited or derived."""
        if not self.facts:
            return f"{self.claim}: the same formalism"
        if self.steps == (self.claim,):  # the claim is one fact: say where it is from
            f = self.facts[0]
            more = f"; witness: {f.witness}" if f.witness else f"; {f.note}" if f.note else ""
            # a derived fact's source reads "derived ..." already
            return f"{self.claim} ({'cited: ' * f.cited}{f.source}{more})"
        steps = ", ".join(f"{s} ({'cited' if f.cited else 'derived'})"
                          for s, f in zip(self.steps, self.facts))
        return f"{self.claim}: {steps}"

    def to_json(self) -> dict:
        return {"claim": self.claim, "basis": self.basis, "confidence": self.confidence,
                "steps": [dict(f.to_json(), used_as=s)
                          for s, f in zip(self.steps, self.facts)]}


class Preorder:
    """The facts of ``formalisms.json`` and their reflexive-transitive closure."""

    def __init__(self, data: dict):
        self.formalisms = {f["key"]: Formalism(f["key"], f["name"], f["definition"],
                                               f["source"], f["confidence"], f["cited"])
                           for f in data["formalisms"]}
        self.keys = tuple(self.formalisms)

        def fact(kind, keys, d):
            return Fact(kind, tuple(keys), d["source"], d["confidence"], d["cited"],
                        d.get("note", ""), d.get("witness", ""))

        self.class_facts = [fact("class", c["members"], c) for c in data["classes"]]
        self.edges = [fact("edge", (e["stronger"], e["weaker"]), e) for e in data["edges"]]
        self.not_geq_facts = [fact("not_geq", (x["x"], x["y"]), x) for x in data["not_geq"]]
        self.incomparable_facts = [fact("incomparable", x["pair"], x)
                                   for x in data["incomparable"]]
        named = [k for f in self.class_facts + self.edges + self.not_geq_facts
                 + self.incomparable_facts for k in f.keys]
        unknown = sorted(set(named) - set(self.keys))
        if unknown:
            raise ValueError(f"{DATA.name}: facts name unknown formalisms {unknown}")
        # one arc per usable step of a geq-chain: a ≥ b by this fact
        self._arcs: dict[str, list[tuple[str, Fact]]] = {k: [] for k in self.keys}
        for e in self.edges:
            self._arcs[e.keys[0]].append((e.keys[1], e))
        for c in self.class_facts:
            for a in c.keys:
                self._arcs[a] += [(b, c) for b in c.keys if b != a]
        # breadth-first trees from every key: the shortest chain of facts a ≥ ... ≥ b
        self._tree = {a: self._search(a) for a in self.keys}
        self._check()

    def _search(self, a: str) -> dict[str, tuple[str, Fact] | None]:
        parent: dict[str, tuple[str, Fact] | None] = {a: None}
        todo = deque([a])
        while todo:
            x = todo.popleft()
            for y, f in self._arcs[x]:
                if y not in parent:
                    parent[y] = (x, f)
                    todo.append(y)
        return parent

    def _check(self) -> None:
        """The facts contradict nothing, and every stated incomparability follows."""
        for a in self.keys:
            for b in self.keys:
                if self.geq(a, b) and self.not_geq(a, b):
                    raise ValueError(f"{DATA.name}: {a} ≥ {b} and {a} ≱ {b} both follow")
        for f in self.incomparable_facts:
            a, b = f.keys
            if not (self.not_geq(a, b) and self.not_geq(b, a)):
                raise ValueError(f"{DATA.name}: {a} ⋈ {b} is stated but does not follow "
                                 f"from the ≱ facts")

    # ---- comparisons ------------------------------------------------------------------
    def _key(self, k: str) -> str:
        if k not in self.formalisms:
            raise KeyError(f"unknown formalism '{k}' (one of {', '.join(self.keys)})")
        return k

    def geq(self, a: str, b: str) -> Proof | None:
        """A proof that a ≥ b (a expresses every task b does), or None if none follows."""
        tree = self._tree[self._key(a)]
        if self._key(b) not in tree:
            return None
        facts, steps, y = [], [], b
        while tree[y] is not None:
            x, f = tree[y]
            facts.append(f)
            steps.append(f"{x} ≡ {y}" if f.kind == "class" else f.statement)
            y = x
        return Proof(f"{a} ≥ {b}", tuple(reversed(facts)), tuple(reversed(steps)))

    def not_geq(self, a: str, b: str) -> Proof | None:
        """A proof that a ≱ b (some task of b is beyond a), or None if none follows.

        From a base fact x ≱ y with x ≥ a and b ≥ y: were a ≥ b, then x ≥ y. The
        proof lists that fact first, then both chains; it uses as few derived facts
        as it can, then as few facts.
        """
        best = None
        for f in self.not_geq_facts:
            x, y = f.keys
            up, down = self.geq(x, a), self.geq(b, y)
            if up is None or down is None:
                continue
            used = up.facts + (f,) + down.facts
            rank = (sum(not u.cited for u in used), len(used))
            if best is None or rank < best[0]:
                best = (rank, up, f, down)
        if best is None:
            return None
        _, up, f, down = best
        return Proof(f"{a} ≱ {b}", (f,) + up.facts + down.facts,
                     (f.statement,) + up.steps + down.steps)

    def equivalent(self, a: str, b: str) -> bool:
        return self.geq(a, b) is not None and self.geq(b, a) is not None

    def compare(self, a: str, b: str) -> str:
        """"equivalent", "above" (a > b), "below", "incomparable" or "open"."""
        up, down = self.geq(a, b), self.geq(b, a)
        if up and down:
            return "equivalent"
        if up:
            return "above"
        if down:
            return "below"
        if self.not_geq(a, b) and self.not_geq(b, a):
            return "incomparable"
        return "open"

    # ---- classes, joins, the diagram --------------------------------------------------
    @property
    def classes(self) -> list[tuple[str, ...]]:
        """Every equivalence class (singletons included), members in data order."""
        out, seen = [], set()
        for k in self.keys:
            if k not in seen:
                c = tuple(x for x in self.keys if self.equivalent(k, x))
                seen.update(c)
                out.append(c)
        return out

    def class_of(self, key: str) -> tuple[str, ...]:
        """The equivalence class of ``key``; its first member names it."""
        return next(c for c in self.classes if key in c)

    def _strictly_above(self, a: str, b: str) -> bool:
        return self.geq(a, b) is not None and self.geq(b, a) is None

    def join(self, keys) -> list[tuple[str, ...]]:
        """The minimal upper bounds of ``keys``, as classes: one class when the least
        upper bound exists, several when it does not. The join of nothing is the list
        of minimal classes."""
        keys = [self._key(k) for k in keys]
        upper = [c for c in self.classes if all(self.geq(c[0], k) for k in keys)]
        return [c for c in upper if not any(self._strictly_above(c[0], d[0]) for d in upper)]

    def minimal(self) -> list[str]:
        """Keys with nothing strictly below them."""
        return [k for k in self.keys if not any(self._strictly_above(k, x) for x in self.keys)]

    def covers(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """(upper class, lower class) pairs of the covering relation: upper > lower with
        no class strictly between. These are the lines of the Hasse diagram."""
        cs = self.classes
        return [(u, w) for u in cs for w in cs if self._strictly_above(u[0], w[0])
                and not any(self._strictly_above(u[0], m[0]) and
                            self._strictly_above(m[0], w[0]) for m in cs)]

    def height(self, key: str) -> int:
        """Length of the longest chain of covers from a minimal class up to ``key``."""
        below = [w for u, w in self.covers() if key in u]
        return 1 + max(self.height(w[0]) for w in below) if below else 0

    def edge_fact(self, upper: str, lower: str) -> Fact | None:
        """The data file's edge between two classes, if it states one."""
        cu, cl = self.class_of(upper), self.class_of(lower)
        return next((e for e in self.edges if e.keys[0] in cu and e.keys[1] in cl), None)


@lru_cache(maxsize=1)
def load() -> Preorder:
    """The preorder of the shipped data file."""
    return Preorder(json.loads(DATA.read_text("utf-8")))
