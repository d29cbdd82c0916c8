"""Synthetic long-memory probes: the adding problem and the copy-memory task.

* **Adding** (Hochreiter & Schmidhuber 1997; the variant of Le et al. 2015): input ``[T, 2]``,
  channel 0 uniform ``U(0, 1)``, channel 1 marks two steps, one in each half; the target is
  the sum of the two marked values. Answering 1 always gives MSE 1/6 = 0.167.
* **Copy memory** (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): ``K`` symbols from
  ``{1..8}``, ``T`` blanks (0) of which the last is the delimiter (9), then ``K`` blanks;
  the model must output the ``K`` symbols in the last ``K`` steps and blanks elsewhere.
  The memoryless baseline has cross-entropy ``K log 8 / (T + 2K)`` per step.

``config.task``: ``name`` (adding | copy), ``seq_len`` (T), ``copy_length`` (K),
``eval_size`` (sequences in each of the valid and test sets; the best checkpoint is chosen on
valid, test is only reported). Batches are a pure function of ``(seed, step)``, so runs resume
exactly and agree across device and process counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from rnn_research import layers, sharding
from rnn_research.configured import make_rnn
from rnn_research.experiment import Data

COPY_SYMBOLS, COPY_BLANK, COPY_DELIMITER = 8, 0, 9


def adding_batch(rng: np.random.Generator, batch: int, seq_len: int) -> dict[str, np.ndarray]:
    """``inputs [B, T, 2]`` float32 and ``targets [B]``."""
    values = rng.uniform(0.0, 1.0, (batch, seq_len)).astype(np.float32)
    half = seq_len // 2
    first = rng.integers(0, half, batch)
    second = rng.integers(half, seq_len, batch)
    markers = np.zeros((batch, seq_len), np.float32)
    rows = np.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return {"inputs": np.stack([values, markers], axis=-1), "targets": targets.astype(np.float32)}


def copy_batch(rng: np.random.Generator, batch: int, seq_len: int, copy_length: int) -> dict[str, np.ndarray]:
    """``inputs [B, T + 2K]`` int32 tokens and ``targets [B, T + 2K]`` int32 tokens."""
    k = copy_length
    total = seq_len + 2 * k
    symbols = rng.integers(1, COPY_SYMBOLS + 1, (batch, k))
    inputs = np.full((batch, total), COPY_BLANK, np.int32)
    inputs[:, :k] = symbols
    inputs[:, k + seq_len - 1] = COPY_DELIMITER
    targets = np.full((batch, total), COPY_BLANK, np.int32)
    targets[:, -k:] = symbols
    return {"inputs": inputs, "targets": targets}


def _generate(task: ml_collections.ConfigDict, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    if task.name == "adding":
        return adding_batch(rng, batch, task.seq_len)
    if task.name == "copy":
        return copy_batch(rng, batch, task.seq_len, task.copy_length)
    raise ValueError(f"task.name={task.name!r} is not one of ['adding', 'copy']")


def _check_task(task: ml_collections.ConfigDict) -> None:
    """One line for a size the generators cannot use (``task.seq_len=0`` was numpy's ``high <= 0``)."""
    least = {"seq_len": 2 if task.name == "adding" else 1, "eval_size": 1}  # adding: a marker in each half
    if task.name == "copy":
        least["copy_length"] = 1
    for key, low in least.items():
        value = task[key]
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
            raise ValueError(f"task.{key}={value!r} must be an integer >= {low} (task.name={task.name!r})")


def make_data(config: ml_collections.ConfigDict) -> Data:
    task, global_batch = config.task, config.train.batch_size
    _check_task(task)
    rows = sharding.host_slice(global_batch)

    def host_share(rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
        full = _generate(task, rng, size)  # every host draws the global batch and keeps its rows
        return {k: v[rows] for k, v in full.items()}

    def train_batches(start: int) -> Iterator[dict[str, np.ndarray]]:
        step = start
        while True:
            yield host_share(np.random.default_rng([config.seed, 0, step]), global_batch)
            step += 1

    num_eval = max(1, task.eval_size // global_batch)

    def held_out(stream: int) -> Any:
        def batches() -> Iterator[dict[str, np.ndarray]]:
            for i in range(num_eval):
                yield host_share(np.random.default_rng([config.seed, stream, i]), global_batch)

        return batches

    _generate(task, np.random.default_rng(0), 1)  # validates task.name now, not mid-run
    info = {"output_size": 1 if task.name == "adding" else COPY_DELIMITER + 1}
    # "valid" comes first: the harness picks the best checkpoint on it; "test" is only reported.
    return Data(train_batches, {"valid": held_out(1), "test": held_out(2)}, info)


class SequenceModel(nn.Module):
    """Inputs ``[B, T, D]`` (or tokens ``[B, T]``, one-hot) -> RNN -> Dense per step or at the end."""

    rnn: layers.RNN
    output_size: int
    per_step: bool
    vocab_size: int = 0

    @nn.compact
    def __call__(self, inputs: jax.Array, *, deterministic: bool = True) -> jax.Array:
        xs = jax.nn.one_hot(inputs, self.vocab_size) if self.vocab_size else inputs
        ys = self.rnn(xs, deterministic=deterministic)
        return nn.Dense(self.output_size)(ys if self.per_step else ys[:, -1])


def make_model(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> nn.Module:
    is_copy = config.task.name == "copy"
    return SequenceModel(
        rnn=make_rnn(config.model),
        output_size=info["output_size"],
        per_step=is_copy,
        vocab_size=COPY_DELIMITER + 1 if is_copy else 0,
    )


def model_inputs(batch: Mapping[str, Any], carry: Any) -> tuple:
    return (batch["inputs"],)


def loss_and_metrics(
    model: nn.Module, variables: Any, batch: Mapping[str, Any], carry: Any, rng: jax.Array, train: bool
) -> tuple[jax.Array, tuple[dict[str, jax.Array], Any]]:
    outputs = model.apply(variables, batch["inputs"], deterministic=not train, rngs={"dropout": rng})
    if outputs.shape[-1] == 1:  # adding: regression on the final step
        mse = jnp.mean(jnp.square(outputs[:, 0] - batch["targets"]))
        return mse, ({"mse": mse}, carry)
    xent = optax.softmax_cross_entropy_with_integer_labels(outputs, batch["targets"]).mean()
    copied = batch["targets"] != COPY_BLANK
    correct = (outputs.argmax(-1) == batch["targets"]) & copied
    accuracy = correct.sum() / jnp.maximum(copied.sum(), 1)
    return xent, ({"xent": xent, "copy_accuracy": accuracy}, carry)


def copy_baseline(seq_len: int, copy_length: int) -> float:
    """Cross-entropy per step of the memoryless strategy (blanks, then uniform guesses)."""
    return copy_length * math.log(COPY_SYMBOLS) / (seq_len + 2 * copy_length)
