"""The compiled env walks the product of the finite backend, step by step, and its
reward schemes, machines, ltlf and vector forms pay what they should."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import objlang
from objlang.finite.extract import finite_env, transition_values
from objlang.finite.solve import build_product
from objlang.gym.schemes import Scheme

from _samples import ROOT

MACHINE_MDP = '''\
mdp corridor {
    start a
    a right -> b
    a left -> a : 0.5, b : 0.5
    b right -> c : 0.5, b : 0.5
    b left -> a
    c * -> c
}
env corridor
prop at_b = obs == b
prop at_c = obs == c
reward stay = 0.5 * [action == left]
machine visit {
    start u0
    u0 -> u1 when at_b reward stay + 1
    u1 -> done when at_c reward 2
    u1 -> u0 when action == left & !at_c
    final done
}
discount 0.9
objective o { maximize E[G(visit)] }
'''


def _walk(env, prod, mdp, steps: int, seed: int, check_reward=None):
    """Random steps through env and the product side by side; returns #steps checked."""
    index = {(int(s), tuple(int(x) for x in q)): i
             for i, (s, q) in enumerate(zip(prod.state, prod.q))}
    names = {nm: i for i, nm in enumerate(mdp.state_names)}
    A = mdp.n_actions
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    base = names[str(_obs(obs))]
    cur = index[(base, tuple(info["objlang"]["q"]))]
    checked = 0
    for _ in range(steps):
        a = int(rng.integers(A))
        obs, r, term, trunc, info = env.step(a)
        s2 = names[f"{_obs(obs)}#end" if term and f"{_obs(obs)}#end" in names else str(_obs(obs))]
        nxt = index.get((s2, tuple(info["objlang"]["q"])))
        assert nxt is not None, "the wrapper reached a state the product does not have"
        assert prod.mdp.P[cur * A + a, nxt] > 0, "a transition the product does not have"
        if check_reward is not None:
            check_reward(prod.state[cur], a, s2, r)
        checked += 1
        cur = nxt
        if term or trunc:
            obs, info = env.reset()
            base = names[str(_obs(obs))]
            cur = index[(base, tuple(info["objlang"]["q"]))]
    return checked


def _obs(obs):
    return obs["obs"] if isinstance(obs, dict) else obs


@pytest.mark.parametrize("path, objective, kind", [
    ("examples/frozenlake/safe_goal.obj", "reach", None),
    ("examples/frozenlake/safe_goal.obj", "reach", "parity"),
    ("examples/frozenlake/reach_avoid_8x8.obj", "reach", None),
    ("examples/frozenlake/fetch_ltlf.obj", None, None),
])
def test_formula_product_agrees_with_finite_backend(path, objective, kind):
    spec = objlang.load(ROOT / path)
    env = objlang.make(spec, objective, automaton=kind, zeta=1.0)
    auto = env._tracks[0].auto
    mdp = finite_env(spec)
    prod = build_product(mdp, spec, [auto])
    assert _walk(env, prod, mdp, 3000, seed=3) == 3000


def test_machine_product_and_rewards_agree_with_finite_backend():
    spec = objlang.loads(MACHINE_MDP)
    env = objlang.make(spec)
    auto = env._tracks[0].auto
    mdp = finite_env(spec)
    prod = build_product(mdp, spec, [auto])
    R = prod.reward[0].tocsr()
    A = mdp.n_actions
    index = {(int(s), int(q[0])): i for i, (s, q) in enumerate(zip(prod.state, prod.q))}
    rng = np.random.default_rng(5)
    obs, info = env.reset(seed=5)
    cur = index[(obs["obs"], info["objlang"]["q"][0])]
    paid = set()
    for _ in range(2000):
        a = int(rng.integers(A))
        obs, r, term, trunc, info = env.step(a)
        s2 = mdp.state_names.index(f"{'abc'[obs['obs']]}#end") if term and \
            f"{'abc'[obs['obs']]}#end" in mdp.state_names else obs["obs"]
        nxt = index[(s2, info["objlang"]["q"][0])]
        assert prod.mdp.P[cur * A + a, nxt] > 0
        assert r == pytest.approx(R[cur * A + a, nxt])
        paid.add(round(r, 9))
        cur = nxt
        if term or trunc:
            obs, info = env.reset()
            cur = index[(obs["obs"], info["objlang"]["q"][0])]
    # `stay + 1` pays 1.5 after a left move into b, 1 after a right move; c pays 2
    assert paid == {0.0, 1.0, 1.5, 2.0}


