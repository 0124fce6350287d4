"""Interval enclosures of real expressions: the error bounds of policy evaluation.

``enclose(expr, boxes)`` gives arrays ``(lo, hi)`` with ``lo <= f(x) <= hi`` for
every point ``x`` of a batch of boxes; ``boxes`` maps each free symbol of
``expr`` to its ``(lo, hi)`` arrays (broadcast together). It covers the real
fragment of objlang expressions that functions of returns and of values are
written in (language.md §3): ``+ * ^`` (numeric exponents), ``exp log sqrt abs
min max``, ``[b]``, ``if b then x else y``, and conditions made of comparisons
and ``! & | xor -> <->``. A condition encloses to two boolean arrays, *surely*
and *possibly* true, so ``[G(r) >= 3]`` over a box that straddles 3 is ``[0, 1]``.
Anything else raises :class:`NoEnclosure`. Rounding is not directed: the
enclosures hold up to a few ulps.

>>> import numpy as np, sympy
>>> x = sympy.Symbol("x")
>>> enclose(sympy.Min(x ** 2, 5), {x: (np.array([-1.0, 2.0]), np.array([0.5, 3.0]))})
(array([0., 4.]), array([1., 5.]))
"""
from __future__ import annotations

import functools

import numpy as np
import sympy

from ..ir import sym

__all__ = ["NoEnclosure", "enclose"]


class NoEnclosure(Exception):
    """The expression has a node that :func:`enclose` does not know."""


def enclose(expr, boxes: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` enclosing ``expr`` over ``boxes`` (see the module docstring);
    a bound that cannot be finite (``log`` of a box reaching 0) is infinite."""
    with np.errstate(all="ignore"):
        lo, hi = _real(expr, boxes)
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)


def _real(e, b):
    if e in b:
        return b[e]
    if isinstance(e, (sympy.Number, sympy.NumberSymbol)):
        return float(e), float(e)
    if e is sympy.true or e is sympy.false:
        return (1.0, 1.0) if e is sympy.true else (0.0, 0.0)
    if isinstance(e, sympy.Add):
        parts = [_real(a, b) for a in e.args]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    if isinstance(e, sympy.Mul):
        out = (1.0, 1.0)
        for a in e.args:
            out = _mul(out, _real(a, b))
        return out
    if isinstance(e, sympy.Pow) and e.args[1].is_number:
        return _pow(*_real(e.args[0], b), float(e.args[1]))
    if isinstance(e, (sympy.exp, sympy.log)):  # increasing
        f = np.exp if isinstance(e, sympy.exp) else np.log
        lo, hi = _real(e.args[0], b)
        return f(lo), f(hi)
    if isinstance(e, sympy.Abs):
        lo, hi = map(np.asarray, _real(e.args[0], b))
        straddle = (lo <= 0) & (hi >= 0)
        return (np.where(straddle, 0.0, np.minimum(abs(lo), abs(hi))),
                np.maximum(abs(lo), abs(hi)))
    if isinstance(e, (sympy.Min, sympy.Max)):
        f = np.minimum if isinstance(e, sympy.Min) else np.maximum
        parts = [_real(a, b) for a in e.args]
        lo, hi = parts[0]
        for plo, phi in parts[1:]:
            lo, hi = f(lo, plo), f(hi, phi)
        return lo, hi
    if isinstance(e, sym.Iverson):
        sure, maybe = _cond(e.args[0], b)
        return np.asarray(sure, float), np.asarray(maybe, float)
    if isinstance(e, sym.Ite):
        sure, maybe = _cond(e.args[0], b)
        (xlo, xhi), (ylo, yhi) = _real(e.args[1], b), _real(e.args[2], b)
        # surely the first branch, surely the second, or either
        return (np.where(sure, xlo, np.where(maybe, np.minimum(xlo, ylo), ylo)),
                np.where(sure, xhi, np.where(maybe, np.maximum(xhi, yhi), yhi)))
    raise NoEnclosure(e)


def _mul(x, y):
    products = [x[0] * y[0], x[0] * y[1], x[1] * y[0], x[1] * y[1]]
    return functools.reduce(np.minimum, products), functools.reduce(np.maximum, products)


def _pow(lo, hi, p: float):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    if p != int(p):  # real exponent: x >= 0 (below 0 gives nan, i.e. unbounded)
        a, c = lo ** p, hi ** p
        return np.minimum(a, c), np.maximum(a, c)
    k = int(p)
    if k < 0:  # 1 / x^|k|: unbounded where x^|k| may be 0
        plo, phi = _pow(lo, hi, -k)
        straddle = (plo <= 0) & (phi >= 0)
        return np.where(straddle, -np.inf, 1 / phi), np.where(straddle, np.inf, 1 / plo)
    a, c = lo ** k, hi ** k
    if k % 2:
        return a, c
    straddle = (lo <= 0) & (hi >= 0)
    return np.where(straddle, 0.0, np.minimum(a, c)), np.maximum(a, c)


def _cond(e, b):
    """(surely, possibly) true over the boxes."""
    if e is sympy.true or e is sympy.false:
        return np.bool_(e is sympy.true), np.bool_(e is sympy.true)
    if isinstance(e, sym.Not_):
        sure, maybe = _cond(e.args[0], b)
        return ~maybe, ~sure
    if isinstance(e, (sym.And_, sym.Or_)):
        f = np.logical_and if isinstance(e, sym.And_) else np.logical_or
        parts = [_cond(a, b) for a in e.args]
        return (functools.reduce(f, [p[0] for p in parts]),
                functools.reduce(f, [p[1] for p in parts]))
    if isinstance(e, sym.Implies):
        return _cond(sym.Or_(sym.Not_(e.args[0]), e.args[1]), b)
    if isinstance(e, (sym.Xor, sym.Equiv)):
        (s, m), rest = _cond(e.args[0], b), e.args[1:]
        for a in rest:
            s2, m2 = _cond(a, b)
            same = (s & s2) | (~m & ~m2), (m & m2) | (~s & ~s2)  # surely/possibly equal
            s, m = same if isinstance(e, sym.Equiv) else (~same[1], ~same[0])
        return s, m
    if isinstance(e, (sym.Lt_, sym.Le_, sym.Gt_, sym.Ge_)):
        x, y = (_real(a, b) for a in e.args)
        if isinstance(e, (sym.Gt_, sym.Ge_)):
            x, y = y, x
        strict = isinstance(e, (sym.Lt_, sym.Gt_))
        less = np.less if strict else np.less_equal
        return less(x[1], y[0]), less(x[0], y[1])
    if isinstance(e, (sym.Eq_, sym.Ne_)):
        x, y = (_real(a, b) for a in e.args)
        sure = (x[0] == x[1]) & (y[0] == y[1]) & (x[0] == y[0])
        maybe = (x[0] <= y[1]) & (y[0] <= x[1])
        return (sure, maybe) if isinstance(e, sym.Eq_) else (~maybe, ~sure)
    raise NoEnclosure(e)
