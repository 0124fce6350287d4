"""Build the IR from Lark's parse tree.

The builder only constructs: real arithmetic becomes sympy arithmetic here,
every other operator one of the node classes of :mod:`objlang.ir.sym`, and
each declaration one of :mod:`objlang.ir.nodes`. Names stay names; what they
mean, and whether the pieces fit together, is the passes' business. The one
failure possible here is arithmetic that sympy itself refuses (a string or a
boolean constant in a sum), reported at the operator.
"""
from __future__ import annotations

import math

import sympy
from lark import Token, Transformer, v_args
from sympy.core.sympify import SympifyError

from ..errors import Loc, ObjlangError
from ..ir import nodes as n
from ..ir import sym
from ..ir.sym import NO_BOUND, Str

_BINARY = {
    "->": sym.Implies, "=>": sym.Implies, "<->": sym.Equiv, "<=>": sym.Equiv,
    "U": sym.Until, "W": sym.WeakUntil, "R": sym.Release, "M": sym.StrongRelease,
    "==": sym.Eq_, "!=": sym.Ne_, "<": sym.Lt_, "<=": sym.Le_, ">": sym.Gt_, ">=": sym.Ge_,
}
_TEMPORAL = {"X": sym.Next, "F": sym.Finally, "G": sym.Always}
_BRACKETS = {"E[": sym.Expect, "P[": sym.Prob, "Var[": sym.Variance}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}

#: largest exact constant, in bits (numerator or denominator); larger ones are
#: refused rather than computed (``9 ^ 9 ^ 9`` would never finish)
MAX_BITS = 4096

#: what sympy may build from objlang arithmetic and still have an objlang
#: spelling; anything else (``I`` from ``sqrt(-1)``, ``re(x)`` from
#: ``abs(exp(x))``) is refused where it appears
_SPELLABLE = (sympy.Symbol, Str, sympy.Number, sympy.Add, sympy.Mul, sympy.Pow,
              sympy.Min, sympy.Max, sympy.Abs, sympy.exp, sympy.log, sym.Op,
              sympy.logic.boolalg.BooleanAtom)


