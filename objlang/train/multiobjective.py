"""Multi-objective PPO: a Pareto front of trade-offs from one batched run.

A vector objective (``pareto``, ``lex``, ``min`` or another function of several
expected returns: the plan's ``vector`` mode) has k reward channels. K weight
vectors ``w`` on the simplex are trained together as ONE batch: env ``i`` of
the batch acts for weight ``i mod K``, and one weight-conditioned policy (and a
weight-conditioned critic with one value per objective) sees ``w`` among its
inputs -- the conditioned-network approach of Abels et al. (ICML 2019) and Yang
et al. (NeurIPS 2019, "envelope" MORL), with PPO. The hidden layers are shared;
each weight has its own output layer (batched parameters, picked by a one-hot of
the weight's index), so that weights whose optima differ do not pull one
output towards both.

Scalarisation of the channels' advantages per env:

``linear`` (default)
    ``Σ_k w_k A_k``: each weight's policy maximises ``w · J``, so it is on the
    convex hull of the front.
``chebyshev``
    maximise ``min_k w_k (J_k − z_k)`` with ``z`` the ideal point (the best
    estimate of each objective over the K weights, plus a margin): the policy
    follows the advantage of the objective that is currently worst off for its
    weight (the subgradient of the min), which reaches non-convex parts of a
    front. ``J`` per weight is a running mean of the discounted returns of its
    finished episodes.

After training, each weight's policy (greedy) runs one episode on every env of
its group; the mean discounted return vectors are the K points, and the
non-dominated ones form the front. Advantages are centred per weight and
scaled together. The returns are
in the maximised direction (a ``minimize`` objective's are negated).
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import torch

from ..errors import ObjlangError
from . import ppo
from .ppo import PPOConfig, Signal, first_episodes, objective_gamma, run

DEFAULT_STEPS = ppo.DEFAULT_STEPS
#: EMA weight of a rollout's new return estimate (Chebyshev scalarisation)
EMA = 0.2


@dataclass
class MOConfig(PPOConfig):
    """:class:`~objlang.train.ppo.PPOConfig` plus the weights: ``num_weights`` K
    (None: 5 for 2 objectives, a simplex lattice of about 6 for more) and the
    ``scalarization`` (``linear`` or ``chebyshev``)."""

    num_weights: int | None = None
    scalarization: str = "linear"


def config_for(env, **overrides) -> MOConfig:
    """The default config for ``env`` (:func:`objlang.train.ppo.config_for`), then
    ``overrides``."""
    base = asdict(ppo.config_for(env))
    base.update(overrides)
    return MOConfig(**base)


def weight_vectors(k: int, K: int | None = None) -> torch.Tensor:
    """Weights on the k-simplex: the lattice ``{i / d}`` with the fewest divisions
    d giving at least K points (K = 5 for k = 2, 6 otherwise); ``(K', k)``.

    >>> weight_vectors(2, 3).tolist()
    [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    """
    K = K or (5 if k == 2 else 6)
    d = 1
    while _lattice_size(k, d) < K:
        d += 1
    points = [c for c in itertools.product(range(d + 1), repeat=k) if sum(c) == d]
    return torch.tensor(sorted(points, reverse=True), dtype=torch.float32) / d


def _lattice_size(k: int, d: int) -> int:
    from math import comb

    return comb(d + k - 1, k - 1)


class MultiSignal(Signal):
    """k objective channels, a weight per env (module docstring)."""

    def __init__(self, gamma: float, weights: torch.Tensor, num_envs: int,
                 scalarization: str, device):
        if scalarization not in ("linear", "chebyshev"):
            raise ObjlangError(f"unknown scalarization '{scalarization}'", None,
                               "scalarizations: linear, chebyshev")
        self.weights = weights.to(device)
        K, k = weights.shape
        self.K, self.n_channels, self.gammas = K, k, [gamma] * k
        self.group = torch.arange(num_envs, device=device) % K
        # the weight, and a one-hot of it that picks the networks' output layer
        self.n_heads = K
        self.condition = torch.cat([self.weights[self.group],
                                    torch.eye(K, device=device)[self.group]], dim=1)
        self.scalarization = scalarization
        self.estimate: torch.Tensor | None = None   # (K, k) returns per weight

    def channels(self, reward, cost):
        return reward.reshape(reward.shape[0], -1)

    def effective(self) -> torch.Tensor:
        """The weights ``(B, k)`` the channels' advantages are combined with."""
        if self.scalarization == "linear" or self.estimate is None:
            return self.weights[self.group]
        J = self.estimate
        margin = 0.1 * (J.max(0).values - J.min(0).values) + 1e-3
        gap = self.weights * (J.max(0).values + margin - J)       # (K, k), >= 0
        worst = torch.nn.functional.one_hot(gap.argmax(1), self.n_channels).float()
        return (worst * self.weights)[self.group]

    def combine(self, adv):
        return (adv * self.effective()).sum(-1)

    def normalize(self, adv):
        # centred per weight, scaled for all together: a weight whose rollouts have
        # seen no reward yet has advantages ~0, and scaling them alone would blow
        # their noise up to the size of the others' signal
        out = adv.clone()
        for g in range(self.K):
            cols = self.group == g
            out[:, cols] = adv[:, cols] - adv[:, cols].mean()
        scale = 1.0 / out.std().clamp(min=ppo.ADV_STD_FLOOR)
        return out * scale, scale

    def update(self, episodes: dict) -> dict:
        n = episodes["env"].shape[0]
        if n == 0:
            return {}
        g = self.group[episodes["env"]]
        sums = torch.zeros(self.K, self.n_channels, device=g.device).index_add_(
            0, g, episodes["disc"])
        counts = torch.bincount(g, minlength=self.K).unsqueeze(1)
        mean = sums / counts.clamp(min=1)
        if self.estimate is None:
            self.estimate = mean
        else:
            new = (1 - EMA) * self.estimate + EMA * mean
            self.estimate = torch.where(counts > 0, new, self.estimate)
        return {}


def non_dominated(points: torch.Tensor, tol: float = 1e-6) -> list[int]:
    """Indices of the points ``(K, k)`` no other point dominates (maximising),
    one per group of equal points.

    >>> non_dominated(torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.4, 0.4], [0.0, 1.0]]))
    [0, 1, 3]
    """
    keep = []
    for i in range(points.shape[0]):
        ge = (points >= points[i] - tol).all(1)
        gt = (points > points[i] + tol).any(1)
        dominated = (ge & gt).any()
        duplicate = any(bool((points[j] - points[i]).abs().max() <= tol) for j in keep)
        if not dominated and not duplicate:
            keep.append(i)
    return keep


def train(spec, plan, env, mod, steps: int, seed: int = 0, device="cpu", log=None,
          config: MOConfig | None = None):
    """Multi-objective PPO (see the module docstring); the arguments are
    :func:`objlang.train.ppo.train`'s. Returns the weight-conditioned policy (its
    ``weights``: the K weight vectors) and the metrics, with ``points`` (every
    weight's ``{"weights", "returns"}``, the mean discounted return vector of its
    greedy policy), ``pareto`` (the non-dominated points) and, for ``lex`` and
    ``min`` objectives, ``best`` (the point the objective's order prefers)."""
    if plan.mode != "vector":
        raise ObjlangError(f"objective '{plan.objective}' has one return", None,
                           "train it with objlang.train.ppo")
    config = config or config_for(env)
    k = len(plan.components)
    weights = weight_vectors(k, config.num_weights)
    if weights.shape[0] > env.num_envs:
        raise ObjlangError(f"{weights.shape[0]} weight vectors need at least as many envs "
                           f"(num_envs = {env.num_envs})")
    signal = MultiSignal(objective_gamma(spec, plan, config), weights, env.num_envs,
                         config.scalarization, env.device)
    policy, metrics = run(spec, plan, env, mod, steps, signal, config, seed=seed,
                          device=device, log=log)
    policy.weights = signal.weights
    ev = first_episodes(policy, env, mod, signal, seed + 1)
    sums = torch.zeros(signal.K, k, device=env.device).index_add_(0, signal.group, ev["disc"])
    J = sums / torch.bincount(signal.group, minlength=signal.K).unsqueeze(1)
    points = [{"weights": w, "returns": r} for w, r in zip(weights.tolist(), J.tolist())]
    metrics["points"] = points
    metrics["pareto"] = [points[i] for i in non_dominated(J)]
    if plan.outer == "lex":
        metrics["best"] = max(points, key=lambda p: p["returns"])
    elif plan.outer == "min":
        metrics["best"] = max(points, key=lambda p: min(p["returns"]))
    return policy, metrics
