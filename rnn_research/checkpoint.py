"""Checkpoints through orbax: the latest few for resuming, and the best by an eval metric.

Layout under ``<workdir>/checkpoints``::

    latest/<step>/{state, meta}   the train state pytree and a JSON dict (counters, data position)
    best/<step>/{state, meta}     the single best checkpoint by ``best_metric``

Orbax writes each checkpoint into a temporary directory and renames it only when complete,
so a process killed during a save leaves the previous checkpoints intact and the partial one
is ignored (and cleaned up) on the next start. Where a killed save still left a step directory
that cannot be read (seen with other orbax versions and file systems), restoring skips it with
a one-line warning and takes the next one: the trainer moves it aside to ``unreadable-<step>``
(so that the step can be saved again), inference leaves the directory as it is.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import orbax.checkpoint as ocp


def _abstract(tree: Any) -> Any:
    """Shape/dtype/sharding template for restoring ``tree``'s structure."""
    return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, tree)


class Restored(NamedTuple):
    """A restored checkpoint: the train state, its meta dict and its step."""

    state: Any
    meta: dict[str, Any]
    step: int


# What orbax/tensorstore raise for a step directory with missing or truncated files.
_UNREADABLE = (OSError, ValueError, KeyError, RuntimeError)


def _first_readable(
    directory: Path, steps: Iterable[int], restore: Callable[[int], Any], *, move_aside: bool
) -> tuple[Any, int] | None:
    """``(restore(step), step)`` for the first step in ``steps`` that reads; unreadable ones are
    reported in one line each (and renamed ``unreadable-<step>`` when ``move_aside``)."""
    for step in steps:
        try:
            return restore(step), step
        except _UNREADABLE as e:
            path = directory / str(step)
            reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            note = ""
            if move_aside and path.is_dir():
                aside = directory / f"unreadable-{step}-{int(time.time())}"
                path.rename(aside)
                note = f"; moved to {aside.name}"
            print(
                f"warning: skipping unreadable checkpoint {path} ({type(e).__name__}: {reason}){note}", file=sys.stderr
            )
    return None


class Checkpointer:
    """Saves and restores ``(state pytree, meta dict)`` pairs by step."""

    def __init__(self, directory: str | Path, *, keep: int, best_metric: str, best_mode: str) -> None:
        if best_mode not in ("min", "max"):
            raise ValueError(f"train.best_mode must be 'min' or 'max', got {best_mode!r}")
        directory = Path(directory).absolute()
        self.best_metric = best_metric

        def options(**kwargs: Any) -> ocp.CheckpointManagerOptions:
            return ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=False, **kwargs)

        self._latest = ocp.CheckpointManager(directory / "latest", options=options(max_to_keep=max(1, keep)))
        self._best = ocp.CheckpointManager(
            directory / "best",
            options=options(max_to_keep=1, best_fn=lambda m: m[best_metric], best_mode=best_mode),
        )

    @staticmethod
    def _args(state: Any, meta: dict[str, Any]) -> ocp.args.Composite:
        return ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Writes ``(state, meta)`` as the latest checkpoint of ``step`` and waits until it is on disk."""
        self._latest.save(step, args=self._args(state, meta), force=True)
        self._latest.wait_until_finished()

    def save_best(self, step: int, state: Any, meta: dict[str, Any], metrics: dict[str, float]) -> None:
        """Offers this eval's checkpoint to the best-of manager (kept only if it is the best)."""
        if step in self._best.all_steps():
            self._best.delete(step)
        self._best.save(step, args=self._args(state, meta), metrics=metrics, force=True)
        self._best.wait_until_finished()

    def _restore(self, manager: ocp.CheckpointManager, template: Any, steps: Iterable[int]) -> Restored | None:
        def read(step: int) -> Any:
            return manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_abstract(template)), meta=ocp.args.JsonRestore()
                ),
            )

        found = _first_readable(Path(manager.directory), steps, read, move_aside=True)
        manager.reload()  # forget the steps moved aside, so that they can be saved again
        if found is None:
            return None
        restored, step = found
        return Restored(restored.state, dict(restored.meta), step)

    def latest_step(self) -> int | None:
        """Step of the newest complete latest-checkpoint, or ``None``."""
        return self._latest.latest_step()

    def restore_latest(self, template: Any) -> Restored | None:
        """The newest readable latest-checkpoint, shaped and sharded like ``template``; ``None`` if none."""
        return self._restore(self._latest, template, sorted(self._latest.all_steps(), reverse=True))

    def best_step(self) -> int | None:
        """Step of the best checkpoint by ``best_metric``, or ``None``."""
        return self._best.best_step()

    def restore_best(self, template: Any) -> Restored | None:
        """The best readable checkpoint by ``best_metric``, shaped and sharded like ``template``; ``None`` if none."""
        best = self._best.best_step()
        others = sorted((s for s in self._best.all_steps() if s != best), reverse=True)
        return self._restore(self._best, template, ([best] if best is not None else []) + others)

    def forget_best_after(self, step: int) -> None:
        """Drops best checkpoints newer than ``step`` (written after the checkpoint a resume starts from)."""
        for s in self._best.all_steps():
            if s > step:
                self._best.delete(s)

    def close(self) -> None:
        """Waits for pending writes and releases both managers."""
        self._latest.close()
        self._best.close()


def restore_params(directory: str | Path) -> tuple[Any, int]:
    """``(params, step)`` of the best checkpoint under ``directory`` (else the latest), with no template.

    For inference from a workdir alone (sampling, prediction): the arrays come back as saved,
    on the default device, whatever the model's code looks like now. An unreadable step directory
    (a save killed midway) is skipped with a warning, and the next newest is read.
    """
    directory = Path(directory).absolute()
    for which in ("best", "latest"):
        if not (directory / which).is_dir():
            continue
        manager = ocp.CheckpointManager(directory / which)

        def read(step: int, manager: ocp.CheckpointManager = manager) -> Any:
            return manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))

        found = _first_readable(directory / which, sorted(manager.all_steps(), reverse=True), read, move_aside=False)
        manager.close()
        if found is not None:
            return found[0].state["params"], found[1]
    raise FileNotFoundError(f"no checkpoints in {directory} (train first, or check --workdir)")
