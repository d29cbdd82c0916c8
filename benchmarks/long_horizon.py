"""The long-horizon forecasting benchmark: ETTh1 and ETTm1, features M, lookback 96, horizons
96 / 192 / 336 / 720, beside the in-run linear model and the published rows.

    python -m benchmarks.long_horizon --data_dir=data/ett --root=runs/long_horizon \
        --table=runs/long_horizon/table.md

Each run is ``python -m experiments.main --config=configs/forecasting/ett.py:<dataset>_m_<horizon>
--workdir=<root>/<dataset>_m_<horizon> --config.data.path=<data_dir>/<ETTh1|ETTm1>.csv
--config.forecast.ar_lags=0`` plus ``--override`` flags (``--model=lstm`` runs the ``_lstm``
variants), one after the other, each logged to ``<root>/<name>.log``. The split and the test
windows are those of the papers (Informer's borders, z-scores fitted on train, every test
window, none dropped); the checkpoint is the one with the best valid MSE, and its test MSE and
MAE are reported. A run whose workdir holds ``wall_time.json`` finished earlier and is read, not
retrained (refused, in one line, if it ran with other flags); an interrupted one resumes from
its checkpoint, and its wall time is that of the resumed part, marked "(resumed)".

Published rows (MSE / MAE on the normalised scale, lookback 96): SegRNN from its README's
lookback-96 table (Lin et al. 2023), DLinear and iTransformer from iTransformer's table (Liu et
al. 2024). "ours <= DLinear" compares MSE.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from absl import app, flags

from benchmarks.machine import hardware
from rnn_research import io, metrics

ROOT = Path(__file__).resolve().parents[1]
FILES = {"etth1": "ETTh1.csv", "ettm1": "ETTm1.csv"}
HORIZONS = (96, 192, 336, 720)
# dataset -> model -> {horizon: (mse, mae or None)}
PUBLISHED: dict[str, dict[str, dict[int, tuple[float, float]]]] = {
    "etth1": {
        "SegRNN": {96: (0.368, 0.395), 192: (0.408, 0.419), 336: (0.444, 0.440), 720: (0.446, 0.457)},
        "DLinear": {96: (0.386, 0.400), 192: (0.437, 0.432), 336: (0.481, 0.459), 720: (0.519, 0.516)},
        "iTransformer": {96: (0.386, 0.405), 192: (0.441, 0.436), 336: (0.487, 0.458), 720: (0.503, 0.491)},
    },
    "ettm1": {
        "SegRNN": {96: (0.330, 0.369), 192: (0.369, 0.392), 336: (0.399, 0.412), 720: (0.454, 0.443)},
        "DLinear": {96: (0.345, 0.372), 192: (0.380, 0.389), 336: (0.413, 0.413), 720: (0.474, 0.453)},
        "iTransformer": {96: (0.334, 0.368), 192: (0.377, 0.391), 336: (0.426, 0.420), 720: (0.491, 0.459)},
    },
}


def define_flags() -> None:
    """The command's flags, defined when it runs (not on import: benchmarks.sweep has a --root too)."""
    flags.DEFINE_string("data_dir", None, "Folder holding ETTh1.csv and ETTm1.csv.", required=True)
    flags.DEFINE_string("root", "runs/long_horizon", "Folder holding one workdir per run.")
    flags.DEFINE_list("datasets", list(FILES), "Which of etth1, ettm1.")
    flags.DEFINE_list("horizons", [str(h) for h in HORIZONS], "Which of 96, 192, 336, 720.")
    flags.DEFINE_enum("model", "segrnn", ["segrnn", "lstm"], "The preset's model (variant suffix).")
    flags.DEFINE_multi_string("override", [], "Launcher flags every run gets, e.g. --override=--config.seed=1.")
    flags.DEFINE_string("table", None, "Also write the markdown table here.")


def runs(datasets: Sequence[str], horizons: Sequence[int], model: str) -> list[tuple[str, str, int, str]]:
    """``[(name, dataset, horizon, variant)]`` in running order."""
    suffix = "" if model == "segrnn" else f"_{model}"
    return [(f"{d}_m_{h}{suffix}", d, h, f"{d}_m_{h}{suffix}") for d in datasets for h in horizons]


