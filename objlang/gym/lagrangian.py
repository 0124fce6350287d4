"""A Lagrangian wrapper for constrained objectives (CMDP): reward r − Σ λ_i c_i."""
from __future__ import annotations

from typing import Mapping

import gymnasium
from gymnasium.utils import RecordConstructorArgs


class LagrangianReward(gymnasium.Wrapper, RecordConstructorArgs):
    """Scalar reward ``r − Σ_i λ_i · info["cost"][i]`` over a compiled env.

    A trainer updates the multipliers between rollouts (``env.set_multipliers``),
    e.g. by dual gradient ascent on the constraint violations.

    >>> import objlang
    >>> env = LagrangianReward(objlang.make("examples/toy/gamble.obj"), {"ruined": 2.0})
    >>> env.multipliers
    {'ruined': 2.0}
    """

    def __init__(self, env: gymnasium.Env, multipliers: Mapping[str, float] | None = None):
        RecordConstructorArgs.__init__(self, multipliers=multipliers)
        gymnasium.Wrapper.__init__(self, env)
        self.multipliers = dict(multipliers or {})

    def set_multipliers(self, multipliers: Mapping[str, float]) -> None:
        """Replace the multipliers λ (cost name -> value)."""
        self.multipliers = dict(multipliers)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        costs = info.get("cost", {})
        penalty = sum(lam * costs.get(name, 0.0) for name, lam in self.multipliers.items())
        return obs, reward - penalty, terminated, truncated, info
