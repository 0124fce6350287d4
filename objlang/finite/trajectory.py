"""``E[X]`` for a stationary policy of a finite env, X a real function of trajectory atoms.

The atoms are ``G(r)``, ``G(r, γ)``, ``G(m)``, ``sum(r)``, ``avg(r)`` and ``[φ]``
(language.md §4). Everything is computed on one model: the env, or its product
with the automata of the formulas and machines that X mentions (entering a final
machine state then ends the episode for every term of X, language.md §5).

1. **The end of a run.** A run of the policy's finite chain ends in a recurrent
   class (a bottom strongly connected component) almost surely, and the class
   decides every ``[φ]`` (ltl: the least colour of the class's edges is even;
   ltlf: the class is a terminated state whose DFA state accepts) and every
   ``avg(r)`` (the class's gain). Classes with the same values form *groups*. With
   ``h(s)`` the probability of ending in group g from s, the runs that end in g
   form the Markov chain ``Q(s, s') = P(s, s') h(s') / h(s)`` (Doob's
   h-transform) started from ``init * h``, so ``E[X] = Σ_g E_Q[X_g]`` with
   ``X_g`` the function of the returns left when g's values replace ``[φ]`` and
   ``avg(r)``. Without formulas or averages there is one group, ``h = 1``.
2. **Polynomials of returns** (``E[G^3]``, ``E[G(a) G(b)]``): the joint moments
   ``m_α(s) = E_s[Π_i G_i^α_i]`` (``G_i = r_i + γ_i G_i'``) solve
   ``(I - γ^α Q) m_α = b_α`` with ``b_α(s) = Σ_(s, a, s') Q Σ_(β < α)
   Π_i C(α_i, β_i) γ_i^β_i r_i^(α_i - β_i) m_β(s')``: linear solves, exact. ``m_α = 0`` where one of its returns can no longer earn
   anything, and the solve runs on the other states (for ``sum(r)``, γ = 1, those
   must be transient: a recurrent class with a nonzero reward is refused).
3. **Other functions** (``E[exp(-G)]``, ``E[min(G, 5)]``, ``E[[G >= 3]]``): the law
   of the returns truncated at T steps, on a grid. The truncated return from s
   satisfies ``G_T(s) = r + γ G_(T-1)(s')``; it is computed backwards, for all
   states at once, by one sparse operator over (state, grid point) applied T
   times, which sends every ``r + γ x`` to its two neighbouring grid points with
   the weights that keep its value. A run's rounding error is then at most
   ``ε = h Σ_(t<T) γ^t`` (h the spacing: earlier errors shrink by γ) and has mean 0
   given the run, with variance at most ``(h² / 4) Σ_(t<T) γ^(2t)``. The grid spans
   ``[min_s L(s), max_s U(s)]``, bounds of every return (:func:`_reach_of`), plus ε
   of margin so that no value is clipped. The tail ``G - G_T = γ^T G(s_T)`` is 0 for
   runs whose s_T can earn nothing more, and lies in ``γ^T [L, U]`` for the mass q_T
   of the others. T is the first step at which every run can earn nothing more, or
   else the first at which ``γ^T (U - L) <= tol``; the spacing is the coarsest with
   ``ε <= tol``, or the finest that keeps the operator under ``MAX_ENTRIES`` entries
   and T products under ``MAX_WORK`` entry-steps (the margin is dropped, and values
   clipped to the grid, when it does not fit). The value is ``Σ_cells mass
   f(point)``. The error bound, by interval arithmetic
   (:func:`~objlang.finite.intervals.enclose`), needs no Lipschitz constant: the
   smaller of ``Σ_cells mass dev(point ± ε)`` (``dev`` the largest deviation of f
   over the box from ``f(point)``; for an indicator, the mass of the cells whose box
   meets the jump) and, for f with enclosed second derivatives, ``½ Σ_ij
   sup|∂²f/∂g_i∂g_j| sd(error_i) sd(error_j)`` (the first-order term vanishes as the
   errors have mean 0), plus ``q_T max_cells dev(point ± ε + tail)``. None when f has no
   enclosure (a node :func:`enclose` does not know), infinite where f is unbounded
   on a box.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import sympy
from scipy.sparse.csgraph import breadth_first_order

from ..ir import nodes as n
from ..ir import sym
from ..ir.evaluate import Scope, compile_real
from .extract import transition_values
from .intervals import NoEnclosure, enclose
from .model import FiniteMDP
from .reach import _solve

#: the grid's sparse operator holds at most this many entries ...
MAX_ENTRIES = 2_000_000
#: ... and the T products with it at most this many entry-steps
MAX_WORK = 300_000_000

_RANDOM = (sym.Ret, sym.Total, sym.Avg)


@dataclass
class _Chain:
    """The policy's chain as a list of transitions (s, a, s') of positive weight,
    with the rewards ``r`` (one row per return) they earn."""

    n: int
    src: np.ndarray
    dst: np.ndarray
    w: np.ndarray
    init: np.ndarray
    r: np.ndarray

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.w, (self.src, self.dst)), shape=(self.n, self.n))


def _outer_atoms(x) -> set:
    """The returns and indicators of x, not looking inside returns: the ``[...]`` in
    ``G([action == a])`` is part of a reward, not a trace formula."""
    out, stack = set(), [x]
    while stack:
        e = stack.pop()
        if isinstance(e, _RANDOM):
            out.add(e)
            continue
        if isinstance(e, sym.Iverson):
            out.add(e)
        stack.extend(e.args)
    return out


def expectations(spec: n.Spec, obj: n.ObjectiveDecl, mdp: FiniteMDP, pi: np.ndarray,
                 xs: list, tol: float, fail) -> list[tuple[float, float | None]]:
    """``(E[x], error bound)`` for each trajectory expression x of ``xs`` (one model
    for all of them); ``fail(why)`` makes the error for what cannot be evaluated."""
    from .solve import _discount

    xs = [_split_conditions(x) for x in xs]
    atoms = set().union(*(_outer_atoms(x) for x in xs))
    formulas = sorted((a.args[0] for a in atoms if isinstance(a, sym.Iverson)
                       and not a.args[0].has(*_RANDOM)), key=sympy.default_sort_key)
    randoms = sorted((a for a in atoms if isinstance(a, _RANDOM)), key=sympy.default_sort_key)
    rets = [a for a in randoms if not isinstance(a, sym.Avg)]
    avgs = [a for a in randoms if isinstance(a, sym.Avg)]
    model, prod, keep, chain = _model(spec, mdp, pi, formulas, randoms)
    machines = [a.name for a in prod.automata if a.acceptance == "machine"] if prod else []

    def reward(atom):
        x = atom.args[0]
        if isinstance(x, sympy.Symbol) and x.name in machines:
            return prod.reward[len(formulas) + machines.index(x.name)].data[keep]
        return transition_values(model, spec, x, where=obj).data[keep]

    chain.r = np.array([reward(a) for a in rets]).reshape(len(rets), len(chain.src))
    gammas = np.array([1.0 if isinstance(a, sym.Total) else _discount(obj, spec, a)
                       for a in rets])
    # states from which return i surely earns nothing more
    zero = [~_can_reach(chain, chain.src[chain.r[i] != 0]) for i in range(len(rets))]
    groups = _groups(chain, model, prod, keep, len(formulas), [reward(a) for a in avgs])
    for i in np.flatnonzero(gammas >= 1):
        if (groups.class_id[~zero[i]] >= 0).any():
            raise fail(f"{rets[i]} has no finite value: the policy's chain has a recurrent "
                       "class with a nonzero reward")
    syms = [sympy.Dummy(f"g{i}") for i in range(len(rets))]
    out = [[0.0, 0.0] for _ in xs]
    for key, h in groups.members():
        q = _transform(chain, h)
        if q.init.sum() <= 0:
            continue
        consts = {sym.Iverson(f): sympy.Integer(int(k)) for f, k in zip(formulas, key)}
        consts.update({a: sympy.Float(v) for a, v in zip(avgs, key[len(formulas):])})
        consts.update(zip(rets, syms))
        moments, laws = {}, {}
        for i, x in enumerate(xs):
            y = x.xreplace(consts)
            poly = _polynomial(y, syms)
            if poly is not None:
                out[i][0] += sum(c * (q.init @ _moment(q, gammas, zero, a, moments))
                                 for a, c in poly)
                continue
            used = tuple(j for j, s in enumerate(syms) if y.has(s))
            if (gammas[list(used)] >= 1).any():
                raise fail(f"E[{x}]: a nonlinear function of an undiscounted total has no "
                           "truncation bound; use G(r, γ) with γ < 1")
            if used not in laws:
                laws[used] = _grid_law(q, used, gammas, zero, tol)
            value, bound = laws[used].expect(y, [syms[j] for j in used])
            out[i][0] += value
            out[i][1] = None if out[i][1] is None or bound is None else out[i][1] + bound
    return [(float(v), None if b is None else float(b)) for v, b in out]


# ---- the model -------------------------------------------------------------------

def _split_conditions(x):
    """``if φ then a else b`` -> ``[φ] a + (1 - [φ]) b`` where φ is a formula."""
    return x.replace(
        lambda e: isinstance(e, sym.Ite) and not e.args[0].has(*_RANDOM),
        lambda e: sym.Iverson(e.args[0]) * e.args[1] + (1 - sym.Iverson(e.args[0])) * e.args[2])


def _model(spec, mdp, pi, formulas, randoms):
    """The env, or its product with the automata of the formulas (first, in order) and
    machines; which entries of its ``P.data`` the policy takes, and its chain (no rewards
    yet)."""
    from ..automata import automaton_of
    from .solve import _formula_name, build_product

    names = []
    for i, phi in enumerate(formulas):
        name, spec = _formula_name(spec, phi, f"_f{i}")
        names.append(name)
    machine_names = {d.name for d in spec.of_type(n.MachineDecl)}
    names += sorted({a.args[0].name for a in randoms if isinstance(a.args[0], sympy.Symbol)
                     and a.args[0].name in machine_names})
    prod, model = None, mdp
    if names:
        prod = build_product(mdp, spec, [automaton_of(spec, nm) for nm in names])
        model = prod.mdp
        # ε-actions of automata for learning, if any, are never taken
        lifted = np.zeros((model.n_states, model.n_actions))
        lifted[:, :mdp.n_actions] = pi[prod.state]
        pi = lifted
    P = model.P.tocsr()
    A = model.n_actions
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    w = pi[rows // A, rows % A] * P.data
    keep = w > 0
    return model, prod, keep, _Chain(model.n_states, rows[keep] // A, P.indices[keep], w[keep],
                                     np.asarray(model.init, float), np.zeros((0, keep.sum())))


def _can_reach(chain: _Chain, targets: np.ndarray) -> np.ndarray:
    """States with a path of positive probability to one of ``targets``."""
    N = chain.n
    back = sp.csr_matrix((np.ones(len(chain.src) + len(targets)),
                          (np.concatenate([chain.dst, np.full(len(targets), N)]),
                           np.concatenate([chain.src, targets]))), shape=(N + 1, N + 1))
    seen = np.zeros(N + 1, bool)
    seen[breadth_first_order(back, N, directed=True, return_predecessors=False)] = True
    return seen[:N]


@dataclass
class _Groups:
    class_id: np.ndarray      # recurrent class of each state, -1 if transient
    keys: np.ndarray          # (K, m + l): each class's [φ_i], then its avg values
    chain: _Chain

    def members(self):
        """(key, h) per group: h(s) the probability of ending in the group from s."""
        if self.keys.shape[1] == 0:
            yield (), np.ones(self.chain.n)
            return
        P = self.chain.matrix()
        transient = self.class_id < 0
        M = (sp.identity(int(transient.sum()), format="csc")
             - P[transient][:, transient].tocsc())
        for key in np.unique(self.keys, axis=0):
            target = (self.class_id >= 0) & (self.keys[self.class_id] == key).all(axis=1)
            h = target.astype(float)
            h[transient] = _solve(M, np.asarray(P[transient][:, target].sum(axis=1)).ravel())
            yield tuple(key), np.clip(h, 0.0, 1.0)


def _groups(chain: _Chain, model: FiniteMDP, prod, keep, n_formulas, avg_rewards) -> _Groups:
    """The recurrent classes and what each decides (see the module docstring)."""
    from .average import chain_gains

    P = chain.matrix()
    _, class_id, _ = chain_gains(P, np.zeros(chain.n))
    K = int(class_id.max()) + 1
    cols = []
    inside = class_id[chain.src] >= 0
    for i in range(n_formulas):
        auto = prod.automata[i]
        if auto.acceptance == "finite":
            good = model.terminal & auto.final[prod.q[:, i]] & (class_id >= 0)
            sat = np.zeros(K, bool)
            sat[class_id[good]] = True
        else:  # parity min even; colours are stored plus one, 0 for none
            colour = prod.color[i].data[keep] - 1
            least = np.full(K, np.inf)
            edge = inside & (colour >= 0)
            np.minimum.at(least, class_id[chain.src[edge]], colour[edge])
            sat = np.isfinite(least) & (np.where(np.isfinite(least), least, 1) % 2 == 0)
        cols.append(sat.astype(float))
    for r in avg_rewards:
        per_state = np.bincount(chain.src, weights=chain.w * r, minlength=chain.n)
        cols.append(chain_gains(P, per_state)[2])
    return _Groups(class_id, np.array(cols).T.reshape(K, len(cols)), chain)


def _transform(chain: _Chain, h: np.ndarray) -> _Chain:
    """The runs that end where h is the probability of ending (Doob's h-transform)."""
    hs = h[chain.src]
    w = chain.w * h[chain.dst] / np.where(hs > 0, hs, 1.0)
    on = (hs > 0) & (w > 0)
    return _Chain(chain.n, chain.src[on], chain.dst[on], w[on], chain.init * h,
                  chain.r[:, on])


# ---- polynomials: moments ------------------------------------------------------------

def _polynomial(y, syms):
    """``[(α, c)]`` when y is a polynomial in the returns with numeric coefficients."""
    if y.free_symbols - set(syms) or not y.is_polynomial(*syms):
        return None
    if not syms:
        return [((), _number(y))]
    return [(a, _number(c)) for a, c in sympy.Poly(y, *syms).terms()]


def _number(e) -> float:
    """A closed real expression's value (``[3 >= 2]`` included), by the vectorised evaluator."""
    return float(compile_real(e, Scope(), level="state")({}))


def _moment(q: _Chain, gammas, zero, alpha: tuple, memo: dict) -> np.ndarray:
    """``m_α(s) = E_s[Π_i G_i^α_i]`` on q (see the module docstring); ``memo`` keeps
    the lower moments."""
    if not any(alpha):
        return np.ones(q.n)
    if alpha in memo:
        return memo[alpha]
    b = np.zeros(len(q.src))
    for beta in itertools.product(*(range(k + 1) for k in alpha)):
        if beta == alpha:
            continue
        coef = np.ones(len(q.src))
        for i in np.flatnonzero(alpha):
            coef *= math.comb(alpha[i], beta[i]) * gammas[i] ** beta[i] \
                * q.r[i] ** (alpha[i] - beta[i])
        b += coef * _moment(q, gammas, zero, beta, memo)[q.dst]
    rhs = np.bincount(q.src, weights=q.w * b, minlength=q.n)
    live = ~np.any([zero[i] for i in np.flatnonzero(alpha)], axis=0)
    P = q.matrix()[live][:, live].tocsc()
    m = np.zeros(q.n)
    m[live] = _solve(sp.identity(int(live.sum()), format="csc")
                     - float(np.prod(gammas ** np.array(alpha))) * P, rhs[live])
    memo[alpha] = m
    return m


# ---- other functions: the truncated returns on a grid ---------------------------------

@dataclass
class _Law:
    """The law of the truncated returns on a grid, and how far it can be from G."""

    points: np.ndarray   # (M, k) grid points with positive mass
    mass: np.ndarray     # (M,) their (group-weighted) probability
    eps: np.ndarray      # (k,) largest rounding error of a run
    var: np.ndarray      # (k,) bound of the variance of that (zero-mean) error
    span: tuple          # ((k,), (k,)) every grid point
    tail: tuple          # ((k,), (k,)) range of G - G_T for runs that may still earn
    late: float          # mass of those runs

    def expect(self, y, syms: list) -> tuple[float, float | None]:
        """``(Σ mass f(point), error bound)`` for f = y, a function of ``syms``."""
        leaves = [sym.Index(sym.name("obs"), sympy.Integer(i)) for i in range(len(syms))]
        f = y.xreplace(dict(zip(syms, leaves)))
        fx = compile_real(f, Scope(), level="state")({"obs": self.points})
        value = float(self.mass @ fx)

        def deviation(below, above):
            lo, hi = enclose(f, {x: (self.points[:, i] - below[i], self.points[:, i] + above[i])
                                 for i, x in enumerate(leaves)})
            return np.maximum(hi - fx, fx - lo)
        try:
            rounding = float(self.mass @ deviation(self.eps, self.eps))
            tail = self.late * float(deviation(self.eps - self.tail[0],
                                               self.eps + self.tail[1]).max()) \
                if self.late > 0 else 0.0
        except NoEnclosure:
            return value, None
        return value, min(rounding, float(self.mass.sum()) * self.second_order(y, syms)) + tail

    def second_order(self, y, syms) -> float:
        """``½ Σ_ij sup|∂²f/∂g_i∂g_j| sd(error_i) sd(error_j)``: the rounding errors have
        mean 0 given the run, so the first-order term of f's Taylor expansion vanishes
        (infinite where f has no enclosed second derivative, min, max and indicators,
        or the errors' mean is not kept)."""
        if np.isinf(self.var).any():
            return np.inf
        box = {s: (self.span[0][j], self.span[1][j]) for j, s in enumerate(syms)}
        sd = np.sqrt(self.var)
        total = 0.0
        for i, j in itertools.product(range(len(syms)), repeat=2):
            try:
                lo, hi = enclose(sympy.diff(y, syms[i], syms[j]), box)
            except NoEnclosure:
                return np.inf
            total += 0.5 * float(max(abs(lo), abs(hi))) * sd[i] * sd[j]
        return total


def _reach_of(q: _Chain, r: np.ndarray, gamma: float, tol: float) -> np.ndarray:
    """An upper bound ``U(s) >= 0`` of every truncated return from s, with
    ``U(s) >= r + γ U(s')`` on every transition: then ``G_t(s) <= U(s)`` for all t by
    induction (and ``G(s) <= U(s)``). Iterating ``U <- max(0, max_(s, s') r + γ U(s'))``
    from ``max(r, 0) / (1 - γ)`` keeps that property and tightens U, often to the
    largest return a run can earn from s."""
    u = np.full(q.n, max(0.0, r.max(initial=0.0)) / (1 - gamma))
    order = np.argsort(q.src, kind="stable")
    src = q.src[order]
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]]) if len(src) else src
    for _ in range(1000):  # every iterate is a bound: stop when it barely moves
        nxt = np.zeros(q.n)
        if len(src):
            nxt[src[starts]] = np.maximum(0.0, np.maximum.reduceat(
                (r + gamma * u[q.dst])[order], starts))
        moved, u = np.max(u - nxt, initial=0.0), nxt
        if moved <= tol * 1e-3:
            break
    return u


