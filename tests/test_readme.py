"""The README does what it says.

* its first code block is exactly `make demo` / `make test`;
* every `$ ` command of the tour's console blocks runs from the repository root:
  `objlang ...` (or `.venv/bin/objlang ...`) through `objlang.cli.main`, other shell
  commands (the `sed` that makes a typo) through bash; paths under /tmp/ go to a
  temporary folder. Each exits with the status the README states (a trailing
  `# exit status N`, else 0), and the first output line shown under an objlang
  command is the first line it prints (the IR output is trimmed, so only its start).
"""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from objlang.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_FENCE = re.compile(r"^```([\w-]*)\s*$")
_STATUS = re.compile(r"\s+#\s*exit status (\d+)\s*$")


def blocks() -> list[tuple[int, str, list[str]]]:
    """(line of the fence, info string, lines) of every fenced block."""
    out, info, start, body = [], None, 0, []
    for lineno, line in enumerate(README.read_text("utf-8").splitlines(), 1):
        if info is None and _FENCE.match(line):
            info, start, body = _FENCE.match(line).group(1), lineno, []
        elif info is not None and line.strip() == "```":
            out.append((start, info, body))
            info = None
        elif info is not None:
            body.append(line)
    return out


def commands() -> list[tuple[int, str, int, str | None]]:
    """(line, command, expected exit status, first output line shown or None)."""
    found = []
    for start, info, body in blocks():
        if info != "console":
            continue
        for i, line in enumerate(body):
            if not line.startswith("$ "):
                continue
            cmd = line[2:]
            m = _STATUS.search(cmd)
            status = int(m.group(1)) if m else 0
            cmd = _STATUS.sub("", cmd)
            shown = body[i + 1] if i + 1 < len(body) and not body[i + 1].startswith("$ ") \
                else None
            found.append((start + 1 + i, cmd, status, shown))
    return found


def test_first_code_block_is_make_demo_make_test():
    first = blocks()[0]
    assert first[1] == "" and first[2] == ["make demo", "make test"]


def test_tour_runs_the_objlang_commands():
    names = [c for _, c, *_ in commands()]
    assert any(c.startswith("objlang check") for c in names)
    assert any(c.startswith("objlang fmt") for c in names)
    assert any(c.startswith("objlang ir") for c in names)


def test_tour(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(ROOT)
    tmp = str(tmp_path) + "/"
    for line, cmd, status, shown in commands():
        cmd = cmd.replace("/tmp/", tmp)
        words = shlex.split(cmd)
        if words[0] in ("objlang", ".venv/bin/objlang"):
            capfd.readouterr()
            rc = main(words[1:])
            out, err = capfd.readouterr()
            assert rc == status, f"README line {line}: `{cmd}` exited {rc}\n{out}{err}"
            if shown is not None:
                first = (out + err).splitlines()[0]
                assert first == shown.replace("/tmp/", tmp), f"README line {line}"
        else:
            done = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == status, f"README line {line}: {done.stderr}"


@pytest.mark.parametrize("path", ["docs/language.md", "docs/benchmarks.md"])
def test_linked_docs_exist(path):
    assert f"({path})" in README.read_text("utf-8")
    assert (ROOT / path).is_file()


def test_spec_shown_checks():
    import objlang

    specs = ["\n".join(body) + "\n" for _, info, body in blocks() if info == "obj"]
    assert specs
    for text in specs:
        assert not objlang.loads(text).warnings
