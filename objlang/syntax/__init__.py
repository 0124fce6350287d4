"""Text ↔ IR: the parser (``parse``) and the canonical printer (``fmt``)."""
from .parser import decode, parse  # noqa: F401
from .printer import fmt  # noqa: F401,E402
