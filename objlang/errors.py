"""Diagnostics: source locations, errors and warnings, and how they are shown.

Every problem with a spec reaches the user as an :class:`ObjlangError` (or a
:class:`Diagnostic` warning) carrying file, line and column, rendered as::

    examples/bad.obj:7:23: error: unknown proposition 'gaol' (did you mean 'goal'?)
        ltl safe_goal = !hole U gaol
                                ^~~~
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Loc:
    """A span of source text: 1-based line and column, end exclusive."""

    file: str | None
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "col": self.col,
                "end_line": self.end_line, "end_col": self.end_col}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One error or warning about a spec."""

    severity: str  # "error" or "warning"
    message: str
    loc: Loc | None = None
    hint: str | None = None
    source: str | None = field(default=None, compare=False, repr=False)

    def render(self) -> str:
        """The `file:line:col: severity: message` form, with source line and caret."""
        loc = self.loc
        if loc is None:  # about the command, not about a place in a spec
            where = "objlang"
        else:
            where = f"{loc.file or '<input>'}:{loc.line}:{loc.col}"
        lines = [f"{where}: {self.severity}: {self.message}"]
        text_line = _source_line(self.source, loc)
        if text_line is not None:
            width = 1
            if loc.end_line == loc.line and loc.end_col is not None and loc.end_col > loc.col:
                width = loc.end_col - loc.col
            shown, col = _window(text_line.expandtabs(1), loc.col)
            lines.append("    " + shown)
            lines.append("    " + " " * (col - 1) + "^" + "~" * (min(width, 60) - 1))
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)


_WIDTH = 100


def _window(text: str, col: int) -> tuple[str, int]:
    """At most _WIDTH characters of a long line around column col."""
    if len(text) <= _WIDTH:
        return text, col
    start = max(0, min(col - 1 - _WIDTH // 2, len(text) - _WIDTH))
    prefix = "..." if start else ""
    return prefix + text[start:start + _WIDTH] + "...", col - start + len(prefix)


def _source_line(source: str | None, loc: Loc | None) -> str | None:
    if source is None or loc is None:
        return None
    all_lines = source.split("\n")  # as Lark counts lines
    if 1 <= loc.line <= len(all_lines):
        return all_lines[loc.line - 1]
    return None


class ObjlangError(Exception):
    """A spec that cannot be accepted, with where and why.

    Attributes: ``file``, ``line``, ``column``, ``message``, ``hint`` and, when
    one file had several problems, ``diagnostics`` (all of them, first one
    included).

    >>> import objlang
    >>> try:
    ...     objlang.loads("prop p = obs ==")
    ... except objlang.ObjlangError as e:
    ...     (e.line, e.column) == (1, 16)
    True
    """

    def __init__(self, message: str, loc: Loc | None = None, hint: str | None = None,
                 source: str | None = None, diagnostics: list[Diagnostic] | None = None):
        self.diagnostic = Diagnostic("error", message, loc, hint, source)
        self.diagnostics = diagnostics or [self.diagnostic]
        super().__init__(self.diagnostic.render())

    @property
    def message(self) -> str:
        return self.diagnostic.message

    @property
    def hint(self) -> str | None:
        return self.diagnostic.hint

    @property
    def loc(self) -> Loc | None:
        return self.diagnostic.loc

    @property
    def file(self) -> str | None:
        return None if self.loc is None else self.loc.file

    @property
    def line(self) -> int | None:
        return None if self.loc is None else self.loc.line

    @property
    def column(self) -> int | None:
        return None if self.loc is None else self.loc.col

    col = column

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)


def did_you_mean(name: str, candidates) -> str | None:
    """' (did you mean 'x'?)' for the closest candidate, or None."""
    import difflib

    best = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{best[0]}'?" if best else None