def test_markov_rewards_equal_the_finite_backends_per_transition():
    spec = objlang.load(ROOT / "examples/frozenlake/safe_goal.obj")
    env = objlang.make(spec, "fast")
    mdp = finite_env(spec)
    R = transition_values(mdp, spec, spec.named()["step"].expr) + \
        transition_values(mdp, spec, spec.named()["win"].expr)
    names = {nm: i for i, nm in enumerate(mdp.state_names)}
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    s = names[str(_obs(obs))]
    for _ in range(2000):
        a = int(rng.integers(4))
        obs, r, term, trunc, _ = env.step(a)
        o = _obs(obs)
        s2 = names[f"{o}#end" if term else str(o)]
        assert r == pytest.approx(R[s * 4 + a, s2])
        s = s2
        if term or trunc:
            obs, _ = env.reset()
            s = names[str(_obs(obs))]


@pytest.mark.parametrize("scheme", ["zeta-reach", "zeta-acc", "parity"])
def test_scheme_returns_estimate_the_exact_satisfaction_probability(scheme):
    """FrozenLake's accepted runs of `!hole U goal` end at the goal, so every scheme's
    expected return under the uniform policy is P[φ] (exact, from the finite backend)."""
    path = ROOT / "examples/frozenlake/safe_goal.obj"
    spec = objlang.load(path)
    mdp = finite_env(spec)
    exact = objlang.evaluate(spec, np.full((mdp.n_states, 4), 0.25), "reach")
    env = objlang.make(spec, "reach", ltl_reward=scheme)
    rng = np.random.default_rng(1)
    returns = []
    for k in range(3000):
        env.reset(seed=k)
        total, done = 0.0, False
        while not done:
            _, r, term, trunc, _ = env.step(int(rng.integers(4)))
            total += r
            done = term or trunc
        returns.append(total)
    returns = np.array(returns)
    sigma = returns.std() / np.sqrt(len(returns))
    assert abs(returns.mean() - exact) < 4 * sigma + 1e-3


def test_tail_values_follow_the_lasso():
    # two states: letter 0 loops 0 -> 1 -> 0 (accepting edge out of 1), letter 1 stays
    delta = np.array([[1, 0], [0, 1]])
    marks = np.array([[False, False], [True, False]])
    assert Scheme("zeta-reach").tail_values(delta, marks).tolist() == [[1, 0], [1, 0]]
    md = Scheme("multi-discount", gamma_b=0.5, gamma=0.9).tail_values(delta, marks)
    # from 0: steps 0->1 (γ, reward 0), 1->0 (accepting: 1-γ_B, then γ_B), repeating
    cycle = 0.9 * 0.5
    assert md[0, 0] == pytest.approx(0.9 * 0.5 / (1 - cycle))
    assert md[1, 0] == pytest.approx(0.5 / (1 - cycle))
    colors = np.array([[1, 3], [0, 2]])
    assert Scheme("parity").tail_values(delta, colors).tolist() == [[1, 0], [1, 1]]


def test_epsilon_moves_of_a_limit_deterministic_automaton_are_extra_actions():
    spec = objlang.loads('env "FrozenLake-v1" { is_slippery: false }\n'
                         'prop left = obs in {0, 4, 8, 12}\n'
                         'ltl stay = F G left\nobjective o { maximize P[stay] }')
    env = objlang.make(spec)
    auto = env._tracks[0].auto
    k = auto.n_epsilon
    assert k >= 1 and env.action_space == gymnasium.spaces.Discrete(4 + k)
    obs, info = env.reset(seed=0)
    q0 = info["objlang"]["q"][0]
    obs2, r, term, trunc, info = env.step(4)  # the first ε-move
    assert obs2["obs"] == obs["obs"] and r == 0.0 and info["objlang"]["epsilon"]
    assert info["objlang"]["q"][0] == auto.epsilon[q0][0]
    # staying in the left column from there is accepted: the agent can now win
    total = 0.0
    for _ in range(3000):
        _, r, term, trunc, info = env.step(3)  # UP: stays in column 0
        total += r
        if term or trunc:
            break
    assert total == 1.0 and term


