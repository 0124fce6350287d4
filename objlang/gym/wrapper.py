"""The compiled env: a gymnasium wrapper that carries an objective.

What it reports follows architecture.md ("What a compiled env reports"):

* observation: the env's own when the objective needs no memory; otherwise
  ``Dict({"obs": <env space>, "automaton": MultiDiscrete([n1, ...])})`` with one
  entry per automaton (formula, machine, chance-constraint monitor), or with
  ``flatten=True`` a flat float32 ``Box``: the env observation flattened
  (``Discrete`` one-hot) followed by one one-hot block per automaton. The
  ``terminal`` form adds ``"returns"`` (the running returns) and ``"scale"``
  (the discount γᵗ of the next reward);
* reward: a float, or a float32 vector (``reward_space`` on ``env.unwrapped``);
* ``info["objlang"] = {"q": [...], "accepting": bool, "sink": bool,
  "labels": {prop: bool}}`` (plus ``"rewards"``, the reward vector, for
  scalarised forms); ``info["cost"] = {cost name: value}`` for every declared
  cost and every chance-constraint monitor (1.0 on the step its formula is
  violated for good); ``info["discount"]`` under ``multi-discount``;
* termination: the env's own, a rejecting sink, a final machine state, the
  ζ-jump of a scheme, or an accepting ltlf DFA with ``ltlf_terminate``.

Automata read the label of the reset observation, then one label per step; a
machine reads one letter per transition (o_t, a_t, o_{t+1}). When the env
terminates, the final label repeats forever: ``accepting`` says whether that
tail is accepted and ``sink`` whether it is not.

Nondeterministic (good-for-MDPs) automata add actions: with a ``Discrete(n)``
env action space the compiled space is ``Discrete(n + k)``; action ``n + j``
takes the j-th ε-move of the automaton (no env step, reward 0; a move that
does not exist leaves the automaton where it is, and more consecutive ε-actions
than the automaton has states truncate the episode).
"""
from __future__ import annotations

import math
import random
from typing import Callable, Mapping

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.utils import RecordConstructorArgs

from ..errors import ObjlangError
from ..ir import nodes as n
from ..ir import sym
from .labels import Reader, obs_info
from .plan import Plan, plan
from .schemes import SCHEMES, Scheme

#: at most this many (label dict, automaton-state array) pairs are kept for reuse
SEEN = 1 << 12

#: no external prop values, no machine rewards: shared, never changed
_EMPTY: dict = {}

#: attributes that _compile builds (closures): not pickled, rebuilt on unpickling
_COMPILED = ("_reader", "_tracks", "_rewards", "_costs", "_machine_index", "_f",
             "_monitor_steps", "_state_tracks", "_pieces")

#: options a spec's ``options {}`` block, keywords or CLI flags may set
DEFAULTS = {"ltl_reward": "zeta-reach", "zeta": 0.99, "gamma_b": 0.99, "flatten": False,
            "emulate_discount": False, "ltlf_terminate": False, "automaton": None,
            "max_episode_steps": 200}


def options_of(spec: n.Spec, overrides: Mapping | None = None) -> dict:
    """The compiler options: defaults, then the spec's ``options``, then ``overrides``."""
    from ..finite.extract import literal

    out = dict(DEFAULTS)
    for d in spec.of_type(n.OptionsDecl):
        out.update({k: literal(v) for k, v in d.items})
    out.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = sorted(set(out) - set(DEFAULTS))
    if unknown:
        raise ObjlangError(f"unknown option '{unknown[0]}'", None,
                           "options: " + ", ".join(sorted(DEFAULTS)), spec.source)
    if out["ltl_reward"] not in SCHEMES:
        raise ObjlangError(f"unknown ltl_reward '{out['ltl_reward']}'", None,
                           "schemes: " + ", ".join(SCHEMES), spec.source)
    return out


