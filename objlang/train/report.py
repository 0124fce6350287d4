"""What a training run shows and leaves behind: the progress bar on stderr, the
metrics as CSV and JSON, the learning curve as a PNG (with matplotlib, when
installed) and the policy's checkpoint (``torch.save`` of its ``state_dict()``)."""
from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path


class Progress:
    """A one-line progress bar on stderr: steps done, the latest return, success
    rate and exact value. On a terminal it redraws in place (at most 10 times a
    second); elsewhere it prints a line every 10% of the run."""

    def __init__(self, total: int, enabled: bool = True, stream=None):
        self.total, self.enabled = max(int(total), 1), enabled
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_draw, self.last_tenth = 0.0, -1
        self.shown: dict = {}

    def update(self, steps: int, row: dict) -> None:
        if not self.enabled:
            return
        self.shown.update({k: v for k, v in row.items() if v is not None})
        now, tenth = time.monotonic(), 10 * steps // self.total
        if self.tty and (now - self.last_draw >= 0.1 or steps >= self.total):
            self.last_draw = now
            self.stream.write("\r" + self.line(steps) + "\033[K")
        elif not self.tty and tenth > self.last_tenth:
            self.last_tenth = tenth
            self.stream.write(self.line(steps) + "\n")
        self.stream.flush()

    def line(self, steps: int) -> str:
        frac = min(steps / self.total, 1.0)
        bar = "#" * int(24 * frac)
        parts = [f"[{bar:<24}] {100 * frac:5.1f}% {steps}/{self.total} steps"]
        for key in ("return", "success", "value"):
            if isinstance(self.shown.get(key), (int, float)):
                parts.append(f"{key} {self.shown[key]:.3f}")
        return "  ".join(parts)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def write_files(out_dir: Path, report: dict, rows: list[dict], policy) -> dict:
    """Write metrics.csv, metrics.json, curve.png (with matplotlib) and checkpoint.pt
    into ``out_dir``; returns ``{kind: path}`` of what was written."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"metrics_csv": out_dir / "metrics.csv", "metrics_json": out_dir / "metrics.json"}
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(files["metrics_csv"], "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    if policy is not None and hasattr(policy, "state_dict"):
        files["checkpoint"] = out_dir / "checkpoint.pt"
        torch.save(policy.state_dict(), files["checkpoint"])
    png = out_dir / "curve.png"
    if plot_curve(png, rows, report):
        files["curve_png"] = png
    out = {k: str(v) for k, v in files.items()}
    files["metrics_json"].write_text(json.dumps({**report, "files": out, "curve": rows},
                                                indent=2), "utf-8")
    return out


def plot_curve(path: Path, rows: list[dict], report: dict) -> bool:
    """The learning curve (return, success, exact value against env steps, the
    optimum as a line); False when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("return", "success", "value"):
        pts = [(r["steps"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        if pts:
            ax.plot(*zip(*pts), label=key)
        # vector objectives: one line per component
        vecs = [(r["steps"], r[key]) for r in rows if isinstance(r.get(key), list)]
        for i in range(len(vecs[0][1]) if vecs else 0):
            ax.plot([st for st, _ in vecs], [v[i] for _, v in vecs], label=f"{key}[{i}]")
    opt = report.get("final", {}).get("optimum")
    if isinstance(opt, (int, float)):
        ax.axhline(opt, color="gray", linestyle="--", label="optimum")
    ax.set_xlabel("env steps")
    ax.set_title(f"{report['objective']} on {report['env']} ({report['trainer']})")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
