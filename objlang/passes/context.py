"""What the passes share: the imported modules, name tables, diagnostics helpers."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sympy

from ..errors import Diagnostic, Loc
from ..ir import nodes as n

#: words that cannot name a declaration
RESERVED = frozenset({
    "X", "F", "G", "U", "W", "R", "M", "true", "false", "and", "or", "not", "xor", "in",
    "if", "then", "else", "obs", "info", "action", "next", "env_reward", "pi", "external",
    # declaration and block keywords (the lexer reads them by position; names may not be them)
    "env", "discount", "prop", "reward", "cost", "ltl", "ltlf", "machine", "def", "import",
    "from", "policy", "options", "mdp", "objective", "start", "final", "when", "uniform",
    "table", "maximize", "minimize", "subject", "to", "regularize",
})

#: gymnasium ids whose state space is finite (exposing a transition table)
FINITE_ENVS = frozenset({
    "FrozenLake-v1", "FrozenLake8x8-v1", "CliffWalking-v1", "CliffWalkingSlippery-v1",
    "tabular/CliffWalking-v0", "Taxi-v3", "Taxi-v4", "objlang/OfficeWorld-v0",
})


def error(message: str, loc: Loc | None, hint: str | None = None) -> Diagnostic:
    return Diagnostic("error", message, loc, hint)


def warning(message: str, loc: Loc | None, hint: str | None = None) -> Diagnostic:
    return Diagnostic("warning", message, loc, hint)


def span(decl, node, default: Loc | None = None, within: Loc | None = None) -> Loc | None:
    """Where ``node`` (a sub-expression of ``decl``) was written, else ``default``
    or the decl's place. Equal sub-expressions share an entry: ``within`` (the
    place of one line of a block) picks the occurrence inside it."""
    for e, loc in getattr(decl, "spans", ()):
        if e == node and (within is None or _inside(loc, within)):
            return loc
    return default or within or getattr(decl, "loc", None)


def _inside(loc: Loc, outer: Loc) -> bool:
    start = (loc.line, loc.col) >= (outer.line, outer.col)
    end = outer.end_line is None or (loc.line, loc.col) <= (outer.end_line, outer.end_col or 0)
    return start and end


def symbols(e) -> set[str]:
    """Names used in an expression."""
    if e is None:
        return set()
    return {s.name for s in e.atoms(sympy.Symbol)}


@dataclass(frozen=True)
class Env:
    """The imported modules of a spec and the defs visible in each module."""

    modules: dict[str, n.Spec]
    base: Path | None = None
    #: module key -> {def name: (DefDecl, key of the module defining it)}
    scopes: dict[str, dict[str, tuple[n.DefDecl, str]]] = field(default_factory=dict)

    @staticmethod
    def build(spec: n.Spec, modules: dict[str, n.Spec], base: Path | None = None) -> "Env":
        env = Env(dict(modules), base)
        for key, mod in [("<main>", spec), *modules.items()]:
            env.scopes[key] = env._scope(mod, key)
        return env

    def _scope(self, mod: n.Spec, key: str) -> dict[str, tuple[n.DefDecl, str]]:
        scope: dict[str, tuple[n.DefDecl, str]] = {}
        for imp in mod.of_type(n.ImportDecl):
            other_key = self.key_of(imp, mod)
            other = self.modules.get(other_key)
            if other is None:
                continue
            defs = {d.name: d for d in other.of_type(n.DefDecl)}
            wanted = defs if imp.names is None else {k: defs[k] for k in imp.names
                                                     if k in defs}
            for name, d in wanted.items():
                scope[name] = (d, other_key)
        for d in mod.of_type(n.DefDecl):  # a module's own defs shadow imported ones
            scope[d.name] = (d, key)
        return scope

    def key_of(self, imp: n.ImportDecl, importer: n.Spec) -> str:
        return module_key(imp, importer, self.base)


def module_key(imp: n.ImportDecl, importer: n.Spec, base: Path | None) -> str:
    """The key of an imported module: ``stdlib:NAME``, or the resolved path of a
    file (relative to the importing file, or to ``base`` for text specs)."""
    if not imp.is_path:
        return f"stdlib:{imp.module}"
    if importer.file and (base is None or Path(importer.file).is_file()):
        root = Path(importer.file).resolve().parent
    else:  # text given to loads(): relative to base
        root = base or Path.cwd()
    return str((root / imp.module).resolve())
