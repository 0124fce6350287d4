"""Text to IR: the Lark parser, and parse errors a person can act on.

No Lark exception leaves this module: every failure becomes an
:class:`objlang.ObjlangError` with file, line, column and, where one of the
known mistakes matches, a specific message and hint.
"""
from __future__ import annotations

import dataclasses
import functools
import re

from lark import Lark, Token, Tree
from lark.exceptions import (LarkError, UnexpectedCharacters, UnexpectedEOF,
                             UnexpectedInput, UnexpectedToken, VisitError)

from ..errors import Loc, ObjlangError
from ..ir.nodes import Spec
from ..resources import data_dir
from .build import Builder
from .mistakes import MISTAKES

#: deepest nesting of expressions accepted; deeper input is refused with an error
#: (no RecursionError can escape the builder, the passes or sympy)
MAX_DEPTH = 100

_TOKEN_TEXT = {
    "$END": "end of file", "RBRACE": "'}'", "LBRACE": "'{'", "RPAR": "')'", "LPAR": "'('",
    "RSQB": "']'", "LSQB": "'['", "COMMA": "','", "COLON": "':'", "EQUAL": "'='",
    "NAME": "a name", "STRING": "a string", "NUMBER": "a number", "INT": "a number",
}


def grammar_text() -> str:
    """The grammar of objlang, as shipped in ``grammar/objlang.lark``."""
    return (data_dir("grammar") / "objlang.lark").read_text("utf-8")


@functools.lru_cache(maxsize=None)
def lark_parser(strict: bool = False) -> Lark:
    """The LALR parser (``strict=True`` also checks for conflicts and collisions)."""
    # the LALR tables take ~0.7 s to build: Lark caches them in the temp folder,
    # keyed by a hash of the grammar and options (the strict build is for tests)
    parser = Lark(grammar_text(), parser="lalr", propagate_positions=True,
                  maybe_placeholders=True, strict=strict, cache=not strict,
                  lexer_callbacks={"NAME": _reserve})
    _KEYWORDS.update({t.pattern.value: t.name for t in parser.terminals
                      if t.pattern.type == "str" and t.pattern.value.isidentifier()})
    return parser


#: keyword text -> its terminal, e.g. "prop" -> "PROP" (filled by lark_parser)
_KEYWORDS: dict[str, str] = {}


def _reserve(tok: Token) -> Token:
    """Keywords are reserved: the contextual lexer reads `prop` as a NAME where no
    keyword fits (after `1 +` at the end of a line, say); make it the keyword
    again, so the error is reported there and not at the token after it."""
    kind = _KEYWORDS.get(tok.value)
    return tok if kind is None else Token.new_borrow_pos(kind, tok.value, tok)


def decode(data: bytes, file: str | None) -> str:
    """UTF-8 text of a spec, or an error at the first undecodable byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        raise ObjlangError(f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
                           Loc(file, line, col), hint="save the spec as UTF-8 text") from None
    return text.removeprefix("\ufeff")


def parse(text: str, file: str | None = None) -> Spec:
    """Parse objlang text into an (unchecked) :class:`Spec`.

    >>> parse("prop goal = obs == 15").decls[0].name
    'goal'
    """
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise ObjlangError("the file contains a NUL byte; is it a binary file?",
                           Loc(file, line, 1), source=None)
    try:
        tree = lark_parser().parse(text)
    except UnexpectedInput as exc:
        raise _parse_error(exc, text, file) from None
    except LarkError as exc:  # defensive: any other Lark failure is still our error
        raise ObjlangError(f"cannot parse: {exc}", Loc(file, 1, 1), source=text) from None
    _check_depth(tree, text, file)
    try:
        spec = Builder(file, text).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, ObjlangError):
            raise exc.orig_exc from None
        raise
    spec = dataclasses.replace(spec, comments=comments(text))
    if not spec.decls:
        raise ObjlangError("the spec is empty: it declares nothing", Loc(file, 1, 1),
                           hint="start with e.g. `env \"FrozenLake-v1\"` and an `objective`",
                           source=text)
    return spec


def comments(text: str) -> tuple[tuple[int, int, str], ...]:
    """Every comment of a source as (line, column, text); strings never span lines."""
    found = []
    for lineno, line in enumerate(_lines(text), 1):
        in_string, i = False, 0
        while i < len(line):
            c = line[i]
            if c == "\\" and in_string:
                i += 2
                continue
            if c == '"':
                in_string = not in_string
            elif c == "#" and not in_string:
                found.append((lineno, i + 1, line[i:].rstrip()))
                break
            i += 1
    return tuple(found)


def _lines(text: str) -> list[str]:
    """The lines of a source as Lark counts them: only '\n' ends a line (so a
    '\x0c' or '\u2028' inside a string or comment does not shift line numbers)."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def _check_depth(tree: Tree, text: str, file: str | None) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            loc = Loc(file, meta.line, meta.column) if not meta.empty else Loc(file, 1, 1)
            raise ObjlangError(f"expression nested more than {MAX_DEPTH} levels deep",
                               loc, hint="split it with `def` macros or named props",
                               source=text)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))