class _Track:
    """One automaton being walked: its tables and how it reads the env."""

    def __init__(self, auto, role: str, reader: Reader, scheme: Scheme | None):
        self.auto, self.role = auto, role
        self.delta = auto.delta
        self.sink = auto.sink
        self.n = auto.n_states
        self.props = [p for p in auto.props if not p.startswith("_c")]
        self.bits = {p: i for i, p in enumerate(auto.props)}
        conds = [sym.name(p) if p in reader.scope.props else auto.conditions[p]
                 for p in auto.props]
        if role == "machine":
            self.read = self._transition_reader(conds, reader)
            self.edge_reward = [self._edge_reward(e, reader, i)
                                for i, e in enumerate(auto.edge_rewards)]
        else:
            table = reader.letter_table(conds)
            # Discrete observations: the letter of each, which a step reads in place
            self.by_obs = None if table is None else (table.tolist(),
                                                      int(reader.obs_space.start))
            self.read = self._state_reader(conds, reader, self.by_obs)
        self.eps = auto.epsilon_table
        marks = auto.color if auto.acceptance == "parity min even" else auto.accepting
        self.marks = marks
        if role == "scheme":
            self.tail = scheme.tail_values(auto.delta, marks)
        elif role == "monitor" or role == "ltl":
            self.tail = Scheme("zeta-reach" if auto.acceptance == "buchi" else "parity"
                               ).tail_values(auto.delta, marks)
        # what a step reads, as Python lists: indexing one costs a fraction of a
        # numpy scalar lookup and gives Python ints and bools
        self.next_q = auto.delta.tolist()
        self.sink_at = auto.sink.astype(bool).tolist()
        self.final_at = auto.final.astype(bool).tolist() if auto.final is not None else None
        self.edge_at = auto.edge.tolist() if auto.edge is not None else None
        self.mark_at = marks.astype(np.int64).tolist()
        self.accepting_at = (marks > 0 if auto.acceptance == "buchi" else marks % 2 == 0).tolist()
        self.tail_at = self.tail.tolist() if hasattr(self, "tail") else None

    @staticmethod
    def _state_reader(conds, reader: Reader, by_obs) -> Callable:
        if by_obs is not None:
            letters, start = by_obs
            return lambda obs, info, ext: letters[obs - start]
        # compiled (and checked on the space) in any case; Python floats when they can
        fns = [reader.condition(c, *reader.named(c)) for c in conds]
        return reader.scalar_letter(conds) or (
            lambda obs, info, ext: sum(1 << i for i, f in enumerate(fns) if f(obs, info, ext)))

    @staticmethod
    def _transition_reader(conds, reader: Reader) -> Callable:
        fns = [reader.transition(c, f"guard condition '{c}'", boolean=True) for c in conds]
        return lambda *t: sum(1 << i for i, f in enumerate(fns) if f(*t))

    @staticmethod
    def _edge_reward(e, reader: Reader, i: int):
        import sympy

        if e is None:
            return 0.0
        if isinstance(e, sympy.Number):
            return float(e)
        return reader.transition(e, f"the reward of machine edge {i + 1}")

    def labels(self, letter: int) -> dict:
        return {p: bool(letter >> self.bits[p] & 1) for p in self.props}

    # ---- a step of each role, as a closure over the tables -----------------------------
    # ``i`` is the track's index in the wrapper's automaton states ``qs`` and letters;
    # each closure updates both and returns what its role contributes to the step
    # (see ObjlangWrapper.step). Closures, not methods: a step reads no attributes, and
    # the letter of a Discrete observation is a list item, not a call.
    def stepper(self, i: int, scheme: Scheme, rng: random.Random, options: dict) -> Callable:
        """The step of this track (by role), built once at wrap time."""
        return getattr(self, "_" + self.role + "_step")(i, scheme, rng, options)

    def _scheme_step(self, i, scheme, rng, options):
        """The objective's formula under the reward scheme: ``f(qs, letters, obs, info,
        ext, terminated, truncated) -> (reward, accepting, sink, terminated, discount)``."""
        read, next_q, sink_at, tail_at = self.read, self.next_q, self.sink_at, self.tail_at
        accepting_at, mark_at = self.accepting_at, self.mark_at
        by_obs, start = self.by_obs or (None, 0)
        pay, uniform = scheme.step, rng.random
        # every scheme but parity pays, stops and discounts alike on all edges that are
        # not accepting, whatever u: a step takes that from here and draws no u
        idle, draw_always = scheme.step(1.0, False, 0), scheme.name == "parity"
        discounted = scheme.name == "multi-discount"
        emulate = discounted and bool(options["emulate_discount"])

        def step(qs, letters, obs, info, ext, terminated, truncated):
            q = qs[i]
            letters[i] = letter = by_obs[obs - start] if by_obs is not None \
                else read(obs, info, ext)
            qs[i] = q2 = next_q[q][letter]
            if terminated:  # the tail: the final label forever, paid at once
                value = tail_at[q2][letter]
                return value, value > 0.0, sink_at[q2], True, None
            accepting = accepting_at[q][letter]
            r, stop, d = pay(uniform(), accepting, mark_at[q][letter]) \
                if accepting or draw_always else idle
            if not discounted:
                d = None
            elif emulate and uniform() > d:
                stop = True
            return r, accepting, sink_at[q2], stop, d
        return step

    def _ltlf_step(self, i, scheme, rng, options):
        """An ltlf formula, rewarded at the episode's end: same signature as
        :meth:`_scheme_step`."""
        read, next_q, sink_at, final_at = self.read, self.next_q, self.sink_at, self.final_at
        by_obs, start = self.by_obs or (None, 0)
        terminate = bool(options["ltlf_terminate"])

        def step(qs, letters, obs, info, ext, terminated, truncated):
            letters[i] = letter = by_obs[obs - start] if by_obs is not None \
                else read(obs, info, ext)
            qs[i] = q2 = next_q[qs[i]][letter]
            final = final_at[q2]
            if final and terminate:
                terminated = True
            if terminated or truncated:
                return (1.0 if final else 0.0), final, sink_at[q2], terminated, None
            return 0.0, False, sink_at[q2], terminated, None
        return step

    def _monitor_step(self, i, scheme, rng, options):
        """A chance constraint's monitor: ``f(qs, letters, obs, info, ext, costs)`` sets
        its cost, 1.0 on the step its formula is violated for good."""
        read, next_q, sink_at, name = self.read, self.next_q, self.sink_at, self.auto.name
        by_obs, start = self.by_obs or (None, 0)

        def step(qs, letters, obs, info, ext, costs):
            q = qs[i]
            letters[i] = letter = by_obs[obs - start] if by_obs is not None \
                else read(obs, info, ext)
            qs[i] = q2 = next_q[q][letter]
            if sink_at[q2] and not sink_at[q]:
                costs[name] = 1.0
            else:
                costs.setdefault(name, 0.0)
        return step

    def _machine_step(self, i, scheme, rng, options):
        """A reward machine: ``f(qs, transition, machine_rewards) -> bool`` records the
        edge's reward and says whether the machine entered a final state."""
        read, next_q, final_at, edge_at = self.read, self.next_q, self.final_at, self.edge_at
        edge_reward, name = self.edge_reward, self.auto.name

        def step(qs, transition, machine_r):
            q = qs[i]
            letter = read(*transition)
            qs[i] = q2 = next_q[q][letter]
            k = edge_at[q][letter]
            if k >= 0:
                er = edge_reward[k]
                machine_r[name] = er if isinstance(er, float) else er(*transition)
            return final_at[q2] and not final_at[q]
        return step


