"""Checkpoints through orbax: the latest few for resuming, and the best by an eval metric.

Layout under ``<workdir>/checkpoints``::

    latest/<step>/{state, meta}   the train state pytree and a JSON dict (counters, data position)
    best/<step>/{state, meta}     the single best checkpoint by ``best_metric``

Orbax writes each checkpoint into a temporary directory and renames it only when complete,
so a process killed during a save leaves the previous checkpoints intact and the partial one
is ignored (and cleaned up) on the next start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


def _abstract(tree: Any) -> Any:
    """Shape/dtype/sharding template for restoring ``tree``'s structure."""
    return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, tree)


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

    def _restore(self, manager: ocp.CheckpointManager, step: int, template: Any) -> tuple[Any, dict[str, Any]]:
        restored = manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(template)), meta=ocp.args.JsonRestore()),
        )
        return restored.state, dict(restored.meta)

    def latest_step(self) -> int | None:
        """Step of the newest complete latest-checkpoint, or ``None``."""
        return self._latest.latest_step()

    def restore_latest(self, template: Any) -> tuple[Any, dict[str, Any]] | None:
        """``(state, meta)`` of the latest checkpoint, shaped and sharded like ``template``; ``None`` if none."""
        step = self._latest.latest_step()
        return None if step is None else self._restore(self._latest, step, template)

    def best_step(self) -> int | None:
        """Step of the best checkpoint by ``best_metric``, or ``None``."""
        return self._best.best_step()

    def restore_best(self, template: Any) -> tuple[Any, dict[str, Any]] | None:
        """``(state, meta)`` of the best checkpoint, shaped and sharded like ``template``; ``None`` if none."""
        step = self._best.best_step()
        return None if step is None else self._restore(self._best, step, template)

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
    on the default device, whatever the model's code looks like now.
    """
    directory = Path(directory).absolute()
    for which in ("best", "latest"):
        if not (directory / which).is_dir():
            continue
        manager = ocp.CheckpointManager(directory / which)
        step = manager.latest_step()
        if step is not None:
            restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
            manager.close()
            return restored.state["params"], step
        manager.close()
    raise FileNotFoundError(f"no checkpoints in {directory} (train first, or check --workdir)")
