"""Semantic expressivity checks on a finite env: can a reward of formalism KEY
(``MR``, ``LAR`` or ``RM``) order the policies exactly as the task does?

What a spec means is the order it induces over stationary policies (language.md
§6). The check takes a set of policies of the spec's finite env -- every
deterministic stationary policy when there are at most ``max_policies``
(choices at the reachable non-terminal states; elsewhere action 0) and the 50/50
mixture of every two of them that differ at one state (at most ``max_policies``
of those), else ``SAMPLE`` of both kinds (random deterministic policies, each
with a partner differing at one state, and their mixtures); plus ``N_RANDOM``
random stochastic ones -- and sorts them by the task's exact values
(:func:`objlang.finite.evaluate.evaluation`).

For a fixed policy π, every candidate reward's value is linear in the reward's
parameters R: ``V_π = d_π · R`` with d_π

* ``MR``: the discounted occupancy of (obs, action, next) (``Σ_t γ^t Pr[...]``),
  R a Markov reward of the transition;
* ``LAR``: the long-run (Cesàro) frequency of (obs, action, next), from the
  recurrent classes of π's chain (:func:`objlang.finite.average.limit_distribution`);
* ``RM``: the discounted occupancy of (machine state, obs, action, next) on the
  product with a machine of the file (:func:`objlang.finite.solve.build_product`):
  the machine's states and guards are the structure, its written rewards are
  ignored, and R is any Markov reward per machine state -- the most general
  reward machine with that structure.

"Same order" is then an LP feasibility problem: ``(d_π - d_π') · R >= g`` for each
strict preference π ≻ π' between consecutive tie classes (g > 0 the task's own gap
relative to its range: R scales, so any positive margins give the same
feasibility), ``(d_π - d_π') · R = 0`` inside each tie class. Infeasible: the
verdict is ``no``, with Farkas multipliers (a vertex of the alternative system
``Σ y_k row_k + Σ z_m tie_m = 0, y >= 0, Σ y = 1``): the policies and preferences
that no reward of the formalism can hold at once -- a proof, even when the
policies were a sample. Feasible: the smallest (L1) reward is refined -- probe
policies it orders wrongly (fresh ones, and those it nearly ties, where a slightly
wrong reward errs) join the set and the LP is solved again, at most ``ROUNDS``
times -- then printed as an objlang spec, parsed again, and evaluated on fresh
held-out policies: ``yes`` when it orders them as the task does, ``unknown`` when
it does not or the numbers are borderline.

MR and RM use the spec's discount (the objective's, else the file's); a spec
without one is checked at each of ``DEFAULT_DISCOUNTS`` (``no`` only if every one
says no).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym

__all__ = ["check", "KEYS", "DEFAULT_DISCOUNTS"]

KEYS = ("MR", "LAR", "RM")
#: the discounts MR and RM are checked at when the spec declares none
DEFAULT_DISCOUNTS = (0.5, 0.9, 0.99)
#: policies (deterministic and mixtures) checked when not every deterministic one is
SAMPLE = 600
#: random stochastic policies added to the checked set
N_RANDOM = 16
#: fresh policies a printed witness must order as the task does; also the size of each
#: refinement probe (see _probe) ...
N_HELD_OUT = 32
#: ... half of which are those a fitted reward nearly ties among this many fresh ones
POOL = 512
#: refinement rounds: probe policies a fitted reward orders wrongly join the set
ROUNDS = 5
#: relative gap under which two task values are a tie
TIE = 1e-9
#: relative gap under which two values of a printed witness are a tie
WITNESS_TIE = 1e-8
#: a witness separating a preference by less (relative to the occupancy difference and
#: the reward's size) is borderline
MIN_SEPARATION = 1e-9
#: largest residual of a Farkas combination (normalised rows, largest multiplier 1)
#: that proves infeasibility
MAX_RESIDUAL = 1e-8

_FORMALISM = {"MR": "Markov reward", "LAR": "limit-average reward",
              "RM": "reward machine"}


# ---- policies --------------------------------------------------------------------------

@dataclass
class _Policies:
    """The checked policies: ``(N, S, A)`` matrices, their task values ``(N, k)``
    (sign-adjusted: larger is better; k > 1 for lex) and error bounds."""

    pis: np.ndarray
    values: np.ndarray
    bounds: np.ndarray
    kinds: list
    sign: float = 1.0

    def add(self, pis, values, bounds, kind: str) -> None:
        self.pis = np.concatenate([self.pis, pis])
        self.values = np.concatenate([self.values, values])
        self.bounds = np.concatenate([self.bounds, bounds])
        self.kinds += [kind] * len(pis)

    def subset(self, idx: np.ndarray) -> "_Policies":
        return _Policies(self.pis[idx], self.values[idx], self.bounds[idx],
                         [self.kinds[i] for i in idx], self.sign)


def _decision_states(mdp) -> np.ndarray:
    """States where the choice can matter: reachable and not an absorbing copy."""
    from ..finite.lp import reachable_states

    states = reachable_states(mdp)
    return states[~mdp.terminal[states]]


def _deterministic(mdp, D, choices: np.ndarray) -> np.ndarray:
    """``(N, S, A)`` policies taking ``choices[:, k]`` at state ``D[k]``, action 0 elsewhere."""
    pis = np.zeros((len(choices), mdp.n_states, mdp.n_actions))
    pis[:, :, 0] = 1.0
    pis[:, D, :] = 0.0
    rows = np.repeat(np.arange(len(choices)), len(D))
    pis[rows, np.tile(D, len(choices)), choices.reshape(-1)] = 1.0
    return pis


def _random(mdp, D, rng, count: int) -> np.ndarray:
    """Random stochastic policies: Dirichlet(1) rows at the decision states."""
    pis = _deterministic(mdp, D, np.zeros((count, len(D)), np.int64))
    pis[:, D, :] = rng.dirichlet(np.ones(mdp.n_actions), size=(count, len(D)))
    return pis


def _sampled(mdp, D, rng, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` random deterministic policies and a partner of each that differs at
    one state (``2 * size`` in all), and the 50/50 mixtures of the pairs."""
    A, k = mdp.n_actions, len(D)
    choices = rng.integers(A, size=(size, k))
    rows, s = np.arange(size), rng.integers(k, size=size)
    partner = choices.copy()
    partner[rows, s] = (choices[rows, s] + rng.integers(1, A, size=size)) % A
    det = _deterministic(mdp, D, np.concatenate([choices, partner]))
    return det, 0.5 * (det[:size] + det[size:])


