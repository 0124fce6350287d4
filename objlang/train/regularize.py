"""An objective's ``regularize`` terms as PPO terms.

``regularize α * entropy(pi) + β * kl(pi, q)`` means what ``objlang solve``
and the exact evaluator count (objlang/finite/evaluate.py): the discounted sum
``E[Σ_t γ^t (α H(π(·|s_t)) − β KL(π(·|s_t) ‖ q(·|s_t)))]`` added to the goal,
an entropy a bonus and a KL a penalty, in the goal's direction.

PPO optimises it as soft policy-gradient methods do: the per-state term joins
the reward of its step (channel 0 of the :class:`~objlang.train.ppo.Signal`),
so the critic values future regularisation, and its gradient at the visited
states joins the loss. ``q`` is a declared ``policy``: ``uniform`` on any
``Discrete`` action space, a ``table`` on a finite env (rows by state, unlisted
states uniform, as language.md §11 says). A zero of ``q`` where π is positive
counts as probability 1e-8 (a large finite penalty rather than an infinite one).
"""
from __future__ import annotations

import sympy
import torch

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym

#: floor of a prior's probability inside the log
TINY = 1e-8


class Regularizer:
    """``α H(π(·|s)) − Σ_j β_j KL(π(·|s) ‖ q_j(·|s))`` of a batch of states."""

    def __init__(self, alpha: float, kls: list, obs_start: int = 0):
        self.alpha = alpha
        self.kls = kls               # [(β, log q: (n_obs, A) tensor)]
        self.obs_start = obs_start

    def per_state(self, dist, obs) -> torch.Tensor:
        """The regularisation of each state ``(B,)`` (differentiable)."""
        ent = dist.entropy()
        out = self.alpha * (ent if ent.dim() == 1 else ent.sum(-1))
        for beta, log_q in self.kls:
            logp = dist.logits  # normalised log-probabilities
            # one row serves every state of a Box-observation env (a uniform q)
            q = log_q.expand(logp.shape[0], -1) if log_q.shape[0] == 1 else \
                log_q[obs.long() - self.obs_start]
            out = out - beta * (logp.exp() * (logp - q)).sum(-1)
        return out

    @torch.no_grad()
    def bonus(self, dist, obs) -> torch.Tensor:
        """The reward bonus of a step taken at these states."""
        return self.per_state(dist, obs)

    def loss(self, dist, obs) -> torch.Tensor:
        """The term PPO minimises: minus the mean regularisation."""
        return -self.per_state(dist, obs).mean()


def regularizer_for(spec: n.Spec, plan, env, mod) -> Regularizer | None:
    """The :class:`Regularizer` of the plan's objective, or None without ``regularize``."""
    from gymnasium import spaces

    from ..finite.solve import pick_objective

    obj = pick_objective(spec, plan.objective)
    if not obj.regularizers:
        return None
    alpha, kls = 0.0, []
    act_space, obs_space = env.single_action_space, env.single_observation_space
    for r in obj.regularizers:
        for term in sympy.Add.make_args(r.expr):
            coeff, atom = term.as_coeff_Mul()
            if isinstance(atom, sym.Entropy) and not isinstance(atom.args[0], sym.Occ):
                alpha += float(coeff)
            elif isinstance(atom, sym.KL):
                if not isinstance(act_space, spaces.Discrete):
                    raise ObjlangError("kl(pi, q) needs Discrete actions", r.loc, None,
                                       spec.source)
                kls.append((float(coeff), _log_prior(spec, atom.args[1].name, env, mod, r)))
            else:
                raise ObjlangError(f"PPO reads regularisers `w * entropy(pi)` and "
                                   f"`w * kl(pi, q)`, not `{term}`", r.loc, None, spec.source)
    start = int(obs_space.start) if isinstance(obs_space, spaces.Discrete) else 0
    return Regularizer(alpha, kls, start)


def _log_prior(spec: n.Spec, name: str, env, mod, reg) -> torch.Tensor:
    """log q as an ``(n_obs, A)`` table over the env's observations (one row,
    for every state, when they are not Discrete)."""
    import numpy as np
    from gymnasium import spaces

    decl = next(d for d in spec.of_type(n.PolicyDecl) if d.name == name)
    A = int(env.single_action_space.n)
    if mod.n_extra_actions:
        raise ObjlangError(f"kl(pi, {name}): the objective's automaton adds ε-actions, which "
                           f"the prior has no probabilities for", reg.loc,
                           "use options { ltl_reward: parity } (a deterministic automaton)",
                           spec.source)
    obs_space = env.single_observation_space
    if not isinstance(obs_space, spaces.Discrete):
        if decl.rows:
            raise ObjlangError(f"policy '{name}' is a table over states, and the env's "
                               f"observations are not Discrete", decl.loc, None, spec.source)
        table = np.full((1, A), 1.0 / A)
    else:
        table = np.full((int(obs_space.n), A), 1.0 / A)
        if decl.rows:
            if env.finite is None:
                raise ObjlangError(f"policy '{name}' is a table: it needs a finite env",
                                   decl.loc, None, spec.source)
            from ..finite.occupancy import _prior

            mdp = env.finite
            table[np.asarray(mdp.obs) - int(obs_space.start)] = _prior(spec, name, mdp)
    return torch.as_tensor(np.log(np.maximum(table, TINY)), dtype=torch.float32,
                           device=env.device)
