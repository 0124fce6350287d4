"""Environments that objlang provides: finite models as gymnasium envs, the office
world and ZoneNav (registered as ``objlang/OfficeWorld-v0`` and ``objlang/ZoneNav-v0``
when this package is imported), and their batched torch versions in
:mod:`objlang.envs.batched` (imported explicitly: it needs torch)."""
from ..gym import _register_builtin
from .finite import FiniteEnv

_register_builtin()

__all__ = ["FiniteEnv"]
