"""Smoke tests of the PPO family (objlang/train/ppo.py, lagrangian.py,
multiobjective.py, regularize.py): tiny tasks with fixed seeds, each learned
policy's exact value (objlang.finite evaluation) checked against objlang.solve."""
import numpy as np
import pytest
import torch

import objlang
from objlang.envs.batched import make_batched
from objlang.finite.evaluate import evaluate
from objlang.torch import compile_torch
from objlang.train import lagrangian, multiobjective, ppo

from _samples import MDP_EXAMPLE

# s0: "left" reaches a (pays 0.5) for sure, "right" reaches b (pays 1) with
# probability 0.9 and else stays; optimum: always right, V = 0.9 + 0.1 * 0.9 * V = 0.989
PATHS = MDP_EXAMPLE + """
discount 0.9
options { max_episode_steps: 8 }
reward r = [obs == s0 & next == b] + 0.5 * [obs == s0 & next == a]
objective o { maximize E[G(r)] }
"""

# one choice: greedy pays 2 at cost 1, fair 1.5 at cost 0.2, timid 1 at cost 0; with
# the cost limited to 0.2 the optimum is fair (1.5), unconstrained it is greedy
CHOICE = """
mdp choice {
    start s
    s greedy -> g
    s fair -> f
    s timid -> t
    g * -> g
    f * -> f
    t * -> t
}
env choice
options { max_episode_steps: 2 }
reward pay = 2 * [obs == s & next == g] + 1.5 * [obs == s & next == f] + [obs == s & next == t]
cost risk = [obs == s & next == g] + 0.2 * [obs == s & next == f]
objective safe {
    maximize E[sum(pay)]
    subject to E[sum(risk)] <= 0.2
}
objective greedy { maximize E[sum(pay)] }
objective exposure { maximize E[sum(risk)] }
"""

# two goals: x pays (1, 0), y pays (0, 1), z pays (0.4, 0.4) -- dominated by the mix
# of x and y; the front's extreme points are (1, 0) and (0, 1)
TWO_GOALS = """
mdp pick {
    start s
    s x -> gx
    s y -> gy
    s z -> gz
    gx * -> gx
    gy * -> gy
    gz * -> gz
}
env pick
discount 0.9
options { max_episode_steps: 2 }
reward ra = [obs == s & next == gx] + 0.4 * [obs == s & next == gz]
reward rb = [obs == s & next == gy] + 0.4 * [obs == s & next == gz]
objective both { maximize pareto(E[G(ra)], E[G(rb)]) }
"""


def _setup(text, objective=None, num_envs=16):
    spec = objlang.loads(text)
    mod = compile_torch(spec, objective)
    env = make_batched(spec, num_envs, seed=0)
    return spec, mod, env


def _table(policy, env, stochastic):
    """The policy over the finite env's states (no automaton): actions or distributions."""
    obs = torch.as_tensor(np.asarray(env.finite.obs, np.int64))
    state = {"q": torch.zeros((obs.shape[0], 0), dtype=torch.int64)}
    if stochastic:
        return policy.probs(obs, state).numpy().astype(np.float64)
    return policy.act(obs, state).numpy()


def test_ppo_learns_the_optimum_of_a_tiny_mdp():
    spec, mod, env = _setup(PATHS)
    config = ppo.config_for(env, num_envs=16, num_steps=16)
    policy, metrics = ppo.train(spec, mod.plan, env, mod, 4096, seed=0, config=config)
    value = evaluate(spec, _table(policy, env, stochastic=False))
    optimum = objlang.solve(spec).value
    assert optimum == pytest.approx(0.9 / 0.91)
    assert value == pytest.approx(optimum, abs=1e-9)
    # the estimate from training episodes: the undiscounted return is 1 under the optimum
    assert metrics["return"] == pytest.approx(1.0, abs=0.1)
    assert len(metrics["curve"]) == 4096 // (16 * 16)


