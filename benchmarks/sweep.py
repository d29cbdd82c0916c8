"""Hyperparameter sweep: many launcher runs of one preset, several at a time, one table.

    python -m benchmarks.sweep --config=configs/classification/sst2.py --grid=benchmarks/grids/sst2.txt \
        --root=runs/sst2_sweep --parallel=8 --common=--config.data.path=data/sst2 \
        --select=valid --metric=accuracy --mode=max --report=dev --table=docs/results/sst2_sweep.md

The grid file has one run per line, ``name: --config.a=1 --config.b=x`` (``#`` starts a comment).
Each run is ``python -m experiments.main --config=<config> --workdir=<root>/<name> <common>
<overrides>``, its output in ``<root>/<name>.log``. A workdir that already holds
``wall_time.json`` is read, not retrained. With ``--deadline_s``, runs still going at the deadline
get SIGTERM (the harness saves a checkpoint after the step in flight and stops; SIGKILL after 30 s)
and are reported from what they logged (marked "stopped").

Every run is read back from its ``metrics.jsonl``: the evaluation of the checkpoint the harness
kept as best (the best ``--metric`` on the ``--select`` split; for a stopped run the best so far,
the latest of ties), and the ``--report`` splits at that same step. Rows are sorted by the
selection split only; the report split never chooses.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from absl import app, flags

from benchmarks.machine import hardware
from benchmarks.processes import stop_groups
from rnn_research import metrics

ROOT = Path(__file__).resolve().parents[1]

_CONFIG = flags.DEFINE_string("config", None, "Preset (with :variant) every run starts from.", required=True)
_GRID = flags.DEFINE_string("grid", None, "File of runs: 'name: --config.x=1 ...' per line.", required=True)
_ROOT = flags.DEFINE_string("root", "runs/sweep", "Directory holding one workdir per run.")
_COMMON = flags.DEFINE_multi_string("common", [], "Overrides every run gets, e.g. --common=--config.data.path=DIR.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time.")
_DEADLINE = flags.DEFINE_float("deadline_s", 0.0, "Stop runs still going after this many seconds (0: never).")
_SELECT = flags.DEFINE_string("select", "valid", "The split that ranks checkpoints and runs.")
_METRIC = flags.DEFINE_string("metric", "accuracy", "The metric that ranks them.")
_MODE = flags.DEFINE_enum("mode", "max", ["max", "min"], "Whether larger or smaller is better.")
_REPORT = flags.DEFINE_list("report", [], "Splits reported at the selected step (never used to choose).")
_TABLE = flags.DEFINE_string("table", None, "Write the markdown table here (also printed).")


def read_grid(path: Path) -> list[tuple[str, list[str]]]:
    """``[(name, overrides)]`` from the grid file; a malformed line is refused naming its number."""
    runs: list[tuple[str, list[str]]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, rest = line.partition(":")
        name = name.strip()
        if not sep or not name or not all(c.isalnum() or c in "._-" for c in name):
            raise ValueError(f"{path}:{number}: expected 'name: --config.x=value ...', got {line!r}")
        overrides = shlex.split(rest)
        if not all(o.startswith("--") for o in overrides):
            raise ValueError(f"{path}:{number}: every override starts with '--', got {rest.strip()!r}")
        if name in dict(runs):
            raise ValueError(f"{path}:{number}: run name {name!r} is used twice")
        runs.append((name, overrides))
    if not runs:
        raise ValueError(f"{path}: no runs")
    return runs


def command(name: str, overrides: list[str], root: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "experiments.main",
        f"--config={_CONFIG.value}",
        f"--workdir={root / name}",
        *_COMMON.value,
        *overrides,
    ]


def run_all(runs: list[tuple[str, list[str]]], root: Path) -> dict[str, dict[str, Any]]:
    """Runs the grid ``--parallel`` at a time; ``{name: {"seconds", "status"}}``."""
    root.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    queue = []
    for name, overrides in runs:
        record = root / name / "wall_time.json"
        if record.exists():
            done[name] = json.loads(record.read_text())
        else:
            queue.append((name, overrides))
    start = time.perf_counter()
    going: dict[str, tuple[subprocess.Popen, float, Any, list[str]]] = {}
    try:
        while queue or going:
            late = _DEADLINE.value > 0 and time.perf_counter() - start > _DEADLINE.value
            while queue and len(going) < _PARALLEL.value and not late:
                name, overrides = queue.pop(0)
                cmd = command(name, overrides, root)
                log = open(root / f"{name}.log", "w")  # noqa: SIM115 (closed when the run ends)
                print("$", shlex.join(cmd[1:]), flush=True)
                proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                going[name] = (proc, time.perf_counter(), log, cmd)
            if late:  # stop every run still going at once, then wait for each
                stop_groups([proc for proc, *_ in going.values()])
            for name, (proc, began, log, cmd) in list(going.items()):
                if proc.poll() is None:
                    continue
                log.close()
                seconds = time.perf_counter() - began
                status = "done" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
                if late and proc.returncode != 0:
                    status = "stopped"
                done[name] = {"seconds": seconds, "status": status}
                if proc.returncode == 0:
                    record = {"seconds": seconds, "status": status, "command": cmd[1:], "hardware": hardware()}
                    (root / name / "wall_time.json").write_text(json.dumps(record))
                print(f"{name}: {status} in {seconds / 60:.1f} min", flush=True)
                del going[name]
            for name, _ in queue if late else []:
                done[name] = {"seconds": 0.0, "status": "not started"}
            if late:
                queue = []
            time.sleep(1.0)
    finally:  # an interrupted sweep leaves no run behind (each has its own process group)
        stop_groups([proc for proc, *_ in going.values()])
    return done


def summarise(workdir: Path) -> dict[str, Any] | None:
    """The best ``--select`` evaluation and the ``--report`` splits at its step; None: no evaluation."""
    path = workdir / "metrics.jsonl"
    if not path.exists():
        return None
    records = metrics.read_jsonl(path)
    chosen = [r for r in records if r["split"] == _SELECT.value and _METRIC.value in r]
    if not chosen:
        return None
    final = [r for r in records if r["split"] == f"best_{_SELECT.value}"]
    if final:  # the run finished: the step of the checkpoint the harness kept
        best = next(r for r in chosen if r["step"] == final[-1]["step"])
    else:  # stopped: the best evaluation so far, the latest of ties (as the best-checkpoint manager keeps)
        sign = 1.0 if _MODE.value == "min" else -1.0
        best = min(chosen, key=lambda r: (sign * r[_METRIC.value], -r["step"]))
    row = {"step": best["step"], _SELECT.value: best[_METRIC.value], "evals": len(chosen)}
    for split in _REPORT.value:
        at = [r for r in records if r["split"] == split and r["step"] == best["step"]]
        row[split] = at[0][_METRIC.value] if at else None
        seen = [r[_METRIC.value] for r in records if r["split"] == split and _METRIC.value in r]
        row[f"{split}_seen"] = (max if _MODE.value == "max" else min)(seen) if seen else None
    row["last_step"] = max(r["step"] for r in records)
    return row


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f}%" if _METRIC.value == "accuracy" else f"{value:.4g}"


def table(runs: list[tuple[str, list[str]]], status: dict[str, dict[str, Any]], root: Path) -> str:
    rows = []
    for name, overrides in runs:
        summary = summarise(root / name)
        rows.append((name, overrides, summary, status.get(name, {})))
    sign = -1.0 if _MODE.value == "max" else 1.0
    rows.sort(key=lambda r: (r[2] is None, sign * r[2][_SELECT.value] if r[2] else 0.0))
    head = f"| run | overrides | {_SELECT.value} {_METRIC.value} (best) | at step |"
    head += "".join(f" {s} at that step | best {s} seen |" for s in _REPORT.value) + " wall | status |"
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, overrides, summary, state in rows:
        cells = [name, " ".join(f"`{o.removeprefix('--config.')}`" for o in overrides) or "(preset)"]
        if summary is None:
            cells += ["-", "-"] + ["-", "-"] * len(_REPORT.value)
        else:
            cells += [_fmt(summary[_SELECT.value]), f"{summary['step']} of {summary['last_step']}"]
            for split in _REPORT.value:
                cells += [_fmt(summary[split]), _fmt(summary[f"{split}_seen"])]
        cells += [f"{state.get('seconds', 0.0) / 60:.1f} min", state.get("status", "-")]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def device() -> str:
    """The accelerator the runs used (JAX's first device), or the CPU."""
    import jax

    first = jax.devices()[0]
    return hardware() if first.platform == "cpu" else f"{first.device_kind} ({hardware()})"


def main(argv: list[str]) -> None:
    del argv
    if _PARALLEL.value < 1:
        raise app.UsageError(f"--parallel must be at least 1, got {_PARALLEL.value}")
    try:
        runs = read_grid(Path(_GRID.value))
    except (OSError, ValueError) as err:
        raise app.UsageError(str(err)) from None
    root = Path(_ROOT.value).absolute()
    start = time.perf_counter()
    status = run_all(runs, root)
    text = table(runs, status, root)
    common = " ".join(_COMMON.value)
    text += (
        f"\n\nEach row: `python -m experiments.main --config={_CONFIG.value} {common} <overrides>`; the "
        f"checkpoint with the best {_SELECT.value} {_METRIC.value} is the one the harness keeps, and "
        f"{', '.join(_REPORT.value) or 'no other split'} is read at that step (the 'best seen' column "
        f"is for reference only: choosing by it would tune on that split). {len(runs)} runs, "
        f"{_PARALLEL.value} at a time, {(time.perf_counter() - start) / 60:.1f} min in all on {device()}; "
        f"jax {__import__('jax').__version__}."
    )
    print(text)
    if _TABLE.value:
        Path(_TABLE.value).parent.mkdir(parents=True, exist_ok=True)
        Path(_TABLE.value).write_text(text + "\n")


if __name__ == "__main__":
    app.run(main)
