"""Fuzzing the front end: whatever the input, ``objlang.syntax.parse`` (and
``objlang.loads``) returns a Spec or raises ObjlangError -- never a LarkError,
RecursionError, TypeError, ValueError, a sympy error or anything else. What
parses also prints and parses back to the same spec."""
from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import objlang
from _samples import LANGUAGE_EXAMPLE, MACHINE_EXAMPLE, MDP_EXAMPLE, obj_files
from objlang.errors import ObjlangError
from objlang.ir.nodes import Spec
from objlang.syntax import decode, fmt, parse

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def check_parse(text: str):
    """The property: a Spec (that round-trips through fmt) or an ObjlangError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sympy deprecations are not failures
        try:
            spec = parse(text, "fuzz.obj")
        except ObjlangError as err:
            assert err.line is None or err.line >= 1
            assert err.column is None or err.column >= 1
            assert err.render()  # rendering never fails either
            return None
        assert isinstance(spec, Spec)
        again = parse(fmt(spec), "fmt.obj")
        assert again == spec
        return spec


def check_loads(text: str):
    """The same property for the whole front end, once objlang.loads exists."""
    loads = getattr(objlang, "loads", None)
    if loads is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            spec = loads(text)
        except ObjlangError as err:
            assert err.render()
            return
    assert isinstance(spec, Spec)


def check(text: str):
    check_parse(text)
    check_loads(text)


# ---- (a) arbitrary text ----------------------------------------------------------

@FUZZ
@given(st.text(max_size=200))
@example("prop p = obs ==\nprop q = 1")
@example("reward r = 9 ^ 9 ^ 9")
@example("reward r = sqrt(-1)")
@example("\u2028prop p = 1")
def test_arbitrary_text(text):
    check(text)


def check_bytes(data: bytes) -> None:
    """Bytes that are not UTF-8 give a located error; text goes through check()."""
    try:
        text = decode(data, "fuzz.obj")
    except ObjlangError as err:
        assert err.line >= 1 and err.column >= 1
        return
    check(text)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data):
    check_bytes(data)


# ---- (b) token soup --------------------------------------------------------------

KEYWORDS = ["env", "discount", "prop", "external", "reward", "cost", "ltl", "ltlf",
            "machine", "start", "when", "final", "def", "import", "from", "policy",
            "uniform", "table", "options", "mdp", "objective", "maximize", "minimize",
            "subject", "to", "regularize", "if", "then", "else", "true", "false", "in",
            "not", "and", "or", "xor", "U", "W", "R", "M", "X", "F", "G"]
OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "!", "&", "|", "&&", "||", "->", "<->", "=>",
             "<=>", "+", "-", "*", "/", "^", "=", "(", ")", "[", "]", "{", "}", ",", ":",
             ".", "G(", "E[", "P[", "Var[", "#", "\n", "**", "%", "===", "`", ";", "'", "\\"]
NAMES = ["obs", "info", "action", "next", "env_reward", "pi", "goal", "hole", "r", "a", "b",
         "u0", "u1", "s0", "E", "P", "Var", "abs", "min", "max", "exp", "log", "sqrt",
         "clip", "norm", "dot", "sum", "avg", "occ", "entropy", "kl", "lex", "pareto",
         "response", "__import__", "eval", "__class__"]
LITERALS = ["0", "1", "15", "0.99", "1e-3", "1e999", ".5", "2.", "007", "9" * 40, '"x"',
            '"FrozenLake-v1"', '"a\\"b"', '"unterminated', "-1", "1/2"]

tokens = st.sampled_from(KEYWORDS + OPERATORS + NAMES + LITERALS)


@FUZZ
@given(st.lists(tokens, max_size=40), st.lists(st.sampled_from([" ", "", "\n", "  "]),
                                               min_size=40, max_size=40))
def test_token_soup(toks, seps):
    check("".join(t + s for t, s in zip(toks, seps)))


# declaration-shaped soup gets further into the builder
DECL_HEADS = ["prop p = ", "reward r = ", "cost c = ", "ltl f = ", "ltlf g = ", "def m(x) = ",
              "discount ", "objective o { maximize ", "objective o { subject to "]


@FUZZ
@given(st.sampled_from(DECL_HEADS),
       st.lists(st.sampled_from(OPERATORS[:25] + NAMES + LITERALS + KEYWORDS[-12:]),
                min_size=1, max_size=25))
def test_expression_soup(head, toks):
    text = head + " ".join(toks)
    if head.startswith("objective"):
        text += " }"
    check(text)


# ---- (c) mutations of real specs ---------------------------------------------------

SEEDS = [LANGUAGE_EXAMPLE, MACHINE_EXAMPLE, MDP_EXAMPLE] + [
    p.read_text("utf-8") for p in obj_files()[:40]]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)).encode("utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(
                [b"(", b")", b"{", b"}", b"[", b"]", b"=", b"==", b" U ", b"!", b"\n",
                 b"#", b'"', b"\xff", b"\x00", b"^ 9 ^ 9 ^ 9", b"-", b"maximize ", b"prop "]))
        elif kind == "truncate":
            del data[at:]
        else:
            end = min(len(data), at + draw(st.integers(1, 40)))
            data[at:at] = data[at:end]
    return bytes(data)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_specs(data):
    check_bytes(data)


@pytest.mark.parametrize("seed", range(3))
def test_every_prefix_of_the_language_examples(seed):
    # truncating a real spec at every line boundary
    text = SEEDS[seed]
    lines = text.splitlines(keepends=True)
    for i in range(len(lines) + 1):
        check_parse("".join(lines[:i]))
