"""PRISM export of finite MDPs, and a Storm helper used as an independent oracle.

The exported model is one PRISM ``mdp`` module with a single variable
``s : [0..S-1]`` (state ``i`` of the FiniteMDP is ``s=i``), one command per
(state, action) labelled with the (sanitised) action name::

    [right] s=3 -> 0.5:(s'=4) + 0.5:(s'=5);

Labels become ``label "goal" = s=1|s=5;`` and reward structures become
PRISM *transition rewards* ``[right] s=3 : 0.25;``. PRISM rewards belong to a
(state, action), not to a (state, action, next state), so the export writes
the expected reward of each (s, a), the row sums of ``P .* R``: expected
cumulative, discounted and long-run average values are unchanged.

Initial distribution: when ``init`` is a single state ``k``, the variable
starts there (``init k``). Otherwise a fresh state ``s=S`` is added, whose
only command ``[init_] s=S -> p0:(s'=i0) + ...;`` draws the real initial
state (no label holds there, no reward is earned there). Values at that
state are the init-weighted averages of the real values for reachability
(of a label), long-run average and total rewards; a discounted value there is
``gamma`` times the init-weighted value, and path formulas see one extra
first step (``X``/bounded operators shift by one). :func:`prism_init_state`
says which PRISM state is initial and whether it is the fresh one.
"""
from __future__ import annotations

import os
import re
import tempfile

import numpy as np
import scipy.sparse as sp

from .mec import expected_reward

__all__ = ["to_prism", "prism_init_state", "prism_action_names", "solve_prism_with_storm",
           "storm_values", "storm_environment", "INIT_ACTION"]

INIT_ACTION = "init_"

_KEYWORDS = frozenset("""
A bool clock const ctmc ctmdp C double dtmc E endinit endinvariant endmodule endrewards
endsystem false formula filter func F global G init invariant I int label max mdp min
module X nondeterministic Pmax Pmin P probabilistic prob pta rate rewards Rmax Rmin R S
stochastic system true U W L observable observables endobservables pomdp popta smg player
endplayer coalition s deadlock
""".split())
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _sanitize(name: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]", "_", str(name)) or "a"
    if out[0].isdigit():
        out = "a_" + out
    if out in _KEYWORDS:
        out = out + "_"
    return out


def prism_action_names(mdp) -> list[str]:
    """The PRISM command label of each action: sanitised, unique, never ``init_``."""
    used = {INIT_ACTION}
    names = []
    for a, raw in enumerate(mdp.action_names):
        base = _sanitize(raw)
        name = base
        k = 1
        while name in used:
            name = f"{base}_{k}"
            k += 1
        used.add(name)
        names.append(name)
    return names


def prism_init_state(mdp) -> tuple[int, bool]:
    """``(state, fresh)``: the PRISM initial value of ``s``, and whether it is the added state ``S``."""
    init = np.asarray(mdp.init, dtype=float)
    nz = np.flatnonzero(init > 0)
    if nz.size == 1 and abs(init[nz[0]] - 1.0) < 1e-12:
        return int(nz[0]), False
    return mdp.n_states, True


def _num(x: float) -> str:
    return np.format_float_positional(float(x), trim="-")


def _check_name(kind: str, name: str) -> str:
    if not _IDENT.match(name) or name in _KEYWORDS:
        raise ValueError(f"{kind} name {name!r} is not a PRISM identifier")
    return name


def _state_set(states: np.ndarray) -> str:
    idx = np.flatnonzero(states)
    if idx.size == 0:
        return "false"
    return "|".join(f"s={i}" for i in idx)


def to_prism(mdp, labels: dict | None = None, rewards: dict | None = None) -> str:
    """The PRISM ``mdp`` text of ``mdp`` (see the module docstring).

    Args:
        mdp: a FiniteMDP.
        labels: name -> ``(S,)`` bool array (names must be PRISM identifiers).
        rewards: name -> ``(S * A, S)`` sparse transition rewards (or ``(S, A)``
            expected rewards); exported as expected (s, a) rewards.
    """
    S, A = mdp.n_states, mdp.n_actions
    labels = labels or {}
    rewards = rewards or {}
    acts = prism_action_names(mdp)
    init_state, fresh = prism_init_state(mdp)
    top = S if fresh else S - 1
    P = sp.csr_matrix(mdp.P)
    P.sort_indices()
    lines = ["mdp", "", f"// {mdp.name}: {S} states, {A} actions", "module M",
             f"  s : [0..{max(top, 0)}] init {init_state};"]
    indptr, indices, data = P.indptr, P.indices, P.data
    for row in range(S * A):
        s, a = divmod(row, A)
        lo, hi = indptr[row], indptr[row + 1]
        succ = [f"{_num(p)}:(s'={t})" for t, p in zip(indices[lo:hi], data[lo:hi]) if p > 0]
        if not succ:
            continue
        lines.append(f"  [{acts[a]}] s={s} -> {' + '.join(succ)};")
    if fresh:
        init = np.asarray(mdp.init, dtype=float)
        succ = [f"{_num(init[t])}:(s'={t})" for t in np.flatnonzero(init > 0)]
        lines.append(f"  [{INIT_ACTION}] s={S} -> {' + '.join(succ)};")
    lines.append("endmodule")
    lines.append("")
    for name, mask in labels.items():
        _check_name("label", name)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (S,):
            raise ValueError(f"label {name!r} must have shape {(S,)}")
        lines.append(f'label "{name}" = {_state_set(mask)};')
    for name, R in rewards.items():
        _check_name("reward", name)
        r = expected_reward(mdp, R)
        lines.append("")
        lines.append(f'rewards "{name}"')
        for s, a in zip(*np.nonzero(r)):
            lines.append(f"  [{acts[a]}] s={s} : {_num(r[s, a])};")
        lines.append("endrewards")
    lines.append("")
    return "\n".join(lines)


