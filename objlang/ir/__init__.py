"""The intermediate representation: declarations (:mod:`.nodes`) whose
expressions are sympy objects (:mod:`.sym`)."""
from .nodes import *  # noqa: F401,F403
from .nodes import Spec, Node, DECL_KEYWORDS  # noqa: F401
from . import sym  # noqa: F401
