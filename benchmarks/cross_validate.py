"""k-fold cross-validation of one preset: every fold a launcher run, one table of mean ± std.

    python -m benchmarks.cross_validate --config=configs/genome/splice.py --folds=10 --root=runs/splice_cv \
        --common=--config.data.path=data/splice/splice.csv --metrics=accuracy,macro_f1 \
        --table=docs/results/splice_cv.md

The preset's config must have integer ``data.folds`` and ``data.fold`` (read from ``python -m
experiments.main --config=... --print_config <common>``, which runs nothing); where it also has
``data.split``, that must be ``folds``, or every fold would test the same random split. Fold ``i``
is ``python -m experiments.main --config=<config> --workdir=<root>/fold_<i> --config.data.folds=<K>
--config.data.fold=<i> --config.seed=<seed> <common...>``, its output appended to
``<root>/fold_<i>.log``, one fold after the other (``--parallel=N``: N at a time, each process
taking accelerator memory as it needs it rather than most of it at once). A workdir holding
``wall_time.json`` finished earlier and is read, not rerun (refused, in one line, if it ran with
other flags than ``--workdir``); an interrupted one resumes from its checkpoint, and its wall time
is that of the resumed part, marked "(resumed)".

Each fold is read from its ``metrics.jsonl``: the last ``best_test`` record, the test fold evaluated
at the checkpoint chosen on valid (the preset holds the valid part out of the training folds; the
test fold never chooses). The table (printed, written to ``<root>/cv.md`` and to ``--table``) has one
row per fold with the ``--metrics``, the best step and the wall time, then the mean ± sample standard
deviation (ddof=1), min and max over the folds that finished. Where the records hold confusion counts
(``confusion_<true>_<pred>``, as the classification and genome tasks write), each fold also gets its
per-class error ``error_<c>`` = 1 - correct / total, summarised the same way, and the pooled confusion
matrix (summed over the folds) follows with its per-class error. Accuracy and ``error_*`` are shown
in percent. ``<root>/cv.json`` holds every number. A failed fold is listed with its log, and the
command exits 1 after writing the table of the folds that finished.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from absl import app, flags

from benchmarks.long_horizon import accelerator
from benchmarks.machine import hardware
from benchmarks.processes import stop_groups
from rnn_research import io, metrics

ROOT = Path(__file__).resolve().parents[1]
SET_HERE = ("--config", "--workdir", "--config.data.folds", "--config.data.fold", "--config.seed")
CONFUSION = re.compile(r"confusion_(\d+)_(\d+)")


def define_flags() -> None:
    """The command's flags, defined when it runs (not on import: benchmarks.sweep has a --root too)."""
    flags.DEFINE_string("config", None, "Preset (with :variant) with integer data.folds and data.fold.", required=True)
    flags.DEFINE_integer("folds", 10, "K, the number of folds (at least 2); each is the test set once.")
    flags.DEFINE_string("root", "runs/cv", "Folder holding fold_<i>/, fold_<i>.log, cv.md and cv.json.")
    flags.DEFINE_multi_string("common", [], "Launcher flags every fold gets, e.g. --common=--config.data.path=FILE.")
    flags.DEFINE_list("metrics", ["accuracy", "macro_f1"], "Keys of the best_test record to report.")
    flags.DEFINE_integer("seed", 0, "--config.seed of every fold.")
    flags.DEFINE_integer("parallel", 1, "Folds at a time.")
    flags.DEFINE_string("table", None, "Also write the markdown table here.")


# ------------------------------------------------------------------------------- commands
def fold_command(config: str, root: Path, fold: int, folds: int, seed: int, common: Sequence[str]) -> list[str]:
    """The launcher command of fold ``fold`` of ``folds``."""
    return [
        sys.executable,
        "-m",
        "experiments.main",
        f"--config={config}",
        f"--workdir={root / f'fold_{fold}'}",
        f"--config.data.folds={folds}",
        f"--config.data.fold={fold}",
        f"--config.seed={seed}",
        *common,
    ]


def settings(args: Sequence[str]) -> list[str]:
    """A fold's flags less where it runs (``--workdir``): what must match to reuse a finished fold."""
    return [a for a in args if not a.startswith("--workdir=")]


