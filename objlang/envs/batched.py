"""Batched envs: ``num_envs`` copies of an env stepped at once as torch tensors.

Every env here follows the :class:`BatchedEnv` protocol (docs/envs.md): tensors
live on the env's ``device``, the batch is the first axis, and there is no
autoreset -- after ``step`` the caller resets the finished elements with
``reset_where(terminated | truncated)``. Randomness comes from one
``torch.Generator`` on the device, seeded by ``reset(seed)``.

* :class:`TensorMDP` runs any :class:`~objlang.finite.model.FiniteMDP` (the
  toy-text envs, ``mdp`` blocks, OfficeWorld): its transitions as padded
  per-row tables, one draw and a few gathers per step.
* :class:`ZoneNav` runs the dynamics of :mod:`objlang.envs.zonenav`.
* :func:`make_batched` builds the one a spec's ``env`` names.

This module imports torch; import it explicitly (``objlang check`` does not).

>>> env = make_batched(None, 4, env_id="objlang/OfficeWorld-v0", seed=0)
>>> obs, info = env.reset()
>>> obs.tolist(), list(info)
([86, 86, 86, 86], ['coffee', 'mail', 'office', 'decor', 'a', 'b', 'c', 'd'])
>>> obs, reward, terminated, truncated, info = env.step(torch.tensor([3, 3, 0, 1]))
>>> obs.tolist(), info["a"].tolist()
([85, 85, 74, 87], [True, True, False, False])
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..errors import ObjlangError
from ..finite.model import FiniteMDP
from ..ir import nodes as n
from ..torch.expr import device_of
from . import officeworld, zonenav

__all__ = ["BatchedEnv", "TensorMDP", "ZoneNav", "make_batched"]

#: a cumulative probability above any uniform draw: the last outcome of a row and
#: the padding after it (rows whose probabilities sum to 1 - 1e-8 stay safe)
_ABOVE = 2.0


class BatchedEnv:
    """The protocol of batched envs, with the bookkeeping they share.

    Attributes: ``num_envs``, ``device``, ``single_observation_space`` and
    ``single_action_space`` (gymnasium spaces of one env), ``max_episode_steps``
    (truncation after this many steps of an element), ``finite`` (the exact
    FiniteMDP, or None), ``state`` (finite envs: each element's state index in
    ``finite``), ``steps`` (each element's step count), ``generator``.

    Subclasses implement ``_reset_where(mask)``, ``_step(action) -> (reward,
    terminated)`` and ``_observe() -> (obs, info)``.
    """

    single_observation_space = None
    single_action_space = None
    finite: Optional[FiniteMDP] = None
    #: the attributes that hold the elements' states (kept by inactive elements)
    _dynamic: tuple[str, ...] = ()

    def __init__(self, num_envs: int, device="cpu", seed: Optional[int] = None,
                 max_episode_steps: int = 1000):
        if num_envs < 1:
            raise ObjlangError(f"num_envs must be at least 1, not {num_envs}")
        self.num_envs = int(num_envs)
        self.device = device_of(device)
        self.max_episode_steps = int(max_episode_steps)
        self.generator = torch.Generator(self.device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))
        self.steps = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)

    # ---- the protocol ------------------------------------------------------------
    def reset(self, seed: Optional[int] = None):
        """Reset every element (reseeding the generator first when ``seed`` is
        given); returns ``(obs, info)``."""
        if seed is not None:
            self.generator.manual_seed(int(seed))
        return self.reset_where(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))

    def reset_where(self, mask):
        """Reset the elements where ``mask`` (bool ``(B,)``) holds: fresh initial
        states and step counts; returns the whole batch's ``(obs, info)``."""
        mask = self._input(mask, torch.bool, (self.num_envs,), "mask")
        self.steps = torch.where(mask, 0, self.steps)
        self._reset_where(mask)
        return self._observe()

    def step(self, action, active=None):
        """Step every element: ``(next_obs, reward, terminated, truncated, info)``;
        truncated once an element has run ``max_episode_steps`` steps (as
        gymnasium's TimeLimit: also when it terminates on that step).

        ``active`` (bool ``(B,)``, optional): only those elements move; the others
        keep their state and step count, with reward 0 and no termination (an
        ε-action of a good-for-MDPs automaton moves the automaton, not the env)."""
        space = self.single_action_space
        shape = (self.num_envs,) + tuple(space.shape or ())
        dtype = torch.int64 if space.shape == () else torch.float32
        action = self._input(action, dtype, shape, "action")
        if active is None:
            reward, terminated = self._step(action)
            self.steps = self.steps + 1
        else:
            active = self._input(active, torch.bool, (self.num_envs,), "active mask")
            before = {k: getattr(self, k) for k in self._dynamic}
            reward, terminated = self._step(action)
            for k, old in before.items():
                new = getattr(self, k)
                setattr(self, k, torch.where(active.reshape((-1,) + (1,) * (new.dim() - 1)),
                                             new, old))
            reward = torch.where(active, reward, 0.0)
            terminated = terminated & active
            self.steps = self.steps + active.long()
        obs, info = self._observe()
        return obs, reward, terminated, self.steps >= self.max_episode_steps, info

    # ---- helpers ----------------------------------------------------------------
    def _input(self, x, dtype, shape, what: str) -> torch.Tensor:
        """``x`` as a tensor of ``dtype`` and ``shape`` on the env's device; a tensor
        on another device is refused, never moved."""
        if isinstance(x, torch.Tensor):
            if x.device != self.device:
                raise ObjlangError(f"the {what} is on {x.device}, the env on {self.device}",
                                   None, f"move it with .to({str(self.device)!r}) first")
            x = x.to(dtype)
        else:
            x = torch.as_tensor(np.asarray(x), dtype=dtype, device=self.device)
        if tuple(x.shape) != shape:
            raise ObjlangError(f"the {what} has shape {tuple(x.shape)}, expected {shape}")
        return x

    def _uniform(self) -> torch.Tensor:
        return torch.rand(self.num_envs, generator=self.generator, device=self.device)


class TensorMDP(BatchedEnv):
    """A :class:`~objlang.finite.model.FiniteMDP` as a batched env.

    The transitions are stored as padded rows (row ``s * A + a``, up to ``K``
    outcomes: next state, cumulative probability, env reward); a step draws one
    uniform per element (none when every row is deterministic) and picks the
    outcome by comparing it with the row's cumulative probabilities. Outcomes
    that the FiniteMDP merged but whose env rewards differ (``reward_split``:
    CliffWalking's fall and step into the start) are kept apart, so rewards are
    the env's own. Entering an absorbing copy (``"15#end"``) terminates.
    ``obs`` is ``mdp.obs`` of the state (int64), ``info`` the state's row of
    ``mdp.info`` (empty for envs without a per-state info table).
    """

    _dynamic = ("state",)

    def __init__(self, mdp: FiniteMDP, num_envs: int, device="cpu", seed: Optional[int] = None,
                 max_episode_steps: int = 200, action_space=None, observation_space=None):
        from gymnasium import spaces

        super().__init__(num_envs, device, seed, max_episode_steps)
        self.finite = mdp
        A = mdp.n_actions
        self.single_action_space = action_space or spaces.Discrete(A)
        self.single_observation_space = observation_space or \
            spaces.Discrete(int(np.max(mdp.obs)) + 1)
        nxt, cum, rew = _padded_rows(mdp)
        self._K = nxt.shape[1]
        dev = self.device
        self._next = torch.as_tensor(nxt.reshape(-1), device=dev)
        self._cum = torch.as_tensor(cum, dtype=torch.float32, device=dev)
        self._reward = torch.as_tensor(rew.reshape(-1), dtype=torch.float32, device=dev)
        self._A = A
        self._terminal = torch.as_tensor(np.asarray(mdp.terminal, bool), device=dev)
        self._obs = torch.as_tensor(np.asarray(mdp.obs, np.int64), device=dev)
        init = np.asarray(mdp.init, np.float64)
        init_cum = np.cumsum(init / init.sum())
        init_cum[np.flatnonzero(init > 0)[-1]:] = _ABOVE
        self._init_cum = torch.as_tensor(init_cum, dtype=torch.float32, device=dev)
        self._fixed_start = int(np.argmax(init)) if np.count_nonzero(init) == 1 else None
        # the info table packed as one (S, n_keys) tensor: one gather per step
        self._info_keys = list(mdp.info)
        if self._info_keys:
            table = np.stack([np.asarray(mdp.info[k]) for k in self._info_keys], 1)
            dtype = torch.bool if table.dtype == bool else torch.float32
            self._info = torch.as_tensor(table, device=dev).to(dtype)
        self.state = torch.zeros(self.num_envs, dtype=torch.int64, device=dev)

    def _reset_where(self, mask):
        if self._fixed_start is not None:
            start = torch.full_like(self.state, self._fixed_start)
        else:
            start = torch.searchsorted(self._init_cum, self._uniform(), right=True)
        self.state = torch.where(mask, start, self.state)

    def _step(self, action):
        row = self.state * self._A + action
        if self._K == 1:
            k = row
        else:
            # index_select: several times faster than advanced indexing of rows
            below = torch.index_select(self._cum, 0, row) <= self._uniform()[:, None]
            k = row * self._K + below.sum(1)
        self.state = self._next[k]
        return self._reward[k], self._terminal[self.state]

    def _observe(self):
        info = {}
        if self._info_keys:
            rows = torch.index_select(self._info, 0, self.state)
            info = {k: rows[:, j] for j, k in enumerate(self._info_keys)}
        return self._obs[self.state], info


def _padded_rows(mdp: FiniteMDP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(next, cumulative probability, env reward)``, each ``(S * A, K)``: the
    outcomes of every row of ``mdp.P``, padded to the longest row."""
    P = mdp.P.tocsr()
    P.sort_indices()
    R = mdp.env_reward.tocsr()
    R.sort_indices()
    n_rows = P.shape[0]
    rows = np.repeat(np.arange(n_rows), np.diff(P.indptr))
    cols, probs = P.indices.astype(np.int64), P.data.astype(np.float64)
    rewards = R.data if R.nnz == P.nnz else np.asarray(R[rows, cols]).reshape(-1)
    if mdp.reward_split:
        s_rows, s_cols, s_probs, s_rewards = mdp.reward_split
        keep = ~np.isin(rows * mdp.n_states + cols, s_rows * mdp.n_states + s_cols)
        rows = np.concatenate([rows[keep], s_rows])
        cols = np.concatenate([cols[keep], s_cols])
        probs = np.concatenate([probs[keep], s_probs])
        rewards = np.concatenate([rewards[keep], s_rewards])
        order = np.argsort(rows, kind="stable")
        rows, cols, probs, rewards = rows[order], cols[order], probs[order], rewards[order]
    counts = np.bincount(rows, minlength=n_rows)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(rows)) - first[rows]
    K = int(counts.max())
    nxt = np.zeros((n_rows, K), np.int64)
    rew = np.zeros((n_rows, K))
    cum = np.full((n_rows, K), _ABOVE)
    # padding repeats the row's last outcome, never drawn (its cumulative is _ABOVE)
    nxt[:] = cols[first + counts - 1][:, None]
    nxt[rows, slot] = cols
    rew[rows, slot] = rewards
    running = np.cumsum(probs)
    running -= np.repeat(running[first] - probs[first], counts)
    cum[rows, slot] = running
    cum[np.arange(n_rows), counts - 1] = _ABOVE
    return nxt, cum, rew


class ZoneNav(BatchedEnv):
    """:mod:`objlang.envs.zonenav` batched: ``pos`` and ``vel`` are ``(B, 2)``
    float32 tensors; obs float32 ``(B, 12)``, action float32 ``(B, 2)``, info one
    bool ``(B,)`` per zone colour."""

    _dynamic = ("pos", "vel")

    def __init__(self, num_envs: int, device="cpu", seed: Optional[int] = None,
                 max_episode_steps: int = 200):
        super().__init__(num_envs, device, seed, max_episode_steps)
        single = zonenav.ZoneNavEnv()
        self.single_observation_space = single.observation_space
        self.single_action_space = single.action_space
        self._centres = torch.as_tensor(zonenav.CENTRES, device=self.device)
        self.pos = torch.zeros(self.num_envs, 2, device=self.device)
        self.vel = torch.zeros(self.num_envs, 2, device=self.device)

    def _reset_where(self, mask):
        u = torch.rand(self.num_envs, 2, generator=self.generator, device=self.device)
        start = zonenav.START_LOW + (zonenav.START_HIGH - zonenav.START_LOW) * u
        self.pos = torch.where(mask[:, None], start, self.pos)
        self.vel = torch.where(mask[:, None], 0.0, self.vel)

    def _step(self, action):
        self.pos, self.vel = zonenav.step_point(torch, self.pos, self.vel, action)
        zeros = torch.zeros(self.num_envs, device=self.device)
        return zeros, torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def _observe(self):
        obs, inside = zonenav.observe(torch, self.pos, self.vel, self._centres)
        return obs, {k: inside[:, j] for j, k in enumerate(zonenav.ZONES)}


# ---- building the batched env of a spec -------------------------------------------

OFFICEWORLD, ZONENAV = "objlang/OfficeWorld-v0", "objlang/ZoneNav-v0"


def make_batched(spec, num_envs: int, device="cpu", seed: Optional[int] = None,
                 env_id: Optional[str] = None, max_episode_steps: Optional[int] = None
                 ) -> BatchedEnv:
    """The batched env of a spec's ``env`` declaration (``spec``: a checked spec, a
    path, or None with ``env_id``), or of ``env_id``: OfficeWorld and ZoneNav
    natively, any finite env (toy-text envs, ``mdp`` blocks) as a
    :class:`TensorMDP`. The time limit is ``max_episode_steps``, else the env
    declaration's ``max_episode_steps``, else gymnasium's registered one, else the
    spec's ``max_episode_steps`` option (default 200)."""
    import gymnasium

    from .. import load
    from ..finite.extract import finite_env, from_gym, literal
    from ..gym import _register_builtin
    from ..gym.wrapper import DEFAULTS, options_of

    _register_builtin()
    if spec is not None and not isinstance(spec, n.Spec):
        spec = load(spec)
    decl = None if spec is None else next(iter(spec.of_type(n.EnvDecl)), None)
    if env_id is None and decl is None:
        raise ObjlangError("no env to batch: the spec declares no env", None,
                           'add `env "objlang/OfficeWorld-v0"` or pass env_id=...',
                           None if spec is None else spec.source)
    kwargs = {} if env_id is not None else {k: literal(v) for k, v in decl.kwargs}
    env_id = env_id or decl.env_id
    is_mdp = env_id == getattr(decl, "env_id", None) and decl.is_mdp
    steps = max_episode_steps or kwargs.pop("max_episode_steps", None)
    if steps is None and not is_mdp and env_id in gymnasium.registry:
        steps = gymnasium.registry[env_id].max_episode_steps
    if steps is None:
        steps = (options_of(spec) if spec is not None else DEFAULTS)["max_episode_steps"]
    where = dict(loc=getattr(decl, "loc", None), source=getattr(spec, "source", None))
    if kwargs and env_id in (OFFICEWORLD, ZONENAV):
        raise ObjlangError(f"'{env_id}' takes no arguments (got {', '.join(kwargs)})", **where)
    if env_id == ZONENAV:
        return ZoneNav(num_envs, device, seed, steps)
    if env_id == OFFICEWORLD:
        single = officeworld.OfficeWorldEnv()
        return TensorMDP(from_gym(single, OFFICEWORLD), num_envs, device, seed, steps,
                         single.action_space, single.observation_space)
    if is_mdp:
        mdp = finite_env(spec)
    else:
        try:
            env = gymnasium.make(env_id, **kwargs)
        except Exception as exc:
            raise ObjlangError(f"cannot make env '{env_id}': {exc}", **where) from None
        try:
            mdp = from_gym(env, env_id)
        except ObjlangError as exc:
            raise ObjlangError(f"no batched version of '{env_id}': {exc.message}",
                               hint="batched envs: "
                               f"{OFFICEWORLD}, {ZONENAV}, toy-text envs (FrozenLake-v1, "
                               "CliffWalking-v1, Taxi-v4) and mdp blocks; other envs run "
                               "through objlang.make and gymnasium's vector envs",
                               **where) from None
        finally:
            env.close()
    return TensorMDP(mdp, num_envs, device, seed, steps)
