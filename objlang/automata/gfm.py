"""Good-for-MDPs automata for learning: a limit-deterministic Büchi automaton
(LDBA) whose nondeterminism is listed as ε-moves that an agent takes as actions.

From the complete deterministic parity automaton of a formula ("parity min
even", one colour per edge, :func:`objlang.automata.ltl.translate`) we build

* an *initial copy*: the parity automaton itself, without accepting edges;
* for each even colour k a *copy k*, entered by an ε-move from the same state
  of the initial copy; in it an edge of colour < k leads to the rejecting sink,
  an edge of colour k is accepting (Büchi mark), an edge of colour > k is plain.

Language: a run that jumps to copy k and is accepted sees only colours >= k
afterwards and k infinitely often, so the parity automaton accepts; a word the
parity automaton accepts, with least colour k seen infinitely often, is
accepted by jumping to copy k after its last colour < k. Good for MDPs: on the
product with an MDP an agent follows the initial copy until the product with
the parity automaton is in an accepting end component of least even colour k
(colours >= k only, k among them) and jumps to copy k there, which loses no
probability, so the maximal probability of Büchi acceptance on the product
with ε-actions (:func:`objlang.finite.product.product`) is the maximal
probability of the formula.

States from which no accepting run starts become one rejecting sink, ε-moves
to them are dropped, and only the states reachable from the initial state
(through letters and ε-moves) are kept, so copies without a reachable
accepting cycle vanish. States are numbered initial copy first, then the
copies by increasing k, the sink last; the ε-moves of a state go to copies by
increasing k.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra

from ..errors import ObjlangError
from .table import Automaton

__all__ = ["ldba"]


def ldba(dpa: Automaton) -> Automaton:
    """The good-for-MDPs LDBA of a complete deterministic parity automaton
    (see the module docstring): ``acceptance="buchi"``, ε-moves in ``epsilon``."""
    if dpa.acceptance != "parity min even":
        raise ObjlangError(f"automaton '{dpa.name}': an LDBA is built from a parity "
                           f"automaton, not a {dpa.acceptance} one")
    n, n_letters = dpa.delta.shape
    evens = np.unique(dpa.color[dpa.color % 2 == 0])
    sink = n * (1 + len(evens))
    delta = np.full((sink + 1, n_letters), sink, np.int64)
    accepting = np.zeros((sink + 1, n_letters), bool)
    delta[:n] = dpa.delta
    for i, k in enumerate(evens):
        off = n * (1 + i)
        delta[off:off + n] = np.where(dpa.color < k, sink, off + dpa.delta)
        accepting[off:off + n] = dpa.color == k
    eps = np.full((sink + 1, len(evens)), -1, np.int64)
    eps[:n] = np.arange(n)[:, None] + n * (1 + np.arange(len(evens)))

    live = _live(delta, accepting, eps)
    init = dpa.init if live[dpa.init] else sink
    delta = np.where(live[delta], delta, sink)
    accepting &= delta != sink
    eps = np.where((eps >= 0) & live[eps], eps, -1)  # live[-1]: the sink's, masked anyway
    keep = _reachable(_graph(delta, eps), [init])
    new_id = np.cumsum(keep) - 1
    epsilon = tuple(tuple(int(new_id[t]) for t in row if t >= 0) for row in eps[keep])
    return Automaton(name=dpa.name, props=dpa.props, init=int(new_id[init]),
                     delta=new_id[delta[keep]].astype(dpa.delta.dtype), acceptance="buchi",
                     color=np.full((int(keep.sum()), n_letters), -1, dpa.color.dtype),
                     accepting=accepting[keep], sink=~live[keep], epsilon=epsilon,
                     conditions=dict(dpa.conditions))


def _graph(delta: np.ndarray, eps: np.ndarray) -> sp.csr_matrix:
    """The adjacency matrix of the letter moves and the ε-moves (-1: none)."""
    n = delta.shape[0]
    src = np.concatenate([np.repeat(np.arange(n), delta.shape[1]),
                          np.repeat(np.arange(n), eps.shape[1])])
    dst = np.concatenate([delta.ravel(), eps.ravel()])
    edge = dst >= 0
    return sp.csr_matrix((np.ones(int(edge.sum())), (src[edge], dst[edge])), shape=(n, n))


def _reachable(g: sp.csr_matrix, roots) -> np.ndarray:
    """``(n,)`` bool: the nodes reachable from ``roots`` in the graph ``g``."""
    roots = np.asarray(roots, np.int64)
    if not roots.size:
        return np.zeros(g.shape[0], bool)
    return np.isfinite(dijkstra(g, indices=roots, min_only=True, unweighted=True))


def _live(delta: np.ndarray, accepting: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """States from which some run (letters and ε-moves) is accepting: those that
    reach an accepting edge lying on a cycle."""
    g = _graph(delta, eps)
    _, scc = connected_components(g, directed=True, connection="strong")
    q = np.repeat(np.arange(delta.shape[0]), delta.shape[1])
    on_cycle = accepting.ravel() & (scc[delta.ravel()] == scc[q])
    return _reachable(g.T.tocsr(), np.unique(q[on_cycle]))
