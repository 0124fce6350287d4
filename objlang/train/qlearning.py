"""Tabular Q-learning on the product of a finite env with the objective's automata,
batched over envs, with counterfactual experience (CRM).

The table is indexed by (env observation, automaton states of every track, action).
Each step of the batch gives one experience per element; with counterfactuals
(CRM: Toro Icarte, Klassen, Valenzano, McIlraith, "Reward Machines: Exploiting
Reward Function Structure in Reinforcement Learning", JAIR 2022) it gives one per
state of the objective's automaton instead: the env transition (o, a, o') is
replayed from every automaton state q through ``mod.counterfactuals``, which says
where q goes, what it pays and whether the episode ends there. Under an LTL
reward scheme the counterfactual reward is the edge's expected one and the
scheme's random stop is counted by its probability (a ζ-jump: the target
continues with probability ζ on an accepting edge), so the targets carry no
scheme randomness; under ``multi-discount`` each target has its step's discount.

One update per batch step: an entry that the batch hit k times moves towards the
mean of its k targets by ``1 - (1 - α)^k``, as k updates of step size α towards
that mean would, so a batch of B envs learns about as much per env step as one env. Exploration is
ε-greedy with random tie-breaking. On a deterministic env the table starts
optimistic (every entry at ``q_init`` = 1, at least the value of a probability or
of one unit reward), so that untried actions look best until tried: with
ε-greedy alone, a random walk in the office world ends on a decoration long before
it delivers anything. On a stochastic env it starts at 0: there the step size
decays, and optimism on self-loops would fade only as fast as γ^n with γ near 1.

Defaults (:class:`QConfig`; each can be overridden through ``objlang.train.train``):
64 envs, 200,000 env steps, ε = 0.1; the discount of discounted returns is the
objective's (or the file's; 0.99 where none is declared), and 0.999 for
probabilities (LTL through a scheme, LTLf), totals and averages; α = 1 on a
deterministic env (every target is exact, so one update learns it; but for a
scheme's stops drawn at random, without CRM) and otherwise
``max(0.05, (1 + n)^-0.6)`` for an entry with n earlier experiences (a polynomial step
size: Even-Dar and Mansour, JMLR 2003).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from ..errors import ObjlangError
from .evaluate import has_success


@dataclass
class QConfig:
    """Q-learning hyperparameters (see the module docstring for the defaults)."""

    num_envs: int = 64
    epsilon: float = 0.1
    gamma: float | None = None     # None: see discount()
    lr: float | None = None        # None: 1 where targets are exact, else count-based
    q_init: float | None = None    # None: 1 (optimistic) on deterministic envs, else 0
    crm: bool = True               # counterfactual experience over automaton states
    log_every: int = 2_000         # env steps between two calls of log


#: the discount of undiscounted objectives (probabilities, totals, averages): close to
#: 1, so that the discounted optimum keeps (nearly) the undiscounted one, and below 1,
#: so that values stay bounded and ties break toward reaching the goal sooner
UNDISCOUNTED = 0.999

#: env steps of a run when none is given
DEFAULT_STEPS = 200_000


def config_for(env, **overrides) -> QConfig:
    """The default config, then ``overrides`` (the signature of :func:`ppo.config_for`)."""
    return replace(QConfig(), **overrides)


#: the floor and exponent of the count-based step size on stochastic envs
LR_FLOOR, LR_POWER = 0.05, 0.6


class TabularPolicy:
    """The greedy policy of a Q table over (obs, automaton states)."""

    stochastic = False  # evaluated greedy, as trained policies of ppo.py declare

    def __init__(self, q_table: torch.Tensor, dims: list[int]):
        self.q_table = q_table
        self.dims = list(dims)
        radix = [int(np.prod(dims[i + 1:])) for i in range(len(dims))]
        self.radix = torch.tensor(radix, dtype=torch.int64, device=q_table.device)
        self.n_q = int(np.prod(dims)) if dims else 1

    def index(self, obs: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """The table row of each (obs, automaton states)."""
        return obs.long() * self.n_q + (q * self.radix).sum(-1)

    def act_q(self, obs: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Greedy actions for observations and automaton states (first best on ties)."""
        return self.q_table[self.index(obs, q)].argmax(-1)

    def act(self, obs: torch.Tensor, state: dict, deterministic: bool = True) -> torch.Tensor:
        """Greedy actions for a batch (``state``: the compiled module's state)."""
        return self.act_q(obs, state["q"])

    def state_dict(self) -> dict:
        return {"q_table": self.q_table, "dims": self.dims}