def check_common(common: Sequence[str]) -> None:
    """``--common`` values are launcher flags, none of those each fold's command sets itself."""
    for value in common:
        name = value.partition("=")[0]
        if not value.startswith("--"):
            raise app.UsageError(f"--common={value}: expected a launcher flag such as --config.data.path=FILE")
        if name in SET_HERE:
            raise app.UsageError(f"--common={value}: {name} is set for each fold by cross_validate (see its flags)")


def resolved_config(config: str, common: Sequence[str]) -> dict[str, Any]:
    """The config ``--config`` and ``common`` resolve to, from the launcher's ``--print_config``;
    its one-line error (a missing preset, an unknown key) as ``app.UsageError``."""
    cmd = [sys.executable, "-m", "experiments.main", f"--config={config}", "--print_config", *common]
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()] or [f"exit {done.returncode}"]
        raise app.UsageError(lines[-1].removeprefix("error: "))
    try:
        return json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        raise app.UsageError(f"{shlex.join(cmd[1:])} printed no JSON config") from None


def check_foldable(config: str, resolved: dict[str, Any]) -> None:
    """Refuses a preset without integer ``data.folds`` and ``data.fold``, or whose ``data.split``
    (where it has one) is not ``folds``."""
    data = resolved.get("data")
    data = data if isinstance(data, dict) else {}
    integers = [isinstance(data.get(k), int) and not isinstance(data.get(k), bool) for k in ("folds", "fold")]
    if not all(integers):
        raise app.UsageError(f"{config} cannot be cross-validated: its config has no integer data.folds and data.fold")
    if "split" in data and data["split"] != "folds":
        raise app.UsageError(
            f"{config} has data.split={data['split']!r}, so data.fold chooses no test set; "
            "add --common=--config.data.split=folds"
        )