class ObjlangWrapper(gymnasium.Wrapper, RecordConstructorArgs):
    """An env compiled with an objective of a spec (see the module docstring).

    >>> import gymnasium, objlang
    >>> spec = objlang.loads('prop goal = obs == 15\\nprop hole = obs in {5, 7, 11, 12}\\n'
    ...                      'ltl f = !hole U goal\\nobjective o { maximize P[f] }')
    >>> env = ObjlangWrapper(gymnasium.make("FrozenLake-v1"), spec)
    >>> obs, info = env.reset(seed=1)
    >>> obs, info["objlang"]["q"]
    ({'obs': 0, 'automaton': array([0])}, [0])
    """

    def __init__(self, env: gymnasium.Env, spec, objective: str | None = None,
                 props: Mapping[str, Callable] | None = None, **options):
        RecordConstructorArgs.__init__(self, spec=spec, objective=objective, props=props,
                                       **options)
        gymnasium.Wrapper.__init__(self, env)
        from .. import load

        self.objlang_spec = spec if isinstance(spec, n.Spec) else load(spec)
        self.options = options_of(self.objlang_spec, options)
        self.plan: Plan = plan(self.objlang_spec, objective, self.options)
        self._compile(props)

    # ---- compilation -----------------------------------------------------------------
    def _compile(self, props) -> None:
        import dataclasses

        from ..automata import automaton_of

        pl, opts = self.plan, self.options
        spec = self.objlang_spec
        if pl.formulas:
            spec = dataclasses.replace(spec, decls=spec.decls + tuple(pl.formulas.values()))
        reader = Reader(spec, self.env.observation_space, self.env.action_space, props,
                        obs_info(self.env, self.env.observation_space))
        self._reader = reader
        gamma = pl.discount if pl.discount is not None else spec.discount_for()
        self.scheme = Scheme(opts["ltl_reward"], float(opts["zeta"]), float(opts["gamma_b"]),
                             gamma if gamma is not None else 0.99)
        tracks = []
        if pl.mode == "ltl":
            kind = opts["automaton"] or ("parity" if self.scheme.automaton == "parity"
                                         else _buchi_kind(spec, pl.formula))
            tracks.append(_Track(automaton_of(spec, pl.formula, kind), "scheme", reader,
                                 self.scheme))
        elif pl.mode == "ltlf":
            tracks.append(_Track(automaton_of(spec, pl.formula), "ltlf", reader, None))
        for m in pl.machines:
            tracks.append(_Track(automaton_of(spec, m), "machine", reader, None))
        for f in pl.monitors:
            tracks.append(_Track(automaton_of(spec, f), "monitor", reader, None))
        self._tracks = tracks
        self._machine_index = {t.auto.name: i for i, t in enumerate(tracks)
                               if t.role == "machine"}
        # a term that is one declared reward is located at its declaration in errors
        self._rewards = [[(t.weight, reader.transition(t.expr, f"reward term '{t.expr}'",
                                                       getattr(t.expr, "name", None))
                           if t.expr is not None else None, t.machine) for t in comp]
                         for comp in pl.components]
        self._costs = [(d.name, reader.transition(sym.name(d.name), f"cost '{d.name}'", d.name))
                       for d in spec.of_type(n.RewardDecl) if d.cost]
        self._n_env_actions = (self.env.action_space.n
                               if isinstance(self.env.action_space, spaces.Discrete) else None)
        self._n_eps = max((t.eps.shape[1] for t in tracks), default=0)
        if self._n_eps and self._n_env_actions is None:
            raise ObjlangError(f"the automaton of '{pl.formula}' is nondeterministic and the "
                               f"env's actions are not Discrete, so its choices cannot be "
                               f"added as actions", None, "use options { ltl_reward: parity } "
                               "(a deterministic parity automaton)", spec.source)
        if self._n_eps:
            self.action_space = spaces.Discrete(self._n_env_actions + self._n_eps)
        self._memory = bool(tracks) or pl.mode == "terminal"
        self._flatten = bool(opts["flatten"])
        self._set_spaces()
        # uniforms for the schemes' random stops: the stdlib generator costs a tenth of
        # numpy's per number drawn
        self._u = random.Random()
        # what a step runs, picked here: the step closures of the tracks by role
        steppers = [t.stepper(i, self.scheme, self._u, opts) for i, t in enumerate(tracks)]
        formula = next((f for f, t in zip(steppers, tracks) if t.role in ("scheme", "ltlf")),
                       None)
        machines = [f for f, t in zip(steppers, tracks) if t.role == "machine"]
        self._monitor_steps = [f for f, t in zip(steppers, tracks) if t.role == "monitor"]
        self._state_tracks = [(i, t) for i, t in enumerate(tracks) if t.role != "machine"]
        self._external = bool(reader.external)
        # ltl and ltlf rewards are the schemes' constants; the others come from the spec
        computed = pl.mode in ("return", "vector", "terminal")
        # a step reads these as locals; it builds the transition (o, a, o') only when
        # something reads it
        self._pieces = (self._n_eps, self._external, formula, machines, computed,
                        bool(self._monitor_steps or self._costs),
                        bool(machines or self._costs) or computed)
        # the step's labels and automaton states by states and letters, built on first
        # use: a step copies them instead of building them
        self._seen: dict = {}
        self._no_returns = np.zeros(len(pl.components))
        self._init_q = [int(t.auto.init) for t in tracks]
        self._no_letters = [0] * len(tracks)
        # beyond Dict({"obs", "automaton"}): the running returns, or a flat vector
        self._extended = pl.mode == "terminal" or self._flatten

    def _set_spaces(self) -> None:
        pl = self.plan
        inner = self.env.observation_space
        if self._memory:
            parts = {"obs": inner}
            if self._tracks:
                parts["automaton"] = spaces.MultiDiscrete([t.n for t in self._tracks])
            if pl.mode == "terminal":
                k = len(pl.components)
                parts["returns"] = spaces.Box(-np.inf, np.inf, (k,), np.float64)
                parts["scale"] = spaces.Box(0.0, 1.0, (), np.float64)
            # keys in this order (not sorted): the flat layout is obs, automata, returns
            self._dict_space = spaces.Dict(parts, sort_keys=False)
            flat = spaces.flatten_space(self._dict_space)
            # float32 as _extend emits it, whatever the parts' dtypes (one-hot ints)
            self.observation_space = (spaces.Box(flat.low.astype(np.float32),
                                                 flat.high.astype(np.float32), dtype=np.float32)
                                      if self._flatten else self._dict_space)
        if pl.mode == "vector":
            k = len(pl.components)
            self.env.unwrapped.reward_space = spaces.Box(-np.inf, np.inf, (k,), np.float32)

    # ---- pickling: compiled closures are rebuilt, not pickled ------------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        for key in _COMPILED:
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        saved = (self._q, self._letters, self._returns, self._scale, self._eps_run) \
            if "_q" in state else None
        space, rng = self.observation_space, self._u
        self._compile(self._saved_kwargs.get("props"))
        # _compile starts a fresh generator (the steps draw from it); the copy continues
        # the original's ζ-jumps
        self.observation_space = space
        self._u.setstate(rng.getstate())
        if saved is not None:
            self._q, self._letters, self._returns, self._scale, self._eps_run = saved

    # ---- running -----------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._u.seed(int(seed))  # the state random.Random(seed) starts in
        ext = self._reader.external_values(obs, info) if self._external else _EMPTY
        self._obs, self._info, self._ext = obs, info, ext
        self._q = qs = self._init_q.copy()
        self._letters = letters = self._no_letters.copy()
        sink = False
        for i, t in self._state_tracks:
            letters[i] = letter = t.read(obs, info, ext)
            qs[i] = q = t.next_q[qs[i]][letter]
            sink = sink or t.sink_at[q]
        self._returns = self._no_returns  # never changed in place
        self._scale = 1.0
        self._eps_run = 0
        observation, report = self._outputs(obs, False, sink)
        info = dict(info)
        info["objlang"] = report
        return observation, info

    def step(self, action):
        n_eps, external, formula, machines, computed, costed, transitions = self._pieces
        if n_eps:
            if int(action) >= self._n_env_actions:
                return self._epsilon(int(action) - self._n_env_actions)
            self._eps_run = 0
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        ext = self._reader.external_values(obs, info) if external else _EMPTY
        if transitions:
            transition = (self._obs, action, obs, env_reward, self._info, info, self._ext, ext)
            self._obs, self._info, self._ext = obs, info, ext
        else:  # only ε-actions read the last observation
            transition = None
            if n_eps:
                self._obs, self._info = obs, info
        qs = self._q
        vector = costs = None
        if formula is not None:
            reward, accepting, sink, terminated, discount = formula(
                qs, self._letters, obs, info, ext, terminated, truncated)
        else:
            reward, accepting, sink, discount = 0.0, False, False, None
        machine_r: dict = {} if transitions else _EMPTY
        if machines:
            for advance in machines:
                if advance(qs, transition, machine_r):
                    accepting = terminated = True
        if sink:
            terminated = True
        if computed:
            reward, vector = self._spec_reward(transition, machine_r, terminated or truncated)
        if costed:
            costs = {}
            for advance in self._monitor_steps:
                advance(qs, self._letters, obs, info, ext, costs)
            for name, fn in self._costs:
                costs[name] = fn(*transition)
        observation, report = self._outputs(obs, accepting, sink)
        # the env's info is fresh each step: add to it rather than copy it
        info["objlang"] = report
        if vector is not None:
            report["rewards"] = vector
        if costs is not None:
            info["cost"] = costs
        if discount is not None:
            info["discount"] = discount
        # bool(x), inline
        return observation, reward, True if terminated else False, \
            True if truncated else False, info

    def _epsilon(self, j: int):
        for i, t in enumerate(self._tracks):
            if j < t.eps.shape[1] and t.eps[self._q[i], j] >= 0:
                self._q[i] = int(t.eps[self._q[i], j])
                break
        self._eps_run += 1
        truncated = self._eps_run > max(t.n for t in self._tracks)
        observation, report = self._outputs(self._obs, False, False)
        report["epsilon"] = True
        info = dict(self._info)
        info["objlang"] = report
        return observation, 0.0, False, truncated, info

    def _spec_reward(self, transition, machine_r, last: bool):
        """The reward of a step of the return, vector and terminal modes (``last``: the
        episode ends), and the vector the report carries (None if there is none)."""
        pl = self.plan
        rewards = self._reward_vector(transition, machine_r)
        vector = None
        if pl.mode == "terminal":
            gamma = pl.discount if pl.aggregate == "discounted" and \
                pl.discount is not None else 1.0
            self._returns = self._returns + self._scale * rewards
            self._scale *= gamma
            reward = self._terminal_reward() if last else 0.0
        elif pl.mode == "return":
            reward = float(rewards[0])
            if len(self._rewards[0]) > 1:
                # a weighted sum of returns: the scalar is the reward, its terms the vector
                vector = np.asarray(self._terms, dtype=np.float32)
        else:
            reward = vector = rewards.astype(np.float32)
        if not (math.isfinite(reward) if isinstance(reward, float) else np.isfinite(reward).all()):
            from ..finite.solve import pick_objective

            raise ObjlangError(f"objective '{pl.objective}': the reward of a step is not "
                               f"finite ({reward}) after observation {transition[2]}",
                               pick_objective(self.objlang_spec, pl.objective).loc, None,
                               self.objlang_spec.source)
        return reward, vector

    def _reward_vector(self, transition, machine_r) -> np.ndarray:
        """Each component's reward; the unweighted terms of the first are kept in
        ``_terms`` (a linear scalarisation reports them as its vector)."""
        out = np.zeros(len(self._rewards))
        for c, comp in enumerate(self._rewards):
            terms = [machine_r.get(machine, 0.0) if machine else fn(*transition)
                     for _, fn, machine in comp]
            out[c] = sum(w * x for (w, _, _), x in zip(comp, terms))
            if c == 0:
                self._terms = terms
        return out

    def _terminal_reward(self) -> float:
        from ..ir.evaluate import compile_real

        if not hasattr(self, "_f"):
            self._f = compile_real(self.plan.terminal, self._reader.scope)
        return float(self._f({"env_reward": self._returns[None]})[0])

    def _outputs(self, obs, accepting: bool, sink: bool) -> tuple:
        """The observation of env observation ``obs`` and the ``info["objlang"]`` report
        of the current automaton states and letters."""
        qs = self._q
        key = tuple(qs + self._letters)
        seen = self._seen.get(key)
        if seen is None:
            seen = self._remember(key)
        labels, states = seen
        # accepting and sink are bools (the tables hold Python bools); new containers
        # each time: callers may change theirs
        report = {"q": qs.copy(), "accepting": accepting, "sink": sink,
                  "labels": labels.copy()}
        if not self._memory:
            return obs, report
        out = {"obs": obs, "automaton": states.copy()} if self._tracks else {"obs": obs}
        return (self._extend(out) if self._extended else out), report

    def _remember(self, key: tuple) -> tuple:
        labels: dict = {}
        for i, t in self._state_tracks:
            labels.update(t.labels(self._letters[i]))
        seen = labels, np.array(self._q, dtype=np.int64)
        if len(self._seen) < SEEN:
            self._seen[key] = seen
        return seen

    def _extend(self, out: dict):
        if self.plan.mode == "terminal":
            out["returns"] = self._returns.copy()
            out["scale"] = np.array(self._scale)
        return spaces.flatten(self._dict_space, out).astype(np.float32) if self._flatten \
            else out

    # ---- counterfactual experience for reward machines (CRM) --------------------------
    def counterfactuals(self, obs, action, next_obs, info, next_info=None, env_reward=0.0):
        """The transition (o, a, o') under every state of the first machine at once:
        ``{"q", "next_q", "reward", "terminated"}`` arrays over machine states, for
        counterfactual reasoning about reward machines (CRM, Toro Icarte et al. 2022).
        ``obs``/``next_obs`` are env observations (not the compiled ones)."""
        if not self._machine_index:
            raise ObjlangError("counterfactuals need a machine in the objective")
        i = next(iter(self._machine_index.values()))
        t = self._tracks[i]
        ext = self._reader.external_values(obs, info) if self._reader.external else {}
        ext2 = self._reader.external_values(next_obs, next_info or {}) \
            if self._reader.external else {}
        transition = (obs, action, next_obs, env_reward, info, next_info or {}, ext, ext2)
        letter = t.read(*transition)
        qs = np.arange(t.n)
        nxt = t.delta[:, letter]
        edges = t.auto.edge[:, letter]
        reward = np.array([0.0 if k < 0 else (t.edge_reward[k] if isinstance(
            t.edge_reward[k], float) else t.edge_reward[k](*transition)) for k in edges])
        return {"q": qs, "next_q": nxt, "reward": reward,
                "terminated": t.auto.final[nxt] & ~t.auto.final[qs]}


def _buchi_kind(spec: n.Spec, formula: str) -> str:
    """A deterministic Büchi automaton when φ is a recurrence property, else the
    limit-deterministic (good-for-MDPs) one."""
    from ..automata.ltl import formula_decl, is_recurrence

    return "buchi" if is_recurrence(formula_decl(spec, formula).formula, spec) else "ldba"
