"""OfficeWorld (objlang/envs/officeworld.py): the layout of the reward-machine
literature, the gymnasium checker, and exact solving of the office-world examples
against shortest paths found by breadth-first search."""
from __future__ import annotations

from collections import deque

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import objlang
import objlang.envs  # registers objlang/OfficeWorld-v0
from objlang.envs import officeworld as ow
from objlang.finite.extract import finite_env, labels

from _samples import ROOT

# Figure 1 of Toro Icarte et al. (ICML 2018), drawn by hand: '#' walls, gaps are
# doors, C coffee, M mail, O office, * decorations, a-d landmarks, A the start
MAP = """\
#########################
#     #     #     #     #
#     #     #     #     #
#  b     *     *     c  #
#     #     #     #     #
#     #C    #     #     #
### ##### ##### ##### ###
#     #     #     #     #
#     #     #     #     #
#  *  #  O  #  M  #  *  #
#     #     #     #     #
#     #     #     #     #
### ################# ###
#     #     #    C#     #
#     #     #     #     #
#  a A   *     *     d  #
#     #     #     #     #
#     #     #     #     #
#########################"""


def test_layout_is_the_office_world_of_the_paper():
    assert ow.render_text(ow.START) == MAP
    # every cell reaches every other (no room is walled off)
    seen, todo = {ow.START}, [ow.START]
    while todo:
        s = todo.pop()
        for t in ow.NEXT[s]:
            if int(t) not in seen:
                seen.add(int(t))
                todo.append(int(t))
    assert len(seen) == ow.N_CELLS


def test_gymnasium_env_passes_the_checker_and_moves_as_the_table_says():
    env = gymnasium.make("objlang/OfficeWorld-v0")
    assert env.spec.max_episode_steps == 1000
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert obs == ow.START and set(info) == set(ow.FEATURES)
    rng = np.random.default_rng(0)
    for _ in range(300):
        a = int(rng.integers(4))
        s = obs
        obs, r, term, trunc, info = env.step(a)
        (p, nxt, rew, done), = env.unwrapped.P[s][a]
        assert (obs, r, term, p) == (nxt, rew, done, 1.0) == (ow.NEXT[s, a], 0.0, False, 1.0)
        assert info == {k: bool(ow.STATE_INFO[k][obs]) for k in ow.FEATURES}
    assert env.unwrapped.render() is None
    assert gymnasium.make("objlang/OfficeWorld-v0", render_mode="ansi").unwrapped.render() \
        == MAP


def test_info_props_label_the_finite_model():
    spec = objlang.load(ROOT / "examples/officeworld/coffee_and_mail.obj")
    mdp = finite_env(spec)
    assert mdp.n_states == ow.N_CELLS and not mdp.terminal.any()
    lab = labels(mdp, spec)
    cells = {k: sorted(np.flatnonzero(v).tolist()) for k, v in lab.items()}
    # (x, y) of the paper with y up: cell (8 - y) * 12 + x
    assert cells == {"coffee": [27, 80], "mail": [55], "office": [52],
                     "decor": [16, 19, 49, 58, 88, 91]}


def test_an_info_key_the_env_lacks_is_an_error_at_its_prop():
    spec = objlang.loads('env "objlang/OfficeWorld-v0"\nprop tea = info.tea\n'
                         "ltl t = F tea\nobjective o { maximize P[t] }")
    with pytest.raises(objlang.ObjlangError) as err:
        objlang.solve(spec)
    assert "'tea'" in str(err.value) and err.value.diagnostic.loc.line == 2
    assert "coffee" in err.value.hint


def _shortest(starts, goal, avoid=()):
    """BFS distances over the office world's moves: the fewest steps from any cell
    of ``starts`` to a cell where ``goal`` holds, never entering ``avoid``."""
    dist = {s: 0 for s in starts}
    todo = deque(starts)
    while todo:
        s = todo.popleft()
        if goal[s]:
            return dist[s], s
        for t in ow.NEXT[s]:
            t = int(t)
            if t not in dist and not any(a[t] for a in avoid):
                dist[t] = dist[s] + 1
                todo.append(t)
    raise AssertionError("unreachable")


