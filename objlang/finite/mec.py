"""Graph algorithms on finite MDPs: attractors, the qualitative reachability
sets (prob0A/prob0E/prob1A/prob1E, Baier & Katoen ch. 10, as Storm precomputes
them) and maximal end components.

Conventions shared by the exact solvers (``reach``, ``discounted``,
``average``):

* ``allowed`` is an optional boolean ``(S, A)`` mask of the (state, action)
  pairs a scheduler may use (``None``: all of them). A state with no allowed
  action is *dead*: no path continues from it (reachability value 0 unless it
  is a target).
* Everything is vectorised over the sparse ``P`` of shape ``(S * A, S)``;
  backward searches walk frontiers through a CSC copy of ``P`` (cached per
  MDP object), so they cost ``O(nnz)`` plus a small overhead per BFS layer.
"""
from __future__ import annotations

import weakref

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = [
    "normalize_allowed", "expected_reward", "attractor", "prob0A", "prob0E",
    "prob1A", "prob1E", "staying_actions", "mec_partition", "mecs",
]

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _structure(mdp) -> dict:
    """Cached sparse structure of ``mdp.P``: positive entries as CSR, CSC, COO."""
    try:
        d = _CACHE.get(mdp)
    except TypeError:  # not weak-referenceable / hashable: no caching
        d = None
    if d is not None and d["P"] is mdp.P:
        return d
    P = sp.csr_matrix(mdp.P, dtype=float, copy=True)
    P.data[P.data < 0] = 0.0  # defensive; probabilities are >= 0
    P.eliminate_zeros()
    P.sort_indices()
    coo = P.tocoo()
    csc = P.tocsc()
    csc.sort_indices()
    d = {"P": mdp.P, "csr": P, "csc": csc, "rows": coo.row.astype(np.int64),
         "cols": coo.col.astype(np.int64)}
    try:
        _CACHE[mdp] = d
    except TypeError:
        pass
    return d


def normalize_allowed(mdp, allowed=None) -> np.ndarray:
    """``allowed`` as a fresh boolean ``(S, A)`` array (all True when None)."""
    S, A = mdp.n_states, mdp.n_actions
    if allowed is None:
        return np.ones((S, A), dtype=bool)
    allowed = np.asarray(allowed, dtype=bool)
    if allowed.shape != (S, A):
        raise ValueError(f"allowed must have shape {(S, A)}, got {allowed.shape}")
    return allowed.copy()


def expected_reward(mdp, R) -> np.ndarray:
    """Expected immediate reward of each (s, a): row sums of ``P .* R``, shape (S, A).

    ``R`` is an ``(S * A, S)`` sparse (or dense) matrix of transition rewards,
    or already an ``(S, A)`` / ``(S * A,)`` array of state-action rewards.
    """
    S, A = mdp.n_states, mdp.n_actions
    if sp.issparse(R) or (np.ndim(R) == 2 and np.shape(R) == (S * A, S)):
        if sp.issparse(R):
            r = np.asarray(sp.csr_matrix(mdp.P).multiply(R).sum(axis=1)).ravel()
        else:
            r = np.asarray(sp.csr_matrix(mdp.P).multiply(np.asarray(R, float)).sum(axis=1)).ravel()
        return r.reshape(S, A)
    R = np.asarray(R, dtype=float)
    if R.shape == (S, A):
        return R.copy()
    if R.shape == (S * A,):
        return R.reshape(S, A).copy()
    raise ValueError(f"reward must be (S*A, S), (S, A) or (S*A,), got {R.shape}")


