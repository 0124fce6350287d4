"""Lagrangian PPO for constrained objectives (CMDPs, chance constraints).

Each ``subject to`` constraint of the objective becomes a cost limit
``E[Σ_t γ^t c_t] <= b`` over the costs the compiled objective emits
(``mod.cost_names``: declared costs, then chance-constraint monitors):

* ``E[G(c)] <= b`` / ``E[sum(c)] <= b`` of a declared ``cost c`` (or a linear
  combination of them; ``>=`` flips the signs), discounted with the return's γ
  (1 for ``sum``);
* ``P[φ] >= p``: φ's monitor costs 1 on the step φ is violated for good, so
  ``P[φ] = 1 − E[sum(monitor)]`` and the limit is ``E[sum(monitor)] <= 1 − p``
  (exact for safety formulas, an upper bound of P[φ] for the others).

PPO learns one critic head per constraint next to the objective's, and the
policy follows ``(A_r − Σ_j λ_j A_j) / (1 + Σ_j λ_j)`` (the normalised
Lagrangian advantage of OmniSafe's PPO-Lag). After each rollout the
multipliers follow the measured cost ``J_j`` (the mean discounted cost of the
episodes finished in it) by a PI controller (Stooke, Achiam, Abbeel, "Responsive
safety in RL by PID Lagrangian methods", ICML 2020, without the D term):
``I_j ← max(0, I_j + k_i (J_j − t_j))``, ``λ_j = max(0, I_j + k_p (J_j − t_j))`` --
the integral is plain dual ascent, the proportional term damps its oscillation.

The target ``t_j = b_j − m |b_j|`` lies a safety margin (``cost_margin`` m, 2% of
the limit by default) inside the limit. A constrained optimum usually sits on the
limit, and the controller holds the *measured* cost (a sample mean) at its target
only up to sampling noise and up to what the samples cannot see, such as the 1e-5
probability a softmax policy keeps on an action it has learnt to avoid; aiming at
the limit itself leaves the final policy's exact cost on either side of it. The
constrained optimum is concave in the limit, so shrinking it by the fraction m
costs at most the fraction m of the optimum (where the optimum at limit 0 is ≥ 0).
A limit of 0 gets no margin (a cost-free policy meets it exactly).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import sympy
import torch

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from . import ppo
from .ppo import PPOConfig, Signal, objective_gamma, run

DEFAULT_STEPS = ppo.DEFAULT_STEPS


@dataclass
class LagrangianConfig(PPOConfig):
    """:class:`~objlang.train.ppo.PPOConfig` plus the PI gains of the multipliers
    (per unit of constraint violation, per update) and their initial value. The
    gains are tuned on examples/toy/gamble.obj (reward ~1, cost ~0.1): fast enough
    that λ catches up before PPO's policy turns deterministic, and damped enough
    to settle; costs or rewards of other scales may want other gains.
    ``cost_margin``: the multipliers aim each measured cost at ``limit − cost_margin
    × |limit|`` (module docstring)."""

    lambda_ki: float = 5.0
    lambda_kp: float = 10.0
    lambda_init: float = 0.0
    cost_margin: float = 0.02


def config_for(env, **overrides) -> LagrangianConfig:
    """The default config for ``env`` (:func:`objlang.train.ppo.config_for`), then
    ``overrides``."""
    base = asdict(ppo.config_for(env))
    base.update(overrides)
    return LagrangianConfig(**base)


@dataclass(frozen=True)
class CostLimit:
    """A constraint as ``E[Σ_t γ^t Σ_i coef_i c_i] <= limit`` over ``mod.cost_names``."""

    text: str
    coef: tuple[float, ...]
    gamma: float
    limit: float


def cost_limits(spec: n.Spec, plan, cost_names) -> list[CostLimit]:
    """The objective's constraints as cost limits (see the module docstring)."""
    from ..finite.occupancy import _SENSE, linear_terms
    from ..finite.solve import pick_objective
    from ..syntax.printer import expr as show

    obj = pick_objective(spec, plan.objective)
    names = list(cost_names)
    declared = {d.name for d in spec.of_type(n.RewardDecl) if d.cost}
    monitors = iter(plan.monitors)
    out = []
    for con in obj.constraints:
        text = show(con.expr)
        sense = _SENSE.get(type(con.expr))
        lin = linear_terms(con.expr.args[0] - con.expr.args[1]) if sense else None
        if lin is None:
            raise ObjlangError(f"the constraint `{text}` is not a comparison of a linear "
                               f"combination of expected costs and probabilities with a "
                               f"number", con.loc, None, spec.source)
        terms, const = lin
        monitor = next(monitors) if con.expr.has(sym.Prob) else None
        coef, bound, gammas = [0.0] * len(names), -const, set()
        for w, atom in terms:
            if isinstance(atom, sym.Prob):
                # w P[φ] = w − w E[sum(monitor of φ)]
                coef[names.index(monitor)] -= w
                bound -= w
                gammas.add(1.0)
                continue
            ret = atom.args[0]
            x = ret.args[0]
            if not (isinstance(x, sympy.Symbol) and x.name in declared):
                raise ObjlangError(f"the constraint `{text}` bounds `{show(ret)}`, which is not "
                                   f"a declared cost", con.loc,
                                   "declare what it bounds with `cost NAME = ...`", spec.source)
            coef[names.index(x.name)] += w
            gamma = spec.discount_for(obj, ret) if isinstance(ret, sym.Ret) else 1.0
            gammas.add(0.99 if gamma is None else gamma)
        if len(gammas) > 1:
            raise ObjlangError(f"the constraint `{text}` mixes discounts", con.loc, None,
                               spec.source)
        if sense == ">=":
            coef, bound = [-c for c in coef], -bound
        out.append(CostLimit(text, tuple(coef), gammas.pop(), bound))
    return out


