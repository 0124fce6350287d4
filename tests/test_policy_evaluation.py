"""Policy evaluation against Monte Carlo rollouts of the gymnasium env, against
brute-force enumeration of the runs of a tiny MDP, against hand computations and
against the optimum that `solve` finds."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import objlang
from objlang.finite.evaluate import evaluate, evaluation
from objlang.finite.extract import finite_env
from objlang.finite.solve import solve

SPEC = """
env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
prop goal = obs == 15
prop hole = obs in {5, 7, 11, 12}
reward win = [goal]
ltl safe = !hole U goal
objective p { maximize P[safe] }
objective g { maximize E[G(win, 0.9)] }
objective v { maximize Var[G(win, 0.9)] }
objective ex { maximize E[exp(-2 * G(win, 0.9))] }
objective mn { maximize E[min(G(win, 0.9), 0.5)] }
objective cube { maximize E[G(win, 0.9) ^ 3] }
objective occ { maximize entropy(occ(obs))  discount 0.9 }
"""

HOLES = {5, 7, 11, 12}


def rollouts(policy: np.ndarray, episodes: int, seed: int):
    """Satisfaction of !hole U goal, discounted returns of `win` and the normalised
    discounted occupancy of the observations (γ = 0.9), sampled."""
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True).unwrapped
    rng = np.random.default_rng(seed)
    sat, returns, occ = [], [], np.zeros(16)
    for ep in range(episodes):
        s, _ = env.reset(seed=int(rng.integers(2**31)))
        ok, g, disc = None, 0.0, 1.0
        for _ in range(2000):
            occ[s] += 0.1 * disc
            a = int(rng.choice(4, p=policy[s]))
            s, r, terminated, _, _ = env.step(a)
            g += disc * (1.0 if s == 15 else 0.0)
            disc *= 0.9
            if ok is None and s in HOLES:
                ok = False
            if ok is None and s == 15:
                ok = True
            if terminated:
                occ[s] += disc  # the final state repeats forever: 0.1 * Σ_(t' >= t) 0.9^t'
                break
        sat.append(bool(ok))
        returns.append(g)
    return np.array(sat, float), np.array(returns), occ / episodes


@pytest.fixture(scope="module")
def setting():
    spec = objlang.loads(SPEC)
    mdp = finite_env(spec)
    rng = np.random.default_rng(0)
    policy = rng.dirichlet(np.ones(4), size=mdp.n_states)
    policy[: 16] = rng.dirichlet(np.ones(4) * 0.5, size=16)
    sat, returns, occ = rollouts(policy[:16], 4000, seed=1)
    return spec, policy, sat, returns, occ


def within_ci(exact: float, sample: np.ndarray, z: float = 4.0) -> bool:
    half = z * sample.std(ddof=1) / np.sqrt(len(sample))
    return abs(sample.mean() - exact) <= max(half, 1e-12)


def test_probability_agrees_with_rollouts(setting):
    spec, policy, sat, _, _ = setting
    assert within_ci(evaluate(spec, policy, "p"), sat)


def test_discounted_return_and_variance_agree_with_rollouts(setting):
    spec, policy, _, returns, _ = setting
    mean = evaluate(spec, policy, "g")
    assert within_ci(mean, returns)
    var = evaluate(spec, policy, "v")
    # the sample variance of a bounded variable: compare within a loose band
    assert var == pytest.approx(returns.var(ddof=1), rel=0.15)
    assert var >= 0


def test_optimal_policy_of_solve_evaluates_to_the_optimum():
    spec = objlang.loads(SPEC)
    sol = solve(spec, "g")
    mdp = finite_env(spec)
    policy = np.array([int(sol.policy[name]) for name in mdp.state_names])
    assert evaluate(spec, policy, "g") == pytest.approx(sol.value, abs=1e-10)
    uniform = np.full((mdp.n_states, 4), 0.25)
    assert evaluate(spec, uniform, "g") < sol.value


def test_pi_terms_and_lex_vectors():
    spec = objlang.loads("""
