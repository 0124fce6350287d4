"""PPO on a batched env and a compiled torch objective, in the spirit of CleanRL.

One file, read top to bottom: the hyperparameters (:class:`PPOConfig`), the
policy (:class:`Policy`: separate actor and critic MLPs), the rollout (env and
objective stepped together on one device, no Python loop over the batch), GAE
and the clipped-surrogate update, then :func:`train`.

What the policy sees: the env observation (one-hot when ``Discrete``) followed
by ``mod.one_hot(state)``, the automaton and machine states -- the flat form of
the gym backend's ``Dict`` observation.

What it optimises is a :class:`Signal`: one or more reward *channels* with
their own discounts, a critic head per channel, and a rule that combines the
channels' advantages into the one the policy gradient follows. Plain PPO has
one channel, the objective's reward; :mod:`objlang.train.lagrangian` adds one
channel per constraint and combines them with multipliers;
:mod:`objlang.train.multiobjective` has one channel per objective and a weight
vector per env. Regularisers (``regularize``, :mod:`objlang.train.regularize`)
add their per-step bonus to channel 0 and their gradient to the loss.

Discounts: the objective's γ for discounted returns (its ``G(r, γ)``, the
block's or the file's ``discount``, else 0.99); 1 for ``sum``, ``P[φ]`` through
the ζ schemes (their random stops are the discount) and ``ltlf``; 0.99 for
``avg`` (a discounted proxy of the limit average); the per-step
``info["discount"]`` under the ``multi-discount`` scheme. A time-limit
truncation of a discounted channel bootstraps with the critic's value of the
last observation, except where the objective pays at the end of the trace
(``ltlf``, ``terminal``); undiscounted channels end at the truncation (the trace
"up to truncation, when training" of language.md §6).

Nondeterministic (LDBA) automata add ``mod.n_extra_actions`` ε-actions after
the env's actions; the env's elements that take one do not move (the env's
``step(action, active)``, see :func:`transition`).
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn

from ..errors import ObjlangError


#: env transitions of a run when the caller gives none (``objlang train`` without --steps)
DEFAULT_STEPS = 1_000_000


#: advantages are scaled to unit spread, but never by more than 1 / this: before any
#: reward is seen they are the critic's noise, which scaled up would drive the policy
#: on a random walk away from the exploration that finds the reward
ADV_STD_FLOOR = 1e-3


@dataclass
class PPOConfig:
    """PPO hyperparameters (CleanRL's defaults where they suit batched envs).

    ``steps`` of :func:`train` counts env transitions (all envs together); one
    update uses ``num_envs * num_steps`` of them.
    """

    num_envs: int = 64
    num_steps: int = 16            # rollout length per env and update
    lr: float = 3e-4
    anneal_lr: bool = True
    gamma: float | None = None     # None: the objective's (module docstring)
    gae_lambda: float = 0.95
    update_epochs: int = 4
    num_minibatches: int = 4
    clip_coef: float = 0.2
    ent_coef: float | None = None  # exploration bonus; None: 0.01 Discrete, 0 Box
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 64
    log_std_init: float = 0.0      # Gaussian policies: initial log standard deviation

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps


def config_for(env, **overrides) -> PPOConfig:
    """The default config for ``env``, then ``overrides``. Discrete actions: 64 envs
    × 16 steps per update (cheap env steps: more updates per sample learn the office
    world's paths in tens of thousands of steps rather than millions). Continuous
    actions get
    CleanRL's MuJoCo epochs and minibatches, and a wide batch of short rollouts
    (512 × 32): Gaussian noise explores little per env, so sparse successes (ZoneNav
    reach-avoid: under 1% of random episodes) need many envs to be seen early; and
    GAE λ = 0.99: a sparse success comes 50–150 steps after the moves that earn it
    (steering around ZoneNav's red zone), further than λ = 0.95 carries credit
    (about 20 steps), and with those moves uncredited the policy settled in a corner
    on the way (ZoneNav seed 2)."""
    from gymnasium import spaces

    base = PPOConfig()
    if not isinstance(env.single_action_space, spaces.Discrete):
        base = replace(base, num_envs=512, num_steps=32, update_epochs=10, num_minibatches=8,
                       gae_lambda=0.99)
    return replace(base, **overrides)


# ---------------------------------------------------------------------------
# the policy


def _layer(n_in: int, n_out: int, std: float = math.sqrt(2)) -> nn.Linear:
    """A linear layer with CleanRL's orthogonal initialisation."""
    layer = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


class _Heads(nn.Module):
    """K output layers applied at once: row b uses the head its one-hot ``select[b]``
    picks (batched parameters, one einsum; no loop over heads)."""

    def __init__(self, n_in: int, n_out: int, k: int, std: float):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([_layer(n_in, n_out, std).weight.T
                                                for _ in range(k)]))
        self.bias = nn.Parameter(torch.zeros(k, n_out))

    def forward(self, h: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
        w = torch.einsum("bk,kio->bio", select, self.weight)
        return torch.einsum("bi,bio->bo", h, w) + select @ self.bias


class _Net(nn.Module):
    """CleanRL's MLP: two tanh layers, then one output layer -- or K of them
    (``heads``), chosen per row by the last K input columns (a one-hot)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, std: float, heads: int = 0):
        super().__init__()
        self.heads = heads
        self.body = nn.Sequential(_layer(n_in, hidden), nn.Tanh(), _layer(hidden, hidden),
                                  nn.Tanh())
        self.out = _Heads(hidden, n_out, heads, std) if heads else _layer(hidden, n_out, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.out(h, x[:, -self.heads:]) if self.heads else self.out(h)


class Policy(nn.Module):
    """Actor and critic over the features of (env observation, objective state).

    ``n_channels`` critic outputs (one value per reward channel of the
    :class:`Signal`); ``n_cond`` extra inputs condition both on a per-env vector
    (the weights of multi-objective training), whose last ``n_heads`` columns, a
    one-hot, pick one of ``n_heads`` output layers of each network. Discrete actions: a categorical
    distribution over the env's actions plus the ε-actions; ``Box`` actions: a
    diagonal Gaussian with a state-independent log standard deviation (actions
    are clipped to the space when the env is stepped, not here).
    """

    def __init__(self, env, mod, config: PPOConfig, n_channels: int = 1, n_cond: int = 0,
                 n_heads: int = 0):
        from gymnasium import spaces

        super().__init__()
        obs_space, act_space = env.single_observation_space, env.single_action_space
        if isinstance(obs_space, spaces.Discrete):
            self.obs_n, self.obs_start, n_obs = int(obs_space.n), int(obs_space.start), \
                int(obs_space.n)
        elif isinstance(obs_space, spaces.Box):
            self.obs_n, self.obs_start, n_obs = None, 0, int(math.prod(obs_space.shape))
        else:
            raise ObjlangError(f"PPO reads Discrete or Box observations, not "
                               f"{type(obs_space).__name__}", None,
                               "flatten the env's observation (gymnasium FlattenObservation)")
        self.mod = mod
        self.n_mem = int(sum(mod.n_states))
        # the terminal form pays f(returns) at the end: the running returns and the
        # discount of the next reward are part of the state (as in the gym backend)
        self.n_returns = len(mod.plan.components) + 1 if mod.plan.mode == "terminal" else 0
        self.n_cond = n_cond
        self.discrete = isinstance(act_space, spaces.Discrete)
        if self.discrete:
            self.n_env_actions = int(act_space.n)
            self.n_actions = self.n_env_actions + int(mod.n_extra_actions)
            self.action_shape: tuple = ()
        elif isinstance(act_space, spaces.Box):
            if mod.n_extra_actions:
                raise ObjlangError("the objective's automaton adds ε-actions, which need "
                                   "Discrete env actions", None,
                                   "use options { ltl_reward: parity } (a deterministic "
                                   "automaton)")
            self.n_actions = int(math.prod(act_space.shape))
            self.action_shape = tuple(act_space.shape)
            self.register_buffer("low", torch.as_tensor(act_space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(act_space.high, dtype=torch.float32))
        else:
            raise ObjlangError(f"PPO acts in Discrete or Box action spaces, not "
                               f"{type(act_space).__name__}")
        n_in = n_obs + self.n_mem + self.n_returns + n_cond
        h = config.hidden
        self.critic = _Net(n_in, h, n_channels, 1.0, n_heads)
        self.actor = _Net(n_in, h, self.n_actions, 0.01, n_heads)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((self.n_actions,), float(config.log_std_init)))
        #: evaluate the policy as it is (True: constraints or regularisers make the
        #: optimum stochastic) or its greedy version (False)
        self.stochastic = False

    def features(self, obs, state, cond=None) -> torch.Tensor:
        """The network input of a batch: env observation, objective state, condition."""
        if self.obs_n is not None:
            x = nn.functional.one_hot(obs.long() - self.obs_start, self.obs_n).float()
        else:
            x = obs.reshape(obs.shape[0], -1).float()
        parts = [x]
        if self.n_mem:
            parts.append(self.mod.one_hot(state))
        if self.n_returns:
            parts += [state["returns"].float(), state["scale"].float().unsqueeze(1)]
        if self.n_cond:
            parts.append(cond)
        return torch.cat(parts, dim=1) if len(parts) > 1 else x

    def distribution(self, x: torch.Tensor):
        """The action distribution at features ``x`` (a torch Distribution)."""
        out = self.actor(x)
        if self.discrete:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Normal(out, self.log_std.exp().expand_as(out))

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """The critic's values ``(B, n_channels)``."""
        return self.critic(x)

    def log_prob(self, dist, action) -> torch.Tensor:
        lp = dist.log_prob(action)
        return lp if self.discrete else lp.sum(-1)

    def entropy(self, dist) -> torch.Tensor:
        e = dist.entropy()
        return e if self.discrete else e.sum(-1)

    @torch.no_grad()
    def probs(self, obs, state, cond=None) -> torch.Tensor:
        """Action probabilities ``(B, n_actions)``, float64 (rows sum to 1 as exact
        evaluation checks them; Discrete actions)."""
        if not self.discrete:
            raise ValueError("probs: the policy's actions are continuous")
        return torch.softmax(self.actor(self.features(obs, state, cond)).double(), -1)

    @torch.no_grad()
    def act(self, obs, state, cond=None, deterministic: bool = True) -> torch.Tensor:
        """Actions for a batch: the most likely (mean) one, or a sample."""
        dist = self.distribution(self.features(obs, state, cond))
        if deterministic:
            return dist.probs.argmax(-1) if self.discrete else dist.mean
        return dist.sample()

    def env_action(self, action: torch.Tensor) -> torch.Tensor:
        """What the env receives: Gaussian samples clipped to the action space,
        ε-actions replaced by a valid env action (those elements do not move)."""
        if not self.discrete:
            return torch.maximum(torch.minimum(action.reshape(-1, *self.action_shape),
                                               self.high), self.low)
        return action.clamp(max=self.n_env_actions - 1)


# ---------------------------------------------------------------------------
# what is optimised


class Signal:
    """The reward channels PPO learns and how their advantages combine.

    The base class is plain PPO: one channel, the objective's (scalar) reward.
    """

    n_channels = 1
    #: the policy's extra inputs per env (multi-objective weights), or None
    condition: torch.Tensor | None = None
    #: output layers per network, picked by the last columns of ``condition`` (one-hot)
    n_heads = 0

    def __init__(self, gamma: float):
        self.gammas = [gamma]

    def channels(self, reward: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
        """The per-step rewards ``(B, n_channels)`` of a step's objective reward and costs."""
        return reward.reshape(reward.shape[0], -1)[:, :1]

    def combine(self, adv: torch.Tensor) -> torch.Tensor:
        """The policy's advantage ``(T, B)`` from the channels' ``(T, B, n_channels)``."""
        return adv[..., 0]

    def normalize(self, adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Advantages ``(T, B)`` scaled to mean 0 and standard deviation 1, and the
        scale applied (regularisers' gradients get the same, so that their balance
        with the return's gradient is the objective's)."""
        scale = 1.0 / adv.std().clamp(min=ADV_STD_FLOOR)
        return (adv - adv.mean()) * scale, scale

    def update(self, episodes: dict) -> dict:
        """Called after each rollout with its finished episodes (see :class:`Episodes`);
        returns metrics to log."""
        return {}


def objective_gamma(spec, plan, config: PPOConfig) -> float:
    """The discount PPO uses for the objective's reward: ``config.gamma`` when set,
    else the objective's (module docstring)."""
    if config.gamma is not None:
        return float(config.gamma)
    if plan.mode in ("ltl", "ltlf") or plan.aggregate == "total":
        return 1.0
    if plan.aggregate == "average":
        return 0.99
    gamma = plan.discount if plan.discount is not None else spec.discount_for()
    return 0.99 if gamma is None else float(gamma)


class Episodes:
    """Per-env running sums of the channels (discounted from the episode's start),
    of the undiscounted objective reward, and the episodes that finished."""

    def __init__(self, num_envs: int, m: int, n_reward: int, device):
        self.disc = torch.zeros(num_envs, m, device=device)
        self.scale = torch.ones(num_envs, m, device=device)
        self.total = torch.zeros(num_envs, n_reward, device=device)
        self.clear()

    def clear(self) -> None:
        self.done_disc, self.done_total, self.done_success, self.done_env = [], [], [], []

    def add(self, rewards, reward, step_discount, done, success) -> None:
        """One step: ``rewards`` the channels ``(B, m)``, ``reward`` the objective's
        reward ``(B, k)``, ``step_discount`` the channels' discounts ``(B, m)``."""
        self.disc += self.scale * rewards
        self.scale *= step_discount
        self.total += reward
        if done.any():
            idx = done.nonzero().squeeze(1)
            self.done_disc.append(self.disc[idx])
            self.done_total.append(self.total[idx])
            self.done_success.append(success[idx])
            self.done_env.append(idx)
            self.disc[idx] = 0.0
            self.scale[idx] = 1.0
            self.total[idx] = 0.0

    def finished(self) -> dict:
        """The episodes finished since the last call: ``disc`` ``(N, m)``, ``total``
        ``(N, k)``, ``success`` ``(N,)``, ``env`` ``(N,)``; empty tensors when none."""
        dev = self.disc.device
        if not self.done_env:
            out = {"disc": torch.zeros(0, self.disc.shape[1], device=dev),
                   "total": torch.zeros(0, self.total.shape[1], device=dev),
                   "success": torch.zeros(0, dtype=torch.bool, device=dev),
                   "env": torch.zeros(0, dtype=torch.long, device=dev)}
        else:
            out = {"disc": torch.cat(self.done_disc), "total": torch.cat(self.done_total),
                   "success": torch.cat(self.done_success), "env": torch.cat(self.done_env)}
        self.clear()
        return out


# ---------------------------------------------------------------------------
# the loop


def _check_device(env, mod, device) -> torch.device:
    device = torch.device(device)
    for what, dev in (("env", env.device), ("objective module", getattr(mod, "device", None))):
        if dev is not None and torch.device(dev).type != device.type:
            raise ValueError(f"the {what} is on {dev} but training was asked on {device}: "
                             f"build both on one device")
    return torch.device(env.device)


def transition(policy, env, mod, obs, info, state, action):
    """One step of the env and the objective for a batch of policy actions:
    ``(next_obs, next_info, state, reward, cost, terminated, truncated, info)``.
    Elements that take an ε-action do not move in the env (``active`` False) while
    the objective's automaton moves; the module truncates long runs of them."""
    if policy.discrete and mod.n_extra_actions:
        next_obs, env_r, term, trunc, next_info = env.step(
            policy.env_action(action), active=action < policy.n_env_actions)
    else:
        next_obs, env_r, term, trunc, next_info = env.step(policy.env_action(action))
    state, reward, cost, terminated, minfo = mod.step(
        state, obs, action, next_obs, env_r, info=info, next_info=next_info,
        env_terminated=term, env_truncated=trunc)
    if "truncated" in minfo:  # too many ε-actions in a row
        trunc = trunc | minfo["truncated"]
    return next_obs, next_info, state, reward, cost, terminated, trunc, minfo


def restart(env, mod, done, state):
    """Reset the ``done`` elements of the env and their objective state."""
    obs, info = env.reset_where(done)
    return obs, info, mod.reset_where(state, done, obs, info)


@torch.no_grad()
def first_episodes(policy, env, mod, signal: Signal, seed: int, deterministic: bool = True
                   ) -> dict:
    """Run a fresh batch until every element has finished one episode; the
    channels' discounted returns of those episodes (``"disc"``, ``(B, m)``), their
    undiscounted objective returns (``"total"``) and acceptance (``"success"``),
    in the order of the batch."""
    B = env.num_envs
    gammas = torch.as_tensor(signal.gammas, dtype=torch.float32, device=env.device)
    tracker = Episodes(B, signal.n_channels, signal.n_channels, env.device)
    out = {"disc": torch.zeros(B, signal.n_channels, device=env.device),
           "total": torch.zeros(B, signal.n_channels, device=env.device),
           "success": torch.zeros(B, dtype=torch.bool, device=env.device)}
    seen = torch.zeros(B, dtype=torch.bool, device=env.device)
    obs, info = env.reset(seed=seed)
    state = mod.reset(obs, info)
    while not seen.all():
        dist = policy.distribution(policy.features(obs, state, signal.condition))
        action = (dist.probs.argmax(-1) if policy.discrete else dist.mean) if deterministic \
            else dist.sample()
        obs, info, state, reward, cost, terminated, trunc, minfo = transition(
            policy, env, mod, obs, info, state, action)
        rew = signal.channels(reward, cost)
        done = terminated | trunc
        tracker.add(rew, rew, gammas.expand(B, -1), done,
                    minfo.get("accepting", torch.zeros_like(done)))
        if done.any():
            got = tracker.finished()
            new = ~seen[got["env"]]
            idx = got["env"][new]
            out["disc"][idx], out["total"][idx] = got["disc"][new], got["total"][new]
            out["success"][idx] = got["success"][new]
            seen[idx] = True
            obs, info, state = restart(env, mod, done, state)
    return out


def gae(rewards, values, next_value, discounts, dones, lam: float):
    """Generalised advantage estimates and returns, per channel.

    ``rewards``, ``values``, ``discounts`` ``(T, B, m)`` (``discounts[t]`` is the
    discount of step t's successor), ``dones`` ``(T, B)`` (the episode ended at
    step t: no successor value), ``next_value`` ``(B, m)`` after the last step.
    """
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(T)):
        nxt = next_value if t == T - 1 else values[t + 1]
        cont = (~dones[t]).float().unsqueeze(-1) * discounts[t]
        delta = rewards[t] + cont * nxt - values[t]
        last = delta + cont * lam * last
        adv[t] = last
    return adv, adv + values


@contextmanager
def one_thread(device: torch.device):
    """On CPU, run torch on one thread: the networks here are small, and
    intra-op threads cost more than they give (ten times more on a busy 2-core
    machine)."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(spec, plan, env, mod, steps: int, signal: Signal, config: PPOConfig, *,
        seed: int = 0, device="cpu", log: Callable | None = None,
        regularizer=None) -> tuple[Policy, dict]:
    """The PPO loop shared by the trainers: ``steps`` env transitions optimising
    ``signal``; returns the policy and the metrics (see :func:`train`)."""
    dev = _check_device(env, mod, device)
    with one_thread(dev):
        return _run(plan, env, mod, steps, signal, config, seed, dev, log, regularizer)


def _run(plan, env, mod, steps, signal, config, seed, dev, log, regularizer):
    torch.manual_seed(seed)
    B, T = env.num_envs, config.num_steps
    if B != config.num_envs:
        config = replace(config, num_envs=B)
    policy = Policy(env, mod, config, signal.n_channels,
                    0 if signal.condition is None else signal.condition.shape[1],
                    signal.n_heads).to(dev)
    policy.stochastic = regularizer is not None
    ent_coef = config.ent_coef if config.ent_coef is not None else (
        0.01 if policy.discrete else 0.0)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr, eps=1e-5)
    cond = signal.condition
    m = signal.n_channels
    gammas = torch.as_tensor(signal.gammas, dtype=torch.float32, device=dev)
    multi_discount = plan.mode == "ltl" and mod.scheme.name == "multi-discount"
    # which channels bootstrap at a truncation: discounted ones (an undiscounted sum
    # is read up to the truncation, language.md §6; with γ = 1 the value of a
    # never-ending zero-reward tail would be any constant), except where the
    # objective pays at the end of the trace
    bootstrap = None if plan.mode in ("ltlf", "terminal") else (gammas < 1).float()
    if multi_discount:
        bootstrap[0] = 1.0
    success_defined = plan.mode in ("ltl", "ltlf")

    obs, info = env.reset(seed=seed)
    state = mod.reset(obs, info)
    k = len(plan.components) if plan.mode == "vector" else 1
    episodes = Episodes(B, m, k, dev)
    n_updates = max(1, steps // (B * T))
    curve, done_steps, t0 = [], 0, time.time()
    # until some reward (or cost) is seen, advantages are the critic's noise: the
    # policy keeps its initial exploration rather than drift on them
    seen_reward = regularizer is not None
    for update in range(n_updates):
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = config.lr * (1 - update / n_updates)
        xs, obs_t, acts, logps, vals, rews, discs, dones = [], [], [], [], [], [], [], []
        for _ in range(T):
            with torch.no_grad():
                x = policy.features(obs, state, cond)
                dist = policy.distribution(x)
                action = dist.sample()
                logp = policy.log_prob(dist, action)
                value = policy.value(x)
            next_obs, next_info, state, reward, cost, terminated, trunc, minfo = transition(
                policy, env, mod, obs, info, state, action)
            rew = signal.channels(reward, cost)
            seen_reward = seen_reward or bool((rew != 0).any())
            step_disc = gammas.expand(B, m).clone()
            if multi_discount:
                step_disc[:, 0] = minfo["discount"]
            done = terminated | trunc
            episodes.add(rew, reward.reshape(B, -1), step_disc, done,
                         minfo.get("accepting", torch.zeros_like(done)))
            train_rew = rew
            if regularizer is not None:
                train_rew = rew.clone()
                train_rew[:, 0] += regularizer.bonus(dist, obs)
            cut = trunc & ~terminated
            if bootstrap is not None and cut.any():
                # a time limit is not the end of a discounted task: the successor's value
                # stands in for the rest
                with torch.no_grad():
                    v_next = policy.value(policy.features(next_obs, state, cond))
                train_rew = train_rew + cut.float().unsqueeze(1) * bootstrap * step_disc * v_next
            xs.append(x), obs_t.append(obs), acts.append(action), logps.append(logp)
            vals.append(value)
            rews.append(train_rew), discs.append(step_disc), dones.append(done)
            obs, info = next_obs, next_info
            if done.any():
                obs, info, state = restart(env, mod, done, state)
        done_steps += B * T
        with torch.no_grad():
            next_value = policy.value(policy.features(obs, state, cond))
        rewards, values, discounts = torch.stack(rews), torch.stack(vals), torch.stack(discs)
        adv_c, returns = gae(rewards, values, next_value, discounts, torch.stack(dones),
                             config.gae_lambda)
        finished = episodes.finished()
        metrics = {"step": done_steps, "wall_s": round(time.time() - t0, 3)}
        metrics.update(_episode_metrics(finished, success_defined))
        metrics.update(signal.update(finished))
        adv, scale = signal.normalize(signal.combine(adv_c))
        if not seen_reward:
            adv = torch.zeros_like(adv)
        metrics.update(_update(policy, optimizer, config, ent_coef, regularizer, scale,
                               torch.stack(xs).flatten(0, 1), torch.stack(acts).flatten(0, 1),
                               torch.stack(logps).flatten(), adv.flatten(),
                               returns.flatten(0, 1), torch.stack(obs_t).flatten(0, 1)))
        curve.append(metrics)
        if log is not None:
            # the dispatcher evaluates the policy now and then (exact values on finite envs)
            log({**metrics, "policy": policy})
    final = _summary(curve)
    final["curve"] = curve
    return policy, final


def _update(policy, optimizer, config, ent_coef, regularizer, reg_scale, x, actions,
            old_logp, adv, returns, obs) -> dict:
    """``update_epochs`` passes of clipped-surrogate minibatch steps over one rollout."""
    n = x.shape[0]
    mb = max(1, n // config.num_minibatches)
    clipped = []
    for _ in range(config.update_epochs):
        perm = torch.randperm(n, device=x.device)
        for start in range(0, n, mb):
            idx = perm[start:start + mb]
            dist = policy.distribution(x[idx])
            logp = policy.log_prob(dist, actions[idx])
            ratio = (logp - old_logp[idx]).exp()
            pg_loss = torch.max(-adv[idx] * ratio, -adv[idx] * ratio.clamp(
                1 - config.clip_coef, 1 + config.clip_coef)).mean()
            v_loss = 0.5 * (policy.value(x[idx]) - returns[idx]).pow(2).sum(-1).mean()
            entropy = policy.entropy(dist).mean()
            loss = pg_loss - ent_coef * entropy + config.vf_coef * v_loss
            if regularizer is not None:
                loss = loss + reg_scale * regularizer.loss(dist, obs[idx])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                clipped.append(((ratio - 1).abs() > config.clip_coef).float().mean())
    return {"policy_loss": float(pg_loss.detach()), "value_loss": float(v_loss.detach()),
            "entropy": float(entropy.detach()), "clipfrac": float(torch.stack(clipped).mean())}


def _episode_metrics(finished: dict, success_defined: bool) -> dict:
    n = finished["env"].shape[0]
    out = {"episodes": n, "return": None, "success": None}
    if n:
        total = finished["total"].mean(0)
        if total.numel() == 1:
            out["return"] = float(total[0])
        else:  # a vector objective: one mean per return
            out["returns"] = total.tolist()
        if success_defined:
            out["success"] = float(finished["success"].float().mean())
    return out


def _summary(curve: list, window: int = 5) -> dict:
    """The last updates' metrics averaged (those that finished episodes)."""
    out = dict(curve[-1])
    for key in ("return", "success"):
        vals = [c[key] for c in curve[-window:] if c.get(key) is not None]
        if vals and not isinstance(vals[0], list):
            out[key] = sum(vals) / len(vals)
    return out


# ---------------------------------------------------------------------------
# entry points


def trainer_for(spec, plan):
    """The trainer module for a plan: constraints → :mod:`.lagrangian`, vector
    modes → :mod:`.multiobjective`, else this module (regularisers included)."""
    from ..finite.solve import pick_objective

    if pick_objective(spec, plan.objective).constraints:
        from . import lagrangian
        return lagrangian
    if plan.mode == "vector":
        from . import multiobjective
        return multiobjective
    import sys
    return sys.modules[__name__]


def train(spec, plan, env, mod, steps: int, seed: int = 0, device="cpu",
          log: Callable | None = None, config: PPOConfig | None = None):
    """Train a policy for a scalar objective with PPO: ``steps`` env transitions on
    the batched ``env`` (``objlang.envs.batched.make_batched``) with the compiled
    objective ``mod`` (``objlang.compile_torch``), on ``device`` (where both live).

    ``log(metrics)`` is called after each update. Returns ``(policy, metrics)``:
    the :class:`Policy` and the last update's metrics -- ``step``, ``return`` (mean
    undiscounted objective return of the episodes finished in the last updates),
    ``success`` (their fraction ending accepting, for ``P[φ]`` objectives), losses --
    with ``curve``, the metrics of every update. The objective's ``regularize``
    terms (entropy, KL to a declared policy) are optimised with it.
    """
    from .regularize import regularizer_for

    if plan.mode == "vector":
        raise ObjlangError(f"objective '{plan.objective}' has a vector of returns",
                           None, "train it with objlang.train.multiobjective")
    config = config or config_for(env)
    return run(spec, plan, env, mod, steps, Signal(objective_gamma(spec, plan, config)), config,
               seed=seed, device=device, log=log, regularizer=regularizer_for(spec, plan, env, mod))
