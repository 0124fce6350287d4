"""Shared material of the parser tests: the spec of language.md §1, the
`.obj` files shipped with the project, and the keywords of the grammar."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the whole-file example of language.md §1
LANGUAGE_EXAMPLE = '''\
# examples/frozenlake/safe_goal.obj
# Reach the goal without ever stepping into a hole, on slippery FrozenLake.

env "FrozenLake-v1" { map_name: "4x4", is_slippery: true }
discount 0.99

prop goal = obs == 15
prop hole = obs in {5, 7, 11, 12}

reward step = -0.01
reward win  = 10 * [goal]

ltl safe_goal = !hole U goal

objective reach {
    maximize P[safe_goal]
}

objective fast {
    maximize E[G(step + win)]
    subject to P[G !hole] >= 0.9
}
'''

#: the reward machine of language.md §5 and the mdp of §5b
MACHINE_EXAMPLE = '''\
machine coffee {
    start u0
    u0 -> u1 when coffee & !decor
    u1 -> done when office & !decor  reward 1
    u0, u1 -> broken when decor
    final done, broken
}
'''

MDP_EXAMPLE = '''\
mdp two_paths {
    start s0
    s0 left  -> a
    s0 right -> b : 0.9, s0 : 0.1
    a  *     -> done
    b  *     -> done
    done *   -> done
}
env two_paths
prop at_a = obs == a
'''


def obj_files() -> list[Path]:
    """Every .obj file under examples/ and stdlib/ (looked up at test time)."""
    found = []
    for folder in ("examples", "stdlib"):
        found += sorted((ROOT / folder).rglob("*.obj"))
    return found


def keywords() -> frozenset[str]:
    """Every word the grammar reserves (string terminals that look like names)."""
    from objlang.syntax.parser import lark_parser

    words = set()
    for term in lark_parser().terminals:
        pattern = term.pattern
        if pattern.type == "str" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", pattern.value):
            words.add(pattern.value)
    return frozenset(words)