def _path_length(stops, avoid=()):
    """Steps of the shortest walk from the start through one cell of each
    feature in ``stops`` in order (BFS over (cell, stage))."""
    f = ow.STATE_INFO
    dist = {(ow.START, 0): 0}
    todo = deque([(ow.START, 0)])
    while todo:
        s, k = todo.popleft()
        if k == len(stops):
            return dist[s, k]
        for t in ow.NEXT[s]:
            t = int(t)
            if any(f[a][t] for a in avoid):
                continue
            node = (t, k + 1 if f[stops[k]][t] else k)
            if node not in dist:
                dist[node] = dist[s, k] + 1
                todo.append(node)
    raise AssertionError("unreachable")


def test_solved_optima_match_shortest_paths():
    ex = ROOT / "examples/officeworld"
    assert objlang.solve(ex / "get_coffee.obj").value == pytest.approx(1.0, abs=1e-9)
    assert objlang.solve(ex / "coffee_and_mail.obj").value == pytest.approx(1.0, abs=1e-9)
    assert objlang.solve(ex / "patrol.obj", "forever").value == pytest.approx(1.0, abs=1e-9)
    # deliver: reward 1 on the step entering the office with a coffee, decorations
    # avoided: worth 0.95^(k-1) for the shortest such walk of k steps
    k = _path_length(["coffee", "office"], avoid=["decor"])
    assert k == 15
    deliver = objlang.solve(ex / "deliver_coffee.obj")
    assert deliver.value == pytest.approx(0.95 ** (k - 1), rel=1e-9)
    # patrol rounds: 1 on entering d after a, b, c; first round k1 steps, then
    # a shortest round d -> a -> b -> c -> d of L steps forever: γ^(k1-1) / (1 - γ^L)
    k1 = _path_length(["a", "b", "c", "d"])
    f = ow.STATE_INFO
    d_cell = int(np.flatnonzero(f["d"])[0])
    L = 0
    here = [d_cell]
    for stop in ["a", "b", "c", "d"]:
        steps, cell = _shortest(here, f[stop])
        L, here = L + steps, [cell]
    rounds = objlang.solve(ex / "patrol.obj", "rounds")
    assert rounds.value == pytest.approx(0.99 ** (k1 - 1) / (1 - 0.99 ** L), rel=1e-9)


@pytest.mark.parametrize("name", ["deliver_coffee", "get_coffee"])
def test_solved_policy_evaluates_to_the_optimum_on_the_product(name):
    """The product MDP carries the env's info, so a policy of the product is
    evaluated with the same labels."""
    from objlang.finite.evaluate import evaluate as evaluate_on

    spec = objlang.load(ROOT / f"examples/officeworld/{name}.obj")
    sol = objlang.solve(spec)
    pm = sol.product.mdp
    assert set(pm.info) == set(ow.FEATURES)
    names = {nm: i for i, nm in enumerate(pm.state_names)}
    acts = {a: i for i, a in enumerate(pm.action_names)}
    pol = np.zeros(pm.n_states, dtype=np.int64)
    for state, action in sol.policy.items():
        pol[names[state]] = acts[action]
    assert evaluate_on(spec, pol, mdp=pm) == pytest.approx(sol.value, abs=1e-9)


def test_inline_info_conditions_of_formulas_are_labelled():
    spec = objlang.loads('env "objlang/OfficeWorld-v0"\nltl t = !info.decor U info.mail\n'
                         "objective o { maximize P[t] }")
    assert objlang.solve(spec).value == pytest.approx(1.0, abs=1e-9)
    # an env without a per-state info table still refuses info
    other = objlang.loads('env "FrozenLake-v1"\nltl t = F info.mail\n'
                          "objective o { maximize P[t] }")
    with pytest.raises(objlang.ObjlangError, match="reads info"):
        objlang.solve(other)
