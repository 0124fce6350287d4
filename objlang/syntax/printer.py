"""The canonical printer: IR back to objlang text.

``parse(fmt(spec)) == spec`` for every spec the parser can produce, and
``fmt`` is idempotent. Comments of the source are kept: each one is attached
to the declaration or block line it precedes (or ends), and printed with it.

>>> from objlang.syntax import parse
>>> print(fmt(parse("prop  goal=obs==15  # the goal")), end="")
prop goal = obs == 15  # the goal
"""
from __future__ import annotations

import sympy

from ..ir import nodes as n
from ..ir import sym
from ..ir.sym import NO_BOUND, Str

# binding strength, loosest first (see grammar/objlang.lark)
ITE, IMP, OR, XOR, AND, UNTIL, UNARY, CMP, SUM, PROD, NEG, POW, POSTFIX, ATOM = range(14)

_INFIX = {  # class -> (text, own level, left needs, right needs)
    sym.Implies: ("->", IMP, OR, IMP), sym.Equiv: ("<->", IMP, OR, IMP),
    sym.Until: ("U", UNTIL, UNARY, UNTIL), sym.WeakUntil: ("W", UNTIL, UNARY, UNTIL),
    sym.Release: ("R", UNTIL, UNARY, UNTIL), sym.StrongRelease: ("M", UNTIL, UNARY, UNTIL),
    sym.Eq_: ("==", CMP, SUM, SUM), sym.Ne_: ("!=", CMP, SUM, SUM),
    sym.Lt_: ("<", CMP, SUM, SUM), sym.Le_: ("<=", CMP, SUM, SUM),
    sym.Gt_: (">", CMP, SUM, SUM), sym.Ge_: (">=", CMP, SUM, SUM),
    sym.In_: ("in", CMP, SUM, SUM),
}
_FLAT = {sym.Or_: (" | ", OR, XOR), sym.Xor: (" xor ", XOR, AND), sym.And_: (" & ", AND, UNTIL)}
_PREFIX = {sym.Not_: "!", sym.Next: "X ", sym.Finally: "F ", sym.Always: "G "}
_BRACKET = {sym.Expect: "E[", sym.Prob: "P[", sym.Variance: "Var["}
_CALLS = {sym.Total: "sum", sym.Avg: "avg", sym.Occ: "occ", sym.Entropy: "entropy",
          sym.KL: "kl", sym.PiProb: "pi", sym.Norm: "norm", sym.Dot: "dot", sym.Lex: "lex",
          sym.Pareto: "pareto", sympy.Min: "min", sympy.Max: "max", sympy.Abs: "abs",
          sympy.exp: "exp", sympy.log: "log"}


class FormatError(ValueError):
    """An expression that has no objlang spelling (only built by hand)."""


