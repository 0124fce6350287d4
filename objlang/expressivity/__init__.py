"""Expressivity analysis (Subramani et al., ICLR 2024). So far: the formalism an
objective is written in, read off its syntax (language.md §4)."""
from .written import written_in  # noqa: F401
