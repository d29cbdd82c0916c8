"""Checkpoints through orbax: the latest few for resuming, and the best by an eval metric.

Layout under ``<workdir>/checkpoints``::

    latest/<step>/{state, meta}   the train state pytree and a JSON dict (counters, data position)
    best/<step>/{state, meta}     the single best checkpoint by ``best_metric``

Orbax writes each checkpoint into a temporary directory and renames it only when complete,
so a process killed during a save leaves the previous checkpoints intact and the partial one
is ignored (and cleaned up) on the next start. Where a killed save still left a step directory
whose files are damaged (its tree metadata missing, array files empty or unreadable: seen with
another orbax version on a GPU machine), restoring skips it with a one-line warning and takes
the next older one. Resuming moves a skipped latest checkpoint aside to
``unreadable-<step>-<time>`` (so the step can be saved again); evaluation and inference leave
directories as they are. A step whose saved tree is not the one the config's model builds
(another model's checkpoint: :func:`tree_problem`, read from orbax's metadata before restoring)
is skipped the same way. Any other restore error (out of memory) is raised, and so is finding
only damaged checkpoints, in one line: nothing is restarted from scratch behind your back.

Each saved step also gets ``checksums.json``: the SHA-256 of every file orbax wrote. Restoring
checks it first, so a file that was emptied, truncated, had bytes flipped or replaced by garbage
(which orbax may read without complaint, e.g. as NaN weights) counts as damaged too. Steps saved
before checksums existed have none and are read unchecked.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import orbax.checkpoint as ocp

from rnn_research import optim
from rnn_research.integrity import (  # re-exported: the checks each restore applies
    CHECKSUMS,
    artefact_digests,
    check_artefacts,
    check_params,
    checksum_problem,
    nonfinite_leaves,
    params_problem,
    tree_problem,
    write_checksums,
)

__all__ = [
    "CHECKSUMS",
    "Checkpointer",
    "DamagedCheckpointsError",
    "Restored",
    "artefact_digests",
    "check_artefacts",
    "check_params",
    "checksum_problem",
    "nonfinite_leaves",
    "params_problem",
    "restore_params",
    "saved_any",
    "tree_problem",
    "write_checksums",
]


def _abstract(tree: Any) -> Any:
    """Shape/dtype/sharding template for restoring ``tree``'s structure."""
    return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, tree)


class Restored(NamedTuple):
    """A restored checkpoint: the train state, its meta dict and its step."""

    state: Any
    meta: dict[str, Any]
    step: int


class DamagedCheckpointsError(RuntimeError):
    """Step directories exist under a checkpoint directory but none of them can be read."""


# Messages of the tensorstore/orbax errors for missing or truncated checkpoint files.
_DAMAGE_MESSAGES = ("NOT_FOUND", "DATA_LOSS", "OUT_OF_RANGE", "Error reading", "does not exist")


def _is_damaged(step_dir: Path, error: Exception) -> bool:
    """Whether ``error`` from restoring ``step_dir`` comes from damaged files (not from a shape
    mismatch, a full device or the like)."""
    if isinstance(error, FileNotFoundError) or not (step_dir / "state" / "_METADATA").is_file():
        return True
    if any(f.is_file() and f.stat().st_size == 0 and f.parent.name == "d" for f in step_dir.rglob("*")):
        return True
    return isinstance(error, (OSError, ValueError)) and any(m in str(error) for m in _DAMAGE_MESSAGES)


def _move_aside(path: Path) -> str:
    """Renames a damaged step directory (on the first process only); returns a note for the warning."""
    if jax.process_index() != 0 or not path.is_dir():
        return ""
    aside = path.with_name(f"unreadable-{path.name}-{int(time.time())}")
    try:
        path.rename(aside)
    except OSError as e:
        return f"; could not move it aside ({type(e).__name__})"
    return f"; moved to {aside.name}"


def _first_readable(
    directory: Path,
    steps: Iterable[int],
    restore: Callable[[int], Any],
    *,
    move_aside: bool,
    what: str = "",
    check: Callable[[Path], str | None] | None = None,
) -> tuple[Any, int] | None:
    """``(restore(step), step)`` for the first step in ``steps`` whose files read.

    Damaged step directories (failing their checksums, ``check`` -- e.g. :func:`tree_problem` --
    or the restore itself) are reported in one line each (and moved aside when ``move_aside``);
    ``None`` if there are no steps, :class:`DamagedCheckpointsError` if all are damaged. Other
    errors propagate.
    """
    damaged: list[tuple[int, str]] = []
    for step in steps:
        problem = checksum_problem(directory / str(step)) or (check(directory / str(step)) if check else None)
        if problem:
            damaged.append((step, problem))
            continue
        try:
            found = restore(step)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            if not _is_damaged(directory / str(step), e):
                raise
            damaged.append((step, f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]}"))
            continue
        for bad, reason in damaged:
            note = _move_aside(directory / str(bad)) if move_aside else ""
            print(
                f"warning: skipping unreadable checkpoint {directory / str(bad)} ({reason}){note}{what}",
                file=sys.stderr,
            )
        if move_aside and damaged and jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("rnn_research.checkpoint.move_aside")
        return found, step
    if damaged:
        raise DamagedCheckpointsError(
            f"no usable checkpoint in {directory}: steps {[s for s, _ in damaged]} fail their checks "
            f"({damaged[0][1]}); check --config, or move them away to start afresh"
        )
    return None


