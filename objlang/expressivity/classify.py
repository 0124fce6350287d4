"""The formalism an objective is written in, compositionally (language.md §4).

Every atom gets the formalism of its row of the table: ``E[G(r)]`` MR, ``E[G(m)]``
RM, ``E[avg(r)]`` LAR, ``P[φ]`` LTL, ``Var[X]`` FTLR, ``entropy(occ(x))`` FOMR,
``entropy(pi)`` and ``kl(pi, q)`` RRL, ``pi(s, a)`` FPR. A composite gets the join
(least upper bound in the preorder) of its parts and of the way they are combined:

* an outer function of expected returns is ONMR (one return) or OMORL (several),
  as the table writes it — even an affine one, which the reductions then lower;
* a weighted sum of other values is the join of its parts (a weighted sum of
  expectations of different trajectory terms is an expectation: FTR);
* a nonlinear function of other values is a function of the trajectory
  distribution (FTLR), joined with its parts;
* inside ``E[...]``: a function of one return INMR, of several IMORL, of mixed
  trajectory terms FTR;
* ``lex`` of several values: GOMORL, OMO or TLO (the same class), joined with its
  parts; ``pareto``: a partial order, none of the 17;
* constraints: a constrained objective ranks feasible policies above the others, a
  function of several values (OMORL class), joined with the goal and each
  constrained value; regularisers add an RRL term, joined with the goal.

A join lands on an equivalence class; its key is the first key of a part in that
class (the combination's comes last), else the class's first member. No reduction is
applied here (``2 * E[G(r)] + 1`` is ONMR): see :mod:`objlang.expressivity.reductions`.

>>> import objlang
>>> s = objlang.loads('''prop goal = obs == 15
... ltl reach = F goal
... reward r = 1
... objective o { maximize E[G(r, 0.9)] + P[reach] }''')
>>> c = classify(s.objectives[0], s)
>>> c.key, [p.key for p in c.derivation.parts]
('FTR', ['MR', 'LTL', 'FTR'])
>>> c.derivation.join
(('INMR', 'IMORL', 'FTR'),)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import sympy

from ..ir import nodes as n
from ..ir import sym
from ..syntax.printer import expr as text_of
from .preorder import load

_VALUE_ATOMS = (sym.Expect, sym.Prob, sym.Variance, sym.Entropy, sym.KL, sym.PiProb)
_RETURNS = (sym.Ret, sym.Total)


@dataclass(frozen=True)
class Part:
    """One step of a derivation: a piece of the objective and its formalism.

    ``key`` is a formalism key, "pareto", or "" for a constant (no formalism needed).
    A composite lists its ``parts`` (the last one may be the combination itself,
    role "combination") and ``join``, the minimal upper bounds of their keys.
    """

    text: str
    key: str
    reason: str
    role: str = ""
    parts: tuple["Part", ...] = ()
    join: tuple[tuple[str, ...], ...] = ()

    def to_json(self) -> dict:
        out = {"text": self.text, "key": self.key, "reason": self.reason}
        if self.role:
            out["role"] = self.role
        if self.parts:
            out["parts"] = [p.to_json() for p in self.parts]
            out["join"] = [list(c) for c in self.join]
        return out

    def lines(self, indent: str = "") -> list[str]:
        """The derivation as indented text: this piece, its parts, the join they make."""
        head = f"{self.role}: " if self.role else ""
        out = [f"{indent}{head}{self.text}  ->  {self.key or 'constant'}  ({self.reason})"]
        for p in self.parts:
            out += p.lines(indent + "  ")
        if self.join:
            keys = ", ".join(dict.fromkeys(p.key for p in self.parts if p.key))
            classes = " or ".join(" = ".join(c) for c in self.join)
            out.append(f"{indent}  join of {keys}: {classes}")
        return out


@dataclass(frozen=True)
class Classification:
    """The formalism of one objective, with its derivation."""

    objective: str
    key: str
    reason: str
    derivation: Part
    #: the goal is a constant and nothing else counts: every policy ties
    trivial: bool = False

    def to_json(self) -> dict:
        return {"objective": self.objective, "key": self.key, "reason": self.reason,
                "trivial": self.trivial, "derivation": self.derivation.to_json()}


def _join(text: str, parts: list[Part], reason: str, role: str = "") -> Part:
    """The composite of ``parts`` (the combination last, if any): the join of their
    keys, named by the first of their keys in the join's class, else its first member."""
    parts = [p for p in parts if p.key]
    if not parts:
        return Part(text, "", reason, role)
    if len(parts) == 1 and parts[0].role != "combination":  # nothing to join
        return dataclasses.replace(parts[0], text=text, role=role)
    classes = tuple(load().join([p.key for p in parts]))
    first = classes[0]
    key = next((p.key for p in parts if p.key in first), first[0])
    return Part(text, key, reason, role, tuple(parts), classes)


