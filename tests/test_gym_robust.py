"""Robustness of compiled gymnasium envs (issue 4): gymnasium's env checker on every
example, vector envs under both autoreset modes, pickling and seeding, registration
across processes, errors at wrap time, external props, Lagrangian costs and flat
observations."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import objlang
from objlang import ObjlangError
from objlang.expressivity.written import written_in
from objlang.gym import REGISTRY_VAR, LagrangianReward
from objlang.gym.plan import TRAINERS

from _samples import ROOT

#: a start drawn between a and b, so the automaton's state after a reset depends on
#: the reset observation; g and h are absorbing, so episodes end by a rejecting sink
#: (h) or by a ζ-jump (zeta 0.5), several times in a few steps
COIN = """
mdp coin {
    start a : 0.5, b : 0.5
    a go -> a : 0.5, g : 0.5
    b go -> b : 0.5, h : 0.5
    g * -> g
    h * -> h
}
env coin
options { zeta: 0.5 }
prop p = obs == b
prop goal = obs == g
prop bad = obs == h
ltl f = (p | F goal) & G !bad
objective o { maximize P[f] }
"""

#: one state, every step an accepting edge: only the wrapper's own randomness (the
#: ζ-jump, probability 1 - ζ = 0.5 a step) ends an episode
LOOP = """
mdp loop {
    start s
    s go -> s
}
env loop
options { zeta: 0.5 }
prop p = obs == s
ltl f = G F p
objective o { maximize P[f] }
"""

#: warnings of check_env that say nothing about the compiled env: the checker prefers
#: unwrapped envs, CartPole's own Box is unbounded, MO-Gymnasium rewards are vectors
BENIGN = ("is different from the unwrapped version", "infinity")
VECTOR_REWARD = "The reward returned by `step()` must be a float"


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("specs")
    for name, text in (("coin", COIN), ("loop", LOOP)):
        (root / f"{name}.obj").write_text(text)
    return root


@pytest.fixture
def registry_var(monkeypatch):
    """OBJLANG_ENVS restored after the test (register writes to it)."""
    monkeypatch.setenv(REGISTRY_VAR, "{}")


def checked(env, vector: bool = False) -> None:
    """check_env, failing on any warning that is not known to be benign."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    allowed = BENIGN + ((VECTOR_REWARD,) if vector else ())
    bad = [str(w.message) for w in caught if not any(a in str(w.message) for a in allowed)
           and not issubclass(w.category, DeprecationWarning)]
    assert not bad, bad


def rollout(env, seed: int, steps: int, actions=None) -> list:
    """A comparable record of ``steps`` steps from ``reset(seed=...)``, resetting
    (unseeded) after each episode; actions from a seeded generator."""
    rng = np.random.default_rng(seed)
    n = env.action_space.n
    obs, info = env.reset(seed=seed)
    out = [("reset", repr(obs), info["objlang"]["q"])]
    for _ in range(steps):
        a = int(rng.integers(n)) if actions is None else actions
        obs, r, te, tr, info = env.step(a)
        out.append((a, repr(obs), np.asarray(r).tolist(), te, tr, info["objlang"]["q"]))
        if te or tr:
            obs, info = env.reset()
            out.append(("reset", repr(obs), info["objlang"]["q"]))
    return out


