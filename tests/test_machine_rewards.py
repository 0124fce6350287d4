"""Machine edge rewards that are expressions (a reward's name, ``[action == a]``,
``2 * r``): solved and evaluated exactly, against values solved by hand and the
same machines written with numeric rewards."""
from __future__ import annotations

import numpy as np
import pytest

import objlang
from objlang.finite.solve import solve

# s0 --a--> s1; s0 --b--> s0 or s1 (1/2 each); s1 --any--> s0. γ = 1/2.
ENV = '''\
mdp two {
    start s0
    s0 a -> s1
    s0 b -> s0 : 0.5, s1 : 0.5
    s1 * -> s0
}
env two
discount 0.5
prop at1 = obs == s1
reward r = 1 + [action == b]
'''

# entering s1 pays r (2 after b, 1 after a); leaving it after action a costs 1
EXPR = '''\
machine m {
    start u0
    u0 -> u1 when at1 reward r
    u1 -> u0 when !at1 reward -[action == a]
}
'''

# the same machine with numbers: the actions move into the guards
NUMERIC = '''\
machine m {
    start u0
    u0 -> u1 when at1 & action == b reward 2
    u0 -> u1 when at1 & !(action == b) reward 1
    u1 -> u0 when !at1 & action == a reward -1
    u1 -> u0 when !at1 & !(action == a)
}
'''


def spec(machine: str, sense: str = "maximize", extra: str = ""):
    return objlang.loads(ENV + machine + extra + f"objective o {{ {sense} E[G(m)] }}")


# By hand, with V1 = V(s1, u1) and V0 = V(s0, u0):
#   V1 = max/min over actions of (-[a]) + V0 / 2.
#   V0 = max/min(a: 1 + V1 / 2,  b: (V0 / 2) / 2 + (2 + V1 / 2) / 2).
# max: b, b: V1 = V0 / 2, V0 = 1 + 3 V0 / 8 -> V0 = 8/5 (a would give 1.4 < 1.6).
# min: a, a: V1 = V0 / 2 - 1, V0 = 1/2 + V0 / 4 -> V0 = 2/3 (b would give 1).
# uniform policy: V1 = V0 / 2 - 1/2, V0 = 1 + 3 V1 / 8 + V0 / 8 -> V0 = 13/11.
@pytest.mark.parametrize("machine", [EXPR, NUMERIC], ids=["expressions", "numbers"])
def test_machine_with_expression_rewards_is_solved_exactly(machine):
    best = solve(spec(machine))
    assert best.value == pytest.approx(8 / 5, abs=1e-12)
    assert best.policy == {"s0|0": "b", "s1|1": "b"}
    assert solve(spec(machine, "minimize")).value == pytest.approx(2 / 3, abs=1e-12)
    uniform = np.full((2, 2), 0.5)
    assert objlang.evaluate(spec(machine), uniform) == pytest.approx(13 / 11, abs=1e-12)
    always_a = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert objlang.evaluate(spec(machine), always_a) == pytest.approx(2 / 3, abs=1e-12)


def test_a_final_edge_pays_its_expression_once():
    # `2 * r` on the edge into the final state: V0 = max(a: 2, b: V0 / 4 + 2) = 8/3
    s = spec('''machine m {
    start u0
    u0 -> done when at1 reward 2 * r
    final done
}
''')
    assert solve(s).value == pytest.approx(8 / 3, abs=1e-12)
    assert objlang.evaluate(s, np.array([[1.0, 0.0], [1.0, 0.0]])) == pytest.approx(2.0)


def test_a_one_state_machine_paying_a_reward_is_that_reward():
    s = spec("machine m {\n    start u0\n    u0 -> u0 when true reward r\n}\n",
             extra="objective plain { maximize E[G(r)] }\n")
    assert solve(s, "o").value == pytest.approx(solve(s, "plain").value, abs=1e-12)
    assert solve(s, "o").value == pytest.approx(4.0, abs=1e-12)  # b forever: 2 / (1 - 1/2)


def test_an_edge_reward_a_finite_env_cannot_evaluate_points_at_its_edge():
    s = spec("machine m {\n    start u0\n    u0 -> u0 when true reward [info.x > 0]\n}\n")
    with pytest.raises(objlang.ObjlangError, match="in machine 'm', an edge's reward: .* "
                                                   "reads info") as e:
        solve(s)
    assert e.value.line == ENV.count("\n") + 3
