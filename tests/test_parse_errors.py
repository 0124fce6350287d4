"""Parse errors: every mistake gets the right line, column, message and hint, and
no input -- deep, huge, binary or empty -- gets anything but an ObjlangError."""
from __future__ import annotations

import time

import pytest
import sympy

from objlang.errors import ObjlangError
from objlang.syntax import decode, fmt, parse

OPERATORS_HINT = ("operators are + - * / ^, == != < <= > >=, ! & | xor -> <->, "
                  "X F G U W R M; a power is written x ^ 2")
BRACE_HINT = "every block opened with '{' must be closed with '}'"
OPERAND_HINT = "an operator needs an expression on each side"
KEYWORD_HINT = ("maximize/minimize, subject to, regularize and discount go inside "
                "`objective NAME { ... }`; start/final/edges inside `machine` or `mdp` "
                "blocks; declarations (prop, reward, ltl, ...) at the top level")


def error_of(text: str) -> ObjlangError:
    with pytest.raises(ObjlangError) as info:
        parse(text, "f.obj")
    return info.value


@pytest.mark.parametrize("text, line, col, message, hint", [
    # missing closing brace
    ("objective o {\n    maximize P[goal]\n", 2, 21,
     "missing closing '}' before end of file", BRACE_HINT),
    ("objective o {\n    maximize P[goal]\nprop p = obs == 1\n", 3, 1,
     "missing closing '}' before 'prop'", BRACE_HINT),
    ("machine m {\n    start u0\n    u0 -> u1 when a\n", 3, 20,
     "missing closing '}' before end of file", BRACE_HINT),
    ('env "CartPole-v1" {\n    max_episode_steps: 100\n', 2, 27,
     "missing closing '}' before end of file", BRACE_HINT),
    # '=' where '==' is meant
    ("prop p = obs = 5", 1, 14, "'=' is not a comparison",
     "write '==' to compare; '=' only names a declaration"),
    ("prop p = obs[0] = 5\n", 1, 17, "'=' is not a comparison",
     "write '==' to compare; '=' only names a declaration"),
    ("prop q = 1\nltl f = G (obs = 5)", 2, 16, "'=' is not a comparison",
     "write '==' to compare; '=' only names a declaration"),
    # unknown operators
    ("reward r = obs ** 2", 1, 17, "unknown operator at '*'", OPERATORS_HINT),
    ("prop p = obs === 5", 1, 16, "unknown operator at '='", OPERATORS_HINT),
    ("prop p = obs % 2 == 0", 1, 14, "unknown operator '%'",
     "objlang has no modulo; use comparisons or a `def`"),
    ("prop p = obs ~ 1", 1, 14, "unknown operator '~'", "negation is '!' or 'not'"),
    ("prop p = obs @ 1", 1, 14, "unknown operator '@'", OPERATORS_HINT),
    # unterminated strings
    ('env "FrozenLake-v1 { }', 1, 5, "unterminated string",
     "close the string with '\"' on the same line"),
    ('prop p = obs == 1\nprop q = info.name == "abc\nprop r = 1', 2, 23,
     "unterminated string", "close the string with '\"' on the same line"),
    # keywords in the wrong place
    ("maximize P[a]", 1, 1, "keyword 'maximize' is not allowed here", KEYWORD_HINT),
    ("prop p = obs == 1\n\nmaximize P[p]", 3, 1, "keyword 'maximize' is not allowed here",
     KEYWORD_HINT),
    ("subject to P[a] >= 0.5", 1, 1, "keyword 'subject' is not allowed here", KEYWORD_HINT),
    ("objective o {\n    prop p = obs == 1\n}", 2, 5, "keyword 'prop' is not allowed here",
     KEYWORD_HINT),
    # missing operands, at the end of the file or before the next declaration
    ("reward r = 1 +", 1, 15, "missing operand before end of file", OPERAND_HINT),
    ("reward r = 1 +\n", 1, 15, "missing operand before end of file", OPERAND_HINT),
    ("ltl f = a U", 1, 12, "missing operand before end of file", OPERAND_HINT),
    ("ltl f = a U\nprop q = b", 2, 1, "missing operand before 'prop'", OPERAND_HINT),
    ("reward r = 1 +\nreward s = 2", 2, 1, "missing operand before 'reward'", OPERAND_HINT),
    ("prop p = obs ==\nprop q = 1", 2, 1, "missing operand before 'prop'", OPERAND_HINT),
    ("ltl f = a &\nobjective o { maximize P[f] }", 2, 1,
     "missing operand before 'objective'", OPERAND_HINT),
    ("objective o { maximize }", 1, 24, "missing operand before '}'", OPERAND_HINT),
    ("reward r = min(1, )", 1, 19, "missing operand before ')'", OPERAND_HINT),
    ("prop p = obs == 1\r\nreward r = 1 +\r\n", 2, 15,
     "missing operand before end of file", OPERAND_HINT),
    # characters that mean nothing
    ("reward r = `ls`", 1, 12, "unexpected character '`': backticks mean nothing in objlang",
     "objlang never runs code; write an expression"),
    ("prop p = obs; reward r = 1", 1, 13, "unexpected ';'",
     "declarations need no separator; put each on its own line"),
])
def test_mistakes(text, line, col, message, hint):
    err = error_of(text)
    assert (err.file, err.line, err.column) == ("f.obj", line, col)
    assert err.message == message
    assert err.hint == hint


