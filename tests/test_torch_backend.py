"""The torch backend computes what the gym backend computes: identical trajectories
go through gym wrappers (one per batch element) and one batched torch module, and
automaton states, flags, labels, rewards, costs and terminations are compared
element-wise at every step (the schemes' random numbers are the wrappers' own)."""
from __future__ import annotations

import random
from unittest import mock

import gymnasium
import numpy as np
import pytest
import torch

import objlang
from objlang import ObjlangError
from objlang.gym import base_env
from objlang.gym.schemes import SCHEMES, Scheme
from objlang.torch import compile_torch
from objlang.torch.compile import _stop_threshold

from _samples import ROOT

FROZEN = ROOT / "examples" / "frozenlake"

MACHINE_SPEC = '''\
env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
discount 0.9
prop goal = obs == 15
prop hole = obs in {5, 7, 11, 12}
prop row1 = obs in {4, 6}
prop mid = obs in {8, 9, 10}
reward step = -0.01
reward far = obs / 16
cost danger = [hole] + 0.5 * [action == 0]
machine tour {
    start u0
    u0 -> u1 when row1 & action != 0 reward far + 1
    u1 -> u0 when action == 3 & !hole & !mid reward 0.25
    u1 -> done when mid reward 2
    final done
}
objective o {
    maximize E[G(tour)] + 0.5 * E[G(step)]
    subject to E[G(danger)] <= 1
    subject to P[G !hole] >= 0.5
}
'''

VECTOR_SPEC = '''\
env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
discount 0.9
prop goal = obs == 15
reward win = 10 * [goal]
reward step = -0.01 + 0.001 * obs
objective o { maximize pareto(E[G(win)], E[G(step)] - E[G(win)]) }
'''

#: reaching `mid` does not end the episode: accepting edges recur and the schemes draw
REACH_SPEC = '''\
env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
discount 0.95
prop mid = obs in {6, 9, 10}
prop hole = obs in {5, 7, 11, 12}
ltl f = !hole U mid
objective o { maximize P[f] }
'''

PERSIST_SPEC = '''\
env "FrozenLake-v1" { is_slippery: true }
prop left = obs in {0, 4, 8, 12}
prop hole = obs in {5, 7, 11, 12}
ltl stay = F G left & G !hole
objective o { maximize P[stay] }
'''


class _Recorder(gymnasium.Wrapper):
    """The inner env's own step results (before the objective's termination)."""

    def step(self, action):
        out = super().step(action)
        self.last = out
        return out


class _Draws(random.Random):
    """The wrapper's uniforms, recorded (the wrappers are built and run while
    ``random.Random`` is this class)."""

    def __init__(self, seed=None):
        super().__init__(seed)
        self.draws = []

    def random(self):
        x = super().random()
        self.draws.append(x)
        return x


def _t(x, dtype=None, device="cpu"):
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def _info_batch(infos, keys, device):
    return {k: _t([i[k] for i in infos], device=device) for k in keys}


def _lockstep(*args, **kwargs):
    """Random actions through ``batch`` gym wrappers and one torch module; compares
    every step. Returns what was seen (for tests to check coverage)."""
    with mock.patch.object(random, "Random", _Draws):
        return _run_lockstep(*args, **kwargs)


