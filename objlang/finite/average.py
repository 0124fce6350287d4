"""Gain-optimal limit-average reward for multichain MDPs.

The value of a run is ``lim inf_n (1/n) sum_{t<n} r_t`` (``r_t``: the
expected reward of the t-th (state, action), i.e. row sums of ``P .* R``).

Algorithm (as Storm does it):

1. Maximal end components (:func:`~objlang.finite.mec.mec_partition`).
2. The optimal gain inside each MEC: one occupancy LP for all multi-state
   MECs together (HiGHS dual simplex, tight tolerances; one normalisation
   row per MEC), single-state MECs by their best self-loop. The LP's
   deterministic choice on its support is then evaluated *exactly* (recurrent
   classes, stationary distributions): each MEC keeps its best recurrent
   class and every other MEC state walks to it, so the MEC's gain is the
   exact gain of a concrete policy.
3. Every state then maximises the expected gain of the MEC it ends in: an
   optimal-stopping problem (each MEC state may "stop" and collect its MEC's
   gain) solved by policy iteration
   (:func:`~objlang.finite.reach.solve_stopping`).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from .mec import _structure, attractor, expected_reward, mec_partition, normalize_allowed
from .reach import STOP, _solve, chain_matrix, policy_matrix, solve_stopping

__all__ = ["average_value", "evaluate_average", "chain_gains", "recurrent_classes",
           "limit_distribution"]

_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10,
               "presolve": True}


def recurrent_classes(Pc: sp.spmatrix):
    """The recurrent classes of a Markov chain and their stationary distributions.

    Returns ``(class_id (S,), stationary (S,))``: ``class_id`` is the recurrent
    class of each state (-1 for transient states), numbered by smallest state;
    ``stationary`` the probability of each recurrent state under its class's
    stationary distribution (0 on transient states). Recurrent classes are the
    closed SCCs; the distributions come from one sparse solve (one
    normalisation row per class).
    """
    Pc = sp.csr_matrix(Pc)
    S = Pc.shape[0]
    n, lab = connected_components(Pc, directed=True, connection="strong")
    coo = Pc.tocoo()
    cross = lab[coo.row] != lab[coo.col]
    open_ = np.zeros(n, dtype=bool)
    open_[lab[coo.row[cross]]] = True
    rec = ~open_[lab]
    rec_idx = np.flatnonzero(rec)
    # renumber recurrent classes 0..K-1 by smallest state
    class_id = np.full(S, -1, dtype=np.int64)
    _, first, inv = np.unique(lab[rec_idx], return_index=True, return_inverse=True)
    order = np.argsort(rec_idx[first], kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    class_id[rec_idx] = rank[inv]
    K = order.size
    stationary = np.zeros(S)
    if rec_idx.size:
        sub = Pc[rec_idx][:, rec_idx].tocoo()
        # M = (I - P_RR)^T, with the row of each class's first state replaced by its indicator
        cid = class_id[rec_idx]
        # smallest local index per class
        firsts = np.full(K, rec_idx.size, dtype=np.int64)
        np.minimum.at(firsts, cid, np.arange(rec_idx.size))
        replaced = np.zeros(rec_idx.size, dtype=bool)
        replaced[firsts] = True
        m = rec_idx.size
        rows = np.concatenate([np.arange(m), sub.col])
        cols = np.concatenate([np.arange(m), sub.row])
        vals = np.concatenate([np.ones(m), -sub.data])
        keep = ~replaced[rows]
        rows = np.concatenate([rows[keep], firsts[cid]])
        cols = np.concatenate([cols[keep], np.arange(m)])
        vals = np.concatenate([vals[keep], np.ones(m)])
        M = sp.csc_matrix((vals, (rows, cols)), shape=(m, m))
        b = np.zeros(m)
        b[firsts] = 1.0
        stationary[rec_idx] = _solve(M, b)
    return class_id, stationary


def chain_gains(Pc: sp.spmatrix, r: np.ndarray):
    """Gains of a Markov chain with state rewards ``r``.

    Returns ``(gain (S,), class_id (S,), class_gain (K,))``: ``class_id`` is
    the recurrent class of each state (-1 for transient states,
    :func:`recurrent_classes`); transient states average the class gains by
    their absorption probabilities (one more solve).
    """
    Pc = sp.csr_matrix(Pc)
    S = Pc.shape[0]
    r = np.asarray(r, dtype=float)
    class_id, stationary = recurrent_classes(Pc)
    rec_idx = np.flatnonzero(class_id >= 0)
    K = int(class_id.max()) + 1 if S else 0
    class_gain = np.bincount(class_id[rec_idx], weights=stationary[rec_idx] * r[rec_idx],
                             minlength=K)
    gain = np.zeros(S)
    gain[rec_idx] = class_gain[class_id[rec_idx]]
    tr = np.flatnonzero(class_id < 0)
    if tr.size and rec_idx.size:
        Ptr = Pc[tr]
        M = sp.identity(tr.size, format="csc") - Ptr[:, tr].tocsc()
        b = Ptr[:, rec_idx] @ gain[rec_idx]
        gain[tr] = _solve(M, b)
    return gain, class_id, class_gain


def limit_distribution(Pc: sp.spmatrix, init: np.ndarray) -> np.ndarray:
    """The Cesàro limit ``lim_n (1/n) Σ_{t<n} init P^t`` of the state distribution.

    Each recurrent class gets the probability of ending in it, spread by its
    stationary distribution; transient states get 0. The gain of any state
    reward r from ``init`` is ``limit_distribution(Pc, init) @ r``.
    """
    Pc = sp.csr_matrix(Pc)
    class_id, stationary = recurrent_classes(Pc)
    rec = class_id >= 0
    entered = np.asarray(init, dtype=float).copy()
    tr = np.flatnonzero(~rec)
    if tr.size:
        Ptr = Pc[tr]
        # expected visits to each transient state, then the mass they pass on
        visits = _solve((sp.identity(tr.size, format="csc") - Ptr[:, tr]).T.tocsc(), entered[tr])
        entered[rec] += Ptr[:, np.flatnonzero(rec)].T @ visits
    absorbed = np.bincount(class_id[rec], weights=entered[rec], minlength=int(class_id.max()) + 1)
    out = np.zeros(Pc.shape[0])
    out[rec] = absorbed[class_id[rec]] * stationary[rec]
    return out


def evaluate_average(mdp, R, policy) -> np.ndarray:
    """Long-run average reward of a stationary (stochastic) policy, per state.

    ``policy``: ``(S,)`` actions or an ``(S, A)`` row-stochastic matrix.
    """
    pi = policy_matrix(mdp, policy)
    r_pi = (pi * expected_reward(mdp, R)).sum(axis=1)
    gain, _, _ = chain_gains(chain_matrix(mdp, pi), r_pi)
    return gain


def _mec_gains(mdp, r: np.ndarray, mec_id: np.ndarray, act: np.ndarray):
    """Optimal (maximal) gain of each MEC and a policy inside it (exactly evaluated).

    Returns ``(g (S,) gain of each MEC state's MEC, pol (S,) actions on MEC states)``.
    """
    S, A = mdp.n_states, mdp.n_actions
    P = _structure(mdp)["csr"]
    n_mec = int(mec_id.max()) + 1 if mec_id.size else 0
    in_mec = mec_id >= 0
    pol = np.full(S, -1, dtype=np.int64)
    size = np.bincount(mec_id[in_mec], minlength=n_mec)
    single = in_mec & (size[np.maximum(mec_id, 0)] == 1)
    rm = np.where(act, r, -np.inf)
    pol[single] = rm[single].argmax(axis=1)
    multi = in_mec & ~single
    if multi.any():
        ms = np.flatnonzero(multi)
        loc = np.full(S, -1, dtype=np.int64)
        loc[ms] = np.arange(ms.size)
        var_s, var_a = np.nonzero(act[ms])
        var_s = ms[var_s]
        var_rows = var_s * A + var_a
        nv = var_rows.size
        Psub = P[var_rows][:, ms].tocoo()  # (nv, |ms|)
        # flow: sum_a x[t,a] - sum_{s,a} P(t|s,a) x[s,a] = 0 for t in ms
        flow = sp.coo_matrix(
            (np.concatenate([np.ones(nv), -Psub.data]),
             (np.concatenate([loc[var_s], Psub.col]), np.concatenate([np.arange(nv), Psub.row]))),
            shape=(ms.size, nv))
        mids, mloc = np.unique(mec_id[var_s], return_inverse=True)
        norm = sp.coo_matrix((np.ones(nv), (mloc, np.arange(nv))), shape=(mids.size, nv))
        A_eq = sp.vstack([flow, norm]).tocsc()
        b_eq = np.concatenate([np.zeros(ms.size), np.ones(mids.size)])
        c = -r[var_s, var_a]
        res = linprog(c, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs-ds",
                      options=_LP_OPTIONS)
        if res.status != 0:  # pragma: no cover - the LP is always feasible and bounded
            res = linprog(c, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
            if res.status != 0:
                raise RuntimeError(f"MEC gain LP failed: {res.message}")
        x = res.x
        # the LP's choice on its support: the action with most occupancy
        occ = np.zeros((S, A))
        occ[var_s, var_a] = x
        tot = occ.sum(axis=1)
        supp = multi & (tot > 1e-12)
        pol[supp] = occ[supp].argmax(axis=1)
        rest = multi & ~supp
        if rest.any():
            _, wit = attractor(mdp, supp, act, "E", within=multi)
            pol[rest] = wit[rest]
    # exact evaluation of the chain on MEC states, then keep each MEC's best class
    pol_full = np.where(in_mec, pol, 0)
    pol_full = np.where(pol_full < 0, 0, pol_full)
    Pc = chain_matrix(mdp, pol_full)
    rr = r[np.arange(S), pol_full]
    # restrict to MEC states (their actions stay inside their MEC)
    idx = np.flatnonzero(in_mec)
    sub = Pc[idx][:, idx]
    _, cls_loc, cgain = chain_gains(sub, rr[idx])
    cls = np.full(S, -1, dtype=np.int64)
    cls[idx] = cls_loc
    rec = cls >= 0
    # best class per MEC
    K = cgain.size
    class_mec = np.full(K, -1, dtype=np.int64)
    class_mec[cls[rec]] = mec_id[rec]
    best_gain = np.full(n_mec, -np.inf)
    np.maximum.at(best_gain, class_mec, cgain)
    best_class = np.full(n_mec, -1, dtype=np.int64)
    is_best = cgain >= best_gain[class_mec]
    # lowest-numbered best class per MEC
    for k in np.flatnonzero(is_best)[::-1]:
        best_class[class_mec[k]] = k
    keep = rec & (best_class[np.maximum(mec_id, 0)] == cls)
    others = in_mec & ~keep
    if others.any():
        _, wit = attractor(mdp, keep, act, "E", within=in_mec)
        pol[others] = wit[others]
    g = np.full(S, np.nan)
    g[in_mec] = best_gain[mec_id[in_mec]]
    return g, pol


def average_value(mdp, R, maximize: bool = True, allowed=None):
    """Optimal (gain-optimal) long-run average reward from each state.

    Args:
        mdp: a FiniteMDP (multichain allowed).
        R: ``(S * A, S)`` sparse transition rewards (or ``(S, A)`` expected rewards).
        maximize: maximise (True) or minimise.
        allowed: optional ``(S, A)`` bool mask (every state needs an allowed action).

    Returns:
        ``(gain (S,), policy (S,) int)``: an optimal deterministic stationary policy.
    """
    S, A = mdp.n_states, mdp.n_actions
    allowed = normalize_allowed(mdp, allowed)
    if not allowed.any(axis=1).all():
        raise ValueError("every state needs an allowed action")
    sign = 1.0 if maximize else -1.0
    r = sign * expected_reward(mdp, R)
    mec_id, act = mec_partition(mdp, allowed)
    g_mec, pol_mec = _mec_gains(mdp, r, mec_id, act)
    in_mec = mec_id >= 0
    init = np.where(allowed.any(axis=1), allowed.argmax(axis=1), 0)
    init[in_mec] = STOP
    v, pol = solve_stopping(mdp, allowed, np.zeros(S, dtype=bool), np.zeros(S), g_mec,
                            init, maximize=True)
    # MECs where someone stops: the whole MEC follows its gain policy (all its
    # states have the same optimal value, the MEC's gain)
    stops = pol == STOP
    stop_mec = np.zeros(int(mec_id.max()) + 1 if S else 0, dtype=bool)
    stop_mec[mec_id[stops]] = True
    use_mec = in_mec & stop_mec[np.maximum(mec_id, 0)]
    pol[use_mec] = pol_mec[use_mec]
    v[use_mec] = g_mec[use_mec]
    return sign * v, pol