def _policy_set(mdp, D, rng, max_policies: int) -> tuple[np.ndarray, list, bool]:
    """Deterministic policies (all, or a sample), 50/50 mixtures of pairs that differ
    at one state, random ones; and whether the deterministic ones are all of them."""
    A, k = mdp.n_actions, len(D)
    exhaustive = A ** k <= max_policies
    if k == 0:  # one policy: nothing to choose
        det, mixed = _deterministic(mdp, D, np.zeros((1, 0), np.int64)), np.zeros((0,) + (
            mdp.n_states, A))
    elif exhaustive:
        choices = np.indices((A,) * k).reshape(k, -1).T
        # partners: each policy with one state's action raised (mixed-radix index)
        radix = A ** np.arange(k - 1, -1, -1)
        i, s, b = np.nonzero(np.arange(A)[None, None, :] > choices[:, :, None])
        pairs = np.stack([i, i + (b - choices[i, s]) * radix[s]], axis=1)
        if len(pairs) > max_policies:
            pairs = pairs[rng.choice(len(pairs), max_policies, replace=False)]
        det = _deterministic(mdp, D, choices)
        mixed = 0.5 * (det[pairs[:, 0]] + det[pairs[:, 1]])
    else:
        det, mixed = _sampled(mdp, D, rng, max(1, min(max_policies, SAMPLE) // 3))
    rand = _random(mdp, D, rng, N_RANDOM)
    kinds = ["deterministic"] * len(det) + ["mixture"] * len(mixed) + ["random"] * len(rand)
    return np.concatenate([det, mixed, rand]), kinds, exhaustive


def _fresh(mdp, D, rng, count: int) -> np.ndarray:
    """``count`` fresh policies: random stochastic ones, and a sixth as many random
    deterministic pairs differing at one state with their mixtures."""
    pairs = count // 6 if len(D) and mdp.n_actions > 1 else 0
    parts = [_random(mdp, D, rng, count - 3 * pairs)]
    if pairs:
        parts += list(_sampled(mdp, D, rng, pairs))
    return np.concatenate(parts)


def _probe(space, R: np.ndarray, gamma, D, rng) -> np.ndarray:
    """Policies to refine a fitted reward on: half fresh ones, half those it nearly
    ties among ``POOL`` fresh ones (adjacent in its order, smallest gaps first) --
    where a slightly wrong reward misorders them."""
    pool = _fresh(space.mdp, D, rng, POOL)
    value = space.features(pool, gamma) @ R
    rank = np.argsort(value, kind="stable")
    gaps = np.diff(value[rank])
    # pairs with equal occupancy (identical policies on the visited states) teach nothing
    close = np.flatnonzero(gaps > 1e-12 * max(1.0, float(np.abs(value).max(initial=0.0))))
    close = close[np.argsort(gaps[close], kind="stable")][:N_HELD_OUT // 4]
    near = np.unique(np.concatenate([rank[close], rank[close + 1]]))
    return np.concatenate([pool[near], _fresh(space.mdp, D, rng, N_HELD_OUT - len(near))])


def _task_values(spec, obj, pis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The task's value of each policy (``(N, k)``, larger is better) and error bounds."""
    from ..finite.evaluate import evaluation

    sign = 1.0 if obj.goal.sense == "maximize" else -1.0
    values, bounds = [], []
    for pi in pis:
        e = evaluation(spec, pi, obj.name)
        values.append(sign * np.atleast_1d(np.asarray(e.value, float)))
        b = e.error_bound if isinstance(e.error_bound, list) else [e.error_bound]
        bounds.append([np.inf if x is None else x for x in b])
    return np.array(values), np.array(bounds, float)


def _compare(values, bounds, i: int, j: int, tol: np.ndarray):
    """+1 (i better), -1, 0 (tie) or None (the error bounds leave it open),
    lexicographically over the components."""
    for c in range(values.shape[1]):
        gap = values[i, c] - values[j, c]
        slack = bounds[i, c] + bounds[j, c]
        if abs(gap) > tol[c] + slack:
            return 1 if gap > 0 else -1
        if slack > tol[c]:
            return None
    return 0


def _tolerance(values: np.ndarray, rel: float) -> np.ndarray:
    return rel * np.maximum(1.0, np.abs(values).max(axis=0, initial=0.0))


@dataclass
class _Order:
    """The task's order as LP rows: strict pairs (better, worse), the task's gap of
    each (in the deciding component, as a fraction of that component's range), tie
    pairs, and whether an open comparison left a gap unconstrained."""

    strict: list
    gaps: list
    ties: list
    borderline: bool


def _order(pol: _Policies) -> _Order:
    vals, bounds = pol.values, pol.bounds
    tol = _tolerance(vals, TIE)
    order = np.lexsort(-vals.T[::-1])  # best first, lexicographically
    groups: list[list[int]] = []
    for p in order:
        if groups and _compare(vals, bounds, groups[-1][0], p, tol) == 0:
            groups[-1].append(p)
        else:
            groups.append([p])
    ties = [(g[0], m) for g in groups for m in g[1:]]
    span = np.maximum(vals.max(axis=0) - vals.min(axis=0), tol)
    strict, gaps, borderline = [], [], False
    for k, g in enumerate(groups[:-1]):
        # the next class this one is surely better than (open comparisons skipped)
        for h in groups[k + 1:]:
            c = _compare(vals, bounds, g[0], h[0], tol)
            if c == 1:
                diff = vals[g[0]] - vals[h[0]]
                first = int(np.flatnonzero(np.abs(diff) > tol)[0])
                strict.append((g[0], h[0]))
                gaps.append(diff[first] / span[first])
                break
            borderline = True
    return _Order(strict, gaps, ties, borderline)


# ---- the candidate formalism: parameters and occupancies -------------------------------

@dataclass
class _Space:
    """The rewards of formalism ``key``: one parameter per ``params`` entry
    ((machine state or None, obs, action, next obs)); ``param[e]`` is the parameter
    of entry e of ``model.P.data`` (-1 where every reward is 0: out of a terminal
    state); ``lift`` maps the product's states to the env's (None: the env)."""

    key: str
    mdp: object
    model: object
    param: np.ndarray
    params: list
    lift: np.ndarray | None = None
    machine: n.MachineDecl | None = None

    def features(self, pis: np.ndarray, gamma: float | None) -> np.ndarray:
        """``(N, F)``: each policy's occupancy of the parameters (discounted with
        ``gamma``, or the long-run frequency when it is None)."""
        import scipy.sparse as sp

        from ..finite.average import limit_distribution
        from ..finite.reach import _solve, chain_matrix

        model = self.model
        P = model.P.tocsr()
        A = model.n_actions
        rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
        src, act = rows // A, rows % A
        ok = self.param >= 0
        init = np.asarray(model.init, float)
        eye = sp.identity(model.n_states, format="csc")
        out = np.zeros((len(pis), len(self.params)))
        for i, pi in enumerate(pis):
            pim = pi if self.lift is None else pi[self.lift]
            chain = chain_matrix(model, pim)
            weight = limit_distribution(chain, init) if gamma is None else \
                _solve((eye - gamma * chain).T.tocsc(), init)
            d = weight[src] * pim[src, act] * P.data
            out[i] = np.bincount(self.param[ok], weights=d[ok], minlength=len(self.params))
        return out


def _space(key: str, spec, obj, mdp, machine: str | None) -> _Space:
    """The parameters of formalism ``key`` on the env (RM: on its product with the
    machine), and which entry of the model's ``P.data`` each one rewards."""
    if key == "RM":
        from ..automata import automaton_of
        from ..finite.solve import build_product

        decl = _machine(spec, obj, machine)
        prod = build_product(mdp, spec, [automaton_of(spec, decl.name)])
        model, lift, q = prod.mdp, prod.state, prod.q[:, 0]
    else:
        model, lift, decl, q = mdp, None, None, np.zeros(mdp.n_states, np.int64)
    P = model.P.tocsr()
    A = model.n_actions
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    src = rows // A
    keys = np.stack([q[src], model.obs[src], rows % A, model.obs[P.indices]], axis=1)
    live = ~model.terminal[src]
    uniq, inv = np.unique(keys[live], axis=0, return_inverse=True)
    param = np.full(len(src), -1, np.int64)
    param[live] = inv.reshape(-1)
    params = [(None if lift is None else int(k[0]), int(k[1]), int(k[2]), int(k[3]))
              for k in uniq]
    return _Space(key, mdp, model, param, params, lift, decl)


def _machine(spec, obj, name: str | None) -> n.MachineDecl:
    """The machine whose structure RM rewards use: ``name``, else the one the
    objective's returns use, else the file's only machine."""
    machines = {d.name: d for d in spec.of_type(n.MachineDecl)}
    if name is not None:
        if name not in machines:
            raise ObjlangError(f"no machine named '{name}'", obj.loc,
                               hint="machines: " + (", ".join(machines) or "none"),
                               source=spec.source)
        return machines[name]
    used = sorted({a.args[0].name for a in obj.goal.expr.atoms(sym.Ret)
                   if isinstance(a.args[0], sympy.Symbol) and a.args[0].name in machines})
    pool = used or sorted(machines)
    if len(pool) != 1:
        raise ObjlangError(
            "the RM check needs one machine structure: "
            + ("the spec declares no machine" if not pool else
               f"the spec has several ({', '.join(pool)})"), obj.loc,
            hint="declare a `machine` whose states and guards are the structure to try "
                 "(its edge rewards are ignored)" if not pool else "choose one (machine=NAME)",
            source=spec.source)
    return machines[pool[0]]


# ---- the LP and its alternative -------------------------------------------------------

@dataclass
class _Fit:
    """The LP's answer: a reward (``status`` "yes"), Farkas multipliers of the strict
    and tie rows in the rows' own units ("no"), or why neither is trusted ("unknown")."""

    status: str
    reward: np.ndarray | None = None
    strict_mult: np.ndarray | None = None
    tie_mult: np.ndarray | None = None
    residual: float = 0.0
    why: str = ""


def _normalise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to a largest entry of 1, and the scales."""
    norm = np.abs(rows).max(axis=1, initial=0.0)
    return rows / np.where(norm > 0, norm, 1.0)[:, None], norm


def _fit(F: np.ndarray, order: _Order) -> _Fit:
    """Solve the order's LP over the occupancies ``F`` (one row per policy)."""
    from scipy.optimize import linprog

    nf = F.shape[1]
    scale = max(1.0, float(np.abs(F).max(initial=0.0)))
    S = np.array([F[a] - F[b] for a, b in order.strict]).reshape(-1, nf) / scale
    T = np.array([F[a] - F[b] for a, b in order.ties]).reshape(-1, nf)
    s_norm = np.abs(S).max(axis=1, initial=0.0)
    T, t_norm = _normalise(T)
    zero = s_norm <= 1e-12
    if zero.any():  # a preference between policies no reward can tell apart
        y = np.zeros(len(S))
        y[np.flatnonzero(zero)[0]] = 1.0
        return _Fit("no", strict_mult=y, tie_mult=np.zeros(len(T)))
    keep_t = t_norm > 1e-12 * scale
    T, t_norm = T[keep_t], t_norm[keep_t]
    # primal: R = R+ - R-, minimise |R|_1 subject to S R >= the task's gaps, T R = 0.
    # Any positive margins give the same feasibility (R scales); the task's own gaps
    # steer the least-|R|_1 reward towards one that values policies as the task does
    res = linprog(np.ones(2 * nf),
                  A_ub=-np.hstack([S, -S]) if len(S) else None,
                  b_ub=-np.asarray(order.gaps) if len(S) else None,
                  A_eq=np.hstack([T, -T]) if len(T) else None,
                  b_eq=np.zeros(len(T)) if len(T) else None,
                  bounds=(0, None), method="highs")
    if res.status == 0:
        R = res.x[:nf] - res.x[nf:]
        top = np.abs(R).max(initial=0.0)
        if len(S) and (S @ R / (s_norm * top)).min() < MIN_SEPARATION:
            return _Fit("unknown", why="the fitted reward separates some preferred policies "
                                       "only within rounding (numerically borderline)")
        return _Fit("yes", reward=R)
    if res.status != 2:
        return _Fit("unknown", why=f"the LP solver stopped: {res.message}")
    # the alternative: y >= 0, z free, S^T y + T^T z = 0, sum y = 1 (a vertex: few rows)
    S = S / s_norm[:, None]
    ns, nt = len(S), len(T)
    A_eq = np.vstack([np.hstack([S.T, T.T, -T.T]),
                      np.concatenate([np.ones(ns), np.zeros(2 * nt)])[None, :]])
    b_eq = np.concatenate([np.zeros(nf), [1.0]])
    alt = linprog(np.concatenate([np.zeros(ns), np.ones(2 * nt) * 1e-3]), A_eq=A_eq,
                  b_eq=b_eq, bounds=(0, None), method="highs-ds")
    if alt.status != 0:
        return _Fit("unknown", why="the LP is infeasible but its Farkas alternative was not "
                                   "found (numerically borderline)")
    y, z = alt.x[:ns], alt.x[ns:ns + nt] - alt.x[ns + nt:]
    residual = float(np.abs(S.T @ y + T.T @ z).max(initial=0.0)) / y.max()
    if residual > MAX_RESIDUAL:
        return _Fit("unknown", why=f"the Farkas combination leaves a residual of "
                                   f"{residual:.1e} (numerically borderline)")
    # back to the rows' own units
    z_full = np.zeros(len(keep_t))
    z_full[keep_t] = z / t_norm
    return _Fit("no", strict_mult=y / (s_norm * scale), tie_mult=z_full, residual=residual)


# ---- printing ------------------------------------------------------------------------

def _const(names: tuple, value: int):
    return sym.name(names[value]) if names else sympy.Integer(value)


def _number(x: float):
    x = float(f"{x:.12g}")
    return sympy.Integer(int(round(x))) if x == round(x) else sympy.Float(x)


def _reward_expr(space: _Space, R: np.ndarray, q: int | None):
    """``Σ c [obs == o & action == a (& next == o')]`` over the parameters of machine
    state q (``next`` left out where every successor of (o, a) has the same c)."""
    mdp = space.mdp
    acts = mdp.action_names if mdp.obs_names else ()
    by_oa: dict = {}
    for (pq, o, a, o2), c in zip(space.params, R):
        if pq == q:
            by_oa.setdefault((o, a), []).append((o2, c))
    terms = []
    for (o, a), outs in sorted(by_oa.items()):
        conds = [sym.Eq_(sym.name("obs"), _const(mdp.obs_names, o)),
                 sym.Eq_(sym.name("action"), _const(acts, a))]
        if len({c for _, c in outs}) == 1:
            if outs[0][1] != 0:
                terms.append(_number(outs[0][1]) * sym.Iverson(sym.And_(*conds)))
            continue
        terms += [_number(c) * sym.Iverson(sym.And_(*conds, sym.Eq_(
            sym.name("next"), _const(mdp.obs_names, o2)))) for o2, c in outs if c != 0]
    return sympy.Add(*terms)


def _props_used(spec, exprs) -> list:
    """The prop declarations the expressions use, directly or through other props."""
    props = {d.name: d for d in spec.of_type(n.PropDecl)}
    seen: set = set()
    todo = [s.name for e in exprs for s in e.atoms(sympy.Symbol)]
    while todo:
        name = todo.pop()
        if name in props and name not in seen:
            seen.add(name)
            if props[name].expr is not None:
                todo += [s.name for s in props[name].expr.atoms(sympy.Symbol)]
    return [d for d in spec.of_type(n.PropDecl) if d.name in seen]


def _witness(space: _Space, spec, obj, R: np.ndarray, gamma: float | None,
             n_policies: int) -> str:
    """The fitted reward as an objlang spec on the same env."""
    from ..syntax.printer import fmt

    env = next(iter(spec.of_type(n.EnvDecl)))
    decls = [d for d in spec.of_type(n.MdpDecl) if env.is_mdp and d.name == env.env_id]
    decls.append(env)
    if gamma is not None:
        decls.append(n.DiscountDecl(_number(gamma)))
    if space.key == "RM":
        decls += _props_used(spec, [e.guard for e in space.machine.edges])
        m = space.machine
        edges = []
        for q, state in enumerate(m.states):
            if state in m.finals:
                continue
            rname = f"fitted_{state}"
            expr = _reward_expr(space, R, q)
            reward = sym.name(rname) if expr != 0 else None
            if reward is not None:
                decls.append(n.RewardDecl(rname, expr))
            out = [e for e in m.edges if state in e.sources]
            edges += [n.MachineEdge((state,), e.target, e.guard, reward) for e in out]
            if reward is not None:  # staying put earns a reward too
                stay = sympy.true if not out else sym.Not_(
                    out[0].guard if len(out) == 1 else sym.Or_(*[e.guard for e in out]))
                edges.append(n.MachineEdge((state,), state, stay, reward))
        decls.append(n.MachineDecl("fitted", (m.start,), tuple(edges), m.finals))
        goal = sym.Expect(sym.Ret(sym.name("fitted")))
        what = f"a reward machine with the structure of machine '{m.name}'"
    else:
        decls.append(n.RewardDecl("fitted", _reward_expr(space, R, None)))
        goal = sym.Expect((sym.Ret if gamma is not None else sym.Avg)(sym.name("fitted")))
        what = "a Markov reward" if gamma is not None else "a limit-average reward"
    decls.append(n.ObjectiveDecl(obj.name, (n.Goal("maximize", goal),)))
    head = (f"# witness: {what}"
            + (f" with discount {gamma:g}" if gamma is not None else "")
            + f" that orders {n_policies} policies as objective '{obj.name}' does\n")
    return head + fmt(n.Spec(tuple(decls)))


def _describe(mdp, D, pi: np.ndarray) -> dict:
    """The policy at the decision states: state -> action, or action -> probability."""
    out = {}
    for s in D:
        row = {mdp.action_names[a]: round(float(p), 6) for a, p in enumerate(pi[s])
               if p > 1e-12}
        out[mdp.state_names[s]] = next(iter(row)) if len(row) == 1 else row
    return out


def _show(desc: dict) -> str:
    parts = []
    for s, a in desc.items():
        act = a if isinstance(a, str) else " + ".join(f"{p:g} {b}" for b, p in a.items())
        parts.append(f"{s} → {act}")
    return "{" + ", ".join(parts) + "}"


def _certificate(fit: _Fit, order: _Order, pol: _Policies, space: _Space, D,
                 gamma: float | None) -> dict:
    """The policies and multipliers of an infeasibility, explained in words."""
    rows = [("prefers", a, b, y) for (a, b), y in zip(order.strict, fit.strict_mult)]
    for (a, b), z in zip(order.ties, fit.tie_mult):
        rows.append(("ties", a, b, z) if z >= 0 else ("ties", b, a, -z))
    big = max(abs(r[3]) for r in rows)
    rows = [r for r in rows if r[3] > 1e-9 * big]
    names: dict = {}
    for _, a, b, _ in rows:
        for p in (a, b):
            names.setdefault(p, f"π{len(names) + 1}")
    policies = [{"name": names[p], "kind": pol.kinds[p],
                 "policy": _describe(space.mdp, D, pol.pis[p]),
                 "matrix": pol.pis[p].tolist(),
                 "value": _value(pol, p)} for p in names]
    out_rows = [{"relation": rel, "left": names[a], "right": names[b],
                 "multiplier": float(m / big)} for rel, a, b, m in rows]
    kind = _FORMALISM[space.key]
    setting = f"with discount {gamma:g}" if gamma is not None else "in the long run"
    if space.key == "RM":
        kind += f" with the states and guards of machine '{space.machine.name}'"
        occupancy = "discounted occupancies of (machine state, obs, action, next)"
    elif space.key == "MR":
        occupancy = "discounted occupancies of (obs, action, next)"
    else:
        occupancy = "long-run frequencies of (obs, action, next)"
    combo = " + ".join(f"{r['multiplier']:g}·(V({r['left']}) − V({r['right']}))"
                       for r in out_rows)
    prefs = [f"{r['left']} to {r['right']}" for r in out_rows if r["relation"] == "prefers"]
    ties = [f"{r['left']} with {r['right']}" for r in out_rows if r["relation"] == "ties"]
    listed = "; ".join(f"{p['name']} = {_show(p['policy'])} (task value "
                       f"{', '.join(f'{v:.6g}' for v in np.atleast_1d(p['value']))})"
                       for p in policies)
    text = (f"Policies: {listed}. The task prefers " + " and ".join(prefs)
            + (" and ties " + " and ".join(ties) if ties else "") + ". "
            f"The {occupancy} of these policies satisfy {combo.replace('V(', 'd(')} = 0, "
            f"so every {kind} ({setting}) gives them values with {combo} = 0, where the "
            f"task needs every preference bracket > 0"
            + (" and every tie bracket = 0. " if ties else ". ") +
            f"No {kind} can prefer " + " and ".join(prefs)
            + (" while tying " + " and ".join(ties) if ties else " at once") + ".")
    return {"discount": gamma, "explanation": text, "policies": policies, "rows": out_rows,
            "residual": fit.residual}


def _value(pol: _Policies, p: int):
    """The task's own value (a list for lex), not sign-adjusted."""
    v = [float(x) * pol.sign + 0.0 for x in pol.values[p]]  # + 0.0: no -0.0
    return v[0] if len(v) == 1 else v


# ---- held-out agreement ---------------------------------------------------------------

def _agreement(task: np.ndarray, task_bounds: np.ndarray, fitted: np.ndarray) -> tuple:
    """Pairwise agreement of the task's and the witness's order on held-out policies:
    ``(summary, policies taking part in a disagreement)``."""
    tol = _tolerance(task, TIE)
    wtol = WITNESS_TIE * max(1.0, float(np.abs(fitted).max(initial=0.0)))
    agree = disagree = open_ = 0
    wrong: set = set()
    for i in range(len(task)):
        for j in range(i + 1, len(task)):
            t = _compare(task, task_bounds, i, j, tol)
            gap = fitted[i] - fitted[j]
            w = 0 if abs(gap) <= wtol else (1 if gap > 0 else -1)
            if t is None:
                open_ += 1
            elif t == w:
                agree += 1
            else:
                disagree += 1
                wrong |= {i, j}
    return ({"policies": len(task), "pairs_agree": agree, "pairs_disagree": disagree,
             "pairs_open": open_}, sorted(wrong))


def _discounts(spec, obj) -> tuple[tuple, str]:
    gamma = spec.discount_for(obj)
    if gamma is not None and gamma < 1:
        return (float(gamma),), f"the spec's discount {float(gamma):g}"
    return DEFAULT_DISCOUNTS, ("the spec declares no discount below 1: tried "
                               + ", ".join(f"{g:g}" for g in DEFAULT_DISCOUNTS))


# ---- the check -------------------------------------------------------------------------

def check(spec: n.Spec, objective: str | None = None, as_key: str = "MR", *, seed: int = 0,
          max_policies: int = 4096, machine: str | None = None) -> dict:
    """Can a reward of formalism ``as_key`` (MR, LAR or RM) order the policies of the
    spec's finite env exactly as the objective does? (see the module docstring)

    Returns the ``semantic`` object of ``objlang express --as KEY --json``:
    ``{"as", "verdict": "yes" | "no" | "unknown", "witness", "certificate",
    "policies_checked", "held_out", "discounts", "notes"}``. ``witness`` (yes, or
    unknown after a failed held-out test): ``{"spec": text, "discount"}``;
    ``certificate`` (no): ``{"explanation", "cases": [one per discount: {"discount",
    "explanation", "policies", "rows", "residual"}]}`` where each row is a preference
    ("prefers") or tie ("ties") between two policies of the case and the rows'
    multipliers make ``Σ multiplier·(V(left) − V(right)) = 0`` for every reward of the
    formalism. ``machine``: for RM, the machine whose structure to use (default: the
    one the objective uses, else the file's only machine).

    >>> import objlang
    >>> s = objlang.loads('''mdp m { start s  s a -> s  s b -> s }
    ... env m
    ... discount 0.9
    ... reward r = [action == a]
    ... objective o { maximize E[G(r)]  regularize 1.0 * entropy(pi) }''')
    >>> check(s, "o", "MR")["verdict"]
    'no'
    """
    from ..finite.extract import finite_env
    from ..finite.solve import pick_objective

    if as_key not in KEYS:
        raise ObjlangError(f"the semantic check supports {', '.join(KEYS)}, not '{as_key}'",
                           None, hint="use --as MR, --as LAR or --as RM")
    obj = pick_objective(spec, objective)
    if isinstance(obj.goal.expr, sym.Pareto):
        raise ObjlangError(f"objective '{obj.name}' is a Pareto (partial) order; the "
                           f"semantic check compares total orders", obj.loc,
                           source=spec.source)
    mdp = finite_env(spec)
    rng = np.random.default_rng(seed)
    D = _decision_states(mdp)
    pis, kinds, exhaustive = _policy_set(mdp, D, rng, max_policies)
    values, bounds = _task_values(spec, obj, pis)
    pol = _Policies(pis, values, bounds, kinds, 1.0 if obj.goal.sense == "maximize" else -1.0)
    space = _space(as_key, spec, obj, mdp, machine)
    if as_key == "LAR":
        gammas, why = (None,), "limit averages need no discount"
    else:
        gammas, why = _discounts(spec, obj)
    notes = [f"policies: {kinds.count('deterministic')} deterministic "
             f"({'all' if exhaustive else 'a sample'}; choices at {len(D)} "
             f"state{'s' * (len(D) != 1)}), "
             f"{kinds.count('mixture')} 50/50 mixtures of pairs differing at one state, "
             f"{kinds.count('random')} random", f"discount: {why}"]
    cases, fallback = [], None
    for gamma in gammas:
        result = _check_discount(space, spec, obj, pol, D, gamma, rng)
        if result["verdict"] == "yes":
            notes += [f"discount {g:g}: {c['verdict']}" for g, c in zip(gammas, cases)]
            return _result(as_key, "yes", result, pol, gammas, notes)
        cases.append(result)
        if result["verdict"] == "unknown" and fallback is None:
            fallback = result
    if fallback is not None:
        return _result(as_key, "unknown", fallback, pol, gammas, notes)
    certs = [c["certificate"] for c in cases]
    text = certs[0]["explanation"]
    if len(certs) > 1:
        shape = [([p["policy"] for p in c["policies"]],
                  [(r["relation"], r["left"], r["right"]) for r in c["rows"]]) for c in certs]
        tried = ", ".join(f"{c['discount']:g}" for c in certs)
        text = (f"The same policies refute every discount tried ({tried}); at "
                f"{certs[0]['discount']:g}: {text}" if all(x == shape[0] for x in shape)
                else " ".join(f"Discount {c['discount']:g}: {c['explanation']}" for c in certs))
    out = _result(as_key, "no", {"witness": None, "held_out": None}, pol, gammas, notes)
    out["certificate"] = {"explanation": text, "cases": certs}
    return out


def _result(key, verdict, case, pol, gammas, notes) -> dict:
    added = pol.kinds.count("probe")
    notes = notes + ([f"{added} probe policies that a fitted reward ordered wrongly were "
                      f"added and the LP solved again"] if added else []) \
        + ([case["why"]] if case.get("why") else [])
    held = case.get("held_out")
    if held:
        pairs = held["pairs_agree"] + held["pairs_disagree"]
        notes.append(f"held out: the fitted reward orders {held['policies']} fresh policies "
                     f"as the task does in {held['pairs_agree']} of {pairs} pairs")
    return {"as": key, "verdict": verdict, "witness": case.get("witness"),
            "certificate": None, "policies_checked": len(pol.pis),
            "held_out": case.get("held_out"),
            "discounts": [g for g in gammas if g is not None], "notes": notes}


def _check_discount(space: _Space, spec, obj, pol: _Policies, D, gamma, rng) -> dict:
    """The LP at one discount; a fitted reward is refined on policies it nearly ties,
    then printed and tested on fresh held-out policies."""
    from ..finite.evaluate import evaluate
    from ..load import loads

    F = space.features(pol.pis, gamma)
    for round_ in range(ROUNDS + 1):
        order = _order(pol)
        fit = _fit(F, order)
        if fit.status == "no":
            # a certificate over deterministic policies and their mixtures reads best
            simple = np.flatnonzero([k in ("deterministic", "mixture") for k in pol.kinds])
            sub = pol.subset(simple)
            sub_order = _order(sub)
            sub_fit = _fit(F[simple], sub_order)
            if sub_fit.status == "no":
                sub, order, fit = sub, sub_order, sub_fit
            else:
                sub = pol
            return {"verdict": "no", "certificate": _certificate(fit, order, sub, space, D,
                                                                  gamma)}
        if fit.status == "unknown":
            return {"verdict": "unknown", "why": fit.why}
        R = fit.reward / np.abs(fit.reward).max(initial=1.0) if fit.reward.any() \
            else fit.reward
        R[np.abs(R) < 1e-9] = 0.0  # the LP solver's noise
        if round_ == ROUNDS:
            break
        # refine: the probe policies it orders wrongly join the set, and the LP again
        probe = _probe(space, R, gamma, D, rng)
        task, bounds = _task_values(spec, obj, probe)
        features = space.features(probe, gamma)
        _, wrong = _agreement(task, bounds, features @ R)
        if not wrong:
            break
        pol.add(probe[wrong], task[wrong], bounds[wrong], "probe")
        F = np.concatenate([F, features[wrong]])
    text = _witness(space, spec, obj, R, gamma, len(pol.pis))
    witness_spec = loads(text)
    held = _fresh(space.mdp, D, rng, N_HELD_OUT)
    task, bounds = _task_values(spec, obj, held)
    fitted = np.array([evaluate(witness_spec, pi) for pi in held])
    summary, wrong = _agreement(task, bounds, fitted)
    why = "the fitted reward orders held-out policies differently from the task" if wrong \
        else "an open comparison (error bounds) left a gap unconstrained" \
        if order.borderline else ""
    return {"verdict": "unknown" if why else "yes", "witness": {"spec": text, "discount": gamma},
            "held_out": summary, "why": why}
