"""A toy experiment written only against the contract in rnn_research/experiment.py.

Regression: the target is the mean of channel 0 of ``inputs [B, T, 2]``. A carry (the RNN's
final states) is threaded across batches to exercise the harness's carry handling, and
``config.task.poison_step`` puts NaN into the batch of that step to exercise the guard.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from configs import base
from rnn_research import layers, sharding
from rnn_research.experiment import Data

T, D, H = 6, 2, 8


def get_config(**train_overrides: Any) -> ml_collections.ConfigDict:
    config = base.get_config()
    config.experiment = "toy"
    config.task.poison_step = -1
    config.task.eval_size = 32
    config.model.hidden_size = H
    config.optim.learning_rate = 1e-2
    config.train.update(
        batch_size=16,
        num_steps=12,
        log_every=2,
        eval_every=4,
        checkpoint_every=4,
        best_metric="mse",
        diagnostics_every=4,
        plots=False,
    )
    config.train.update(train_overrides)
    return config


def _batch(seed: int, stream: int, index: int, size: int, poison: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, stream, index])
    inputs = rng.normal(size=(size, T, D)).astype(np.float32)
    if poison:
        inputs[0, 0, 0] = np.nan
    return {"inputs": inputs, "targets": inputs[:, :, 0].mean(axis=1)}


def make_data(config: ml_collections.ConfigDict) -> Data:
    size, rows = config.train.batch_size, sharding.host_slice(config.train.batch_size)

    def train_batches(start: int):
        step = start
        while True:
            full = _batch(config.seed, 0, step, size, poison=step == config.task.poison_step)
            yield {k: v[rows] for k, v in full.items()}
            step += 1

    def test():
        for i in range(config.task.eval_size // size):
            yield {k: v[rows] for k, v in _batch(config.seed, 1, i, size).items()}

    return Data(train_batches, {"test": test}, {"features": D})


class Model(nn.Module):
    @nn.compact
    def __call__(self, inputs, carry):
        finals, ys = layers.RNN(cell="gru", hidden_size=H, return_state=True)(inputs, initial_states=carry)
        return nn.Dense(1)(ys[:, -1])[:, 0], finals


def make_model(config, info):
    return Model()


def init_carry(config, info, batch_size):
    return [{"h": np.zeros((batch_size, H), np.float32)}]


def _to_states(carry):
    from rnn_research import cells

    return [cells.GRUState(c["h"]) for c in carry]


def model_inputs(batch, carry):
    return (batch["inputs"], _to_states(carry))


def loss_and_metrics(model, variables, batch, carry, rng, train):
    preds, finals = model.apply(variables, batch["inputs"], _to_states(carry))
    mse = jnp.mean(jnp.square(preds - batch["targets"]))
    new_carry = [{"h": jax.lax.stop_gradient(0.5 * s.h)} for s in finals]
    return mse, ({"mse": mse, "abs_err": jnp.mean(jnp.abs(preds - batch["targets"]))}, new_carry)
