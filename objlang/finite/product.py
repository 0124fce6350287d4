"""The product of a finite MDP with automata (formulas and machines).

Semantics (language.md §6): an LTL automaton first reads the label of the
initial state, then the label of every next state; a machine reads one letter
per transition (o_t, a_t, o_{t+1}); a DFA of an ``ltlf`` formula stops reading
once the trace has terminated (the absorbing copy), an LTL automaton reads the
repeated final label forever. Entering a final machine state ends the episode:
the product state becomes absorbing, with reward 0 from then on.

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
            transition_letters: list) -> Product:
    """The reachable product of ``base`` with ``automata``.

    ``state_letters[i]`` is, for a formula automaton, the ``(S,)`` letter of each
    base state (None for machines); ``transition_letters[i]`` is, for a machine,
    the letter of each transition, aligned with ``base.P.data`` (None for
    formulas). Machine edge rewards must be numbers here (``Automaton.reward``).
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
        if a.reward is not None:
            rewards.append(np.where(hold, 0.0, a.reward[q_now[:, i], letter]))
        else:
            rewards.append(None)
    dst_base = np.where(stopped, s_src[t], s_dst[t])
    src = s_src[t] * Q + cq
    dst = dst_base * Q + (q_next * radix).sum(axis=1)
    prow = src * A + act[t]

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
    shape = (N * A, N)
    r_new = new_id[src[live]] * A + act[t][live]
    c_new = new_id[dst[live]]

    def matrix(values):
        # every matrix has P's sparsity pattern (explicit zeros kept), so data align
        m = sp.csr_matrix((values[live], (r_new, c_new)), shape=shape)
        m.sum_duplicates()
        m.sort_indices()
        return m

    Pp = matrix(prob[t])
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
                    state_names=names, action_names=base.action_names, P=Pp, init=init,
                    obs=base.obs[state], terminal=terminal, env_reward=matrix(env_vals),
                    obs_names=base.obs_names)
    color = tuple(matrix(c.astype(float)) for c in colors)
    reward = tuple(None if r is None else matrix(r) for r in rewards)
    return Product(mdp=mdp, base=base, automata=tuple(automata), state=state, q=qmat,
                   color=color, reward=reward)

