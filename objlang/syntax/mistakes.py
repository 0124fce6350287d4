"""Common mistakes and the messages they get.

``EXAMPLES`` is the table that Lark's ``match_examples`` compares a failed parse
against: a parse error that stops in the same parser state as one of a
mistake's examples gets that mistake's message and hint. Characters the lexer
cannot read at all get messages from ``for_character``.
"""
from __future__ import annotations

from dataclasses import dataclass

_OBJ = 'objective o {\n    maximize P[goal]\n'

EXAMPLES: dict[str, list[str]] = {
    "missing_brace": [
        _OBJ, _OBJ + "prop p = obs == 1\n", _OBJ + "ltl q = F p\n",
        'objective o {\n    maximize E[G(r)]\n    subject to P[F a] >= 0.5\n',
        'objective o {\n    maximize E[G(r)]\n    regularize 0.1 * entropy(pi)\n',
        'objective o {\n    minimize E[G(c)]\n    discount 0.9\n',
        'machine m {\n    start u0\n', 'machine m {\n    start u0\n    u0 -> u1 when a\n',
        'machine m {\n    u0 -> u1 when a reward 1\n', 'machine m {\n    final u1\n',
        'mdp m {\n    start s0\n', 'mdp m {\n    s0 a -> s1\n',
        'mdp m {\n    s0 a -> s1 : 0.5, s0 : 0.5\n', 'mdp m {\n  start s0 : 1\n',
        'env "CartPole-v1" {\n    max_episode_steps: 100\n',
        'options {\n    ltl_reward: "zeta-reach"\n',
        'policy p = table {\n    s0 -> a\n', 'policy p = table {\n    s0 -> a : 0.5, b : 0.5\n',
        'objective o {\n', 'machine m {\n', 'mdp m {\n', 'policy p = table {\n',
    ],
    "assign_for_equal": [
        "prop p = obs = 5", "prop p = obs[0] = 5", "prop p = info.key = 5",
        "prop p = obs + 1 = 5", "prop p = 2 * obs = 5", "prop p = -obs = 5",
        "reward r = [obs = 5]", "ltl f = G (obs = 5)", "prop p = (obs = 5)",
        "prop p = x ^ 2 = 1", "prop p = obs == 1 & obs = 5",
    ],
    "unknown_operator": [
        "reward r = obs ** 2", "reward r = 2 ** obs", "prop p = obs === 5",
        "prop p = obs =< 5", "prop p = obs <> 5", "prop p = obs !== 5",
        "reward r = obs // 2", "prop p = a &&& b",
    ],
    "keyword_misplaced": [
        "maximize P[a]", "minimize E[G(c)]", "subject to P[a] >= 0.5",
        "regularize 0.1 * entropy(pi)", "when a", "final u1", "start s0",
        "prop p = obs == 1\nmaximize P[p]",
        "objective o {\n    prop p = obs == 1\n}", "objective o {\n    ltl f = F p\n}",
        "objective o {\n    reward r = 1\n}", "machine m {\n    maximize P[a]\n}",
        "mdp m {\n    maximize P[a]\n}", "objective o {\n    objective q { maximize P[a] }\n}",
    ],
    "missing_operand": [
        "prop p = obs ==", "prop p = obs !=", "prop p = obs <", "prop p = obs >=",
        "reward r = 1 +", "reward r = 1 -", "reward r = 2 *", "reward r = 2 /",
        "reward r = 2 ^", "ltl f = a U", "ltl f = a W", "ltl f = a &", "ltl f = a |",
        "ltl f = a ->", "ltl f = a <->", "ltl f = !", "ltl f = G", "ltl f = F", "ltl f = X",
        "ltl f = a xor", "prop p = obs in", "prop p = obs == 1 and", "prop p = not",
        "reward r = -", "prop p =", "reward r =", "ltl f =", "discount",
        "prop p = obs == \nreward r = 1", "ltl f = a U\nprop q = b",
        "ltl f = a & \nobjective o { maximize P[f] }",
        "objective o { maximize }", "objective o { maximize E[G(r)] + }",
        "objective o { subject to P[a] >= }",
        "reward r = (1 + )", "reward r = [obs == ]", "reward r = min(1, )",
        "reward r = 1 + * 2", "ltl f = a & & b", "prop p = obs == == 1",
    ],
}

MESSAGES: dict[str, tuple[str, str | None]] = {
    "missing_brace": ("missing closing '}}' before {token}",
                      "every block opened with '{' must be closed with '}'"),
    "assign_for_equal": ("'=' is not a comparison",
                         "write '==' to compare; '=' only names a declaration"),
    "unknown_operator": ("unknown operator at {token}",
                         "operators are + - * / ^, == != < <= > >=, ! & | xor -> <->, "
                         "X F G U W R M; a power is written x ^ 2"),
    "keyword_misplaced": ("keyword {token} is not allowed here",
                          "maximize/minimize, subject to, regularize and discount go inside "
                          "`objective NAME { ... }`; start/final/edges inside `machine` or "
                          "`mdp` blocks; declarations (prop, reward, ltl, ...) at the top level"),
    "missing_operand": ("missing operand before {token}",
                        "an operator needs an expression on each side"),
}

_CHARACTERS = {
    '"': ("unterminated string", "close the string with '\"' on the same line"),
    "`": ("unexpected character '`': backticks mean nothing in objlang",
          "objlang never runs code; write an expression"),
    "%": ("unknown operator '%'", "objlang has no modulo; use comparisons or a `def`"),
    "~": ("unknown operator '~'", "negation is '!' or 'not'"),
    ";": ("unexpected ';'", "declarations need no separator; put each on its own line"),
    "=": ("unexpected '='", "write '==' to compare"),
    "'": ("unexpected \"'\": strings use double quotes", None),
}


@dataclass(frozen=True)
class _Mistakes:
    examples: dict[str, list[str]]
    messages: dict[str, tuple[str, str | None]]

    def for_character(self, char: str) -> tuple[str, str | None]:
        if char in _CHARACTERS:
            return _CHARACTERS[char]
        if char in "@$?\\":
            return (f"unknown operator '{char}'", MESSAGES["unknown_operator"][1])
        shown = char if char.isprintable() and char.strip() else repr(char)
        return (f"unexpected character '{shown}'", None)


MISTAKES = _Mistakes(EXAMPLES, MESSAGES)