def test_unexpected_token_lists_what_was_expected():
    err = error_of("reward r = (1 + 2")
    assert (err.line, err.column, err.message) == (1, 18, "unexpected end of file")
    assert err.hint == "expected ')'"
    err = error_of("prop 1 = 2")
    assert (err.line, err.column, err.message, err.hint) == (
        1, 6, "unexpected '1'", "expected a name")


def test_render_shows_location_source_line_and_caret():
    err = error_of("prop goal = obs == 15\nprop p = obs = 5\n")
    assert err.render() == (
        "f.obj:2:14: error: '=' is not a comparison\n"
        "    prop p = obs = 5\n"
        "                 ^\n"
        "    hint: write '==' to compare; '=' only names a declaration")
    assert str(err) == err.render()


def test_render_underlines_the_whole_token():
    err = error_of("prop p = obs == 1\nmaximize P[p]")
    lines = err.render().splitlines()
    assert lines[0] == "f.obj:2:1: error: keyword 'maximize' is not allowed here"
    assert lines[1] == "    maximize P[p]"
    assert lines[2] == "    ^~~~~~~~"  # 'maximize' spans 8 columns


def test_render_without_file():
    with pytest.raises(ObjlangError) as info:
        parse("reward r = 1 +")
    assert info.value.render().splitlines()[0] == (
        "<input>:1:15: error: missing operand before end of file")


# ---- empty input ---------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "\n\n", "   \t\n", "# only a comment",
                                  "# one\n# two\n\n"])
def test_empty_files(text):
    err = error_of(text)
    assert (err.line, err.column) == (1, 1)
    assert err.message == "the spec is empty: it declares nothing"
    assert err.hint


# ---- bytes ---------------------------------------------------------------------

@pytest.mark.parametrize("data, line, col, byte", [
    (b"prop p = obs == 1\nreward r = \xff\n", 2, 12, "0xff"),
    (b"\xc3(", 1, 1, "0xc3"),
    (b"ab\xc3", 1, 3, "0xc3"),
    (b'prop p = obs == "\xc3\xa9t\xc3\xa9"\n\n  \x80', 3, 3, "0x80"),  # after valid UTF-8
])
def test_non_utf8_bytes(data, line, col, byte):
    with pytest.raises(ObjlangError) as info:
        decode(data, "f.obj")
    err = info.value
    assert (err.file, err.line, err.column) == ("f.obj", line, col)
    assert err.message == f"the file is not valid UTF-8 (byte {byte})"
    assert err.hint == "save the spec as UTF-8 text"


def test_bom_is_dropped():
    assert decode(b"\xef\xbb\xbfprop p = 1", "f.obj") == "prop p = 1"


def test_nul_byte_is_refused():
    err = error_of("prop p = 1\nprop q = \x00")
    assert (err.line, err.column) == (2, 1)
    assert "NUL" in err.message


# ---- sizes and depths ------------------------------------------------------------