_DECL_WORDS = {"prop", "reward", "cost", "ltl", "ltlf", "machine", "def", "policy", "mdp",
               "objective"}


def _reserved_name(tok: Token, text: str, file: str | None, loc: Loc) -> ObjlangError:
    """A keyword where a name must come: `prop G = ...` or `info.in`."""
    before = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", text[:tok.start_pos])
    hint = "keywords are reserved; choose another name"
    if before is not None and before.group(1) in _DECL_WORDS:
        kind = "reward" if before.group(1) == "cost" else before.group(1)
        kind = "ltl" if kind == "ltlf" else kind
        start = before.start(1)
        line = text.count("\n", 0, start) + 1
        col = start - (text.rfind("\n", 0, start) + 1) + 1
        return ObjlangError(f"'{tok}' is a reserved word and cannot name a {kind}",
                            Loc(file, line, col), hint, text)
    return ObjlangError(f"'{tok}' is a reserved word and cannot be a name", loc, hint, text)


def _state(exc: UnexpectedInput):
    """The LALR state of a parse error (an int; Lark gives a ParserState when the
    error came from its contextual lexer's fallback)."""
    state = getattr(exc, "state", None)
    return getattr(state, "position", state)


@functools.lru_cache(maxsize=1)
def _example_errors() -> tuple:
    """(label, state, accepts, token) of the parse error of every mistake example."""
    found = []
    for label, examples in MISTAKES.examples.items():
        for example in examples:
            try:
                lark_parser().parse(example)
            except (UnexpectedToken, UnexpectedEOF) as ut:
                found.append((label, _state(ut), getattr(ut, "accepts", None),
                              getattr(ut, "token", None)))
            except UnexpectedInput:
                continue
    return tuple(found)


def _match_mistake(exc: UnexpectedInput) -> str | None:
    """The mistake whose examples fail in the same parser state, as Lark's
    ``match_examples(use_accepts=True)`` does; reimplemented because Lark's
    crashes formatting a debug message when the state is a ParserState."""
    state, accepts, token = _state(exc), getattr(exc, "accepts", None), getattr(exc, "token",
                                                                                None)
    candidate = None
    for label, ex_state, ex_accepts, ex_token in _example_errors():
        if ex_state != state or ex_state is None:
            continue
        if accepts is not None and ex_accepts is not None and accepts != ex_accepts:
            continue
        if token is not None and ex_token == token:  # same type and text
            return label
        # these messages name the token ("'=' is not a comparison"): they only
        # carry over to a token of the same kind
        if label in _SAME_TOKEN and getattr(ex_token, "type", None) != getattr(token, "type",
                                                                                None):
            continue
        if candidate is None:
            candidate = label
    return candidate


_SAME_TOKEN = {"assign_for_equal", "unknown_operator", "keyword_misplaced"}


def _describe(tok: Token | None) -> str:
    if tok is None or tok.type == "$END":
        return "end of file"
    return f"'{tok}'"


def _parse_error(exc: UnexpectedInput, text: str, file: str | None) -> ObjlangError:
    line, col = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken)
                                          and exc.token.type == "$END"):
        lines = _lines(text)
        line, col = len(lines), len(lines[-1].rstrip("\r")) + 1
    loc = Loc(file, line, col)
    mistake = None
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        mistake = _match_mistake(exc)
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        message, hint = MISTAKES.for_character(char)
        return ObjlangError(message, Loc(file, line, col, line, col + 1), hint, text)
    tok = getattr(exc, "token", None)
    if tok is not None and tok.type != "$END":
        loc = Loc(file, tok.line, tok.column, tok.end_line, tok.end_column)
    accepts = getattr(exc, "accepts", None) or getattr(exc, "expected", ())
    if tok is not None and tok.value in _KEYWORDS and _KEYWORDS[tok.value] == tok.type:
        # a reserved word where an operand or a name must come
        if "INT" in accepts:
            mistake = "missing_operand"
        elif "NAME" in accepts:
            return _reserved_name(tok, text, file, loc)
    if mistake is not None:
        message, hint = MISTAKES.messages[mistake]
        return ObjlangError(message.format(token=_describe(tok)), loc, hint, text)
    expected = sorted(_TOKEN_TEXT.get(t, f"'{t.lower()}'" if t.isupper() else t)
                      for t in getattr(exc, "expected", ()) if not t.startswith("_"))
    hint = None
    if expected:
        shown = ", ".join(expected[:8]) + (", ..." if len(expected) > 8 else "")
        hint = f"expected {shown}"
    return ObjlangError(f"unexpected {_describe(tok)}", loc, hint, text)
