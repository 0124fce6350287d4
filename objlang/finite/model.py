"""Finite MDPs: the ground truth that exact solving, the PRISM export and the
semantic expressivity checks share.

States are ``0 .. S-1``, actions ``0 .. A-1``, every action available in every
state. Transitions are one sparse matrix ``P`` of shape ``(S * A, S)`` whose
row ``s * A + a`` is the distribution of the next state. Language.md §6 is
built in: a transition that the environment flags as terminating leads to an
*absorbing copy* of its target (same observation, hence the same labels, one
self-loop under every action, reward 0 afterwards), whatever the table says
about that state's own rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    """A finite MDP with observations (see the module docstring).

    Attributes:
        name: where it came from (an mdp block's name or a gymnasium id).
        state_names: one per state; absorbing copies are named ``"<name>#end"``.
        action_names: one per action.
        P: ``(S * A, S)`` CSR transition matrix, rows summing to 1.
        init: ``(S,)`` initial distribution.
        obs: ``(S,)`` the observation of each state (an int: the gymnasium
            ``Discrete`` observation, or the index of an mdp block's state);
            an absorbing copy observes what its original observes.
        terminal: ``(S,)`` True for absorbing copies.
        env_reward: ``(S * A, S)`` CSR, the environment's own reward of each
            transition (same sparsity as ``P``; 0 for mdp blocks and for
            transitions out of absorbing copies).
        obs_names: for mdp blocks, the state name of each observation value
            (constants in expressions); empty for gymnasium envs.
        reward_split: where outcomes with different env rewards lead to one
            state (CliffWalking's fall and step into the start), those outcomes
            as arrays ``(rows, cols, probs, rewards)``; ``env_reward`` holds their
            mean, and transition quantities that read ``env_reward`` average over
            them. Empty when every transition has one reward.
        info: for envs that give one (OfficeWorld), the ``info`` of every state:
            key -> ``(S,)`` array, so props that read ``info.key`` can be
            labelled; empty for envs whose info is not a function of the state.
    """

    name: str
    state_names: tuple[str, ...]
    action_names: tuple[str, ...]
    P: sp.csr_matrix
    init: np.ndarray
    obs: np.ndarray
    terminal: np.ndarray
    env_reward: sp.csr_matrix
    obs_names: tuple[str, ...] = field(default=())
    reward_split: tuple = field(default=())
    info: dict = field(default_factory=dict)

    @property
    def n_states(self) -> int:
        return self.P.shape[1]

    @property
    def n_actions(self) -> int:
        return len(self.action_names)

    def row(self, s: int, a: int) -> int:
        """The row of P holding the distribution of (s, a)."""
        return s * self.n_actions + a