def storm_environment():
    """Storm settings (stormpy 2.0) under which Storm agrees with our solvers.

    Found by experiment on 300 random MDPs (<= 40 states):

    * The default environment (sound, topological) stops at a relative
      precision near 1e-6: Pmin off by up to ~5e-7, discounted values by ~3e-6.
    * Policy iteration (float) loops forever on some models (Pmax of one
      random MDP, LRA of another); the exact mode (rational model, Z3 LP)
      failed ("unbounded model") or gave wrong LRA values on some models and
      does not support discounting.
    * What works, used here: ``environments.sound()`` with the min/max method
      linear programming and precision 1e-12 for the min/max and the native
      linear solver. Largest differences to our solvers over 300 random MDPs:
      Pmax/Pmin 1e-14, discounted total reward 1e-11, long-run average 2.4e-7
      (stormpy exposes no precision for Storm's LRA solver, which stays at a
      relative ~1e-6: compare LRA values with rewards scaled to [0, 1], or
      with a tolerance relative to ``max(1, |value|)``).
    * Multi-objective queries (``multi(...)``, the export of chance
      constraints) use Storm's Pareto-curve approximation, whose default
      absolute precision is 1e-4; set to 1e-12 here, it agrees with our LPs
      within 1e-9 on the tests' models (on slippery FrozenLake 8x8 its value
      iteration then did not terminate; with 1e-8 it agreed within 1e-8).
    """
    import stormpy
    from stormpy import environments as E

    env = E.sound()
    env.solver().min_max().method = E.MinMaxMethod.LINEAR_PROGRAMMING
    env.solver().min_max().precision = stormpy.Rational(1e-12)
    env.solver().native().precision = stormpy.Rational(1e-12)
    env.modelchecker().multi().precision = stormpy.Rational(1e-12)
    return env


def _storm_build(prism_text: str, properties: list[str]):
    import stormpy

    fd, path = tempfile.mkstemp(suffix=".prism", prefix="objlang_")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(prism_text)
        prog = stormpy.parse_prism_program(path)
    finally:
        os.unlink(path)
    props = stormpy.parse_properties(";".join(properties), prog)
    opts = stormpy.BuilderOptions([p.get_raw_formula() for p in props])
    opts.set_build_state_valuations()
    model = stormpy.build_model(prog, options=opts)
    return prog, props, model


def solve_prism_with_storm(prism_text: str, prop: str) -> float | None:
    """Storm's value of one property at the initial state of a PRISM text (for tests),
    checked under :func:`storm_environment`; None when Storm answers with a truth
    value instead (a ``multi(...)`` query whose constraints no scheduler meets)."""
    import stormpy

    _, props, model = _storm_build(prism_text, [prop])
    res = stormpy.model_checking(model, props[0], environment=storm_environment())
    if res.is_qualitative():
        return None
    return float(res.get_value(model.initial_states[0]))


def storm_values(prism_text: str, properties: list[str], n_states: int | None = None):
    """Storm's values of several properties at every state (model built once).

    Returns one ``(n,)`` array per property indexed by the PRISM value of
    ``s`` (``n = n_states`` or the largest value + 1); states Storm did not
    build (unreachable from the initial state) are NaN.
    """
    import stormpy

    prog, props, model = _storm_build(prism_text, properties)
    var = prog.modules[0].integer_variables[0].expression_variable
    svals = np.asarray(model.state_valuations.get_int64_values(var), dtype=np.int64)
    n = int(svals.max()) + 1 if n_states is None else n_states
    env = storm_environment()
    out = []
    for p in props:
        res = stormpy.model_checking(model, p, environment=env)
        v = np.full(n, np.nan)
        vals = np.array([res.get_value(i) for i in range(model.nr_states)], dtype=float)
        keep = svals < n
        v[svals[keep]] = vals[keep]
        out.append(v)
    return out
