"""Long-range table: every cell on the adding problem and copy memory at several lengths T.

    python -m benchmarks.long_memory --root=runs/long_memory --tasks=adding,copy \
        --cells=simple_rnn,lstm,gru,layernorm_lstm,mingru,minlstm --seq_lens=50,200,1000 \
        --table=docs/results/long_memory.md --figure=docs/results/long_memory_grad_flow.png

Each (task, T, cell) runs the launcher once, ``python -m experiments.main
--config=configs/synthetic/<task>.py:<cell> --workdir=<root>/<task>_T<T>_<cell>`` with
``--config.task.seq_len=T``, the shared budget (``--max_steps``, ``--batch_size``,
``--hidden_size``, ``--eval_every``) and ``--config.train.stop_when`` set to the task's success
threshold, so that a run that solves its task stops at that evaluation. A workdir that already
holds ``wall_time.json`` from an earlier run of this script is read, not retrained.

The table gives, per run, the test metric of the best checkpoint (chosen on valid), the first
evaluation step at which valid met the threshold, and the wall time; the figure has one
gradient-flow heatmap (``log10 |dLoss/dh_t|``, time step x training step, from
:mod:`rnn_research.diagnostics`) per run, tasks x lengths across and cells down.
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
from configs import base as config_base
from rnn_research import metrics

ROOT = Path(__file__).resolve().parents[1]

# metric, comparison, threshold: when a validation value counts as "solved".
SOLVED = {"adding": ("mse", "<", 0.01), "copy": ("copy_accuracy", ">", 0.99)}

_ROOT = flags.DEFINE_string("root", "runs/long_memory", "Directory holding one workdir per run.")
_TASKS = flags.DEFINE_list("tasks", ["adding", "copy"], "Tasks: adding, copy.")
_CELLS = flags.DEFINE_list(
    "cells", ["simple_rnn", "lstm", "gru", "layernorm_lstm", "mingru", "minlstm"], "Cells (config.model.cell)."
)
_SEQ_LENS = flags.DEFINE_list("seq_lens", ["50", "200", "1000"], "Sequence lengths T.")
_VARIANT = flags.DEFINE_string("variant", None, "Preset variant instead of the cell name (e.g. smoke, for tests).")
_MAX_STEPS = flags.DEFINE_integer("max_steps", 1000, "Training steps per run (fewer when solved earlier).")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Batch size of every run.")
_HIDDEN = flags.DEFINE_integer("hidden_size", 64, "Hidden units of every run.")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 100, "Evaluate (and record gradient flow) every N steps.")
_OVERRIDES = flags.DEFINE_multi_string("override", [], "Passed to every run, e.g. --override=--config.seed=1.")
_TABLE = flags.DEFINE_string("table", None, "Write the markdown table here (also printed).")
_FIGURE = flags.DEFINE_string("figure", None, "Write the gradient-flow figure here.")


def run_flags(task: str, seq_len: int) -> list[str]:
    """The launcher overrides every run of ``task`` at ``seq_len`` shares."""
    metric, op, threshold = SOLVED[task]
    every = _EVAL_EVERY.value
    return [
        f"--config.task.seq_len={seq_len}",
        f"--config.train.num_steps={_MAX_STEPS.value}",
        f"--config.train.batch_size={_BATCH.value}",
        f"--config.model.hidden_size={_HIDDEN.value}",
        f"--config.train.eval_every={every}",
        f"--config.train.checkpoint_every={every}",
        f"--config.train.diagnostics_every={every}",
        f"--config.train.log_every={min(every, 50)}",
        f"--config.train.stop_when={metric}{op}{threshold}",
        "--config.train.plots=False",
    ]


def train(task: str, cell: str, seq_len: int, workdir: Path) -> float:
    """Runs the launcher once (or reads the earlier run's wall time); returns wall seconds."""
    record = workdir / "wall_time.json"
    if record.exists():
        return json.loads(record.read_text())["seconds"]
    variant = _VARIANT.value or cell
    command = [sys.executable, "-m", "experiments.main", f"--config=configs/synthetic/{task}.py:{variant}"]
    command += [f"--workdir={workdir}", *run_flags(task, seq_len), *_OVERRIDES.value]
    if _VARIANT.value:
        command.append(f"--config.model.cell={cell}")
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    seconds = time.perf_counter() - start
    record.write_text(json.dumps({"seconds": seconds, "command": command[1:], "hardware": hardware()}))
    return seconds


def summarise(workdir: Path, seconds: float) -> dict[str, Any]:
    """Best-checkpoint test metric, first solved validation step and wall time of one run."""
    config = json.loads((workdir / "config.json").read_text())
    metric, op, threshold = SOLVED[config["task"]["name"]]
    records = metrics.read_jsonl(workdir / "metrics.jsonl")
    valid = [r for r in records if r["split"] == "valid"]
    solved = [r["step"] for r in valid if (r[metric] < threshold if op == "<" else r[metric] > threshold)]
    (best_test,) = [r for r in records if r["split"] == "best_test"]
    return {
        "task": config["task"]["name"],
        "cell": config["model"]["cell"],
        "seq_len": config["task"]["seq_len"],
        "metric": metric,
        "test": best_test[metric],
        "solved_at": solved[0] if solved else None,
        "steps": max(r["step"] for r in records if r["split"] == "train"),
        "seconds": seconds,
        "threshold": f"{op} {threshold}",
        "eval_size": config["task"]["eval_size"],
        "hardware": json.loads((workdir / "wall_time.json").read_text()).get("hardware", hardware()),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """One markdown table per task: a row per cell, for each T the test metric, the step at which
    valid was solved ("-": not within the budget) and the wall time."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        lens = list(dict.fromkeys(r["seq_len"] for r in mine))
        first = mine[0]
        out.append(f"**{task}** (test {first['metric']} of the best checkpoint; solved: valid {first['threshold']})\n")
        out.append("| cell | " + " | ".join(f"T={t}: test | solved at | wall" for t in lens) + " |")
        out.append("|---|" + "---|---|---|" * len(lens))
        for cell in dict.fromkeys(r["cell"] for r in mine):
            cells = []
            for t in lens:
                found = [r for r in mine if r["cell"] == cell and r["seq_len"] == t]
                if not found:
                    cells += ["", "", ""]
                    continue
                r = found[0]
                solved = str(r["solved_at"]) if r["solved_at"] is not None else f"- ({r['steps']})"
                cells += [f"{r['test']:.3g}", solved, f"{r['seconds'] / 60:.1f} min"]
            out.append(f"| {cell} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out).rstrip()


def _heatmap(workdir: Path) -> tuple[np.ndarray, list[int]] | None:
    path = workdir / "diagnostics.jsonl"
    if not path.exists():
        return None
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    layer = next(k for k in records[0] if k != "step")
    values = np.array([r[layer] for r in records], np.float64)
    with np.errstate(divide="ignore"):
        return np.log10(values), [r["step"] for r in records]  # exact zeros (underflow) give -inf


def figure(grid: dict[tuple[str, int, str], Path], out: Path) -> None:
    """Heatmaps of ``log10 |dLoss/dh_t|``: a column per (task, T), a row per cell; each column
    on its own colour scale (norms differ by orders of magnitude between tasks and lengths).
    Exact zeros (float32 underflow) are drawn at the bottom of the scale; the training-step
    axis is shared along a row, so a run that stopped once solved leaves the rest blank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(dict.fromkeys((task, t) for task, t, _ in grid))
    rows = list(dict.fromkeys(cell for _, _, cell in grid))
    fig, axes = plt.subplots(
        len(rows),
        len(columns),
        figsize=(2.6 * len(columns), 1.8 * len(rows) + 0.8),
        squeeze=False,
        sharey="row",
        constrained_layout=True,
    )
    for j, (task, t) in enumerate(columns):
        maps = {cell: _heatmap(grid[(task, t, cell)]) for cell in rows if (task, t, cell) in grid}
        finite = [m[np.isfinite(m)] for m, _ in filter(None, maps.values())]
        finite = np.concatenate(finite) if finite else np.zeros(1)
        vmin, vmax = (np.percentile(finite, 1), finite.max()) if finite.size > 1 else (-1.0, 0.0)
        for i, cell in enumerate(rows):
            ax = axes[i][j]
            ax.tick_params(labelsize=6)
            entry = maps.get(cell)
            if entry is None:
                ax.axis("off")
                continue
            matrix, steps = entry
            image = ax.imshow(
                np.maximum(matrix, vmin),
                aspect="auto",
                origin="lower",
                vmin=vmin,
                vmax=vmax,
                cmap="viridis",
                extent=(0, matrix.shape[1], steps[0], steps[-1]),
                interpolation="nearest",
            )
            if i == 0:
                ax.set_title(f"{task}, T={t}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{cell}\ntrain step", fontsize=7)
            if i == len(rows) - 1:
                ax.set_xlabel("time step t", fontsize=7)
        bar = fig.colorbar(image, ax=[axes[i][j] for i in range(len(rows))], location="bottom", shrink=0.9, aspect=15)
        bar.ax.tick_params(labelsize=6)
    fig.suptitle(
        "log10 |dLoss/dh_t| on a fixed batch (colour scale per column; exact zeros at its bottom; "
        "blank: the run had stopped, solved)",
        fontsize=9,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=70, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str]) -> None:
    del argv
    unknown = sorted(set(_TASKS.value) - set(SOLVED))
    if unknown or not _TASKS.value:
        raise app.UsageError(f"--tasks must name some of {sorted(SOLVED)}, got {_TASKS.value}")
    if not _CELLS.value or set(_CELLS.value) - set(config_base.CELLS):
        raise app.UsageError(f"--cells must name some of {list(config_base.CELLS)}, got {_CELLS.value}")
    try:
        seq_lens = [int(t) for t in _SEQ_LENS.value]
    except ValueError:
        raise app.UsageError(f"--seq_lens must be integers, got {_SEQ_LENS.value}") from None
    root = Path(_ROOT.value).absolute()
    rows, grid = [], {}
    for task in _TASKS.value:
        for seq_len in seq_lens:
            for cell in _CELLS.value:
                workdir = root / f"{task}_T{seq_len}_{cell}"
                seconds = train(task, cell, seq_len, workdir)
                rows.append(summarise(workdir, seconds))
                grid[(task, seq_len, cell)] = workdir
    budget = (
        f"Budget per run: at most {_MAX_STEPS.value} steps of batch {_BATCH.value}, {_HIDDEN.value} hidden units, "
        f"evaluation every {_EVAL_EVERY.value} steps on {rows[0]['eval_size']} held-out sequences; a run stops at the first "
        'evaluation that meets the threshold. "- (n)": not solved in n steps.'
    )
    footer = (
        f"\n\n{budget}\n\nHardware: {'; '.join(sorted({r['hardware'] for r in rows}))}, CPU only; "
        f"jax {__import__('jax').__version__}. Command: "
        f"`python -m benchmarks.long_memory --tasks={','.join(_TASKS.value)} --cells={','.join(_CELLS.value)} "
        f"--seq_lens={','.join(_SEQ_LENS.value)} --max_steps={_MAX_STEPS.value} --batch_size={_BATCH.value} "
        f"--hidden_size={_HIDDEN.value} --eval_every={_EVAL_EVERY.value}`."
    )
    text = table(rows) + footer
    print(text)
    if _TABLE.value:
        Path(_TABLE.value).parent.mkdir(parents=True, exist_ok=True)
        Path(_TABLE.value).write_text(text + "\n")
    if _FIGURE.value:
        figure(grid, Path(_FIGURE.value))


if __name__ == "__main__":
    app.run(main)
