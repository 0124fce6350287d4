"""A gymnasium env that runs a :class:`~objlang.finite.model.FiniteMDP`.

This is how an ``mdp`` block of a spec becomes an env like any other
(``env two_paths`` with ``objlang.make``), and how any finite model (OfficeWorld,
a product) can be stepped. The observation is the state's ``obs`` value
(``Discrete``), the action an index into ``action_names`` (``Discrete``).
Entering an absorbing copy of a terminating transition (``"15#end"``)
terminates the episode with that transition's reward, as the original env did.

>>> import objlang
>>> from objlang.finite.extract import finite_env
>>> spec = objlang.loads('mdp m { start a  a go -> b : 0.5, a : 0.5  b * -> b }\\nenv m')
>>> env = FiniteEnv(finite_env(spec))
>>> env.reset(seed=0)[0], env.action_space
(0, Discrete(1))
"""
from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

from ..finite.model import FiniteMDP


class FiniteEnv(gymnasium.Env):
    """Samples transitions of a finite MDP (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, mdp: FiniteMDP):
        self.mdp = mdp
        P = mdp.P.tocsr()
        P.sort_indices()
        self._indptr, self._next = P.indptr, P.indices
        # per row, the running sum of its probabilities: sampling is one searchsorted
        cum = np.cumsum(P.data)
        starts = np.repeat(cum[P.indptr[:-1]] - P.data[P.indptr[:-1]], np.diff(P.indptr))
        self._cum = cum - starts
        R = mdp.env_reward.tocsr()
        R.sort_indices()
        self._reward = R.data if R.nnz == P.nnz else np.zeros(P.nnz)
        self._init_cum = np.cumsum(mdp.init)
        self._obs = np.asarray(mdp.obs, dtype=np.int64)
        self._terminal = np.asarray(mdp.terminal, bool)
        self._A = mdp.n_actions
        self.observation_space = spaces.Discrete(int(self._obs.max()) + 1)
        self.action_space = spaces.Discrete(self._A)
        self._s = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        u = self.np_random.random() * self._init_cum[-1]
        self._s = int(np.searchsorted(self._init_cum, u, side="right"))
        return int(self._obs[self._s]), {"state": self._s}

    def step(self, action):
        row = self._s * self._A + int(action)
        lo, hi = self._indptr[row], self._indptr[row + 1]
        k = lo + int(np.searchsorted(self._cum[lo:hi], self.np_random.random() * self._cum[hi - 1],
                                     side="right"))
        k = min(k, hi - 1)
        self._s = int(self._next[k])
        return (int(self._obs[self._s]), float(self._reward[k]), bool(self._terminal[self._s]),
                False, {"state": self._s})


def mdp_env(spec: str, name: str | None = None) -> FiniteEnv:
    """The env of an ``mdp`` block: ``spec`` is a path or the spec's text; ``name``
    the block (default: the one the spec's ``env`` names). Entry point of the
    gymnasium id ``objlang/mdp-v0``."""
    import dataclasses
    from pathlib import Path

    from .. import load, loads
    from ..finite.extract import finite_env
    from ..ir import nodes as n

    loaded = load(spec) if Path(spec).suffix == ".obj" and Path(spec).exists() else loads(spec)
    if name is not None:
        env = n.EnvDecl(name, is_mdp=True)
        loaded = dataclasses.replace(loaded, decls=(env,) + tuple(
            d for d in loaded.decls if not isinstance(d, n.EnvDecl)))
    return FiniteEnv(finite_env(loaded))
