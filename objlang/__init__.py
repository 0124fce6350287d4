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

__all__ = ["Diagnostic", "Loc", "ObjlangError", "Spec", "evaluate", "fmt", "load", "loads",
           "parse", "solve"]


def solve(spec, objective=None):
    """The exact optimum of an objective on the spec's finite env
    (:func:`objlang.finite.solve.solve`); ``spec`` is a checked spec or a path."""
    from .finite.solve import solve as _solve

    return _solve(load(spec) if not isinstance(spec, Spec) else spec, objective)


def evaluate(spec, policy, objective=None):
    """The exact value of an objective for a stationary policy of the finite env
    (:func:`objlang.finite.evaluate.evaluate`); ``spec`` is a checked spec or a path."""
    from .finite.evaluate import evaluate as _evaluate

    return _evaluate(load(spec) if not isinstance(spec, Spec) else spec, policy, objective)
__version__ = "0.1.0"
