"""Metric output of the training harness: JSONL records, TensorBoard event files (written by
:mod:`rnn_research.tensorboard`) and console progress; the PNG plots of training curves and
per-timestep heatmaps are :mod:`rnn_research.plots` (re-exported here).

``metrics.jsonl`` holds one JSON object a line, ``{"step", "split", "time", **metrics}``.
Metric values are floats; the JSON-illegal values NaN, +inf and -inf are written as the strings
``"nan"``, ``"inf"`` and ``"-inf"``, and :func:`read_jsonl` turns them back into floats. Each
line goes to the file in one ``write()`` call, so a killed run leaves at worst a partial last
line, which readers skip and :class:`MetricWriter` drops when it reopens the file.

Example::

    with MetricWriter(workdir, total_steps=1000) as writer:
        writer.resume(restored_step)  # after restoring a checkpoint (0 for a fresh run)
        writer.start_clock(restored_step + 1)  # once the first (compiling) step has finished
        writer.write(50, {"loss": 1.23, "accuracy": 0.5})
        writer.write(200, {"loss": 1.1}, split="eval")
    plot_curves(read_jsonl(workdir / "metrics.jsonl"), workdir / "plots")
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnn_research import io
from rnn_research import tensorboard as tb
from rnn_research.plots import SAME_RTOL, plot_curves, plot_heatmap  # noqa: F401  (their home before plots.py)

JSONL_NAME = "metrics.jsonl"
_RESERVED = ("step", "split", "time")
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _encode(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _decode(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _NONFINITE.get(v, v) if k != "split" and isinstance(v, str) else v for k, v in record.items()}


def _parse(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(line, record)`` pairs of the complete lines of ``path``; raises on a corrupt one."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # The last piece is "" or a partial line: dropped.
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            reason = getattr(e, "msg", str(e))
            raise ValueError(f"{path}:{number}: corrupt metrics record ({reason})") from None
        pairs.append((line, record))
    return pairs


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl``, non-finite strings decoded; skips a partial last line."""
    return [_decode(record) for _, record in _parse(Path(path))]


def finite_or_null(tree: Any, path: str = "") -> tuple[Any, list[str]]:
    """``tree`` (nested dicts, lists and tuples of numbers and other values) with every NaN or
    infinite number replaced by ``None``, and the ``/``-joined paths of those numbers.

    ``json.dumps`` of the result is strict JSON (it writes NaN as the token ``NaN``, which JSON
    readers refuse); numpy scalars and 0-d arrays come back as Python numbers.
    """
    if isinstance(tree, Mapping):
        pairs = [(k, finite_or_null(v, f"{path}/{k}" if path else str(k))) for k, v in tree.items()]
        return {k: v for k, (v, _) in pairs}, [p for _, (_, bad) in pairs for p in bad]
    if isinstance(tree, (list, tuple)):
        parts = [finite_or_null(v, f"{path}/{i}" if path else str(i)) for i, v in enumerate(tree)]
        return [v for v, _ in parts], [p for _, bad in parts for p in bad]
    if isinstance(tree, (np.generic, np.ndarray)) and np.ndim(tree) == 0:
        tree = tree.item()
    if isinstance(tree, float) and not math.isfinite(tree):
        return None, [path or "value"]
    return tree, []


