"""objlang solve against Storm on the same problems, side by side.

    python benchmarks/solve.py [--sizes 4 8 16 32 64] [--repeat 3]

For each slippery FrozenLake map of size N x N (random maps of gymnasium's
generate_random_map, seeded) and for Taxi-v4, it builds a spec, solves it with
objlang (from the spec: env extraction, automaton, product, solver) and with Storm
(from the PRISM text `objlang export` writes: model construction and checking),
and prints both times, their ratio and both values. The LTL task is reach-avoid
(`!hole U goal`); Taxi's is the discounted return of its own reward.
"""
from __future__ import annotations

import argparse
import statistics
import time

import objlang
from objlang.finite.export import export_prism
from objlang.finite.solve import solve


def frozenlake_spec(n: int) -> str:
    from gymnasium.envs.toy_text.frozen_lake import generate_random_map

    desc = generate_random_map(size=n, p=0.8, seed=n)
    cells = "".join(desc)
    holes = [i for i, c in enumerate(cells) if c == "H"]
    goal = cells.index("G")
    rows = ", ".join(f'"{r}"' for r in desc)
    return (f'env "FrozenLake-v1" {{ desc: [{rows}], is_slippery: true }}\n'
            f"prop goal = obs == {goal}\nprop hole = obs in {{{', '.join(map(str, holes))}}}\n"
            "ltl safe = !hole U goal\nobjective o { maximize P[safe] }\n")


TAXI = ('env "Taxi-v4"\ndiscount 0.99\nreward r = env_reward\n'
        "objective o { maximize E[G(r)] }\n")


def storm_time(model: str, prop: str) -> tuple[float, float]:
    """Storm from PRISM text to value, with the settings the tests use
    (objlang/finite/prism.py: sound, LP min/max solver, precision 1e-12)."""
    from objlang.finite.prism import solve_prism_with_storm

    t = time.perf_counter()
    value = solve_prism_with_storm(model, prop)
    return time.perf_counter() - t, value


def ours_time(text: str) -> tuple[float, float, int]:
    t = time.perf_counter()
    sol = solve(objlang.loads(text))
    return time.perf_counter() - t, sol.value, sol.product_states


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cases = [(f"FrozenLake {n}x{n}", frozenlake_spec(n)) for n in args.sizes]
    cases.append(("Taxi-v4", TAXI))
    print(f"{'problem':<18} {'states':>7} {'objlang s':>10} {'storm s':>10} {'ratio':>6} "
          f"{'objlang value':>16} {'storm value':>16}")
    for name, text in cases:
        model, prop = export_prism(objlang.loads(text))
        ours = [ours_time(text) for _ in range(args.repeat)]
        theirs = [storm_time(model, prop) for _ in range(args.repeat)]
        t_o = statistics.median(x[0] for x in ours)
        t_s = statistics.median(x[0] for x in theirs)
        print(f"{name:<18} {ours[0][2]:>7} {t_o:>10.4f} {t_s:>10.4f} {t_o / t_s:>6.2f} "
              f"{ours[0][1]:>16.10f} {theirs[0][1]:>16.10f}", flush=True)


if __name__ == "__main__":
    main()
