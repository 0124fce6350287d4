"""The expressivity report of one objective: ``objlang express`` and ``objlang.express``.

It puts together the formalism the objective is written in (with its derivation,
:mod:`.classify`), the exact reductions (:mod:`.reductions`) and the lowest
formalisms they reach, and, for each of the 17 formalisms, whether it can express
the task:

* ``yes``, by the preorder: it is ≥ the written-in formalism;
* ``yes``, by a reduction: it is ≥ a lowest formalism that the reductions reached;
* ``no``: it is ≱ every lowest formalism, by a cited or derived result of the
  preorder (:mod:`.preorder`). This is a result about formalisms: the task's form
  is one that this formalism cannot express in general and no exact rewrite brings
  it lower. Whether it fails on one given finite env is what ``--as KEY`` decides
  (:mod:`.semantic`);
* ``open``: neither follows from the facts.

A Pareto order is a partial order: none of the 17, which all order policies totally,
expresses it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import nodes as n
from .classify import Classification, classify
from .preorder import load


@dataclass(frozen=True)
class Verdict:
    """Whether one formalism can express the task, and why."""

    key: str
    verdict: str  # "yes", "no" or "open"
    by: str  # "preorder", "reduction", "cited", "derived from cited facts", "derived", ...
    reason: str
    proof: dict | None = None

    def to_json(self) -> dict:
        out = {"key": self.key, "name": load().formalisms[self.key].name,
               "verdict": self.verdict, "by": self.by, "reason": self.reason}
        if self.proof is not None:
            out["proof"] = self.proof
        return out


@dataclass
class Report:
    """Everything ``objlang express`` prints; :meth:`to_json` is its ``--json``."""

    file: str | None
    classification: Classification
    reductions: list = field(default_factory=list)
    lowest: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    semantic: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def written_in(self) -> str:
        return self.classification.key

    @property
    def equivalence_class(self) -> list[str]:
        key = self.written_in
        return [] if key == "pareto" else list(load().class_of(key))

    def to_json(self) -> dict:
        out = {
            "file": self.file, "objective": self.classification.objective,
            "written_in": self.written_in, "written_in_reason": self.classification.reason,
            "equivalence_class": self.equivalence_class,
            "derivation": self.classification.derivation.to_json(),
            "reductions": [r.to_json() for r in self.reductions],
            "lowest": self.lowest,
            "expressible_by": [v.to_json() for v in self.verdicts if v.verdict == "yes"],
            "not_expressible_by": [v.to_json() for v in self.verdicts if v.verdict == "no"],
            "open": [v.to_json() for v in self.verdicts if v.verdict == "open"],
            "formalisms": [v.to_json() for v in self.verdicts],
            "notes": self.notes,
        }
        if self.semantic is not None:
            out["semantic"] = self.semantic
        return out

    def summary(self) -> list[str]:
        """A few lines: where it is written, the reductions, who can express it."""
        c = self.classification
        cls = f" (class {' = '.join(self.equivalence_class)})" \
            if len(self.equivalence_class) > 1 else ""
        steps = ", ".join(f"{r.rule} ({r.before} -> {r.after})" for r in self.reductions)
        return [f"written in {self.written_in}{cls}: {c.reason}",
                f"reductions: {steps or 'none apply'}; lowest {', '.join(self.lowest)}",
                "can express it: " + (", ".join(v.key for v in self.verdicts
                                                if v.verdict == "yes") or "none"),
                "cannot: " + (", ".join(v.key for v in self.verdicts if v.verdict == "no")
                              or "none")]

    def text(self) -> str:
        """The readable report."""
        p, c = load(), self.classification
        key = self.written_in
        name = "a partial order, none of the 17" if key == "pareto" else p.formalisms[key].name
        lines = [f"{c.objective}: written in {key} ({name})"]
        if len(self.equivalence_class) > 1:
            lines.append(f"  equivalence class: {' = '.join(self.equivalence_class)}")
        lines.append("  derivation:")
        lines += c.derivation.lines("    ")
        if self.reductions:
            lines.append("  reductions:")
            lines += [f"    {r.rule} ({r.before} -> {r.after}): {r.reason}"
                      for r in self.reductions]
        else:
            lines.append("  reductions: none apply")
        lines.append(f"  lowest: {', '.join(self.lowest)}")
        yes = sum(v.verdict == "yes" for v in self.verdicts)
        lines.append(f"  which of the 17 formalisms can express it ({yes} can):")
        width = max(len(k) for k in p.keys)
        for v in self.verdicts:
            lines.append(f"    {v.key:<{width}}  {v.verdict:<4}  {v.by}: {v.reason}")
        if self.semantic is not None:
            lines += _semantic_lines(self.semantic)
        lines += [f"  note: {x}" for x in self.notes]
        return "\n".join(lines)


def _semantic_lines(s: dict) -> list[str]:
    out = [f"  on this env, as {s['as']}: {s['verdict']} "
           f"({s.get('policies_checked', '?')} policies checked)"]
    cert = s.get("certificate") or {}
    if cert.get("explanation"):
        out.append(f"    {cert['explanation']}")
    wit = s.get("witness") or {}
    if wit.get("spec"):
        out.append("    witness:")
        out += ["      " + x for x in wit["spec"].splitlines()]
    out += [f"    {x}" for x in s.get("notes", [])]
    return out


def verdicts(written: str, lowest: list[str], reduced: bool) -> list[Verdict]:
    """For each of the 17, can it express a task written in ``written`` that the
    reductions (``reduced``: some applied) bring down to ``lowest``?"""
    p = load()
    if written == "pareto":
        return [Verdict(k, "no", "definition", "a Pareto order leaves some policies "
                        "incomparable, and every formalism orders policies totally")
                for k in p.keys]
    out = []
    for k in p.keys:
        # unreduced, lowest is [written] (or the least formalisms, for a constant)
        up = next((pr for pr in (p.geq(k, w) for w in ([written] if reduced else lowest))
                   if pr), None)
        if up is not None:
            out.append(Verdict(k, "yes", "preorder", up.explain(), up.to_json()))
            continue
        down = next((pr for pr in (p.geq(k, w) for w in lowest) if pr), None)
        if down is not None:
            out.append(Verdict(k, "yes", "reduction", "the reductions reach "
                               f"{', '.join(lowest)}; {down.explain()}", down.to_json()))
            continue
        nots = [p.not_geq(k, w) for w in lowest]
        if all(nots):
            best = min(nots, key=lambda pr: (pr.basis != "cited", len(pr.facts)))
            why = "; ".join(pr.explain() for pr in nots)
            out.append(Verdict(k, "no", best.basis if len(nots) == 1 else "derived", why,
                               best.to_json()))
        else:
            out.append(Verdict(k, "open", "open", "neither ≥ nor ≱ follows from the facts "
                               f"for {', '.join(lowest)}"))
    return out


def express(spec: n.Spec, objective: str | None = None, as_key: str | None = None) -> Report:
    """The expressivity report of an objective of a checked spec; with ``as_key``
    (MR, LAR or RM) also the semantic check on the spec's finite env."""
    from ..finite.solve import pick_objective
    from .reductions import reduce

    obj = pick_objective(spec, objective)
    c = classify(obj, spec)
    notes = []
    if c.key == "pareto":
        steps, lowest = [], ["pareto"]
    else:
        red = reduce(spec, obj.name)
        steps = red.steps
        low = classify(next(o for o in red.spec.objectives if o.name == red.objective),
                       red.spec)
        lowest = load().minimal() if low.trivial else [low.key]
        if low.trivial:
            notes.append("the task ties every policy, so every formalism expresses it")
    report = Report(spec.file, c, steps, lowest, verdicts(c.key, lowest, bool(steps)),
                    notes=notes)
    if as_key is not None:
        from .semantic import check

        report.semantic = check(spec, obj.name, as_key)
    return report