class LagrangianSignal(Signal):
    """The objective's reward and one cost channel per constraint, combined by
    the multipliers (module docstring)."""

    def __init__(self, gamma: float, limits: list[CostLimit], config: LagrangianConfig,
                 device):
        self.limits = limits
        self.n_channels = 1 + len(limits)
        self.gammas = [gamma] + [c.gamma for c in limits]
        self.coef = torch.tensor([c.coef for c in limits], dtype=torch.float32, device=device)
        bound = torch.tensor([c.limit for c in limits], dtype=torch.float64)
        #: what the multipliers drive the measured costs to: inside the limits by the margin
        self.target = (bound - config.cost_margin * bound.abs()).float().to(device)
        self.ki, self.kp = config.lambda_ki, config.lambda_kp
        self.integral = torch.full((len(limits),), float(config.lambda_init), device=device)
        self.lam = self.integral.clone()

    def channels(self, reward, cost):
        return torch.cat([reward.reshape(-1, 1), cost @ self.coef.T], dim=1)

    def combine(self, adv):
        return (adv[..., 0] - (adv[..., 1:] * self.lam).sum(-1)) / (1 + self.lam.sum())

    def update(self, episodes: dict) -> dict:
        if episodes["disc"].shape[0] == 0:
            return {"cost": None, "lambda": self.lam.tolist()}
        J = episodes["disc"][:, 1:].mean(0)
        err = J - self.target
        self.integral = (self.integral + self.ki * err).clamp(min=0.0)
        self.lam = (self.integral + self.kp * err).clamp(min=0.0)
        return {"cost": J.tolist(), "lambda": self.lam.tolist()}


def train(spec, plan, env, mod, steps: int, seed: int = 0, device="cpu", log=None,
          config: LagrangianConfig | None = None):
    """Lagrangian PPO (see the module docstring); the arguments and the result are
    :func:`objlang.train.ppo.train`'s. The metrics add ``cost`` (the measured
    value of each constraint's cost, in the order written), ``limit``, ``target`` (the
    cost the multipliers aim at, inside the limit by ``config.cost_margin``) and
    ``lambda``.
    The policy is stochastic: a constrained optimum may need to randomise."""
    from .regularize import regularizer_for

    if plan.mode == "vector":
        raise ObjlangError(f"objective '{plan.objective}': constraints on a vector of "
                           f"returns are not supported by the Lagrangian trainer")
    limits = cost_limits(spec, plan, mod.cost_names)
    config = config or config_for(env)
    signal = LagrangianSignal(objective_gamma(spec, plan, config), limits, config, env.device)
    policy, metrics = run(spec, plan, env, mod, steps, signal, config,
                          seed=seed, device=device, log=log,
                          regularizer=regularizer_for(spec, plan, env, mod))
    policy.stochastic = True
    costs = [c["cost"] for c in metrics["curve"][-5:] if c.get("cost") is not None]
    if costs:
        metrics["cost"] = torch.tensor(costs).mean(0).tolist()
    metrics["limit"] = [c.limit for c in limits]
    metrics["target"] = signal.target.tolist()
    metrics["constraints"] = [c.text for c in limits]
    return policy, metrics
