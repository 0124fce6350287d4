"""The sympy node classes of objlang expressions.

Every expression of a spec is a sympy object. Real arithmetic uses sympy's own
``Add``, ``Mul``, ``Pow``, ``Min``, ``Max``, ``Abs``, ``exp``, ``log``; names are
``Symbol``s; literals are ``Integer``, ``Float``, ``Rational``, ``Str`` and
``true``/``false``. Everything else -- logic, temporal operators, comparisons,
trajectory atoms, expectations, orders, macro calls -- is one of the
non-evaluating ``Function`` classes below, so that a formula keeps exactly the
shape it was written in (sympy's boolean classes would rewrite it and refuse
mixed kinds before the type pass has had its say).

>>> from sympy import Symbol
>>> Until(Not_(Symbol("hole")), Symbol("goal"))
Until(Not_(hole), goal)
"""
from __future__ import annotations

import sympy
from sympy.core.symbol import Str

__all__ = ["Str", "OPS", "name", "number", "NO_BOUND", "BUILTIN_FUNCS"]


class Op(sympy.Function):
    """Base of objlang's own expression nodes: no evaluation, no rewriting."""

    #: the text that opens the node in objlang syntax (printer and docs)
    syntax = ""

    @classmethod
    def eval(cls, *args):  # never simplify: keep the written shape
        return None


OPS: dict[str, type] = {}


def _op(cls_name: str, nargs, syntax: str, doc: str) -> type:
    cls = type(cls_name, (Op,), {"nargs": nargs, "syntax": syntax, "__doc__": doc,
                                 "__module__": __name__})
    OPS[cls_name] = cls
    globals()[cls_name] = cls
    __all__.append(cls_name)
    return cls


_VARIADIC = None  # sympy: any number of arguments
for _name, _nargs, _syntax, _doc in [
    # logic
    ("Not_", 1, "!", "boolean negation"),
    ("And_", _VARIADIC, "&", "conjunction, flat as written"),
    ("Or_", _VARIADIC, "|", "disjunction, flat as written"),
    ("Xor", _VARIADIC, "xor", "exclusive or, flat as written"),
    ("Implies", 2, "->", "implication (right-associative)"),
    ("Equiv", 2, "<->", "equivalence (right-associative)"),
    # temporal
    ("Next", 1, "X", "next"),
    ("Finally", 1, "F", "eventually"),
    ("Always", 1, "G", "globally"),
    ("Until", 2, "U", "strong until"),
    ("WeakUntil", 2, "W", "weak until"),
    ("Release", 2, "R", "weak release"),
    ("StrongRelease", 2, "M", "strong release"),
    # comparisons
    ("Eq_", 2, "==", "equality"),
    ("Ne_", 2, "!=", "inequality"),
    ("Lt_", 2, "<", "less than"),
    ("Le_", 2, "<=", "at most"),
    ("Gt_", 2, ">", "greater than"),
    ("Ge_", 2, ">=", "at least"),
    ("In_", 2, "in", "set membership: In_(x, SetLit(...))"),
    # real-valued transition expressions
    ("Iverson", 1, "[", "[b]: 1 where b holds, else 0 (a trajectory indicator for LTL)"),
    ("Ite", 3, "if", "if b then x else y"),
    ("Vec", _VARIADIC, "[", "vector literal [a, b, ...]"),
    ("SetLit", _VARIADIC, "{", "set literal {a, b, ...}"),
    ("Index", 2, "[", "x[i] or x[\"key\"]"),
    ("Slice", 3, "[", "x[lo:hi], omitted bounds are NO_BOUND"),
    ("Attr", 2, ".", "info.key"),
    ("Norm", 1, "norm", "Euclidean norm of a vector"),
    ("Dot", 2, "dot", "dot product of two vectors"),
    # trajectory random variables
    ("Ret", (1, 2), "G", "G(r) or G(r, gamma): discounted return of reward r or machine m"),
    ("Total", 1, "sum", "sum(r): undiscounted total"),
    ("Avg", 1, "avg", "avg(r): limit average"),
    # policy-level values
    ("Expect", 1, "E", "E[X]: expectation of a trajectory random variable"),
    ("Prob", 1, "P", "P[phi]: probability that the trace satisfies phi"),
    ("Variance", 1, "Var", "Var[X]: variance of a trajectory random variable"),
    ("Occ", 1, "occ", "occ(x): discounted occupancy measure of x"),
    ("Entropy", 1, "entropy", "entropy(occ(x)) or entropy(pi)"),
    ("KL", 2, "kl", "kl(pi, prior)"),
    ("PiProb", 2, "pi", "pi(s, a): probability the policy takes a in s"),
    # orders over policies
    ("Lex", _VARIADIC, "lex", "lexicographic order of values"),
    ("Pareto", _VARIADIC, "pareto", "Pareto (partial) order of values"),
    # a macro call, expanded by the macro pass: Call(Str(name), *args)
    ("Call", _VARIADIC, "", "call of a def macro, Call(Str(name), *args)"),
]:
    _op(_name, _nargs, _syntax, _doc)

#: placeholder for an omitted slice bound
NO_BOUND = Str("")

#: builtin real functions: name -> (min args, max args, sympy constructor)
BUILTIN_FUNCS = {
    "abs": (1, 1, sympy.Abs),
    "exp": (1, 1, sympy.exp),
    "log": (1, 1, sympy.log),
    "sqrt": (1, 1, sympy.sqrt),
    "min": (2, None, sympy.Min),
    "max": (2, None, sympy.Max),
    "clip": (3, 3, lambda x, lo, hi: sympy.Min(sympy.Max(x, lo), hi)),
    "norm": (1, 1, OPS["Norm"]),
    "dot": (2, 2, OPS["Dot"]),
    "sum": (1, 1, OPS["Total"]),
    "avg": (1, 1, OPS["Avg"]),
    "occ": (1, 1, OPS["Occ"]),
    "entropy": (1, 1, OPS["Entropy"]),
    "kl": (2, 2, OPS["KL"]),
    "pi": (2, 2, OPS["PiProb"]),
    "lex": (1, None, OPS["Lex"]),
    "pareto": (1, None, OPS["Pareto"]),
}

#: names with a fixed meaning in expressions
BUILTIN_NAMES = ("obs", "info", "action", "next", "env_reward", "pi")


def name(text: str) -> sympy.Symbol:
    """The symbol of an identifier (the one way names enter expressions)."""
    return sympy.Symbol(text)


def number(text: str) -> sympy.Expr:
    """A numeric literal: an Integer, or a Float holding the nearest double.

    Floats are exact binary doubles so that printing with ``repr(float(x))``
    and parsing again gives the identical sympy number.
    """
    if all(c.isdigit() for c in text):
        return sympy.Integer(int(text))
    return sympy.Float(float(text))
