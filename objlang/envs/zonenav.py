"""ZoneNav: a point in the plane navigating among coloured circular zones.

A continuous env for non-tabular LTL tasks (reach green, avoid red, visit blue
then yellow...), small enough that PPO learns a reach-avoid task on a CPU in
minutes; in the spirit of the zone environments of Safety Gym and of LTL
benchmarks built on them, but with plain point-mass dynamics and no physics
engine.

* The arena is the square ``[-1, 1]^2``; four zones of radius ``RADIUS`` sit at
  fixed centres (``ZONES``): green at the top right, red in the middle (between
  the start and green), blue at the top left, yellow at the bottom right.
* Start: uniform in the square ``[-0.9, -0.5]^2`` (bottom left), at rest.
* Action ``Box(-1, 1, (2,))``: an acceleration, clipped to the box.
* Dynamics (``DT = 0.1``): ``v' = clip(0.8 v + 0.2 a, -1, 1)``,
  ``p' = clip(p + DT v', -1, 1)``, and the velocity is zeroed along an axis
  where the point hits the arena's wall. Top speed 1: crossing the arena takes
  about 20 steps.
* Observation ``Box((12,), float32)``: position (2), velocity (2), then for each
  zone in ``ZONES`` order the vector from the point to its centre (2 each).
* ``info``: one bool per zone colour, True while the point is inside it
  (distance to the centre <= ``RADIUS``).
* Reward 0 and no termination (the objective gives both); ``gymnasium.make
  ("objlang/ZoneNav-v0")`` truncates after 200 steps.

The dynamics are one function over an array module (:func:`step_point`), shared
by this numpy env and the batched torch env (:class:`objlang.envs.batched.ZoneNav`).

>>> env = ZoneNavEnv()
>>> obs, info = env.reset(seed=0)
>>> obs.shape, sorted(info)
((12,), ['blue', 'green', 'red', 'yellow'])
"""
from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

#: zone colour -> centre
ZONES = {"green": (0.6, 0.6), "red": (0.0, 0.0), "blue": (-0.6, 0.6), "yellow": (0.6, -0.6)}
RADIUS = 0.25
DT = 0.1
START_LOW, START_HIGH = -0.9, -0.5
OBS_DIM = 4 + 2 * len(ZONES)
CENTRES = np.array(list(ZONES.values()), dtype=np.float32)


def step_point(xp, pos, vel, action):
    """One step of the point dynamics for ``(B, 2)`` arrays of module ``xp``
    (numpy or torch; same dtype): returns ``(pos', vel')``."""
    a = xp.clip(action, -1.0, 1.0)
    vel = xp.clip(vel * 0.8 + a * 0.2, -1.0, 1.0)
    moved = pos + vel * DT
    pos = xp.clip(moved, -1.0, 1.0)
    vel = xp.where(pos != moved, vel * 0.0, vel)  # a wall stops that axis
    return pos, vel


def observe(xp, pos, vel, centres):
    """``(obs (B, 12), inside (B, n_zones))`` for ``(B, 2)`` positions and
    velocities; ``centres`` the ``(n_zones, 2)`` zone centres in module ``xp``."""
    to = centres[None, :, :] - pos[:, None, :]
    inside = (to * to).sum(-1) <= RADIUS * RADIUS
    return xp.concatenate([pos, vel, to.reshape(pos.shape[0], -1)], 1), inside


class ZoneNavEnv(gymnasium.Env):
    """ZoneNav (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self):
        high = np.array([1.0] * 4 + [2.0] * (OBS_DIM - 4), dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self.pos = np.zeros((1, 2), np.float32)
        self.vel = np.zeros((1, 2), np.float32)

    def _observe(self):
        obs, inside = observe(np, self.pos, self.vel, CENTRES)
        return obs[0], {k: bool(inside[0, j]) for j, k in enumerate(ZONES)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(START_LOW, START_HIGH, (1, 2)).astype(np.float32)
        self.vel = np.zeros((1, 2), np.float32)
        return self._observe()

    def step(self, action):
        a = np.asarray(action, dtype=np.float32).reshape(1, 2)
        self.pos, self.vel = step_point(np, self.pos, self.vel, a)
        obs, info = self._observe()
        return obs, 0.0, False, False, info
