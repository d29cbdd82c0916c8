"""Genome's ``--mode=saliency``: which bases a trained classifier's decision rests on, per position.

Two attributions of the logit of a target class to the one-hot input ``x [B, L, 4]``:

* :func:`gradient_x_input`: ``d logit / d x * x``, nonzero only at the observed base (at each base
  of an ambiguity code, weighted by its share);
* :func:`integrated_gradients` (Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep
  Networks"): ``(x - x') * mean_k d logit / d x (x' + a_k (x - x'))`` over ``steps`` midpoints
  ``a_k = (k + 1/2) / steps`` of the straight path from a baseline ``x'`` (``uniform``: 1/4 on
  every valid position, the uninformative profile of N; ``zeros``: no input at all) to ``x``. Its
  attributions of a sequence sum to ``logit(x) - logit(x')`` (completeness), up to the error of
  the Riemann sum.

With ``model.strand_average`` the model reads a sequence and its reverse complement
(:func:`reverse_complement_onehot`, computed from ``x`` inside the differentiated function), so
the attribution flows back through both strands onto the positions of ``x``. K-mer inputs
(``model.inputs=kmer``) have no per-base input and are refused.

The mode (:func:`saliency`) restores the run's best checkpoint, rebuilds the run's split
(``saliency.split``), attributes the logit of each sequence's predicted (or, with
``saliency.target=true``, its true) class and writes under ``<workdir>/saliency/``:

* ``<split>_<index>.png`` for the chosen sequences (the first ``saliency.num_sequences`` of the
  split, or ``saliency.indices``): a sequence logo of each attribution, the observed base drawn
  as high as its position's attribution, above or below zero (``logo.py``);
* ``average_<split>_<class>.png``: the mean attribution per position and base over every
  sequence of that (true) class in the split, sequences aligned at their first base.

In the figures and the averages a position's attribution (summed over its four channels: with the
uniform baseline, integrated gradients also credit the bases not read there) goes to the base
read there, shared among the bases of an ambiguity code by their weights in the profile
(:func:`on_observed_bases`). The tables:

* ``<split>.csv``: ``name, label, predicted, position`` (1-based), ``base`` (the symbol read
  there), ``grad_x_input, integrated_gradients`` (summed over the position's channels) for the
  chosen sequences;
* ``average_<split>.csv``: ``class, position, base, sequences`` (how many sequences of the class
  reach the position), ``mean_grad_x_input, mean_integrated_gradients``.

The final line reports ``completeness_gap``: ``mean |sum IG - (logit(x) - logit(x'))|`` over
the split divided by ``mean |logit(x) - logit(x')|``; above a few percent, raise ``saliency.steps``.
A gap that stays as the steps grow is the model jumping along the path (a trained GRU's state can
switch between saturated regimes within a tiny step of the input), which no Riemann sum resolves.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.genome import logo
from experiments.genome import sequences as seq
from experiments.genome.data import Encoded, make_data
from experiments.genome.logo import class_average, on_observed_bases, symbols  # noqa: F401 (part of this mode's API)
from rnn_research import checkpoint, io
from rnn_research.configured import check_data_config, check_model_config
from rnn_research.data.fields import comma_list

TARGETS = ("predicted", "true")
BASELINES = ("uniform", "zeros")
# The data fields that decide the records and their split: the mode rebuilds the run's split.
DATA_FIELDS = (
    "source",
    "path",
    "sequence_column",
    "label_column",
    "labels",
    "length",
    "num_sequences",
    "generated_length",
    "motif",
    "generator_seed",
    "split",
    "split_seed",
    "test_fraction",
    "valid_fraction",
    "folds",
    "fold",
)
COMPLETENESS_WARNING = 0.05


def check_inputs(inputs: str) -> None:
    """Refuses, in one line, a model that does not read one-hot nucleotides."""
    if inputs != "onehot":
        raise ValueError(
            f"saliency attributes per-base inputs: model.inputs={inputs!r} has none (k-mer ids are embedded, "
            "not read base by base); train with model.inputs='onehot'"
        )


def reverse_complement_onehot(x: jax.Array, lengths: jax.Array) -> jax.Array:
    """Row-wise reverse complements ``[B, L, 4]`` of base profiles ``x: [B, L, 4]`` (A, C, G, T).

    JAX's :func:`experiments.genome.sequences.reverse_complement_one_hot`: within each row's valid
    prefix (``lengths: [B]``) positions are reversed and channels reversed (A, C, G, T -> T, G, C, A);
    the positions after it are left as they are (zeros, for padding). Linear in ``x``, so gradients
    flow through it.
    """
    if x.ndim != 3 or x.shape[-1] != len(seq.BASES):
        raise ValueError(f"reverse_complement_onehot: expected x of shape [B, L, 4], got shape {x.shape}")
    if lengths.shape != x.shape[:1]:
        raise ValueError(f"reverse_complement_onehot: expected lengths of shape [{x.shape[0]}], got {lengths.shape}")
    source = lengths[:, None] - 1 - jnp.arange(x.shape[1])[None, :]
    valid = source >= 0
    gathered = jnp.take_along_axis(x, jnp.where(valid, source, 0)[:, :, None], axis=1)[..., ::-1]
    return jnp.where(valid[:, :, None], gathered, x)


def logits(model: Any, params: Any, x: jax.Array, lengths: jax.Array) -> jax.Array:
    """``logits [B, K]`` of ``x [B, L, 4]`` (both strands with ``model.strand_average``)."""
    x_rc = reverse_complement_onehot(x, lengths) if model.strand_average else None
    return model.apply({"params": params}, x, lengths, x_rc)


def _target_logit(model: Any, params: Any, lengths: jax.Array, target: jax.Array) -> Callable[[jax.Array], jax.Array]:
    """``x -> sum_b logit[b, target[b]]``: rows are independent, so its gradient holds each row's own."""
    check_inputs(model.inputs)

    def total(x: jax.Array) -> jax.Array:
        chosen = jnp.take_along_axis(logits(model, params, x, lengths), target[:, None], axis=1)
        return jnp.sum(chosen)

    return total


