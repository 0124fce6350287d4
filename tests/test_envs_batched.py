"""Batched envs (objlang/envs/batched.py): the same transitions as the single
gymnasium envs, sampling that matches the FiniteMDP's probabilities (chi-square
and binomial bounds), the no-autoreset protocol, and device handling."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from scipy import stats

import objlang
import objlang.envs  # registers the built-in envs
from objlang.envs import zonenav
from objlang.envs.batched import TensorMDP, ZoneNav, make_batched
from objlang.finite.extract import finite_env

from _samples import ROOT

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_officeworld_batched_steps_as_the_single_env():
    B = 6
    env = make_batched(None, B, env_id="objlang/OfficeWorld-v0", seed=0)
    assert (env.num_envs, env.max_episode_steps, env.finite.n_states) == (B, 1000, 108)
    singles = [gymnasium.make("objlang/OfficeWorld-v0") for _ in range(B)]
    obs, info = env.reset()
    for s in singles:
        o, i = s.reset()
        assert (o, i) == (int(obs[0]), {k: bool(v[0]) for k, v in info.items()})
    rng = np.random.default_rng(1)
    for _ in range(150):
        a = rng.integers(4, size=B)
        obs, reward, term, trunc, info = env.step(torch.as_tensor(a))
        assert obs.dtype == torch.int64 and reward.dtype == torch.float32
        assert term.dtype == torch.bool and trunc.dtype == torch.bool
        for j, s in enumerate(singles):
            o, r, te, tr, i = s.step(int(a[j]))
            assert (o, r, te, tr) == (int(obs[j]), float(reward[j]), bool(term[j]),
                                      bool(trunc[j]))
            assert i == {k: bool(v[j]) for k, v in info.items()}
        assert torch.equal(env.state, obs)  # OfficeWorld observes its cell


def _rows_sampled(env: TensorMDP, rows: np.ndarray):
    """One step of every element from the (state, action) of ``rows``: next states
    and rewards."""
    A = env.finite.n_actions
    env.reset()
    env.state = torch.as_tensor(rows // A)
    _, reward, term, _, _ = env.step(torch.as_tensor(rows % A))
    return env.state.numpy(), reward.numpy(), term.numpy()


def test_tensor_mdp_samples_the_finite_mdps_probabilities():
    """Slippery FrozenLake 8x8: each (state, action) sampled 3000 times; a
    chi-square test of the next-state counts against the row of P."""
    spec = objlang.load(ROOT / "examples/frozenlake/reach_avoid_8x8.obj")
    env = make_batched(spec, 64 * 4 * 3000, seed=7)
    mdp = env.finite
    P = mdp.P.tocsr()
    rows = np.repeat(np.arange(64 * 4), 3000)  # the env's own states, not the copies
    nxt, _, term = _rows_sampled(env, rows)
    assert np.array_equal(term, mdp.terminal[nxt])
    pvalues = []
    S = mdp.n_states
    table = np.bincount(rows * S + nxt, minlength=64 * 4 * S).reshape(-1, S)
    for r, counts in enumerate(table):
        lo, hi = P.indptr[r], P.indptr[r + 1]
        assert counts.sum() == counts[P.indices[lo:hi]].sum(), "a next state outside P's row"
        if hi - lo > 1:
            pvalues.append(stats.chisquare(counts[P.indices[lo:hi]], 3000 * P.data[lo:hi]
                                           ).pvalue)
    # 1/3 each way: uniform p-values; with a fixed seed their minimum is not tiny
    assert len(pvalues) > 100 and min(pvalues) > 1e-5
    assert stats.kstest(pvalues, "uniform").pvalue > 1e-3


def test_rewards_of_outcomes_merged_by_the_finite_mdp_stay_apart():
    """CliffWalkingSlippery: the fall (-100) and a step (-1) can both lead to the
    start; the batched env pays the env's own reward of each, with the env's
    probabilities."""
    gym_env = gymnasium.make("CliffWalkingSlippery-v1")
    table = gym_env.unwrapped.P
    env = make_batched(None, 20000, env_id="CliffWalkingSlippery-v1", seed=3)
    assert env.finite.reward_split
    s, a = 25, 2  # above the cliff, moving down
    nxt, reward, _ = _rows_sampled(env, np.full(20000, s * 4 + a))
    expect = {}
    for p, t, r, _ in table[s][a]:
        expect[(t, r)] = expect.get((t, r), 0.0) + p
    seen = {(int(t), float(r)) for t, r in zip(nxt, reward)}
    assert seen == set(expect)
    for (t, r), p in expect.items():
        k = int(np.sum((nxt == t) & (reward == r)))
        lo, hi = stats.binom.ppf([1e-6, 1 - 1e-6], 20000, p)
        assert lo <= k <= hi, (t, r, k, p)


def test_initial_states_follow_the_start_distribution():
    spec = objlang.loads("mdp m { start a : 0.3, b : 0.7  a * -> a  b * -> b }\nenv m\n"
                         "options { max_episode_steps: 5 }")
    env = make_batched(spec, 10000, seed=11)
    obs, info = env.reset()
    assert info == {} and env.max_episode_steps == 5
    k = int((obs == 0).sum())
    lo, hi = stats.binom.ppf([1e-6, 1 - 1e-6], 10000, 0.3)
    assert lo <= k <= hi
    # Taxi: the env's own initial distribution (300 states)
    taxi = make_batched(None, 30000, env_id="Taxi-v4", seed=2)
    obs, _ = taxi.reset()
    init = taxi.finite.init
    support = np.flatnonzero(init)
    counts = np.bincount(obs.numpy(), minlength=init.size)
    assert counts[init == 0].sum() == 0
    assert stats.chisquare(counts[support], 30000 * init[support]).pvalue > 1e-4


def test_no_autoreset_truncation_and_reset_where():
    spec = objlang.loads("mdp m { start a  a * -> a }\nenv m\noptions { max_episode_steps: 3 }")
    env = make_batched(spec, 4, seed=0)
    env.reset()
    for t in range(1, 4):
        _, _, term, trunc, _ = env.step(torch.zeros(4, dtype=torch.int64))
        assert not term.any() and trunc.tolist() == [t == 3] * 4
    env.reset_where(torch.tensor([True, False, True, False]))
    assert env.steps.tolist() == [0, 3, 0, 3]
    _, _, _, trunc, _ = env.step(torch.zeros(4, dtype=torch.int64))
    assert trunc.tolist() == [False, True, False, True]
    # FrozenLake (not slippery): the goal terminates with the env's reward 1
    fl = objlang.loads('env "FrozenLake-v1" { is_slippery: false }')
    env = make_batched(fl, 2, seed=0)
    assert env.max_episode_steps == 100  # gymnasium's time limit of the id
    env.reset()
    for a in [2, 2, 1, 1, 1, 2]:  # down, down, right, right, right, down
        obs, reward, term, trunc, _ = env.step(torch.tensor([a, 0]))
    assert obs.tolist() == [15, 0] and reward.tolist() == [1.0, 0.0]
    assert term.tolist() == [True, False]
    assert env.finite.state_names[int(env.state[0])] == "15#end"
    obs, _ = env.reset_where(term)
    assert obs.tolist() == [0, 0]


def test_seeds_make_runs_reproducible():
    spec = objlang.load(ROOT / "examples/frozenlake/safe_goal.obj")

    def run(env, seed):
        out = [env.reset(seed=seed)[0]]
        g = torch.Generator().manual_seed(0)
        for _ in range(30):
            obs, _, term, trunc, _ = env.step(torch.randint(4, (64,), generator=g))
            out.append(obs)
            env.reset_where(term | trunc)
        return torch.stack(out)

    a = run(make_batched(spec, 64, seed=1), 5)
    b = make_batched(spec, 64, seed=2)
    assert torch.equal(a, run(b, 5)) and not torch.equal(a, run(b, 6))


def test_inputs_on_another_device_are_refused_not_moved():
    env = make_batched(None, 3, env_id="objlang/OfficeWorld-v0")
    env.reset()
    with pytest.raises(objlang.ObjlangError, match="on meta"):
        env.step(torch.zeros(3, dtype=torch.int64, device="meta"))
    with pytest.raises(objlang.ObjlangError, match="shape"):
        env.step(torch.zeros(4, dtype=torch.int64))
    with pytest.raises(objlang.ObjlangError, match="mask"):
        env.reset_where(torch.ones(3, dtype=torch.bool, device="meta"))
    obs, *_ = env.step([0, 1, 2])  # lists and arrays are converted
    assert obs.device == env.device


def test_envs_without_a_batched_version_are_refused_with_a_hint():
    with pytest.raises(objlang.ObjlangError) as err:
        make_batched(ROOT / "examples/cartpole/balance_average.obj", 2)
    assert "CartPole-v1" in str(err.value) and "ZoneNav" in err.value.hint
    assert err.value.diagnostic.loc is not None
    with pytest.raises(objlang.ObjlangError, match="declares no env"):
        make_batched(objlang.loads("prop p = obs == 1"), 2)


def test_mdp_block_batched_is_its_finite_model():
    spec = objlang.load(ROOT / "examples/toy/two_paths.obj")
    env = make_batched(spec, 5, seed=0)
    assert env.finite.state_names == finite_env(spec).state_names
    assert env.single_action_space.n == env.finite.n_actions


# ---- ZoneNav ------------------------------------------------------------------------

def test_zonenav_single_env_passes_the_checker():
    env = gymnasium.make("objlang/ZoneNav-v0")
    assert env.spec.max_episode_steps == 200
    check_env(env.unwrapped, skip_render_check=True)


def test_zonenav_batched_dynamics_are_the_single_envs():
    B = 5
    singles = [gymnasium.make("objlang/ZoneNav-v0") for _ in range(B)]
    starts = [s.reset(seed=i)[0] for i, s in enumerate(singles)]
    env = ZoneNav(B, seed=0)
    env.reset()
    env.pos = torch.as_tensor(np.stack([s[:2] for s in starts]))  # identical starts
    rng = np.random.default_rng(0)
    entered = set()
    for _ in range(120):
        # pushes of up to 1.5 exercise the clipping; a bias up-right reaches the zones
        a = (rng.uniform(-1.5, 1.5, (B, 2)) + 0.3).astype(np.float32)
        obs, reward, term, trunc, info = env.step(torch.as_tensor(a))
        for j, s in enumerate(singles):
            o, r, te, tr, i = s.step(a[j])
            np.testing.assert_array_equal(o, obs[j].numpy())
            assert (r, te, tr) == (float(reward[j]), bool(term[j]), bool(trunc[j]))
            assert i == {k: bool(v[j]) for k, v in info.items()}
            # independent reference: inside a zone iff within RADIUS of its centre
            for k, c in zonenav.ZONES.items():
                assert i[k] == (np.hypot(*(o[:2] - c)) <= zonenav.RADIUS + 1e-6)
            entered |= {k for k, v in i.items() if v}
        assert np.abs(obs[:, :4].numpy()).max() <= 1.0
    assert entered, "the walk never entered a zone: the test exercises nothing"


def test_zonenav_starts_are_seeded_and_in_the_start_square():
    env = make_batched(ROOT / "examples/zonenav/reach_avoid.obj", 1000, seed=4)
    assert isinstance(env, ZoneNav) and env.finite is None
    obs, info = env.reset()
    assert obs.shape == (1000, zonenav.OBS_DIM) and obs.dtype == torch.float32
    assert set(info) == set(zonenav.ZONES)
    pos = obs[:, :2]
    assert ((pos >= zonenav.START_LOW) & (pos <= zonenav.START_HIGH)).all()
    assert not any(v.any() for v in info.values())
    assert pos.std(0).min() > 0.1  # spread over the square, not one point
    assert torch.equal(obs, env.reset(seed=4)[0])  # reseeded: the same starts
    assert not torch.equal(obs, env.reset()[0])  # the generator moved on
    again = make_batched(ROOT / "examples/zonenav/reach_avoid.obj", 1000, seed=4)
    assert torch.equal(obs, again.reset()[0])


@CUDA
def test_cuda_envs_match_cpu():
    for env_id in ("objlang/OfficeWorld-v0", "objlang/ZoneNav-v0"):
        cpu = make_batched(None, 256, env_id=env_id, seed=0)
        gpu = make_batched(None, 256, env_id=env_id, device="cuda", seed=0)
        cpu.reset()
        gpu.reset()
        if env_id.endswith("ZoneNav-v0"):
            gpu.pos = cpu.pos.cuda()
        g = torch.Generator().manual_seed(0)
        for _ in range(50):
            a = (torch.randint(4, (256,), generator=g) if cpu.finite is not None
                 else torch.rand(256, 2, generator=g) * 2 - 1)
            o1, *_ = cpu.step(a)
            o2, r2, t2, _, i2 = gpu.step(a.cuda())
            assert o2.device.type == r2.device.type == t2.device.type == "cuda"
            assert all(v.device.type == "cuda" for v in i2.values())
            torch.testing.assert_close(o2.cpu(), o1)


def test_zonenav_reach_avoid_is_feasible_and_red_is_in_the_way():
    """A scripted controller (via a waypoint left of red) reaches green without
    touching red from every start within the time limit; flying straight at green
    crosses red from most starts."""
    B = 256

    def fly(waypoint):
        env = ZoneNav(B, seed=0)
        obs, _ = env.reset()
        goal, way = torch.tensor(zonenav.ZONES["green"]), torch.tensor(waypoint)
        passed = torch.zeros(B, dtype=torch.bool)
        reached, hit = passed.clone(), passed.clone()
        for _ in range(env.max_episode_steps):
            pos, vel = obs[:, :2], obs[:, 2:4]
            passed |= (pos - way).norm(dim=1) < 0.15
            target = torch.where(passed[:, None], goal, way)
            obs, _, _, _, info = env.step(5 * (target - pos) - 3 * vel)
            hit |= info["red"] & ~reached
            reached |= info["green"]
        return reached.float().mean().item(), hit.float().mean().item()

    assert fly((-0.6, 0.3)) == (1.0, 0.0)
    reached, hit = fly(zonenav.ZONES["green"])  # straight at green
    assert reached == 1.0 and hit > 0.5, hit


def test_inactive_elements_stand_still():
    """``active``: masked-out elements keep state and step count, earn nothing."""
    env = make_batched(None, 3, env_id="objlang/OfficeWorld-v0", seed=0)
    env.reset()
    active = torch.tensor([True, False, True])
    obs, reward, terminated, truncated, info = env.step(torch.tensor([3, 3, 0]), active=active)
    assert obs.tolist() == [85, 86, 74]
    assert env.steps.tolist() == [1, 0, 1]
    assert not terminated.any()
    nav = make_batched(None, 2, env_id="objlang/ZoneNav-v0", seed=0)
    nav.reset()
    pos = nav.pos.clone()
    nav.step(torch.ones(2, 2), active=torch.tensor([False, True]))
    assert torch.equal(nav.pos[0], pos[0]) and not torch.equal(nav.pos[1], pos[1])