def class_names(resolved: dict[str, Any]) -> list[str]:
    """The class names the config declares (``data.label_names`` or ``data.labels``, comma-separated); [] if none."""
    data = resolved.get("data") if isinstance(resolved.get("data"), dict) else {}
    for key in ("label_names", "labels"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return [name.strip() for name in value.split(",")]
    return []


def check_finished(commands: dict[int, list[str]], root: Path) -> dict[int, dict[str, Any]]:
    """``{fold: wall_time.json}`` of the folds that finished earlier; a finished fold of another
    command is refused in one line."""
    finished = {}
    for fold, cmd in commands.items():
        workdir = root / f"fold_{fold}"
        path = workdir / "wall_time.json"
        if not path.exists():
            continue
        state = json.loads(path.read_text(encoding="utf-8"))
        ran = state.get("command", "")
        ran = ran if isinstance(ran, list) else shlex.split(ran)
        if settings(ran) != settings(cmd[1:]):
            raise app.UsageError(
                f"{workdir} holds a finished run of another command ({shlex.join(ran)}); "
                "use another --root for other settings"
            )
        finished[fold] = state
    return finished


# ------------------------------------------------------------------------------- running
def run_folds(
    todo: dict[int, list[str]], root: Path, parallel: int, on_done: Callable[[int, dict[str, Any]], None]
) -> dict[int, dict[str, Any]]:
    """Runs the folds' commands ``parallel`` at a time; ``{fold: {"seconds", "status", ...}}``, also
    written to ``fold_<i>/wall_time.json`` for a fold that ended 0. ``on_done(fold, state)`` is called
    as each ends (it may raise: the folds still going are stopped)."""
    env = dict(os.environ)
    if parallel > 1:  # several processes on one accelerator: none takes most of its memory up front
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    queue, states, device = list(todo.items()), {}, None
    going: dict[int, tuple[subprocess.Popen, float, Any, list[str], bool]] = {}
    try:
        while queue or going:
            while queue and len(going) < parallel:
                fold, cmd = queue.pop(0)
                device = device or accelerator()
                resumed = (root / f"fold_{fold}" / "checkpoints").exists()
                log = open(root / f"fold_{fold}.log", "a", encoding="utf-8")  # noqa: SIM115 (closed when it ends)
                print("$", shlex.join(cmd[1:]), flush=True)
                proc = subprocess.Popen(
                    cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
                going[fold] = (proc, time.perf_counter(), log, cmd, resumed)
            for fold, (proc, began, log, cmd, resumed) in list(going.items()):
                if proc.poll() is None:
                    continue
                log.close()
                del going[fold]
                code = proc.returncode
                state = {
                    "seconds": time.perf_counter() - began,
                    "status": "done" if code == 0 else f"failed (exit {code})",
                    "command": shlex.join(cmd[1:]),
                    "hardware": device,
                    "resumed": resumed,
                }
                if code == 0:
                    io.atomic_write_json(root / f"fold_{fold}" / "wall_time.json", state)
                print(f"fold {fold}: {state['status']} in {state['seconds'] / 60:.1f} min", flush=True)
                states[fold] = state
                on_done(fold, state)
            if going:
                time.sleep(0.5)
    finally:  # an error or Ctrl-C leaves no fold running (each has its own process group)
        stop_groups([proc for proc, *_ in going.values()])
    return states


# ------------------------------------------------------------------------------- reading
def read_fold(workdir: Path) -> dict[str, Any] | None:
    """``{"best_test": the last best_test record, "last_step"}`` of a fold; None before that record exists."""
    path = workdir / "metrics.jsonl"
    if not path.exists():
        return None
    records = metrics.read_jsonl(path)
    best = [r for r in records if r.get("split") == "best_test"]
    if not best:
        return None
    return {"best_test": best[-1], "last_step": max(r["step"] for r in records)}


def check_metrics(fold: int, record: dict[str, Any], names: Sequence[str]) -> None:
    """Every ``--metrics`` name is in the fold's ``best_test`` record, or one line naming the keys it has."""
    missing = [n for n in names if n not in record]
    if missing:
        keys = sorted(k for k in record if k not in ("step", "split", "time") and not CONFUSION.fullmatch(k))
        keys += ["confusion_<true>_<pred>"] if any(CONFUSION.fullmatch(k) for k in record) else []
        raise app.UsageError(
            f"--metrics: fold {fold}'s best_test record has no {', '.join(missing)}; it has {', '.join(keys)}"
        )


def confusion(record: dict[str, Any]) -> np.ndarray | None:
    """The ``[true, predicted]`` counts of a record's ``confusion_<true>_<pred>`` keys; None if it has none."""
    cells = {tuple(map(int, m.groups())): record[k] for k in record if (m := CONFUSION.fullmatch(k))}
    if not cells:
        return None
    classes = 1 + max(max(t, p) for t, p in cells)
    counts = np.zeros((classes, classes))
    for (t, p), value in cells.items():
        counts[t, p] = value
    return counts


def class_errors(counts: np.ndarray) -> list[float | None]:
    """``1 - correct / total`` per true class (rows of ``counts``); None for a class with no examples."""
    totals = counts.sum(axis=1)
    return [float(1.0 - counts[c, c] / totals[c]) if totals[c] else None for c in range(len(counts))]


def _stats(values: list[float | None]) -> dict[str, Any]:
    """Mean, sample std (ddof=1; None under 2 values), min, max and n of the finite values."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(np.mean(finite)),
        "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
        "min": float(min(finite)),
        "max": float(max(finite)),
        "n": len(finite),
    }


def summarise(
    entries: Sequence[tuple[int, dict[str, Any] | None, dict[str, Any]]], names: Sequence[str]
) -> dict[str, Any]:
    """Every number of the report from ``[(fold, read_fold(...) or None, state)]``: per fold the
    ``names`` and per-class errors of its best_test record, their statistics over the folds that
    have a record, and the pooled confusion matrix with its per-class error (None without counts)."""
    matrices = {fold: confusion(res["best_test"]) for fold, res, _ in entries if res is not None}
    classes = max((len(m) for m in matrices.values() if m is not None), default=0)
    columns = [*names, *(f"error_{c}" for c in range(classes) if f"error_{c}" not in names)]
    folds, pooled = [], np.zeros((classes, classes))
    for fold, res, state in entries:
        row: dict[str, Any] = {"fold": fold, "status": state.get("status", "-"), "seconds": state.get("seconds")}
        row["resumed"] = bool(state.get("resumed"))
        if res is None:
            row.update(step=None, last_step=None, values=dict.fromkeys(columns), confusion=None)
        else:
            record, values = res["best_test"], {}
            counts = matrices[fold]
            errors = {}
            if counts is not None:
                padded = np.zeros((classes, classes))
                padded[: len(counts), : len(counts)] = counts
                pooled += padded
                errors = {f"error_{c}": e for c, e in enumerate(class_errors(padded))}
            for name in columns:
                values[name] = record.get(name) if name in names else errors.get(name)
            row.update(step=record.get("step"), last_step=res["last_step"], values=values)
            row["confusion"] = None if counts is None else counts.tolist()
        folds.append(row)
    summary = {name: _stats([row["values"][name] for row in folds]) for name in columns}
    out = {"columns": columns, "classes": classes, "per_fold": folds, "summary": summary, "pooled": None}
    if classes and pooled.sum():
        out["pooled"] = {
            "confusion": pooled.tolist(),
            "error": {f"error_{c}": e for c, e in enumerate(class_errors(pooled))},
            "accuracy": float(np.trace(pooled) / pooled.sum()),
            "total": float(pooled.sum()),
        }
    return out


# ------------------------------------------------------------------------------- the table
def percent(name: str) -> bool:
    """Whether a metric is a fraction shown in percent (accuracy and per-class errors)."""
    return name == "accuracy" or name.startswith("error_")


def fmt(name: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{100 * value:.2f}%" if percent(name) else f"{value:.4f}"


def _count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _class(c: int, labels: Sequence[str], classes: int, bare: str = "") -> str:
    return f"{c} ({labels[c]})" if len(labels) == classes else f"{bare}{c}"


def table(summary: dict[str, Any], labels: Sequence[str] = ()) -> str:
    """The markdown report of :func:`summarise`'s numbers: a row per fold, then mean ± std, min and
    max; the pooled confusion matrix after it where the records had counts."""
    columns, classes = summary["columns"], summary["classes"]
    heads = [f"error {_class(int(n[6:]), labels, classes)}" if re.fullmatch(r"error_\d+", n) else n for n in columns]
    head = "| fold | " + " | ".join(heads) + " | best step | wall | status |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in summary["per_fold"]:
        step = "-" if row["step"] is None else f"{row['step']} of {row['last_step']}"
        wall = "-" if row["seconds"] is None else f"{row['seconds'] / 60:.1f} min"
        wall += " (resumed)" if row["resumed"] and row["seconds"] is not None else ""
        cells = [str(row["fold"]), *(fmt(n, row["values"][n]) for n in columns), step, wall, row["status"]]
        lines.append("| " + " | ".join(cells) + " |")
    stats = summary["summary"]
    spread = []
    for n in columns:
        s = stats[n]
        spread.append("-" if s["mean"] is None else f"{fmt(n, s['mean'])} ± {fmt(n, s['std'])}")
    finished = max((s["n"] for s in stats.values()), default=0)
    lines.append("| mean ± std | " + " | ".join(spread) + f" | {finished} of {len(summary['per_fold'])} folds | | |")
    for which in ("min", "max"):
        lines.append(f"| {which} | " + " | ".join(fmt(n, stats[n][which]) for n in columns) + " | | | |")
    pooled = summary["pooled"]
    if pooled is None:
        return "\n".join(lines)
    names = [_class(c, labels, classes, "class ") for c in range(classes)]  # not "0": that is fold 0's row
    lines += ["", "Pooled confusion matrix (summed over the folds; rows: true class, columns: predicted):", ""]
    head = "| true \\ predicted | " + " | ".join(names) + " | total | error |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    counts = np.asarray(pooled["confusion"])
    for c in range(classes):
        error = fmt("error_", pooled["error"][f"error_{c}"])
        cells = [names[c], *(_count(v) for v in counts[c]), _count(counts[c].sum()), error]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| all |" + " |" * classes + f" {_count(pooled['total'])} | {fmt('error_', 1 - pooled['accuracy'])} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- the command
class Stopped(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the folds in flight are stopped before this process ends."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    raise Stopped(signum)


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGTERM, _terminate)  # the folds run in their own sessions: stop them too
    if len(argv) > 1:
        print(f"error: unexpected arguments: {' '.join(argv[1:])} (flags take the form --name=value)", file=sys.stderr)
        sys.exit(2)
    try:
        cross_validate()
    except app.UsageError as e:  # one line, not absl's page of every flag
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as e:  # the folds in flight got SIGTERM and saved a checkpoint
        signum = getattr(e, "signum", signal.SIGINT)
        name = signal.Signals(signum).name
        print(f"stopped by {name}: the same command resumes the unfinished folds", file=sys.stderr)
        sys.exit(128 + signum)


def cross_validate() -> None:
    """Runs what the flags ask for, then prints and writes the report (see the module docstring)."""
    f = flags.FLAGS
    if f.folds < 2:
        raise app.UsageError(f"--folds must be at least 2, got {f.folds}")
    if f.parallel < 1:
        raise app.UsageError(f"--parallel must be at least 1, got {f.parallel}")
    names = [n.strip() for n in f.metrics if n.strip()]
    if not names:
        raise app.UsageError("--metrics names no metric, e.g. --metrics=accuracy,macro_f1")
    check_common(f.common)
    root = Path(f.root).expanduser().resolve()
    commands = {i: fold_command(f.config, root, i, f.folds, f.seed, f.common) for i in range(f.folds)}
    states = check_finished(commands, root)  # before anything runs
    resolved = resolved_config(f.config, f.common)
    check_foldable(f.config, resolved)
    results: dict[int, dict[str, Any] | None] = {}

    def read(fold: int, state: dict[str, Any]) -> None:
        results[fold] = read_fold(root / f"fold_{fold}") if state.get("status") == "done" else None
        if results[fold] is not None:
            check_metrics(fold, results[fold]["best_test"], names)

    for fold, state in states.items():
        read(fold, state)
    root.mkdir(parents=True, exist_ok=True)
    todo = {i: cmd for i, cmd in commands.items() if i not in states}
    states.update(run_folds(todo, root, f.parallel, read))

    failed, entries = [], []
    for fold in range(f.folds):
        state = dict(states[fold])
        if state["status"] == "done" and results.get(fold) is None:
            state["status"] = "failed (no best_test record)"
        if state["status"] != "done":
            state["status"] += f"; see {root / f'fold_{fold}.log'}"
            failed.append(f"fold {fold} ({state['status']})")
        entries.append((fold, results.get(fold), state))
    summary = summarise(entries, names)
    labels = class_names(resolved)
    text = table(summary, labels)
    train = resolved.get("train") if isinstance(resolved.get("train"), dict) else {}
    best = train.get("best_metric", "metric")
    common = f" {' '.join(f.common)}" if f.common else ""
    seconds = sum(s.get("seconds") or 0.0 for s in states.values())
    hw = sorted({s["hardware"] for s in states.values() if s.get("hardware")}) or [hardware()]
    text += (
        f"\n\n{f.folds}-fold cross-validation: fold i is `python -m experiments.main --config={f.config} "
        f"--config.data.folds={f.folds} --config.data.fold=i --config.seed={f.seed}{common}`, and its row "
        f"is its test fold at the checkpoint with the best valid {best} (the `best_test` record). Mean ± "
        f"sample standard deviation (ddof=1) over the {f.folds - len(failed)} folds that finished "
        f"of {f.folds}; {seconds / 60:.1f} min of runs in all. Hardware: {'; '.join(hw)}.\n"
    )
    print(text)
    io.atomic_write_text(root / "cv.md", text)
    if f.table:
        Path(f.table).expanduser().parent.mkdir(parents=True, exist_ok=True)
        io.atomic_write_text(Path(f.table).expanduser(), text)
    record = {"config": f.config, "folds": f.folds, "seed": f.seed, "common": list(f.common), "metrics": names}
    record.update(class_names=labels, hardware=hw, failed=failed, **summary)
    io.atomic_write_json(root / "cv.json", metrics.finite_or_null(record)[0], indent=1)
    if failed:
        print(f"error: {len(failed)} of {f.folds} folds failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