def _combination(text: str, key: str, reason: str) -> Part:
    return Part(text, key, reason, "combination")


def _outermost(e, is_atom, skip=lambda e: False) -> list:
    """The distinct subexpressions of e for which ``is_atom`` holds, outermost first,
    not looking inside them (nor inside those ``skip`` holds for)."""
    out: list = []

    def walk(x):
        if skip(x):
            return
        if is_atom(x):
            if x not in out:
                out.append(x)
            return
        for a in x.args:
            walk(a)
    walk(e)
    return out


class _Classifier:
    def __init__(self, spec: n.Spec):
        self.machines = {d.name for d in spec.of_type(n.MachineDecl)}

    # ---- trajectory terms, inside E[...] ------------------------------------------------
    def term(self, x) -> Part:
        """A trajectory atom: a return, a total, a limit average or a formula indicator."""
        t = text_of(x)
        if isinstance(x, sym.Ret):
            if isinstance(x.args[0], sympy.Symbol) and x.args[0].name in self.machines:
                return Part(t, "RM", "discounted return of a reward machine")
            return Part(t, "MR", "discounted return of a Markov reward")
        if isinstance(x, sym.Total):
            return Part(t, "MR", "undiscounted total of a Markov reward (episodic)")
        if isinstance(x, sym.Avg):
            return Part(t, "LAR", "limit average of a reward")
        return Part(t, "LTL", "indicator that the trace satisfies a formula")

    def terms(self, x) -> list:
        """The distinct trajectory atoms of x, outermost first; an indicator of a
        comparison of returns ([G(r) >= 5]) is a function of them, not an atom."""
        return _outermost(x, lambda e: isinstance(e, (sym.Ret, sym.Total, sym.Avg))
                          or isinstance(e, sym.Iverson) and not e.has(sym.Ret, sym.Total,
                                                                      sym.Avg),
                          skip=_constant_term)

    def expectation(self, e) -> Part:
        """E[X]: the formalism of the expectation of a trajectory random variable."""
        t, x = text_of(e), e.args[0]
        atoms = self.terms(x)
        if x in atoms:
            p = self.term(x)
            why = {"MR": "expected " + p.reason, "RM": "expected " + p.reason,
                   "LAR": "expected " + p.reason,
                   "LTL": "probability that the trace satisfies a formula"}[p.key]
            return Part(t, p.key, why)
        parts = [self.term(a) for a in atoms]
        if not parts:
            return Part(t, "", "the expectation of a constant")
        if all(isinstance(a, _RETURNS) for a in atoms):
            if len(atoms) == 1:
                why = "expectation of a nonlinear function of one return"
                comb = _combination("E[f(G)]", "INMR", "INMR's form")
            else:
                why = "expectation of a function of several returns"
                comb = _combination("E[f(G1, G2, ...)]", "IMORL", "IMORL's form")
        else:
            why = "expectation of a function of several kinds of trajectory terms"
            comb = _combination("E[f(...)]", "FTR", "a function of trajectories")
        return _join(t, parts + [comb], why)

    # ---- values a policy gets -----------------------------------------------------------
    def atom(self, v) -> Part:
        t = text_of(v)
        if isinstance(v, sym.Expect):
            return self.expectation(v)
        if isinstance(v, sym.Prob):
            return Part(t, "LTL", "probability that the trace satisfies a formula")
        if isinstance(v, sym.Variance):
            return Part(t, "FTLR", "a variance: a function of the trajectory distribution")
        if isinstance(v, sym.Entropy) and isinstance(v.args[0], sym.Occ):
            return Part(t, "FOMR", "a function of the occupancy measure")
        if isinstance(v, (sym.Entropy, sym.KL)):
            return Part(t, "RRL", "discounted expected entropy or KL of the policy's "
                                  "actions, a regularisation term")
        return Part(t, "FPR", "a probability of the policy's actions")

    @staticmethod
    def value_atoms(e) -> list:
        return _outermost(e, lambda x: isinstance(x, _VALUE_ATOMS))

    def value(self, e, role: str = "") -> Part:
        """A real-valued score of a policy (no lex/pareto)."""
        t = text_of(e)
        atoms = self.value_atoms(e)
        if not atoms:
            return Part(t, "", "a constant", role)
        if e in atoms:
            return dataclasses.replace(self.atom(e), text=t, role=role)
        parts = [self.atom(a) for a in atoms]
        if all(isinstance(a, sym.Expect) and isinstance(a.args[0], _RETURNS) for a in atoms):
            if len(atoms) == 1:
                why = "a function of one expected return"
                comb = _combination("f(E[G])", "ONMR", "ONMR's form")
            else:
                why = "a function of several expected returns"
                comb = _combination("f(E[G1], E[G2], ...)", "OMORL", "OMORL's form")
            return _join(t, parts + [comb], why, role)
        if _linear(e, atoms):
            means = [p for a, p in zip(atoms, parts) if isinstance(a, (sym.Expect, sym.Prob))]
            rest = [p for a, p in zip(atoms, parts) if not isinstance(a, (sym.Expect, sym.Prob))]
            if len(means) > 1:
                comb = _combination("E[X1] + E[X2] + ...", "FTR",
                                    "the expectation of a weighted sum of trajectory terms")
                if not rest:
                    return _join(t, means + [comb], "a weighted sum of expectations", role)
                means = [_join(" + ".join(p.text for p in means), means + [comb],
                               "a weighted sum of expectations")]
            return _join(t, means + rest, "a weighted sum of values", role)
        comb = _combination("f(values)", "FTLR",
                            "a function of values of the trajectory distribution is a "
                            "function of that distribution")
        return _join(t, parts + [comb], "a nonlinear function of values", role)

    def goal(self, goal: n.Goal) -> Part:
        e = goal.expr
        t = f"{goal.sense} {text_of(e)}"
        if isinstance(e, sym.Pareto):
            parts = tuple(self.value(a, "component") for a in e.args)
            return Part(t, "pareto", "a Pareto order of values: a partial order, none of "
                                     "the 17", "goal", parts)
        if isinstance(e, sym.Lex):
            parts = [self.value(a, "component") for a in e.args]
            if len(parts) == 1:
                p = parts[0]
                return Part(t, p.key, "lexicographic order of one value: " + p.reason,
                            "goal", p.parts, p.join)
            keys = {p.key for p in parts}
            name = ("GOMORL" if keys <= {"MR", "ONMR", "OMORL"} else
                    "OMO" if keys & {"FOMR", "OMO"} else "TLO")
            comb = _combination("lex(...)", name, "an ordering of values of the trajectory "
                                                  "distribution")
            return _join(t, parts + [comb], "a lexicographic order of several values", "goal")
        return dataclasses.replace(self.value(e), text=t, role="goal")


