"""The checking passes, in the order they run.

Each pass is a pure function ``(spec, env) -> (spec, diagnostics)``: it reads
the IR (and the imported modules in ``env``) and returns the IR it passes on
(rewritten, or the same) plus errors and warnings. ``run_passes`` applies them
in order and stops after the first pass that found errors, raising one
:class:`objlang.ObjlangError` that carries all of that pass's errors.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import ObjlangError
from ..ir import nodes as n
from . import machines, macros, mdps, names, types, usage
from .context import Env

#: (name, function) of every pass, in order
PASSES = (
    ("names", names.check_names),
    ("macros", macros.expand_macros),
    ("mdps", mdps.check_mdps),
    ("types", types.check_types),
    ("machines", machines.check_machines),
    ("usage", usage.check_usage),
)


def run_passes(spec: n.Spec, modules: dict[str, n.Spec] | None = None,
               base: Path | None = None) -> n.Spec:
    """Check a parsed spec; returns the checked spec (macros expanded, ``G(φ)``
    of formulas read as globally) with ``warnings`` set."""
    env = Env.build(spec, modules or {}, base)
    warnings = []
    for _name, fn in PASSES:
        spec, diags = fn(spec, env)
        errors = [d for d in diags if d.severity == "error"]
        warnings += [d for d in diags if d.severity == "warning"]
        if errors:
            first = errors[0]
            raise ObjlangError(first.message, first.loc, first.hint, spec.source,
                               diagnostics=[dataclasses.replace(e, source=_source(e, spec, env))
                                            for e in errors])
    warnings = [dataclasses.replace(w, source=_source(w, spec, env)) for w in warnings]
    return dataclasses.replace(spec, warnings=tuple(warnings))


def _source(diag, spec: n.Spec, env: Env) -> str | None:
    """The text a diagnostic points into (the main file or an imported one)."""
    if diag.loc is None or diag.loc.file == spec.file:
        return spec.source
    for mod in env.modules.values():
        if mod.file == diag.loc.file:
            return mod.source
    return None