def _formatted(values: Mapping[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in values.items())


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class MetricWriter:
    """Writes scalar metrics to ``workdir/metrics.jsonl``, TensorBoard and the console.

    TensorBoard event files go to ``workdir/tensorboard/<split>`` (one writer per split, made at
    its first write); :meth:`write_text` and :meth:`write_images` add text and PNG images there.
    The harness should write a step's metrics before checkpointing that step, and call
    :meth:`resume` after restoring, so a killed-and-resumed run leaves the same records (``time``
    aside) as an uninterrupted one.

    Console: ``console_metrics`` (an experiment's ``CONSOLE_METRICS``), when given, are the only
    metrics a console line shows, in that order (names a record lacks are skipped); the line ends
    with ``(+N in metrics.jsonl)`` for the N it hides. ``console_once`` (``CONSOLE_ONCE``) maps a
    label to metric names shown on a line of their own, ``[split] label: name=value ...``, the
    first time each split records any of them (values that do not change between evaluations,
    such as baselines). The JSONL file and TensorBoard always get every metric.

    The steps/s and ETA of a train line measure the steps since the previous train line, or since
    :meth:`start_clock` (called once the first step, which compiles, has finished), whichever is
    later; ``- steps/s`` and ``ETA -`` when there is neither.
    """

    def __init__(
        self,
        workdir: str | Path,
        *,
        tensorboard: bool = True,
        console: bool = True,
        total_steps: int | None = None,
        console_metrics: Sequence[str] | None = None,
        console_once: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        for name, value in (("console_metrics", console_metrics), *(console_once or {}).items()):
            if isinstance(value, str):
                raise ValueError(f"{name} must be a tuple of metric names, not the string {value!r}")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.path = self.workdir / JSONL_NAME
        self.tensorboard, self.console, self.total_steps = tensorboard, console, total_steps
        self.console_metrics = None if console_metrics is None else tuple(console_metrics)
        self.console_once = {label: tuple(names) for label, names in (console_once or {}).items()}
        self._once_shown: set[tuple[str, str]] = set()
        self._events = tb.EventFiles(self.workdir / "tensorboard")
        self._start = time.time()
        self._last_train: tuple[int, float] | None = None
        if self.path.exists():  # Drop a partial last line left by a killed writer.
            with open(self.path, "rb+") as f:
                data = f.read()
                if data and not data.endswith(b"\n"):
                    f.truncate(data.rfind(b"\n") + 1)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, step: int, metrics: Mapping[str, Any], split: str = "train") -> None:
        """Records scalar ``metrics`` (floats, numpy or jax scalars) of ``split`` at ``step``."""
        self._check_open()
        step, now = int(step), time.time()
        values = {}
        for name, value in metrics.items():
            if name in _RESERVED:
                raise ValueError(f"metric name {name!r} is reserved (reserved: {', '.join(_RESERVED)})")
            if np.ndim(value) != 0:
                raise ValueError(f"metric {name!r} must be a scalar, got shape {np.shape(value)}")
            values[name] = float(np.asarray(value))
        record = {"step": step, "split": split, "time": now, **{k: _encode(v) for k, v in values.items()}}
        data = (json.dumps(record, allow_nan=False) + "\n").encode("utf-8")
        while data:  # One write() for a line in practice; loop only on a short write.
            data = data[os.write(self._fd, data) :]
        if self.tensorboard:
            self._events.write(split, step, tb.scalar_summary(values), wall_time=now)
        if self.console:
            print(self._console_line(step, values, split, now), flush=True)
            for label, names in self.console_once.items():
                shown = {k: values[k] for k in names if k in values}
                if shown and (label, split) not in self._once_shown:
                    self._once_shown.add((label, split))
                    print(f"[{split}] {label}: {_formatted(shown)}", flush=True)

    def write_text(self, tag: str, text: str, step: int, split: str = "train") -> None:
        """Adds markdown ``text`` under ``tag`` to TensorBoard's Text tab (nothing without TensorBoard)."""
        self._check_open()
        if self.tensorboard:
            self._events.write(split, step, tb.text_summary(tag, text))

    def write_images(self, step: int, images: Mapping[str, str | Path], split: str = "train") -> None:
        """Adds PNG files (``{tag: path}``) to TensorBoard's Images tab at ``step``, as they are."""
        self._check_open()
        if self.tensorboard:
            for tag, path in images.items():
                self._events.write(split, step, tb.image_summary(tag, Path(path).read_bytes()))

    def start_clock(self, step: int) -> None:
        """Starts the steps/s clock at ``step``: call it once the first train step of the process
        (the one that compiles) has finished, so the first rate and ETA leave compilation out."""
        self._last_train = (int(step), time.time())

    def _check_open(self) -> None:
        if self._fd is None:
            raise ValueError(f"MetricWriter for {self.workdir} is closed")

    def _console_line(self, step: int, values: Mapping[str, float], split: str, now: float) -> str:
        where = f"step {step}" if self.total_steps is None else f"step {step}/{self.total_steps}"
        shown = values
        if self.console_metrics is not None:
            shown = {k: values[k] for k in self.console_metrics if k in values}
        parts = [f"[{split}] {where}", _formatted(shown)]
        if split == "train":
            rate = None
            if self._last_train is not None and step > self._last_train[0] and now > self._last_train[1]:
                rate = (step - self._last_train[0]) / (now - self._last_train[1])
            self._last_train = (step, now)
            parts.append(f"{rate:.4g} steps/s" if rate else "- steps/s")
            if self.total_steps is not None:
                parts.append(f"ETA {_duration(max(self.total_steps - step, 0) / rate)}" if rate else "ETA -")
        parts.append(f"elapsed {_duration(now - self._start)}")
        line = " | ".join(p for p in parts if p)
        hidden = len(values) - len(shown)
        return f"{line} (+{hidden} in {JSONL_NAME})" if hidden else line

    def resume(self, step: int, keep: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Keeps only records with ``step <= step`` (atomically) after restoring at ``step``.

        ``keep`` may drop more (e.g. the final evaluation of a run that is being extended).

        Also hides later TensorBoard events (``purge_step``) and stops the steps/s clock until
        the next :meth:`start_clock`.
        """
        self._check_open()
        step = int(step)
        kept = [line for line, r in _parse(self.path) if r["step"] <= step and (keep is None or keep(r))]
        with io.atomic_path(self.path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            os.close(self._fd)  # replaced as the block ends: the new file, then a new descriptor
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._events.resume(step + 1)
        self._last_train = None

    def close(self) -> None:
        """Syncs and closes the JSONL file and the TensorBoard writers; closing twice is fine."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        self._events.close()

    def __enter__(self) -> MetricWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
