"""`objlang check` starts without the heavy backends (architecture.md: heavy imports
happen inside the backends that need them). No timing assertions: see
benchmarks/cli_startup.py and docs/benchmarks.md for the times."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "frozenlake" / "safe_goal.obj"
HEAVY = ("torch", "spot", "scipy", "stormpy")


def test_check_imports_no_heavy_backend():
    code = ("import sys, objlang.cli\n"
            f"rc = objlang.cli.main(['check', {str(SPEC)!r}])\n"
            f"print(rc, sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last == "0 []", f"objlang check: exit status and heavy modules: {last}"