def gradient_x_input(model: Any, params: Any, x: jax.Array, lengths: jax.Array, target: jax.Array) -> jax.Array:
    """``d logit[target] / d x * x``: ``[B, L, 4]`` for ``x [B, L, 4]``, ``lengths [B]``, ``target [B]``.

    ``params`` is the model's parameter tree (a checkpoint's ``params``).
    """
    x = jnp.asarray(x, jnp.float32)
    return jax.grad(_target_logit(model, params, lengths, target))(x) * x


def baseline_profile(x: jax.Array, lengths: jax.Array, baseline: str = "uniform") -> jax.Array:
    """The baseline ``[B, L, 4]`` of :func:`integrated_gradients`: ``uniform`` is 1/4 per base on
    each valid position and zero on padding, ``zeros`` is zero everywhere."""
    if baseline not in BASELINES:
        raise ValueError(f"saliency.baseline={baseline!r} is not one of {list(BASELINES)}")
    if baseline == "zeros":
        return jnp.zeros_like(x)
    valid = jnp.arange(x.shape[1])[None, :] < lengths[:, None]
    return jnp.broadcast_to(jnp.where(valid, 0.25, 0.0)[:, :, None], x.shape).astype(x.dtype)


def integrated_gradients(
    model: Any,
    params: Any,
    x: jax.Array,
    lengths: jax.Array,
    target: jax.Array,
    steps: int = 32,
    baseline: str = "uniform",
) -> jax.Array:
    """Integrated gradients ``[B, L, 4]`` of ``logit[target]`` from ``baseline`` to ``x [B, L, 4]``
    (the midpoint rule over ``steps`` points; see the module docstring)."""
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"saliency.steps={steps!r} must be an integer >= 1")
    x = jnp.asarray(x, jnp.float32)
    start = baseline_profile(x, lengths, baseline)
    grad = jax.grad(_target_logit(model, params, lengths, target))

    def add(k: jax.Array, total: jax.Array) -> jax.Array:
        alpha = (k + 0.5) / steps
        return total + grad(start + alpha * (x - start))

    total = jax.lax.fori_loop(0, steps, add, jnp.zeros_like(x))
    return total / steps * (x - start)


