"""LTL and LTLf formulas to automaton tables, through Spot.

A formula of the IR becomes Spot text over atomic propositions: each prop by
its name, each inline state condition (``G (obs != 5)``) under a fresh name
``_c0``, ``_c1``, ...; named formulas inside formulas are inlined. Spot then
builds

* ``kind="parity"``: a complete deterministic parity automaton, acceptance
  "parity min even", one colour on every edge (for exact solving);
* ``kind="buchi"``: a complete deterministic Büchi automaton, when the formula
  is a recurrence property (Manna-Pnueli class S, G, O or R) -- else an error;
* for ``ltlf``: a complete DFA (Spot's ``from_ltlf`` and ``to_finite``).

and :func:`tables` turns it into :class:`~objlang.automata.table.Automaton`.

Spot's C++ translation cannot be interrupted from Python, so it runs in a worker
process (started once, forked where possible) that is killed when a formula
takes longer than the time limit (:func:`time_limit`, 60 s by default); the
worker sends the automaton back as HOA text.
"""
from __future__ import annotations

import os
import threading

import numpy as np
import sympy

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from .table import Automaton

#: limits: more letters or states than this end with an ObjlangError
MAX_PROPS = 20
MAX_STATES = 1_000_000
#: seconds Spot may spend on one formula (see :func:`time_limit`)
TIMEOUT = 60.0

_UNARY = {sym.Not_: "!", sym.Next: "X", sym.Finally: "F", sym.Always: "G"}
_BINARY = {sym.Until: "U", sym.WeakUntil: "W", sym.Release: "R", sym.StrongRelease: "M",
           sym.Implies: "->", sym.Equiv: "<->"}
_NARY = {sym.And_: "&", sym.Or_: "|", sym.Xor: "xor"}


def formula_decl(spec: n.Spec, name: str) -> n.LtlDecl:
    """The ``ltl``/``ltlf`` declaration called ``name``."""
    for d in spec.of_type(n.LtlDecl):
        if d.name == name:
            return d
    names = [d.name for d in spec.of_type(n.LtlDecl)]
    raise ObjlangError(f"no formula named '{name}'",
                       hint="formulas: " + (", ".join(names) or "none"))


_LOGIC = (sym.Not_, sym.And_, sym.Or_, sym.Xor, sym.Implies, sym.Equiv, sym.Next, sym.Finally,
          sym.Always, sym.Until, sym.WeakUntil, sym.Release, sym.StrongRelease)


def render_formula(expr, spec: n.Spec, op_text, inline_prefix: str,
                   constants: tuple[str, str]) -> tuple[str, dict[str, sympy.Basic]]:
    """A checked formula as text in some tool's syntax, and the condition of each
    atomic proposition. Named formulas are inlined; props are quoted names; any
    other state condition becomes a proposition ``<inline_prefix><k>``.
    ``op_text(cls, args)`` spells a logical or temporal node from its arguments'
    texts; ``constants`` spell true and false."""
    formulas = {d.name: d.formula for d in spec.of_type(n.LtlDecl)}
    conditions: dict[str, sympy.Basic] = {}
    inline: dict[sympy.Basic, str] = {}

    def visit(e) -> str:
        if e is sympy.true or e is sympy.false:
            return constants[0] if e is sympy.true else constants[1]
        if isinstance(e, sympy.Symbol):
            if e.name in formulas:
                return "(" + visit(formulas[e.name]) + ")"
            conditions[e.name] = e
            return '"' + e.name + '"'
        if isinstance(e, _LOGIC):
            return op_text(type(e), [visit(a) for a in e.args])
        if e not in inline:  # a state condition: an atomic proposition of its own
            inline[e] = f"{inline_prefix}{len(inline)}"
            conditions[inline[e]] = e
        return '"' + inline[e] + '"'

    return visit(expr), conditions


