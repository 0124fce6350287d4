"""Trainers for compiled objectives (``objlang train``): readable single-purpose
modules that run a batched env (:func:`objlang.envs.batched.make_batched`) and the
compiled objective (:func:`objlang.compile_torch`) on one device.

:func:`train` picks the trainer from the objective's plan and the env:

* ``qlearning`` -- a finite env with ``Discrete`` observations and actions and one
  scalar reward (Markov rewards, machines, LTL through a reward scheme, ``ltlf``):
  tabular Q-learning with counterfactual experience over automaton states;
* ``lagrangian`` -- constraints (costs, chance constraints): Lagrangian PPO;
* ``multiobjective`` -- vector objectives: K weight vectors as one batch, a Pareto front;
* ``ppo`` -- the rest (regularisers through ``regularize.py``).

Every trainer module has ``train(spec, plan, env, mod, steps, seed, device, log,
config) -> (policy, metrics)`` and ``config_for(env, **overrides)``. Afterwards
the policy is evaluated: on a finite env exactly, as a finite-memory policy on the
product (:class:`~objlang.train.evaluate.ExactEvaluator`), next to ``objlang
solve``'s optimum; everywhere by Monte Carlo (one episode per env of a fresh batch).
"""
from __future__ import annotations

import dataclasses
import importlib
import time
from pathlib import Path

from ..errors import ObjlangError
from ..ir import nodes as n

__all__ = ["train", "choose_trainer", "TRAINERS"]

TRAINERS = ("qlearning", "ppo", "lagrangian", "multiobjective")
#: episodes of the final Monte-Carlo estimate (one per env of the evaluation batch)
EVAL_EPISODES = 256
#: the exact value is computed this many times during a run (for the learning curve)
EXACT_EVALS = 40
#: common names of hyperparameters that a trainer's config spells otherwise
_ALIASES = {"lr": "learning_rate"}
#: the fraction of the optimum whose first crossing the report gives (``steps_to_95``)
NEAR_OPTIMAL = 0.95


def with_env(spec: n.Spec, env_id: str) -> n.Spec:
    """``spec`` with its ``env`` declaration replaced by ``env_id`` (a gymnasium id,
    or the name of one of the spec's ``mdp`` blocks)."""
    is_mdp = any(m.name == env_id for m in spec.of_type(n.MdpDecl))
    decl = n.EnvDecl(env_id, (), is_mdp)
    return dataclasses.replace(spec, decls=(decl,) + tuple(
        d for d in spec.decls if not isinstance(d, n.EnvDecl)))


def env_name(spec: n.Spec) -> str:
    decl = next(iter(spec.of_type(n.EnvDecl)), None)
    return decl.env_id if decl is not None else "-"


def choose_trainer(spec: n.Spec, plan, env, mod) -> str:
    """The trainer for an objective on an env (see the module docstring)."""
    from gymnasium import spaces

    from ..finite.solve import pick_objective
    from . import ppo

    obj = pick_objective(spec, plan.objective)
    tabular = (env.finite is not None and plan.mode in ("return", "ltl", "ltlf")
               and not obj.constraints and not obj.regularizers and not mod.n_extra_actions
               and isinstance(env.single_observation_space, spaces.Discrete)
               and isinstance(env.single_action_space, spaces.Discrete))
    return "qlearning" if tabular else ppo.trainer_for(spec, plan).__name__.rsplit(".", 1)[1]