DEEP = {
    "parentheses": "reward r = " + "(" * 5000 + "x" + ")" * 5000,
    "negations": "prop p = " + "!" * 5000 + "a",
    "nots": "prop p = " + "not " * 3000 + "a",
    "nested until": "ltl f = " + "a U (" * 3000 + "a" + ")" * 3000,
    "until chain": "ltl f = " + "a U " * 3000 + "a",
    "minus": "reward r = " + "-" * 5000 + "x",
    "powers": "reward r = " + "x ^ " * 3000 + "x",
    "iversons": "reward r = " + "[" * 3000 + "x" + "]" * 3000,
    "indexes": "reward r = x" + "[0]" * 5000,
    "calls": "reward r = " + "f(" * 3000 + "x" + ")" * 3000,
    "sets": "reward r = " + "{" * 3000 + "}" * 3000,
    "ite": "reward r = " + "if a then 1 else " * 2000 + "0",
    "unclosed": "reward r = " + "(" * 5000,
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_nesting_never_recurses(name):
    text = DEEP[name]
    start = time.perf_counter()
    try:
        spec = parse(text, "f.obj")
    except ObjlangError as err:
        assert err.line == 1 and err.column >= 1
        if name != "unclosed":
            assert err.message == "expression nested more than 100 levels deep"
            assert err.hint == "split it with `def` macros or named props"
    else:
        assert name == "parentheses"  # parentheses leave no trace in the IR
        assert spec.decls[0].expr == sympy.Symbol("x")
    assert time.perf_counter() - start < 10


def test_depth_limit_is_exact():
    ok = "prop p = " + "!" * 90 + "a"
    assert parse(ok).decls[0].expr.args  # a Not_ chain
    err = error_of("prop p = " + "!" * 200 + "a")
    assert err.message == "expression nested more than 100 levels deep"


def test_long_flat_expressions():
    start = time.perf_counter()
    terms = [f"x{i}" for i in range(10000)]
    spec = parse("reward r = " + " + ".join(terms))
    expr = spec.decls[0].expr
    assert isinstance(expr, sympy.Add) and len(expr.args) == 10000
    assert expr == sympy.Add(*(sympy.Symbol(t) for t in terms))
    spec = parse("reward r = " + " - ".join(terms[:5000]))
    assert spec.decls[0].expr == sympy.Symbol("x0") - sympy.Add(
        *(sympy.Symbol(t) for t in terms[1:5000]))
    spec = parse("prop p = " + " & ".join(terms))
    assert len(spec.decls[0].expr.args) == 10000
    assert parse("reward r = " + " * ".join(terms[:3000])).decls[0].expr == sympy.Mul(
        *(sympy.Symbol(t) for t in terms[:3000]))
    assert time.perf_counter() - start < 20


def test_long_flat_sum_keeps_error_locations():
    err = error_of('reward r = x + y + "a" + z')
    assert (err.line, err.column) == (1, 18)
    assert err.message == "'+' needs numbers or real expressions on both sides"
    err = error_of("reward r = x - y - true")
    assert (err.line, err.column) == (1, 18)


def test_flat_and_stepwise_sums_agree():
    # the builder folds long chains in one sympy call: same result as step by step
    text = "reward r = 0.1 + x - 0.2 * y + 0.3 - x / 3 + 2 ^ 0.5 - 1e-3"
    x, y = sympy.symbols("x y")
    f = sympy.Float
    expected = ((((((f(0.1) + x) - f(0.2) * y) + f(0.3)) - x / 3) + sympy.Integer(2) ** f(0.5))
                - f(1e-3))
    assert parse(text).decls[0].expr == expected
    assert parse("reward r = 2 * x * 0.5 * y").decls[0].expr == ((2 * x) * f(0.5)) * y
    # a number times a sum distributes only step by step: the builder keeps that
    assert parse("reward r = 2 * (x + 1) * y").decls[0].expr == (2 * (x + 1)) * y
    assert parse("reward r = 1.0 / 3.0 * 5.0").decls[0].expr == (f(1.0) / f(3.0)) * f(5.0)


# ---- numbers sympy would choke on -----------------------------------------------

@pytest.mark.parametrize("text, col, message", [
    ("reward r = 9 ^ 9 ^ 9", 12, "the constant computed by '^' is too large"),
    ("reward r = 2 ^ 10000", 12, "the constant computed by '^' is too large"),
    ("reward r = (2 * x) ^ (10 ^ 9)", 12, "the constant computed by '^' is too large"),
    ("reward r = 1e300 * 1e300", 18, "the constant computed by '*' is out of the range of a "
                                     "64-bit float"),
    ("reward r = exp(1000.0)", 12, "the constant computed by 'exp' is out of the range of a "
                                   "64-bit float"),
    ("reward r = " + "9" * 5000, 12, "the number 99999999999999999999... is too large"),
    ("reward r = sqrt(-1)", 12, "'sqrt' gives a complex number, which is not a real "
                                "expression"),
    ("reward r = log(-2)", 12, "'log' gives a complex number, which is not a real expression"),
    ("reward r = (-1) ^ 0.5", 12, "'^' gives a complex number, which is not a real expression"),
    ("reward r = abs(exp(x))", 12, "'abs' gives 're(x)', which is not a real expression"),
])
def test_unrepresentable_numbers(text, col, message):
    start = time.perf_counter()
    err = error_of(text)
    assert (err.line, err.column, err.message) == (1, col, message)
    assert err.hint
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("text, printed", [
    ("reward r = 2 ^ 64", "reward r = 18446744073709551616\n"),
    ("reward r = 1e999", "reward r = 1e999\n"),
    ("reward r = 1e-400", "reward r = 0.0\n"),  # underflows like a double
    ("reward r = 1 / 0", "reward r = 1 / 0\n"),
    ("reward r = 1.7976931348623157e308 * 1", "reward r = 1.7976931348623157e+308\n"),
    ("reward r = exp(2) * log(3)", "reward r = exp(2) * log(3)\n"),
])
def test_large_but_representable_numbers(text, printed):
    assert fmt(parse(text)) == printed