def _check(plan, env, mod) -> None:
    from gymnasium import spaces

    if plan.mode not in ("return", "ltl", "ltlf"):
        raise ObjlangError(f"tabular Q-learning learns one scalar reward; objective "
                           f"'{plan.objective}' is a {plan.mode} objective",
                           hint="objlang.train.train picks a trainer that handles it")
    if not isinstance(env.single_observation_space, spaces.Discrete) or \
            not isinstance(env.single_action_space, spaces.Discrete):
        raise ObjlangError("tabular Q-learning needs Discrete observations and actions",
                           hint="objlang.train.train picks PPO for other spaces")
    if mod.n_extra_actions:
        raise ObjlangError(f"the automaton of '{plan.formula}' is nondeterministic (ε-moves); "
                           "a batched env cannot hold some elements still while others step",
                           hint="use options { ltl_reward: parity } (a deterministic parity "
                                "automaton)")


def discount(spec, plan, config: QConfig) -> float:
    """The discount of the targets: the config's; for discounted returns the
    objective's (else 0.99); :data:`UNDISCOUNTED` for the rest."""
    if config.gamma is not None:
        return float(config.gamma)
    if plan.mode == "return" and plan.aggregate == "discounted":
        from ..finite.solve import pick_objective

        g = plan.discount if plan.discount is not None else \
            spec.discount_for(pick_objective(spec, plan.objective))
        return 0.99 if g is None else float(g)
    return UNDISCOUNTED


def _deterministic(env) -> bool:
    P = env.finite.P.tocsr() if env.finite is not None else None
    return P is not None and bool((np.diff(P.indptr) == 1).all())


