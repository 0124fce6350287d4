"""An objective compiled into batched torch code: :func:`compile_torch`.

The module computes what :class:`objlang.gym.ObjlangWrapper` computes -- the same
tracks (the formula's automaton under an LTL reward scheme, an ltlf DFA,
machines, chance-constraint monitors), rewards, costs and flags -- for a batch
of transitions at once, on one device. It keeps no env: a trainer steps its
(batched) env and hands each transition to :meth:`ObjectiveModule.step`,
which returns the next automaton states. A step is a few table gathers per
track (one ``delta[q, letter]`` gather each) and precompiled tensor
expressions; nothing loops over the batch. See docs/torch.md.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import numpy as np
import sympy
import torch
from gymnasium import spaces

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from ..ir.evaluate import compile_real
from ..gym.labels import Reader, obs_info
from ..gym.plan import Plan, plan
from ..gym.schemes import Scheme
from ..gym.wrapper import _buchi_kind, options_of
from .expr import (StateLetters, TorchOps, Transition, batch_size, check_device, device_of,
                   pack_letters, take)


def _stop_threshold(scheme: Scheme, accepting: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Per edge, the u below which :meth:`Scheme.step` stops the episode
    (tests/test_torch_backend.py checks this against ``Scheme.step``)."""
    if scheme.name in ("zeta-reach", "zeta-acc"):
        return np.where(accepting, 1.0 - scheme.zeta, 0.0)
    if scheme.name == "parity":
        return (1.0 - scheme.zeta) ** (marks.astype(np.float64) + 1.0)
    return np.zeros(accepting.shape)


class _Track:
    """One automaton's tables on the device, flattened so that edge (q, letter)
    is entry ``q * n_letters + letter``, and how it reads the env."""

    def __init__(self, auto, role: str, reader: Reader, ops: TorchOps, scheme: Scheme | None,
                 obs_info: dict | None):
        dev = ops.device
        self.auto, self.role, self.name = auto, role, auto.name
        self.n, self.L = auto.n_states, auto.n_letters

        def flat(table, dtype=torch.int64):
            return torch.as_tensor(np.ascontiguousarray(table).reshape(-1), dtype=dtype,
                                   device=dev)

        def by_letter(table, dtype=torch.int64):
            return torch.as_tensor(np.ascontiguousarray(table.T), dtype=dtype, device=dev)

        self.init = int(auto.init)
        self.delta, self.delta_t = flat(auto.delta), by_letter(auto.delta)
        self.sink = torch.as_tensor(auto.sink, dtype=torch.bool, device=dev)
        self.final = torch.as_tensor(auto.final if auto.final is not None
                                     else np.zeros(self.n, bool), dtype=torch.bool, device=dev)
        self.eps = torch.as_tensor(auto.epsilon_table, dtype=torch.int64, device=dev)
        # the labels a track reports: its props, not inline conditions (_c0, ...)
        self.props = [p for p in auto.props if not p.startswith("_c")]
        self.bits = {p: i for i, p in enumerate(auto.props)}
        conds = [sym.name(p) if p in reader.scope.props else auto.conditions[p]
                 for p in auto.props]
        if role == "machine":
            self.read = Transition(conds, [f"guard condition '{c}'" for c in conds], reader,
                                   ops, boolean=True, combine=pack_letters, obs_info=obs_info)
            self.edge, self.edge_t = flat(auto.edge), by_letter(auto.edge)
            exprs = auto.edge_rewards
            if all(e is None or isinstance(e, sympy.Number) for e in exprs):
                # numbers only: the automaton's reward table is the edge reward
                self.const_reward = flat(auto.reward, torch.float64)
                self.edge_rewards = None
            else:
                self.const_reward = None
                self.edge_rewards = Transition(
                    [e if e is not None else sympy.Integer(0) for e in exprs],
                    [f"the reward of machine edge {i + 1}" for i in range(len(exprs))],
                    reader, ops, obs_info=obs_info)
            return
        self.read = StateLetters(conds, reader, ops)
        marks = auto.color if auto.acceptance == "parity min even" else auto.accepting
        accepting = marks > 0 if auto.acceptance == "buchi" else marks % 2 == 0
        self.accepting, self.accepting_t = flat(accepting, torch.bool), by_letter(accepting,
                                                                                  torch.bool)
        if role == "scheme":
            self._scheme_tables(scheme, accepting, marks, flat, by_letter)

    def _scheme_tables(self, scheme: Scheme, accepting, marks, flat, by_letter) -> None:
        """Per edge: the stop threshold, the rewards when the scheme stops and when it
        goes on, the discount (from :meth:`Scheme.step`), and the tail values."""
        stop_r, go_r, disc = (np.zeros(accepting.shape) for _ in range(3))
        for q, letter in np.ndindex(*accepting.shape):
            acc, mark = bool(accepting[q, letter]), int(marks[q, letter])
            stop_r[q, letter], _, disc[q, letter] = scheme.step(0.0, acc, mark)
            go_r[q, letter], _, _ = scheme.step(1.0, acc, mark)
        threshold = _stop_threshold(scheme, accepting, marks)
        tail = scheme.tail_values(self.auto.delta, marks)
        f64 = torch.float64
        self.threshold, self.stop_r, self.go_r, self.disc, self.tail = (
            flat(t, f64) for t in (threshold, stop_r, go_r, disc, tail))
        self.random = bool((threshold > 0).any())  # some edge stops with probability > 0
        # counterfactuals read whole columns: the same tables indexed [letter, q]
        self.threshold_t, self.stop_r_t, self.go_r_t, self.disc_t = (
            by_letter(t, f64) for t in (threshold, stop_r, go_r, disc))


