"""Final evaluation of a trained policy.

* On a finite env the policy -- a function of the env observation and the
  compiled module's automaton states -- is a finite-memory policy: one action
  per state of the product of the env with the module's automata
  (:func:`objlang.finite.solve.build_product`). On that product it is
  stationary, so :func:`objlang.finite.evaluate.evaluate` (``mdp=product.mdp``)
  gives its exact value, which :class:`ExactEvaluator` reports next to
  :func:`objlang.solve`'s optimum.
* On any env, :func:`monte_carlo` runs one episode per batch element and
  estimates the mean return, the success rate and the costs.
"""
from __future__ import annotations

import dataclasses
import math
from functools import cached_property

import numpy as np
import torch

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from ..syntax.printer import expr as show


def with_formulas(spec: n.Spec, plan) -> n.Spec:
    """``spec`` with the formulas the plan declares for inline φ (``minimize P[φ]``)."""
    extra = tuple(d for name, d in plan.formulas.items()
                  if not any(getattr(x, "name", None) == name for x in spec.decls))
    return dataclasses.replace(spec, decls=spec.decls + extra) if extra else spec


#: a constraint that misses its bound by less than this still holds (floating point)
CONSTRAINT_TOL = 1e-6


class ExactEvaluator:
    """Exact values of finite-memory policies on a finite env, and the optimum.

    ``act(obs, q) -> actions``: ``obs`` the ``(N,)`` int64 env observations and
    ``q`` the ``(N, n_tracks)`` automaton states of the module ``mod`` (in its
    track order), on ``mod``'s device, to ``(N,)`` actions or ``(N, A)`` action
    distributions; the actions may include the ε-actions ``n_env + j`` of the
    module's automata, which the product has too.
    """

    def __init__(self, spec: n.Spec, objective: str, plan, mdp, automata, device):
        from ..finite.solve import build_product

        self.spec, self.objective = spec, objective
        self.product = build_product(mdp, with_formulas(spec, plan), list(automata))
        pm = self.product.mdp
        self.obs = torch.as_tensor(np.asarray(pm.obs, np.int64), device=device)
        self.q = torch.as_tensor(np.asarray(self.product.q, np.int64), device=device)

    @property
    def n_states(self) -> int:
        return self.product.n_states

    def policy(self, act) -> np.ndarray:
        """``act`` on every product state: ``(N,)`` actions or ``(N, A)`` distributions."""
        pi = act(self.obs, self.q).detach().cpu().numpy()
        return pi.astype(np.int64) if pi.ndim == 1 else pi.astype(np.float64)

    def value(self, act) -> float | list:
        """The exact value of the objective's goal (and regularisers) under ``act``."""
        from ..finite.evaluate import evaluate

        return evaluate(self.spec, self.policy(act), self.objective, mdp=self.product.mdp)

    def constraints(self, act) -> list[dict]:
        """Each constraint of the objective under ``act``: ``{"constraint", "value"
        (its left side), "bound" (its right side), "holds"}`` (within
        :data:`CONSTRAINT_TOL`)."""
        from ..finite.evaluate import DEFAULT_TOL, _Evaluator
        from ..finite.reach import policy_matrix
        from ..finite.solve import pick_objective

        obj = pick_objective(self.spec, self.objective)
        if not obj.constraints:
            return []
        mdp = self.product.mdp
        ev = _Evaluator(self.spec, obj, mdp, policy_matrix(mdp, self.policy(act)), DEFAULT_TOL)
        out = []
        for c in obj.constraints:
            lhs, rhs = (ev.value(side)[0] for side in c.expr.args)
            gap = lhs - rhs
            holds = gap >= -CONSTRAINT_TOL if isinstance(c.expr, (sym.Ge_, sym.Gt_)) \
                else gap <= CONSTRAINT_TOL if isinstance(c.expr, (sym.Le_, sym.Lt_)) \
                else abs(gap) <= CONSTRAINT_TOL
            out.append({"constraint": show(c.expr), "value": lhs, "bound": rhs,
                        "holds": bool(holds)})
        return out

    @cached_property
    def optimum(self) -> float | None:
        """The exact optimum (``objlang solve``); None for Pareto fronts."""
        from ..finite.solve import solve

        sol = solve(self.spec, self.objective)
        return None if sol.pareto is not None else sol.value


def monte_carlo(env, mod, act, seed: int = 0) -> dict:
    """One episode per batch element of ``env`` under ``act(obs, state) -> action``:
    ``{"return", "success", "cost", "episodes"}``, the means over the episodes of
    the undiscounted return of the compiled reward (summed over the components of a
    vector), of acceptance at the last step (None but for ltl/ltlf objectives,
    :func:`has_success`) and of each cost's undiscounted sum (``mod.cost_names``
    order). An episode ends at termination or at the env's truncation."""
    obs, info = env.reset(seed=seed)
    state = mod.reset(obs, info)
    B = env.num_envs
    dev = env.device
    ret = torch.zeros(B, dtype=torch.float64, device=dev)
    cost = torch.zeros(B, len(mod.cost_names), dtype=torch.float64, device=dev)
    accepted = torch.zeros(B, dtype=torch.bool, device=dev)
    running = torch.ones(B, dtype=torch.bool, device=dev)
    # ε-actions do not move the env: up to max(n_states) of them between two env steps
    limit = (env.max_episode_steps + 1) * (max(mod.n_states, default=0) + 1
                                           if mod.n_extra_actions else 1)
    for _ in range(limit):
        with torch.no_grad():
            action = act(obs, state)
        if mod.n_extra_actions:
            # ε-actions move the automaton only: those elements' envs stand still
            active = action < mod.n_env_actions
            nxt, env_r, term, trunc, nxt_info = env.step(torch.where(active, action, 0),
                                                         active=active)
        else:
            nxt, env_r, term, trunc, nxt_info = env.step(action)
        state, r, c, done, minfo = mod.step(state, obs, action, nxt, env_r, info, nxt_info,
                                            env_terminated=term, env_truncated=trunc)
        r = r.sum(-1) if r.dim() > 1 else r
        ret += torch.where(running, r.double(), 0.0)
        cost += torch.where(running[:, None], c.double(), 0.0)
        end = running & (done | trunc)
        accepted |= end & minfo["accepting"]
        running &= ~end
        if not running.any():
            break
        obs, info = nxt, nxt_info
    if running.any():
        raise ObjlangError(f"an episode ran past the env's {env.max_episode_steps} steps "
                           "without truncation")
    return {"return": float(ret.mean()), "success": float(accepted.double().mean())
            if has_success(mod) else None,
            "cost": cost.mean(0).tolist(), "episodes": B}


def has_success(mod) -> bool:
    """Whether episodes succeed or fail: ltl/ltlf formulas (a machine's final states
    may be failures as well as successes, so machines have returns only)."""
    return mod.plan.mode in ("ltl", "ltlf")


def automata_of(mod) -> list:
    """The automata of the module's tracks, in its track order."""
    return list([t.auto for t in mod.tracks])


def fraction(value, optimum) -> float | None:
    """``value / optimum`` where both are numbers and the optimum is positive (the
    ratio says nothing about a negative optimum)."""
    if not isinstance(value, (int, float)) or not isinstance(optimum, (int, float)) \
            or not optimum > 0 or not math.isfinite(optimum):
        return None
    return value / optimum