mdp m {
    start s
    s a -> s
    s b -> s
}
env m
reward r = [action == a]
objective f { maximize -(pi(s, a) - 0.5) ^ 2 }
objective l { maximize lex(E[G(r, 0.5)], -E[G(r, 0.5)]) }
""")
    assert evaluate(spec, np.array([[0.25, 0.75]]), "f") == pytest.approx(-0.0625)
    assert evaluate(spec, np.array([[0.25, 0.75]]), "l") == pytest.approx([0.5, -0.5])


def test_functions_of_returns_agree_with_rollouts(setting):
    spec, policy, _, returns, _ = setting
    for name, f in [("ex", lambda g: np.exp(-2 * g)), ("mn", lambda g: np.minimum(g, 0.5)),
                    ("cube", lambda g: g ** 3)]:
        e = evaluation(spec, policy, name, tol=1e-4)
        assert e.error_bound <= (0.0 if name == "cube" else 5e-3)
        sample = f(returns)
        half = 4 * sample.std(ddof=1) / np.sqrt(len(sample))
        assert abs(sample.mean() - e.value) <= half + e.error_bound, name


def test_occupancy_entropy_agrees_with_rollouts(setting):
    """The absorbing copies observe their state (language.md §6), so the occupancy
    keeps counting the final observation after termination."""
    spec, policy, _, _, occ = setting
    d = occ[occ > 0]
    assert evaluate(spec, policy, "occ") == pytest.approx(-(d * np.log(d)).sum(), abs=0.02)


# ---- a tiny MDP whose runs can be enumerated -------------------------------------------

TINY = """
mdp tiny {
    start s0 : 0.7, s1 : 0.3
    s0 a -> s1 : 0.5, s2 : 0.5
    s0 b -> done
    s1 a -> s2 : 0.6, done : 0.4
    s1 b -> s2
    s2 * -> done
    done * -> done
}
env tiny
discount 0.9
prop at2 = obs == s2
reward r = [next == s1] + 2 * [next == s2] - [obs == s0 & action == b]
reward c = 0.5 * [action == a] * [obs != done]
ltl visit2 = F at2
machine m {
    start u0
    u0 -> u1 when at2 reward 1
    final u1
}
"""
TINY_POLICY = np.array([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5], [0.5, 0.5]])
MOVES = {"s0": {"a": {"s1": .5, "s2": .5}, "b": {"done": 1.0}},
         "s1": {"a": {"s2": .6, "done": .4}, "b": {"s2": 1.0}},
         "s2": {"a": {"done": 1.0}, "b": {"done": 1.0}}}
ROW = {"s0": 0, "s1": 1, "s2": 2}


@pytest.fixture(scope="module")
def tiny_runs():
    """Every run of the tiny MDP to `done`: probability, G(r) (γ 0.9), G(c, 0.5),
    sum(r), G(m) (γ 0.9) and whether it visits s2."""
    runs = []

    def walk(s, p, t, g, gc, total, gm, visit):
        if s == "done":  # every reward is 0 from here on
            runs.append((p, g, gc, total, gm, visit))
            return
        for k, a in enumerate("ab"):
            for s2, q in MOVES[s][a].items():
                r = (s2 == "s1") + 2 * (s2 == "s2") - (s == "s0" and a == "b")
                c = 0.5 * (a == "a")
                walk(s2, p * TINY_POLICY[ROW[s], k] * q, t + 1, g + 0.9 ** t * r,
                     gc + 0.5 ** t * c, total + r,
                     gm + 0.9 ** t * (s2 == "s2" and not visit), visit or s2 == "s2")
    walk("s0", 0.7, 0, 0.0, 0.0, 0.0, 0.0, False)
    walk("s1", 0.3, 0, 0.0, 0.0, 0.0, 0.0, False)
    cols = np.array(runs, float).T
    assert cols[0].sum() == pytest.approx(1.0)
    return dict(zip(["p", "g", "gc", "total", "gm", "visit"], cols))


def tiny_value(goal: str, tol: float = 1e-3):
    return evaluation(objlang.loads(TINY + f"objective o {{ maximize {goal} }}"),
                      TINY_POLICY, tol=tol)


@pytest.mark.parametrize("goal, exact", [
    ("E[G(r)]", lambda x: x["g"]),
    ("E[G(r) ^ 2]", lambda x: x["g"] ** 2),
    ("E[G(r) ^ 3 - 2 * G(r)]", lambda x: x["g"] ** 3 - 2 * x["g"]),
    ("E[G(r) * G(c, 0.5)]", lambda x: x["g"] * x["gc"]),
    ("E[sum(r) ^ 2]", lambda x: x["total"] ** 2),
    ("E[G(m) ^ 2 + G(r)]", lambda x: x["gm"] ** 2 + x["g"]),
    ("E[[visit2] * G(r) ^ 2]", lambda x: x["visit"] * x["g"] ** 2),
    ("P[visit2]", lambda x: x["visit"]),
])
def test_polynomials_of_returns_are_exact(tiny_runs, goal, exact):
    e = tiny_value(goal)
    assert e.value == pytest.approx(tiny_runs["p"] @ exact(tiny_runs), abs=1e-10)
    assert e.error_bound == 0.0


def test_variance_is_exact(tiny_runs):
    p, g = tiny_runs["p"], tiny_runs["g"]
    e = tiny_value("Var[G(r)]")
    assert e.value == pytest.approx(p @ g ** 2 - (p @ g) ** 2, abs=1e-10)
    assert e.error_bound == 0.0


@pytest.mark.parametrize("goal, exact, most", [
    ("E[exp(-G(r))]", lambda x, p: p @ np.exp(-x["g"]), 1e-6),
    ("E[min(G(r), 1.5)]", lambda x, p: p @ np.minimum(x["g"], 1.5), 1e-3),
    ("E[[G(r) >= 1.7]]", lambda x, p: p @ (x["g"] >= 1.7), 1e-3),
    ("E[log(1 + G(c, 0.5))]", lambda x, p: p @ np.log1p(x["gc"]), 1e-6),
    ("E[min(G(r), G(c, 0.5))]", lambda x, p: p @ np.minimum(x["g"], x["gc"]), 5e-2),  # a 2-d grid
    ("E[if visit2 then exp(-G(r)) else G(r)]",
     lambda x, p: p @ np.where(x["visit"] > 0, np.exp(-x["g"]), x["g"]), 1e-6),
    ("-log(E[exp(-0.5 * G(r))]) / 0.5",
     lambda x, p: -np.log(p @ np.exp(-0.5 * x["g"])) / 0.5, 1e-6),
    ("Var[exp(-G(r))]", lambda x, p: p @ np.exp(-2 * x["g"]) - (p @ np.exp(-x["g"])) ** 2, 1e-6),
])
def test_other_functions_are_within_their_bound(tiny_runs, goal, exact, most):
    e = tiny_value(goal)
    assert abs(e.value - exact(tiny_runs, tiny_runs["p"])) <= e.error_bound + 1e-12
    # the bound is small, not merely honest: second order for smooth f (the rounding
    # keeps the mean), first order for min, max and indicators
    assert e.error_bound <= most


def test_a_return_on_the_jump_of_an_indicator_widens_the_bound(tiny_runs):
    """Runs with G(r) = 2 exactly (s0 -a-> s2 -> done) sit on the jump of [G(r) >= 2]:
    the bound counts their mass."""
    from objlang.expressivity import written_in

    p, g = tiny_runs["p"], tiny_runs["g"]
    spec = objlang.loads(TINY + "from risk import threshold\n"
                         "objective o { maximize E[threshold(G(r), 2)] }")
    assert written_in(spec.objectives[0], spec)[0] == "INMR"  # a comparison, not a formula
    e = evaluation(spec, TINY_POLICY, tol=1e-3)
    assert abs(e.value - p @ (g >= 2)) <= e.error_bound + 1e-12
    assert e.error_bound >= p[np.isclose(g, 2)].sum() - 1e-12


def test_sums_need_a_finite_total_and_a_polynomial():
    with pytest.raises(objlang.ObjlangError, match="undiscounted total"):
        tiny_value("E[exp(-sum(r))]")
    loop = objlang.loads("mdp m { start s  s a -> s }\nenv m\nreward r = 1\n"
                         "objective o { maximize E[sum(r)] }")
    with pytest.raises(objlang.ObjlangError, match="recurrent class with a nonzero reward"):
        evaluate(loop, np.array([[1.0]]))


# ---- occupancy measures and policy terms, by hand ----------------------------------------

LOOP = """
mdp loop {
    start s0
    s0 a -> s1
    s0 b -> s0
    s1 * -> s0
}
env loop
discount 0.8
policy prior = table {
    s0 -> a : 0.5, b : 0.5
    s1 -> a : 0.9, b : 0.1
}
objective states { maximize entropy(occ(obs)) }
objective actions { maximize entropy(occ(action)) }
objective soft {
    maximize E[G([obs == s1])]
    regularize 0.3 * entropy(pi) + 0.2 * kl(pi, prior)
}
"""


def test_occupancy_entropy_by_hand():
    spec = objlang.loads(LOOP)
    p, q, gamma = 0.3, 0.6, 0.8
    policy = np.array([[p, 1 - p], [q, 1 - q]])
    # ν = init (I - γ P)^-1: ν0 = 1 + γ (1 - p) ν0 + γ ν1, ν1 = γ p ν0
    nu0 = 1 / (1 - gamma * (1 - p) - gamma ** 2 * p)
    nu1 = gamma * p * nu0
    states = (1 - gamma) * np.array([nu0, nu1])
    actions = (1 - gamma) * np.array([nu0 * p + nu1 * q, nu0 * (1 - p) + nu1 * (1 - q)])
    assert states.sum() == pytest.approx(1.0)
    for name, d in [("states", states), ("actions", actions)]:
        e = evaluation(spec, policy, name)
        assert e.value == pytest.approx(-(d * np.log(d)).sum(), abs=1e-12)
        assert e.to_json() == {"objective": name, "value": e.value, "error_bound": 0.0}


def test_regularisers_count_as_in_solve():
    """Soft policy iteration's optimum, evaluated again from its policy."""
    spec = objlang.loads(LOOP)
    sol = solve(spec, "soft")
    mdp = finite_env(spec)
    policy = np.array([[row.get(a, 0.0) if isinstance(row, dict) else float(row == a)
                        for a in mdp.action_names]
                       for row in (sol.policy[s] for s in mdp.state_names)])
    assert evaluate(spec, policy, "soft") == pytest.approx(sol.value, abs=1e-9)
    assert evaluate(spec, np.full((2, 2), 0.5), "soft") < sol.value


