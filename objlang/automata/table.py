"""The one table form of every automaton objlang uses.

A formula's or machine's automaton reads *letters*: valuations of the props it
uses (``props``, bit i of a valuation is ``props[i]``), so a letter is an
integer in ``range(2 ** len(props))``. The tables are dense integer arrays:

* ``delta[q, letter]``: the successor state (complete: every letter has one);
* ``color[q, letter]``: the priority of that edge for parity automata
  (``acceptance == "parity min even"``: a run is accepting when the least
  priority seen infinitely often is even), else -1;
* ``accepting[q, letter]``: the edge is accepting (Büchi mark, or for a DFA /
  machine: the edge enters an accepting / final state);
* ``reward[q, letter]``: the reward a machine emits on that edge (0 otherwise);
* ``sink[q]``: no continuation from q can be accepted (rejecting sink);
* ``final[q]``: an accepting DFA state, or a final machine state.

On a given env, some valuations can never occur (a cell is not both a hole
and the goal); :meth:`Automaton.compress` keeps only the letters that can,
and ``valuations[j]`` is then the valuation that letter j stands for.

Nondeterministic good-for-MDPs automata (for learning, ``acceptance ==
"buchi"``, :mod:`objlang.automata.gfm`) list their nondeterminism so that an
agent can resolve it:

* ``epsilon[q]``: the targets of q's ε-moves (moves that read no letter), a
  tuple per state (empty: none); ``epsilon_table`` holds the same as a dense
  ``(n_states, n_epsilon)`` int array, row q the targets of ``epsilon[q]``
  padded with -1, so that ε-move j can be an extra action ``A + j`` of a
  product (:func:`objlang.finite.product.product`) or a gym wrapper; where q
  has no j-th ε-move that action leaves the automaton where it is;
* ``choices[q, letter]``: a tuple of successor states on a letter, ``delta``
  holding the first. No automaton uses it yet: the LDBAs of
  :mod:`~objlang.automata.gfm` move deterministically on letters and put all
  their nondeterminism in ε-moves.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

ACCEPTANCES = ("parity min even", "buchi", "finite", "machine")


@dataclass(frozen=True, eq=False)
class Automaton:
    """A complete automaton as integer tables (see the module docstring)."""

    name: str
    props: tuple[str, ...]
    init: int
    delta: np.ndarray
    acceptance: str
    color: np.ndarray
    accepting: np.ndarray
    sink: np.ndarray
    reward: np.ndarray | None = None
    final: np.ndarray | None = None
    choices: dict | None = None
    epsilon: tuple[tuple[int, ...], ...] | None = None
    hoa: str | None = field(default=None, repr=False)
    #: the condition each prop of ``props`` stands for (a prop's name, or an
    #: inline state condition of the formula given a fresh name ``_c0``, ...)
    conditions: dict = field(default_factory=dict, repr=False)
    #: machines: the index of the edge taken on (q, letter), -1 for staying,
    #: and each edge's reward expression (None for no reward)
    edge: np.ndarray | None = None
    edge_rewards: tuple = ()
    #: after :meth:`compress`: the valuation of each letter (None: letter = valuation)
    valuations: np.ndarray | None = None

    @property
    def n_states(self) -> int:
        return self.delta.shape[0]

    @property
    def n_letters(self) -> int:
        return self.delta.shape[1]

    @cached_property
    def epsilon_table(self) -> np.ndarray:
        """``(n_states, n_epsilon)`` int: ``epsilon[q]`` padded with -1 (no ε-move: width 0)."""
        moves = self.epsilon or ((),) * self.n_states
        out = np.full((self.n_states, max(map(len, moves), default=0)), -1, np.int64)
        for q, targets in enumerate(moves):
            out[q, :len(targets)] = targets
        return out

    @property
    def n_epsilon(self) -> int:
        """The most ε-moves of a state (the number of ε-actions of a product)."""
        return self.epsilon_table.shape[1]

    def letter(self, valuation: dict[str, bool]) -> int:
        """The letter of a valuation of the props (missing props are false)."""
        raw = sum(1 << i for i, p in enumerate(self.props) if valuation.get(p, False))
        return int(self._from_valuations(np.asarray(raw)))

    def letters(self, labels: dict[str, np.ndarray]) -> np.ndarray:
        """Letters of many labels at once: ``labels[p]`` are boolean arrays of one shape."""
        shape = next(iter(labels.values())).shape if labels else ()
        out = np.zeros(shape, dtype=np.int64)
        for i, p in enumerate(self.props):
            out |= np.asarray(labels[p], dtype=np.int64) << i
        return self._from_valuations(out)

    def _from_valuations(self, raw: np.ndarray) -> np.ndarray:
        if self.valuations is None:
            return raw
        index = np.full(1 << len(self.props), -1, np.int64)
        index[self.valuations] = np.arange(len(self.valuations))
        out = index[raw]
        if (out < 0).any():
            bad = int(np.asarray(raw)[out < 0].flat[0])
            raise ValueError(f"valuation {bad} of {self.props} was compressed away as one "
                             f"that cannot occur")
        return out

    def compress(self, occurring) -> "Automaton":
        """The same automaton reading only the valuations in ``occurring`` (those
        that can occur on an env, e.g. ``np.unique`` of a product's state letters):
        its letter j stands for ``valuations[j]``. Sink flags are kept as they are.

        >>> import objlang
        >>> from objlang.automata import automaton_of
        >>> s = objlang.loads("prop a = obs == 1\\nprop b = obs == 2\\nltl f = F a & F b")
        >>> auto = automaton_of(s, "f").compress([0, 1, 2])  # a and b never both hold
        >>> auto.n_letters, auto.letter({"b": True})
        (3, 2)
        """
        occ = np.unique(np.asarray(occurring, dtype=np.int64))
        if self.valuations is not None:
            occ = self.valuations[self._from_valuations(occ)]
            cols = self._from_valuations(occ)
        else:
            cols = occ

        def pick(table):
            return None if table is None else table[:, cols]
        choices = None if self.choices is None else {
            (q, j): v for (q, c), v in self.choices.items() for j in np.flatnonzero(cols == c)}
        return replace(self, delta=self.delta[:, cols], color=self.color[:, cols],
                       accepting=self.accepting[:, cols], reward=pick(self.reward),
                       edge=pick(self.edge), choices=choices, valuations=occ)

    def run(self, letters) -> list[int]:
        """The states visited reading a sequence of letters, from ``init``."""
        q, out = self.init, [self.init]
        for a in letters:
            q = int(self.delta[q, a])
            out.append(q)
        return out