def _grid_law(q: _Chain, used: tuple, gammas, zero, tol: float) -> _Law:
    """The grid computation of the module docstring, for the returns ``used``."""
    g = gammas[list(used)]
    r = q.r[list(used)]
    lo = np.array([-_reach_of(q, -ri, gi, tol).max(initial=0.0) for ri, gi in zip(r, g)])
    hi = np.array([_reach_of(q, ri, gi, tol).max(initial=0.0) for ri, gi in zip(r, g)])
    span = hi - lo
    live = span > 0
    d = int(live.sum())
    # T: every run can earn nothing more, or γ^T (hi - lo) <= tol
    horizon = max((1 if gi == 0 else max(1, math.ceil(math.log(tol / si) / math.log(gi)))
                   for gi, si in zip(g[live], span[live])), default=0)
    done = np.all([zero[j] for j in used], axis=0)
    forward = q.matrix().T.tocsr()
    mu, T = q.init.copy(), 0
    while T < horizon and mu[~done].sum() > 0:
        mu, T = forward @ mu, T + 1
    late = float(mu[~done].sum())
    # the spacing: the coarsest with ε <= tol, or the finest within the budget (each
    # operator entry splits into 2^d)
    E, N = len(q.src), q.n
    cells = max(2, min(MAX_ENTRIES, MAX_WORK // max(T, 1)) // (max(E, 1) * 2 ** d))
    need = np.where(live, np.ceil(span / (1 - g) / tol) + 1, 1.0)
    # a run's error is at most h Σ_(t<T) γ^t: that many grid points of margin on each
    # side keep every computed value inside the grid, never clipped, so that the
    # splitting below keeps its mean (the second-order bound needs it); without room
    # for them, values are clipped to the grid, which only brings them closer to G
    steps = np.array([(1 - gi ** T) / (1 - gi) for gi in g])
    pad = np.ceil(steps).astype(np.int64) + 1
    if np.prod(np.where(live, 2 * pad + 8, 1)) > cells:
        pad[:] = 0

    def size(c):  # grid points per return when need shrinks by c
        return np.where(live, np.maximum(2, np.floor(need * c)) + 2 * pad, 1)
    c = 1.0
    if np.prod(size(1.0)) > cells:  # shrink every return by one factor: equal ε
        c_lo, c_hi = 0.0, 1.0
        for _ in range(60):
            c = (c_lo + c_hi) / 2
            c_lo, c_hi = (c, c_hi) if np.prod(size(c)) <= cells else (c_lo, c)
        c = c_lo
    h = np.where(live, span / np.maximum(1, np.maximum(2, np.floor(need * c)) - 1), 1.0)
    first = np.where(live, np.floor(lo / h - 1e-9) - pad, 0.0)  # grid: (first + j) h
    sizes = [int(x) for x in np.where(live, np.ceil(hi / h + 1e-9) + pad - first + 1, 1)]
    M = int(np.prod(sizes))
    strides = [int(np.prod(sizes[i + 1:])) for i in range(len(sizes))]
    multi = np.unravel_index(np.arange(M), sizes)
    axes = [(first[i] + np.arange(sizes[i])) * h[i] for i in range(len(used))]
    # each r + γ x goes to its two neighbouring points, with the weights that keep its
    # value: the rounding error has mean 0 given the run
    rows, data = [q.src[:, None] * M], [np.repeat(q.w[:, None], M, axis=1)]
    for i in range(len(used)):
        if not live[i]:
            continue
        v = (r[i][:, None] + g[i] * axes[i][None, :]) / h[i] - first[i]
        low = np.clip(np.floor(v).astype(np.int64), 0, sizes[i] - 2)  # clip: round-off only
        frac = np.clip(v - low, 0.0, 1.0)[:, multi[i]]
        low = low[:, multi[i]] - multi[i][None, :]  # moves of the flat index
        rows = [x + strides[i] * (low + k) for x in rows for k in (0, 1)]
        data = [x * w for x in data for w in (1 - frac, frac)]
    cols = q.dst[:, None] * M + np.arange(M)
    base = np.arange(M)[None, :]
    K = sp.csr_matrix((np.concatenate([x.ravel() for x in data]),
                       (np.concatenate([(x + base).ravel() for x in rows]),
                        np.concatenate([cols.ravel()] * len(rows)))), shape=(N * M, N * M))
    zero_at = sum(s * int(-f) for s, f in zip(strides, first))
    D = np.zeros(N * M)
    D[np.arange(N) * M + zero_at] = 1.0
    for _ in range(T):
        D = K @ D
    mass = q.init @ D.reshape(N, M)
    on = mass > 0
    points = np.stack([x[j] for x, j in zip(axes, multi)], axis=1)[on]
    eps = np.where(live, h * steps, 0.0)
    var = np.where(live, h ** 2 / 4 * np.array([(1 - gi ** (2 * T)) / (1 - gi ** 2)
                                                for gi in g]), 0.0)
    if not pad.any():
        var[live] = np.inf
    return _Law(points, mass[on], eps, var, (np.array([a[0] for a in axes]),
                                            np.array([a[-1] for a in axes])),
                (g ** T * lo, g ** T * hi), late)