# ---------------------------------------------------------------------------------- the mode
def _attribute_split(
    model: Any, params: Any, part: Encoded, target_rule: str, steps: int, baseline: str, batch: int
) -> dict[str, np.ndarray]:
    """``logits [N, K], predicted [N], target [N], grad_x_input, integrated_gradients [N, L, 4], delta [N]``
    (``logit(x) - logit(baseline)`` of the target) for every sequence of ``part``, in jitted batches."""

    @jax.jit
    def attribute(p: Any, x: jax.Array, lengths: jax.Array, labels: jax.Array) -> dict[str, jax.Array]:
        out = logits(model, p, x, lengths)
        predicted = jnp.argmax(out, axis=-1)
        target = predicted if target_rule == "predicted" else labels
        at_baseline = logits(model, p, baseline_profile(x, lengths, baseline), lengths)
        pick = lambda a: jnp.take_along_axis(a, target[:, None], axis=1)[:, 0]  # noqa: E731
        return {
            "logits": out,
            "predicted": predicted,
            "target": target,
            "grad_x_input": gradient_x_input(model, p, x, lengths, target),
            "integrated_gradients": integrated_gradients(model, p, x, lengths, target, steps, baseline),
            "delta": pick(out) - pick(at_baseline),
        }

    parts: dict[str, list[np.ndarray]] = {}
    n = len(part.labels)
    for start in range(0, n, batch):
        rows = min(batch, n - start)
        x = np.zeros((batch, *part.inputs.shape[1:]), np.float32)
        x[:rows] = part.inputs[start : start + rows]
        lengths = np.ones(batch, np.int32)  # padding rows: one (zero) position, dropped below
        lengths[:rows] = part.lengths[start : start + rows]
        labels = np.zeros(batch, np.int32)
        labels[:rows] = part.labels[start : start + rows]
        for key, value in attribute(params, x, lengths, labels).items():
            parts.setdefault(key, []).append(np.asarray(value)[:rows])
    out = {key: np.concatenate(values) for key, values in parts.items()}
    for key in ("logits", "grad_x_input", "integrated_gradients"):
        if not np.isfinite(out[key]).all():
            row = int(np.argwhere(~np.isfinite(out[key]))[0][0])
            raise ValueError(
                f"the model's {key.replace('_', ' ')} are non-finite for sequence {row} ({part.names[row]}): its "
                "parameters overflow on this input; nothing was written"
            )
    return out


def chosen_indices(saliency: ml_collections.ConfigDict, size: int, split: str) -> list[int]:
    """``saliency.indices`` (comma-separated indices into the split) or the first ``saliency.num_sequences``."""
    if not saliency.indices:
        return list(range(min(saliency.num_sequences, size)))
    indices = []
    for item in comma_list(saliency.indices, "saliency.indices"):
        try:
            i = int(item)
        except ValueError:
            raise ValueError(f"saliency.indices={saliency.indices!r}: {item!r} is not an integer") from None
        if not 0 <= i < size:
            raise ValueError(f"saliency.indices={saliency.indices!r}: {i} is outside the {split} split (0..{size - 1})")
        indices.append(i)
    return indices


def _write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
    with io.atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _file_names(names: list[str]) -> list[str]:
    """Class names made safe for file names (an index in front where two would collide)."""
    safe = [re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "class" for name in names]
    if len(set(safe)) < len(safe):
        safe = [f"{c}_{name}" for c, name in enumerate(safe)]
    return safe


def _check_settings(config: ml_collections.ConfigDict, splits: Iterable[str]) -> None:
    s = config.saliency
    check_inputs(config.model.inputs)
    if s.split not in splits:
        raise ValueError(f"saliency.split={s.split!r} is not one of {list(splits)}")
    if s.target not in TARGETS:
        raise ValueError(f"saliency.target={s.target!r} is not one of {list(TARGETS)}")
    if s.baseline not in BASELINES:
        raise ValueError(f"saliency.baseline={s.baseline!r} is not one of {list(BASELINES)}")
    if not isinstance(s.steps, int) or s.steps < 1:
        raise ValueError(f"saliency.steps={s.steps!r} must be an integer >= 1")
    if not isinstance(s.num_sequences, int) or s.num_sequences < 0:
        raise ValueError(f"saliency.num_sequences={s.num_sequences!r} must be an integer >= 0")


def _restore(config: ml_collections.ConfigDict, workdir: Path) -> tuple[Any, Any, Any, int]:
    """The run's data info (its splits rebuilt from the config), its model and the best checkpoint's parameters."""
    from experiments.classification.prediction import read_labels
    from experiments.genome.task import LABELS_FILE, TRAINING_ONLY, make_model  # task imports this module

    check_model_config(config, workdir, TRAINING_ONLY)
    check_data_config(config, workdir, DATA_FIELDS, "saliency rebuilds the run's split from its data")
    _, _, info = make_data(config)
    labels = workdir / LABELS_FILE
    if labels.exists() and read_labels(labels) != info["label_names"]:
        raise ValueError(
            f"{labels} has labels {read_labels(labels)}, the data {info['label_names']}; use that run's --config"
        )
    params, step = checkpoint.restore_params(workdir / "checkpoints")
    model = make_model(config, info)
    part = next(iter(info["splits"].values()))
    example = (part.inputs[:1], part.lengths[:1], part.inputs_rc[:1])
    expected = jax.eval_shape(model.init, jax.random.key(0), *example)["params"]
    checkpoint.check_params(params, expected, step, workdir / "checkpoints")
    return info, model, params, step


