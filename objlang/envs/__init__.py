"""Environments that objlang provides: finite models as gymnasium envs."""
from .finite import FiniteEnv

__all__ = ["FiniteEnv"]