def _number_problem(x) -> str | None:
    """Why the sympy number x cannot be a constant of a spec, or None."""
    if x in (sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
        return None
    if isinstance(x, sympy.Rational):
        if max(abs(x.p).bit_length(), x.q.bit_length()) > MAX_BITS:
            return "is too large"
    elif isinstance(x, sympy.Float):
        f = float(x)
        if not math.isfinite(f) or sympy.Float(f) != x:
            return "is out of the range of a 64-bit float"
    return None


def _new_parts(result, operands):
    """The sub-expressions of result that are not already parts of an operand."""
    known = set()
    for a in operands:
        if isinstance(a, sympy.Basic):
            known.add(a)
            known.update(a.args)
    stack = [result]
    while stack:
        e = stack.pop()
        if e in known:
            continue
        yield e
        stack.extend(e.args)


def _power_bits(base, ex) -> float:
    """Rough size in bits of the constants sympy would compute for base ^ ex."""
    if not isinstance(ex, sympy.Rational):
        return 0.0
    bits = [max(abs(a.p).bit_length(), a.q.bit_length())
            for a in base.atoms(sympy.Rational) if abs(a) != 1 and a != 0]
    return float(abs(ex)) * max(bits, default=0)


def unescape(text: str) -> str:
    """The value of a STRING token (quotes stripped, escapes resolved)."""
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


@v_args(meta=True)
class Builder(Transformer):
    """Lark transformer from parse tree to :class:`objlang.ir.Spec` parts."""

    def __init__(self, file: str | None, source: str):
        super().__init__(visit_tokens=False)
        self.file = file
        self.source = source
        self._spans: list[tuple[sympy.Basic, Loc]] = []

    # ---- helpers -------------------------------------------------------
    def loc(self, meta) -> Loc | None:
        if getattr(meta, "empty", True):
            return None
        return Loc(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def tok_loc(self, tok: Token) -> Loc:
        return Loc(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def mark(self, node, loc):
        """Remember where a sub-expression was written (first occurrence wins)."""
        if loc is not None and isinstance(node, sympy.Basic):
            self._spans.append((node, loc))
        return node

    def take_spans(self) -> tuple:
        spans, self._spans = tuple(self._spans), []
        return spans

    def arith(self, op_tok, fn, *args, loc=None):
        where = self.tok_loc(op_tok) if isinstance(op_tok, Token) else loc
        try:
            result = fn(*args)
        except (TypeError, SympifyError, AttributeError) as exc:
            raise ObjlangError(
                f"'{op_tok}' needs numbers or real expressions on both sides",
                where,
                hint="strings and true/false cannot take part in arithmetic; "
                     "use [b] to turn a boolean into 0/1",
                source=self.source) from exc
        for part in _new_parts(result, args):
            if isinstance(part, sympy.Number):
                problem = _number_problem(part)
                if problem:
                    raise ObjlangError(f"the constant computed by '{op_tok}' {problem}",
                                       where, hint="numbers must fit a 64-bit float; "
                                       f"exact constants at most {MAX_BITS} bits",
                                       source=self.source)
            elif not isinstance(part, _SPELLABLE) and part not in (sympy.E, sympy.zoo):
                what = "a complex number" if part.has(sympy.I) else f"'{part}'"
                raise ObjlangError(f"'{op_tok}' gives {what}, which is not a real expression",
                                   where, hint="objlang expressions are real-valued",
                                   source=self.source)
        return result

    def num(self, tok: Token):
        """The number of an INT or NUMBER token."""
        text = str(tok)
        try:
            value = sym.number(text)
        except ValueError:  # more digits than Python converts
            value = None
        if value is None or _number_problem(value):
            raise ObjlangError(f"the number {text[:20]}{'...' if len(text) > 20 else ''} "
                               "is too large", self.tok_loc(tok),
                               hint=f"integers are limited to {MAX_BITS} bits",
                               source=self.source)
        return value

    # ---- atoms ---------------------------------------------------------
    def integer(self, meta, c):
        return self.mark(self.num(c[0]), self.loc(meta))

    def number(self, meta, c):
        return self.mark(self.num(c[0]), self.loc(meta))

    def string(self, meta, c):
        return self.mark(Str(unescape(str(c[0]))), self.loc(meta))

    def true(self, meta, c):
        return sympy.true

    def false(self, meta, c):
        return sympy.false

    def name(self, meta, c):
        return self.mark(sym.name(str(c[0])), self.loc(meta))

    def call(self, meta, c):
        fname, args = str(c[0]), [a for a in c[1:] if a is not None]
        builtin = sym.BUILTIN_FUNCS.get(fname)
        node = None
        if builtin is not None:
            lo, hi, ctor = builtin
            if lo <= len(args) and (hi is None or len(args) <= hi):
                node = self.arith(c[0], ctor, *args, loc=self.loc(meta))
        if node is None:  # a macro, or a builtin with the wrong arity: the passes tell
            node = sym.Call(Str(fname), *args)
        return self.mark(node, self.loc(meta))

    def ret(self, meta, c):
        return self.mark(sym.Ret(*c[1:]), self.loc(meta))

    def iverson(self, meta, c):
        return self.mark(sym.Iverson(c[0]), self.loc(meta))

    def vector(self, meta, c):
        return self.mark(sym.Vec(*c), self.loc(meta))

    def set(self, meta, c):
        return self.mark(sym.SetLit(*[x for x in c if x is not None]), self.loc(meta))

    def bracket(self, meta, c):
        return self.mark(_BRACKETS[str(c[0])](c[1]), self.loc(meta))

    # ---- operators -----------------------------------------------------
    def index(self, meta, c):
        return self.mark(sym.Index(c[0], c[1]), self.loc(meta))

    def slice(self, meta, c):
        lo = NO_BOUND if c[1] is None else c[1]
        hi = NO_BOUND if c[2] is None else c[2]
        return self.mark(sym.Slice(c[0], lo, hi), self.loc(meta))

    def attr(self, meta, c):
        return self.mark(sym.Attr(c[0], Str(str(c[1]))), self.loc(meta))

    def power(self, meta, c):
        if _power_bits(c[0], c[1]) > MAX_BITS:
            raise ObjlangError("the constant computed by '^' is too large", self.loc(meta),
                               hint=f"exact constants are limited to {MAX_BITS} bits",
                               source=self.source)
        return self.mark(self.arith("^", lambda a, b: a ** b, c[0], c[1], loc=self.loc(meta)),
                         self.loc(meta))

    def negate(self, meta, c):
        return self.mark(self.arith("-", lambda a: -a, c[0], loc=self.loc(meta)),
                         self.loc(meta))

    def _fold(self, meta, c, ops, flat=None):
        """Fold a chain left to right. A long chain of real expressions is built
        with one n-ary sympy call (``flat``): adding terms one by one costs
        O(n^2), minutes for a 10000-term sum, and gives the same expression."""
        operands = c[0::2]
        if flat is not None and len(operands) > 2 and all(
                isinstance(x, sympy.Expr) for x in operands):
            first, terms = c[1], [c[0]]
            for op, rhs in zip(c[1::2], c[2::2]):
                terms.append(flat[1](op, rhs))
            return self.mark(self.arith(first, flat[0], *terms, loc=self.loc(meta)),
                             self.loc(meta))
        acc = c[0]
        for op, rhs in zip(c[1::2], c[2::2]):
            acc = self.arith(op, ops[str(op)], acc, rhs)
        return self.mark(acc, self.loc(meta))

    def sum(self, meta, c):
        flat = (sympy.Add,
                lambda op, x: x if str(op) == "+" else self.arith(op, lambda y: -y, x))
        return self._fold(meta, c, {"+": lambda a, b: a + b, "-": lambda a, b: a - b},
                          flat)

    def product(self, meta, c):
        flat = None
        # float division rounds differently from multiplying by an inverse, and
        # sympy distributes a number over a sum only in a two-factor product
        # (2 * (x + 1) * y is y * (2 * x + 2) step by step): fold those step by step
        if all(str(op) == "*" for op in c[1::2]) and not any(
                isinstance(x, sympy.Add) for x in c[0::2]):
            flat = (sympy.Mul, lambda op, x: x)
        return self._fold(meta, c, {"*": lambda a, b: a * b, "/": lambda a, b: a / b}, flat)

    def binary(self, meta, c):
        return self.mark(_BINARY[str(c[1])](c[0], c[2]), self.loc(meta))

    def member(self, meta, c):
        return self.mark(sym.In_(c[0], c[1]), self.loc(meta))

    def not_(self, meta, c):
        return self.mark(sym.Not_(c[0]), self.loc(meta))

    def temporal(self, meta, c):
        return self.mark(_TEMPORAL[str(c[0])](c[1]), self.loc(meta))

    def and_(self, meta, c):
        return self.mark(sym.And_(*c), self.loc(meta))

    def or_(self, meta, c):
        return self.mark(sym.Or_(*c), self.loc(meta))

    def xor_(self, meta, c):
        return self.mark(sym.Xor(*c), self.loc(meta))

    def ite(self, meta, c):
        return self.mark(sym.Ite(*c), self.loc(meta))

    # ---- declarations --------------------------------------------------
    def start(self, meta, c):
        return n.Spec(tuple(c), file=self.file, source=self.source)

    def kwargs(self, meta, c):
        return tuple(x for x in c if x is not None)

    def kwarg(self, meta, c):
        return (str(c[0]), c[1])

    def env_gym(self, meta, c):
        kwargs = c[1] if len(c) > 1 else ()
        return n.EnvDecl(unescape(str(c[0])), kwargs, False, self.loc(meta), self.take_spans())

    def env_mdp(self, meta, c):
        return n.EnvDecl(str(c[0]), (), True, self.loc(meta), self.take_spans())

    def discount_decl(self, meta, c):
        return n.DiscountDecl(c[0], self.loc(meta), self.take_spans())

    def prop(self, meta, c):
        return n.PropDecl(str(c[0]), c[1], self.loc(meta), self.take_spans())

    def prop_external(self, meta, c):
        return n.PropDecl(str(c[0]), None, self.loc(meta), self.take_spans())

    def reward_decl(self, meta, c):
        return n.RewardDecl(str(c[1]), c[2], str(c[0]) == "cost", self.loc(meta),
                            self.take_spans())

    def ltl_decl(self, meta, c):
        return n.LtlDecl(str(c[1]), c[2], str(c[0]) == "ltlf", self.loc(meta),
                         self.take_spans())

    def name_list(self, meta, c):
        return tuple(str(x) for x in c)

    def m_start(self, meta, c):
        return ("start", str(c[0]), self.loc(meta))

    def m_final(self, meta, c):
        return ("final", c[0], self.loc(meta))

    def m_edge(self, meta, c):
        reward = c[4] if len(c) > 4 else None
        return ("edge", n.MachineEdge(c[0], str(c[1]), c[2], reward, self.loc(meta)), None)

    def machine_decl(self, meta, c):
        items = c[1:]
        starts = [x for x in items if x[0] == "start"]
        finals = [x for x in items if x[0] == "final"]
        return n.MachineDecl(
            str(c[0]), tuple(x[1] for x in starts),
            tuple(x[1] for x in items if x[0] == "edge"),
            tuple(s for f in finals for s in f[1]),
            self.loc(meta), self.take_spans(),
            starts[0][2] if starts else None,
            finals[0][2] if finals else None)

    def params(self, meta, c):
        return tuple(str(x) for x in c if x is not None)

    def def_decl(self, meta, c):
        params, body = (c[1], c[2]) if len(c) == 3 else ((), c[1])
        return n.DefDecl(str(c[0]), params, body, self.loc(meta), self.take_spans())

    def module(self, meta, c):
        tok = c[0]
        return (unescape(str(tok)), True) if tok.type == "STRING" else (str(tok), False)

    def import_decl(self, meta, c):
        (mod, is_path), = c
        return n.ImportDecl(mod, None, is_path, self.loc(meta))

    def from_import(self, meta, c):
        mod, is_path = c[0]
        return n.ImportDecl(mod, tuple(str(x) for x in c[1:]), is_path, self.loc(meta))

    def key(self, meta, c):
        tok = c[0]
        return self.num(tok) if tok.type == "INT" else sym.name(str(tok))

    def prob(self, meta, c):
        nums = [self.num(t) for t in c]
        if len(nums) == 1:
            return nums[0]
        return self.arith("/", lambda a, b: a / b, *nums, loc=self.loc(meta))

    def choice(self, meta, c):
        return (c[0], c[1] if len(c) > 1 else None)

    def policy_row(self, meta, c):
        return n.PolicyRow(c[0], tuple(c[1:]), self.loc(meta))

    def policy_uniform(self, meta, c):
        self.take_spans()
        return n.PolicyDecl(str(c[0]), None, self.loc(meta))

    def policy_table(self, meta, c):
        self.take_spans()
        return n.PolicyDecl(str(c[0]), tuple(c[1:]), self.loc(meta))

    def options_decl(self, meta, c):
        return n.OptionsDecl(c[0], self.loc(meta), self.take_spans())

    def outcome(self, meta, c):
        return (str(c[0]), c[1] if len(c) > 1 else None)

    def mdp_start(self, meta, c):
        return ("start", tuple(c), self.loc(meta))

    def mdp_row(self, meta, c):
        return ("row", n.MdpRow(str(c[0]), str(c[1]), tuple(c[2:]), self.loc(meta)), None)

    def mdp_decl(self, meta, c):
        items = c[1:]
        starts = [x for x in items if x[0] == "start"]
        self.take_spans()
        return n.MdpDecl(str(c[0]), tuple(o for s in starts for o in s[1]),
                         tuple(x[1] for x in items if x[0] == "row"), self.loc(meta),
                         starts[0][2] if starts else None)

    def goal(self, meta, c):
        return n.Goal(str(c[0]), c[1], self.loc(meta))

    def constraint(self, meta, c):
        return n.Constraint(c[0], self.loc(meta))

    def regularizer(self, meta, c):
        return n.Regularizer(c[0], self.loc(meta))

    def obj_discount(self, meta, c):
        return n.DiscountDecl(c[0], self.loc(meta))

    def objective_decl(self, meta, c):
        items = c[1:]
        pick = lambda cls: tuple(x for x in items if isinstance(x, cls))  # noqa: E731
        return n.ObjectiveDecl(str(c[0]), pick(n.Goal), pick(n.Constraint),
                               pick(n.Regularizer), pick(n.DiscountDecl),
                               self.loc(meta), self.take_spans())
