"""The compiled env's fast paths give what the batched evaluator and the automaton
tables give: letters of Box observations on Python floats, the schemes' shortcut
on edges that are not accepting, and the reused label dicts and state arrays."""
from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

import objlang
from objlang.gym.labels import Reader
from objlang.gym.schemes import SCHEMES, Scheme
from objlang.ir import sym
from objlang.ir.evaluate import compile_bool

from _samples import ROOT

PROPS = '''\
prop right = obs[0] > 0.5
prop upright = abs(obs[2]) < 0.125
prop mixed = obs[1] * 2 - obs[3] / 4 + 0.25 >= -obs[0]
prop member = obs[0] in {0, 1, 0.5}
prop logic = !(right & upright) | (mixed xor member)
prop arrows = (right -> upright) <-> !mixed
prop counted = [right] + 2 * [upright] + (if mixed then 0.5 else -1) > 1.25
prop exact = obs[3] == -0.5 | obs[1] != obs[2] & obs[2] <= 0.125
prop constant = true & !false
prop flipped = 0.125 >= abs(obs[1]) | -0.5 < obs[3] & 0.5 != obs[0]
'''
NAMES = ["right", "upright", "mixed", "member", "logic", "arrows", "counted", "exact",
         "constant", "flipped"]
SPACE = spaces.Box(-np.inf, np.inf, (4,), np.float32)


def _observations() -> np.ndarray:
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 0.6, (400, 4))
    special = [0.0, -0.0, 0.5, 1.0, 0.125, -0.125, -0.5, np.nan, np.inf, -np.inf]
    obs[:200] = rng.choice(special, (200, 4))  # boundaries and the values IEEE treats apart
    return obs.astype(np.float32)


def test_scalar_letters_equal_the_batched_evaluator():
    spec = objlang.loads(PROPS)
    reader = Reader(spec, SPACE, spaces.Discrete(2))
    conds = [sym.name(p) for p in NAMES]
    letter = reader.scalar_letter(conds)
    assert letter is not None
    obs = _observations()
    with np.errstate(all="ignore"):  # inf - inf and the like are NaN in both paths
        bits = [compile_bool(c, reader.scope)({"obs": obs}) for c in conds]
    expected = sum(b.astype(np.int64) << i for i, b in enumerate(bits))
    assert [letter(o, {}, {}) for o in obs] == expected.tolist()
    # and by hand on one observation: mixed is -2 - 0.75 + 0.25 >= -0.75 (false), so
    # logic is !true | (false xor false), arrows true <-> true, counted 1 + 2 - 1 > 1.25,
    # exact false | (-1 != 0.05 & 0.05 <= 0.125), flipped false | (-0.5 < 3 & 0.5 != 0.75)
    o = np.array([0.75, -1.0, 0.05, 3.0], np.float32)
    got = letter(o, {}, {})
    assert {p for i, p in enumerate(NAMES) if got >> i & 1} == {
        "right", "upright", "arrows", "counted", "exact", "constant", "flipped"}


@pytest.mark.parametrize("body", [
    "obs[0] ^ 2 < 1",             # powers: Python raises where numpy gives inf
    "norm(obs[0:2]) < 1",         # vectors
    "min(obs[0], obs[1]) < 0",    # NaN handling differs from numpy's minimum
    "exp(obs[0]) > 2",
    "info.ok",
])
def test_expressions_outside_the_scalar_subset_keep_the_batched_path(body):
    spec = objlang.loads(f"prop p = {body}\n")
    reader = Reader(spec, SPACE, spaces.Discrete(2))
    assert reader.scalar_letter([sym.name("p")]) is None


def test_scalar_path_needs_a_flat_float_box():
    spec = objlang.loads("prop p = obs[0] > 0.5\n")
    for space in [spaces.Box(0, 10, (4,), np.int64), spaces.Box(-1, 1, (2, 2), np.float32)]:
        assert Reader(spec, space, spaces.Discrete(2)).scalar_letter([sym.name("p")]) is None


CARTPOLE = '''\
env "CartPole-v1"
prop right = obs[0] > 0.05
prop upright = abs(obs[2]) < 0.02
prop fast = abs(obs[1]) > 0.5
ltl f = (!fast U right) & G F upright
objective o { maximize P[f] }
'''


