"""Polyphonic music on the shared harness: next-frame prediction of binary piano rolls
(Boulanger-Lewandowski, Bengio & Vincent 2012), with independent keys or an RNN-NADE head.

Data (``data.py``; readers in ``rolls.py``): generated chord progressions (the offline default,
``generated.py``), Boulanger-Lewandowski's ``.mat`` rolls (JSB Chorales, Nottingham, ...) or a
folder of MIDI files. Model (``model.py``, ``heads.py``): frames of K keys -> a stacked RNN of
any cell (``model.cell``, ``hidden_size``, ``num_layers``) -> ``model.head`` ``bernoulli`` or
``nade`` (``model.nade_hidden`` units); ``model.input_dropout`` on the frames read,
``model.dropout`` between layers and before the head (``model.variational``: one mask per piece
for all its steps), ``model.weight_drop`` DropConnect on the recurrent kernels (Merity et al. 2018).

Loss and metrics as the papers define them: ``nll``, the negative log-likelihood in nats of each
next frame summed over its K keys, averaged over every predicted step of the split (padding
excluded; sums ``total_nll`` / ``total_steps`` reduced exactly by the harness); ``frame_accuracy``
(Bay, Ehmann & Downie 2009), ``TP / (TP + FP + FN)`` over the split's keys and steps, of the most
likely frame (``bernoulli``) or the greedy one (``nade``: each key in turn set to its more likely
value). A model that gives every key probability 1/2 scores ``K ln 2`` (60.997 nats for 88 keys).

``--mode=sample`` (``sample.py``) writes MIDI files and piano-roll PNGs from the best checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from experiments.music import heads
from experiments.music.data import SOURCES, make_data  # noqa: F401
from experiments.music.model import PianoRollModel
from rnn_research import configured
from rnn_research.configured import make_rnn
from rnn_research.train import validate as v

TRAINING_ONLY = (*configured.TRAINING_ONLY, "input_dropout", "variational", "weight_drop")
CONFIG_RULES = {
    "data.source": v.one_of(*SOURCES),
    "data.frames_per_beat": v.int_at_least(1),
    "data.num_pieces": v.int_at_least(3),
    "data.generator_seed": v.int_at_least(0),
    "data.split_seed": v.int_at_least(0),
    "data.valid_fraction": v.fraction(),
    "data.test_fraction": v.fraction(),
    "data.max_train_frames": v.int_at_least(0),
    "data.transpose": v.int_at_least(0),
    "data.num_buckets": v.int_at_least(1),
    "data.eval_batch_size": v.int_at_least(0),
    "model.head": v.one_of(*heads.HEADS),
    "model.nade_hidden": v.int_at_least(1),
    "model.input_dropout": v.fraction(),
    "model.variational": v.boolean(),
    "model.weight_drop": v.fraction(),
    "sample.num_samples": v.int_at_least(1),
    "sample.length": v.int_at_least(1),
    "sample.primer": v.one_of("test", "none"),
    "sample.piece": v.int_at_least(0),
    "sample.primer_frames": v.int_at_least(1),
    "sample.temperature": v.at_least(0),
    "sample.seed": v.integer(),
    "sample.bpm": v.at_least(0, strict=True),
}
CONFIG_NOTES = {
    "data.max_train_frames": " (0: whole pieces)",
    "data.eval_batch_size": " (0: train.batch_size)",
    "sample.temperature": " (0: each key at its more likely value)",
}


def prepare(config: ml_collections.ConfigDict, workdir: Any, info: Mapping[str, Any]) -> None:
    """Prints what the run reads: the source, its split sizes, notes dropped outside the keys."""
    print(f"data: {info['description']}", flush=True)


def make_model(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> PianoRollModel:
    m = config.model
    if m.bidirectional:
        raise ValueError("model.bidirectional: a next-frame model reads left to right only")
    odds = info.get("key_log_odds")
    return PianoRollModel(
        num_keys=info["num_keys"],
        rnn=make_rnn(m).clone(variational=m.variational, weight_drop=m.weight_drop),
        head=m.head,
        nade_hidden=m.nade_hidden,
        input_dropout=m.input_dropout,
        dropout=m.dropout,
        key_log_odds=tuple(odds) if odds is not None else None,
    )


def model_inputs(batch: Mapping[str, Any], carry: Any) -> tuple:
    return (batch["inputs"], batch["lengths"], batch["targets"])


def step_mask(batch: Mapping[str, Any]) -> jax.Array:
    """``[B, T]`` 1.0 on each real row's predicted steps, 0.0 on padding."""
    steps = jnp.arange(batch["inputs"].shape[1])[None, :]
    return (steps < batch["lengths"][:, None]).astype(jnp.float32) * batch["weights"][:, None]


def loss_and_metrics(
    model: PianoRollModel, variables: Any, batch: Mapping[str, Any], carry: Any, rng: jax.Array, train: bool
) -> tuple[jax.Array, tuple[dict[str, jax.Array], Any]]:
    """Mean NLL per predicted step (nats, summed over keys); in evaluation also the frame counts."""
    inputs, lengths, targets = model_inputs(batch, carry)
    out = model.apply(
        variables, inputs, lengths, targets, deterministic=not train, predict=not train, rngs={"dropout": rng}
    )
    logits, predicted = out if not train else (out, None)
    mask = step_mask(batch)
    nll = -heads.frame_log_prob(logits, targets)
    steps = jnp.sum(mask)
    metrics = {"total_nll": jnp.sum(mask * nll), "total_steps": steps}
    if predicted is not None:
        truth = targets.astype(jnp.float32)
        weight = mask[..., None]
        metrics["total_true_positives"] = jnp.sum(weight * predicted * truth)
        metrics["total_false_positives"] = jnp.sum(weight * predicted * (1.0 - truth))
        metrics["total_false_negatives"] = jnp.sum(weight * (1.0 - predicted) * truth)
    return metrics["total_nll"] / jnp.maximum(steps, 1.0), (metrics, carry)


def finalize_metrics(config: ml_collections.ConfigDict, values: dict[str, float]) -> dict[str, float]:
    """``nll`` (nats per step) from the exact sums, and ``frame_accuracy`` from the counts."""
    out = dict(values)
    if "total_nll" in values and "total_steps" in values:
        out["nll"] = values["total_nll"] / values["total_steps"] if values["total_steps"] else math.nan
    counts = [values.get(f"total_{k}") for k in ("true_positives", "false_positives", "false_negatives")]
    if None not in counts:
        tp, fp, fn = counts
        out["frame_accuracy"] = tp / (tp + fp + fn) if tp + fp + fn else math.nan
    return out


CONSOLE_METRICS = ("nll", "frame_accuracy", "grad_norm")


def _sample(config: ml_collections.ConfigDict, workdir: Any) -> Any:
    """``--mode=sample``: MIDI files and piano-roll PNGs sampled from the best checkpoint."""
    from experiments.music.sample import sample  # sample.py imports this module

    return sample(config, workdir)


MODES = {"sample": _sample}
