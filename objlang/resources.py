"""Where the files that ship with objlang are: the grammar and the stdlib.

They live at the top of the repository (``grammar/``, ``stdlib/``) and are
installed as the packages ``objlang.grammar`` and ``objlang.stdlib``; an
editable install reads them from the checkout.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """The folder of shipped files ``name`` ("grammar" or "stdlib")."""
    checkout = _REPO / name
    if checkout.is_dir():
        return checkout
    spec = importlib.util.find_spec(f"objlang.{name}")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"objlang is installed without its {name}/ folder")
    return Path(next(iter(spec.submodule_search_locations)))