def _run_lockstep(spec, objective=None, batch=6, steps=150, seed=0, device="cpu",
                  info_keys=(), n_actions=None, props=None, torch_props=None, **options):
    spec = objlang.load(spec) if not isinstance(spec, objlang.Spec) else spec
    envs, recs = [], []
    for b in range(batch):
        rec = _Recorder(base_env(spec))
        recs.append(rec)
        envs.append(objlang.wrap(rec, spec, objective, props, **options))
    mod = compile_torch(spec, objective, device, env=envs[0].env, props=torch_props, **options)
    assert mod.n_extra_actions == envs[0]._n_eps
    rng = np.random.default_rng(seed)
    raw, infos = [], []
    for b, env in enumerate(envs):
        obs, info = env.reset(seed=seed + b)
        raw.append(obs["obs"] if isinstance(obs, dict) else obs)
        infos.append(info)
    state = mod.reset(_t(np.stack(raw), device=device), _info_batch(infos, info_keys, device))
    _compare_reset(mod, state, infos)
    seen = {"accepting": 0, "sink": 0, "terminated": 0, "eps": 0, "steps": 0, "draws": 0}
    n_act = n_actions or envs[0].action_space.n
    for _ in range(steps):
        actions = rng.integers(n_act, size=batch)
        out = []
        for b, env in enumerate(envs):
            env._u.draws.clear()
            recs[b].last = None
            o, r, term, trunc, info = env.step(int(actions[b]))
            inner = recs[b].last
            if inner is None:  # an ε-action: the env did not move
                inner = (raw[b], 0.0, False, False, infos[b])
            u = env._u.draws[-1] if env._u.draws else 0.5
            seen["draws"] += bool(env._u.draws)
            out.append((o, r, term, trunc, info, inner, u))
        nxt = np.stack([x[5][0] for x in out])
        state, reward, cost, term, tinfo = mod.step(
            state, _t(np.stack(raw), device=device), _t(actions, device=device),
            _t(nxt, device=device), _t([x[5][1] for x in out], device=device),
            _info_batch(infos, info_keys, device),
            _info_batch([x[5][4] for x in out], info_keys, device),
            _t([x[5][2] for x in out], device=device), _t([x[5][3] for x in out], device=device),
            u=_t([x[6] for x in out], torch.float64, device))
        _compare_step(mod, envs, out, state, reward, cost, term, tinfo)
        seen["steps"] += batch
        seen["accepting"] += int(tinfo["accepting"].sum())
        seen["sink"] += int(tinfo["sink"].sum())
        seen["terminated"] += int(term.sum())
        seen["eps"] += int(tinfo.get("epsilon", torch.zeros(1)).sum())
        done = np.array([x[2] or x[3] for x in out])
        raw = list(nxt)
        infos = [x[4] for x in out]
        if done.any():
            for b in np.flatnonzero(done):
                o, info = envs[b].reset()
                raw[b] = o["obs"] if isinstance(o, dict) else o
                infos[b] = info
            obs_t = _t(np.stack(raw), device=device)
            info_t = _info_batch(infos, info_keys, device)
            state = mod.reset_where(state, _t(done, device=device), obs_t, info_t)
            _compare_reset(mod, state, infos, done)
    return seen


def _compare_reset(mod, state, infos, mask=None):
    for b, info in enumerate(infos):
        if mask is not None and not mask[b]:
            continue
        assert state["q"][b].tolist() == info["objlang"]["q"]
        assert bool(state["sink"][b]) == info["objlang"]["sink"]
        assert dict(zip(mod.prop_names, mod.labels(state)[b].tolist())) == \
            info["objlang"]["labels"]


def _compare_step(mod, envs, out, state, reward, cost, term, tinfo):
    q = state["q"].cpu().numpy()
    for b, (o, r, t, trunc, info, inner, u) in enumerate(out):
        rep = info["objlang"]
        where = f"element {b}, gym info {rep}"
        assert q[b].tolist() == rep["q"], where
        assert bool(tinfo["accepting"][b]) == rep["accepting"], where
        assert bool(tinfo["sink"][b]) == rep["sink"], where
        assert dict(zip(mod.prop_names, tinfo["labels"][b].tolist())) == rep["labels"], where
        assert bool(term[b]) == t, where
        if "truncated" in tinfo:
            assert bool(tinfo["truncated"][b] | torch.as_tensor(inner[3])) == trunc, where
        np.testing.assert_array_equal(reward[b].cpu().numpy(), np.float32(r), err_msg=where)
        gym_cost = info.get("cost", {})
        assert sorted(gym_cost) == sorted(mod.cost_names) or not gym_cost, where
        for j, name in enumerate(mod.cost_names):
            assert cost[b, j].item() == np.float32(gym_cost.get(name, 0.0)), (name, where)
        if "rewards" in rep and "rewards" in tinfo:
            np.testing.assert_array_equal(tinfo["rewards"][b].cpu().numpy(),
                                          np.asarray(rep["rewards"], np.float32))
        if "discount" in info:
            assert tinfo["discount"][b].item() == np.float32(info["discount"]), where