def train(spec, plan, env, mod, steps: int, seed: int = 0, device="cpu",
          log: Callable | None = None, config: QConfig | None = None):
    """Q-learning (with CRM where the objective has one automaton) for ``steps`` env
    transitions on the batched finite ``env`` with the compiled objective ``mod``;
    returns ``(TabularPolicy, metrics)``. ``log(metrics)`` is called every
    ``config.log_every`` env steps with ``step``, ``return`` and ``success`` (the mean
    return and acceptance rate of the episodes finished since the last call) and
    ``policy`` (the current greedy policy, for an exact evaluation)."""
    _check(plan, env, mod)
    config = config or QConfig()
    if torch.device(device).type != torch.device(env.device).type:
        raise ValueError(f"the env is on {env.device} but training was asked on {device}")
    gamma, eps = discount(spec, plan, config), float(config.epsilon)
    B, dev = env.num_envs, env.device
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    n_obs = int(env.single_observation_space.n)
    n_act = int(env.single_action_space.n)
    dims = [int(d) for d in mod.n_states]
    # CRM replays each transition from every state of the objective's one automaton
    crm = bool(config.crm) and len(dims) == 1 and mod.track_roles[0] in (
        "machine", "scheme", "ltlf")
    deterministic = _deterministic(env)
    # exact targets: a deterministic env, and no scheme stop drawn at random in them
    exact = deterministic and (crm or plan.mode != "ltl")
    fixed_lr = config.lr if config.lr is not None else (1.0 if exact else None)
    q_init = config.q_init if config.q_init is not None else (1.0 if deterministic else 0.0)
    table = torch.full((n_obs * (int(np.prod(dims)) if dims else 1), n_act),
                       float(q_init), dtype=torch.float32, device=dev)
    counts = torch.zeros_like(table)
    policy = TabularPolicy(table, dims)
    all_q = torch.arange(dims[0], device=dev)[None, :] if crm else None

    obs, info = env.reset(seed=int(seed))
    state = mod.reset(obs, info)
    ep_ret = torch.zeros(B, dtype=torch.float64, device=dev)
    done_ret, done_acc, done_n = 0.0, 0.0, 0
    done_steps, since_log = 0, 0
    success = has_success(mod)
    while done_steps < steps:
        rows = policy.index(obs, state["q"])
        noise = torch.rand(B, n_act, generator=gen, device=dev) * 1e-6
        greedy = (table[rows] + noise).argmax(-1)
        explore = torch.rand(B, generator=gen, device=dev) < eps
        action = torch.where(explore, torch.randint(n_act, (B,), generator=gen, device=dev),
                             greedy)
        nxt, env_r, term, trunc, nxt_info = env.step(action)
        new_state, reward, _, done, minfo = mod.step(
            state, obs, action, nxt, env_r, info, nxt_info, env_terminated=term,
            env_truncated=trunc)
        if crm:
            cf = mod.counterfactuals(obs, action, nxt, env_r, info, nxt_info, env_terminated=term)
            src = (obs[:, None].long() * dims[0] + all_q).reshape(-1)
            dst = (nxt[:, None].long() * dims[0] + cf["next_q"]).reshape(-1)
            r = cf["reward"].reshape(-1).float()
            go_on = (~cf["terminated"]).reshape(-1).float()
            if "stop" in cf:  # a scheme's random stop, counted by its probability
                go_on = go_on * (1.0 - cf["stop"].reshape(-1).float())
            disc = cf["discount"].reshape(-1).float() if "discount" in cf else gamma
            act_rep = action.long().repeat_interleave(dims[0])
            # a truncated step's counterfactuals are ordinary transitions: keep them all
            keep = None
        else:
            src, dst = rows, policy.index(nxt, new_state["q"])
            r, go_on = reward.float(), (~done).float()
            disc = minfo["discount"].float() if "discount" in minfo else gamma
            act_rep = action.long()
            # at a truncation the compiled reward may pay the episode's end (ltlf):
            # that step is no transition to learn from
            keep = ~(trunc & ~done)
        with torch.no_grad():
            target = r + disc * go_on * table[dst].amax(-1)
            flat = src * n_act + act_rep
            if keep is not None:
                flat, target = flat[keep], target[keep]
            _update(table, counts, flat, target, fixed_lr)
        ended = done | trunc
        ep_ret += reward.double() if reward.dim() == 1 else reward.double().sum(-1)
        if ended.any():
            done_ret += float(ep_ret[ended].sum())
            done_acc += float((minfo["accepting"] & ended).sum())
            done_n += int(ended.sum())
            ep_ret = torch.where(ended, 0.0, ep_ret)
            obs, info = env.reset_where(ended)
            state = mod.reset_where(new_state, ended, obs, info)
        else:
            obs, info, state = nxt, nxt_info, new_state
        done_steps += B
        since_log += B
        if since_log >= config.log_every or done_steps >= steps:
            since_log = 0
            last = {"step": done_steps, "return": done_ret / done_n if done_n else None,
                    "success": done_acc / done_n if done_n and success else None}
            if log is not None:
                log({**last, "policy": policy})
            done_ret, done_acc, done_n = 0.0, 0.0, 0
    return policy, last


def _update(table, counts, flat, target, fixed_lr) -> None:
    """Move each hit entry towards the mean of its k targets as k updates of step
    size α in a row would: by ``1 - (1 - α)^k`` (see the module docstring)."""
    size = table.numel()
    hits = torch.zeros(size, dtype=table.dtype, device=table.device)
    total = torch.zeros(size, dtype=table.dtype, device=table.device)
    hits.index_add_(0, flat, torch.ones_like(target))
    total.index_add_(0, flat, target.to(table.dtype))
    seen = hits > 0
    q, c, k = table.view(-1), counts.view(-1), hits[seen]
    mean = total[seen] / k
    alpha = torch.full_like(k, fixed_lr) if fixed_lr is not None else \
        torch.clamp((1.0 + c[seen]) ** -LR_POWER, min=LR_FLOOR)
    q[seen] += (1.0 - (1.0 - alpha) ** k) * (mean - q[seen])
    c[seen] += k