def quote(text: str) -> str:
    """A string literal for ``text``."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + body.replace("\t", "\\t") + '"'


def expr(e) -> str:
    """The text of one expression.

    >>> import sympy
    >>> expr(2 * sympy.Symbol("x") + 1)
    '2 * x + 1'
    """
    return _p(e)[0]


def _wrap(e, need: int) -> str:
    text, level = _p(e)
    return f"({text})" if level < need else text


def _base(e) -> str:
    """The operand of x[i], x[a:b] and x.key: a name E, P or Var would lex as the
    opening of E[...] and an integer 2 as the number "2.", so both get parentheses."""
    text = _wrap(e, POSTFIX)
    if text in ("E", "P", "Var") or text.isdigit():
        return f"({text})"
    return text


def _args(args) -> str:
    return ", ".join(_p(a)[0] for a in args)


def _number(e) -> tuple[str, int]:
    if e is sympy.zoo:
        return "1 / 0", PROD
    if e is sympy.nan:
        return "0 / 0", PROD
    if e in (sympy.oo, -sympy.oo):  # (-oo).is_negative is False in sympy
        return ("-1e999", NEG) if e == -sympy.oo else ("1e999", ATOM)
    if isinstance(e, sympy.Integer):
        text = str(int(e))
    elif isinstance(e, sympy.Rational):
        text = f"{e.p} / {e.q}"
        return text, PROD
    elif isinstance(e, sympy.Float):
        text = repr(float(e))
    elif e is sympy.E:
        return "exp(1)", ATOM
    else:
        raise FormatError(f"no objlang spelling for the number {e!r}")
    return text, NEG if text.startswith("-") else ATOM


def _p(e) -> tuple[str, int]:  # noqa: C901 -- one case per node class, flat
    cls = type(e)
    if isinstance(e, sympy.Symbol):
        return e.name, ATOM
    if isinstance(e, Str):
        return quote(e.name), ATOM
    if e is sympy.true or e is sympy.false:
        return ("true" if e is sympy.true else "false"), ATOM
    if isinstance(e, sympy.Number) or e in (sympy.zoo, sympy.nan, sympy.E):
        return _number(e)
    if isinstance(e, sympy.Add):
        return _add(e)
    if isinstance(e, sympy.Mul):
        return _mul(e)
    if isinstance(e, sympy.Pow):
        return _pow(e)
    if cls in _INFIX:
        op, level, left, right = _INFIX[cls]
        return f"{_wrap(e.args[0], left)} {op} {_wrap(e.args[1], right)}", level
    if cls in _FLAT:
        sep, level, need = _FLAT[cls]
        return sep.join(_wrap(a, need) for a in e.args), level
    if cls in _PREFIX:
        return _PREFIX[cls] + _wrap(e.args[0], UNARY), UNARY
    if cls in _BRACKET:
        return f"{_BRACKET[cls]}{_p(e.args[0])[0]}]", ATOM
    if cls in _CALLS:
        return f"{_CALLS[cls]}({_args(e.args)})", ATOM
    if cls is sym.Ret:
        return f"G({_args(e.args)})", ATOM
    if cls is sym.Call:
        return f"{e.args[0].name}({_args(e.args[1:])})", ATOM
    if cls is sym.Iverson:
        return f"[{_p(e.args[0])[0]}]", ATOM
    if cls is sym.Vec:
        return f"[{_args(e.args)}]", ATOM
    if cls is sym.SetLit:
        return "{" + _args(e.args) + "}", ATOM
    if cls is sym.Index:
        return f"{_base(e.args[0])}[{_p(e.args[1])[0]}]", POSTFIX
    if cls is sym.Slice:
        lo, hi = ("" if b == NO_BOUND else _p(b)[0] for b in e.args[1:])
        return f"{_base(e.args[0])}[{lo}:{hi}]", POSTFIX
    if cls is sym.Attr:
        return f"{_base(e.args[0])}.{e.args[1].name}", POSTFIX
    if cls is sym.Ite:
        b, x, y = (_p(a)[0] for a in e.args)
        return f"if {b} then {x} else {y}", ITE
    raise FormatError(f"no objlang spelling for {cls.__name__}")


def _add(e) -> tuple[str, int]:
    terms = list(e.as_ordered_terms())
    out = _wrap(terms[0], SUM)
    for t in terms[1:]:
        if t.could_extract_minus_sign():
            out += " - " + _wrap(-t, PROD)
        else:
            out += " + " + _wrap(t, PROD)
    return out, SUM


def _mul(e) -> tuple[str, int]:
    coeff, rest = e.as_coeff_Mul()
    if coeff == -1:
        return "-" + _wrap(rest, NEG), NEG
    num, den = [], []
    for f in sympy.Mul.make_args(rest):
        if isinstance(f, sympy.Pow) and f.exp.is_number and f.exp.is_negative:
            den.append(sympy.Pow(f.base, -f.exp))
        else:
            num.append(f)
    parts = []
    if isinstance(coeff, sympy.Rational) and not isinstance(coeff, sympy.Integer):
        if coeff < 0 and num:  # -(x / 3) is "-x / 3": unary minus binds tighter than /
            return "-" + _mul(-e)[0], PROD
        if coeff.p != 1 or not num:  # x / 3, not 1 * x / 3
            parts.append(str(coeff.p))
        den.insert(0, sympy.Integer(coeff.q))
    elif coeff != 1:
        parts.append(_number(coeff)[0])
    parts += [_wrap(f, NEG if not parts and i == 0 else POW) for i, f in enumerate(num)]
    text = " * ".join(parts) if parts else "1"
    for d in den:
        text += " / " + _wrap(d, POW)
    return text, PROD


def _pow(e) -> tuple[str, int]:
    base, ex = e.args
    if ex == sympy.Rational(1, 2):
        return f"sqrt({_p(base)[0]})", ATOM
    if ex.is_number and ex.is_negative:
        return f"1 / {_wrap(sympy.Pow(base, -ex), POW)}", PROD
    return f"{_wrap(base, POSTFIX)} ^ {_wrap(ex, NEG)}", POW


# ---- declarations ------------------------------------------------------------

def _prob(p) -> str:
    return "" if p is None else " : " + _p(p)[0].replace(" / ", "/")


def _key(k) -> str:
    return _p(k)[0]


def _kwargs(items) -> str:
    return "{ " + ", ".join(f"{k}: {_p(v)[0]}" for k, v in items) + " }" if items else "{ }"


class _Out:
    """Collects output lines and places the source's comments next to them.

    A comment on the last line of an item trails it; any other comment leads
    the next item of its block (or the block's closing brace), or the next
    declaration. Items are declarations, block lines, and markers
    ``(decl, tag, loc)`` for lines that have no node of their own.
    """

    def __init__(self, spec: n.Spec):
        self.lines: list[str] = []
        self.leading: dict = {}
        self.trailing: dict = {}
        self.rest: list[str] = []
        self.gap: set = set()
        self._attach(spec)

    def _attach(self, spec: n.Spec) -> None:
        items = []  # (start line, end line, end col, key, block decl or None)
        blocks = []  # (start line, end line, decl)
        for d in spec.decls:
            for node in _items(d):
                loc = node[2] if isinstance(node, tuple) else node.loc
                if loc is not None:
                    items.append((loc.line, loc.end_line or loc.line, loc.end_col or 0,
                                  _key_of(node), None if node is d else d))
            if _is_block(d) and d.loc is not None:
                blocks.append((d.loc.line, d.loc.end_line or d.loc.line, d))
        for line, col, text in getattr(spec, "comments", ()) or ():
            ends_here = [it for it in items if it[1] == line and it[2] <= col]
            if ends_here:
                key = min(ends_here, key=lambda it: it[1] - it[0])[3]
                self.trailing[key] = (self.trailing.get(key, "") + "  " + text).strip()
                continue
            inside = [b[2] for b in blocks if b[0] < line < b[1]]
            later = [it for it in items if it[0] > line
                     and (not inside or it[4] is inside[0])]
            if later:
                nxt = min(later, key=lambda it: it[0])
                key = nxt[3]
                # a blank line between a comment block and its item is kept
                if nxt[0] > line + 1:
                    self.gap.add(key)
                else:
                    self.gap.discard(key)
            elif inside:
                key = (id(inside[0]), "end")
            else:
                self.rest.append(text)
                continue
            self.leading.setdefault(key, []).append(text)

    def emit(self, node, text: str, indent: str = "", trail: bool = True) -> None:
        key = _key_of(node)
        for c in self.leading.get(key, ()):
            self.lines.append(indent + c)
        if key in self.gap:
            self.lines.append("")
        lines = text.split("\n")
        if trail and key in self.trailing:
            lines[-1] += "  " + self.trailing[key]
        self.lines.extend(indent + ln for ln in lines)


def _key_of(node):
    return (id(node[0]), node[1]) if isinstance(node, tuple) else id(node)


def _is_block(d) -> bool:
    return isinstance(d, (n.MachineDecl, n.MdpDecl, n.ObjectiveDecl)) or (
        isinstance(d, n.PolicyDecl) and d.rows is not None)


def _items(d) -> list:
    """The decl and the block lines inside it that carry locations."""
    out = [d]
    if isinstance(d, n.MachineDecl):
        out += [(d, "start", d.start_loc), *d.edges, (d, "final", d.finals_loc)]
    elif isinstance(d, n.MdpDecl):
        out += [(d, "start", d.start_loc), *d.rows]
    elif isinstance(d, n.PolicyDecl):
        out += list(d.rows or ())
    elif isinstance(d, n.ObjectiveDecl):
        out += list(d.goals) + list(d.constraints) + list(d.regularizers) + list(d.discounts)
    return out


def _block(out: _Out, d, head: str, body: list[tuple[object, str]]) -> None:
    out.emit(d, head + " {", trail=False)
    for node, text in body:
        out.emit(node, text, "    ")
    for c in out.leading.get((id(d), "end"), ()):
        out.lines.append("    " + c)
    out.lines.append("}" + ("  " + out.trailing[id(d)] if id(d) in out.trailing else ""))


def _decl(out: _Out, d) -> None:  # noqa: C901 -- one case per declaration
    if isinstance(d, n.EnvDecl):
        text = f"env {d.env_id}" if d.is_mdp else f"env {quote(d.env_id)}"
        out.emit(d, text + (" " + _kwargs(d.kwargs) if d.kwargs else ""))
    elif isinstance(d, n.DiscountDecl):
        out.emit(d, f"discount {expr(d.value)}")
    elif isinstance(d, n.PropDecl):
        out.emit(d, f"prop {d.name} = {'external' if d.expr is None else expr(d.expr)}")
    elif isinstance(d, n.RewardDecl):
        out.emit(d, f"{'cost' if d.cost else 'reward'} {d.name} = {expr(d.expr)}")
    elif isinstance(d, n.LtlDecl):
        out.emit(d, f"{'ltlf' if d.finite else 'ltl'} {d.name} = {expr(d.formula)}")
    elif isinstance(d, n.DefDecl):
        params = f"({', '.join(d.params)})" if d.params else ""
        out.emit(d, f"def {d.name}{params} = {expr(d.body)}")
    elif isinstance(d, n.ImportDecl):
        mod = quote(d.module) if d.is_path else d.module
        out.emit(d, f"import {mod}" if d.names is None
                 else f"from {mod} import {', '.join(d.names)}")
    elif isinstance(d, n.OptionsDecl):
        out.emit(d, f"options {_kwargs(d.items)}")
    elif isinstance(d, n.PolicyDecl):
        if d.rows is None:
            out.emit(d, f"policy {d.name} = uniform")
        else:
            _block(out, d, f"policy {d.name} = table", [
                (r, f"{_key(r.state)} -> "
                    + ", ".join(_key(a) + _prob(p) for a, p in r.choices)) for r in d.rows])
    elif isinstance(d, n.MachineDecl):
        body = [((d, "start" if i == 0 else f"start{i}", None), f"start {s}")
                for i, s in enumerate(d.starts)]
        for e in d.edges:
            text = f"{', '.join(e.sources)} -> {e.target} when {expr(e.guard)}"
            body.append((e, text + (f" reward {expr(e.reward)}" if e.reward is not None
                                    else "")))
        if d.finals:
            body.append(((d, "final", None), f"final {', '.join(d.finals)}"))
        _block(out, d, f"machine {d.name}", body)
    elif isinstance(d, n.MdpDecl):
        body = []
        if d.start:
            body.append(((d, "start", None), "start " + ", ".join(s + _prob(p)
                                                                  for s, p in d.start)))
        body += [(r, f"{r.state} {r.action} -> "
                     + ", ".join(s + _prob(p) for s, p in r.outcomes)) for r in d.rows]
        _block(out, d, f"mdp {d.name}", body)
    elif isinstance(d, n.ObjectiveDecl):
        body = [(g, f"{g.sense} {expr(g.expr)}") for g in d.goals]
        body += [(c, f"subject to {expr(c.expr)}") for c in d.constraints]
        body += [(r, f"regularize {expr(r.expr)}") for r in d.regularizers]
        body += [(x, f"discount {expr(x.value)}") for x in d.discounts]
        _block(out, d, f"objective {d.name}", body)
    else:
        raise FormatError(f"cannot print {type(d).__name__}")


def fmt(spec: n.Spec) -> str:
    """The canonical text of a spec: one declaration a line (blocks indented by
    four spaces), a blank line between groups of different declarations, and
    the source's comments kept in place."""
    out = _Out(spec)
    prev = None
    for d in spec.decls:
        kind = type(d)
        multi = _is_block(d)
        if out.lines and (kind is not prev or multi or out.leading.get(_key_of(d))):
            out.lines.append("")
        _decl(out, d)
        prev = None if multi else kind
    if out.rest:
        out.lines += ([""] if out.lines else []) + out.rest
    return "\n".join(out.lines) + "\n"
