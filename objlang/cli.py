"""The ``objlang`` command line (architecture.md: the contract).

Exit status: 0 success, 1 a check that ran and said no (``fmt --check``),
2 bad input (errors printed as ``file:line:col: error: ...``). No traceback
reaches the user for a bad spec.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import ObjlangError


def _print_diags(diags) -> None:
    for d in diags:
        print(d.render(), file=sys.stderr)


def _pick(spec, name: str | None):
    """The objectives a command works on: the named one, or all."""
    objs = spec.objectives
    if name is None:
        return objs
    chosen = [o for o in objs if o.name == name]
    if not chosen:
        from .errors import did_you_mean
        guess = did_you_mean(name, [o.name for o in objs])
        from .errors import Loc
        raise ObjlangError(f"no objective named '{name}'" + (f" ({guess})" if guess else ""),
                           Loc(spec.file, 1, 1),
                           hint="objectives: " + (", ".join(o.name for o in objs) or "none"))
    return chosen


def cmd_check(args) -> int:
    from .expressivity import written_in
    from .load import load

    status, report = 0, []
    for f in args.files:
        entry = {"file": f, "ok": False, "errors": [], "warnings": [], "objectives": []}
        try:
            spec = load(f)
            objs = _pick(spec, args.objective)
        except ObjlangError as e:
            status = 2
            entry["errors"] = [_diag_json(d) for d in e.diagnostics]
            if not args.json:
                _print_diags(e.diagnostics)
        else:
            entry["ok"] = True
            entry["warnings"] = [_diag_json(w) for w in spec.warnings]
            entry["objectives"] = [{"name": o.name, "written_in": written_in(o, spec)[0]}
                                   for o in objs]
            if not args.json:
                _print_diags(spec.warnings)
                names = ", ".join(o.name for o in objs) or "no objectives"
                print(f"ok {f} ({names})")
        report.append(entry)
    if args.json:
        print(json.dumps({"files": report}, indent=2))
    return status


def _diag_json(d) -> dict:
    return {"severity": d.severity, "message": d.message, "hint": d.hint,
            "loc": d.loc.to_json() if d.loc else None}


def cmd_fmt(args) -> int:
    from .load import read_file
    from .syntax import fmt

    status = 0
    for f in args.files:
        spec = read_file(Path(f), f)
        text = fmt(spec)
        original = Path(f).read_text("utf-8")
        if args.check:
            if text != original:
                print(f"{f}: not in canonical form (run `objlang fmt --write {f}`)",
                      file=sys.stderr)
                status = 1
        elif args.write:
            if text != original:
                Path(f).write_text(text, "utf-8")
        else:
            sys.stdout.write(text)
    return status


def cmd_ir(args) -> int:
    from .ir.to_json import spec_json
    from .load import load

    spec = load(args.file)
    _pick(spec, args.objective)
    out = spec_json(spec)
    if args.objective:
        out["decls"] = [d for d in out["decls"]
                        if d["kind"] != "objective" or d["name"] == args.objective]
    print(json.dumps(out, indent=2))
    return 0


def cmd_solve(args) -> int:
    from .finite.solve import solve
    from .load import load

    sol = solve(load(args.file), args.objective)
    if args.json:
        print(json.dumps(sol.to_json(), indent=2))
    else:
        if sol.pareto is not None:
            print(f"objective {sol.objective}: Pareto front of {len(sol.pareto)} vertices")
            for v in sol.pareto:
                print("  (" + ", ".join(f"{x:.10g}" for x in v) + ")")
        else:
            print(f"objective {sol.objective}: optimum {sol.value:.10g}")
            if sol.components is not None:
                print("  components " + ", ".join(f"{x:.10g}" for x in sol.components))
        print(f"  env states {sol.env_states}, product states {sol.product_states}")
        print(f"  solver: {sol.solver}")
    return 0


def cmd_automaton(args) -> int:
    from .automata import automaton_of
    from .automata.export import to_dot, to_hoa, to_svg
    from .load import load

    writers = {".hoa": to_hoa, ".dot": to_dot, ".svg": to_svg}
    out = Path(args.out)
    if out.suffix not in writers:
        raise ObjlangError(f"cannot write an automaton as '{out.suffix or out.name}'",
                           hint="use a .hoa, .dot or .svg file")
    auto = automaton_of(load(args.file), args.formula, kind=args.kind, timeout=args.timeout)
    out.write_text(writers[out.suffix](auto), "utf-8")
    print(f"{auto.name}: {auto.n_states} states, {auto.n_letters} letters over "
          f"{', '.join(auto.props) or 'no props'}, {auto.acceptance} -> {out}")
    return 0


def cmd_export(args) -> int:
    from .finite.export import export_prism
    from .load import load

    model, props = export_prism(load(args.file), args.objective)
    out = Path(args.prism)
    props_path = out.with_suffix(".props")
    out.write_text(model, "utf-8")
    props_path.write_text(props, "utf-8")
    print(f"wrote {out} and {props_path}: {props.strip()}")
    return 0


def cmd_compile(args) -> int:
    from .gym import describe, make

    options = {"ltl_reward": args.ltl_reward, "zeta": args.zeta, "gamma_b": args.gamma_b,
               "flatten": args.flatten or None}
    env = make(args.file, args.objective, allow_import=args.allow_import, **options)
    try:
        out = describe(env)
    finally:
        env.close()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"objective {out['objective']} ({out['formalism']}) on {out['env']}: {out['mode']}")
    print(f"  observation {out['observation_space']}")
    print(f"  action      {out['action_space']}")
    print(f"  reward      {out['reward']}")
    for a in out["automata"]:
        print(f"  automaton   {a['name']} ({a['role']}): {a['states']} states, {a['letters']} "
              f"letters over {', '.join(a['props']) or 'no props'}, {a['acceptance']}"
              + (f", {a['epsilon_moves']} ε-actions" if a["epsilon_moves"] else ""))
    if out["costs"]:
        print(f"  costs       {', '.join(out['costs'])} (info['cost'])")
    return 0


def cmd_express(args) -> int:
    from .expressivity.report import express
    from .load import load

    report = express(load(args.file), args.objective, args.as_key)
    print(json.dumps(report.to_json(), indent=2, ensure_ascii=False) if args.json
          else report.text())
    return 0


def cmd_hasse(args) -> int:
    from .expressivity import hasse

    written, lowest = None, ()
    if args.highlight:
        from .expressivity.report import express
        from .load import load

        report = express(load(args.highlight), args.objective)
        written, lowest = report.written_in, tuple(report.lowest)
    hasse.write(Path(args.out), written, lowest)
    marks = f" ({written} written, lowest {', '.join(lowest)})" if written else ""
    print(f"Hasse diagram of the 17 formalisms{marks} -> {args.out}")
    return 0


def cmd_train(args) -> int:
    from .train import train

    options = {"ltl_reward": args.ltl_reward, "zeta": args.zeta, "num_envs": args.num_envs,
               "gamma": args.gamma, "lr": args.lr, "epsilon": args.epsilon,
               "q_init": args.q_init}
    stem = Path(args.file).stem + (f".{args.objective}" if args.objective else "")
    report = train(args.file, args.objective, steps=args.steps, device=args.device, seed=args.seed,
                   env_id=args.env, out_dir=args.out or Path("runs") / stem, progress=not args.quiet,
                   **{k: v for k, v in options.items() if v is not None})
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    f = report["final"]
    # the first line holds no timing: the README shows it
    print(f"objective {report['objective']} ({report['formalism']}) on {report['env']}: "
          f"{report['trainer']}, {report['steps']} env steps on {report['device']}")
    if isinstance(f["value"], float) and isinstance(f["optimum"], float):
        ratio = f" ({100 * f['ratio']:.1f}%)" if f["ratio"] is not None else ""
        print(f"  exact value of the learned policy {f['value']:.6g}, optimum "
              f"{f['optimum']:.6g}{ratio}")
    for c in f.get("constraints", []):
        print(f"  constraint {c['constraint']}: {c['value']:.6g} "
              f"({'holds' if c['holds'] else 'violated'})")
    if report["steps_to_95"] is not None:
        print(f"  95% of the optimum after {report['steps_to_95']} env steps")
    mc = [f"{k} {f[k]:.4g}" for k in ("return", "success") if isinstance(f[k], float)]
    if mc:
        print(f"  Monte Carlo, one episode per env of a fresh batch: {', '.join(mc)}")
    files = report["files"]
    where = f"; wrote {', '.join(Path(p).name for p in files.values())} in " \
        f"{Path(next(iter(files.values()))).parent}" if files else ""
    print(f"  {report['wall_s']:.1f} s{where}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="objlang",
                                description="A language and compiler for RL objectives.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("check", help="parse and check specs; print ok lines or errors")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--objective", help="the objective to check (default: all)")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")
    c.set_defaults(func=cmd_check)

    f = sub.add_parser("fmt", help="print the canonical form of specs")
    f.add_argument("files", nargs="+", metavar="FILE")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true",
                   help="exit 1 if a file is not in canonical form")
    g.add_argument("--write", "-w", action="store_true", help="rewrite the files in place")
    f.set_defaults(func=cmd_fmt)

    i = sub.add_parser("ir", help="print the checked IR as JSON")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--objective")
    i.add_argument("--json", action="store_true", default=True,
                   help="JSON output (the only form)")
    i.set_defaults(func=cmd_ir)

    so = sub.add_parser("solve", help="the exact optimum of an objective on a finite env")
    so.add_argument("file", metavar="FILE")
    so.add_argument("--objective")
    so.add_argument("--json", action="store_true", help="one JSON object on stdout")
    so.set_defaults(func=cmd_solve)

    au = sub.add_parser("automaton", help="write the automaton of a formula or machine")
    au.add_argument("file", metavar="FILE")
    au.add_argument("--formula", required=True, help="the ltl, ltlf or machine name")
    au.add_argument("--out", required=True, help="PATH.hoa, PATH.dot or PATH.svg")
    au.add_argument("--kind", default="parity", choices=["parity", "buchi", "ldba"],
                    help="automaton of an ltl formula (ltlf: always a DFA); ldba: the "
                         "good-for-MDPs limit-deterministic Büchi automaton with ε-moves")
    au.add_argument("--timeout", type=float, metavar="SECONDS",
                    help="time limit for Spot's translation (default: $OBJLANG_SPOT_TIMEOUT "
                         "or 60; 0: none)")
    au.set_defaults(func=cmd_automaton)

    ex = sub.add_parser("export", help="the env and objective as a PRISM model and property")
    ex.add_argument("file", metavar="FILE")
    ex.add_argument("--objective")
    ex.add_argument("--prism", required=True, metavar="PATH",
                    help="the model file; the properties go to PATH with suffix .props")
    ex.set_defaults(func=cmd_export)

    co = sub.add_parser("compile", help="compile for the spec's env; print what was built")
    co.add_argument("file", metavar="FILE")
    co.add_argument("--objective")
    co.add_argument("--json", action="store_true", help="one JSON object on stdout")
    co.add_argument("--ltl-reward", choices=["zeta-reach", "zeta-acc", "multi-discount",
                                             "parity"], help="the LTL reward scheme")
    co.add_argument("--zeta", type=float, help="ζ of the zeta schemes (default 0.99)")
    co.add_argument("--gamma-b", type=float, help="γ_B of multi-discount (default 0.99)")
    co.add_argument("--flatten", action="store_true", help="a flat one-hot observation")
    co.add_argument("--allow-import", action="store_true",
                    help="allow env ids that name a module to import (runs its code)")
    co.set_defaults(func=cmd_compile)

    xp = sub.add_parser("express", help="which of the 17 formalisms can express an objective")
    xp.add_argument("file", metavar="FILE")
    xp.add_argument("--objective")
    xp.add_argument("--as", dest="as_key", metavar="KEY", choices=["MR", "LAR", "RM"],
                    help="also check on the spec's finite env whether a reward of KEY "
                         "orders the policies as the objective does")
    xp.add_argument("--json", action="store_true", help="one JSON object on stdout")
    xp.set_defaults(func=cmd_express)

    hs = sub.add_parser("hasse", help="draw the Hasse diagram of the 17 formalisms")
    hs.add_argument("--highlight", metavar="FILE",
                    help="mark where this spec's objective is written and its lowest formalisms")
    hs.add_argument("--objective", help="the objective of --highlight FILE")
    hs.add_argument("--out", required=True, metavar="PATH", help="PATH.svg or PATH.png")
    hs.set_defaults(func=cmd_hasse)

    tr = sub.add_parser("train", help="train a policy with the built-in torch trainers")
    tr.add_argument("file", metavar="FILE")
    tr.add_argument("--objective")
    tr.add_argument("--steps", type=int, help="env steps, all envs together "
                                              "(default: the trainer's)")
    tr.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--env", metavar="ID", help="train on this env instead of the spec's")
    tr.add_argument("--out", metavar="DIR", help="where to write metrics.csv, metrics.json, "
                                                  "curve.png, checkpoint.pt (default: "
                                                  "runs/STEM[.OBJECTIVE])")
    tr.add_argument("--json", action="store_true", help="print the report as JSON")
    tr.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    tr.add_argument("--num-envs", type=int, help="envs stepped as one batch")
    tr.add_argument("--gamma", type=float, help="the trainer's discount")
    tr.add_argument("--lr", type=float, help="the trainer's learning rate")
    tr.add_argument("--epsilon", type=float, help="Q-learning's exploration rate")
    tr.add_argument("--q-init", type=float, help="Q-learning's initial values")
    tr.add_argument("--ltl-reward", choices=["zeta-reach", "zeta-acc", "multi-discount",
                                             "parity"], help="the LTL reward scheme")
    tr.add_argument("--zeta", type=float, help="ζ of the zeta schemes (default 0.99)")
    tr.set_defaults(func=cmd_train)

    d = sub.add_parser("demo", help="the README's main job: a short end-to-end run")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ObjlangError as e:
        _print_diags(e.diagnostics)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