def train(spec, objective: str | None = None, steps: int | None = None, device="cpu",
          seed: int = 0, env_id: str | None = None, out_dir=None, progress: bool = True,
          trainer: str | None = None, **options) -> dict:
    """Train a policy for an objective of a spec (a checked spec or a path) and
    return the report of ``objlang train --json``.

    ``options``: compile options of the gym backend (``ltl_reward``, ``zeta``,
    ``gamma_b``, ...) go to :func:`objlang.compile_torch`; the others are the
    trainer's hyperparameters (``num_envs``, ``gamma``, ``lr``, ``epsilon``, ...; see
    its config class). ``trainer``: one of :data:`TRAINERS` instead of the choice of
    :func:`choose_trainer`. ``steps``: env transitions, all envs together (default:
    the trainer's). ``out_dir``: where to write metrics.csv, metrics.json,
    curve.png and checkpoint.pt (None: nothing is written).

    The report: ``objective``, ``formalism``, ``env``, ``trainer``, ``steps`` (taken:
    a last batch may pass the budget), ``wall_s`` (all of it), ``train_s`` (the
    training loop with its exact evaluations), ``device``, ``seed``, ``final`` (``return`` and ``success``: Monte
    Carlo of the trained policy; ``value``: its exact value and ``optimum``: the
    exact optimum, on finite envs; ``ratio``: value / optimum; ``constraints``: each
    constraint's exact value and whether it holds), ``steps_to_95`` (env
    steps at the first exact evaluation reaching 95% of the optimum with the
    constraints met; the value is computed :data:`EXACT_EVALS` times in a run, when
    the trainer logs its policy), ``steps_to_95_stable`` (the first from which every
    later evaluation stays there), ``product_states`` (finite envs), ``config`` and
    ``files`` (kind -> path).
    """
    from .. import load
    from ..torch import compile_torch
    from ..torch.expr import device_of
    from ..envs.batched import make_batched
    from ..gym.wrapper import DEFAULTS as COMPILE_OPTIONS
    from ..finite.solve import pick_objective
    from .evaluate import ExactEvaluator, automata_of, monte_carlo
    from .report import Progress, write_files

    t0 = time.time()
    spec = spec if isinstance(spec, n.Spec) else load(spec)
    if env_id is not None:
        spec = with_env(spec, env_id)
    compile_opts = {k: v for k, v in options.items() if k in COMPILE_OPTIONS}
    hyper = {k: v for k, v in options.items() if k not in COMPILE_OPTIONS and v is not None}
    device = device_of(device)
    env = make_batched(spec, hyper.get("num_envs", 64), device=device, seed=seed)
    mod = compile_torch(spec, objective, device=device, env=env, seed=seed, **compile_opts)
    plan = mod.plan
    name = trainer or choose_trainer(spec, plan, env, mod)
    if name not in TRAINERS:
        raise ObjlangError(f"unknown trainer '{name}'", hint="trainers: " + ", ".join(TRAINERS))
    module = importlib.import_module(f".{name}", __name__)
    fields = [f.name for f in dataclasses.fields(module.config_for(env))]
    hyper = {_ALIASES.get(k, k) if k not in fields else k: v for k, v in hyper.items()}
    unknown = sorted(set(hyper) - set(fields))
    if unknown:
        raise ObjlangError(f"unknown {name} option '{unknown[0]}'",
                           hint="options: " + ", ".join(sorted(fields)))
    config = module.config_for(env, **hyper)
    if config.num_envs != env.num_envs:
        env = make_batched(spec, config.num_envs, device=device, seed=seed)
    steps = int(steps if steps is not None else
                getattr(module, "DEFAULT_STEPS", 200_000))
    if steps < 1:
        raise ObjlangError(f"cannot train for {steps} steps", hint="give --steps N, N >= 1")

    exact = None
    if env.finite is not None and plan.mode not in ("vector", "terminal"):
        exact = ExactEvaluator(spec, plan.objective, plan, env.finite, automata_of(mod), device)
    constrained = bool(pick_objective(spec, plan.objective).constraints)
    bar = Progress(steps, progress)
    rows: list[dict] = []
    every = max(steps // EXACT_EVALS, 1)
    next_exact = [every]

    def log(metrics: dict) -> None:
        metrics = dict(metrics)
        policy = metrics.pop("policy", None)
        row = {"steps": metrics.pop("step"), "wall_s": round(time.time() - t0, 3)}
        row.update({k: v for k, v in metrics.items() if k != "curve"})
        if exact is not None and policy is not None and row["steps"] >= next_exact[0]:
            next_exact[0] = row["steps"] + every
            act = _actions(policy, mod)
            row["value"] = exact.value(act)
            if constrained:
                row["feasible"] = all(c["holds"] for c in exact.constraints(act))
        rows.append(row)
        bar.update(row["steps"], row)

    t_train = time.time()
    try:
        policy, metrics = module.train(spec, plan, env, mod, steps, seed=seed, device=device,
                                       log=log, config=config)
    finally:
        bar.close()
    train_s = time.time() - t_train

    final = {"return": None, "success": None, "value": None, "optimum": None, "ratio": None}
    single = hasattr(policy, "act") and plan.mode != "vector"
    if single:
        eval_env = make_batched(spec, EVAL_EPISODES, device=device, seed=seed + 1)
        mc = monte_carlo(eval_env, mod, _mc_actions(policy), seed=seed + 1)
        final.update({k: mc[k] for k in ("return", "success")})
        if mod.cost_names:
            final["cost"] = dict(zip(mod.cost_names, mc["cost"]))
    if exact is not None and single:
        from .evaluate import fraction

        act = _actions(policy, mod)
        final["value"] = exact.value(act)
        final["optimum"] = exact.optimum
        final["ratio"] = fraction(final["value"], final["optimum"])
        if constrained:
            final["constraints"] = exact.constraints(act)
    for key in ("pareto", "lambda"):
        if key in metrics:
            final[key] = metrics[key]
    near = _near_optimal(rows, final["optimum"])
    # a batch step may pass the budget: the steps actually taken
    steps = int(metrics.get("step", steps))
    report = {"objective": plan.objective, "formalism": plan.formalism,
              "env": env_name(spec), "trainer": name, "steps": steps,
              "wall_s": round(time.time() - t0, 3), "train_s": round(train_s, 3),
              "device": str(device), "seed": seed, "final": final,
              "steps_to_95": near[0], "steps_to_95_stable": near[1],
              "config": dataclasses.asdict(config), "files": {}}
    if exact is not None:
        report["product_states"] = exact.n_states
    if out_dir is not None:
        report["files"] = write_files(Path(out_dir), report, rows, policy)
    return report


def _actions(policy, mod):
    """``act(obs, q)`` of a trained policy for the exact evaluator: greedy actions, or
    the action distributions of a policy that is evaluated as it is (stochastic)."""
    if hasattr(policy, "act_q"):
        return policy.act_q

    def act(obs, q):
        state = {"q": q}
        return policy.probs(obs, state) if getattr(policy, "stochastic", False) \
            else policy.act(obs, state, deterministic=True)
    return act


def _mc_actions(policy):
    """``act(obs, state)`` for Monte Carlo: greedy, or sampled from a stochastic policy."""
    sample = bool(getattr(policy, "stochastic", False))
    return lambda obs, state: policy.act(obs, state, deterministic=not sample)


def _near_optimal(rows: list[dict], optimum) -> tuple[int | None, int | None]:
    """Env steps at the first exact evaluation reaching ``NEAR_OPTIMAL`` of the
    optimum (with the constraints met), and at the first from which every later one
    does."""
    if not isinstance(optimum, (int, float)) or optimum <= 0:
        return None, None
    evals = [(r["steps"], r["value"] >= NEAR_OPTIMAL * optimum and r.get("feasible", True))
             for r in rows if isinstance(r.get("value"), (int, float))]
    first = next((st for st, ok in evals if ok), None)
    stable = None
    for st, ok in evals:
        stable = (stable or st) if ok else None
    return first, stable