def test_ppo_learns_an_ltl_task_through_the_automaton_state():
    # reach b, but only after visiting a: the policy must read the automaton's state
    text = """
mdp line {
    start m
    m left -> a
    m right -> b
    a left -> a
    a right -> m
    b left -> m
    b right -> b
}
env line
options { max_episode_steps: 10, zeta: 0.5 }
prop at_a = obs == a
prop at_b = obs == b
ltl tour = F (at_a & F at_b)
objective o { maximize P[tour] }
"""
    from objlang.train.evaluate import ExactEvaluator, automata_of

    spec, mod, env = _setup(text)
    policy, metrics = ppo.train(spec, mod.plan, env, mod, 6144, seed=0,
                                config=ppo.config_for(env, num_envs=16, num_steps=16))
    ev = ExactEvaluator(spec, "o", mod.plan, env.finite, automata_of(mod), "cpu")
    value = ev.value(lambda obs, q: policy.act(obs, {"q": q}))
    assert ev.optimum == pytest.approx(1.0)
    assert value == pytest.approx(1.0)
    # the ζ-jump (probability 0.5 per accepting step) comes within the 10 steps
    assert metrics["success"] > 0.8


def test_entropy_regularised_ppo_reaches_the_soft_optimum():
    # examples/expressivity/rrl_entropy.obj: work pays 1, rest 0, entropy weight 1; the
    # soft-optimal policy works with probability e / (1 + e) = 0.731
    spec = objlang.load("examples/expressivity/rrl_entropy.obj")
    mod = compile_torch(spec)
    env = make_batched(spec, 16, seed=0, max_episode_steps=20)
    policy, _ = ppo.train(spec, mod.plan, env, mod, 8192, seed=0,
                          config=ppo.config_for(env, num_envs=16, num_steps=32, ent_coef=0.0))
    assert policy.stochastic
    pi = _table(policy, env, stochastic=True)
    assert pi[0, 0] == pytest.approx(np.e / (1 + np.e), abs=0.05)
    assert evaluate(spec, pi) == pytest.approx(objlang.solve(spec).value, abs=0.05)


def test_lagrangian_ppo_respects_the_cost_limit():
    spec, mod, env = _setup(CHOICE, "safe", num_envs=32)
    assert objlang.solve(spec, "greedy").value == pytest.approx(2.0)   # cost 1 > 0.2
    optimum = objlang.solve(spec, "safe").value
    assert optimum == pytest.approx(1.5)
    config = lagrangian.config_for(env, num_envs=32, num_steps=8)
    policy, metrics = lagrangian.train(spec, mod.plan, env, mod, 6144, seed=0, config=config)
    pi = _table(policy, env, stochastic=True)
    cost = evaluate(spec, pi, "exposure")
    assert cost <= 0.2   # exactly, thanks to the margin (0.19883 here)
    assert evaluate(spec, pi, "greedy") >= 0.95 * optimum
    assert metrics["limit"] == [pytest.approx(0.2)]
    # the multipliers aim 2% inside the limit (cost_margin)
    assert metrics["target"] == [pytest.approx(0.196)]
    assert metrics["lambda"][0] > 0.0


def test_lagrangian_cost_target_lies_inside_the_limit():
    limits = [lagrangian.CostLimit("a", (1.0,), 1.0, 0.5),
              lagrangian.CostLimit("b", (-1.0,), 1.0, -2.0),
              lagrangian.CostLimit("c", (1.0,), 1.0, 0.0)]
    config = lagrangian.LagrangianConfig(cost_margin=0.1)
    signal = lagrangian.LagrangianSignal(1.0, limits, config, "cpu")
    # b - m |b|: 0.5 -> 0.45, -2 -> -2.2 (a `>=` bound flipped), 0 stays 0
    assert signal.target.tolist() == pytest.approx([0.45, -2.2, 0.0])
    # the multipliers grow while the measured cost is above the target, even under the limit
    signal.update({"disc": torch.tensor([[0.0, 0.48, -2.1, 0.0]])})
    assert signal.lam.tolist() == pytest.approx([0.03 * 15, 0.1 * 15, 0.0], abs=1e-5)


def test_cost_limits_of_chance_constraints_and_returns():
    spec = objlang.load("examples/toy/gamble.obj")
    mod = compile_torch(spec)
    (lim,) = lagrangian.cost_limits(spec, mod.plan, mod.cost_names)
    # P[G !ruined] >= 0.8  <=>  E[sum(monitor)] <= 0.2
    assert lim.coef == (1.0,) and lim.limit == pytest.approx(0.2) and lim.gamma == 1.0
    spec = objlang.loads(CHOICE.replace("E[sum(risk)] <= 0.2", "-2 * E[G(risk, 0.5)] >= -1"))
    mod = compile_torch(spec, "safe")
    (lim,) = lagrangian.cost_limits(spec, mod.plan, mod.cost_names)
    assert lim.coef == (2.0,) and lim.limit == pytest.approx(1.0) and lim.gamma == 0.5