class ObjectiveModule:
    """An objective as batched tensor code (see the module docstring and docs/torch.md).

    Attributes:
        plan: the gym backend's :class:`~objlang.gym.plan.Plan` of the objective.
        device: where every tensor lives.
        tracks, track_names, track_roles, n_states: per track (``"scheme"``,
            ``"ltlf"``, ``"machine"``, ``"monitor"``), in the gym wrapper's order
            (``tracks[i].auto`` is its :class:`~objlang.automata.Automaton`).
        n_extra_actions: ε-moves of a limit-deterministic automaton: action
            ``n_env_actions + j`` takes the j-th one.
        cost_names: the columns of ``cost``: declared costs, then monitors.
        prop_names: the columns of ``info["labels"]``.
        scheme: the LTL reward scheme's parameters.
        generator: draws the schemes' uniforms when ``step`` gets no ``u``.
    """

    def __init__(self, spec: n.Spec, objective: str | None, device, observation_space,
                 action_space, props: Mapping[str, Callable] | None, seed: int | None,
                 options: Mapping, obs_info: Mapping | None = None):
        self.device = device_of(device)
        self.options = options_of(spec, options)
        opts = self.options
        self.plan: Plan = plan(spec, objective, opts)
        pl = self.plan
        if pl.formulas:
            spec = dataclasses.replace(spec, decls=spec.decls + tuple(pl.formulas.values()))
        self.spec = spec
        ops = self.ops = TorchOps(self.device)
        reader = Reader(spec, observation_space, action_space, props, obs_info)
        self.scope = reader.scope
        self.external = dict(props or {})
        # the env's info as a function of the observation, where it is one: tables
        self._obs_info = {k: torch.as_tensor(v, device=self.device).to(
            torch.bool if v.dtype == bool else torch.float64)
            for k, v in obs_info.items()} if obs_info else None
        gamma = pl.discount if pl.discount is not None else spec.discount_for()
        self.scheme = Scheme(opts["ltl_reward"], float(opts["zeta"]), float(opts["gamma_b"]),
                             gamma if gamma is not None else 0.99)
        self.tracks = self._build_tracks(reader)
        self.track_names = [t.name for t in self.tracks]
        self.track_roles = [t.role for t in self.tracks]
        self.n_states = [t.n for t in self.tracks]
        self._init_q = torch.tensor([t.init for t in self.tracks], dtype=torch.int64,
                                    device=self.device)
        self._offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(self.n_states)[:-1]])
                                        if self.tracks else np.zeros(0), dtype=torch.int64,
                                        device=self.device)
        self.n_env_actions = action_space.n if isinstance(action_space, spaces.Discrete) \
            else None
        self.n_extra_actions = max((t.eps.shape[1] for t in self.tracks), default=0)
        if self.n_extra_actions and self.n_env_actions is None:
            raise ObjlangError(f"the automaton of '{pl.formula}' is nondeterministic and the "
                               f"env's actions are not Discrete, so its choices cannot be "
                               f"added as actions", None, "use options { ltl_reward: parity } "
                               "(a deterministic parity automaton)", spec.source)
        self._state_tracks = any(t.role != "machine" for t in self.tracks)
        self._compile_rewards(reader)
        self._compile_labels()
        self.generator = torch.Generator(device=self.device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))

    # ---- compilation -------------------------------------------------------------
    def _build_tracks(self, reader: Reader) -> list[_Track]:
        from ..automata import automaton_of

        pl, opts, spec, ops, info = self.plan, self.options, self.spec, self.ops, self._obs_info
        tracks = []
        if pl.mode == "ltl":
            kind = opts["automaton"] or ("parity" if self.scheme.automaton == "parity"
                                         else _buchi_kind(spec, pl.formula))
            tracks.append(_Track(automaton_of(spec, pl.formula, kind), "scheme", reader, ops,
                                 self.scheme, info))
        elif pl.mode == "ltlf":
            tracks.append(_Track(automaton_of(spec, pl.formula), "ltlf", reader, ops, None, info))
        for m in pl.machines:
            tracks.append(_Track(automaton_of(spec, m), "machine", reader, ops, None, info))
        for f in pl.monitors:
            tracks.append(_Track(automaton_of(spec, f), "monitor", reader, ops, None, info))
        return tracks

    def _compile_rewards(self, reader: Reader) -> None:
        pl, spec, ops = self.plan, self.spec, self.ops
        # every reward term that is an expression, over all components, in one Transition
        exprs, whats, names, self._terms = [], [], [], []
        for comp in pl.components:
            row = []
            for t in comp:
                if t.machine is not None:
                    row.append((t.weight, self.track_names.index(t.machine), None))
                    continue
                row.append((t.weight, None, len(exprs)))
                exprs.append(t.expr)
                whats.append(f"reward term '{t.expr}'")
                names.append(getattr(t.expr, "name", None))
            self._terms.append(row)
        self._term_values = Transition(exprs, whats, reader, ops, names=names,
                                       obs_info=self._obs_info) if exprs else None
        costs = [d.name for d in spec.of_type(n.RewardDecl) if d.cost]
        self._costs = Transition([sym.name(c) for c in costs], [f"cost '{c}'" for c in costs],
                                 reader, ops, names=costs, obs_info=self._obs_info) \
            if costs else None
        self.cost_names = costs + [t.name for t in self.tracks if t.role == "monitor"]
        self._terminal = compile_real(pl.terminal, self.scope, ops=ops) \
            if pl.mode == "terminal" else None
        self._gamma = pl.discount if pl.aggregate == "discounted" and \
            pl.discount is not None else 1.0

    def _compile_labels(self) -> None:
        """``info["labels"]`` columns: each prop read from the letter of the last
        non-machine track that reads it (one gather and a shift per step)."""
        cols, bits, names = [], [], []
        for i, t in enumerate(self.tracks):
            if t.role == "machine":
                continue
            for p in t.props:
                if p in names:
                    cols[names.index(p)], bits[names.index(p)] = i, t.bits[p]
                else:
                    names.append(p)
                    cols.append(i)
                    bits.append(t.bits[p])
        self.prop_names = names
        self._label_cols = torch.as_tensor(cols, dtype=torch.int64, device=self.device)
        self._label_bits = torch.as_tensor(bits, dtype=torch.int64, device=self.device)

    # ---- running -----------------------------------------------------------------
    def seed(self, seed: int) -> None:
        """Reseed the generator of the schemes' uniforms."""
        self.generator.manual_seed(int(seed))

    def _external(self, obs, info) -> dict:
        return {p: f(obs, info) for p, f in self.external.items()}

    def reset(self, obs, info=None) -> dict:
        """The state after the reset observation ``obs`` (and its ``info``): a dict of
        tensors, ``"q"`` int64 ``(B, n_tracks)``; automata read the reset label."""
        check_device(obs, self.device, "obs")
        check_device(info, self.device, "info")
        B = batch_size(obs)
        dev = self.device
        q = self._init_q.repeat(B, 1)
        letters = torch.zeros_like(q)
        sink = torch.zeros(B, dtype=torch.bool, device=dev)
        ext = self._external(obs, info) if self.external else {}
        for i, t in enumerate(self.tracks):
            if t.role == "machine":
                continue
            letter = t.read(obs, info, ext)
            q[:, i] = t.delta[t.init * t.L + letter]
            letters[:, i] = letter
            sink |= t.sink[q[:, i]]
        state = {"q": q, "letters": letters, "sink": sink}
        if self.n_extra_actions:
            state["eps_run"] = torch.zeros(B, dtype=torch.int64, device=dev)
        if self.plan.mode == "terminal":
            state["returns"] = torch.zeros((B, len(self.plan.components)), dtype=torch.float64,
                                           device=dev)
            state["scale"] = torch.ones(B, dtype=torch.float64, device=dev)
        return state

    def reset_where(self, state: dict, mask, obs, info=None) -> dict:
        """``state`` with the elements of ``mask`` reset on ``obs`` (the whole batch's
        observations after the env's ``reset_where(mask)``)."""
        fresh = self.reset(obs, info)
        return {k: torch.where(mask.reshape((-1,) + (1,) * (v.ndim - 1)), fresh[k], v)
                for k, v in state.items()}

    def labels(self, state: dict) -> torch.Tensor:
        """bool ``(B, len(prop_names))``: the props of the last labels the automata read."""
        letters = state["letters"].index_select(1, self._label_cols)
        return (letters >> self._label_bits) & 1 == 1

    def one_hot(self, state: dict) -> torch.Tensor:
        """float32 ``(B, sum(n_states))``: one one-hot block per track, for policies."""
        q = state["q"]
        out = torch.zeros((q.shape[0], sum(self.n_states)), dtype=torch.float32,
                          device=self.device)
        return out.scatter_(1, q + self._offsets, 1.0)

    def _values(self, obs, action, next_obs, env_reward, info, next_info) -> dict:
        B = batch_size(obs)
        if env_reward is None:
            env_reward = torch.zeros(B, dtype=torch.float64, device=self.device)
        values = {"obs": obs, "action": action, "next": next_obs, "env_reward": env_reward,
                  "info": info if info is not None else {},
                  "next_info": next_info if next_info is not None else {}}
        if self.external:
            values["props"] = self._external(obs, info)
            values["next_props"] = self._external(next_obs, next_info)
        return values

    def step(self, state: dict, obs, action, next_obs, env_reward=None, info=None,
             next_info=None, env_terminated=None, env_truncated=None, u=None):
        """One transition of every element: ``(state, reward, cost, terminated, info)``
        as in docs/torch.md (``u``: the schemes' uniforms, float ``(B,)``)."""
        dev = self.device
        for x, what in ((obs, "obs"), (action, "action"), (next_obs, "next_obs"),
                        (env_reward, "env_reward"), (info, "info"), (next_info, "next_info"),
                        (env_terminated, "env_terminated"), (env_truncated, "env_truncated"),
                        (u, "u")):
            check_device(x, dev, what)
        B = batch_size(obs)
        false = torch.zeros(B, dtype=torch.bool, device=dev)
        term = false if env_terminated is None else env_terminated.to(torch.bool)
        trunc = false if env_truncated is None else env_truncated.to(torch.bool)
        is_eps = None
        if self.n_extra_actions:
            is_eps = action >= self.n_env_actions
            # ε-actions step no env: read their transitions with a valid action, then drop them
            action = torch.where(is_eps, torch.zeros_like(action), action)
        values = self._values(obs, action, next_obs, env_reward, info, next_info)
        ext = values.get("next_props", {})
        q_old = state["q"]
        q_cols, letter_cols = list(q_old.unbind(1)), list(state["letters"].unbind(1))
        accepting, sink = false, false
        reward = torch.zeros(B, dtype=torch.float64, device=dev)
        discount = None
        machine_r = {}
        monitor_costs = []
        for i, t in enumerate(self.tracks):
            q = q_cols[i]
            if t.role == "machine":
                idx = q * t.L + t.read(values)
                q_cols[i] = q2 = take(t.delta, idx)
                machine_r[i] = self._edge_reward(t, idx, values)
                newly = take(t.final, q2) & ~take(t.final, q)
                accepting, term = accepting | newly, term | newly
                continue
            letter = t.read(next_obs, next_info, ext)
            idx = q * t.L + letter
            q2 = take(t.delta, idx)
            q_cols[i], letter_cols[i] = q2, letter
            if t.role == "ltlf":
                final = take(t.final, q2)
                if self.options["ltlf_terminate"]:
                    term = term | final
                accepting = (term | trunc) & final
                reward = reward + accepting
                sink = sink | take(t.sink, q2)
            elif t.role == "monitor":
                monitor_costs.append(take(t.sink, q2) & ~take(t.sink, q))
            else:
                reward, accepting, term, discount = self._scheme_step(
                    t, idx, q2 * t.L + letter, term, reward, u, B)
                sink = sink | take(t.sink, q2)
        q_new = _columns(q_cols, q_old)
        # machines read no state letter: without formulas or monitors the letters stay
        letters = _columns(letter_cols, state["letters"]) if self._state_tracks \
            else state["letters"]
        term = term | sink
        mode = self.plan.mode
        out_state = {"q": q_new, "letters": letters, "sink": sink}
        info_out = {}
        if mode in ("return", "vector", "terminal"):
            terms = mode == "return" and len(self._terms[0]) > 1
            comps, parts = self._component_rewards(values, machine_r, terms)
            if mode == "terminal":
                rewards = torch.stack(comps, dim=1)
                returns = state["returns"] + state["scale"][:, None] * rewards
                scale = state["scale"] * self._gamma
                f = self._terminal({"env_reward": returns})
                reward = torch.where(term | trunc, f, torch.zeros_like(f))
                out_state["returns"], out_state["scale"] = returns, scale
            elif mode == "return":
                reward = comps[0]
                if terms:
                    info_out["rewards"] = parts.to(torch.float32)
            else:
                reward = torch.stack(comps, dim=1)
        costs = [] if self._costs is None else [self._costs(values)]
        if monitor_costs:
            costs.append(torch.stack(monitor_costs, dim=1))
        cost = costs[0] if len(costs) == 1 else torch.cat([c.double() for c in costs], dim=1) \
            if costs else torch.zeros((B, 0), dtype=torch.float64, device=dev)
        if is_eps is not None:
            reward, cost, term, accepting, sink, out_state, truncated = self._epsilon(
                state, out_state, is_eps, action, reward, cost, term, accepting, sink)
            info_out["truncated"] = truncated
            info_out["epsilon"] = is_eps
        info_out.update(accepting=accepting, sink=sink, labels=self.labels(out_state))
        if discount is not None:
            info_out["discount"] = discount.to(torch.float32)
        return out_state, reward.to(torch.float32), cost.to(torch.float32), term, info_out

    @staticmethod
    def _edge_reward(t: _Track, idx, values) -> torch.Tensor:
        """float64, idx's shape (``(B,)`` or ``(B, n)``): the reward of the machine
        edges ``idx`` (0 where the machine stays)."""
        if t.const_reward is not None:
            return take(t.const_reward, idx)
        k = take(t.edge, idx)
        r = t.edge_rewards(values).gather(1, k.clamp(min=0).reshape(k.shape[0], -1))
        r = r.reshape(k.shape)
        return torch.where(k >= 0, r, torch.zeros_like(r))

    def _scheme_step(self, t: _Track, idx, idx2, term, reward, u, B):
        """The reward scheme on the formula's edge ``idx`` (or, where the env ended,
        the tail: the label repeated forever from the edge's target, ``idx2``)."""
        multi = self.scheme.name == "multi-discount"
        emulate = multi and self.options["emulate_discount"]
        if t.random or emulate:
            if u is None:
                u = torch.rand(B, dtype=torch.float64, device=self.device,
                               generator=self.generator)
            u = u.to(torch.float64)
        if t.random:
            stop = u < take(t.threshold, idx)
            r = torch.where(stop, take(t.stop_r, idx), take(t.go_r, idx))
        else:  # no edge stops at random: no uniform needed
            stop, r = None, take(t.go_r, idx)
        d = take(t.disc, idx) if multi else None
        if emulate:
            stop = u > d if stop is None else stop | (u > d)
        tail = take(t.tail, idx2)
        reward = reward + torch.where(term, tail, r)
        accepting = torch.where(term, tail > 0.0, take(t.accepting, idx))
        # the env's own end pays the tail and stops no further
        return reward, accepting, term if stop is None else term | stop, d

    def _component_rewards(self, values, machine_r, terms: bool):
        """Each component's reward, float64 ``(B,)``, and (``terms``) the first
        component's unweighted terms ``(B, n_terms)``."""
        x = self._term_values(values) if self._term_values is not None else None
        comps = []
        for row in self._terms:
            total = None
            for w, m, j in row:
                p = machine_r[m] if m is not None else x[:, j]
                # w * p is p when w is 1: no multiplication, the same number
                p = p if w == 1.0 else w * p
                total = p if total is None else total + p
            comps.append(total if total is not None else
                         torch.zeros(batch_size(values["obs"]), dtype=torch.float64,
                                     device=self.device))
        parts = torch.stack([machine_r[m] if m is not None else x[:, j]
                             for _, m, j in self._terms[0]], dim=1) if terms else None
        return comps, parts

    def _epsilon(self, state, out_state, is_eps, action, reward, cost, term, accepting, sink):
        """Elements that took an ε-action: the j-th ε-move of the first track that has
        one, nothing else (as the gym wrapper's ε-step)."""
        q_old = state["q"]
        j = action - self.n_env_actions
        q_eps, moved = q_old.clone(), torch.zeros_like(is_eps)
        for i, t in enumerate(self.tracks):
            width = t.eps.shape[1]
            if not width:
                continue
            target = t.eps[q_old[:, i], j.clamp(0, width - 1)]
            m = is_eps & ~moved & (j < width) & (target >= 0)
            q_eps[:, i] = torch.where(m, target, q_old[:, i])
            moved = moved | m
        col = is_eps[:, None]
        out = dict(out_state)
        out["q"] = torch.where(col, q_eps, out_state["q"])
        out["letters"] = torch.where(col, state["letters"], out_state["letters"])
        out["sink"] = out_state["sink"] & ~is_eps
        run = torch.where(is_eps, state["eps_run"] + 1, torch.zeros_like(state["eps_run"]))
        out["eps_run"] = run
        for key in ("returns", "scale"):
            if key in state:
                out[key] = torch.where(is_eps.reshape((-1,) + (1,) * (state[key].ndim - 1)),
                                       state[key], out_state[key])
        keep = ~is_eps
        reward = reward * (keep if reward.ndim == 1 else keep[:, None])
        truncated = is_eps & (run > max(self.n_states))
        return (reward, cost * keep[:, None], term & keep, accepting & keep, sink & keep, out,
                truncated)

    # ---- counterfactual experience (CRM) ---------------------------------------------
    def counterfactuals(self, obs, action, next_obs, env_reward=None, info=None,
                        next_info=None, env_terminated=None) -> dict:
        """The transition under every state of the first machine (else of the formula's
        automaton) at once, for counterfactual experience (CRM, Toro Icarte et al. 2022):
        ``"q"`` (n,), ``"next_q"`` int64, ``"reward"`` float32, ``"terminated"``,
        ``"accepting"`` bool, all ``(B, n)`` (reward ``(B, n, k)`` for vectors). Under an
        LTL reward scheme ``"reward"`` is the expected reward of the edge and ``"stop"``
        the probability that the scheme ends the episode there (docs/torch.md)."""
        dev = self.device
        for x, what in ((obs, "obs"), (action, "action"), (next_obs, "next_obs"),
                        (env_reward, "env_reward"), (info, "info"), (next_info, "next_info"),
                        (env_terminated, "env_terminated")):
            check_device(x, dev, what)
        i = next((k for k, r in enumerate(self.track_roles) if r == "machine"), None)
        if i is None:
            i = next((k for k, r in enumerate(self.track_roles) if r in ("scheme", "ltlf")),
                     None)
        if i is None:
            raise ObjlangError(f"objective '{self.plan.objective}': counterfactuals need a "
                               f"machine or an LTL formula in the objective")
        t = self.tracks[i]
        B = batch_size(obs)
        env_term = torch.zeros(B, dtype=torch.bool, device=dev) if env_terminated is None \
            else env_terminated.to(torch.bool)
        values = self._values(obs, action, next_obs, env_reward, info, next_info)
        qs = torch.arange(t.n, device=dev)
        if t.role == "machine":
            return self._machine_counterfactuals(i, t, qs, values, env_term)
        letter = t.read(next_obs, next_info, values.get("next_props", {}))
        nxt = take(t.delta_t, letter)
        final_or_sink = take(t.sink, nxt) | env_term[:, None]
        out = {"q": qs, "next_q": nxt}
        if t.role == "ltlf":
            end = env_term[:, None] | (take(t.final, nxt) if self.options["ltlf_terminate"]
                                       else torch.zeros_like(nxt, dtype=torch.bool))
            accepting = end & take(t.final, nxt)
            out.update(reward=accepting.to(torch.float32), accepting=accepting,
                       terminated=end | take(t.sink, nxt))
            return out
        p = take(t.threshold_t, letter)
        expected = p * take(t.stop_r_t, letter) + (1.0 - p) * take(t.go_r_t, letter)
        stop = p
        if self.scheme.name == "multi-discount":
            d = take(t.disc_t, letter)
            if self.options["emulate_discount"]:  # the discount is a stop
                stop = 1.0 - d
            else:
                out["discount"] = d.to(torch.float32)
        tail = take(t.tail, nxt * t.L + letter[:, None])
        ended = env_term[:, None]
        out.update(reward=torch.where(ended, tail, expected).to(torch.float32),
                   accepting=torch.where(ended, tail > 0.0, take(t.accepting_t, letter)),
                   terminated=final_or_sink,
                   stop=torch.where(final_or_sink, torch.ones_like(stop), stop).to(
                       torch.float32))
        return out

    def _machine_counterfactuals(self, i: int, t: _Track, qs, values, env_term) -> dict:
        letter = t.read(values)
        nxt = take(t.delta_t, letter)                 # (B, n)
        idx = qs[None, :] * t.L + letter[:, None]     # edge (q, letter) of every q
        machine_r = self._edge_reward(t, idx, values)
        newly = take(t.final, nxt) & ~t.final[None, :]
        out = {"q": qs, "next_q": nxt, "accepting": newly, "terminated": newly | env_term[:, None]}
        if self.plan.mode not in ("return", "vector"):
            out["reward"] = machine_r.to(torch.float32)
            return out
        others = [m for row in self._terms for _, m, _ in row if m is not None and m != i]
        if others:
            raise ObjlangError(f"objective '{self.plan.objective}': counterfactuals need "
                               f"rewards that read one machine, not "
                               f"{', '.join(sorted({self.track_names[m] for m in others}))} too")
        x = self._term_values(values) if self._term_values is not None else None
        comps = []
        for row in self._terms:
            total = torch.zeros(idx.shape, dtype=torch.float64, device=self.device)
            for w, m, j in row:
                total = total + w * (machine_r if m is not None else x[:, j, None])
            comps.append(total)
        reward = comps[0] if self.plan.mode == "return" else torch.stack(comps, dim=2)
        out["reward"] = reward.to(torch.float32)
        return out


