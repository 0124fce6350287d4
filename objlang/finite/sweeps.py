"""Exact unconstrained multi-objective solvers for discounted returns, by policy
iteration instead of occupancy-measure LPs (:mod:`objlang.finite.lp` uses them
when no constraint is given).

Both rest on one fact: for a reward ``r`` with optimal values ``V*`` and
``Q*(s, a) = r(s, a) + gamma * sum_s' P(s'|s, a) V*(s')``, a policy with
occupancy ``x`` loses ``init . V* - r . x = sum_{s,a} x(s, a) (V*(s) - Q*(s, a))``
(the performance-difference identity), so the policies optimal from the initial
distribution are exactly those that only use actions with ``Q* = V*`` where
they go. Restricting every state to those actions therefore leaves precisely
the optimal face of the occupancy polytope:

* lexicographic order: optimise ``r_1``, keep the actions with ``Q_1 = V_1``,
  optimise ``r_2`` on them, ... -- the same policies as the sequential LPs;
* a weighted sum ``w . V`` is maximised by a deterministic policy, and
  breaking ties on the optimal face by a generic positive weighting (the same
  elimination) gives a single *vertex* of the value polytope.

"Equal" means within ``tolerance * max(1, max |V|)`` (at least 1e-12 relative,
widened by the bound on the values' error; see :meth:`Sweeps.optimise`); values
come from exact sparse LU solves of the final policy's linear system.

The optimiser is policy iteration in which each improvement step is greedy
with respect to ``T^m V`` (``m`` value-iteration sweeps from the current
policy's value ``V``) instead of ``T V``: since ``V <= T V`` for a policy's
value, ``T^m V <= T^{m+1} V`` and the new policy's value is at least
``T^{m+1} V`` -- monotone like plain policy iteration, but information travels
``m + 1`` steps per sparse factorisation instead of one (sparse goals far from
the start take hundreds of plain iterations otherwise). It stops when the
Bellman residual ``max (T V - V)`` of the evaluated policy is at most
``1e-13 * max(1, max |r| / (1 - gamma))``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import ObjlangError

__all__ = ["Sweeps"]

_LOOKAHEAD = 10  # value-iteration sweeps per factorisation (a sweep costs ~1/30 of one)
_RESIDUAL = 1e-13  # relative Bellman residual at which a policy counts as optimal


class Sweeps:
    """A discounted MDP as arrays: ``P`` the ``(n * A, n)`` CSR transitions
    (row ``s * A + a``), ``init`` the ``(n,)`` initial distribution."""

    def __init__(self, P: sp.csr_matrix, n_actions: int, init: np.ndarray, gamma: float):
        self.P = sp.csr_matrix(P)
        self.A = int(n_actions)
        self.n = self.P.shape[1]
        self.init = np.asarray(init, dtype=float)
        self.gamma = float(gamma)
        self.factorisations = 0
        self._last = (None, None)  # (policy, factorisation): the last one serves occupancy()

    def _lu(self, pol: np.ndarray):
        rows = np.arange(self.n) * self.A + pol
        if self._last[0] is not None and np.array_equal(self._last[0], pol):
            return self._last[1], rows
        M = sp.identity(self.n, format="csc") - self.gamma * self.P[rows].tocsc()
        self.factorisations += 1
        lu = spla.splu(M)
        self._last = (pol.copy(), lu)
        return lu, rows

    def values(self, pol: np.ndarray, R: np.ndarray) -> np.ndarray:
        """The ``(k, n)`` values of the deterministic policy ``pol`` for the rows of
        ``R`` (``(k, n * A)`` expected rewards): one factorisation, k solves."""
        lu, rows = self._lu(pol)
        return np.asarray(lu.solve(np.ascontiguousarray(R[:, rows].T))).reshape(
            self.n, len(R)).T

    def occupancy(self, pol: np.ndarray) -> np.ndarray:
        """The ``(n * A,)`` discounted occupancy measure of the deterministic
        policy ``pol`` from ``init``: ``d(s)`` at ``(s, pol(s))`` with
        ``d = init + gamma P_pol^T d``."""
        lu, rows = self._lu(pol)
        x = np.zeros(self.n * self.A)
        x[rows] = lu.solve(self.init, trans="T")
        return x

    def _backup(self, r_masked: np.ndarray, v: np.ndarray) -> np.ndarray:
        return r_masked + self.gamma * (self.P @ v).reshape(self.n, self.A)

    def optimise(self, r: np.ndarray, allowed: np.ndarray | None = None,
                 pol: np.ndarray | None = None, tolerance: float = 1e-9,
                 v: np.ndarray | None = None, max_iter: int = 10_000):
        """Maximise the discounted return of the ``(n * A,)`` expected reward ``r``
        using only ``allowed`` (``(n, A)`` bool; every state needs one) actions,
        from the policy ``pol`` (an allowed ``(n,)`` action array) if given, whose
        values ``v`` for ``r`` may be given too (saving their factorisation).

        Returns ``(V, pol, optimal)``: the optimal values ``(n,)``, an optimal
        deterministic policy, and the ``(n, A)`` mask of the allowed actions
        whose Q-value is within ``max(tolerance, 1e-12) * max(1, max |V|)`` of
        ``V``, widened by twice the bound ``residual / (1 - gamma)`` on ``V``'s
        error (the final Bellman residual, at rounding level when the policy is
        optimal) so that no truly optimal action is dropped."""
        n, A = self.n, self.A
        r = np.asarray(r, dtype=float).reshape(n, A)
        if allowed is None:
            allowed = np.ones((n, A), dtype=bool)
        r_masked = np.where(allowed, r, -np.inf)
        scale = max(1.0, float(np.abs(r[allowed]).max(initial=0.0)) / (1.0 - self.gamma))
        tol = _RESIDUAL * scale
        states = np.arange(n)
        if pol is None:
            # a cheap start: greedy after value-iteration sweeps from 0
            u = np.zeros(n)
            for _ in range(_LOOKAHEAD):
                u = self._backup(r_masked, u).max(axis=1)
            pol, v = self._backup(r_masked, u).argmax(axis=1), None
        pol = np.asarray(pol, dtype=np.int64).copy()
        for _ in range(max_iter):
            if v is None:
                lu, rows = self._lu(pol)
                v = lu.solve(r.ravel()[rows])
            Q = self._backup(r_masked, v)
            residual = max(0.0, float((Q.max(axis=1) - v).max()))
            if residual <= tol:
                eps = (max(tolerance, 1e-12) * max(1.0, float(np.abs(v).max(initial=0.0)))
                       + 2.0 * residual / (1.0 - self.gamma))
                return v, pol, Q >= v[:, None] - eps
            u = Q.max(axis=1)
            for _ in range(_LOOKAHEAD):
                u = self._backup(r_masked, u).max(axis=1)
            Qu = self._backup(r_masked, u)
            # greedy for T^m V, keeping the current action on exact ties
            best = Qu.argmax(axis=1)
            new = np.where(Qu[states, pol] >= Qu[states, best], pol, best)
            if (new == pol).all():
                # only rounding separates T^m V from V: a plain improvement step
                best = Q.argmax(axis=1)
                new = np.where(Q[states, best] > Q[states, pol] + tol, best, pol)
            pol, v = new, None
        raise ObjlangError(f"policy iteration did not converge in {max_iter} iterations")

    def lexicographic(self, R: np.ndarray, tolerance: float) -> np.ndarray:
        """Optimise the rows of ``R`` (``(k, n * A)``, all maximised) in order,
        each among the actions optimal for the earlier ones (see :meth:`optimise`
        for ``tolerance``). Returns a deterministic lexicographically optimal
        policy."""
        allowed = pol = None
        for r in R:
            _, pol, allowed = self.optimise(r, allowed, pol, tolerance)
        return pol
