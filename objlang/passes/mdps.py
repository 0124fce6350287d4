"""Checks of `mdp` blocks (language.md §5b) and of policy tables.

States and actions are declared by use; every state needs a row for every
action (explicit, or through ``*``); probabilities lie in [0, 1] and those of a
row (and of ``start``) sum to 1 within 1e-9. An mdp whose rows all use ``*``
has a single action, ``any``. A policy table's row is a distribution over
actions, checked the same way (states a table does not list act uniformly).
"""
from __future__ import annotations

from ..ir import nodes as n
from .context import error

TOLERANCE = 1e-9
IMPLICIT_ACTION = "any"


def actions_of(mdp: n.MdpDecl) -> tuple[str, ...]:
    """The mdp's actions in order of appearance."""
    acts = tuple(dict.fromkeys(r.action for r in mdp.rows if r.action != "*"))
    return acts or (IMPLICIT_ACTION,)


def states_of(mdp: n.MdpDecl) -> tuple[str, ...]:
    """The mdp's states in order of appearance (start states first)."""
    seen = dict.fromkeys(s for s, _ in mdp.start)
    for r in mdp.rows:
        seen[r.state] = None
        seen.update(dict.fromkeys(t for t, _ in r.outcomes))
    return tuple(seen)


def _distribution(outcomes, what: str, loc) -> list:
    diags = []
    given = [p for _, p in outcomes if p is not None]
    if given and len(given) != len(outcomes):
        return [error(f"{what}: give every outcome a probability, or none", loc)]
    if not given and len(outcomes) > 1:
        return [error(f"{what}: several outcomes need probabilities", loc,
                      hint="write `t1 : 0.5, t2 : 0.5`")]
    targets = [t for t, _ in outcomes]
    for t in set(targets):
        if targets.count(t) > 1:
            diags.append(error(f"{what}: '{t}' is listed twice", loc))
    for t, p in outcomes:
        if p is not None and not (0 <= float(p) <= 1):
            diags.append(error(f"{what}: probability {float(p):g} of '{t}' is not in [0, 1]",
                               loc))
    total = sum(float(p) for p in given) if given else 1.0
    if abs(total - 1.0) > TOLERANCE:
        diags.append(error(f"{what}: probabilities sum to {total:.12g}, not 1", loc,
                           hint="the probabilities of one state and action must sum to 1"))
    return diags


def _check_mdp(m: n.MdpDecl) -> list:
    diags = []
    if not m.start:
        diags.append(error(f"mdp '{m.name}' has no start state", m.loc,
                           hint="add `start s0` (or `start s0 : 0.5, s1 : 0.5`)"))
    else:
        diags += _distribution(m.start, f"start of mdp '{m.name}'", m.start_loc or m.loc)
    rows: dict[tuple[str, str], n.MdpRow] = {}
    for r in m.rows:
        key = (r.state, r.action)
        if key in rows:
            first = rows[key].loc
            diags.append(error(f"state '{r.state}' has two rows for action '{r.action}'",
                               r.loc, hint=f"the first is at line {first.line}"
                               if first else None))
        rows[key] = r
        diags += _distribution(r.outcomes, f"'{r.state} {r.action}'", r.loc)
    with_rows = {r.state for r in m.rows}
    for s in states_of(m):
        if s not in with_rows:
            where = next((r.loc for r in m.rows if any(t == s for t, _ in r.outcomes)),
                         m.start_loc or m.loc)
            diags.append(error(f"state '{s}' of mdp '{m.name}' has no rows", where,
                               hint=f"add `{s} * -> {s}` to make it absorbing"))
    acts = actions_of(m)
    for s in sorted(with_rows):
        for a in acts:
            if (s, a) not in rows and (s, "*") not in rows:
                loc = next(r.loc for r in m.rows if r.state == s)
                diags.append(error(f"state '{s}' has no row for action '{a}'", loc,
                                   hint=f"add `{s} {a} -> ...` or a `{s} * -> ...` row"))
    return diags


def _check_policy(p: n.PolicyDecl) -> list:
    diags, seen = [], {}
    for row in p.rows or ():
        state = str(row.state)
        if state in seen:
            diags.append(error(f"policy '{p.name}' has two rows for state '{state}'", row.loc,
                               hint=f"the first is at line {seen[state].line}"
                               if seen[state] else None))
        seen[state] = row.loc
        diags += _distribution([(str(a), q) for a, q in row.choices],
                               f"policy '{p.name}' in state '{state}'", row.loc)
    return diags


def check_mdps(spec: n.Spec, env) -> tuple[n.Spec, list]:
    diags = []
    for p in spec.of_type(n.PolicyDecl):
        diags += _check_policy(p)
    mdps = {m.name: m for m in spec.of_type(n.MdpDecl)}
    for m in mdps.values():
        diags += _check_mdp(m)
    for e in spec.of_type(n.EnvDecl):
        if e.is_mdp and e.env_id not in mdps:
            from ..errors import did_you_mean
            guess = did_you_mean(e.env_id, mdps)
            diags.append(error(f"no mdp named '{e.env_id}'" + (f" ({guess})" if guess else ""),
                               e.loc, hint=None if guess else
                               'declare it with `mdp NAME { ... }`, or give a gymnasium id '
                               'in quotes: env "FrozenLake-v1"'))
    return spec, diags
