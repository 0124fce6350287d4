"""Exact maximal and minimal reachability probabilities.

Graph precomputation first (Pmax: prob0A/prob1E, Pmin: prob0E/prob1A, as in
Baier & Katoen ch. 10 and Storm), then policy iteration with exact sparse
linear solves on the remaining ("maybe") states.

Why policy iteration is well defined here:

* Pmin: no end component lies inside the maybe states (its states would have
  Pmin = 0 and be in prob0E), so every policy leaves them almost surely and
  ``I - P_maybe`` is nonsingular for every policy.
* Pmax: end components may lie inside the maybe states. The start policy
  follows the BFS witnesses towards the target (it leaves the maybe states
  almost surely) and a state only switches to a *strictly* better action;
  switching preserves that property (a closed class of the new policy would
  carry old values that are subharmonic, hence harmonic, so nothing in it
  switched and the old policy had it too).

The same engine (:func:`solve_stopping`) serves the second stage of the
limit-average solver, where states may "stop" and collect a value.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .mec import _structure, attractor, normalize_allowed, prob0A, prob0E, prob1A, prob1E

__all__ = ["reach_prob", "reach_value", "evaluate_reach", "solve_stopping", "STOP"]

STOP = -2  # policy entry of solve_stopping meaning "stop and collect stop_value"


def _solve(M: sp.spmatrix, b: np.ndarray) -> np.ndarray:
    if M.shape[0] == 0:
        return np.zeros(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", spla.MatrixRankWarning)
        x = spla.spsolve(sp.csc_matrix(M), b)
    x = np.atleast_1d(np.asarray(x, dtype=float))
    if not np.all(np.isfinite(x)):
        raise FloatingPointError("singular system in policy evaluation")
    return x


def solve_stopping(mdp, allowed, fixed, fixed_value, stop_value, init_policy,
                   maximize: bool = True, tol: float = 1e-12, max_iter: int = 100000):
    """Policy iteration for an optimal-stopping / terminal-reward problem.

    Each free state (``~fixed``) either takes an allowed action (value = the
    expected value of the successor) or, where ``stop_value`` is finite,
    stops (value = ``stop_value``). ``fixed`` states have ``fixed_value``.
    ``init_policy`` (``(S,)``: an action or :data:`STOP`) must leave the
    non-stopping free states almost surely. A state switches only to a
    strictly better choice (by more than ``tol * max(1, |v|)``).

    Returns ``(values (S,), policy (S,))``.
    """
    S, A = mdp.n_states, mdp.n_actions
    P = _structure(mdp)["csr"]
    fixed = np.asarray(fixed, dtype=bool)
    free = ~fixed
    stop_value = np.full(S, np.nan) if stop_value is None else np.asarray(stop_value, float)
    can_stop = np.isfinite(stop_value) & free
    pol = np.asarray(init_policy, dtype=np.int64).copy()
    v = np.where(fixed, np.asarray(fixed_value, float) * np.ones(S), 0.0)
    sign = 1.0 if maximize else -1.0
    worst = -np.inf
    for _ in range(max_iter):
        stopping = free & (pol == STOP)
        v[stopping] = stop_value[stopping]
        moving = free & (pol >= 0)
        idx = np.flatnonzero(moving)
        if idx.size:
            known = np.flatnonzero(~moving)
            Pm = P[idx * A + pol[idx]]
            Pc = Pm.tocsc()
            M = sp.identity(idx.size, format="csc") - Pc[:, idx]
            b = Pc[:, known] @ v[known]
            v[idx] = _solve(M, b)
        Q = sign * (P @ v).reshape(S, A)
        Q[~allowed] = worst
        best_a = Q.argmax(axis=1)
        best = Q[np.arange(S), best_a]
        choice = best_a.copy()
        sv = np.where(can_stop, sign * np.nan_to_num(stop_value, nan=0.0), worst)
        use_stop = sv >= best
        best = np.where(use_stop, sv, best)
        choice = np.where(use_stop, STOP, choice)
        thr = tol * np.maximum(1.0, np.abs(v))
        improve = free & (best > sign * v + thr) & (best > worst)
        if not improve.any():
            break
        pol[improve] = choice[improve]
    return v, pol


def _first_allowed(allowed: np.ndarray) -> np.ndarray:
    return np.where(allowed.any(axis=1), allowed.argmax(axis=1), -1)


def reach_prob(mdp, target, maximize: bool = True, allowed=None):
    """Optimal probability of eventually reaching ``target`` from each state.

    Args:
        mdp: a :class:`~objlang.finite.model.FiniteMDP` (or anything with
            ``P``, ``n_states``, ``n_actions``).
        target: ``(S,)`` bool.
        maximize: Pmax if True, Pmin otherwise.
        allowed: optional ``(S, A)`` bool mask of usable actions.

    Returns:
        ``(values (S,), policy (S,) int)``: an optimal memoryless
        deterministic scheduler (-1 only in states without allowed actions).
    """
    S = mdp.n_states
    target = np.asarray(target, dtype=bool)
    if target.shape != (S,):
        raise ValueError(f"target must have shape {(S,)}")
    allowed = normalize_allowed(mdp, allowed)
    pol = _first_allowed(allowed)
    if maximize:
        pos, bfs = attractor(mdp, target, allowed, "E")
        zero = ~pos
        one, wit1 = prob1E(mdp, target, allowed, return_policy=True)
        sel = one & (wit1 >= 0)
        pol[sel] = wit1[sel]
        maybe = ~zero & ~one
        init = pol.copy()
        init[maybe] = bfs[maybe]
    else:
        zero, stay = prob0E(mdp, target, allowed, return_policy=True)
        sel = zero & (stay >= 0)
        pol[sel] = stay[sel]
        one = prob1A(mdp, target, allowed)
        maybe = ~zero & ~one
        init = pol.copy()
    fixed = ~maybe
    fixed_value = one.astype(float)
    if maybe.any():
        v, p = solve_stopping(mdp, allowed, fixed, fixed_value, None, init, maximize)
        pol[maybe] = p[maybe]
        v = np.clip(v, 0.0, 1.0)
    else:
        v = fixed_value
    v[zero] = 0.0
    v[one] = 1.0
    return v, pol


def reach_value(mdp, target, maximize: bool = True, allowed=None) -> float:
    """Optimal reachability probability from the initial distribution."""
    v, _ = reach_prob(mdp, target, maximize, allowed)
    return float(np.asarray(mdp.init, float) @ v)


def policy_matrix(mdp, policy) -> np.ndarray:
    """A policy as an ``(S, A)`` row-stochastic array (accepts ``(S,)`` ints)."""
    S, A = mdp.n_states, mdp.n_actions
    policy = np.asarray(policy)
    if policy.shape == (S,):
        if np.any((policy < 0) | (policy >= A)):
            raise ValueError("deterministic policy has an action outside 0..A-1")
        pi = np.zeros((S, A))
        pi[np.arange(S), policy.astype(np.int64)] = 1.0
        return pi
    if policy.shape != (S, A):
        raise ValueError(f"policy must have shape {(S,)} or {(S, A)}, got {policy.shape}")
    pi = np.asarray(policy, dtype=float)
    if np.any(pi < -1e-12) or np.any(np.abs(pi.sum(axis=1) - 1.0) > 1e-9):
        raise ValueError("policy rows must be probability distributions")
    return pi


def chain_matrix(mdp, policy) -> sp.csr_matrix:
    """The ``(S, S)`` Markov chain induced by a stationary (stochastic) policy."""
    S, A = mdp.n_states, mdp.n_actions
    pi = policy_matrix(mdp, policy)
    P = _structure(mdp)["csr"]
    G = sp.csr_matrix((pi.ravel(), (np.repeat(np.arange(S), A), np.arange(S * A))),
                      shape=(S, S * A))
    Pc = (G @ P).tocsr()
    Pc.eliminate_zeros()
    return Pc


def evaluate_reach(mdp, target, policy) -> np.ndarray:
    """Probability of eventually reaching ``target`` under a stationary policy, per state."""
    S = mdp.n_states
    target = np.asarray(target, dtype=bool)
    Pc = chain_matrix(mdp, policy)
    # states that can reach target in the chain (backward BFS on the transpose)
    reach = target.copy()
    PT = Pc.T.tocsr()
    frontier = np.flatnonzero(target)
    while frontier.size:
        nb = np.unique(PT[frontier].indices)
        nb = nb[~reach[nb]]
        reach[nb] = True
        frontier = nb
    v = target.astype(float)
    idx = np.flatnonzero(reach & ~target)
    if idx.size:
        Pcc = Pc.tocsc()
        M = sp.identity(idx.size, format="csc") - Pcc[idx][:, idx]
        b = np.asarray(Pc[idx][:, np.flatnonzero(target)].sum(axis=1)).ravel()
        v[idx] = np.clip(_solve(M, b), 0.0, 1.0)
    return v
