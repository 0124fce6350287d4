"""Reward schemes that turn ``maximize P[φ]`` (φ in LTL) into per-step rewards.

Each scheme reads the edge the automaton took at a step and says what to pay,
whether the episode ends there and (``multi-discount``) the discount of the
step. All of them are *faithful in the limit*: as ζ → 1 (γ_B → 1) an optimal
policy for the scheme's return maximises the probability of φ. Rejecting
sinks end the episode with reward 0 in every scheme. When the env itself
terminates, the final label repeats forever (language.md §6): the wrapper
knows whether that tail is accepted and pays the scheme's expected reward of
the tail at once.

``zeta-reach`` (default)
    Hahn, Perez, Schewe, Somenzi, Trivedi, Wojtczak, "Omega-regular objectives
    in model-free reinforcement learning", TACAS 2019: on every accepting
    (Büchi) edge, with probability 1 − ζ jump to an accepting sink: reward 1,
    end of the episode. Needs a good-for-MDPs Büchi automaton.
``zeta-acc``
    Hahn et al., "Faithful and effective reward schemes for model-free
    reinforcement learning of omega-regular objectives", ATVA 2020: every
    accepting edge pays 1 − ζ and ends the episode with probability 1 − ζ
    (denser rewards; the expected return of an accepted tail is 1).
``multi-discount``
    Bozkurt, Wang, Zavlanos, Pajic, "Control synthesis from linear temporal
    logic specifications using model-free reinforcement learning", ICRA 2020:
    accepting edges pay 1 − γ_B and are discounted by γ_B, other steps by γ;
    the step's discount is in ``info["discount"]`` (with ``emulate_discount``
    the wrapper instead ends the episode with probability 1 − discount, for
    trainers that cannot read a per-step discount).
``parity``
    after Hahn et al., "Model-free reinforcement learning for stochastic parity
    games", CONCUR 2020: on an edge of priority c of the parity automaton, with
    probability (1 − ζ)^(c+1) the episode ends, paying 1 if c is even; lower
    priorities stop far more often, so the least priority seen infinitely
    often decides the outcome as ζ → 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCHEMES = ("zeta-reach", "zeta-acc", "multi-discount", "parity")


@dataclass
class Scheme:
    """A scheme's parameters; :meth:`step` is called once per env step."""

    name: str = "zeta-reach"
    zeta: float = 0.99
    gamma_b: float = 0.99
    gamma: float = 0.99

    @property
    def automaton(self) -> str:
        """The automaton kind the scheme reads: "parity", else a Büchi kind."""
        return "parity" if self.name == "parity" else "buchi"

    def step(self, u: float, accepting: bool, color: int) -> tuple[float, bool, float]:
        """(reward, stop, discount) of an edge; ``u`` is a uniform random number."""
        if self.name == "zeta-reach":
            stop = accepting and u < 1.0 - self.zeta
            return (1.0 if stop else 0.0), stop, 1.0
        if self.name == "zeta-acc":
            if accepting:
                return 1.0 - self.zeta, u < 1.0 - self.zeta, 1.0
            return 0.0, False, 1.0
        if self.name == "multi-discount":
            if accepting:
                return 1.0 - self.gamma_b, False, self.gamma_b
            return 0.0, False, self.gamma
        stop = u < (1.0 - self.zeta) ** (color + 1)
        return (1.0 if stop and color % 2 == 0 else 0.0), stop, 1.0

    def tail_values(self, delta: np.ndarray, marks: np.ndarray) -> np.ndarray:
        """Expected return of reading one letter forever, per (state, letter):
        the value paid when the env terminates. ``marks`` are Büchi marks
        (or parity colours for ``parity``); the tail's lasso is followed exactly."""
        Q, L = delta.shape
        out = np.zeros((Q, L))
        for letter in range(L):
            for q0 in range(Q):
                out[q0, letter] = self._lasso(delta[:, letter], marks[:, letter], q0)
        return out

    def _lasso(self, succ, marks, q0) -> float:
        seen, path = {}, []
        q = q0
        while q not in seen:
            seen[q] = len(path)
            path.append(q)
            q = int(succ[q])
        prefix, cycle = path[:seen[q]], path[seen[q]:]
        if self.name == "parity":
            return 1.0 if min(int(marks[c]) for c in cycle) % 2 == 0 else 0.0
        if not any(marks[c] for c in cycle):
            return 0.0
        if self.name != "multi-discount":
            return 1.0  # the jump (or the accepting edges' payments) comes almost surely
        value, scale = 0.0, 1.0
        for part in (prefix, cycle):
            start_value, start_scale = value, scale
            for c in part:
                r, _, d = self.step(1.0, bool(marks[c]), 0)
                value += scale * r
                scale *= d
        # the cycle repeats forever: a geometric series of its own value
        cycle_value, cycle_scale = value - start_value, scale / start_scale
        return start_value + cycle_value / (1.0 - cycle_scale)