# ---- 1. check_env on every compiled example ------------------------------------------
EXAMPLES = sorted((ROOT / "examples").glob("*/*.obj"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_env_checker_on_examples(path):
    loaded = objlang.load(path)
    for obj in loaded.objectives:
        key = written_in(obj, loaded)[0]
        if key in TRAINERS:  # no per-step reward carries it: refused, naming the trainer
            with pytest.raises(ObjlangError) as err:
                objlang.make(path, obj.name)
            assert f"objective '{obj.name}'" in str(err.value)
            assert "objlang train" in err.value.hint
            continue
        env = objlang.make(path, obj.name)
        checked(env, vector=env.plan.mode == "vector")


# ---- 2. vector envs under both autoreset modes -----------------------------------------
def reset_states(path) -> dict:
    """The automaton state after a fresh env's reset, per reset observation."""
    env = objlang.make(path)
    out = {}
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        out[int(obs["obs"])] = list(obs["automaton"])
        assert info["objlang"]["q"] == out[int(obs["obs"])]
    return out


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("autoreset", ["NEXT_STEP", "SAME_STEP"])
def test_vector_envs_restart_the_automaton(spec_dir, registry_var, mode, autoreset):
    path = spec_dir / "coin.obj"
    ref = reset_states(path)
    # both starts seen, and they put the automaton in different states
    assert len(ref) == 2 and len({tuple(q) for q in ref.values()}) == 2
    eid = objlang.register(path)
    ar = getattr(gymnasium.vector.AutoresetMode, autoreset)
    envs = gymnasium.make_vec("objlang:" + eid, 2, vectorization_mode=mode,
                              vector_kwargs={"autoreset_mode": ar})
    try:
        obs, info = envs.reset(seed=0)
        done = np.zeros(2, bool)
        restarts = changed = 0
        for _ in range(16):
            before = obs["automaton"].copy()
            obs, r, te, tr, info = envs.step(np.zeros(2, np.int64))
            assert info["_objlang"].all()
            assert [list(q) for q in info["objlang"]["q"]] == obs["automaton"].tolist()
            ended = te | tr
            # the observation that follows a reset: NEXT_STEP on the step after the
            # end (reward 0), SAME_STEP on the ending step itself (final_obs in info)
            fresh = done if ar == gymnasium.vector.AutoresetMode.NEXT_STEP else ended
            for i in np.flatnonzero(fresh):
                assert list(obs["automaton"][i]) == ref[int(obs["obs"][i])]
                if ar == gymnasium.vector.AutoresetMode.NEXT_STEP:
                    assert r[i] == 0.0 and not ended[i]
                    last = before[i]
                else:
                    assert info["final_info"]["_objlang"][i]
                    last = info["final_obs"][i]["automaton"]
                changed += list(last) != list(obs["automaton"][i])
                restarts += 1
            done = ended
        assert restarts >= 4
        assert changed >= 2  # ended episodes left the automaton elsewhere
    finally:
        envs.close()


# ---- 3. pickling, seeding, rebuilding from env.spec ------------------------------------
@pytest.mark.parametrize("which", ["coin", "frozenlake/safe_goal.obj:reach",
                                   "frozenlake/risk_averse.obj", "toy/gamble.obj"])
def test_pickled_env_continues_identically(spec_dir, which):
    if which == "coin":
        env = objlang.make(spec_dir / "coin.obj")
    else:
        path, _, obj = which.partition(":")
        env = objlang.make(ROOT / "examples" / path, obj or None, zeta=0.5)
    # mid-episode, after some episodes ended (the terminal form has compiled f then)
    assert sum(step[0] == "reset" for step in rollout(env, 7, 250)) > 1
    copy = pickle.loads(pickle.dumps(env))
    assert copy.observation_space == env.observation_space
    rng = np.random.default_rng(1)
    for _ in range(60):
        a = int(rng.integers(env.action_space.n))
        one, two = env.step(a), copy.step(a)
        assert repr(one[:4]) == repr(two[:4]) and one[4]["objlang"] == two[4]["objlang"]
        if one[2] or one[3]:
            assert repr(env.reset()) == repr(copy.reset())
    assert rollout(env, 3, 30) == rollout(copy, 3, 30)


def test_seeds_reproduce_the_zeta_jumps(spec_dir):
    env = objlang.make(spec_dir / "loop.obj")

    def lengths(seed):
        out = []
        env.reset(seed=seed)
        for _ in range(200):
            steps = 1
            while not any(env.step(0)[2:4]):
                steps += 1
            out.append(steps)
            env.reset()
        return out

    a = lengths(5)
    assert lengths(5) == a and lengths(6) != a
    # episodes end only by jumps of probability 1 - ζ = 0.5 a step: geometric lengths
    # of mean 2 and standard deviation sqrt(2); 6 standard errors of the mean of 200
    assert abs(np.mean(a) - 2.0) < 6 * np.sqrt(2 / 200)
    fresh = objlang.make(spec_dir / "loop.obj")
    assert rollout(fresh, 5, 50, actions=0) == rollout(env, 5, 50, actions=0)


@pytest.mark.parametrize("path,obj", [("examples/frozenlake/safe_goal.obj", "reach"),
                                      ("examples/toy/gamble.obj", None)])
def test_env_spec_rebuilds_the_stack(monkeypatch, tmp_path, path, obj):
    monkeypatch.chdir(ROOT)
    env = objlang.make(path, obj)  # a relative path
    reference = rollout(env, 11, 40)
    monkeypatch.chdir(tmp_path)  # env.spec must not depend on the directory
    again = gymnasium.make(env.spec)
    assert isinstance(again, objlang.gym.ObjlangWrapper)
    assert again.observation_space == env.observation_space
    assert again.action_space == env.action_space
    assert rollout(again, 11, 40) == reference
    assert rollout(pickle.loads(pickle.dumps(again)), 11, 40) == reference


# ---- 4. registration across processes --------------------------------------------------
def test_registration_reaches_a_fresh_process(spec_dir, registry_var, tmp_path):
    eid = objlang.register(spec_dir / "coin.obj")
    assert eid == "objlang/coin.o-v0" and eid in json.loads(os.environ[REGISTRY_VAR])
    code = ("import json, gymnasium\n"
            f"env = gymnasium.make('objlang:{eid}')\n"
            "obs, info = env.reset(seed=4)\n"
            "out = [[int(obs['obs']), info['objlang']['q']]]\n"
            "for _ in range(12):\n"
            "    obs, r, te, tr, info = env.step(0)\n"
            "    out.append([int(obs['obs']), info['objlang']['q'], float(r), te, tr])\n"
            "    if te or tr:\n"
            "        obs, info = env.reset()\n"
            "        out.append([int(obs['obs']), info['objlang']['q']])\n"
            "print(json.dumps(out))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    env = gymnasium.make(eid)
    obs, info = env.reset(seed=4)
    out = [[int(obs["obs"]), info["objlang"]["q"]]]
    for _ in range(12):
        obs, r, te, tr, info = env.step(0)
        out.append([int(obs["obs"]), info["objlang"]["q"], float(r), te, tr])
        if te or tr:
            obs, info = env.reset()
            out.append([int(obs["obs"]), info["objlang"]["q"]])
    assert json.loads(run.stdout.strip().splitlines()[-1]) == out


def test_register_replaces_another_file_of_the_same_stem(spec_dir, registry_var, tmp_path):
    (tmp_path / "coin.obj").write_text(COIN.replace("start a : 0.5, b : 0.5",
                                                    "start a : 0.25, b : 0.75"))
    first = objlang.register(spec_dir / "coin.obj")
    with pytest.warns(UserWarning, match="Overriding environment"):  # gymnasium's
        second = objlang.register(tmp_path / "coin.obj")
    assert first == second
    built = gymnasium.make(second)
    assert sorted(built.unwrapped.mdp.init)[-2:] == [0.25, 0.75]  # the second file's env
    assert json.loads(os.environ[REGISTRY_VAR])[second]["spec"] == \
        str((tmp_path / "coin.obj").resolve())


# ---- 5. errors at wrap time ------------------------------------------------------------
class DictEnv(gymnasium.Env):
    """A small env with a Dict observation."""

    observation_space = spaces.Dict({"door": spaces.Discrete(2),
                                     "pos": spaces.Box(-1.0, 1.0, (2,), np.float32)})
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"door": 0, "pos": np.zeros(2, np.float32)}, {}

    def step(self, action):
        obs = {"door": int(action), "pos": np.zeros(2, np.float32)}
        return obs, 0.0, False, False, {}


def spec(text: str):
    return objlang.loads(text)


@pytest.mark.parametrize("body,named", [
    ("ltl f = F p\nobjective o { maximize P[f] }", "prop 'p'"),
    ("reward r = [p]\nobjective o { maximize E[G(r)] }", "reward term 'r'")])
def test_indexing_a_discrete_observation_fails_at_wrap_time(body, named):
    with pytest.raises(ObjlangError) as err:
        objlang.wrap(gymnasium.make("FrozenLake-v1"), spec(f"prop p = obs[0] == 1\n{body}"))
    assert named in str(err.value) and "Discrete(16)" in str(err.value)
    assert err.value.loc is not None  # the declaration of p, or of r


def test_a_key_absent_from_a_dict_observation_fails_at_wrap_time():
    ok = objlang.wrap(DictEnv(), spec('prop open = obs["door"] == 1\nltl f = G !open\n'
                                      'objective o { maximize P[f] }'))
    ok.reset(seed=0)
    _, _, terminated, _, info = ok.step(1)  # the door opens: G !open is violated
    assert terminated and info["objlang"]["sink"] and info["objlang"]["labels"] == {"open": True}
    with pytest.raises(ObjlangError) as err:
        objlang.wrap(DictEnv(), spec('prop open = obs["key"] == 1\nltl f = G !open\n'
                                     'objective o { maximize P[f] }'))
    message = str(err.value)
    assert "prop 'open'" in message and "'key'" in message and "Dict(" in message
    assert err.value.loc is not None and err.value.loc.line == 1


def test_a_missing_external_prop_fails_at_wrap_time():
    with pytest.raises(ObjlangError) as err:
        objlang.wrap(gymnasium.make("FrozenLake-v1"),
                     spec("prop near = external\nltl f = F near\nobjective o { maximize P[f] }"))
    assert "'near'" in str(err.value) and "props=" in err.value.hint


def test_an_env_id_with_a_module_needs_allow_import():
    s = spec('env "pkg.mod:Env-v0"\nprop p = obs == 1\nltl f = F p\n'
             'objective o { maximize P[f] }')
    with pytest.raises(ObjlangError) as err:
        objlang.make(s)
    assert "pkg.mod:Env-v0" in str(err.value) and "allow_import=True" in err.value.hint
    with pytest.raises(ObjlangError) as err:  # allowed: the import itself fails
        objlang.make(s, allow_import=True)
    assert "cannot make env 'pkg.mod:Env-v0'" in str(err.value)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
def test_a_reward_that_is_not_finite_is_an_error():
    # not finite on the observations of the space: found at wrap time
    with pytest.raises(ObjlangError) as err:
        objlang.wrap(gymnasium.make("FrozenLake-v1"),
                     spec("\nreward r = log(obs - 100)\nobjective o { maximize E[G(r)] }"))
    assert "reward term 'r'" in str(err.value) and "not finite" in str(err.value)
    assert "Discrete(16)" in str(err.value) and err.value.loc.line == 2
    # finite on the samples (env_reward 0), -inf on CartPole's reward of 1: on the step
    env = objlang.wrap(gymnasium.make("CartPole-v1"),
                       spec("reward r = log(1 - env_reward)\n\n"
                            "objective o { maximize E[G(r)] }"))
    env.reset(seed=0)
    with pytest.raises(ObjlangError) as err:
        env.step(0)
    assert "objective 'o'" in str(err.value) and "not finite" in str(err.value)
    assert err.value.loc is not None and err.value.loc.line == 3


# ---- 6. external props -----------------------------------------------------------------
EXTERNAL = """
prop near = external
reward touch = [near]
ltl f = G !near
objective safe { maximize P[f] }
objective touching { maximize E[G(touch)] }
"""


def test_external_props_drive_the_automaton():
    seen = []

    def near(obs, info):
        seen.append(dict(info))
        return obs == 1

    def lake():
        return gymnasium.make("FrozenLake-v1", is_slippery=False)

    env = objlang.wrap(lake(), spec(EXTERNAL), "safe", props={"near": near})
    obs, info = env.reset(seed=0)
    q0 = info["objlang"]["q"]
    assert info["objlang"]["labels"] == {"near": False} and not info["objlang"]["sink"]
    obs, r, te, tr, info = env.step(1)  # down: 0 -> 4, still not near
    assert info["objlang"]["q"] == q0 and not te
    env.reset()
    obs, r, te, tr, info = env.step(2)  # right: 0 -> 1, near: G !near is violated
    assert obs["obs"] == 1 and info["objlang"]["labels"] == {"near": True}
    assert te and info["objlang"]["sink"] and r == 0.0
    assert "prob" in seen[-1]  # the callable reads the env's info
    # the same step with a prop that never holds keeps the automaton where it was
    never = objlang.wrap(lake(), spec(EXTERNAL), "safe", props={"near": lambda o, i: False})
    never.reset(seed=0)
    assert not never.step(2)[2]
    # in a reward, a state prop is read on the next observation
    touching = objlang.wrap(lake(), spec(EXTERNAL), "touching", props={"near": near})
    touching.reset(seed=0)
    assert [touching.step(a)[1] for a in (2, 0)] == [1.0, 0.0]  # 0 -> 1 -> 0


# ---- 7. LagrangianReward ---------------------------------------------------------------
CLIFF = """
env "CliffWalking-v1"
reward step = env_reward
cost fall = [env_reward == -100]
cost up = [action == 0]
objective o {
    maximize E[G(step)]
    subject to E[G(fall)] <= 0.1
}
"""


def test_lagrangian_reward_subtracts_the_weighted_costs(tmp_path):
    (tmp_path / "cliff.obj").write_text(CLIFF)
    env = LagrangianReward(objlang.make(tmp_path / "cliff.obj"), {"fall": 2.0, "up": 0.5})
    plain = gymnasium.make("CliffWalking-v1")  # the env's own rewards, as a reference
    env.reset(seed=0)
    plain.reset(seed=0)
    # up, down, right into the cliff (back to the start), down, right into the cliff, ...
    actions = [0, 2, 1, 2, 1, 0, 3, 1]
    falls = 0
    for i, a in enumerate(actions):
        if i == 6:
            env.set_multipliers({"fall": 1.0})
        _, reward, _, _, info = env.step(a)
        _, r, _, _, _ = plain.step(a)
        assert set(info["cost"]) == {"fall", "up"}  # every declared cost, used or not
        assert info["cost"] == {"fall": float(r == -100), "up": float(a == 0)}
        lam = {"fall": 2.0, "up": 0.5} if i < 6 else {"fall": 1.0}
        expected = r - lam["fall"] * (r == -100) - lam.get("up", 0.0) * (a == 0)
        assert reward == pytest.approx(expected)
        falls += r == -100
    assert falls >= 2


# ---- 8. flat observations --------------------------------------------------------------
@pytest.mark.parametrize("path", ["frozenlake/safe_goal.obj", "toy/gamble.obj",
                                  "frozenlake/risk_averse.obj"])
def test_env_checker_on_flat_observations(path):
    path = ROOT / "examples" / path
    flat = objlang.make(path, objlang.load(path).objectives[0].name, flatten=True)
    assert isinstance(flat.observation_space, spaces.Box)
    assert flat.observation_space.dtype == np.float32
    checked(flat)


def test_flatten_gives_float32_one_hot_observations():
    path = ROOT / "examples/frozenlake/safe_goal.obj"
    flat = objlang.make(path, "reach", flatten=True)
    nested = objlang.make(path, "reach")
    n_obs, n_q = 16, int(nested.observation_space["automaton"].nvec[0])
    assert flat.observation_space == spaces.Box(0.0, 1.0, (n_obs + n_q,), np.float32)
    checked(flat)
    rng = np.random.default_rng(0)
    pairs = [(flat.reset(seed=2), nested.reset(seed=2))]
    for _ in range(30):
        a = int(rng.integers(4))
        one, two = flat.step(a), nested.step(a)
        pairs.append(((one[0], one[4]), (two[0], two[4])))
        assert one[1:4] == two[1:4]
        if one[2] or one[3]:
            pairs.append((flat.reset(), nested.reset()))
    for (x, _), (obs, info) in pairs:
        assert x.dtype == np.float32 and x in flat.observation_space
        # the env observation one-hot, then one one-hot block per automaton
        assert np.array_equal(x[:n_obs], np.eye(n_obs)[obs["obs"]])
        assert np.array_equal(x[n_obs:], np.eye(n_q)[obs["automaton"][0]])
        assert info["objlang"]["q"] == [int(np.argmax(x[n_obs:]))]