def test_formula_and_average_terms_split_by_the_end_of_the_run():
    """Runs end in g (gain 2) with probability 0.3 or in b (gain 1): by hand."""
    spec = objlang.loads("""
mdp ends {
    start s0
    s0 * -> g : 0.3, b : 0.7
    g * -> g
    b * -> b
}
env ends
prop at_g = obs == g
reward r = 2 * [obs == g] + [obs == b]
ltl good = F at_g
objective sq { maximize E[avg(r) ^ 2] }
objective ftr { maximize E[[good] * G(r, 0.5)] }
objective mix { maximize E[if good then avg(r) else -G(r, 0.5)] }
""")
    policy = np.full((3, 1), 1.0)
    # G(r, 0.5) = 0 + 0.5 * 2 / (1 - 0.5) = 2 after g, 1 after b
    for name, exact in [("sq", 0.3 * 4 + 0.7 * 1), ("ftr", 0.3 * 2), ("mix", 0.3 * 2 - 0.7 * 1)]:
        e = evaluation(spec, policy, name)
        assert e.value == pytest.approx(exact, abs=1e-12), name
        assert e.error_bound == 0.0


def test_indicator_inside_an_inline_return_is_a_reward_not_a_formula():
    spec = objlang.loads("mdp m { start s  s a -> s  s b -> s }\nenv m\n"
                         "objective o { maximize E[G([action == a], 0.5)] }")
    # reward 1 with probability 1/4 per step: 0.25 / (1 - 0.5)
    assert objlang.evaluate(spec, np.array([[0.25, 0.75]])) == pytest.approx(0.5)


@pytest.mark.parametrize("path, objective", [
    ("examples/frozenlake/safe_goal.obj", "reach"),
    ("examples/frozenlake/fetch_ltlf.obj", None),
])
def test_finite_memory_policy_of_solve_evaluates_to_the_optimum(path, objective):
    """solve's optimal policy acts per product state; on the product's MDP it is a
    stationary policy, and its exact value is the optimum."""
    from _samples import ROOT
    from objlang.finite.evaluate import evaluate as evaluate_on

    spec = objlang.load(ROOT / path)
    sol = objlang.solve(spec, objective)
    pm = sol.product.mdp
    names = {nm: i for i, nm in enumerate(pm.state_names)}
    acts = {a: i for i, a in enumerate(pm.action_names)}
    pol = np.zeros(pm.n_states, dtype=np.int64)
    for state, action in sol.policy.items():
        pol[names[state]] = acts[action]
    assert evaluate_on(spec, pol, objective, mdp=pm) == pytest.approx(sol.value, abs=1e-9)
    # and it beats the uniform memoryless policy of the env
    assert sol.value >= objlang.evaluate(spec, np.full((sol.env_states, 4), 0.25),
                                         objective) - 1e-12