def saved_any(directory: str | Path) -> bool:
    """Whether ``directory`` (a run's ``checkpoints/``) holds a saved step under ``latest/`` or
    ``best/``, readable or not, or one moved aside (``unreadable-*``); a temporary directory of a
    save that never finished does not count."""
    for sub in ("latest", "best"):
        folder = Path(directory) / sub
        if folder.is_dir() and any(
            p.is_dir() and (p.name.isdigit() or p.name.startswith("unreadable-")) for p in folder.iterdir()
        ):
            return True
    return False


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
        self._seal(self._latest, step)

    def save_best(self, step: int, state: Any, meta: dict[str, Any], metrics: dict[str, float]) -> None:
        """Offers this eval's checkpoint to the best-of manager (kept only if it is the best)."""
        if step in self._best.all_steps():
            self._best.delete(step)
        self._best.save(step, args=self._args(state, meta), metrics=metrics, force=True)
        self._best.wait_until_finished()
        self._seal(self._best, step)

    @staticmethod
    def _seal(manager: ocp.CheckpointManager, step: int) -> None:
        """Checksums of a finished save (the first process writes them; a save the manager did
        not keep, such as a best-of candidate that was not the best, has no directory)."""
        step_dir = Path(manager.directory) / str(step)
        if jax.process_index() == 0 and step_dir.is_dir():
            write_checksums(step_dir)

    def _restore(
        self, manager: ocp.CheckpointManager, template: Any, steps: Iterable[int], move_aside: bool = False
    ) -> Restored | None:
        def read(step: int) -> Any:
            return manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_abstract(template)), meta=ocp.args.JsonRestore()
                ),
            )

        found = _first_readable(
            Path(manager.directory), steps, read, move_aside=move_aside, check=lambda d: tree_problem(d, template)
        )
        if move_aside:
            manager.reload()  # forget the steps moved aside, so that they can be saved again
        if found is None:
            return None
        restored, step = found
        return Restored(restored.state, dict(restored.meta), step)

    def latest_step(self) -> int | None:
        """Step of the newest complete latest-checkpoint, or ``None``."""
        return self._latest.latest_step()

    def restore_latest(self, template: Any, *, move_aside: bool = False) -> Restored | None:
        """The newest readable latest-checkpoint, shaped and sharded like ``template``; ``None`` if
        there is none. ``move_aside``: rename damaged newer ones (when resuming training)."""
        return self._restore(self._latest, template, sorted(self._latest.all_steps(), reverse=True), move_aside)

    def best_step(self) -> int | None:
        """Step of the best checkpoint by ``best_metric``, or ``None``."""
        return self._best.best_step()

    def restore_best(self, template: Any) -> Restored | None:
        """The best checkpoint by ``best_metric``, shaped and sharded like ``template``; ``None`` if
        none; :class:`DamagedCheckpointsError` if its files are damaged."""
        best = self._best.best_step()
        return self._restore(self._best, template, [] if best is None else [best])

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
    on the default device, whatever the model's code looks like now. With a moving average of the
    weights in the optimizer state (``optim.ema_decay > 0``), the average is returned, as the
    harness evaluated it. An unreadable step directory (a save killed midway) is skipped with a
    warning, and the next newest is read. A workdir file the checkpoint was saved with (its
    ``artefacts``, e.g. ``vocab.json``) that has changed since is refused (:func:`check_artefacts`),
    and so are parameters holding NaN or infinity (every output would be non-finite).
    """
    directory = Path(directory).absolute()
    for which in ("best", "latest"):
        if not (directory / which).is_dir():
            continue
        manager = ocp.CheckpointManager(directory / which)

        def read(step: int, manager: ocp.CheckpointManager = manager) -> Any:
            items = {"state": ocp.args.StandardRestore()}
            if (Path(manager.directory) / str(step) / "meta").is_dir():
                items["meta"] = ocp.args.JsonRestore()
            return manager.restore(step, args=ocp.args.Composite(**items))

        try:
            found = _first_readable(
                directory / which, sorted(manager.all_steps(), reverse=True), read, move_aside=False
            )
        except DamagedCheckpointsError as e:
            if which == "latest":
                raise
            print(f"warning: {e}; using the latest checkpoint instead of the best", file=sys.stderr)
            found = None
        finally:
            manager.close()
        if found is not None:
            restored, step = found
            check_artefacts(directory.parent, dict(restored.get("meta") or {}), step)
            state = restored.state
            params = optim.averaged_params(state.get("opt_state"), state["params"])
            bad = nonfinite_leaves(params)
            if bad:  # every output would be NaN: refused, not printed
                more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
                raise ValueError(
                    f"checkpoint step {step} in {directory / which} holds non-finite parameters ({bad[0]}{more}): "
                    "the run diverged before it was saved; train again with a lower optim.learning_rate"
                )
            return params, step
    raise FileNotFoundError(f"no checkpoints in {directory} (train first, or check --workdir)")