def spot_text(expr, spec: n.Spec, finite: bool = False) -> tuple[str, dict[str, sympy.Basic]]:
    """Spot syntax of a checked formula, and the condition of each atomic prop.
    In ``ltlf`` formulas ``X`` is the strong next of LTLf (false at the last
    position), which Spot writes ``X[!]``.

    >>> import objlang
    >>> s = objlang.loads("prop hole = obs == 5\\nprop goal = obs == 15\\n"
    ...                   "ltl f = !hole U goal\\nobjective o { maximize P[f] }")
    >>> spot_text(formula_decl(s, "f").formula, s)[0]
    '(!("hole")) U ("goal")'
    """
    def op_text(cls, a: list[str]) -> str:
        if cls in _UNARY:
            op = "X[!]" if finite and cls is sym.Next else _UNARY[cls]
            return f"{op}({a[0]})"
        if cls in _BINARY:
            return f"({a[0]}) {_BINARY[cls]} ({a[1]})"
        return f" {_NARY[cls]} ".join(f"({x})" for x in a)

    return render_formula(expr, spec, op_text, "_c", ("1", "0"))


def translate(expr, spec: n.Spec, finite: bool = False, kind: str = "parity",
              name: str = "formula", timeout: float | None = None) -> Automaton:
    """The automaton of a checked formula as tables (see the module docstring).

    Spot runs in a worker process killed after ``timeout`` seconds (default:
    :func:`time_limit`), since its C++ translation cannot be interrupted here."""
    import spot

    text, conditions = spot_text(expr, spec, finite)
    loc = next((d.loc for d in spec.of_type(n.LtlDecl) if d.name == name), None)
    what = f"formula '{name}'" if loc else f"the formula {_short(expr)}"
    if len(conditions) > MAX_PROPS:
        raise ObjlangError(f"{what} uses {len(conditions)} propositions; at most "
                           f"{MAX_PROPS} are supported ({2 ** MAX_PROPS} letters)", loc,
                           source=spec.source)
    if not finite and kind not in ("parity", "buchi"):
        raise ObjlangError(f"unknown automaton kind '{kind}'",
                           hint="kinds: parity, buchi (ltlf formulas always give a DFA)")
    out = _limited(_spot_hoa, (text, finite, kind), time_limit(timeout), what, loc, spec)
    if out is None:
        raise ObjlangError(f"{what} has no deterministic Büchi automaton "
                           f"(it is not a recurrence property)", loc,
                           hint="use kind 'parity'", source=spec.source)
    if isinstance(out, int):
        raise ObjlangError(f"the automaton of {what} has {out} states,"
                           f" more than {MAX_STATES}", loc, source=spec.source)
    aut = spot.automaton(out)
    if not spot.is_deterministic(aut):
        raise ObjlangError(f"Spot gave no deterministic automaton for {what}", loc,
                           source=spec.source)
    acceptance = "finite" if finite else {"parity": "parity min even", "buchi": "buchi"}[kind]
    return tables(aut, acceptance, list(conditions), conditions, name)


def time_limit(timeout: float | None = None) -> float:
    """Seconds Spot may spend on one formula: ``timeout``, else the environment
    variable ``OBJLANG_SPOT_TIMEOUT``, else :data:`TIMEOUT`; 0 means no limit."""
    if timeout is not None:
        return float(timeout)
    text = os.environ.get("OBJLANG_SPOT_TIMEOUT", "").strip()
    try:
        return float(text) if text else TIMEOUT
    except ValueError:
        raise ObjlangError(f"OBJLANG_SPOT_TIMEOUT must be a number of seconds, not '{text}'",
                           hint="e.g. OBJLANG_SPOT_TIMEOUT=120; 0 for no limit") from None


def _short(expr, width: int = 60) -> str:
    """A formula in objlang syntax, cut to ``width`` characters."""
    from ..syntax.printer import expr as show

    text = show(expr)
    return text if len(text) <= width else text[:width - 3] + "..."


#: Manna-Pnueli classes of the formulas a deterministic Büchi automaton recognises
RECURRENCE = ("S", "G", "O", "B", "R")


def is_recurrence(expr, spec: n.Spec) -> bool:
    """Whether a checked ltl formula has a deterministic Büchi automaton."""
    import spot

    return spot.mp_class(spot.formula(spot_text(expr, spec, False)[0])) in RECURRENCE


