"""The good-for-MDPs LDBA (objlang/automata/gfm.py) against the parity automaton
it is built from: the same language on random lasso words and by Spot, rejecting
sinks by Spot's emptiness check, and the same maximal probability on random MDPs
when the ε-moves are actions of the product."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components

import objlang
from objlang.automata import automaton_of
from objlang.automata.export import to_hoa
from objlang.cli import main
from objlang.finite.mec import mec_partition
from objlang.finite.product import product
from objlang.finite.reach import reach_prob
from objlang.finite.solve import accepting_states

spot = pytest.importorskip("spot")

from test_automata import accepts_lasso, random_formulas, spec_with  # noqa: E402
from test_storm_ltl import FORMULAS, HEAD, random_mdp  # noqa: E402

# persistence and mixed formulas, where the jump to a copy must wait
PERSISTENCE = ["F G a", "F G a | G F b", "G F a -> G F b", "(G F a) U b", "F G (a -> X b)",
               "G F a & F G !c", "F G a & G F b & G F c"]
LANGUAGE = random_formulas(30, seed=5) + PERSISTENCE


def both(formula: str):
    spec = spec_with(formula)
    return automaton_of(spec, "f"), automaton_of(spec, "f", kind="ldba")


def ldba_accepts_lasso(auto, prefix: list[int], cycle: list[int]) -> bool:
    """Some run on prefix.cycle^ω (ε-moves chosen freely) is accepting: in the
    product of the automaton with the word's positions, an accepting edge that
    is reachable from the start and lies on a cycle."""
    word = prefix + cycle
    succ = [i + 1 for i in range(len(word) - 1)] + [len(prefix)]
    src, dst, acc = [], [], []
    for q in range(auto.n_states):
        for i, x in enumerate(word):
            src.append(q * len(word) + i)
            dst.append(int(auto.delta[q, x]) * len(word) + succ[i])
            acc.append(bool(auto.accepting[q, x]))
            for t in auto.epsilon[q]:
                src.append(q * len(word) + i)
                dst.append(t * len(word) + i)
                acc.append(False)
    src, dst, acc = np.array(src), np.array(dst), np.array(acc)
    n = auto.n_states * len(word)
    g = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    start = breadth_first_order(g, auto.init * len(word), return_predecessors=False)
    _, scc = connected_components(g, directed=True, connection="strong")
    return bool((acc & (scc[src] == scc[dst]) & np.isin(src, start)).any())


@pytest.mark.parametrize("formula", LANGUAGE)
def test_ldba_accepts_the_parity_automatons_language(formula):
    dpa, ldba = both(formula)
    assert ldba.acceptance == "buchi" and ldba.props == dpa.props
    assert ldba.epsilon_table.shape == (ldba.n_states, ldba.n_epsilon)
    rng = np.random.default_rng(abs(hash(formula)) % 2**32)
    for _ in range(25):
        prefix = [int(x) for x in rng.integers(0, dpa.n_letters, rng.integers(0, 4))]
        cycle = [int(x) for x in rng.integers(0, dpa.n_letters, rng.integers(1, 4))]
        assert ldba_accepts_lasso(ldba, prefix, cycle) == accepts_lasso(dpa, prefix, cycle), \
            (prefix, cycle)
    # the ε-moves only leave the initial copy, whose letter moves are the parity
    # automaton's: a state with ε-moves has none among its targets
    assert all(not ldba.epsilon[t] for moves in ldba.epsilon for t in moves)


@pytest.mark.parametrize("formula", random_formulas(12, seed=13) + PERSISTENCE)
def test_hoa_is_an_equivalent_semi_deterministic_automaton_with_exact_sinks(formula):
    dpa, ldba = both(formula)
    aut = spot.automaton(to_hoa(ldba))
    assert spot.are_equivalent(aut, spot.automaton(dpa.hoa))
    assert spot.is_semi_deterministic(aut)
    for q in range(ldba.n_states):  # sink: no accepting run from q, by Spot
        from_q = spot.automaton(to_hoa(dataclasses.replace(ldba, init=q)))
        assert bool(ldba.sink[q]) == from_q.is_empty(), q
    assert ldba.sink.sum() <= 1  # dead states are merged into one sink


def test_copies_of_a_persistence_formula():
    # F G a: the parity automaton has one state, colour 2 on a, 1 on !a; the LDBA
    # waits in the initial copy, jumps to copy 2 (a accepted) whose !a edge dies
    dpa, ldba = both("F G a")
    assert dpa.n_states == 1 and list(dpa.color[0]) == [1, 2]
    assert ldba.n_states == 3 and ldba.init == 0
    assert ldba.epsilon == ((1,), (), ())
    assert list(ldba.delta[0]) == [0, 0] and not ldba.accepting[0].any()
    assert list(ldba.delta[1]) == [2, 1] and list(ldba.accepting[1]) == [False, True]
    assert list(ldba.sink) == [False, False, True] and list(ldba.delta[2]) == [2, 2]
    assert ldba.epsilon_table.tolist() == [[1], [-1], [-1]]
    empty = both("false")[1]
    assert empty.n_states == 1 and empty.sink[0] and empty.n_epsilon == 0


def buchi_max(prod, letters) -> float:
    """Pmax of Büchi acceptance on the product: the maximal end components with
    an accepting automaton edge, then maximal reachability of them."""
    pm, auto = prod.mdp, prod.automata[0]
    N, A = pm.n_states, pm.n_actions
    P = pm.P.tocoo()
    r, c = P.row[P.data > 0], P.col[P.data > 0]
    env_move = r % A < prod.base.n_actions
    mark = env_move & auto.accepting[prod.q[r // A, 0], letters[prod.state[c]]]
    mec_id, act = mec_partition(pm)
    has_mark = np.zeros(N * A, bool)
    has_mark[r[mark]] = True
    hit = (has_mark.reshape(N, A) & act).any(axis=1)
    values, _ = reach_prob(pm, np.isin(mec_id, mec_id[hit]), True)
    return float(pm.init @ values)


def test_ldba_is_good_for_mdps():
    """On 60 random MDPs x formulas the product with the LDBA, ε-moves as
    actions, reaches Büchi acceptance with the maximal probability of the formula."""
    rng = np.random.default_rng(77)
    for formula in FORMULAS:
        mdp, labels = random_mdp(rng)
        spec = objlang.loads(HEAD + f"ltl f = {formula}\nobjective o {{ maximize P[f] }}")
        dpa, ldba = automaton_of(spec, "f"), automaton_of(spec, "f", kind="ldba")
        # a formula over no props has one letter, 0, given as a scalar
        letters = np.broadcast_to(dpa.letters({p: labels[p] for p in dpa.props}),
                                  (mdp.n_states,))
        prod = product(mdp, [dpa], [letters], [None])
        values, _ = reach_prob(prod.mdp, accepting_states(prod.mdp, prod.color[0], 0), True)
        expected = float(prod.mdp.init @ values)

        gfm = product(mdp, [ldba], [letters], [None])
        A = mdp.n_actions
        assert gfm.mdp.action_names == mdp.action_names + tuple(
            f"f.eps{j}" for j in range(ldba.n_epsilon))
        # an ε-action moves the automaton along its ε-move (or stays) and not the env
        P = gfm.mdp.P.tocoo()
        src, act = P.row // gfm.mdp.n_actions, P.row % gfm.mdp.n_actions
        eps = act >= A
        assert np.all(P.data[eps] == 1.0)
        assert np.array_equal(gfm.state[P.col[eps]], gfm.state[src[eps]])
        target = ldba.epsilon_table[gfm.q[src[eps], 0], act[eps] - A]
        assert np.array_equal(gfm.q[P.col[eps], 0],
                              np.where(target >= 0, target, gfm.q[src[eps], 0]))
        assert buchi_max(gfm, letters) == pytest.approx(expected, abs=1e-9), formula


def test_cli_writes_the_ldba(tmp_path, capsys):
    (tmp_path / "f.obj").write_text("prop a = obs == 0\nprop b = obs == 1\n"
                                    "ltl f = G F a -> G F b\nobjective o { maximize P[f] }\n")
    args = ["automaton", str(tmp_path / "f.obj"), "--formula", "f", "--kind", "ldba"]
    assert main(args + ["--out", str(tmp_path / "x.hoa")]) == 0
    assert "buchi" in capsys.readouterr().out
    text = (tmp_path / "x.hoa").read_text()
    assert "deterministic" not in text
    dpa, ldba = both("G F a -> G F b")
    assert spot.are_equivalent(spot.automaton(text), spot.automaton(dpa.hoa))
    assert main(args + ["--out", str(tmp_path / "x.dot")]) == 0
    dot = (tmp_path / "x.dot").read_text()
    assert dot.count('[label="ε", style=dashed]') == sum(map(len, ldba.epsilon)) == 2
