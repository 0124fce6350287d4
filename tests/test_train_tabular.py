"""The tabular trainer, the train dispatcher and `objlang train`.

Each run is small (fixed seeds, CPU, a few seconds); every learned policy is checked
by its exact value on the product (objlang.finite evaluation) against the exact
optimum of `objlang solve`, which do not use the trainer's code.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import objlang
from objlang.cli import main
from objlang.finite.solve import solve

torch = pytest.importorskip("torch")

from objlang.torch import compile_torch  # noqa: E402  (after the torch skip)
from objlang.train import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# a machine whose optimal policy needs its memory: at m, go left (to a) first, then
# right (to b, which a slip may delay); the env alone cannot tell which comes next
MACHINE_MDP = """
mdp line {
    start m
    m left -> a
    m right -> b : 0.8, m : 0.2
    a * -> m
    b * -> m
}
env line
discount 0.9
prop at_a = obs == a
prop at_b = obs == b
machine a_then_b {
    start u0
    u0 -> u1 when at_a
    u1 -> done when at_b reward 1
    final done
}
objective o { maximize E[G(a_then_b)] }
"""

# FrozenLake 4x4, not slippery: reach the goal, paid by a machine that breaks on a hole
FROZEN_MACHINE = """
env "FrozenLake-v1" { map_name: "4x4", is_slippery: false }
discount 0.9
prop goal = obs == 15
prop hole = obs in {5, 7, 11, 12}
machine reach {
    start u0
    u0 -> won when goal reward 1
    u0 -> lost when hole
    final won, lost
}
objective o { maximize E[G(reach)] }
"""

FROZEN_LTLF = """
env "FrozenLake-v1" { map_name: "4x4", is_slippery: false }
prop goal = obs == 15
prop hole = obs in {5, 7, 11, 12}
prop left_half = obs in {0, 1, 4, 5, 8, 9, 12, 13}
ltlf via_left = !hole U (left_half & F goal)
objective o { maximize P[via_left] }
"""

# a slow safe action and a quick risky one; the formula only asks for the goal (short
# episodes: the start, where the choice is made, comes back often)
RISKY_LTL = """
mdp risk {
    start s
    s safe -> m : 0.5, s : 0.5
    s risky -> g : 0.7, pit : 0.3
    m * -> g
    g * -> g
    pit * -> pit
}
env risk
prop goal = obs == g
prop lost = obs == pit
ltl reach = !lost U goal
objective o { maximize P[reach] }
options { max_episode_steps: 10 }
"""


def _report(text: str, steps: int, **kw) -> dict:
    return train(objlang.loads(text), steps=steps, seed=0, progress=False, **kw)


def test_machine_on_an_mdp_block_learns_the_optimum():
    spec = objlang.loads(MACHINE_MDP)
    report = train(spec, steps=20_000, seed=0, progress=False)
    f = report["final"]
    assert report["trainer"] == "qlearning" and report["config"]["crm"]
    # hand-solved: from (m, u0) go left (γ), back to m (γ), then right until b:
    # V(m, u1) = 0.8 · 1 + 0.2 · 0.9 · V(m, u1) = 0.8 / 0.82, reached after 2 steps
    optimum = 0.9 ** 2 * 0.8 / (1 - 0.2 * 0.9)
    assert f["optimum"] == pytest.approx(optimum, abs=1e-9)
    assert solve(spec).value == pytest.approx(optimum, abs=1e-9)
    assert f["value"] == pytest.approx(optimum, abs=1e-9)
    assert f["ratio"] == pytest.approx(1.0)
    # every Monte-Carlo episode ends in the final state, paid 1 (machines have no success)
    assert f["success"] is None and f["return"] == 1.0


def test_markov_reward_without_automaton():
    text = MACHINE_MDP.split("prop at_a")[0] + (
        "reward r = [next == b] - 0.5 * [next == a]\nobjective o { maximize E[G(r)] }\n")
    f = _report(text, 8_000)["final"]
    # always right: V(m) = 0.8 (1 + 0.9 V(b)) + 0.2 · 0.9 V(m), V(b) = 0.9 V(m)
    assert f["optimum"] == pytest.approx(0.8 / (1 - 0.648 - 0.18), abs=1e-9)
    assert f["value"] == pytest.approx(f["optimum"], abs=1e-9)


def test_frozenlake_machine_learns_the_shortest_path():
    report = _report(FROZEN_MACHINE, 20_000)
    f = report["final"]
    # the shortest hole-free path to the goal has 6 steps: reward 1 on the 6th
    assert f["optimum"] == pytest.approx(0.9 ** 5, abs=1e-9)
    assert f["value"] == pytest.approx(f["optimum"], abs=1e-9)
    assert report["steps_to_95"] is not None and report["steps_to_95"] <= 20_000


def test_ltlf_on_frozenlake_reaches_probability_one():
    report = _report(FROZEN_LTLF, 30_000)
    f = report["final"]
    assert report["formalism"] == "LTL" and f["optimum"] == pytest.approx(1.0)
    assert f["value"] == pytest.approx(1.0, abs=1e-9)
    assert f["success"] == 1.0


def test_ltl_scheme_on_a_stochastic_mdp_finds_the_safe_way():
    report = _report(RISKY_LTL, 10_000)
    f = report["final"]
    assert report["trainer"] == "qlearning" and report["config"]["crm"]
    # safe reaches g surely (Pmax = 1), risky with probability 0.7
    assert f["optimum"] == pytest.approx(1.0, abs=1e-9)
    assert f["value"] == pytest.approx(1.0, abs=1e-9)
    # an episode succeeds when it ends in g (by the ζ-jump, or cut on an accepting
    # edge after 10 steps): when s was left within 9 steps, probability 1 - 2^-9
    p = 1 - 0.5 ** 9
    assert abs(f["success"] - p) <= 4 * np.sqrt(p * (1 - p) / 256) + 1 / 256


def test_counterfactuals_learn_machine_states_the_agent_is_not_in():
    from objlang.automata import automaton_of
    from objlang.envs.batched import make_batched
    from objlang.train import qlearning

    spec = objlang.loads(MACHINE_MDP)
    auto = automaton_of(spec, "a_then_b")
    u1 = int(auto.delta[auto.init, auto.letters({"at_a": np.array([True]),
                                                 "at_b": np.array([False])})[0]])
    m, right = 0, 1
    tables = {}
    for crm in (True, False):
        mod = compile_torch(spec, device="cpu")
        env = make_batched(spec, 16, seed=0)
        # one batch step from (m, u0), uniformly random actions
        policy, _ = qlearning.train(spec, mod.plan, env, mod, 16, seed=0,
                                    config=qlearning.QConfig(num_envs=16, crm=crm,
                                                             epsilon=1.0))
        tables[crm] = policy.q_table.view(3, auto.n_states, 2)  # (obs, machine state, action)
    # every element started in u0; with CRM the step m -right-> b is replayed from u1,
    # where it pays 1 (the mean over the elements that went right, some slipped back)
    assert 0 < float(tables[True][m, u1, right]) <= 1
    assert float(tables[False][:, u1].abs().sum()) == 0.0


def test_train_json_from_the_command_line(tmp_path, capsys):
    spec = tmp_path / "line.obj"
    spec.write_text(MACHINE_MDP, "utf-8")
    out = tmp_path / "run"
    rc = main(["train", str(spec), "--steps", "8000", "--seed", "1", "--json",
               "--out", str(out)])
    assert rc == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    # the progress bar (not a terminal: a line per tenth) with the exact value
    last = captured.err.strip().splitlines()[-1]
    assert "100.0% 8000/8000 steps" in last and "value" in last
    assert {"objective", "env", "steps", "wall_s", "device", "final", "files"} <= set(report)
    assert report["objective"] == "o" and report["env"] == "line" and report["steps"] == 8000
    assert report["device"] == "cpu"
    assert set(report["final"]) >= {"return", "success", "value", "optimum"}
    assert report["final"]["value"] == pytest.approx(report["final"]["optimum"], abs=1e-9)
    files = report["files"]
    assert {"metrics_csv", "metrics_json", "checkpoint"} <= set(files)
    for path in files.values():
        assert Path(path).is_file() and Path(path).parent == out
    rows = (out / "metrics.csv").read_text("utf-8").splitlines()
    assert rows[0].startswith("steps,wall_s,return,success") and len(rows) > 2
    saved = torch.load(files["checkpoint"])
    assert tuple(saved["q_table"].shape) == (3 * 3, 2)


def test_constrained_objective_reports_exact_constraint_values():
    # whatever the trainer learned on the gamble (risky with probability x): the exact
    # chance P[G !ruined] = 1 - 0.3 x and the exact payoff 1 + 1.1 x must agree
    report = train(objlang.load(ROOT / "examples" / "toy" / "gamble.obj"), steps=4096,
                   seed=0, progress=False)
    assert report["trainer"] == "lagrangian"
    f = report["final"]
    (c,) = f["constraints"]
    assert c["constraint"] == "P[G !ruined] >= 0.8" and c["bound"] == 0.8
    x = (1 - c["value"]) / 0.3
    assert -1e-9 <= x <= 1 + 1e-9
    assert f["value"] == pytest.approx(1 + 1.1 * x, abs=1e-9)
    assert c["holds"] == (c["value"] >= 0.8 - 1e-6)
    assert f["optimum"] == pytest.approx(1 + 1.1 * 2 / 3, abs=1e-9)


def test_train_refuses_unknown_options_and_trainers():
    spec = objlang.loads(MACHINE_MDP)
    with pytest.raises(objlang.ObjlangError, match="unknown qlearning option 'batch'"):
        train(spec, steps=10, progress=False, batch=3)
    with pytest.raises(objlang.ObjlangError, match="unknown trainer"):
        train(spec, steps=10, progress=False, trainer="sarsa")
    with pytest.raises(objlang.ObjlangError, match="unknown device 'tpu0'"):
        train(spec, steps=10, progress=False, device="tpu0")


def test_cli_train_error_is_located(tmp_path, capsys):
    spec = tmp_path / "bad.obj"
    spec.write_text(MACHINE_MDP, "utf-8")
    assert main(["train", str(spec), "--objective", "nope", "--quiet"]) == 2
    assert "no objective named 'nope'" in capsys.readouterr().err