def _gather(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Concatenation of ``indices[indptr[n]:indptr[n+1]]`` over ``nodes``."""
    starts = indptr[nodes]
    lens = indptr[nodes + 1] - starts
    tot = int(lens.sum())
    if tot == 0:
        return np.empty(0, dtype=np.int64)
    ends = np.cumsum(lens)
    offs = np.repeat(starts - (ends - lens), lens) + np.arange(tot)
    return indices[offs].astype(np.int64, copy=False)


def attractor(mdp, target, allowed=None, mode: str = "E", within=None):
    """Backward search from ``target``.

    ``mode="E"``: states from which *some* scheduler reaches ``target`` with
    positive probability (some allowed action has a successor already inside).
    ``mode="A"``: the forced attractor: states from which *every* scheduler
    reaches ``target`` (all allowed actions, and at least one, have a
    successor inside). Only states in ``within`` (default: all) are added.

    Returns ``(inside (S,) bool, witness (S,) int)``; in mode E ``witness[s]``
    is an allowed action of ``s`` with a successor one BFS layer closer to the
    target (-1 for target and outside states), so following the witnesses
    reaches the target with positive probability from every inside state.
    """
    S, A = mdp.n_states, mdp.n_actions
    st = _structure(mdp)
    csc = st["csc"]
    allowed = normalize_allowed(mdp, allowed)
    ok_row = allowed.ravel()
    inside = np.asarray(target, dtype=bool).copy()
    can = ~inside if within is None else (np.asarray(within, dtype=bool) & ~inside)
    witness = np.full(S, -1, dtype=np.int64)
    if mode == "A":
        remaining = allowed.sum(axis=1).astype(np.int64)
        hit = np.zeros(S * A, dtype=bool)
    elif mode != "E":
        raise ValueError("mode must be 'E' or 'A'")
    frontier = np.flatnonzero(inside)
    while frontier.size:
        rows = _gather(csc.indptr, csc.indices, frontier)
        rows = rows[ok_row[rows]]
        if mode == "E":
            s = rows // A
            sel = can[s] & ~inside[s]
            rows, s = rows[sel], s[sel]
            su, first = np.unique(s, return_index=True)
            witness[su] = rows[first] % A
            inside[su] = True
            frontier = su
        else:
            rows = np.unique(rows)
            rows = rows[~hit[rows]]
            hit[rows] = True
            s = rows // A
            su, cnt = np.unique(s, return_counts=True)
            remaining[su] -= cnt
            new = su[(remaining[su] == 0) & can[su] & ~inside[su]]
            inside[new] = True
            frontier = new
    return inside, witness


def staying_actions(mdp, states, allowed=None) -> np.ndarray:
    """``(S, A)`` mask: allowed actions of states in ``states`` whose every successor is in ``states``."""
    S, A = mdp.n_states, mdp.n_actions
    P = _structure(mdp)["csr"]
    states = np.asarray(states, dtype=bool)
    leak = P @ (~states).astype(float)
    ok = (leak.reshape(S, A) <= 0) & states[:, None]
    return ok & normalize_allowed(mdp, allowed)


def prob0A(mdp, target, allowed=None) -> np.ndarray:
    """States with Pmax(F target) = 0 (no scheduler reaches target)."""
    inside, _ = attractor(mdp, target, allowed, "E")
    return ~inside


def prob0E(mdp, target, allowed=None, return_policy: bool = False):
    """States with Pmin(F target) = 0 (some scheduler avoids target forever).

    With ``return_policy``: also an ``(S,)`` action per such state that keeps
    the play inside the set (-1 for dead states and states outside the set).
    """
    inside, _ = attractor(mdp, target, allowed, "A")
    zero = ~inside
    if not return_policy:
        return zero
    stay = staying_actions(mdp, zero, allowed)
    pol = np.where(stay.any(axis=1), stay.argmax(axis=1), -1)
    return zero, pol


def prob1A(mdp, target, allowed=None) -> np.ndarray:
    """States with Pmin(F target) = 1 (every scheduler reaches target almost surely)."""
    target = np.asarray(target, dtype=bool)
    zero = prob0E(mdp, target, allowed)
    bad, _ = attractor(mdp, zero, allowed, "E", within=~target)
    return ~bad


def prob1E(mdp, target, allowed=None, return_policy: bool = False):
    """States with Pmax(F target) = 1 (nested fixpoint).

    With ``return_policy``: also an ``(S,)`` action per such non-target state
    of a scheduler that reaches ``target`` almost surely (-1 elsewhere).
    """
    target = np.asarray(target, dtype=bool)
    allowed = normalize_allowed(mdp, allowed)
    U, wit = attractor(mdp, target, allowed, "E")
    while True:
        stay = staying_actions(mdp, U, allowed)
        R, wit = attractor(mdp, target, stay, "E", within=U)
        if np.array_equal(R, U):
            break
        U = R
    if return_policy:
        return U, wit
    return U


def mec_partition(mdp, allowed=None, states=None):
    """Maximal end components of the sub-MDP of ``allowed`` actions on ``states``.

    Iterative SCC refinement: take the SCCs of the graph of the remaining
    actions, drop every action that may leave its state's SCC (or the state
    set), drop states left without actions, repeat until stable.

    Returns ``(mec_id (S,) int, actions (S, A) bool)``: ``mec_id[s]`` is the
    index of the MEC holding ``s`` (numbered by smallest state, -1 if none)
    and ``actions`` the actions of each MEC (all successors stay inside).
    """
    S, A = mdp.n_states, mdp.n_actions
    st = _structure(mdp)
    r, c = st["rows"], st["cols"]
    src = r // A
    act = normalize_allowed(mdp, allowed)
    inS = np.ones(S, dtype=bool) if states is None else np.asarray(states, dtype=bool).copy()
    act[~inS] = False
    inS &= act.any(axis=1)
    while True:
        flat = act.ravel()
        em = flat[r]
        G = sp.csr_matrix((np.ones(int(em.sum())), (src[em], c[em])), shape=(S, S))
        _, lab = connected_components(G, directed=True, connection="strong")
        bad = em & ((lab[c] != lab[src]) | ~inS[c])
        bad_rows = np.unique(r[bad])
        if bad_rows.size == 0:
            break
        flat[bad_rows] = False
        act = flat.reshape(S, A)
        dead = inS & ~act.any(axis=1)
        inS &= ~dead
    mec_id = np.full(S, -1, dtype=np.int64)
    members = np.flatnonzero(inS)
    if members.size:
        _, first, inv = np.unique(lab[members], return_index=True, return_inverse=True)
        # number MECs by their smallest state
        order = np.argsort(members[first], kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        mec_id[members] = rank[inv]
    act[~inS] = False
    return mec_id, act


def mecs(mdp, allowed=None, states=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Maximal end components as a list of ``(states, actions)``.

    ``states`` is the sorted int array of the MEC's states; ``actions`` is a
    boolean ``(len(states), A)`` mask of the MEC's actions, row ``i`` for
    ``states[i]`` (compact: use :func:`mec_partition` for ``(S, A)`` masks).
    """
    mec_id, act = mec_partition(mdp, allowed, states)
    n = int(mec_id.max()) + 1 if mec_id.size else 0
    order = np.argsort(mec_id, kind="stable")
    ids = mec_id[order]
    bounds = np.searchsorted(ids, np.arange(n + 1))
    out = []
    for k in range(n):
        ss = np.sort(order[bounds[k]:bounds[k + 1]])
        out.append((ss, act[ss]))
    return out
