"""The gymnasium backend: specs compiled into env wrappers.

``make(spec)`` builds the spec's own env and wraps it; ``wrap(env, spec)``
wraps any env; ``register(path)`` gives an id that ``gymnasium.make`` and
``gymnasium.make_vec`` build in any process (``"objlang:objlang/<stem>.<objective>-v0"``).

Env ids that name a module to import (``"pkg.mod:Env-v0"``) are refused unless
``allow_import=True``: a spec may come from a stranger, and importing a module
runs its code.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Mapping

from ..errors import ObjlangError
from ..ir import nodes as n
from .lagrangian import LagrangianReward
from .wrapper import ObjlangWrapper, options_of

__all__ = ["ObjlangWrapper", "make", "wrap", "register", "describe", "LagrangianReward"]

#: environment variable that carries registrations to worker processes
REGISTRY_VAR = "OBJLANG_ENVS"


def _load(spec):
    from .. import load

    return spec if isinstance(spec, n.Spec) else load(spec)


def base_env(spec: n.Spec, allow_import: bool = False, max_episode_steps: int | None = None,
             **env_kwargs):
    """The env a spec's ``env`` declaration names, built with ``gymnasium.make``
    (an ``mdp`` block: :class:`objlang.envs.FiniteEnv`, registered as ``objlang/mdp-v0``)."""
    import gymnasium

    from ..finite.extract import literal

    decl = next(iter(spec.of_type(n.EnvDecl)), None)
    if decl is None:
        raise ObjlangError("the spec declares no env", None,
                           'add `env "FrozenLake-v1"`, or wrap an env with objlang.wrap',
                           spec.source)
    steps = max_episode_steps or options_of(spec)["max_episode_steps"]
    _register_builtin()
    if decl.is_mdp:
        # an absolute path: env.spec must rebuild the env from any directory
        return gymnasium.make("objlang/mdp-v0", spec=str(Path(spec.file).resolve())
                              if spec.file else spec.source,
                              name=decl.env_id, max_episode_steps=steps)
    if ":" in decl.env_id and not allow_import:
        raise ObjlangError(f"env id '{decl.env_id}' names a module to import, which runs its "
                           f"code", decl.loc, "pass allow_import=True (CLI: --allow-import) "
                           "if you trust it", spec.source)
    kwargs = {k: literal(v) for k, v in decl.kwargs}
    kwargs.update(env_kwargs)
    try:
        return gymnasium.make(decl.env_id, **kwargs)
    except ObjlangError:
        raise
    except Exception as exc:
        raise ObjlangError(f"cannot make env '{decl.env_id}': {exc}", decl.loc,
                           source=spec.source) from None


def wrap(env, spec, objective: str | None = None, props: Mapping[str, Callable] | None = None,
         **options) -> ObjlangWrapper:
    """``env`` compiled with an objective of ``spec`` (a checked spec or a path);
    ``props`` gives ``external`` props as ``fn(obs, info) -> bool``; options as in
    a spec's ``options {}`` block (``ltl_reward``, ``zeta``, ``gamma_b``, ``flatten``, ...)."""
    return ObjlangWrapper(env, spec, objective, props, **options)


def make(spec, objective: str | None = None, allow_import: bool = False,
         props: Mapping[str, Callable] | None = None, **options) -> ObjlangWrapper:
    """The spec's env, compiled with one of its objectives.

    >>> import objlang
    >>> env = objlang.make("examples/frozenlake/safe_goal.obj", objective="reach")
    >>> env.observation_space["automaton"]
    MultiDiscrete([3])
    """
    loaded = _load(spec)
    steps = options.pop("max_episode_steps", None)
    env = base_env(loaded, allow_import, steps)
    return ObjlangWrapper(env, str(Path(spec).resolve()) if isinstance(spec, (str, Path))
                          else loaded, objective, props, **options)


def register(spec, objective: str | None = None, env_id: str | None = None,
             **options) -> str:
    """Register a spec file's compiled env with gymnasium; returns the id.

    The registration also goes into the ``OBJLANG_ENVS`` environment variable, so
    worker processes started afterwards (``AsyncVectorEnv``, Stable-Baselines3's
    ``SubprocVecEnv``) know it when they build ``"objlang:" + id``, which imports
    objlang first.
    """
    import gymnasium

    path = str(Path(spec).resolve())
    loaded = _load(path)
    from ..finite.solve import pick_objective

    obj = pick_objective(loaded, objective).name
    env_id = env_id or f"objlang/{Path(path).stem}.{obj}-v0"
    kwargs = {"spec": path, "objective": obj, **options}
    known_spec = gymnasium.registry.get(env_id)
    # another file of the same stem (or other options) replaces the old registration
    if known_spec is None or known_spec.kwargs != kwargs:
        gymnasium.register(env_id, entry_point="objlang.gym:make", kwargs=kwargs,
                           disable_env_checker=True)
    known = json.loads(os.environ.get(REGISTRY_VAR, "{}"))
    known[env_id] = kwargs
    os.environ[REGISTRY_VAR] = json.dumps(known)
    return env_id


def register_inherited() -> None:
    """Register what a parent process registered (``OBJLANG_ENVS``); called when
    objlang is imported with that variable set."""
    import gymnasium

    _register_builtin()
    for env_id, kwargs in json.loads(os.environ.get(REGISTRY_VAR, "{}")).items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point="objlang.gym:make", kwargs=kwargs,
                               disable_env_checker=True)


def _register_builtin() -> None:
    """Register objlang's own envs with gymnasium (docs/envs.md)."""
    import gymnasium

    if "objlang/mdp-v0" not in gymnasium.registry:
        gymnasium.register("objlang/mdp-v0", entry_point="objlang.envs.finite:mdp_env")
    # 1000 steps: the episode length of the reward-machine code's Office-v0
    if "objlang/OfficeWorld-v0" not in gymnasium.registry:
        gymnasium.register("objlang/OfficeWorld-v0", max_episode_steps=1000,
                           entry_point="objlang.envs.officeworld:OfficeWorldEnv")
    if "objlang/ZoneNav-v0" not in gymnasium.registry:
        gymnasium.register("objlang/ZoneNav-v0", max_episode_steps=200,
                           entry_point="objlang.envs.zonenav:ZoneNavEnv")


def describe(env: ObjlangWrapper) -> dict:
    """What was built: spaces, automata, reward scheme, letters (``objlang compile``)."""
    pl = env.plan
    autos = [{"name": t.auto.name, "role": t.role, "acceptance": t.auto.acceptance,
              "states": int(t.n), "letters": int(t.auto.n_letters), "props": list(t.auto.props),
              "epsilon_moves": int(t.eps.shape[1])} for t in env._tracks]
    return {"objective": pl.objective, "formalism": pl.formalism, "mode": pl.mode,
            "env": env.env.spec.id if env.env.spec else type(env.env.unwrapped).__name__,
            "observation_space": str(env.observation_space),
            "action_space": str(env.action_space),
            "reward": {"return": "scalar Markov reward", "ltl": f"LTL scheme {env.scheme.name}",
                       "ltlf": "1 at the end of an accepted episode",
                       "vector": f"vector of {len(pl.components)} rewards ({pl.outer})",
                       "terminal": f"f(returns) at the episode's end: {pl.outer}"}[pl.mode],
            "scheme": {"name": env.scheme.name, "zeta": env.scheme.zeta,
                       "gamma_b": env.scheme.gamma_b} if pl.mode == "ltl" else None,
            "automata": autos, "costs": [c for c, _ in env._costs] + list(pl.monitors),
            "regularizers": list(pl.regularizers), "options": dict(env.options)}

