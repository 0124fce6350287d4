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

__all__ = ["Diagnostic", "Loc", "ObjlangError", "Spec", "compile_torch", "evaluate", "express",
           "fmt", "load", "loads", "make", "parse", "register", "solve", "wrap"]


def solve(spec, objective=None):
    """The exact optimum of an objective on the spec's finite env
    (:func:`objlang.finite.solve.solve`); ``spec`` is a checked spec or a path."""
    from .finite.solve import solve as _solve

    return _solve(load(spec) if not isinstance(spec, Spec) else spec, objective)


def evaluate(spec, policy, objective=None, *, tol=1e-6, mdp=None):
    """The exact value of an objective for a stationary policy of the finite env, or a
    finite-memory one on a product (``mdp=solution.product.mdp``)
    (:func:`objlang.finite.evaluate.evaluate`); ``spec`` is a checked spec or a path."""
    from .finite.evaluate import evaluate as _evaluate

    return _evaluate(load(spec) if not isinstance(spec, Spec) else spec, policy, objective,
                     tol=tol, mdp=mdp)


def express(spec, objective=None, as_key=None):
    """The expressivity report of an objective, as the dict ``objlang express --json``
    prints (:func:`objlang.expressivity.report.express`); ``spec`` is a checked spec
    or a path; ``as_key`` (MR, LAR, RM) adds the semantic check on its finite env."""
    from .expressivity.report import express as _express

    spec = load(spec) if not isinstance(spec, Spec) else spec
    return _express(spec, objective, as_key).to_json()


def make(spec, objective=None, **options):
    """The spec's env compiled with an objective (:func:`objlang.gym.make`)."""
    from .gym import make as _make

    return _make(spec, objective, **options)


def wrap(env, spec, objective=None, props=None, **options):
    """Any gymnasium env compiled with an objective of a spec (:func:`objlang.gym.wrap`)."""
    from .gym import wrap as _wrap

    return _wrap(env, spec, objective, props, **options)


def compile_torch(spec, objective=None, device="cpu", **options):
    """An objective as a batched torch module on ``device``
    (:func:`objlang.torch.compile_torch`; imports torch when called)."""
    from .torch import compile_torch as _compile_torch

    return _compile_torch(spec, objective, device, **options)


def register(spec, objective=None, env_id=None, **options):
    """Register a spec file's compiled env with gymnasium (:func:`objlang.gym.register`)."""
    from .gym import register as _register

    return _register(spec, objective, env_id, **options)


def _inherit_registrations() -> None:
    # worker processes (AsyncVectorEnv, SubprocVecEnv) build "objlang:..." ids that
    # their parent registered; gymnasium imports objlang first, so register them here
    import os

    if os.environ.get("OBJLANG_ENVS"):
        from .gym import register_inherited

        register_inherited()


_inherit_registrations()
__version__ = "0.1.0"
