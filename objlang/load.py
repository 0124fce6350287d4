"""Reading specs: files and their imports, then the checking passes.

This is the one place that touches the file system for a spec; the passes
(:mod:`objlang.passes`) are pure functions of the IR.
"""
from __future__ import annotations

from pathlib import Path

from .errors import Loc, ObjlangError, did_you_mean
from .ir import nodes as n
from .passes.context import module_key
from .resources import data_dir
from .syntax import decode
from .syntax import parse as _parse

__all__ = ["parse", "load", "loads", "read_modules"]


def parse(text: str, file: str | None = None) -> n.Spec:
    """Parse text into an unchecked spec (no imports read, no passes run)."""
    return _parse(text, file)


def read_file(path: Path, display: str | None = None) -> n.Spec:
    """Parse one file (bytes decoded as UTF-8, errors located)."""
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ObjlangError(f"cannot read {shown}: {exc.strerror or exc}", Loc(shown, 1, 1)) \
            from None
    return _parse(decode(data, shown), shown)


def _resolve(imp: n.ImportDecl, importer: n.Spec, base: Path | None) -> tuple[str, Path]:
    """The key and path of an imported module: stdlib by name, files relative."""
    key = module_key(imp, importer, base)
    if imp.is_path:
        return key, Path(key)
    path = data_dir("stdlib") / f"{imp.module}.obj"
    if not path.is_file():
        known = [p.stem for p in data_dir("stdlib").glob("*.obj")]
        raise ObjlangError(f"no stdlib module named '{imp.module}'", imp.loc,
                           hint=did_you_mean(imp.module, known)
                           or "import a file with a path in quotes: import \"lib.obj\"",
                           source=importer.source)
    return key, path


def read_modules(spec: n.Spec, base: Path | None = None) -> dict[str, n.Spec]:
    """Every module the spec imports, transitively, by key; import cycles are errors."""
    modules: dict[str, n.Spec] = {}

    def visit(mod: n.Spec, chain: tuple[str, ...]) -> None:
        for imp in mod.of_type(n.ImportDecl):
            key, path = _resolve(imp, mod, base)
            if key in chain:
                cycle = " -> ".join([*(c.removeprefix("stdlib:") for c in chain),
                                     key.removeprefix("stdlib:")])
                raise ObjlangError(f"import cycle: {cycle}", imp.loc,
                                   hint="move the shared defs into a module both import",
                                   source=mod.source)
            if key not in modules:
                shown = f"stdlib/{imp.module}.obj" if key.startswith("stdlib:") else str(path)
                if not path.is_file():
                    raise ObjlangError(f"cannot import '{imp.module}': no such file {path}",
                                       imp.loc, source=mod.source)
                modules[key] = read_file(path, shown)
                visit(modules[key], chain + (key,))

    main_key = str(Path(spec.file).resolve()) if spec.file else "<main>"
    visit(spec, (main_key,))
    return modules


def loads(text: str, file: str | None = None, base: str | Path | None = None) -> n.Spec:
    """Parse and check spec text; imports of files are relative to ``base``
    (default: the current directory). Returns the checked spec; warnings are
    in ``spec.warnings``. Raises :class:`ObjlangError`."""
    spec = _parse(text, file)
    return _check(spec, Path(base) if base is not None else None)


def load(path: str | Path) -> n.Spec:
    """Read, parse and check a ``.obj`` file (and what it imports)."""
    return _check(read_file(Path(path), str(path)), None)


def _check(spec: n.Spec, base: Path | None) -> n.Spec:
    from .passes import run_passes

    modules = read_modules(spec, base)
    return run_passes(spec, modules, base)


