"""The occupancy solvers of objlang.finite.lp: policy iteration (the default
without constraints) against the occupancy-measure LPs (``method="lp"``).

    python benchmarks/occupancy.py [--sizes 4 8 16 32 64 128 256] [--lp-budget 60]

Problems: Taxi-v4 with the rewards of examples/taxi/pareto.obj (``delivered`` =
``[env_reward == 20]``, ``fuel`` = ``-[action <= 3]``, gamma 0.95), and slippery
FrozenLake N x N (gymnasium's ``generate_random_map(size=N, p=0.8, seed=N)``, as in
benchmarks/solve.py; ``goal`` = the env's reward, ``fall`` = -1 on entering a hole,
gamma 0.999). Objective forms, with (a, b) = (delivered, fuel) or (goal, fall):

* ``lex``: ``lex(E[G(b)], E[G(a)])`` (FrozenLake: fall as little as possible, then reach
  the goal; Taxi: burn as little fuel as possible, then deliver);
* ``pareto``: the Pareto vertices of ``(E[G(a)], E[G(b)])``;
* ``chebyshev``: ``max min_i (E[G(r_i)] - ideal_i)`` (weights 1, ideal reference);
* ``constrained``: ``max E[G(a)]`` subject to ``E[G(b)] >= c``, c halfway between the
  best ``E[G(b)]`` and its value under the ``a``-optimal policy. An LP in both columns:
  "LP" is HiGHS's own choice of method (dual simplex), the first try of lp.py before,
  "new" is ``lp.constrained`` now (primal simplex first).

"LP" is ``method="lp"``, "new" the default ``method="auto"`` (policy iteration, no
LP; for ``constrained`` see above). "states" counts the reachable states. A form's LP
column is skipped (``-``) at the sizes after one where its LP took more than a quarter
of ``--lp-budget`` seconds (the next size has 4x the states). "max |diff|" is the
largest difference between the two answers: of the objective values (lex, chebyshev,
constrained; a lex LP holds the earlier components within 1e-9 relative of their
optima and may spend that slack on later ones), or, for Pareto fronts, of
``max_v w . v`` over the weights of every vertex of either front (the fronts as upper
value functions; the vertex counts are shown as new/LP).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import scipy.sparse as sp

import objlang
from objlang.finite import lp
from objlang.finite.extract import finite_env

FORMS = ("lex", "pareto", "chebyshev", "constrained")


def frozenlake(n: int):
    """(mdp, gamma, goal, fall) for the slippery N x N map of benchmarks/solve.py."""
    from gymnasium.envs.toy_text.frozen_lake import generate_random_map

    desc = generate_random_map(size=n, p=0.8, seed=n)
    rows = ", ".join(f'"{r}"' for r in desc)
    mdp = finite_env(objlang.loads(f'env "FrozenLake-v1" {{ desc: [{rows}], '
                                   f'is_slippery: true }}\n'))
    hole = np.array([c == "H" for c in "".join(desc)])[mdp.obs]
    P = mdp.P.tocoo()
    entering = hole[P.col] & ~mdp.terminal[P.row // mdp.n_actions]
    fall = -sp.csr_matrix((entering.astype(float), (P.row, P.col)), shape=P.shape)
    return mdp, 0.999, mdp.env_reward, fall


def taxi():
    """(mdp, gamma, delivered, fuel) of examples/taxi/pareto.obj."""
    mdp = finite_env(objlang.loads('env "Taxi-v4"\n'))
    E = mdp.env_reward.tocoo()
    delivered = sp.csr_matrix(((E.data == 20).astype(float), (E.row, E.col)), shape=E.shape)
    fuel = np.zeros((mdp.n_states, mdp.n_actions))
    fuel[:, :4] = -1.0
    return mdp, 0.95, delivered, fuel


def front_gap(a: list, b: list) -> float:
    """max over the weights of both fronts' vertices of |max_v w.v (a) - (b)|."""
    A = np.array([v.values for v in a])
    B = np.array([v.values for v in b])
    W = np.array([v.weights for v in a + b])
    return float(np.abs((W @ A.T).max(axis=1) - (W @ B.T).max(axis=1)).max())


