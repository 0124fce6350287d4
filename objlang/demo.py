"""``objlang demo``: the README's main job.

For now (the language issue): check every bundled example and print, for each,
its objectives and the formalism each is written in as far as its syntax shows.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import ObjlangError
from .expressivity import written_in
from .load import load
from .resources import data_dir


def examples_dir() -> Path:
    """The bundled examples (``examples/`` of the checkout)."""
    return data_dir("grammar").parent / "examples"


def run_demo(args) -> int:
    root = examples_dir()
    files = sorted(root.rglob("*.obj"))
    rows, failed = [], 0
    for f in files:
        shown = str(f.relative_to(root.parent))
        try:
            spec = load(f)
        except ObjlangError as e:
            failed += 1
            print(e.render())
            continue
        env = next((d.env_id for d in spec.decls if type(d).__name__ == "EnvDecl"), "-")
        for o in spec.objectives:
            key, why = written_in(o, spec)
            rows.append({"file": shown, "env": env, "objective": o.name,
                         "written_in": key, "why": why})
    if getattr(args, "json", False):
        print(json.dumps({"examples": len(files), "failed": failed, "objectives": rows},
                         indent=2))
    else:
        width = max((len(r["file"]) for r in rows), default=10)
        owidth = max((len(r["objective"]) for r in rows), default=9)
        print(f"objlang demo: {len(files)} example specs checked, {failed} failed\n")
        print(f"{'file':<{width}}  {'objective':<{owidth}}  {'written in':<10}  why")
        for r in rows:
            print(f"{r['file']:<{width}}  {r['objective']:<{owidth}}  {r['written_in']:<10}  "
                  f"{r['why']}")
    return 2 if failed else 0