# ---- equivalence with the gym backend ----------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_ltl_schemes_match_the_gym_wrapper_with_its_draws(scheme):
    # ζ far from 1 so that random stops happen often
    seen = _lockstep(objlang.loads(REACH_SPEC), ltl_reward=scheme, zeta=0.6, gamma_b=0.7,
                     emulate_discount=scheme == "multi-discount")
    assert seen["accepting"] > 0 and seen["sink"] > 0 and seen["terminated"] > 0
    assert seen["draws"] > 0


@pytest.mark.parametrize("terminate", [False, True])
def test_ltlf_matches_the_gym_wrapper(terminate):
    seen = _lockstep(FROZEN / "fetch_ltlf.obj", batch=8, steps=200,
                     ltlf_terminate=terminate)
    assert seen["sink"] > 0 and seen["terminated"] > 0


def test_machine_with_transition_guards_costs_and_monitor_match():
    spec = objlang.loads(MACHINE_SPEC)
    mod = compile_torch(spec)
    assert mod.track_roles == ["machine", "monitor"] and len(mod.cost_names) == 2
    seen = _lockstep(spec, batch=8, steps=200, seed=1)
    assert seen["accepting"] > 0 and seen["terminated"] > 0


def test_ltl_example_and_a_return_with_a_chance_constraint_match():
    _lockstep(FROZEN / "safe_goal.obj", "reach", steps=100)
    _lockstep(FROZEN / "safe_goal.obj", "fast", steps=100)


def test_vector_rewards_match():
    mod = compile_torch(objlang.loads(VECTOR_SPEC))
    assert mod.plan.mode == "vector"
    _lockstep(objlang.loads(VECTOR_SPEC), steps=100)


def test_terminal_reward_of_the_returns_matches():
    _lockstep(FROZEN / "risk_averse.obj", steps=150)


def test_epsilon_moves_match():
    seen = _lockstep(objlang.loads(PERSIST_SPEC), steps=150, seed=3)
    assert seen["eps"] > 0


@pytest.mark.parametrize("path", ["keep_swinging.obj", "chance_constrained.obj"])
def test_box_props_of_cartpole_match(path):
    _lockstep(ROOT / "examples" / "cartpole" / path, batch=4, steps=120, zeta=0.5)


@pytest.mark.parametrize("path, objective", [("get_coffee.obj", None), ("patrol.obj", "rounds"),
                                             ("deliver_coffee.obj", None)])
def test_officeworld_info_props_match(path, objective):
    import objlang.envs  # noqa: F401  (registers objlang/OfficeWorld-v0)

    seen = _lockstep(ROOT / "examples" / "officeworld" / path, objective, batch=4, steps=200,
                     info_keys=("coffee", "mail", "office", "decor", "a", "b", "c", "d"))
    assert seen["terminated"] > 0 or objective == "rounds"


class _Spaces:
    """Only an env's spaces: its info is not known to be a function of the state."""

    def __init__(self, env):
        self.observation_space, self.action_space = env.observation_space, env.action_space


@pytest.mark.parametrize("path, objective", [("patrol.obj", "rounds"),
                                             ("deliver_coffee.obj", None)])
def test_officeworld_info_tables_equal_reading_each_steps_info(path, objective):
    from objlang.envs.batched import make_batched

    spec = objlang.load(ROOT / "examples" / "officeworld" / path)
    env = make_batched(spec, 256, seed=0)
    tabled = compile_torch(spec, objective, env=env)
    read = compile_torch(spec, objective, env=_Spaces(base_env(spec)))
    assert all(t.read.table is not None for t in tabled.tracks)
    assert all(t.read.table is None for t in read.tracks)
    gen = torch.Generator().manual_seed(0)
    obs, info = env.reset()
    s1, s2 = tabled.reset(obs, info), read.reset(obs, info)
    for _ in range(50):
        a = torch.randint(4, (256,), generator=gen)
        nxt, r, term, trunc, ninfo = env.step(a)
        u = torch.rand(256, generator=gen)
        out1 = tabled.step(s1, obs, a, nxt, r, info, ninfo, term, trunc, u=u)
        out2 = read.step(s2, obs, a, nxt, r, info, ninfo, term, trunc, u=u)
        s1, s2 = out1[0], out2[0]
        assert torch.equal(s1["q"], s2["q"]) and torch.equal(out1[1], out2[1])
        assert torch.equal(out1[4]["labels"], out2[4]["labels"])
        done = out1[3] | trunc
        obs, info = env.reset_where(done) if done.any() else (nxt, ninfo)
        s1, s2 = tabled.reset_where(s1, done, obs, info), read.reset_where(s2, done, obs, info)