def command(variant: str, dataset: str, workdir: Path, data_dir: Path, overrides: Sequence[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "experiments.main",
        f"--config=configs/forecasting/ett.py:{variant}",
        f"--workdir={workdir}",
        f"--config.data.path={data_dir / FILES[dataset]}",
        "--config.forecast.ar_lags=0",
        *overrides,
    ]


def accelerator() -> str:
    """What the runs train on: ``NVIDIA H200 (<cpu>, <n> cores)`` or the CPU alone. Asked of a child
    process, so that this one never takes the accelerator's memory while the runs need it."""
    probe = "import jax; d = jax.devices()[0]; print(d.platform, d.device_kind, sep='|')"
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
        platform, kind = out.stdout.strip().splitlines()[-1].split("|", 1)
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return hardware()
    return hardware() if platform == "cpu" else f"{kind} ({hardware()})"


def _settings(args: Sequence[str]) -> list[str]:
    """A run's flags less where it runs and reads from (``--workdir``, ``--config.data.path``)."""
    return [a for a in args if not a.startswith(("--workdir=", "--config.data.path="))]


def run_one(cmd: list[str], workdir: Path, log_path: Path, device: str, resumed: bool = False) -> dict[str, Any]:
    """Runs one launcher command (output appended to ``log_path``); ``{"seconds", "status", ...}``.
    A run resumed from a checkpoint counts only its own seconds (``"resumed"`` says so)."""
    began = time.perf_counter()
    with open(log_path, "a", encoding="utf-8") as log:
        code = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    record = {
        "seconds": time.perf_counter() - began,
        "status": "done" if code == 0 else f"failed (exit {code})",
        "command": shlex.join(cmd[1:]),
        "hardware": device,
        "resumed": resumed,
    }
    if code == 0:
        io.atomic_write_json(workdir / "wall_time.json", record)
    return record


def result(workdir: Path) -> dict[str, Any] | None:
    """Test MSE/MAE (model and in-run linear) at the checkpoint chosen on valid; None before it exists."""
    path = workdir / "metrics.jsonl"
    if not path.exists():
        return None
    records = metrics.read_jsonl(path)
    test = [r for r in records if r["split"] == "best_test"]
    valid = [r for r in records if r["split"] == "best_valid"]
    if not test or not valid:
        return None
    t, v = test[-1], valid[-1]
    last = max(r["step"] for r in records)
    return {
        "mse": t["mse"],
        "mae": t["mae"],
        "mse_linear": t.get("mse_linear"),
        "mae_linear": t.get("mae_linear"),
        "valid_mse": v["mse"],
        "step": t["step"],
        "last_step": last,
    }


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(entries: list[tuple[str, str, int, dict | None, dict]]) -> str:
    """One markdown table: per run, ours and the in-run linear model beside the published rows."""
    head = (
        "| data | horizon | ours MSE | ours MAE | linear (in run) MSE / MAE | SegRNN MSE / MAE | DLinear MSE / MAE "
        "| iTransformer MSE / MAE | ours <= DLinear | best step | wall |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for _name, dataset, horizon, res, state in entries:
        pub = PUBLISHED[dataset]
        seg, dl, it = pub["SegRNN"][horizon], pub["DLinear"][horizon], pub["iTransformer"][horizon]
        if res is None:
            ours = ["-", "-", "-", "-", "-"]
        else:
            ours = [
                f"**{res['mse']:.3f}**" if res["mse"] <= dl[0] else f"{res['mse']:.3f}",
                f"{res['mae']:.3f}",
                f"{_f(res['mse_linear'])} / {_f(res['mae_linear'])}",
            ]
            beat = "yes" if res["mse"] <= dl[0] else "no"
            ours += [beat, f"{res['step']} of {res['last_step']}"]
        wall = f"{state['seconds'] / 60:.1f} min" if state.get("seconds") else state.get("status", "-")
        if state.get("resumed"):
            wall += " (resumed)"
        cells = [
            FILES[dataset][:-4],
            str(horizon),
            *ours[:3],
            f"{seg[0]:.3f} / {seg[1]:.3f}",
            f"{dl[0]:.3f} / {dl[1]:.3f}",
        ]
        cells += [f"{it[0]:.3f} / {it[1]:.3f}", *ours[3:], wall]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _choices(values: Sequence[str], allowed: Sequence[Any], flag: str, cast: Any = str) -> list[Any]:
    out = []
    for value in values:
        try:
            item = cast(value)
        except ValueError:
            item = None
        if item not in allowed:
            raise app.UsageError(f"--{flag}: {value!r} is not one of {', '.join(map(str, allowed))}")
        out.append(item)
    return out


def main(argv: list[str]) -> None:
    del argv
    try:
        benchmark()
    except app.UsageError as e:  # one line, not absl's page of every flag
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # the run in flight got the signal too and saved a checkpoint
        print("stopped by Ctrl-C: the same command resumes the unfinished run", file=sys.stderr)
        sys.exit(130)


def benchmark() -> None:
    """Runs what the flags ask for, then prints and writes the table (see the module docstring)."""
    f = flags.FLAGS
    datasets = _choices(f.datasets, list(FILES), "datasets")
    horizons = _choices(f.horizons, HORIZONS, "horizons", int)
    data_dir = Path(f.data_dir).expanduser().resolve()
    for dataset in datasets:
        if not (data_dir / FILES[dataset]).is_file():
            raise app.UsageError(
                f"--data_dir: {data_dir / FILES[dataset]} is not a file (see docs/experiments/forecasting.md#getting-the-data)"
            )
    root = Path(f.root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    entries, failed, device = [], [], None
    for name, dataset, horizon, variant in runs(datasets, horizons, f.model):
        workdir = root / name
        record = workdir / "wall_time.json"
        cmd = command(variant, dataset, workdir, data_dir, f.override)
        if record.exists():
            state = json.loads(record.read_text())
            if _settings(shlex.split(state.get("command", ""))) != _settings(cmd[1:]):
                raise app.UsageError(
                    f"{workdir} holds a finished run of another command ({state.get('command')}); "
                    "use another --root for other settings"
                )
        else:
            device = device or accelerator()
            print("$", shlex.join(cmd[1:]), flush=True)
            resumed = (workdir / "checkpoints").exists()
            state = run_one(cmd, workdir, root / f"{name}.log", device, resumed)
            print(f"{name}: {state['status']} in {state['seconds'] / 60:.1f} min", flush=True)
            if state["status"] != "done":
                failed.append(f"{name} ({state['status']}; see {root / (name + '.log')})")
        entries.append((name, dataset, horizon, result(workdir), state))
    text = table(entries)
    hw = {e[4].get("hardware") for e in entries if e[4].get("hardware")}
    text += f"\n\nHardware: {'; '.join(sorted(hw)) or hardware()}.\n"
    print(text)
    io.atomic_write_text(root / "table.md", text)
    if f.table:
        io.atomic_write_text(Path(f.table), text)
    if failed:
        print(f"error: {len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