def test_counterfactuals_equal_stepping_from_every_machine_state():
    spec = objlang.loads(MACHINE_MDP)
    env = objlang.make(spec)
    t = env._tracks[0]
    rng = np.random.default_rng(2)
    obs, info = env.reset(seed=2)
    for _ in range(300):
        a = int(rng.integers(2))
        prev, prev_info = obs["obs"], info
        obs, r, term, trunc, info = env.step(a)
        cf = env.counterfactuals(prev, a, obs["obs"], prev_info, info)
        for u in range(t.n):
            # replay the same transition from machine state u by hand, through the tables
            letter = t.read(prev, a, obs["obs"], 0.0, prev_info, info, {}, {})
            k = t.auto.edge[u, letter]
            # edge 0 pays stay + 1 (1.5 after `left`, action 1), edge 1 pays 2, edge 2 none
            expect = {0: 1.5 if a == 1 else 1.0, 1: 2.0}.get(int(k), 0.0)
            assert cf["next_q"][u] == t.auto.delta[u, letter]
            assert cf["reward"][u] == pytest.approx(expect)
            assert cf["terminated"][u] == (t.auto.final[cf["next_q"][u]] and not t.auto.final[u])
        if term or trunc:
            obs, info = env.reset()


LTLF_MDP = '''\
mdp line {
    start a
    a go -> b
    a wait -> a
    b * -> c
    c * -> c
}
env line
prop at_c = obs == c
ltlf reach = F at_c
objective o { maximize P[reach] }
options { max_episode_steps: 5 }
'''


@pytest.mark.parametrize("terminate", [False, True])
def test_ltlf_pays_at_the_end_of_an_accepted_episode(terminate):
    env = objlang.make(objlang.loads(LTLF_MDP), ltlf_terminate=terminate)
    env.reset(seed=0)
    rewards = []
    for a in [0, 0, 0, 0, 0]:  # go, then anything: c is reached at step 2
        _, r, term, trunc, info = env.step(a)
        rewards.append(r)
        if term or trunc:
            break
    if terminate:
        assert rewards == [0.0, 1.0] and term and info["objlang"]["accepting"]
    else:
        assert rewards == [0.0, 0.0, 0.0, 0.0, 1.0] and trunc and info["objlang"]["accepting"]
    env.reset(seed=0)
    for _ in range(5):  # waiting forever: the time limit cuts a rejected trace
        _, r, term, trunc, info = env.step(1)
        assert r == 0.0
    assert trunc and not info["objlang"]["accepting"]


def test_inner_nonlinear_objective_pays_f_of_the_return_at_the_end():
    spec = objlang.loads(LTLF_MDP.replace("objective o { maximize P[reach] }",
                                          "reward r = [at_c]\n"
                                          "objective o { maximize E[-exp(-G(r, 0.5))] }"))
    env = objlang.make(spec)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"obs", "returns", "scale"}
    paid = []
    for a in [0, 0, 0, 0, 0]:
        obs, r, term, trunc, _ = env.step(a)
        paid.append(r)
    # rewards 0, 1, 1, 1, 1 (c from step 2 on), discounted by 0.5: G = 0.5 + 0.25 + ...
    g = 0.5 + 0.25 + 0.125 + 0.0625
    assert obs["returns"][0] == pytest.approx(g) and trunc
    assert paid[:4] == [0.0] * 4 and paid[4] == pytest.approx(-np.exp(-g))


def test_linear_scalarisation_reports_its_terms():
    spec = objlang.loads(LTLF_MDP.replace("objective o { maximize P[reach] }",
                                          "reward r = [at_c]\nreward w = [action == wait]\n"
                                          "discount 0.9\n"
                                          "objective o { maximize 2 * E[G(r)] - E[G(w)] }"))
    env = objlang.make(spec)
    order = [str(t.expr) for t in env.plan.components[0]]  # the terms, as listed in the plan
    assert sorted(order) == ["r", "w"]
    env.reset(seed=0)
    _, r, *_, info = env.step(1)  # wait
    assert r == -1.0 and dict(zip(order, info["objlang"]["rewards"])) == {"r": 0.0, "w": 1.0}
    _, r, *_, info = env.step(0)  # go: to b
    _, r, *_, info = env.step(0)  # to c
    assert r == 2.0 and dict(zip(order, info["objlang"]["rewards"])) == {"r": 1.0, "w": 0.0}
