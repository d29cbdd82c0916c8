"""What a saved checkpoint is checked against before it is trusted: the SHA-256 checksums of
its files, the tree the config's model builds, finite parameters, and the fingerprints of the
workdir files (vocabularies) it was saved with. :mod:`rnn_research.checkpoint` uses these and
re-exports them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from rnn_research import io

CHECKSUMS = "checksums.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(step_dir: Path) -> None:
    """Writes ``step_dir/checksums.json``: ``{"sha256": {relative path: digest}}`` of its files."""
    files = sorted(p for p in step_dir.rglob("*") if p.is_file() and p.name != CHECKSUMS)
    digests = {str(p.relative_to(step_dir)): _sha256(p) for p in files}
    io.atomic_write_text(step_dir / CHECKSUMS, json.dumps({"sha256": digests}, indent=0, sort_keys=True))


def checksum_problem(step_dir: Path) -> str | None:
    """Why ``step_dir`` fails its checksums (a file missing or changed), or None if it passes or
    has no ``checksums.json`` (saved before checksums existed)."""
    path = step_dir / CHECKSUMS
    if not path.is_file():
        return None
    try:
        expected = json.loads(path.read_text(encoding="utf-8"))["sha256"]
        items = sorted(expected.items())
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return f"{CHECKSUMS} is unreadable"
    for name, digest in items:
        file = step_dir / name
        if not file.is_file():
            return f"{name} is missing"
        if _sha256(file) != digest:
            return f"{name} does not match its checksum"
    return None


def _key_name(key: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _leaf_specs(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{"params/lstm/kernel": (shape, dtype name)}`` of a pytree of arrays or array metadata;
    dataclass fields, dict keys and sequence indices all read as path parts."""
    flat = jax.tree_util.tree_leaves_with_path(tree)
    return {
        "/".join(_key_name(k) for k in path): (tuple(getattr(leaf, "shape", ())), str(getattr(leaf, "dtype", "")))
        for path, leaf in flat
    }


def tree_problem(step_dir: Path, template: Any, item: str = "state") -> str | None:
    """Why the tree saved in ``step_dir/item`` is not ``template``'s (another model's checkpoint: a
    parameter missing, added, or of another shape or dtype), or None when they agree. Reads only
    orbax's metadata; an unreadable metadata file is left to the restore to report."""
    try:
        saved = ocp.StandardCheckpointHandler().metadata(step_dir / item).tree
    except Exception:  # noqa: BLE001 -- damaged metadata: the restore reports it as damage
        return None
    return params_problem(saved, template)


def params_problem(found: Any, expected: Any, prefix: str = "") -> str | None:
    """The first difference between two trees of arrays (or array metadata, or ``jax.eval_shape``
    structs) as ``"it holds another model: <path> ..."``, parameters first; None when they have
    the same paths, shapes and dtypes. ``prefix`` is put before every path in the message."""
    saved, wanted = _leaf_specs(found), _leaf_specs(expected)

    def order(path: str) -> tuple[bool, str]:  # parameters first: they name the model
        return (not path.startswith("params/"), path)

    missing = sorted(wanted.keys() - saved.keys(), key=order)
    if missing:
        return f"it holds another model: {prefix}{missing[0]} is missing" + (
            f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        )
    extra = sorted(saved.keys() - wanted.keys(), key=order)
    if extra:
        return f"it holds another model: it has {prefix}{extra[0]}, which this config's model lacks"
    for path in sorted(wanted, key=order):
        (shape, dtype), (saved_shape, saved_dtype) = wanted[path], saved[path]
        if shape != saved_shape or (dtype and saved_dtype and dtype != saved_dtype):
            return (
                f"it holds another model: {prefix}{path} is {saved_dtype}{list(saved_shape)} there, "
                f"{dtype}{list(shape)} in this config's model"
            )
    return None


def check_params(params: Any, expected: Any, step: int, directory: str | Path) -> None:
    """Refuses, in one line, restored ``params`` (of checkpoint ``step`` under ``directory``) that
    are not the tree the config's model builds (``expected``: e.g. ``jax.eval_shape`` of its init),
    for the inference modes, which restore without a template."""
    problem = params_problem(params, expected, prefix="params/")
    if problem:
        raise ValueError(
            f"checkpoint step {step} in {directory} does not fit this config: {problem}; use that run's --config"
        )


def nonfinite_leaves(tree: Any) -> list[str]:
    """Paths (``"lstm/kernel"``) of the floating-point leaves of ``tree`` holding NaN or infinity."""
    found = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        values = np.asarray(leaf)
        if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
            found.append("/".join(_key_name(k) for k in path))
    return found


def artefact_digests(workdir: str | Path, names: Iterable[str]) -> dict[str, str]:
    """``{name: SHA-256}`` of the workdir files ``names`` (those that exist), for a checkpoint's meta."""
    workdir = Path(workdir)
    return {name: _sha256(workdir / name) for name in names if (workdir / name).is_file()}


def check_artefacts(workdir: str | Path, meta: dict[str, Any], step: int) -> None:
    """Refuses, in one line, a workdir file that differs from the one checkpoint ``step`` was saved
    with (``meta["artefacts"]``; checkpoints saved before fingerprints have none)."""
    workdir = Path(workdir)
    for name, digest in sorted((meta.get("artefacts") or {}).items()):
        path = workdir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; checkpoint step {step} was saved with it")
        if _sha256(path) != digest:
            raise ValueError(
                f"{path} is not the file checkpoint step {step} was saved with (its SHA-256 differs); "
                "put the original back or train again"
            )