def test_batched_rollouts_estimate_the_exact_value_of_a_policy():
    """The batched env and the module together: the mean scheme return (ζ = 1: paid
    once, at the goal) of a fixed policy matches its exact satisfaction probability."""
    from objlang.envs.batched import make_batched
    from objlang.finite.extract import finite_env

    spec = objlang.load(FROZEN / "safe_goal.obj")
    # a good policy of the slippery 4x4 map (LEFT 0, DOWN 1, RIGHT 2, UP 3)
    policy = [0, 3, 3, 3, 0, 0, 0, 0, 3, 1, 0, 0, 0, 2, 1, 0]
    exact = objlang.evaluate(spec, np.array(policy + [0] * (finite_env(spec).n_states - 16)),
                             "reach")
    B = 2048
    env = make_batched(spec, B, seed=0, max_episode_steps=1000)
    mod = compile_torch(spec, "reach", env=env, seed=1, zeta=1.0)
    table = torch.tensor(policy)
    obs, info = env.reset()
    state = mod.reset(obs, info)
    total, done = torch.zeros(B), torch.zeros(B, dtype=torch.bool)
    while not done.all():
        a = table[obs]
        nxt, r, term, trunc, ninfo = env.step(a)
        state, reward, _, mterm, _ = mod.step(state, obs, a, nxt, r, info, ninfo, term, trunc)
        total += reward * ~done
        done |= mterm | trunc
        obs, info = nxt, ninfo
    sd = np.sqrt(exact * (1 - exact) / B)
    assert abs(total.mean().item() - exact) < 4 * sd, (total.mean().item(), exact)


EXTERNAL_SPEC = '''\
env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
discount 0.9
prop near = external
reward touch = [near] + 2 * env_reward
objective o {
    maximize E[G(touch)]
    subject to P[G !near] >= 0.5
}
'''


def test_external_props_match():
    seen = _lockstep(objlang.loads(EXTERNAL_SPEC), steps=100,
                     props={"near": lambda obs, info: obs in (1, 4, 9)},
                     torch_props={"near": lambda obs, info: (obs == 1) | (obs == 4) | (obs == 9)})
    assert seen["steps"] > 0


# ---- the schemes' tables -----------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_stop_thresholds_are_those_of_scheme_step(scheme):
    s = Scheme(scheme, zeta=0.7, gamma_b=0.8, gamma=0.9)
    acc = np.array([[True, False, True, False]])
    colors = np.array([[0, 1, 2, 3]])
    p = _stop_threshold(s, acc, colors)
    for u in np.linspace(0.0, 1.0, 41):
        for j in range(4):
            assert s.step(float(u), bool(acc[0, j]), int(colors[0, j]))[1] == (u < p[0, j])


# ---- counterfactuals ------------------------------------------------------------------

