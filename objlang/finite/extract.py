"""Finite MDPs from ``mdp`` blocks and gymnasium toy-text envs, and the labels
and rewards of a spec on them.

Termination follows language.md §6 (see :mod:`objlang.finite.model`): a
transition the env flags as terminated leads to an absorbing copy of its
target, ``"<name>#end"``, which observes what the target observes, loops on
itself under every action and earns 0. Copies come after the env's own
states, in the order of the states they copy.

Props are evaluated once per state, rewards once per (state, action, next
state) of nonzero probability, through :mod:`objlang.ir.evaluate`.

>>> import gymnasium
>>> m = from_gym(gymnasium.make("FrozenLake-v1", is_slippery=False))
>>> m.n_states, m.n_actions, m.state_names[16:]
(21, 4, ('5#end', '7#end', '11#end', '12#end', '15#end'))
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

import numpy as np
import scipy.sparse as sp
import sympy

from ..errors import Loc, ObjlangError
from ..ir import nodes as n
from ..ir import sym
from ..ir.evaluate import Scope, compile_bool, compile_real
from .model import FiniteMDP

__all__ = ["from_mdp_decl", "from_gym", "finite_env", "labels", "transition_values",
           "literal"]

# (s, a) -> {(target, terminated): [probability, probability * reward]}
_Table = dict


def _build(name: str, state_names: list[str], action_names: list[str], obs: np.ndarray,
           table: dict, init: np.ndarray, obs_names=(), info=None) -> FiniteMDP:
    """Assemble a FiniteMDP, adding an absorbing copy of every terminal target
    (``info``: key -> per-state array, extended to the copies like ``obs``)."""
    n_base, n_act = len(state_names), len(action_names)
    ends = sorted({t for outs in table.values() for (t, term) in outs if term})
    copy_of = {t: n_base + k for k, t in enumerate(ends)}
    S = n_base + len(ends)
    indptr, indices, probs, rewards, split = [0], [], [], [], []
    for s in range(S):
        for a in range(n_act):
            if s >= n_base:  # an absorbing copy
                row = {s: (1.0, 0.0, {0.0: 1.0})}
            else:
                row = {}
                for (t, term), (p, pr, rs) in table[s, a].items():
                    col = copy_of[t] if term else t
                    q, qr, seen = row.get(col, (0.0, 0.0, {}))
                    merged = dict(seen)
                    for r, pr_r in rs.items():
                        merged[r] = merged.get(r, 0.0) + pr_r
                    row[col] = (q + p, qr + pr, merged)
            cols = sorted(c for c in row if row[c][0] > 0)
            indices += cols
            probs += [row[c][0] for c in cols]
            # merged outcomes with one reward keep it exactly (Σ p·r / Σ p need not be r
            # in floating point, and `env_reward == -100` must still hold); outcomes
            # with different rewards into one state are kept apart in `split`
            for c in cols:
                outcomes = row[c][2]
                if len(outcomes) == 1:
                    rewards.append(next(iter(outcomes)))
                    continue
                rewards.append(row[c][1] / row[c][0])
                for r, p_r in outcomes.items():
                    split.append((s * n_act + a, c, p_r, r))
            indptr.append(len(indices))
    shape = (S * n_act, S)
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    P = sp.csr_matrix((np.asarray(probs, dtype=np.float64), indices, indptr), shape=shape)
    R = sp.csr_matrix((np.asarray(rewards, dtype=np.float64), indices.copy(), indptr.copy()),
                      shape=shape)
    full_init = np.zeros(S)
    full_init[:n_base] = init
    all_obs = np.concatenate([obs, obs[ends]]) if ends else obs
    all_info = {k: np.concatenate([v, v[ends]]) if ends else v for k, v in (info or {}).items()}
    terminal = np.zeros(S, dtype=bool)
    terminal[n_base:] = True
    names = tuple(state_names) + tuple(f"{state_names[t]}#end" for t in ends)
    split_arrays = tuple(np.asarray(x) for x in zip(*split)) if split else ()
    return FiniteMDP(name, names, tuple(action_names), P, full_init, all_obs.astype(np.int64),
                     terminal, R, tuple(obs_names), split_arrays, all_info)


def from_mdp_decl(decl: n.MdpDecl) -> FiniteMDP:
    """The finite MDP of an ``mdp`` block (language.md §5b).

    States and actions in ``states_of``/``actions_of`` order, observation =
    state index, ``obs_names`` = state names, env reward 0, no terminations.

    >>> import objlang
    >>> spec = objlang.loads('mdp m { start s : 0.5, t : 0.5  s * -> t  t * -> s }')
    >>> m = from_mdp_decl(spec.named()["m"])
    >>> m.state_names, m.action_names, m.init.tolist()
    (('s', 't'), ('any',), [0.5, 0.5])
    """
    from ..passes.mdps import actions_of, states_of

    states, actions = list(states_of(decl)), list(actions_of(decl))
    index = {s: i for i, s in enumerate(states)}
    rows = {(r.state, r.action): r for r in decl.rows}
    table: _Table = {}
    for i, s in enumerate(states):
        for j, a in enumerate(actions):
            row = rows.get((s, a)) or rows.get((s, "*"))
            if row is None:
                raise ObjlangError(f"state '{s}' of mdp '{decl.name}' has no row for action "
                                   f"'{a}'", decl.loc)
            outs: dict = {}
            for t, p in row.outcomes:
                q = 1.0 if p is None else float(p)
                acc = outs.setdefault((index[t], False), [0.0, 0.0, {0.0: 0.0}])
                acc[0] += q
                acc[2][0.0] += q
            table[i, j] = outs
    init = np.zeros(len(states))
    for s, p in decl.start:
        init[index[s]] += 1.0 if p is None else float(p)
    return _build(decl.name, states, actions, np.arange(len(states)), table, init, states)


def _not_finite(what: str, loc: Optional[Loc] = None, source=None) -> ObjlangError:
    return ObjlangError(f"{what} is not a finite environment: it has no transition table "
                        f"(env.unwrapped.P)", loc,
                        "exact solving needs a finite env: an `mdp` block, or a toy-text env "
                        "such as FrozenLake-v1, CliffWalking-v1 or Taxi-v4", source)


def from_gym(env, name: Optional[str] = None) -> FiniteMDP:
    """The finite MDP of a gymnasium env with a transition table.

    Reads ``env.unwrapped.P[s][a] = [(prob, next, reward, terminated), ...]``
    (FrozenLake, CliffWalking, CliffWalkingSlippery, Taxi); entries with the
    same (next, terminated) are merged (their reward averaged by probability).
    ``init`` is ``env.unwrapped.initial_state_distrib`` when the env has one,
    else ``start_state_index``, else the observation of ``env.reset(seed=0)``.
    The observation of state s is s. An env whose ``info`` is a function of the
    state says so with ``env.unwrapped.state_info`` (key -> ``(n_states,)``
    array, as OfficeWorld does); it becomes ``FiniteMDP.info``.

    >>> import gymnasium
    >>> m = from_gym(gymnasium.make("CliffWalking-v1"))
    >>> m.n_states, m.n_actions, int(m.init.argmax())
    (49, 4, 36)
    """
    u = env.unwrapped
    if name is None:
        spec = getattr(env, "spec", None)
        name = getattr(spec, "id", None) or type(u).__name__
    P = getattr(u, "P", None)
    if not isinstance(P, (dict, list, tuple)) or len(P) == 0:
        raise _not_finite(f"'{name}'")
    if getattr(u, "fickle_passenger", False):  # Taxi: hidden state the table lacks
        raise ObjlangError(f"'{name}' with fickle_passenger=True is not a finite MDP of its "
                           f"observation: the passenger's change of mind is not in its "
                           f"transition table", None, "use fickle_passenger=False")
    n_states = len(P)
    n_actions = getattr(getattr(u, "action_space", None), "n", None)
    if n_actions is None:
        n_actions = len(P[0])
    n_actions = int(n_actions)
    table: _Table = {}
    for s in range(n_states):
        row = P[s]
        for a in range(n_actions):
            outs: dict = {}
            for entry in row[a]:
                p, t, r, term = entry[:4]
                p = float(p)
                if p <= 0:
                    continue
                acc = outs.setdefault((int(t), bool(term)), [0.0, 0.0, {}])
                acc[0] += p
                acc[1] += p * float(r)
                acc[2][float(r)] = acc[2].get(float(r), 0.0) + p
            table[s, a] = outs
    init = getattr(u, "initial_state_distrib", None)
    if init is not None:
        init = np.asarray(init, dtype=np.float64).reshape(-1)
    else:
        init = np.zeros(n_states)
        start = getattr(u, "start_state_index", None)
        if start is None:
            start = env.reset(seed=0)[0]
        init[int(start)] = 1.0
    info = {str(k): np.asarray(v).reshape(-1)
            for k, v in (getattr(u, "state_info", None) or {}).items()}
    if any(len(v) != n_states for v in info.values()):
        raise ObjlangError(f"'{name}': state_info needs one value per state ({n_states})")
    return _build(name, [str(s) for s in range(n_states)],
                  [str(a) for a in range(n_actions)], np.arange(n_states), table, init,
                  info=info)


def literal(e):
    """The Python value of an env or options literal.

    ``Str`` -> str, ``Integer`` -> int, ``Float``/``Rational`` -> float,
    ``true``/``false`` -> bool, ``Vec`` -> list, ``SetLit`` -> set, and
    ``Iverson(x)`` (how ``[x]`` parses) -> ``[x]``.

    >>> import objlang
    >>> env = objlang.loads('env "FrozenLake-v1" { desc: ["SF", "FG"], n: 3 }').decls[0]
    >>> {k: literal(v) for k, v in env.kwargs}
    {'desc': ['SF', 'FG'], 'n': 3}
    """
    if e is sympy.true or e is sympy.false:
        return e is sympy.true
    if isinstance(e, sym.Str):
        return str(e.name)
    if isinstance(e, sympy.Integer):
        return int(e)
    if isinstance(e, (sympy.Float, sympy.Rational)):
        return float(e)
    if isinstance(e, (sym.Vec, sym.Iverson)):
        return [literal(a) for a in e.args]
    if isinstance(e, sym.SetLit):
        return {literal(a) for a in e.args}
    raise ObjlangError(f"not a literal: {e}")


def finite_env(spec: n.Spec) -> FiniteMDP:
    """The finite MDP of the spec's ``env`` declaration: its ``mdp`` block, or
    ``gymnasium.make(id, **kwargs)`` read through its transition table."""
    env_decl = next(iter(spec.of_type(n.EnvDecl)), None)
    if env_decl is None:
        raise ObjlangError("the spec declares no env", Loc(spec.file, 1, 1) if spec.file
                           else None, 'add `env "FrozenLake-v1"` or `env NAME` of an mdp '
                           'block', spec.source)
    if env_decl.is_mdp:
        mdp = next((m for m in spec.of_type(n.MdpDecl) if m.name == env_decl.env_id), None)
        if mdp is None:
            raise ObjlangError(f"no mdp named '{env_decl.env_id}'", env_decl.loc,
                               source=spec.source)
        return from_mdp_decl(mdp)
    import gymnasium

    from ..gym import _register_builtin

    _register_builtin()  # objlang/OfficeWorld-v0
    kwargs = {k: literal(v) for k, v in env_decl.kwargs}
    try:
        env = gymnasium.make(env_decl.env_id, **kwargs)
    except Exception as exc:  # unknown id, bad keyword, ...
        raise ObjlangError(f"cannot make env '{env_decl.env_id}': {exc}", env_decl.loc,
                           source=spec.source) from None
    try:
        try:
            return from_gym(env, env_decl.env_id)
        except ObjlangError as exc:
            raise ObjlangError(exc.message, env_decl.loc, exc.hint, spec.source) from None
    finally:
        env.close()


# ---- labels and rewards ------------------------------------------------------------

def _subject(fn, key: str, scope: Scope, what: str):
    """Who reads ``key`` in ``fn`` (for messages) and where it was declared."""
    name = fn.sources[key]
    decl = scope.decls.get(name) if name else None
    subject = what if name is None else f"prop '{name}'" if name in scope.props \
        else f"reward '{name}'"
    return name, subject, decl.loc if decl is not None else None


def _check_finite_reads(fn, scope: Scope, what: str, mdp: FiniteMDP) -> None:
    """Refuse what a transition table cannot give: external props, and info
    unless the env gives its info per state (``mdp.info``)."""
    for key in ("info", "next_info", "props", "next_props"):
        if key not in fn.sources or key.endswith("info") and mdp.info:
            continue
        name, subject, loc = _subject(fn, key, scope, what)
        if key.endswith("props"):
            raise ObjlangError(f"prop '{name}' is external: a finite env cannot evaluate it",
                               loc, "write it as an expression of obs to solve on a finite "
                               "env", scope.source)
        raise ObjlangError(f"{subject} reads info, which a finite env's transition table "
                           f"does not carry", loc,
                           "write it as an expression of obs to solve on a finite env",
                           scope.source)


def _run(fn, values: dict, mdp: FiniteMDP, scope: Scope, what: str, src=None, dst=None
         ) -> np.ndarray:
    """``fn(values)`` with the info of states ``src`` (o_t) and ``dst`` (o_{t+1})
    added from ``mdp.info`` where ``fn`` reads them; a key the env's info lacks is
    an ObjlangError at the declaration that reads it."""
    if mdp.info:
        for key, states in (("info", src), ("next_info", dst)):
            if key in fn.reads:
                values[key] = {k: v if states is None else v[states]
                               for k, v in mdp.info.items()}
    try:
        return fn(values)
    except KeyError as exc:
        key = "info" if "info" in fn.reads else "next_info"
        if key not in fn.reads:
            raise
        _, subject, loc = _subject(fn, key, scope, what)
        raise ObjlangError(f"{subject}: {exc.args[0]}", loc,
                           f"the info of '{mdp.name}' has: " + ", ".join(sorted(mdp.info)),
                           scope.source) from None


def labels(mdp: FiniteMDP, spec: n.Spec, names: Optional[Iterable[str]] = None,
           conditions: Optional[dict] = None) -> dict[str, np.ndarray]:
    """Each prop (or each named one) evaluated once per state: name -> ``(S,)`` bool;
    ``conditions`` (key -> boolean expression: the inline state conditions of a
    formula, ``obs != 5``, ``info.coffee``) are evaluated too, under their keys.

    An absorbing copy has the labels of the state it copies.

    >>> import objlang
    >>> spec = objlang.loads('mdp m { start a  a * -> b  b * -> b }\\nenv m\\nprop at_b = obs == b')
    >>> labels(finite_env(spec), spec)["at_b"].tolist()
    [False, True]
    """
    scope = Scope.of(spec)
    wanted = list(scope.props) if names is None else list(names)
    exprs = {}
    for name in wanted:
        if name not in scope.props:
            raise ObjlangError(f"unknown proposition '{name}'", None, None, spec.source)
        exprs[name] = (sym.name(name), f"prop '{name}'")
    for key, cond in (conditions or {}).items():
        exprs[key] = (cond, "a condition of a formula")
    out: dict[str, np.ndarray] = {}
    for key, (expr, what) in exprs.items():
        fn = compile_bool(expr, scope, level="state")
        _check_finite_reads(fn, scope, what, mdp)
        out[key] = np.asarray(_run(fn, {"obs": np.asarray(mdp.obs)}, mdp, scope, what), bool)
    return out


def transition_values(mdp: FiniteMDP, spec: n.Spec, expr, where=None) -> sp.csr_matrix:
    """A transition-level (scalar) real expression on every transition: ``(S*A, S)`` CSR.

    ``expr`` is a reward or cost name (a str), or an expression (a reward's
    body, a machine edge's reward, the argument of an inline ``G(...)``);
    ``where`` is the declaration holding it, to locate errors. Evaluated once
    per (state, action, next state) with nonzero probability, with ``obs`` and
    ``next`` the observations, ``action`` the action index and ``env_reward``
    the env's reward; the result has the sparsity of ``mdp.P`` and is 0 on
    transitions out of absorbing copies.
    """
    scope = Scope.of(spec)
    if isinstance(expr, str):
        if expr not in scope.rewards:
            raise ObjlangError(f"unknown reward or cost '{expr}'", None, None, spec.source)
        expr = sym.name(expr)
    fn = compile_real(expr, scope, level="transition", where=where)
    _check_finite_reads(fn, scope, "the expression", mdp)
    P = mdp.P.tocsr()
    A = mdp.n_actions
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    cols = P.indices
    src, act = rows // A, rows % A
    values = {"obs": mdp.obs[src], "next": mdp.obs[cols], "action": act}
    if "env_reward" in fn.reads:
        values["env_reward"] = np.asarray(mdp.env_reward[rows, cols], dtype=np.float64
                                          ).reshape(-1)
    data = _run(fn, values, mdp, scope, "the expression", src, cols) if len(rows) \
        else np.zeros(0)
    if "env_reward" in fn.reads and mdp.reward_split:
        data = _split_average(mdp, fn, P, data, scope)
    data = np.where(mdp.terminal[src], 0.0, data)
    return sp.csr_matrix((data, P.indices.copy(), P.indptr.copy()), shape=P.shape)


def _split_average(mdp: FiniteMDP, fn, P: sp.csr_matrix, data: np.ndarray, scope: Scope
                   ) -> np.ndarray:
    """Where outcomes with different env rewards lead to one state, the expected
    value of ``fn`` over them (not ``fn`` of the mean reward: ``[env_reward == -100]``
    of a fall and a step into the same state is 1 with the fall's probability)."""
    rows, cols, probs, rewards = mdp.reward_split
    A = mdp.n_actions
    f = _run(fn, {"obs": mdp.obs[rows // A], "next": mdp.obs[cols], "action": rows % A,
                  "env_reward": rewards.astype(np.float64)}, mdp, scope, "the expression",
             rows // A, cols)
    # the position of each outcome's (row, col) in P's data
    pos = np.array([P.indptr[r] + np.searchsorted(P.indices[P.indptr[r]:P.indptr[r + 1]], c)
                    for r, c in zip(rows, cols)], dtype=np.int64)
    total = np.zeros(len(data))
    mass = np.zeros(len(data))
    np.add.at(total, pos, probs * f)
    np.add.at(mass, pos, probs)
    return np.where(mass > 0, total / np.where(mass > 0, mass, 1.0), data)
