"""Specs never run code: attempts are refused, nothing executes, and the package
holds no path (eval, exec, sympify of text, __import__) by which they could."""
from __future__ import annotations

import builtins
import os
import subprocess
import tokenize
from pathlib import Path

import pytest

import objlang
from objlang.errors import ObjlangError
from objlang.syntax import parse

PACKAGE = Path(objlang.__file__).resolve().parent


@pytest.fixture
def no_code_runs(monkeypatch, tmp_path):
    """Fail the test if anything tries to run code; hand back a marker path."""
    def forbidden(*args, **kwargs):
        raise AssertionError(f"code execution attempted: {args!r}")

    monkeypatch.setattr(os, "system", forbidden)
    monkeypatch.setattr(os, "popen", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "MARK"


ATTEMPTS = {
    "import os": ('prop p = __import__("os").system("touch MARK")', 1, 33,
                  "unexpected '('"),
    "backticks": ("reward r = `touch MARK`", 1, 12,
                  "unexpected character '`': backticks mean nothing in objlang"),
    "python string": ("reward r = 'touch MARK'", 1, 12,
                      "unexpected \"'\": strings use double quotes"),
    "semicolon": ('prop p = 1; __import__("os")', 1, 11, "unexpected ';'"),
    "lambda": ("reward r = lambda: 1", 1, 18, "unexpected ':'"),
    "method call": ('prop p = obs.__class__.__subclasses__()', 1, 38, "unexpected '('"),
}


@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_syntax_level_attempts_are_parse_errors(name, no_code_runs):
    text, line, col, message = ATTEMPTS[name]
    for front in (parse, objlang.loads):
        with pytest.raises(ObjlangError) as info:
            front(text)
        assert (info.value.line, info.value.column, info.value.message) == (line, col, message)
    assert not no_code_runs.exists()


# Syntactically valid, so the parser accepts them as plain data (a macro call or
# a name); the checks refuse them.
VALID_SYNTAX = {
    "eval": ('reward r = eval("1")', "unknown function 'eval'"),
    "exec": ('reward r = exec("import os")', "unknown function 'exec'"),
    "open": ('reward r = open("/etc/passwd")', "unknown function 'open'"),
    "__import__ call": ('prop p = __import__("os") == 1',
                        "names beginning with '__' are reserved: '__import__'"),
    "dunder attr": ("prop p = info.__class__ == 1",
                    "names beginning with '__' are reserved: '__class__'"),
    "dunder name": ("reward r = __builtins__", "names beginning with '__' are reserved: "
                                                "'__builtins__'"),
    "dunder decl": ("prop __init__ = obs == 1", "names beginning with '__' are reserved: "
                                                 "'__init__'"),
    "getattr": ('reward r = getattr(obs, "__class__")', "unknown function 'getattr'"),
}


@pytest.mark.parametrize("name", sorted(VALID_SYNTAX))
def test_valid_syntax_attempts_parse_as_data(name, no_code_runs):
    text, _ = VALID_SYNTAX[name]
    spec = parse(text)  # the parser only builds sympy data: nothing is looked up
    assert len(spec.decls) == 1
    assert not no_code_runs.exists()


@pytest.mark.parametrize("name", sorted(VALID_SYNTAX))
def test_valid_syntax_attempts_fail_in_the_checks(name, no_code_runs):
    text, message = VALID_SYNTAX[name]
    with pytest.raises(ObjlangError) as info:
        objlang.loads(text)
    assert info.value.message == message
    assert info.value.line == 1
    assert not no_code_runs.exists()


def test_strings_are_data(no_code_runs):
    # text in strings is kept as a sympy Str, never interpreted
    spec = parse('env "os.system(\'touch MARK\')" { cmd: "__import__(\\"os\\")" }')
    env = spec.decls[0]
    assert env.env_id == "os.system('touch MARK')"
    assert str(env.kwargs[0][1]) == '__import__("os")'
    assert not no_code_runs.exists()


def test_imports_do_not_reach_python_modules(no_code_runs):
    with pytest.raises(ObjlangError) as info:
        objlang.loads("import os\nprop p = obs == 1")
    assert info.value.message == "no stdlib module named 'os'"
    assert (info.value.line, info.value.column) == (1, 1)
    assert not no_code_runs.exists()


# ---- static: the package has no way to run code from a spec ------------------------

FORBIDDEN_CALLS = {"eval", "exec", "sympify", "parse_expr", "compile"}


def _code_tokens(path: Path) -> list[tuple[int, str]]:
    """The tokens of a module without its comments and string literals (docstrings)."""
    out = []
    with path.open("rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type in (tokenize.NAME, tokenize.OP):
                out.append((tok.start[0], tok.string))
    return out


def _violations(path: Path) -> list[str]:
    toks = _code_tokens(path)
    found = []
    for i, (line, text) in enumerate(toks):
        follows = toks[i + 1][1] if i + 1 < len(toks) else ""
        before = toks[i - 1][1] if i else ""
        if text == "__import__":
            found.append(f"{line}: __import__")
        elif text in FORBIDDEN_CALLS and follows == "(" and before != "def":
            if text in ("eval", "exec", "compile") and before == ".":
                continue  # a method (re.compile, sympy's Function.eval), not the builtin
            found.append(f"{line}: {text}(")
    return found


def _python_files():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 5
    return files


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_code_execution_paths(path):
    assert _violations(path) == [], f"{path}: eval/exec/sympify/__import__ outside comments"


def test_the_static_check_sees_code_but_not_comments(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('"""eval( in a docstring"""\n# exec( in a comment\nx = "sympify("\n'
                     "y = eval(x)\nz = re.compile(x)\nreturn_ = sympy.sympify (x)\n"
                     "m = __import__\ndef eval(cls): cls.eval(1)\n")
    assert _violations(probe) == ["4: eval(", "6: sympify(", "7: __import__"]
