"""Library pieces built from a config: the cell and the recurrent encoder that ``config.model``
describes, the check that an inference mode runs under the model config a workdir was trained
with."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Container, Iterable, Mapping
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import ml_collections

from rnn_research import cells, io, layers, recurrent
from rnn_research.train import resume

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# ``config.model`` fields that do not change the trained function at inference: how it is computed
# (``resume.COMPUTATION_ONLY``) and what only shapes training. An experiment extends it with its
# own (``TRAINING_ONLY = (*configured.TRAINING_ONLY, "word_dropout")``) for check_model_config.
TRAINING_ONLY = resume.TRAINING_ONLY


def make_cell(model: ml_collections.ConfigDict) -> cells.Cell:
    """``config.model`` -> a cell: ``cell``, ``hidden_size``, ``forget_bias`` (cells that have
    one), ``init_scale``, ``learn_initial_state``, ``dtype``."""
    if model.dtype not in DTYPES:
        raise ValueError(f"model.dtype={model.dtype!r} is not one of {sorted(DTYPES)}")
    kwargs = {"dtype": DTYPES[model.dtype], "learn_initial_state": bool(model.learn_initial_state)}
    if model.init_scale > 0:
        init = cells.symmetric_uniform(model.init_scale)
        kwargs.update(kernel_init=init, recurrent_init=init, bias_init=init)
    cls = cells.CELLS.get(str(model.cell).lower())
    if cls is not None and "forget_bias" in {f.name for f in dataclasses.fields(cls)}:
        kwargs["forget_bias"] = model.forget_bias
    try:
        return cells.make(model.cell, model.hidden_size, **kwargs)
    except ValueError as e:
        raise ValueError(f"model.cell: {e}") from None


def make_rnn(model: ml_collections.ConfigDict) -> layers.RNN:
    """The (stacked, bidirectional) recurrent layer that ``config.model`` describes.

    ``model.remat``: 0 (off), -1 (checkpoint every ``ceil(sqrt(T))`` steps) or ``k > 0`` (every
    ``k`` steps); ``model.backward``: ``custom`` or ``autodiff``; ``model.truncate_every``: 0 (full
    backpropagation) or ``k`` (stop the gradient into the state every ``k`` steps);
    ``model.scan_mode``: ``auto``, ``sequential`` or ``parallel`` (see ``recurrent.unroll``).
    """
    if model.backward not in recurrent.BACKWARDS:
        raise ValueError(f"model.backward={model.backward!r} is not one of {list(recurrent.BACKWARDS)}")
    if isinstance(model.remat, bool) or not isinstance(model.remat, int) or model.remat < -1:
        raise ValueError(f"model.remat={model.remat!r} must be 0 (off), -1 (every ceil(sqrt(T)) steps) or k > 0")
    remat = {0: False, -1: True}.get(model.remat, model.remat)
    if model.scan_mode not in recurrent.MODES:
        raise ValueError(f"model.scan_mode={model.scan_mode!r} is not one of {list(recurrent.MODES)}")
    if isinstance(model.truncate_every, bool) or not isinstance(model.truncate_every, int) or model.truncate_every < 0:
        raise ValueError(f"model.truncate_every={model.truncate_every!r} must be 0 (off) or k > 0")
    cell = make_cell(model)
    if model.scan_mode == "parallel" and not cell.parallel_scan:
        raise ValueError(f"model.scan_mode='parallel' needs model.cell mingru or minlstm, not {model.cell!r}")
    return layers.RNN(
        cell=cell,
        num_layers=model.num_layers,
        bidirectional=model.bidirectional,
        dropout=model.dropout,
        unroll=model.unroll,
        remat=remat,
        backward=model.backward,
        truncate_every=model.truncate_every or None,
        mode=model.scan_mode,
    )


def check_model_config(
    config: ml_collections.ConfigDict,
    workdir: Path,
    training_only: Container[str] = TRAINING_ONLY,
    added_fields: Mapping[str, Any] | None = None,
) -> None:
    """Refuses ``model.*`` settings other than those ``workdir/config.json`` trained with.

    ``training_only`` names fields that do not change the trained function (dropout rates and
    the like; default :data:`TRAINING_ONLY`) and may differ. ``added_fields`` (flat keys, e.g. an
    experiment's ``ADDED_FIELDS``) extends ``resume.ADDED_FIELDS``: values a saved config that
    lacks them ran with. Used by the inference modes (LM sampling, classification prediction,
    forecasting prediction and anomalies).
    """
    path = Path(workdir) / "config.json"
    if not path.exists():
        return
    now = json.loads(config.model.to_json_best_effort())
    added = {**resume.ADDED_FIELDS, **(added_fields or {})}
    saved_model = json.loads(io.read_utf8(path, key="--workdir")).get("model", {})
    saved = resume.with_added_fields(saved_model, now, prefix="model.", added=added)
    changed = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k) and k not in training_only)
    if changed:
        details = ", ".join(f"model.{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise ValueError(f"{path} was trained with another model ({details}); use that run's --config")


def check_data_config(config: ml_collections.ConfigDict, workdir: Path, keys: Iterable[str], reads: str) -> None:
    """Refuses, in one line naming the keys, ``data.<key>`` values other than those
    ``workdir/config.json`` trained with, for the ``keys`` that decide what inference reads
    (the vocabulary, the scaler). ``reads`` says what that is, for the message."""
    path = Path(workdir) / "config.json"
    if not path.exists() or "data" not in config:
        return
    saved = json.loads(io.read_utf8(path, key="--workdir")).get("data", {})
    changed = [k for k in keys if k in saved and k in config.data and saved[k] != config.data[k]]
    if changed:
        details = ", ".join(f"data.{k}: {saved[k]!r} -> {config.data[k]!r}" for k in changed)
        raise ValueError(f"{path} was trained on other data ({details}); {reads}; use that run's --config")
