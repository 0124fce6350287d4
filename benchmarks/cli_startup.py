"""How fast does `objlang check` start? Run from the repository root:

    python benchmarks/cli_startup.py [--repeat N] [--file SPEC]

It measures, in one run and with the same Python (the venv's, when there is one),
the cold wall time of three subprocesses, N times each:

* `python -m objlang check examples/frozenlake/safe_goal.obj`
* `python -c "import sympy, lark"`   (the two libraries `check` needs)
* `python -c "pass"`                 (the interpreter alone)

and prints median and min of each. It also verifies that `objlang check` imports none
of the heavy backends (torch, spot, scipy, stormpy) and exits 1 if it does.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "spot", "scipy", "stormpy")
DEFAULT_FILE = "examples/frozenlake/safe_goal.obj"


def venv_python() -> str:
    """The project's venv python if there is one, else this interpreter."""
    for cand in (ROOT / ".venv" / "bin" / "python", ROOT / ".venv" / "Scripts" / "python.exe"):
        if cand.exists():
            return str(cand)
    return sys.executable


def time_command(cmd: list[str], repeat: int) -> list[float]:
    """Wall time in seconds of each of `repeat` runs of cmd (after one warm-up run
    that fills the OS file cache; each timed run is a fresh process)."""
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        times.append(time.perf_counter() - t0)
    return times


def heavy_imports(python: str, spec: str) -> list[str]:
    """The heavy modules present in sys.modules after `objlang check spec`."""
    code = ("import sys, objlang.cli\n"
            f"rc = objlang.cli.main(['check', {spec!r}])\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
            "sys.exit(rc)")
    out = subprocess.run([python, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return eval(out.stdout.strip().splitlines()[-1], {})  # a list literal we printed


def heavy_in_importtime(python: str, spec: str) -> list[str]:
    """The heavy top-level modules named by `python -X importtime -m objlang check`."""
    out = subprocess.run([python, "-X", "importtime", "-m", "objlang", "check", spec],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    found = set()
    for line in out.stderr.splitlines():
        if "|" not in line:
            continue
        name = line.rsplit("|", 1)[1].strip().split(".")[0]
        if name in HEAVY:
            found.add(name)
    return sorted(found)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", "-n", type=int, default=10)
    ap.add_argument("--file", default=DEFAULT_FILE)
    args = ap.parse_args(argv)
    py = venv_python()
    version = subprocess.run([py, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {ncpu} CPUs (nproc), {cpu_model()}")
    print(f"python:  {version} ({py})")
    print(f"runs:    {args.repeat} per command, after one warm-up run\n")

    rows = [
        (f"objlang check {args.file}", [py, "-m", "objlang", "check", args.file]),
        ('python -c "import sympy, lark"', [py, "-c", "import sympy, lark"]),
        ('python -c "pass"', [py, "-c", "pass"]),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'command':<{width}}  {'median s':>9}  {'min s':>7}")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 7}")
    for label, cmd in rows:
        t = time_command(cmd, args.repeat)
        print(f"{label:<{width}}  {statistics.median(t):9.3f}  {min(t):7.3f}")

    loaded = heavy_imports(py, args.file)
    named = heavy_in_importtime(py, args.file)
    print(f"\nheavy modules in sys.modules after `objlang check`: {loaded or 'none'}")
    print(f"heavy modules in `python -X importtime -m objlang check`: {named or 'none'}")
    return 1 if loaded or named else 0


if __name__ == "__main__":
    sys.exit(main())
