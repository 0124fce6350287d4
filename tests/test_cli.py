"""The command line: exit codes, output formats and JSON fields of
architecture.md, through `objlang.cli.main` and one real subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from objlang.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAFE_GOAL = ROOT / "examples" / "frozenlake" / "safe_goal.obj"

GOOD = "prop goal = obs == 15\n\nltl reach = F goal\n\nobjective o {\n    maximize P[reach]\n}\n"
TYPO = "prop goal = obs == 15\nltl reach = F gaol\nobjective o { maximize P[reach] }\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "good.obj").write_text(GOOD)
    (tmp_path / "typo.obj").write_text(TYPO)
    (tmp_path / "messy.obj").write_text("prop   goal=obs==15 # the goal\nltl reach = F(goal)\n"
                                         "objective o { maximize P[reach] }\n")
    (tmp_path / "warn.obj").write_text(GOOD + "prop unused = obs == 1\n")
    return tmp_path


def test_check_ok_and_error_exit_codes(files, capsys):
    assert main(["check", str(files / "good.obj")]) == 0
    out = capsys.readouterr()
    assert out.out == f"ok {files / 'good.obj'} (o)\n"
    assert main(["check", str(files / "good.obj"), str(files / "typo.obj")]) == 2
    out = capsys.readouterr()
    assert out.out.startswith(f"ok {files / 'good.obj'}")
    first = out.err.splitlines()
    assert first[0] == (f"{files / 'typo.obj'}:2:15: error: unknown proposition 'gaol' "
                        f"(did you mean 'goal'?)")
    assert first[1] == "    ltl reach = F gaol"
    assert first[2] == "    " + " " * 14 + "^~~~"


def test_check_warnings_go_to_stderr_and_do_not_fail(files, capsys):
    assert main(["check", str(files / "warn.obj")]) == 0
    out = capsys.readouterr()
    assert "warning: prop 'unused' is never used" in out.err
    assert out.out.startswith("ok ")


def test_check_json(files, capsys):
    assert main(["check", "--json", str(files / "good.obj"), str(files / "typo.obj")]) == 2
    report = json.loads(capsys.readouterr().out)
    good, typo = report["files"]
    assert good["ok"] and good["objectives"] == [{"name": "o", "written_in": "LTL"}]
    assert not typo["ok"]
    assert typo["errors"][0]["loc"]["line"] == 2 and typo["errors"][0]["loc"]["col"] == 15


def test_check_objective_flag(files, capsys):
    assert main(["check", "--objective", "o", str(files / "good.obj")]) == 0
    assert main(["check", "--objective", "p", str(files / "good.obj")]) == 2
    assert "no objective named 'p'" in capsys.readouterr().err


def test_fmt_prints_canonical_form_and_check_mode(files, capsys):
    assert main(["fmt", str(files / "messy.obj")]) == 0
    text = capsys.readouterr().out
    assert text == ("prop goal = obs == 15  # the goal\n\nltl reach = F goal\n\n"
                    "objective o {\n    maximize P[reach]\n}\n")
    assert main(["fmt", "--check", str(files / "messy.obj")]) == 1
    assert main(["fmt", "--check", str(files / "good.obj")]) == 0
    assert main(["fmt", "--write", str(files / "messy.obj")]) == 0
    assert (files / "messy.obj").read_text() == text
    assert main(["fmt", "--check", str(files / "messy.obj")]) == 0


def test_bad_input_is_exit_2_without_traceback(files, capsys):
    (files / "bin.obj").write_bytes(b"prop p = obs == 1\n\xff\xfe")
    assert main(["fmt", str(files / "bin.obj")]) == 2
    assert main(["check", str(files / "nope.obj")]) == 2
    err = capsys.readouterr().err
    assert "bin.obj:2:1: error: the file is not valid UTF-8 (byte 0xff)" in err
    assert "Traceback" not in err


def test_ir_json_has_locations_in_fields_of_their_own(files, capsys):
    assert main(["ir", str(files / "good.obj"), "--json"]) == 0
    ir = json.loads(capsys.readouterr().out)
    prop, ltl, obj = ir["decls"]
    assert prop == {"kind": "prop", "name": "goal",
                    "expr": {"op": "Eq_", "args": [{"name": "obs"}, {"int": 15}]},
                    "loc": {"file": str(files / "good.obj"), "line": 1, "col": 1,
                            "end_line": 1, "end_col": 22}}
    assert ltl["formula"] == {"op": "Finally", "args": [{"name": "goal"}]}
    assert obj["kind"] == "objective" and obj["goals"][0]["sense"] == "maximize"
    assert obj["goals"][0]["loc"]["line"] == 6


def test_demo_checks_every_example(capsys):
    assert main(["demo", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == 0 and report["examples"] >= 18
    keys = {r["written_in"] for r in report["objectives"]}
    assert {"MR", "LAR", "LTL", "RM", "INMR", "ONMR", "IMORL", "OMORL", "FTR", "FOMR",
            "FTLR", "GOMORL", "OMO", "TLO", "RRL", "FPR", "PO", "pareto"} <= keys
    # the office-world task trained on CPU: its exact value against objlang solve's optimum
    train = report["train"]
    assert train["env"] == "objlang/OfficeWorld-v0" and train["device"] == "cpu"
    # the shortest delivery avoiding decorations takes 15 steps: 0.95 ** 14
    assert train["final"]["optimum"] == pytest.approx(0.95 ** 14, abs=1e-9)
    assert train["final"]["value"] >= 0.95 * train["final"]["optimum"]


def test_console_entry_point_runs_as_a_process():
    proc = subprocess.run([sys.executable, "-m", "objlang", "check", str(SAFE_GOAL)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"ok {SAFE_GOAL} (reach, fast)"
    proc = subprocess.run([sys.executable, "-m", "objlang", "check", "/nonexistent.obj"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
