"""The formalism an objective is written in, as far as its syntax shows.

This follows the table of language.md §4 row by row, from the goal's shape:
which atoms it uses (E, P, Var, entropy(occ), pi(s, a)), what sits inside each
expectation, and whether an outer function or order combines them. It applies
no reduction: ``2 * E[G(r)] + 1`` is written in ONMR even though it reduces to
MR. Constraints and regularisers are reported beside the goal's formalism.

>>> import objlang
>>> s = objlang.loads("reward r = 1\\nobjective o { maximize E[G(r)] }")
>>> written_in(s.objectives[0], s)[0]
'MR'
"""
from __future__ import annotations

import sympy

from ..ir import nodes as n
from ..ir import sym


def _kinds(spec: n.Spec) -> dict[str, str]:
    return {d.name: "machine" for d in spec.of_type(n.MachineDecl)}


def _inner(x, machines) -> tuple[str, str]:
    """The formalism of E[x] for a trajectory variable x."""
    rets = list(x.atoms(sym.Ret))
    avgs = list(x.atoms(sym.Avg))
    totals = list(x.atoms(sym.Total))
    # indicators of formulas, not comparisons of returns such as [G(r) >= 5]
    ivs = [i for i in x.atoms(sym.Iverson) if not i.has(sym.Ret, sym.Total, sym.Avg)]
    if isinstance(x, sym.Ret):
        if isinstance(x.args[0], sympy.Symbol) and x.args[0].name in machines:
            return "RM", "expected return of a reward machine"
        return "MR", "expected discounted return of a Markov reward"
    if isinstance(x, sym.Total):
        return "MR", "expected total of a Markov reward (episodic, undiscounted)"
    if isinstance(x, sym.Avg):
        return "LAR", "expected limit average of a reward"
    if isinstance(x, sym.Iverson) and ivs:
        return "LTL", "probability that the trace satisfies a formula"
    if ivs or avgs:
        return "FTR", "expectation of a function of several kinds of trajectory terms"
    if len(set(rets + totals)) == 1:
        return "INMR", "expectation of a nonlinear function of one return"
    return "IMORL", "expectation of a function of several returns"


def _value_atoms(e):
    return [a for a in sympy.preorder_traversal(e)
            if isinstance(a, (sym.Expect, sym.Prob, sym.Variance, sym.Entropy, sym.KL,
                              sym.PiProb))]


def _single(e, machines) -> tuple[str, str]:
    """The formalism of a real-valued goal (no lex/pareto)."""
    atoms = _value_atoms(e)
    if any(isinstance(a, sym.PiProb) for a in atoms):
        return "FPR", "a function of the policy's action probabilities"
    if any(isinstance(a, sym.Entropy) and isinstance(a.args[0], sym.Occ) for a in atoms):
        return "FOMR", "a function of the occupancy measure"
    if any(isinstance(a, sym.Variance) for a in atoms):
        return "FTLR", "a function of the trajectory distribution (it uses a variance)"
    if isinstance(e, sym.Prob):
        return "LTL", "probability that the trace satisfies a formula"
    if isinstance(e, sym.Expect):
        return _inner(e.args[0], machines)
    if len(atoms) == 1 and isinstance(atoms[0], sym.Expect) and isinstance(
            atoms[0].args[0], sym.Ret):
        return "ONMR", "a function of one expected return"
    if all(isinstance(a, sym.Expect) and isinstance(a.args[0], (sym.Ret, sym.Total))
           for a in atoms) and atoms:
        return "OMORL", "a function of several expected returns"
    return "FTLR", "a function of several values of the trajectory distribution"


def written_in(obj: n.ObjectiveDecl, spec: n.Spec) -> tuple[str, str]:
    """(formalism key, reason) for a checked objective; key "pareto" for a
    Pareto order, which is none of the 17 formalisms."""
    machines = _kinds(spec)
    goal = obj.goal.expr
    if isinstance(goal, sym.Pareto):
        key, why = "pareto", "a Pareto (partial) order of values, none of the 17 formalisms"
    elif isinstance(goal, sym.Lex):
        parts = [_single(a, machines)[0] for a in goal.args]
        if len(goal.args) == 1:
            key, why = parts[0], "lexicographic order of one value"
        elif "FPR" in parts or "PO" in parts:
            key, why = "PO", "lexicographic order of functions of the policy"
        elif "FOMR" in parts:
            key, why = "OMO", "lexicographic order involving the occupancy measure"
        elif all(p == "MR" for p in parts):
            key, why = "GOMORL", "lexicographic order of expected returns"
        else:
            key, why = "TLO", "lexicographic order of values of the trajectory distribution"
    else:
        key, why = _single(goal, machines)
    if obj.regularizers and key == "MR":
        key, why = "RRL", "expected return with a policy regulariser"
    notes = []
    if obj.constraints:
        notes.append(f"{len(obj.constraints)} constraint{'s' * (len(obj.constraints) > 1)}")
    if obj.regularizers and key != "RRL":
        notes.append("a regulariser")
    if notes:
        why += " (subject to " + " and ".join(notes) + ")"
    return key, why