def _spot_hoa(text: str, finite: bool, kind: str):
    """Spot's automaton of a formula in Spot syntax as HOA text; None when
    ``kind="buchi"`` and the formula is no recurrence property; the number of
    states when there are more than MAX_STATES (not worth sending back)."""
    import spot

    f = spot.formula(text)
    if finite:
        aut = spot.to_finite(spot.translate(spot.from_ltlf(f, "alive_"), "buchi",
                                            "deterministic", "sbacc", "complete"), "alive_")
    elif kind == "parity":
        aut = spot.translate(f, "parity min even", "deterministic", "complete", "colored")
    elif spot.mp_class(f) not in RECURRENCE:
        return None
    else:
        aut = spot.translate(f, "buchi", "deterministic", "complete")
    return aut.num_states() if aut.num_states() > MAX_STATES else aut.to_str("hoa")


#: the worker process that runs Spot and this end of its pipe, once started
_worker: list = []
_worker_lock = threading.Lock()


def _limited(job, args: tuple, seconds: float, what: str, loc, spec: n.Spec):
    """``job(*args)`` in the worker process, which is killed after ``seconds``
    (0: in this process instead).

    One worker serves every call: forking one per formula costs 20-50 ms, more
    than most translations, while a message to a running worker costs well
    under a millisecond. A killed or crashed worker is replaced at the next call."""
    import multiprocessing as mp

    if seconds <= 0 or mp.current_process().daemon:  # daemons may not start children
        return job(*args)
    with _worker_lock:
        conn = _worker_conn()
        answered = False
        try:
            conn.send((job, args))
            if not conn.poll(seconds):
                raise ObjlangError(
                    f"Spot did not finish translating {what} within the time limit of "
                    f"{seconds:g} s", loc, source=spec.source,
                    hint="simplify the formula (fewer nested or conjoined GF/FG parts), or "
                         "raise the limit: `objlang automaton --timeout SECONDS`, or the "
                         "environment variable OBJLANG_SPOT_TIMEOUT (0: no limit)")
            try:
                status, value = conn.recv()
            except EOFError:  # the worker died without an answer (out of memory, a crash)
                raise ObjlangError(f"Spot's translation of {what} crashed (exit code "
                                   f"{_stop_worker()})", loc, source=spec.source) from None
            answered = True
        finally:
            if not answered and _worker:  # a time-out or an interrupt: the worker is stale
                _stop_worker()
    if status == "error":
        raise ObjlangError(f"Spot failed on {what}: {value}", loc, source=spec.source)
    return value


def _worker_conn():
    """This end of the pipe to the worker, started if none runs (forked where
    the platform can: it inherits the imported Spot)."""
    import multiprocessing as mp

    if not _worker:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(there, here), daemon=True,
                           name="objlang-spot")
        proc.start()
        there.close()
        _worker[:] = [proc, here]
    return _worker[1]


def _stop_worker():
    """Kill the worker; its exit code."""
    proc, conn = _worker
    _worker.clear()
    conn.close()
    proc.kill()
    proc.join()
    return proc.exitcode


def _serve(conn, parent_end) -> None:
    """The worker's loop: run each ``(job, args)`` received and send back
    ("ok", result) or ("error", message), until the parent closes the pipe."""
    parent_end.close()  # a forked copy: without closing it, no EOF would ever come
    while True:
        try:
            job, args = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", job(*args)))
        except Exception as e:  # noqa: BLE001 -- any failure of Spot goes back as a message
            conn.send(("error", f"{type(e).__name__}: {e}"))


def _edge_masks(aut, props: list[str]):
    """For every edge condition (a BDD), the letters that satisfy it."""
    import buddy

    n_letters = 1 << len(props)
    letters = np.arange(n_letters)
    var_bit = {aut.register_ap(p): i for i, p in enumerate(props)}
    memo: dict[int, np.ndarray] = {}

    def mask(b) -> np.ndarray:
        if b == buddy.bddtrue:
            return np.ones(n_letters, bool)
        if b == buddy.bddfalse:
            return np.zeros(n_letters, bool)
        key = b.id()
        if key not in memo:
            bit = var_bit[buddy.bdd_var(b)]
            on = (letters >> bit) & 1 == 1
            memo[key] = np.where(on, mask(buddy.bdd_high(b)), mask(buddy.bdd_low(b)))
        return memo[key]

    return mask


