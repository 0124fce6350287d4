"""Compiled envs work with the RL libraries users train with: Stable-Baselines3
learns the optimal policy of an LTL objective, TorchRL steps a compiled env,
and MO-Gymnasium scalarises a compiled vector reward. Each test skips only when
its library (the extras ``sb3``, ``torchrl``, ``mo``) is missing."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import objlang

from _samples import ROOT

# deterministic FrozenLake 4x4: SFFF / FHFH / FFFH / HFFG
REACH_AVOID = '''\
env "FrozenLake-v1" { map_name: "4x4", is_slippery: false }
prop goal = obs == 15
prop hole = obs in {5, 7, 11, 12}
ltl f = !hole U goal
objective reach { maximize P[f] }
'''
# down, down, right, down, right, right: 0 -> 4 -> 8 -> 9 -> 13 -> 14 -> 15
SAFE_PATH = [1, 1, 2, 1, 2, 2]


def test_sb3_ppo_learns_the_optimal_reach_avoid_policy():
    sb3 = pytest.importorskip("stable_baselines3")
    import torch

    spec = objlang.loads(REACH_AVOID)
    optimum = objlang.solve(spec).value
    assert optimum == pytest.approx(1.0)
    env = objlang.make(spec, flatten=True)
    assert isinstance(env.observation_space, gymnasium.spaces.Box)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the run is seeded; one thread keeps it reproducible
    try:
        model = sb3.PPO("MlpPolicy", env, n_steps=256, batch_size=128, n_epochs=4,
                        learning_rate=0.01, ent_coef=0.02, policy_kwargs={"net_arch": [64]},
                        seed=0, device="cpu")
        model.learn(10_000)
    finally:
        torch.set_num_threads(threads)
    wins = 0
    for episode in range(20):
        obs, info = env.reset(seed=episode)
        done, ret = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(int(action))
            ret += reward
            done = terminated or truncated
        # an accepted episode pays 1 (the env ends on the goal tile), a failed one 0
        assert ret == (1.0 if info["objlang"]["accepting"] else 0.0)
        wins += info["objlang"]["accepting"]
    assert wins / 20 == optimum


def test_torchrl_rolls_out_a_compiled_env():
    torchrl_envs = pytest.importorskip("torchrl.envs")
    import torch

    env = torchrl_envs.GymWrapper(objlang.make(objlang.loads(REACH_AVOID)))
    actions = iter(SAFE_PATH)

    def policy(td):
        td["action"] = torch.nn.functional.one_hot(torch.tensor(next(actions)), 4)
        return td

    td = env.rollout(20, policy)
    assert td.batch_size == torch.Size([len(SAFE_PATH)])
    assert td["next", "obs"].argmax(-1).tolist() == [4, 8, 9, 13, 14, 15]
    assert td["next", "reward"].flatten().tolist() == [0.0] * 5 + [1.0]
    assert td["next", "done"].flatten().tolist() == [False] * 5 + [True]
    # the automaton of !hole U goal stays where the reset put it until the goal
    start = td["automaton"][0].argmax(-1).item()
    states = td["next", "automaton"].argmax(-1).flatten().tolist()
    assert states[:-1] == [start] * 5 and states[-1] != start

    # a random rollout ends where the raw env does: in a hole or on the goal
    env.set_seed(3)
    td = env.rollout(200)
    last = int(td["next", "obs"][-1].argmax())
    assert bool(td["next", "done"][-1]) and (last in {5, 7, 11, 12, 15} or len(td) == 100)


def test_mo_gymnasium_linear_reward_scalarises_the_vector_reward():
    wrappers = pytest.importorskip("mo_gymnasium.wrappers")

    env = objlang.make(ROOT / "examples" / "cliffwalking" / "lexicographic.obj")
    assert env.unwrapped.reward_space.shape == (2,)
    weight = np.array([0.7, 0.3])
    scalar = wrappers.LinearReward(env, weight=weight)
    raw = gymnasium.make("CliffWalking-v1", is_slippery=True)  # the spec's env, unwrapped
    scalar.reset(seed=5)
    raw.reset(seed=5)
    rng = np.random.default_rng(5)
    falls = 0
    for _ in range(300):
        action = int(rng.integers(4))
        _, r, terminated, truncated, info = scalar.step(action)
        obs, env_reward, raw_terminated, raw_truncated, _ = raw.step(action)
        # safety = -[env_reward == -100], speed = -1 + [goal], read off the raw env
        expected = np.array([-float(env_reward == -100), -1.0 + float(obs == 47)])
        np.testing.assert_array_equal(info["vector_reward"], expected)
        np.testing.assert_array_equal(info["objlang"]["rewards"], expected)
        assert r == pytest.approx(weight @ expected)
        falls += env_reward == -100
        assert (terminated, truncated) == (raw_terminated, raw_truncated)
        if terminated or truncated:
            seed = int(rng.integers(1 << 30))
            scalar.reset(seed=seed)
            raw.reset(seed=seed)
    assert falls > 0  # the safety component was exercised