def test_multiobjective_returns_the_extreme_points():
    spec, mod, env = _setup(TWO_GOALS, num_envs=15)
    exact = objlang.solve(spec).pareto
    config = multiobjective.config_for(env, num_envs=15, num_steps=8, num_weights=3)
    policy, metrics = multiobjective.train(spec, mod.plan, env, mod, 3840, seed=0,
                                           config=config)
    front = sorted(tuple(round(v, 6) for v in p["returns"]) for p in metrics["pareto"])
    assert sorted(tuple(round(v, 6) for v in p) for p in exact) == [(0.0, 1.0), (1.0, 0.0)]
    assert front == [(0.0, 1.0), (1.0, 0.0)]
    assert policy.weights.shape == (3, 2)


def test_continuous_ppo_runs_on_zonenav():
    spec = objlang.loads("""
env "objlang/ZoneNav-v0"
prop green = info.green
prop red = info.red
ltlf reach = !red U green
objective o { maximize P[reach] }
""")
    mod = compile_torch(spec)
    env = make_batched(spec, 32, seed=0)
    config = ppo.config_for(env, num_envs=32, num_steps=16, update_epochs=2)
    policy, metrics = ppo.train(spec, mod.plan, env, mod, 2048, seed=0, config=config)
    assert not policy.discrete and len(metrics["curve"]) == 4
    obs, info = env.reset(seed=1)
    action = policy.act(obs, mod.reset(obs, info))
    assert action.shape == (32,) + env.single_action_space.shape
    assert torch.isfinite(action).all()
    clipped = policy.env_action(action * 100)
    assert (clipped <= torch.as_tensor(env.single_action_space.high)).all()


def test_trainer_for_and_device_mismatch():
    spec, mod, env = _setup(CHOICE, "safe")
    assert ppo.trainer_for(spec, mod.plan) is lagrangian
    spec2, mod2, _ = _setup(TWO_GOALS)
    assert ppo.trainer_for(spec2, mod2.plan) is multiobjective
    spec3, mod3, env3 = _setup(PATHS)
    assert ppo.trainer_for(spec3, mod3.plan) is ppo
    with pytest.raises(ValueError, match="device"):
        ppo.train(spec3, mod3.plan, env3, mod3, 256, device="meta")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_ppo_trains_on_cuda_and_refuses_mixed_devices():
    spec = objlang.loads(PATHS)
    mod = compile_torch(spec, device="cuda")
    env = make_batched(spec, 16, device="cuda", seed=0)
    policy, _ = ppo.train(spec, mod.plan, env, mod, 512, device="cuda",
                          config=ppo.config_for(env, num_envs=16, num_steps=16))
    assert all(p.device.type == "cuda" for p in policy.parameters())
    with pytest.raises(ValueError, match="device"):
        ppo.train(spec, mod.plan, make_batched(spec, 16, seed=0), mod, 512, device="cuda")


def test_ppo_takes_the_epsilon_moves_of_a_limit_deterministic_automaton():
    # F G at_a is not a recurrence property: its automaton is an LDBA whose ε-move
    # guesses when the run has settled in a; the policy must take it (and go to a)
    text = """
mdp walk {
    start s
    s stay -> s
    s go -> a
    a stay -> a
    a go -> s
}
env walk
options { max_episode_steps: 12, zeta: 0.5 }
prop at_a = obs == a
ltl settle = F G at_a
objective o { maximize P[settle] }
"""
    from objlang.train.evaluate import ExactEvaluator, automata_of

    spec, mod, env = _setup(text)
    assert mod.n_extra_actions > 0
    policy, _ = ppo.train(spec, mod.plan, env, mod, 8192, seed=0,
                          config=ppo.config_for(env, num_envs=16, num_steps=16))
    assert policy.n_actions == 2 + mod.n_extra_actions
    ev = ExactEvaluator(spec, "o", mod.plan, env.finite, automata_of(mod), "cpu")
    assert ev.optimum == pytest.approx(1.0)
    assert ev.value(lambda obs, q: policy.act(obs, {"q": q})) == pytest.approx(1.0)