def _columns(cols: list, old: torch.Tensor) -> torch.Tensor:
    """Per-track columns ``(B,)`` as one ``(B, n_tracks)`` tensor."""
    if len(cols) == 1:
        return cols[0][:, None]
    return torch.stack(cols, 1) if cols else old


def compile_torch(spec, objective: str | None = None, device="cpu", *, env=None,
                  props: Mapping[str, Callable] | None = None, seed: int | None = None,
                  **options) -> ObjectiveModule:
    """An objective of ``spec`` (a checked spec or a path) as a batched torch module on
    ``device`` (see docs/torch.md).

    The env's spaces come from ``env`` (a gymnasium env, or a batched env with
    ``single_observation_space``), else from the spec's own env. ``props`` gives
    ``external`` props as batched ``fn(obs, info) -> bool (B,)``; ``seed`` seeds the
    schemes' uniforms; other options as the gym wrapper's (``ltl_reward``, ``zeta``, ...).

    >>> import objlang, torch
    >>> mod = objlang.compile_torch("examples/frozenlake/safe_goal.obj", "reach")
    >>> state = mod.reset(torch.tensor([0, 0]))
    >>> state["q"].tolist(), mod.n_states, mod.track_roles
    ([[0], [0]], [3], ['scheme'])
    """
    from .. import load

    loaded = spec if isinstance(spec, n.Spec) else load(spec)
    if env is None:
        from ..gym import base_env

        env = base_env(loaded, max_episode_steps=options.get("max_episode_steps"))
        env.close()
    # a batched env's spaces are those of one element
    batched = hasattr(env, "single_observation_space")
    obs_space = env.single_observation_space if batched else env.observation_space
    act_space = env.single_action_space if batched else env.action_space
    return ObjectiveModule(loaded, objective, device, obs_space, act_space, props, seed, options,
                           obs_info(env, obs_space))