def tables(aut, acceptance: str, props: list[str], conditions: dict, name: str) -> Automaton:
    """Tables of a deterministic Spot automaton (completed with a rejecting sink)."""
    for p in props:  # letters range over these props even if Spot dropped some
        aut.register_ap(p)
    mask = _edge_masks(aut, props)
    n_q, n_l = aut.num_states(), 1 << len(props)
    delta = np.full((n_q + 1, n_l), n_q, dtype=np.int32)  # state n_q: added sink
    color = np.full((n_q + 1, n_l), -1, dtype=np.int32)
    accepting = np.zeros((n_q + 1, n_l), bool)
    final = np.zeros(n_q + 1, bool)
    sink_color = 1 if acceptance == "parity min even" else -1
    color[n_q, :] = sink_color
    for q in range(n_q):
        if acceptance == "finite":
            final[q] = bool(aut.state_is_accepting(q))
        for e in aut.out(q):
            m = mask(e.cond)
            delta[q, m] = e.dst
            marks = list(e.acc.sets())
            if acceptance == "parity min even":
                color[q, m] = marks[0] if marks else sink_color
                accepting[q, m] = bool(marks) and marks[0] % 2 == 0
            elif acceptance == "buchi":
                accepting[q, m] = bool(marks) or bool(aut.state_is_accepting(q)) \
                    if aut.prop_state_acc().is_true() else bool(marks)
    if acceptance == "finite":
        accepting = final[delta]
    used_sink = bool((delta[:n_q] == n_q).any())
    if not used_sink:  # Spot's automaton was complete: drop the spare sink
        delta, color, accepting, final = delta[:n_q], color[:n_q], accepting[:n_q], final[:n_q]
    sink = _rejecting_sinks(aut, acceptance, final, delta.shape[0], n_q)
    # Spot numbers states differently depending on what its process translated before;
    # the numbers are observations of compiled envs, so renumber them canonically
    order = _breadth_first(delta, int(aut.get_init_state_number()))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    delta = rank[delta[order]].astype(delta.dtype)
    color, accepting, final, sink = color[order], accepting[order], final[order], sink[order]
    return Automaton(name=name, props=tuple(props), init=0,
                     delta=delta, acceptance=acceptance, color=color, accepting=accepting,
                     sink=sink, final=final if acceptance == "finite" else None,
                     hoa=aut.to_str("hoa"), conditions=dict(conditions))


def _breadth_first(delta: np.ndarray, init: int) -> np.ndarray:
    """States in the order a breadth-first search from ``init`` meets them, each
    state's successors by their first letter, then the unreachable ones: a numbering
    that depends on the automaton's structure only."""
    order, seen = [init], np.zeros(delta.shape[0], bool)
    seen[init] = True
    for q in order:  # grows while it is read
        succ, first = np.unique(delta[q], return_index=True)
        for d in succ[np.argsort(first)].tolist():
            if not seen[d]:
                seen[d] = True
                order.append(d)
    return np.array(order + np.flatnonzero(~seen).tolist(), dtype=np.int64)


def _rejecting_sinks(aut, acceptance: str, final: np.ndarray, n_total: int, n_q: int):
    """States from which no accepting continuation exists."""
    sink = np.ones(n_total, bool)
    if acceptance == "finite":
        # a DFA state is alive when an accepting state is reachable from it
        graph = {q: {e.dst for e in aut.out(q)} for q in range(n_q)}
        alive = {q for q in range(n_q) if final[q]}
        changed = True
        while changed:
            changed = False
            for q, succ in graph.items():
                if q not in alive and succ & alive:
                    alive.add(q)
                    changed = True
        for q in alive:
            sink[q] = False
        return sink
    init = aut.get_init_state_number()
    try:
        for q in range(n_q):
            aut.set_init_state(q)
            sink[q] = bool(aut.is_empty())
    finally:
        aut.set_init_state(init)
    return sink