def test_compiled_cartpole_walks_its_automaton_on_the_props_of_each_observation():
    env = objlang.make(objlang.loads(CARTPOLE))
    track = env._tracks[0]
    auto = track.auto
    obs, info = env.reset(seed=4)
    rng = np.random.default_rng(4)
    seen = set()
    for _ in range(300):
        o = obs["obs"]
        labels = {"right": bool(o[0] > 0.05), "upright": bool(abs(o[2]) < 0.02),
                  "fast": bool(abs(o[1]) > 0.5)}
        assert info["objlang"]["labels"] == labels
        seen.add(tuple(labels.values()))
        q = info["objlang"]["q"][0]
        assert obs["automaton"].tolist() == [q]
        # tamper with what the env handed out: later steps must not see it
        obs["automaton"][0] = -1
        info["objlang"]["labels"]["right"] = None
        obs, _, terminated, truncated, info = env.step(int(rng.integers(2)))
        o2 = obs["obs"]
        letter = auto.letter({"right": bool(o2[0] > 0.05), "upright": bool(abs(o2[2]) < 0.02),
                              "fast": bool(abs(o2[1]) > 0.5)})
        assert info["objlang"]["q"] == [int(auto.delta[q, letter])]
        if terminated or truncated:
            obs, info = env.reset()
    assert len(seen) >= 4  # the walk saw several letters


@pytest.mark.parametrize("name", [s for s in SCHEMES if s != "parity"])
def test_schemes_other_than_parity_ignore_u_and_colour_off_accepting_edges(name):
    # the wrapper takes such steps from scheme.step(1.0, False, 0) without drawing u
    scheme = Scheme(name, zeta=0.9, gamma_b=0.8, gamma=0.95)
    idle = scheme.step(1.0, False, 0)
    for u in np.linspace(0.0, 1.0, 11):
        for color in range(4):
            assert scheme.step(float(u), False, color) == idle


def test_seeded_resets_repeat_the_zeta_jumps():
    spec = objlang.loads('env "FrozenLake-v1" { is_slippery: false }\nprop left = obs in '
                         '{0, 4, 8, 12}\nltl f = G F left\nobjective o { maximize P[f] }\n')
    env = objlang.make(spec, zeta=0.7)

    def episode(seed):
        env.reset(seed=seed)
        steps = 0
        while True:  # action 0 (left) keeps the agent on the accepting start tile
            _, reward, terminated, truncated, _ = env.step(0)
            steps += 1
            if terminated or truncated:
                return steps, reward

    runs = [episode(s) for s in range(20)]
    assert runs == [episode(s) for s in range(20)]
    # each accepting step jumps with probability 0.3: episodes end early, paying 1
    lengths = [n for n, r in runs if r == 1.0]
    assert len(lengths) >= 15 and np.mean(lengths) < 10


def test_info_of_the_state_becomes_a_table():
    """OfficeWorld's info is a function of its cell (``state_info``): props and machine
    guards that read it are tables, and agree with the info of every step."""
    import objlang.envs  # noqa: F401  (registers objlang/OfficeWorld-v0)

    spec = objlang.load(ROOT / "examples/officeworld/deliver_coffee.obj")
    env = objlang.make(spec)
    assert env._reader.letter_table([sym.name("coffee"), sym.name("decor")]) is not None
    props = {p: env._reader.prop(p) for p in ("coffee", "office", "decor")}
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    phase, seen = "u0", set()
    for _ in range(3000):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
        # the machine by hand: u0 -coffee & !decor-> u1 -office & !decor-> done (1),
        # u0, u1 -decor-> broken; done and broken are final
        nxt = "broken" if info["decor"] else "u1" if phase == "u0" and info["coffee"] else \
            "done" if phase == "u1" and info["office"] else phase
        assert reward == (1.0 if nxt == "done" else 0.0)
        assert terminated == (nxt in ("done", "broken"))
        assert all(props[p](obs["obs"], {}, {}) == info[p] for p in props)  # tables
        seen.add(nxt)
        phase = nxt
        if terminated or truncated:
            env.reset()
            phase = "u0"
    assert "broken" in seen