def run(form: str, mdp, gamma, a, b, method: str, bound: float):
    if form == "lex":
        return lp.lexicographic(mdp, gamma, [b, a], method=method).values
    if form == "pareto":
        return lp.pareto_front(mdp, gamma, [a, b], method=method)
    if form == "chebyshev":
        res = lp.scalarised(mdp, gamma, [a, b], [1.0, 1.0], "chebyshev", "ideal",
                            method=method)
        return np.r_[res.value, res.values]
    if method == "lp":
        return constrained_before(mdp, gamma, a, b, bound)
    res = lp.constrained(mdp, gamma, a, [(b, ">=", bound)])
    return np.r_[res.value, res.constraint_values]


def constrained_before(mdp, gamma, a, b, bound: float) -> np.ndarray:
    """The constrained LP as lp.constrained solved it before: HiGHS's own choice
    of method (dual simplex here) first, tolerances 1e-10."""
    from scipy.optimize import linprog

    occ = lp.occupancy_lp(mdp, gamma)
    cons = lp._constraints(occ, [(b, ">=", bound)])
    A_ub, b_ub, A_eq, b_eq = lp._assemble(occ, cons)
    res = linprog(-occ.reward(a), A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                  bounds=(0, None), method="highs", options=lp._TIGHT)
    assert res.status == 0, res.message
    return np.r_[occ.reward(a) @ res.x, cons[0].r @ res.x]


def constraint_bound(mdp, gamma, a, b) -> float:
    """Halfway between the best E[G(b)] and E[G(b)] under the a-optimal policy."""
    best_b = lp.scalarised(mdp, gamma, [b], [1.0]).value
    under_a = lp.lexicographic(mdp, gamma, [a, b]).values[1]
    return 0.5 * (best_b + under_a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128, 256])
    ap.add_argument("--lp-budget", type=float, default=60.0,
                    help="skip a form's LP at the next size when it would take longer (s)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    cases = [("Taxi-v4", taxi)] + [(f"FrozenLake {n}x{n}", lambda n=n: frozenlake(n))
                                   for n in args.sizes]
    print(f"\n{'problem':<18} {'states':>7} {'form':<12} {'LP s':>8} {'new s':>8} "
          f"{'speed-up':>8} {'max |diff|':>10}  notes")
    slow: set[str] = set()
    for name, build in cases:
        mdp, gamma, a, b = build()
        bound = constraint_bound(mdp, gamma, a, b)
        states = len(lp.reachable_states(mdp))
        for form in FORMS:
            t_new = t_lp = diff = None
            if form == "constrained" and form in slow:  # an LP in both columns
                print(f"{name:<18} {states:>7} {form:<12} {'-':>8} {'-':>8} {'-':>8} "
                      f"{'-':>10}  LPs skipped", flush=True)
                continue
            t = time.perf_counter()
            new = run(form, mdp, gamma, a, b, "auto", bound)
            t_new = time.perf_counter() - t
            notes = f"{len(new)} vertices" if form == "pareto" else ""
            if form in slow:
                notes += (", " if notes else "") + "LP skipped"
            else:
                t = time.perf_counter()
                old = run(form, mdp, gamma, a, b, "lp", bound)
                t_lp = time.perf_counter() - t
                if max(t_lp, t_new if form == "constrained" else 0.0) > args.lp_budget / 4:
                    slow.add(form)
                if form == "pareto":
                    diff = front_gap(new, old)
                    notes = f"{len(new)}/{len(old)} vertices"
                else:
                    diff = float(np.abs(np.asarray(new) - np.asarray(old)).max())
            lp_s = "-" if t_lp is None else f"{t_lp:.2f}"
            ratio = "-" if t_lp is None else f"{t_lp / t_new:.1f}x"
            gap = "-" if diff is None else f"{diff:.1e}"
            print(f"{name:<18} {states:>7} {form:<12} {lp_s:>8} {t_new:>8.2f} {ratio:>8} "
                  f"{gap:>10}  {notes}", flush=True)


if __name__ == "__main__":
    main()