def saliency(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """``--mode=saliency``: per-base attributions from the best checkpoint as logo PNGs and CSV tables.

    Gradient x input and integrated gradients of ``saliency.split``, written under
    ``<workdir>/saliency/`` (see the module docstring)."""
    workdir, s = Path(workdir), config.saliency
    _check_settings(config, ("train", "valid", "test"))
    info, model, params, step = _restore(config, workdir)
    part, names = info["splits"][s.split], info["label_names"]
    chosen = chosen_indices(s, len(part.labels), s.split)
    batch = config.data.eval_batch_size or config.train.batch_size
    result = _attribute_split(model, params, part, s.target, s.steps, s.baseline, batch)
    gxi, ig, predicted = result["grad_x_input"], result["integrated_gradients"], result["predicted"]
    shown_gxi, shown_ig = on_observed_bases(gxi, part.inputs), on_observed_bases(ig, part.inputs)
    out = workdir / "saliency"
    how = f"integrated gradients ({s.steps} steps from the {s.baseline} baseline)"
    target_text = "predicted class" if s.target == "predicted" else "true class"

    plots = []
    for i in chosen:
        n = int(part.lengths[i])
        probability = float(jax.nn.softmax(result["logits"][i])[predicted[i]])
        title = (
            f"{part.names[i]} ({s.split} #{i}): true {names[part.labels[i]]}, predicted {names[predicted[i]]} "
            f"(p={probability:.3f})\nattribution to the {target_text}'s logit ({names[result['target'][i]]}); "
            f"gradient x input, {how}"
        )
        panels = [("gradient x input", shown_gxi[i, :n]), ("integrated gradients", shown_ig[i, :n])]
        plots.append(logo.logos(out / f"{s.split}_{i}.png", panels, title))

    def rows() -> Iterable[list[Any]]:
        for i in chosen:
            n = int(part.lengths[i])
            label, guess = names[part.labels[i]], names[predicted[i]]
            g, a = gxi[i, :n].sum(axis=-1), ig[i, :n].sum(axis=-1)
            for t, base in enumerate(symbols(part.inputs[i, :n])):
                yield [part.names[i], label, guess, t + 1, base, f"{g[t]:.6g}", f"{a[t]:.6g}"]

    table = out / f"{s.split}.csv"
    header = ["name", "label", "predicted", "position", "base", "grad_x_input", "integrated_gradients"]
    _write_csv(table, header, rows())

    averages: list[list[Any]] = []
    for c, file_name in enumerate(_file_names(names)):
        members = np.flatnonzero(part.labels == c)
        if not len(members):
            print(f"note: no sequence of class {names[c]!r} in the {s.split} split; no average", file=sys.stderr)
            continue
        lengths = part.lengths[members]
        mean_g, count = class_average(shown_gxi[members], lengths)
        mean_ig, _ = class_average(shown_ig[members], lengths)
        for t in range(len(count)):
            for b, base in enumerate(seq.BASES):
                averages.append([names[c], t + 1, base, int(count[t]), f"{mean_g[t, b]:.6g}", f"{mean_ig[t, b]:.6g}"])
        shape = (
            f"length {lengths[0]}"
            if (lengths == lengths[0]).all()
            else f"lengths {lengths.min()}-{lengths.max()}, aligned at the start"
        )
        title = (
            f"class {names[c]}: mean over its {len(members)} sequences of the {s.split} split ({shape})\n"
            f"attribution to the {target_text}'s logit; gradient x input, {how}"
        )
        panels = [("mean gradient x input", mean_g), ("mean integrated gradients", mean_ig)]
        plots.append(logo.logos(out / f"average_{s.split}_{file_name}.png", panels, title))
    average_table = out / f"average_{s.split}.csv"
    header = ["class", "position", "base", "sequences", "mean_grad_x_input", "mean_integrated_gradients"]
    _write_csv(average_table, header, averages)

    delta = result["delta"]
    gap = float(np.mean(np.abs(ig.sum(axis=(1, 2)) - delta)) / max(float(np.mean(np.abs(delta))), 1e-12))
    if gap > COMPLETENESS_WARNING:
        print(
            f"warning: integrated gradients miss logit(x) - logit(baseline) by {gap:.1%} on average; raise "
            f"saliency.steps (now {s.steps}); a gap that stays as steps grow is a jump of the model along the path "
            "(a saturated recurrent state), which no number of steps resolves",
            file=sys.stderr,
        )
    print(
        f"wrote {len(plots)} PNGs, {table} ({len(chosen)} sequences) and {average_table} in {out} "
        f"({s.split} split, {len(part.labels):,} sequences; {how})",
        flush=True,
    )
    return {
        "split": s.split,
        "sequences": len(chosen),
        "split_sequences": len(part.labels),
        "target": s.target,
        "steps": s.steps,
        "baseline": s.baseline,
        "completeness_gap": gap,
        "plots": len(plots),
        "checkpoint_step": step,
    }
