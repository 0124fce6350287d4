"""``objlang demo``: the README's main job.

Check every bundled example and print, for each, its objectives and the
formalism each is written in as far as its syntax shows; then compile one
example (FrozenLake, reach the goal without falling into a hole) into a
gymnasium env and run a few episodes with a random policy, printing the
automaton states it walks and the rewards of the ζ-reach scheme; last, a short
expressivity report of that file's constrained objective.
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
    episodes = run_episodes(root / "frozenlake" / "safe_goal.obj", "reach")
    from .expressivity.report import express

    report = express(load(root / "frozenlake" / "safe_goal.obj"), "fast")
    if getattr(args, "json", False):
        print(json.dumps({"examples": len(files), "failed": failed, "objectives": rows,
                          "episodes": episodes, "express": report.to_json()}, indent=2,
                         ensure_ascii=False))
    else:
        width = max((len(r["file"]) for r in rows), default=10)
        owidth = max((len(r["objective"]) for r in rows), default=9)
        print(f"objlang demo: {len(files)} example specs checked, {failed} failed\n")
        print(f"{'file':<{width}}  {'objective':<{owidth}}  {'written in':<10}  why")
        for r in rows:
            print(f"{r['file']:<{width}}  {r['objective']:<{owidth}}  {r['written_in']:<10}  "
                  f"{r['why']}")
        print("\ncompiled examples/frozenlake/safe_goal.obj (objective reach) into a gymnasium "
              "env; random policy:")
        for k, ep in enumerate(episodes):
            print(f"  episode {k}: {ep['steps']:>3} steps, automaton states "
                  f"{' '.join(map(str, ep['automaton']))}, return {ep['return']:g}, "
                  f"{'accepted' if ep['accepted'] else 'rejected' if ep['sink'] else 'cut'}")
        print("\nexpressivity of examples/frozenlake/safe_goal.obj (objective fast; "
              "objlang express gives the reasons):")
        for line in report.summary():
            print("  " + line)
    return 2 if failed else 0


def run_episodes(path: Path, objective: str, n: int = 3, seed: int = 0) -> list[dict]:
    """Random-policy episodes of a compiled example: the automaton states it walked
    (repeats collapsed), the return, and whether the formula was accepted."""
    from .gym import make

    env = make(path, objective)
    env.action_space.seed(seed)
    out = []
    for k in range(n):
        obs, info = env.reset(seed=seed + k)
        states, total, steps = [int(obs["automaton"][0])], 0.0, 0
        done = False
        while not done:
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            q = int(obs["automaton"][0])
            if q != states[-1]:
                states.append(q)
            total += r
            steps += 1
            done = term or trunc
        out.append({"steps": steps, "automaton": states, "return": total,
                    "accepted": info["objlang"]["accepting"], "sink": info["objlang"]["sink"]})
    env.close()
    return out
