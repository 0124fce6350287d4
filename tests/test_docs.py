"""docs/language.md is checked: every example is what the tool really does.

* every ```obj block is a complete spec that checks with no warning;
* every ```obj-error block raises ObjlangError, and the first line of the ```text
  block that follows it is the first line the tool prints (for a file `spec.obj`);
* every ```obj-warning block checks, and the following ```text block starts with the
  first warning the tool prints;
* every `objlang COMMAND` named in the page exists, with the flags it is shown with.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import objlang
from objlang.cli import build_parser

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGE = DOCS / "language.md"
#: examples are checked as the file docs/spec.obj (imports in quotes are relative to it)
SPEC_FILE = "spec.obj"

_FENCE = re.compile(r"^```([\w-]*)\s*$")


def blocks(path: Path = PAGE) -> list[tuple[int, str, str]]:
    """(line of the opening fence, info string, text) of every fenced block."""
    out, info, start, body = [], None, 0, []
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        m = _FENCE.match(line)
        if info is None and m:
            info, start, body = m.group(1), lineno, []
        elif info is not None and line.strip() == "```":
            out.append((start, info, "\n".join(body) + "\n"))
            info = None
        elif info is not None:
            body.append(line)
    assert info is None, f"{path}: block opened at line {start} is never closed"
    return out


def _with_expected(kind: str) -> list[tuple[int, str, str]]:
    """(line, spec, expected first line) of each block of ``kind`` and its output."""
    found, all_blocks = [], blocks()
    for i, (line, info, text) in enumerate(all_blocks):
        if info != kind:
            continue
        assert i + 1 < len(all_blocks) and all_blocks[i + 1][1] == "text", \
            f"line {line}: an {kind} block must be followed by a ```text block"
        found.append((line, text, all_blocks[i + 1][2].splitlines()[0]))
    return found


@pytest.fixture(autouse=True)
def _in_docs(monkeypatch):
    # `import "x.obj"` is relative to the importing file, here docs/spec.obj
    monkeypatch.chdir(DOCS)


def _load(text: str):
    return objlang.loads(text, file=SPEC_FILE, base=DOCS)


OK = [(line, text) for line, info, text in blocks() if info == "obj"]
ERRORS = _with_expected("obj-error")
WARNINGS = _with_expected("obj-warning")


def test_page_has_examples():
    assert len(OK) >= 20 and len(ERRORS) >= 5 and WARNINGS


@pytest.mark.parametrize("line,text", OK, ids=[f"line{x}" for x, _ in OK])
def test_example_checks_without_warnings(line, text):
    spec = _load(text)
    assert not spec.warnings, "\n".join(w.render() for w in spec.warnings)


@pytest.mark.parametrize("line,text,expected", ERRORS, ids=[f"line{x}" for x, *_ in ERRORS])
def test_error_example_fails_as_shown(line, text, expected):
    with pytest.raises(objlang.ObjlangError) as info:
        _load(text)
    assert info.value.render().splitlines()[0] == expected


@pytest.mark.parametrize("line,text,expected", WARNINGS,
                         ids=[f"line{x}" for x, *_ in WARNINGS])
def test_warning_example_warns_as_shown(line, text, expected):
    spec = _load(text)
    assert spec.warnings
    assert spec.warnings[0].render().splitlines()[0] == expected


def _subcommands() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(action.choices)


def _named_commands() -> list[str]:
    """Every `objlang ...` command line of the page (inline code and shell lines)."""
    text = PAGE.read_text("utf-8")
    found = re.findall(r"`(objlang [^`]+)`", text)
    for _, info, body in blocks():
        if info in ("sh", "shell", "console", "bash"):
            found += [ln.removeprefix("$ ") for ln in body.splitlines()
                      if ln.removeprefix("$ ").startswith("objlang ")]
    return found


def test_named_commands_exist():
    commands = _subcommands()
    named = _named_commands()
    assert named
    for line in named:
        words = shlex.split(line.replace("\\|", "|"))
        assert words[1] in commands, f"`{line}`: no command '{words[1]}'"
        sub = commands[words[1]]
        options = {o for a in sub._actions for o in a.option_strings}
        for w in words[2:]:
            for flag in re.findall(r"--?[a-z][\w-]*", w):
                if w.startswith("-") or w.startswith("[") or w.startswith("|"):
                    assert flag in options, f"`{line}`: '{words[1]}' has no option {flag}"


def test_every_command_is_documented():
    text = PAGE.read_text("utf-8")
    for name in _subcommands():
        assert f"`objlang {name}" in text, f"objlang {name} is not documented"
