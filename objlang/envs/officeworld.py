"""The office world of the reward-machine literature, as a gymnasium env.

A 9 x 12 grid of 3 x 3 rooms joined by doors (Toro Icarte, Klassen, Valenzano and
McIlraith, "Using Reward Machines for High-Level Task Specification and Decomposition
in Reinforcement Learning", ICML 2018; the layout of ``envs/grids/office_world.py``
in github.com/RodrigoToroIcarte/reward_machines, re-implemented here). Cells hold
coffee (two cells), the mail, the office, six decorations and the landmarks a-d.

* Observation ``Discrete(108)``: the cell ``row * 12 + col``, row 0 at the top
  (the paper's ``(x, y)`` with y pointing up is ``row = 8 - y``, ``col = x``).
* Actions ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left; deterministic; a move
  into a wall keeps the agent where it is.
* ``info``: one bool per feature of the cell, ``coffee mail office decor a b c d``.
* The env never terminates and pays no reward (the task's objective does);
  ``gymnasium.make("objlang/OfficeWorld-v0")`` truncates after 1000 steps, the
  episode length of the reward-machine code's ``Office-v0``.
* Finite: ``env.unwrapped.P`` is the toy-text transition table and
  ``env.unwrapped.state_info`` the info of every cell, so ``objlang solve``
  solves office-world specs exactly.

>>> env = OfficeWorldEnv()
>>> obs, info = env.reset(seed=0)
>>> obs, env.cell(obs), info["a"]
(86, (7, 2), False)
>>> [env.step(3)[0] for _ in range(3)]  # left x3: landmark a, then the west wall
[85, 84, 84]
"""
from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

ROWS, COLS = 9, 12
N_CELLS = ROWS * COLS
#: action index -> (row step, column step)
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])
ACTION_NAMES = ("up", "right", "down", "left")
FEATURES = ("coffee", "mail", "office", "decor", "a", "b", "c", "d")

#: feature -> cells as (x, y) of the paper (y up)
_OBJECTS_XY = {
    "coffee": [(8, 2), (3, 6)], "mail": [(7, 4)], "office": [(4, 4)],
    "decor": [(4, 1), (7, 1), (4, 7), (7, 7), (1, 4), (10, 4)],
    "a": [(1, 1)], "b": [(1, 7)], "c": [(10, 7)], "d": [(10, 1)],
}
_START_XY = (2, 1)
#: doors as (x, y) pairs of the paper: east-west doors on y = 1 and y = 7 between
#: every pair of neighbouring rooms, north-south doors between y = 5 and y = 6 in
#: every column of rooms, and between y = 2 and y = 3 in the outer columns
_DOORS_EW = [((x, y), (x + 1, y)) for y in (1, 7) for x in (2, 5, 8)]
_DOORS_NS = ([((x, 5), (x, 6)) for x in (1, 4, 7, 10)]
             + [((x, 2), (x, 3)) for x in (1, 10)])


def _index(x: int, y: int) -> int:
    return (ROWS - 1 - y) * COLS + x


START = _index(*_START_XY)


def _tables() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(next_cell (108, 4), features: name -> (108,) bool)``."""
    rows, cols = np.divmod(np.arange(N_CELLS), COLS)
    r2 = rows[:, None] + MOVES[:, 0]
    c2 = cols[:, None] + MOVES[:, 1]
    # a move that leaves its 3 x 3 room crosses a wall unless a door is there
    crosses = (r2 // 3 != rows[:, None] // 3) | (c2 // 3 != cols[:, None] // 3)
    outside = (r2 < 0) | (r2 >= ROWS) | (c2 < 0) | (c2 >= COLS)
    door = np.zeros((N_CELLS, 4), bool)
    for (p, q), (fwd, back) in [*((d, (1, 3)) for d in _DOORS_EW),  # east, then west
                                *((d, (0, 2)) for d in _DOORS_NS)]:  # y up = row up
        door[_index(*p), fwd] = door[_index(*q), back] = True
    blocked = outside | (crosses & ~door)
    nxt = np.where(blocked, np.arange(N_CELLS)[:, None], r2 * COLS + c2)
    features = {}
    for name in FEATURES:
        mask = np.zeros(N_CELLS, bool)
        mask[[_index(x, y) for x, y in _OBJECTS_XY[name]]] = True
        features[name] = mask
    return nxt, features


NEXT, STATE_INFO = _tables()


class OfficeWorldEnv(gymnasium.Env):
    """The office world (see the module docstring)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None):
        self.observation_space = spaces.Discrete(N_CELLS)
        self.action_space = spaces.Discrete(len(MOVES))
        self.render_mode = render_mode
        #: toy-text transition table: P[s][a] = [(prob, next, reward, terminated)]
        self.P = {s: {a: [(1.0, int(NEXT[s, a]), 0.0, False)] for a in range(len(MOVES))}
                  for s in range(N_CELLS)}
        self.initial_state_distrib = np.eye(N_CELLS)[START]
        #: the info of every cell: feature -> (108,) bool
        self.state_info = {k: v.copy() for k, v in STATE_INFO.items()}
        self.s = START

    @staticmethod
    def cell(s: int) -> tuple[int, int]:
        """(row, column) of cell index ``s``."""
        return divmod(int(s), COLS)

    def _info(self) -> dict:
        return {k: bool(v[self.s]) for k, v in STATE_INFO.items()}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = START
        return self.s, self._info()

    def step(self, action):
        self.s = int(NEXT[self.s, int(action)])
        return self.s, 0.0, False, False, self._info()

    def render(self):
        """The grid as text: ``A`` the agent, ``C`` coffee, ``M`` mail, ``O`` the
        office, ``*`` a decoration, ``a``-``d`` the landmarks, ``#`` walls."""
        if self.render_mode != "ansi":
            return None
        return render_text(self.s)


def render_text(agent: int | None = None) -> str:
    """The office world as text (see :meth:`OfficeWorldEnv.render`)."""
    marks = {"coffee": "C", "mail": "M", "office": "O", "decor": "*",
             "a": "a", "b": "b", "c": "c", "d": "d"}
    grid = [["#"] * (2 * COLS + 1) for _ in range(2 * ROWS + 1)]
    for s in range(N_CELLS):
        r, c = divmod(s, COLS)
        here = [marks[k] for k in FEATURES if STATE_INFO[k][s]]
        grid[2 * r + 1][2 * c + 1] = "A" if s == agent else (here[0] if here else " ")
        if NEXT[s, 1] != s:  # open to the east
            grid[2 * r + 1][2 * c + 2] = " "
        if NEXT[s, 2] != s:  # open to the south
            grid[2 * r + 2][2 * c + 1] = " "
        if r % 3 < 2 and c % 3 < 2:  # a corner inside a room
            grid[2 * r + 2][2 * c + 2] = " "
    return "\n".join("".join(row) for row in grid)
