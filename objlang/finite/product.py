"""The product of a finite MDP with automata (formulas and machines).

Semantics (language.md §6): an LTL automaton first reads the label of the
initial state, then the label of every next state; a machine reads one letter
per transition (o_t, a_t, o_{t+1}); a DFA of an ``ltlf`` formula stops reading
once the trace has terminated (the absorbing copy), an LTL automaton reads the
repeated final label forever. Entering a final machine state ends the episode:
the product state becomes absorbing, with reward 0 from then on. A transition
earns the reward of the machine edge it takes, evaluated on that env transition
(:func:`edge_rewards`), 0 where no edge is taken. An automaton
with ε-moves (``Automaton.epsilon``) adds one action per ε-column after the
env's actions (``"<name>.eps<j>"``): it moves that automaton only, reward 0.

The product is built for all (state, automaton states) combinations at once
with numpy and then cut to the states reachable from the initial ones, so its
cost is linear in (transitions x automaton states), without a Python loop over
states.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from ..automata.table import Automaton
from ..errors import ObjlangError
from ..ir import nodes as n
from .extract import transition_values
from .model import FiniteMDP


@dataclass(frozen=True, eq=False)
class Product:
    """A product MDP and how it maps back to its parts.

    Attributes:
        mdp: the product itself, a FiniteMDP (state names ``"s|q1|q2"``).
        base: the environment's MDP.
        automata: the automata, in the order of ``q``'s columns.
        state: ``(N,)`` base state of each product state.
        q: ``(N, k)`` automaton states of each product state.
        color: per automaton, ``(N * A, N)`` CSR aligned with ``mdp.P``: the
            colour of the automaton edge each transition takes, plus one
            (0 = no colour), for parity automata.
        reward: per automaton, ``(N * A, N)`` CSR: a machine's reward on each
            transition (None for formulas).
    """

    mdp: FiniteMDP
    base: FiniteMDP
    automata: tuple[Automaton, ...]
    state: np.ndarray
    q: np.ndarray
    color: tuple
    reward: tuple

    @property
    def n_states(self) -> int:
        return self.mdp.n_states


def product(base: FiniteMDP, automata: list[Automaton], state_letters: list,
            transition_letters: list, edge_values: list | None = None) -> Product:
    """The reachable product of ``base`` with ``automata``.

    ``state_letters[i]`` is, for a formula automaton, the ``(S,)`` letter of each
    base state (None for machines); ``transition_letters[i]`` is, for a machine,
    the letter of each transition, aligned with ``base.P.data`` (None for
    formulas); ``edge_values[i]`` is, for a machine, :func:`edge_rewards` (None
    for formulas; needed when there are machines), so that a transition earns
    the reward of the machine edge it takes.
    """
    P = base.P.tocsr()
    S, A = base.n_states, base.n_actions
    dims = [a.n_states for a in automata]
    Q = int(np.prod(dims)) if dims else 1
    radix = np.array([int(np.prod(dims[i + 1:])) for i in range(len(dims))], dtype=np.int64)
    qs = np.indices(dims).reshape(len(dims), -1).T if dims else np.zeros((1, 0), np.int64)

    # transitions of the base: row r = s * A + a, column s2, probability p
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    s_src, act, s_dst, prob = rows // A, rows % A, P.indices, P.data
    nnz = len(prob)
    is_final = np.zeros((Q,), bool)
    for i, a in enumerate(automata):
        if a.acceptance == "machine":
            is_final |= a.final[qs[:, i]]

    # every (transition, combined automaton state) pair
    t = np.repeat(np.arange(nnz), Q)
    cq = np.tile(np.arange(Q), nnz)
    q_now = qs[cq]
    q_next = q_now.copy()
    colors, rewards = [], []
    frozen_here = base.terminal[s_src[t]]
    stopped = is_final[cq]  # a final machine state: the product is absorbing
    for i, a in enumerate(automata):
        if a.acceptance == "machine":
            letter = transition_letters[i][t]
        else:  # a formula over no props has one letter, 0, possibly given as a scalar
            letter = np.broadcast_to(np.asarray(state_letters[i]), (S,))[s_dst[t]]
        step = a.delta[q_now[:, i], letter]
        hold = stopped | (frozen_here if a.acceptance in ("finite", "machine") else False)
        q_next[:, i] = np.where(hold, q_now[:, i], step)
        colors.append(np.where(stopped, 0, a.color[q_now[:, i], letter] + 1))
        if a.acceptance == "machine":
            taken = a.edge[q_now[:, i], letter]  # -1 (no edge): edge_rewards' last row, 0
            rewards.append(np.where(hold, 0.0, edge_values[i][taken, t]))
        else:
            rewards.append(None)
    dst_base = np.where(stopped, s_src[t], s_dst[t])
    src = s_src[t] * Q + cq
    dst = dst_base * Q + (q_next * radix).sum(axis=1)
    acts = act[t]

    # ε-moves (objlang/automata/gfm.py): action A + j moves one automaton along
    # the j-th ε-move of its state and leaves the env and the other automata in
    # place; without such a move (or once a machine is final) it stays put, since
    # every action exists in every state
    here = np.arange(S * Q)
    eps_names = []
    for i, a in enumerate(automata):
        for j in range(a.n_epsilon):
            q_i = qs[here % Q, i]
            target = a.epsilon_table[q_i, j]
            move = (target >= 0) & ~is_final[here % Q]
            src = np.concatenate([src, here])
            dst = np.concatenate([dst, here + np.where(move, target - q_i, 0) * radix[i]])
            acts = np.concatenate([acts, np.full(S * Q, A + len(eps_names))])
            eps_names.append(f"{a.name}.eps{j}")
    A_all = A + len(eps_names)

    # initial product states: formula automata read the first label, machines start
    init_s = np.flatnonzero(base.init)
    q0 = np.zeros((len(init_s), len(automata)), np.int64)
    for i, a in enumerate(automata):
        q0[:, i] = a.init if a.acceptance == "machine" else a.delta[
            a.init, np.broadcast_to(np.asarray(state_letters[i]), (S,))[init_s]]
    init_idx = init_s * Q + (q0 * radix).sum(axis=1)

    # reachable part: breadth-first search on the state graph from every initial state
    N_all = S * Q
    root = N_all  # a virtual root linked to every initial state
    graph = sp.csr_matrix((np.ones(len(src) + len(init_idx)),
                           (np.concatenate([src, np.full(len(init_idx), root)]),
                            np.concatenate([dst, init_idx]))), shape=(N_all + 1, N_all + 1))
    order = breadth_first_order(graph, root, directed=True, return_predecessors=False)
    keep = np.sort(order[order != root])
    new_id = np.full(N_all, -1, np.int64)
    new_id[keep] = np.arange(len(keep))
    live = new_id[src] >= 0
    N = len(keep)
    shape = (N * A_all, N)
    r_new = new_id[src[live]] * A_all + acts[live]
    c_new = new_id[dst[live]]

    def matrix(values, on_epsilon=0.0):
        # every matrix has P's sparsity pattern (explicit zeros kept), so data align
        values = np.concatenate([values, np.full(len(src) - len(values), on_epsilon)])
        m = sp.csr_matrix((values[live], (r_new, c_new)), shape=shape)
        m.sum_duplicates()
        m.sort_indices()
        return m

    Pp = matrix(prob[t], on_epsilon=1.0)
    env_r = base.env_reward.tocsr()
    env_vals = np.asarray(env_r[rows, s_dst]).ravel() if env_r.nnz else np.zeros(nnz)
    env_vals = np.where(stopped, 0.0, env_vals[t])
    state = keep // Q
    qmat = qs[keep % Q]
    init = np.zeros(N)
    np.add.at(init, new_id[init_idx], base.init[init_s])
    terminal = base.terminal[state] | is_final[keep % Q]
    names = tuple("|".join([base.state_names[s], *map(str, qq)])
                  for s, qq in zip(state, qmat))
    mdp = FiniteMDP(name=f"{base.name} x " + " x ".join(a.name for a in automata),
                    state_names=names, action_names=base.action_names + tuple(eps_names),
                    P=Pp, init=init, obs=base.obs[state], terminal=terminal,
                    env_reward=matrix(env_vals), obs_names=base.obs_names,
                    info={k: v[state] for k, v in base.info.items()})
    color = tuple(matrix(c.astype(float)) for c in colors)
    reward = tuple(None if r is None else matrix(r) for r in rewards)
    return Product(mdp=mdp, base=base, automata=tuple(automata), state=state, q=qmat,
                   color=color, reward=reward)


def edge_rewards(auto: Automaton, mdp: FiniteMDP, spec: n.Spec) -> np.ndarray:
    """``(n_edges + 1, nnz)``: the reward of each edge of machine ``auto`` on every
    transition of ``mdp`` (aligned with ``mdp.P.tocsr().data``, as
    ``transition_values`` is); the last row, all 0, is for staying put. Each
    distinct reward expression (a number, a reward's name, ``2 * [action == 1]``)
    is evaluated once."""
    decl = next((d for d in spec.of_type(n.MachineDecl) if d.name == auto.name), None)
    out = np.zeros((len(auto.edge_rewards) + 1, mdp.P.nnz))
    done: dict = {}
    for k, r in enumerate(auto.edge_rewards):
        if r is not None:
            if r not in done:
                try:
                    done[r] = transition_values(mdp, spec, r, where=decl).data
                except ObjlangError as e:  # an inline expression's error: point at its edge
                    if e.diagnostic.loc is not None or decl is None:
                        raise
                    raise ObjlangError(f"in machine '{auto.name}', an edge's reward: "
                                       f"{e.message}", decl.edges[k].loc, e.hint,
                                       spec.source) from None
            out[k] = done[r]
    return out
