"""Speech recognition on the shared harness: log-mel frames in, a stack of (bidirectional) RNNs
trained with CTC (Graves et al. 2006; DeepSpeech 2's recipe at research scale), decoded greedily
or by CTC prefix beam search and scored by the symbol error rate.

Data (``data.py``): generated DTMF key strings (the offline default, ``dtmf.py``), the Free
Spoken Digit Dataset as isolated or connected digits (``fsdd.py``), or a user's transcript
table (``table.py``). Model (``model.py``): SpecAugment in training, a frame-stacking or strided
convolutional front end (``model.subsample``), ``make_rnn``'s stack (``model.bidirectional``),
a linear layer to the symbols plus the blank (id 0).

Loss: ``ctc``, the negative log-likelihood of each transcript summed over all its alignments
(``optax.ctc_loss`` through ``ctc.ctc_loss``), averaged over the utterances of a batch or split
(sums ``total_ctc`` / ``total_utterances`` reduced exactly by the harness: padding rows and
frames never count). Host-side (``evaluators``): each utterance decoded (``eval.beam``: 1 greedy
best path, else prefix beam search of that width), then ``error_rate`` (edit operations over
reference symbols, summed over the split: the key, digit or character error rate), ``utterance_accuracy``
(transcripts exactly right) and, when the alphabet has a space, ``word_error_rate``. The
checkpoint is chosen on ``valid/error_rate``.

``--mode=transcribe`` (``transcribe.py``) prints a transcript per audio file from the best
checkpoint; ``--mode=posteriors`` draws validation utterances' spectrograms and CTC posteriors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.speech import ctc, errors
from experiments.speech.data import NORMALIZE, SOURCES, SPLITS, TASKS, make_data  # noqa: F401
from experiments.speech.model import FRONTENDS, SpeechModel
from rnn_research import configured
from rnn_research.configured import make_rnn
from rnn_research.experiment import Evaluator
from rnn_research.io import atomic_write_json
from rnn_research.train import validate as v

ARTEFACT_FILE = "speech.json"  # the alphabet and feature normaliser inference reads
ARTEFACTS = (ARTEFACT_FILE,)
TRAINING_ONLY = (
    *configured.TRAINING_ONLY,
    "freq_masks",
    "freq_mask_width",
    "time_masks",
    "time_mask_width",
)
CONFIG_RULES = {
    "data.source": v.one_of(*SOURCES),
    "data.split": v.one_of(*SPLITS),
    "data.task": v.one_of(*TASKS),
    "data.normalize": v.one_of(*NORMALIZE),
    "data.sample_rate": v.int_at_least(1000),
    "data.window_ms": v.at_least(1, strict=False),
    "data.hop_ms": v.at_least(1, strict=False),
    "data.num_mels": v.int_at_least(1),
    "data.deltas": v.one_of(0, 1, 2),
    "data.num_train": v.int_at_least(1),
    "data.num_valid": v.int_at_least(1),
    "data.num_test": v.int_at_least(1),
    "data.min_symbols": v.int_at_least(1),
    "data.max_symbols": v.int_at_least(1),
    "data.generator_seed": v.int_at_least(0),
    "data.split_seed": v.int_at_least(0),
    "data.valid_fraction": v.fraction(),
    "data.test_fraction": v.fraction(),
    "data.num_buckets": v.int_at_least(1),
    "data.eval_batch_size": v.int_at_least(0),
    "model.frontend": v.one_of(*FRONTENDS),
    "model.subsample": v.int_at_least(1),
    "model.conv_features": v.int_at_least(1),
    "model.freq_masks": v.int_at_least(0),
    "model.freq_mask_width": v.int_at_least(0),
    "model.time_masks": v.int_at_least(0),
    "model.time_mask_width": v.int_at_least(0),
    "eval.beam": v.int_at_least(1),
}
CONFIG_NOTES = {
    "data.eval_batch_size": " (0: train.batch_size)",
    "eval.beam": " (1: greedy best path)",
}


def prepare(config: ml_collections.ConfigDict, workdir: Any, info: Mapping[str, Any]) -> None:
    """Prints what the run reads; saves the alphabet, feature settings and normaliser (``speech.json``),
    or refuses a workdir whose saved ones differ."""
    print(f"data: {info['description']}; alphabet {info['alphabet']!r}", flush=True)
    saved = artefact(config, info)
    path = Path(workdir) / ARTEFACT_FILE
    if path.exists():
        import json

        old = json.loads(path.read_text(encoding="utf-8"))
        if old["alphabet"] != saved["alphabet"] or old["features"] != saved["features"]:
            raise ValueError(
                f"{path} (alphabet {old['alphabet']!r}, features {old['features']}) does not match this data "
                f"(alphabet {saved['alphabet']!r}, features {saved['features']}); use a new --workdir"
            )
        if not same_normalizer(old["normalizer"], saved["normalizer"]):
            raise ValueError(
                f"{path}: the training frames' mean and variance differ from those the run saved (other "
                "training data?); point data.* at the run's data, or use a new --workdir"
            )
        return
    atomic_write_json(path, saved, indent=1)


FEATURE_FIELDS = ("sample_rate", "window_ms", "hop_ms", "num_mels", "deltas", "normalize")


def same_normalizer(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two saved normalisers (``{"mean", "std"}`` or ``None``) agree to float32 rounding."""
    if a is None or b is None:
        return a is None and b is None
    return all(len(a[k]) == len(b[k]) and np.allclose(a[k], b[k], rtol=1e-5, atol=1e-6) for k in ("mean", "std"))


