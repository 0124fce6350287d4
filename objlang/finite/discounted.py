"""Exact discounted values: policy iteration with sparse linear solves.

The value of a run is ``sum_t gamma^t r_t`` where ``r_t`` is the reward of the
t-th transition (the first transition is not discounted). Only the expected
reward of each (state, action), the row sums of ``P .* R``, matters.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .mec import _structure, expected_reward, normalize_allowed
from .reach import _solve, chain_matrix, policy_matrix

__all__ = ["discounted_value", "evaluate_discounted"]


def _check_gamma(gamma: float) -> float:
    gamma = float(gamma)
    if not (0.0 <= gamma < 1.0):
        raise ValueError(f"discount factor must be in [0, 1), got {gamma}")
    return gamma


def discounted_value(mdp, R, gamma: float, maximize: bool = True, allowed=None,
                     tol: float = 1e-13, max_iter: int = 10000):
    """Optimal expected discounted reward from each state.

    Args:
        mdp: a FiniteMDP.
        R: ``(S * A, S)`` sparse transition rewards (or ``(S, A)`` expected rewards).
        gamma: discount factor in [0, 1).
        maximize: maximise (True) or minimise.
        allowed: optional ``(S, A)`` bool mask of usable actions (every state needs one).

    Returns:
        ``(values (S,), policy (S,) int)``, an optimal deterministic policy.
    """
    gamma = _check_gamma(gamma)
    S, A = mdp.n_states, mdp.n_actions
    allowed = normalize_allowed(mdp, allowed)
    if not allowed.any(axis=1).all():
        raise ValueError("every state needs an allowed action")
    P = _structure(mdp)["csr"]
    sign = 1.0 if maximize else -1.0
    r = sign * expected_reward(mdp, R)
    r_masked = np.where(allowed, r, -np.inf)
    pol = r_masked.argmax(axis=1)
    rows = np.arange(S)
    scale = max(1.0, float(np.abs(r[allowed]).max(initial=0.0)) / max(1e-300, 1.0 - gamma))
    v = np.zeros(S)
    for _ in range(max_iter):
        Pp = P[rows * A + pol]
        M = sp.identity(S, format="csc") - gamma * Pp.tocsc()
        v = _solve(M, r[rows, pol])
        Q = r + gamma * (P @ v).reshape(S, A)
        Q[~allowed] = -np.inf
        best_a = Q.argmax(axis=1)
        best = Q[rows, best_a]
        improve = best > Q[rows, pol] + tol * scale
        if not improve.any():
            break
        pol[improve] = best_a[improve]
    return sign * v, pol


def evaluate_discounted(mdp, R, gamma: float, policy) -> np.ndarray:
    """Expected discounted reward of a stationary policy from each state.

    ``policy``: ``(S,)`` actions or an ``(S, A)`` row-stochastic matrix.
    """
    gamma = _check_gamma(gamma)
    S = mdp.n_states
    pi = policy_matrix(mdp, policy)
    r_pi = (pi * expected_reward(mdp, R)).sum(axis=1)
    Pc = chain_matrix(mdp, pi)
    M = sp.identity(S, format="csc") - gamma * Pc.tocsc()
    return _solve(M, r_pi)