def _constant_term(e) -> bool:
    """G(c) and avg(c) of a number c, and sum(0), are the same on every trajectory
    (sum(c) is not: episodes differ in length)."""
    return isinstance(e, (sym.Ret, sym.Avg)) and e.args[0].is_number or \
        isinstance(e, sym.Total) and e.args[0] == 0


def _linear(e, atoms) -> bool:
    """e is c0 + Σ c_i atom_i with numbers c_i."""
    xs = [sympy.Dummy() for _ in atoms]
    f = e.xreplace(dict(zip(atoms, xs)))
    return all(f.diff(x).is_number for x in xs)


def classify(obj: n.ObjectiveDecl, spec: n.Spec) -> Classification:
    """The formalism a checked objective is written in, and how it was derived."""
    c = _Classifier(spec)
    goal = c.goal(obj.goal)
    extra = [dataclasses.replace(c.value(_constrained(k.expr), "constraint"),
                                 text=text_of(k.expr)) for k in obj.constraints]
    extra += [c.value(r.expr, "regulariser") for r in obj.regularizers]
    t = f"objective {obj.name}"
    if goal.key == "pareto":
        top = Part(t, "pareto", goal.reason, "", (goal, *extra) if extra else goal.parts)
    elif obj.constraints:
        comb = _combination("subject to", "OMORL",
                            "policies that meet the constraints rank above the others: "
                            "a function of several values")
        top = _join(t, [goal, *extra, comb], "a constrained objective")
    elif obj.regularizers:
        top = _join(t, [goal, *extra], "a regularised objective: the regulariser's term "
                                       "adds to the goal's score")
    else:
        top = dataclasses.replace(goal, text=t, role="")
    if not top.key:
        return Classification(obj.name, "MR", "a constant: every policy ties, which every "
                              "formalism expresses (the zero Markov reward, for one)",
                              top, trivial=True)
    reason = top.reason
    if top.join and top.key != "pareto":
        keys = ", ".join(dict.fromkeys(p.key for p in top.parts if p.key))
        reason += f" (join of {keys})"
    return Classification(obj.name, top.key, reason, top)


def _constrained(cmp):
    """The constrained quantity of ``X <= c``: X, or X - Y when both sides are values."""
    lhs, rhs = cmp.args
    if not _Classifier.value_atoms(rhs):
        return lhs
    return rhs if not _Classifier.value_atoms(lhs) else lhs - rhs
