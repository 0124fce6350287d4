"""objlang: a language and compiler for reinforcement-learning objectives.

>>> import objlang
>>> spec = objlang.loads('''
... prop goal = obs == 15
... ltl reach = F goal
... objective o { maximize P[reach] }
... ''')
>>> [o.name for o in spec.objectives]
['o']
"""
from .errors import Diagnostic, Loc, ObjlangError
from .ir import Spec
from .load import load, loads, parse
from .syntax import fmt

__all__ = ["Diagnostic", "Loc", "ObjlangError", "Spec", "fmt", "load", "loads", "parse"]
__version__ = "0.1.0"
