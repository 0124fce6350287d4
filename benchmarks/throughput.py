"""Env + objective steps per second: batched torch against gymnasium vector envs.

    python benchmarks/throughput.py [--spec examples/officeworld/deliver_coffee.obj]
                                    [--batches 1,16,256,4096,65536] [--seconds 1.0]
                                    [--devices cpu,cuda] [--sync-max 4096] [--threads N]

In one run, for each batch size B it measures, on the same task (an office-world
reward machine by default) with uniformly random actions:

``sync``
    ``gymnasium.vector.SyncVectorEnv`` of B copies of ``objlang.make(spec)``: the
    gymnasium env stepped by the compiled gymnasium wrapper, one Python step per
    element (skipped above ``--sync-max``: it grows linearly and takes minutes);
``torch-<device>``
    ``objlang.envs.batched.make_batched`` + ``objlang.compile_torch`` on that device:
    env transition, labels, automaton/machine gathers, rewards and resets of done
    elements as batched tensor code.

A *product step* is one env step of one element with its objective step. The table
gives product steps per second (median of ``--rounds`` timed rounds of about
``--seconds`` each, after a warm-up) and the speed-up of each torch column over
``sync`` at the same batch size. CUDA columns need a GPU (``--devices cpu,cuda``);
times on CUDA are taken after ``torch.cuda.synchronize()``.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

import objlang


def sync_rate(spec, objective, batch: int, seconds: float, rounds: int) -> float:
    """Product steps per second of SyncVectorEnv over the compiled gymnasium env."""
    import gymnasium

    envs = gymnasium.vector.SyncVectorEnv(
        [lambda: objlang.make(spec, objective=objective) for _ in range(batch)])
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    n_act = envs.single_action_space.n

    def run(k):
        for _ in range(k):
            envs.step(rng.integers(0, n_act, size=batch))

    rate = _timed(run, batch, seconds, rounds, sync=lambda: None)
    envs.close()
    return rate


def torch_rate(spec, objective, batch: int, device: str, seconds: float, rounds: int) -> float:
    """Product steps per second of the batched env with the compiled torch objective."""
    import torch

    from objlang.envs.batched import make_batched

    env = make_batched(spec, batch, device=device, seed=0)
    mod = objlang.compile_torch(spec, objective=objective, device=device)
    obs, info = env.reset(seed=0)
    state = mod.reset(obs, info)
    n_act = env.single_action_space.n
    gen = torch.Generator(device=device).manual_seed(0)
    box = {"obs": obs, "info": info, "state": state}

    def run(k):
        obs, info, state = box["obs"], box["info"], box["state"]
        for _ in range(k):
            action = torch.randint(0, n_act, (batch,), device=device, generator=gen)
            nxt, r, term, trunc, ninfo = env.step(action)
            state, reward, cost, done, oinfo = mod.step(
                state, obs, action, nxt, r, info=info, next_info=ninfo,
                env_terminated=term, env_truncated=trunc)
            done = done | trunc
            obs, info = env.reset_where(done)
            fresh = mod.reset(obs, info)
            state = {key: torch.where(_rows(done, v), fresh[key], v)
                     for key, v in state.items()}
        box.update(obs=obs, info=info, state=state)

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return _timed(run, batch, seconds, rounds, sync)


def _rows(mask, like):
    """``mask`` (B,) shaped to broadcast over ``like``'s trailing axes."""
    return mask.reshape(mask.shape + (1,) * (like.dim() - 1))


def _timed(run, batch: int, seconds: float, rounds: int, sync) -> float:
    """Median rate over ``rounds`` rounds, each sized to take about ``seconds``."""
    run(2)  # warm-up: first calls allocate, compile kernels, fill caches
    sync()
    k, elapsed = 1, 0.0
    while elapsed < seconds / 4:  # calibrate the number of steps per round
        t = time.perf_counter()
        run(k)
        sync()
        elapsed = time.perf_counter() - t
        if elapsed < seconds / 4:
            k *= 2
    k = max(1, int(k * seconds / max(elapsed, 1e-9)))
    rates = []
    for _ in range(rounds):
        t = time.perf_counter()
        run(k)
        sync()
        rates.append(k * batch / (time.perf_counter() - t))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default="examples/officeworld/deliver_coffee.obj")
    ap.add_argument("--objective", default=None)
    ap.add_argument("--batches", default="1,16,256,4096,65536")
    ap.add_argument("--devices", default="cpu")
    ap.add_argument("--sync-max", type=int, default=4096)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's); 1 on a machine shared with "
                         "other busy processes, where spinning threads slow each other down")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    spec = objlang.load(args.spec)
    batches = [int(b) for b in args.batches.split(",")]
    devices = [d for d in args.devices.split(",") if d]
    if any(d.startswith("cuda") for d in devices) and not torch.cuda.is_available():
        raise SystemExit("--devices names cuda but torch sees no GPU")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"# {args.spec}, objective {args.objective or '(the only one)'}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), GPU: {gpu}")
    cols = ["sync"] + [f"torch-{d}" for d in devices]
    print("| batch | " + " | ".join(f"{c} steps/s" for c in cols) + " | " +
          " | ".join(f"{c} / sync" for c in cols[1:]) + " |")
    print("|---:|" + "---:|" * (2 * len(cols) - 1))
    for b in batches:
        sync = sync_rate(spec, args.objective, b, args.seconds, args.rounds) \
            if b <= args.sync_max else None
        rates = [torch_rate(spec, args.objective, b, d, args.seconds, args.rounds)
                 for d in devices]
        cells = [f"{sync:,.0f}" if sync else "—"] + [f"{r:,.0f}" for r in rates]
        ratios = [f"{r / sync:,.0f}×" if sync else "—" for r in rates]
        print(f"| {b:,} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |",
              flush=True)


if __name__ == "__main__":
    main()