def test_machine_counterfactuals_equal_stepping_from_every_state():
    spec = objlang.loads(MACHINE_SPEC)
    mod = compile_torch(spec)
    gen = torch.Generator().manual_seed(0)
    B = 64
    obs = torch.randint(16, (B,), generator=gen)
    act = torch.randint(4, (B,), generator=gen)
    nxt = torch.randint(16, (B,), generator=gen)
    cf = mod.counterfactuals(obs, act, nxt)
    state = mod.reset(obs)
    env = objlang.make(spec)
    for q in range(mod.n_states[0]):
        state["q"][:, 0] = q
        s2, r, _, term, _ = mod.step(state, obs, act, nxt)
        assert torch.equal(cf["next_q"][:, q], s2["q"][:, 0])
        assert torch.equal(cf["reward"][:, q], r)
        # the machine's own termination (the monitor's sink is not the machine's)
        assert torch.equal(cf["terminated"][:, q], cf["accepting"][:, q])
        for b in range(0, B, 8):  # the gym backend's counterfactuals, unweighted
            g = env.counterfactuals(int(obs[b]), int(act[b]), int(nxt[b]), {}, {})
            assert g["next_q"][q] == cf["next_q"][b, q]
            assert g["terminated"][q] == cf["terminated"][b, q]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_scheme_counterfactuals_are_the_expectations_over_the_uniforms(scheme):
    """Stepping from each state with u on a grid of 200 quantiles averages to the
    counterfactual's expected reward and stop probability (to within 1/200)."""
    mod = compile_torch(objlang.loads(REACH_SPEC), ltl_reward=scheme, zeta=0.6, gamma_b=0.7,
                        emulate_discount=scheme == "multi-discount")
    pairs = torch.cartesian_prod(torch.arange(16), torch.arange(16))
    cf = mod.counterfactuals(pairs[:, 0], torch.zeros(256, dtype=torch.int64), pairs[:, 1])
    N = 200
    obs, nxt = pairs[:, 0].repeat_interleave(N), pairs[:, 1].repeat_interleave(N)
    u = ((torch.arange(N, dtype=torch.float64) + 0.5) / N).repeat(256)
    state = mod.reset(obs)
    for q in range(mod.n_states[0]):
        state["q"][:, 0] = q
        s2, r, _, term, info = mod.step(state, obs, torch.zeros_like(obs), nxt, u=u)
        assert torch.equal(cf["next_q"][:, q], s2["q"][::N, 0])
        assert torch.equal(cf["accepting"][:, q], info["accepting"][::N])
        assert torch.equal(cf["terminated"][:, q], info["sink"][::N])
        mean_r = r.view(256, N).double().mean(1)
        mean_stop = term.view(256, N).double().mean(1)
        assert torch.allclose(cf["reward"][:, q].double(), mean_r, atol=1.0 / N)
        assert torch.allclose(cf["stop"][:, q].double(), mean_stop, atol=1.0 / N)
    assert cf["reward"].max() > 0


# ---- state helpers and devices ------------------------------------------------------

def test_one_hot_blocks_and_partial_resets():
    spec = objlang.loads(MACHINE_SPEC)
    mod = compile_torch(spec)
    state = mod.reset(torch.tensor([0, 0, 0]))
    state["q"][:, 0] = torch.tensor([1, 2, 0])
    oh = mod.one_hot(state)
    assert oh.dtype == torch.float32 and oh.shape == (3, sum(mod.n_states))
    assert oh[:, :mod.n_states[0]].argmax(1).tolist() == [1, 2, 0]
    assert oh.sum(1).tolist() == [2.0] * 3
    fresh = mod.reset_where(state, torch.tensor([False, True, False]), torch.tensor([0, 0, 0]))
    assert fresh["q"][:, 0].tolist() == [1, 0, 0]


def test_tensors_on_another_device_are_refused():
    mod = compile_torch(FROZEN / "safe_goal.obj", "reach")
    with pytest.raises(ValueError, match="meta"):
        mod.reset(torch.zeros(2, dtype=torch.int64, device="meta"))
    state = mod.reset(torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="move it there"):
        mod.step(state, torch.zeros(2, dtype=torch.int64), torch.zeros(2, dtype=torch.int64),
                 torch.zeros(2, dtype=torch.int64, device="meta"))


def test_a_spec_that_does_not_fit_the_env_fails_as_in_the_gym_backend():
    spec = objlang.loads('env "FrozenLake-v1"\nprop p = obs[0] > 1\nltl f = F p\n'
                         'objective o { maximize P[f] }')
    with pytest.raises(ObjlangError) as gym_err:
        objlang.make(spec)
    with pytest.raises(ObjlangError) as torch_err:
        compile_torch(spec)
    assert str(torch_err.value) == str(gym_err.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_the_gym_wrapper():
    _lockstep(FROZEN / "safe_goal.obj", "reach", device="cuda", zeta=0.6)
    _lockstep(objlang.loads(MACHINE_SPEC), device="cuda", steps=100)
    _lockstep(ROOT / "examples" / "cartpole" / "keep_swinging.obj", device="cuda", batch=3,
              steps=80, zeta=0.5)