def artefact(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> dict[str, Any]:
    norm = info.get("normalizer")
    return {
        "alphabet": info["alphabet"],
        "features": {k: config.data[k] for k in FEATURE_FIELDS},
        "normalizer": norm.to_dict() if norm is not None else None,
    }


def make_model(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> SpeechModel:
    m = config.model
    return SpeechModel(
        num_symbols=info["num_symbols"],
        num_features=info["num_features"],
        rnn=make_rnn(m),
        frontend=m.frontend,
        subsample=m.subsample,
        conv_features=m.conv_features,
        dropout=m.dropout,
        freq_masks=m.freq_masks,
        freq_mask_width=m.freq_mask_width,
        time_masks=m.time_masks,
        time_mask_width=m.time_mask_width,
        feature_blocks=1 + config.data.deltas,
    )


def model_inputs(batch: Mapping[str, Any], carry: Any) -> tuple:
    return (batch["features"], batch["lengths"])


def loss_and_metrics(
    model: SpeechModel, variables: Any, batch: Mapping[str, Any], carry: Any, rng: jax.Array, train: bool
) -> tuple[jax.Array, tuple[dict[str, jax.Array], Any]]:
    """Mean CTC loss (nats per utterance) over the batch's real rows."""
    logits, lengths = model.apply(
        variables, batch["features"], batch["lengths"], deterministic=not train, rngs={"dropout": rng}
    )
    losses = ctc.ctc_loss(logits, lengths, batch["labels"], batch["label_lengths"], blank=0)
    weights = batch["weights"]
    count = jnp.sum(weights)
    total = jnp.sum(jnp.where(weights > 0, losses, 0.0))
    metrics = {"total_ctc": total, "total_utterances": count}
    return total / jnp.maximum(count, 1.0), (metrics, carry)


def finalize_metrics(config: ml_collections.ConfigDict, values: dict[str, float]) -> dict[str, float]:
    """``ctc`` (nats per utterance) from the exact sums."""
    out = dict(values)
    if "total_ctc" in values and "total_utterances" in values:
        n = values["total_utterances"]
        out["ctc"] = values["total_ctc"] / n if n else math.nan
    return out


def log_posteriors(model: SpeechModel) -> Any:
    """A jitted ``(params, features, lengths) -> (log-probabilities [B, T', V + 1], lengths' [B])``."""

    @jax.jit
    def run(params: Any, feats: jax.Array, lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits, new_lengths = model.apply({"params": params}, feats, lengths)
        return jax.nn.log_softmax(logits, axis=-1), new_lengths

    return run


def decode_batches(
    model: SpeechModel, params: Any, batches: Iterable[Mapping[str, np.ndarray]], beam: int, run: Any = None
) -> tuple[list[list[int]], list[list[int]]]:
    """``(references, hypotheses)`` as id lists for every real row of ``batches``."""
    run = run or log_posteriors(model)
    refs, hyps = [], []
    for batch in batches:
        log_probs, lengths = jax.device_get(run(params, batch["features"], batch["lengths"]))
        real = np.flatnonzero(batch["weights"] > 0)
        hyps.extend(ctc.batch_decode(log_probs[real], lengths[real], blank=0, beam=beam))
        refs.extend([list(batch["labels"][i, : batch["label_lengths"][i]]) for i in real])
    return refs, hyps


def split_counts(refs: list[list[int]], hyps: list[list[int]], alphabet: str) -> np.ndarray:
    """``int64 [10]``: symbol substitutions, deletions, insertions, reference length; utterances
    exactly right, utterances; then the word counts (zeros without a space in the alphabet).
    Counts add up over processes and shards."""
    sym = errors.error_counts(refs, hyps)
    exact = sum(list(r) == list(h) for r, h in zip(refs, hyps))
    words = (0, 0, 0, 0)
    if " " in alphabet:
        words = errors.error_counts(*[[text_of(r, alphabet).split() for r in side] for side in (refs, hyps)])
    return np.asarray([*sym, exact, len(refs), *words], np.int64)


def scores(counts: np.ndarray, alphabet: str) -> dict[str, float]:
    """``error_rate``, ``utterance_accuracy`` and, with a space in the alphabet, ``word_error_rate``
    from :func:`split_counts`."""
    sub, dele, ins, n, exact, utterances = (int(x) for x in counts[:6])
    out = {
        "error_rate": (sub + dele + ins) / n if n else math.nan,
        "utterance_accuracy": exact / utterances if utterances else math.nan,
    }
    if " " in alphabet:
        wsub, wdel, wins, wn = (int(x) for x in counts[6:])
        out["word_error_rate"] = (wsub + wdel + wins) / wn if wn else math.nan
    return out


def text_of(ids: Iterable[int], alphabet: str) -> str:
    """Ids ``1 .. V`` back to the transcript (0, the blank, never reaches here)."""
    return "".join(alphabet[int(i) - 1] for i in ids)


def evaluators(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> dict[str, Evaluator]:
    alphabet, beam, compiled = info["alphabet"], config.eval.beam, {}

    def decode(model: Any, params: Any, split: str, batches: Iterable[Any]) -> dict[str, float]:
        if id(model) not in compiled:
            compiled[id(model)] = log_posteriors(model)
        refs, hyps = decode_batches(model, params, batches, beam, compiled[id(model)])
        counts = split_counts(refs, hyps, alphabet)
        if jax.process_count() > 1:  # each process decoded its own rows: score the whole split
            from jax.experimental import multihost_utils

            counts = np.asarray(multihost_utils.process_allgather(counts)).sum(axis=0)
        return scores(counts, alphabet)

    decode.metrics = ("error_rate", "utterance_accuracy", *(("word_error_rate",) if " " in alphabet else ()))
    return {"decode": decode}


CONSOLE_METRICS = ("ctc", "error_rate", "utterance_accuracy", "word_error_rate", "grad_norm")


def _transcribe(config: ml_collections.ConfigDict, workdir: Any) -> Any:
    from experiments.speech.transcribe import transcribe

    return transcribe(config, workdir)


def _posteriors(config: ml_collections.ConfigDict, workdir: Any) -> Any:
    from experiments.speech.transcribe import posteriors

    return posteriors(config, workdir)


MODES = {"transcribe": _transcribe, "posteriors": _posteriors}
