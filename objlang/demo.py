"""``objlang demo``: the README's main job, end to end.

First every bundled example is checked and the formalisms its objectives are
written in are counted; then one office-world task (fetch a coffee and deliver it
to the office without touching a decoration: a reward machine) is compiled into a
batched torch module and trained on CPU with tabular Q-learning and counterfactual
experience; last, the learned policy's exact value on the product MDP is printed
next to the exact optimum that ``objlang solve`` computes.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .errors import ObjlangError
from .expressivity import written_in
from .load import load
from .resources import data_dir

#: the trained task and its budget (the demo's run takes seconds on one CPU core)
DEMO_TASK = Path("officeworld") / "deliver_coffee.obj"
DEMO_STEPS = 60_000


def examples_dir() -> Path:
    """The bundled examples (``examples/`` of the checkout)."""
    return data_dir("grammar").parent / "examples"


def check_examples(root: Path) -> tuple[int, int, list[dict]]:
    """(files, failed, one row per objective) of the bundled examples; errors printed."""
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
    return len(files), failed, rows


def run_demo(args) -> int:
    from .train import EVAL_EPISODES, train

    as_json = getattr(args, "json", False)
    root = examples_dir()
    n_files, failed, rows = check_examples(root)
    counts = Counter(r["written_in"] for r in rows)
    task = root / DEMO_TASK
    shown = str(task.relative_to(root.parent))
    if not as_json:
        print(f"objlang demo: {n_files} example specs checked, {failed} failed; their "
              f"{len(rows)} objectives are written in {len(counts) - ('pareto' in counts)} of "
              f"the 17 formalisms" + (" (and Pareto orders, a partial order none of them "
                                      "expresses)" if "pareto" in counts else "") + ":")
        print("  " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(),
                                                             key=lambda kv: (-kv[1], kv[0]))))
        print(f"\ntraining {shown} on CPU (batched torch env and objective; tabular "
              "Q-learning with counterfactual experience over the machine's states):")
    report = train(task, steps=DEMO_STEPS, device="cpu", seed=0, progress=not as_json)
    if as_json:
        print(json.dumps({"examples": n_files, "failed": failed, "objectives": rows,
                          "train": report}, indent=2, ensure_ascii=False))
        return 2 if failed else 0
    f = report["final"]
    print(f"  objective {report['objective']} ({report['formalism']}) on {report['env']}: "
          f"{report['steps']} env steps in {report['train_s']:.1f} s")
    print(f"  exact value of the learned policy {f['value']:.6f}, optimum {f['optimum']:.6f} "
          f"(objlang solve): {100 * f['ratio']:.1f}%")
    if report["steps_to_95"] is not None:
        print(f"  95% of the optimum reached after {report['steps_to_95']} env steps")
    print(f"  Monte Carlo, {EVAL_EPISODES} episodes of the learned policy: mean return "
          f"{f['return']:.2f} (1 per delivery)")
    return 2 if failed else 0
