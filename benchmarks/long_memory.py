"""Long-memory table: trains synthetic presets through the launcher and tabulates the results.

    python -m benchmarks.long_memory --root=runs/long_memory \
        --presets=synthetic_adding:lstm,synthetic_adding:gru,synthetic_adding:simple_rnn \
        --table=docs/results/adding.md --figure=docs/results/adding_grad_flow.png

Each preset runs as ``python -m experiments.main --config=configs/<preset>.py:<variant>
--workdir=<root>/<preset>_<variant>`` (extra ``--override`` flags are passed on). A workdir that
already holds ``wall_time.json`` from an earlier run of this script is read, not retrained. The
table gives the test metric of the best checkpoint (chosen on valid), the first evaluation step
at which valid solved the task, and the wall time; the figure puts the gradient-flow heatmaps
(``log10 |dLoss/dh_t|``, time step x training step) of every run side by side on one colour scale.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from absl import app, flags

from benchmarks.machine import hardware
from rnn_research import metrics

ROOT = Path(__file__).resolve().parents[1]

# metric, direction, threshold: when a validation value counts as "solved".
SOLVED = {"adding": ("mse", "min", 0.01), "copy": ("copy_accuracy", "max", 0.99)}

_ROOT = flags.DEFINE_string("root", "runs/long_memory", "Directory holding one workdir per run.")
_PRESETS = flags.DEFINE_list("presets", [], "preset:variant pairs, e.g. synthetic_adding:lstm.")
_OVERRIDES = flags.DEFINE_multi_string("override", [], "Passed to every run, e.g. --override=--config.seed=1.")
_TABLE = flags.DEFINE_string("table", None, "Write the markdown table here (also printed).")
_FIGURE = flags.DEFINE_string("figure", None, "Write the side-by-side gradient-flow figure here.")


def train(preset: str, variant: str, workdir: Path, overrides: list[str]) -> float:
    """Runs the launcher once (or reads the earlier run's wall time); returns wall seconds."""
    record = workdir / "wall_time.json"
    if record.exists():
        return json.loads(record.read_text())["seconds"]
    command = [
        sys.executable,
        "-m",
        "experiments.main",
        f"--config=configs/{preset}.py:{variant}",
        f"--workdir={workdir}",
        *overrides,
    ]
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    seconds = time.perf_counter() - start
    record.write_text(json.dumps({"seconds": seconds, "command": command[1:]}))
    return seconds


def summarise(workdir: Path, seconds: float) -> dict[str, Any]:
    """Best-checkpoint test metric, first solved validation step and wall time of one run."""
    config = json.loads((workdir / "config.json").read_text())
    metric, mode, threshold = SOLVED[config["task"]["name"]]
    records = metrics.read_jsonl(workdir / "metrics.jsonl")
    valid = [r for r in records if r["split"] == "valid"]
    solved = [r["step"] for r in valid if (r[metric] < threshold if mode == "min" else r[metric] > threshold)]
    (best_test,) = [r for r in records if r["split"] == "best_test"]
    return {
        "cell": config["model"]["cell"],
        "seq_len": config["task"]["seq_len"],
        "metric": metric,
        "test": best_test[metric],
        "solved_at": solved[0] if solved else None,
        "steps": max(r["step"] for r in records if r["split"] == "train"),
        "seconds": seconds,
        "threshold": f"{'<' if mode == 'min' else '>'} {threshold}",
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| cell | T | test metric (best checkpoint) | solved (valid "
        + rows[0]["threshold"]
        + ") at step | steps | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        solved = f"{r['solved_at']}" if r["solved_at"] is not None else "not solved"
        lines.append(
            f"| {r['cell']} | {r['seq_len']} | {r['metric']} = {r['test']:.4g} | {solved} | {r['steps']} "
            f"| {r['seconds'] / 60:.1f} min |"
        )
    return "\n".join(lines)


def figure(workdirs: list[Path], titles: list[str], out: Path) -> None:
    """Heatmaps of ``log10 |dLoss/dh_t|`` of every run, side by side, one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = []
    for workdir in workdirs:
        records = [json.loads(line) for line in (workdir / "diagnostics.jsonl").read_text().splitlines()]
        layer = next(k for k in records[0] if k != "step")
        values = np.array([r[layer] for r in records], np.float64)
        with np.errstate(divide="ignore"):
            maps.append((np.log10(np.where(values > 0, values, np.nan)), [r["step"] for r in records]))
    finite = np.concatenate([m[np.isfinite(m)] for m, _ in maps])
    vmin, vmax = np.percentile(finite, 1), finite.max()
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 3.4), sharey=True, squeeze=False)
    for ax, (matrix, steps), title in zip(axes[0], maps, titles):
        image = ax.imshow(
            matrix,
            aspect="auto",
            origin="lower",
            vmin=vmin,
            vmax=vmax,
            cmap="viridis",
            extent=(0, matrix.shape[1], steps[0], steps[-1]),
            interpolation="nearest",
        )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("time step t")
    axes[0][0].set_ylabel("training step")
    fig.colorbar(image, ax=axes[0].tolist(), label="log10 |dLoss/dh_t|")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str]) -> None:
    del argv
    if not _PRESETS.value:
        raise app.UsageError("--presets is required, e.g. --presets=synthetic_adding:lstm,synthetic_adding:gru")
    root = Path(_ROOT.value).absolute()
    rows, workdirs = [], []
    for item in _PRESETS.value:
        preset, _, variant = item.partition(":")
        workdir = root / f"{preset}_{variant or 'default'}"
        seconds = train(preset, variant or "lstm", workdir, _OVERRIDES.value)
        rows.append(summarise(workdir, seconds))
        workdirs.append(workdir)
    text = table(rows)
    footer = (
        f"\n\nHardware: {hardware()}, CPU only; jax {__import__('jax').__version__}. "
        f"Command: `python -m benchmarks.long_memory --presets={','.join(_PRESETS.value)}`."
    )
    print(text + footer)
    if _TABLE.value:
        Path(_TABLE.value).parent.mkdir(parents=True, exist_ok=True)
        Path(_TABLE.value).write_text(text + footer + "\n")
    if _FIGURE.value:
        figure(workdirs, [f"{r['cell']}, T={r['seq_len']}" for r in rows], Path(_FIGURE.value))


if __name__ == "__main__":
    app.run(main)
