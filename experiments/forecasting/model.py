"""The RNN forecaster: direct, autoregressive and channel-independent decoders, Gaussian head."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from rnn_research import cells, configured, decoding, layers
from rnn_research.configured import make_cell, make_rnn

DECODERS = ("direct", "autoregressive")
TRAINING_ONLY = (*configured.TRAINING_ONLY, "teacher_forcing")


# ----------------------------------------------------------------------------------- model
class Forecaster(nn.Module):
    """``x [B, L, Ci]`` (normalised) -> ``(mean [B, H, Ct], sigma [B, H, Ct] or None)``."""

    horizon: int
    num_targets: int
    rnn: layers.RNN
    cell: cells.Cell
    target_in_inputs: tuple[int, ...]
    decoder: str = "direct"
    gaussian: bool = False
    teacher_forcing: float = 0.5
    interval_z: float = 1.96  # evaluation: coverage of mean +- z * sigma
    relative: bool = False  # inputs and forecasts relative to the last observed values
    channel_independent: bool = False  # direct: each channel alone through shared weights

    @nn.compact
    def __call__(
        self, x: jax.Array, targets: jax.Array | None = None, *, deterministic: bool = True
    ) -> tuple[jax.Array, jax.Array | None]:
        outputs = 2 if self.gaussian else 1
        batch = x.shape[0]
        anchor = None
        if self.relative:  # forecast the change from the last observed values (NLinear's normalisation)
            anchor = x[:, -1:, :]
            x = x - anchor
            anchor = anchor[:, :, jnp.asarray(self.target_in_inputs)]  # [B, 1, Ct]
            if targets is not None:
                targets = targets - anchor
        if self.decoder == "direct" and self.channel_independent:
            channels = x.shape[-1]  # every channel is its own univariate series through shared weights
            last = self._encode(jnp.swapaxes(x, 1, 2).reshape(batch * channels, x.shape[1], 1), deterministic)
            raw = nn.Dense(self.horizon * outputs, name="head")(last).reshape(batch, channels, self.horizon, outputs)
            raw = jnp.swapaxes(raw, 1, 2)[:, :, jnp.asarray(self.target_in_inputs)]  # [B, H, Ct, outputs]
        elif self.decoder == "direct":
            last = self._encode(x, deterministic)
            raw = nn.Dense(self.horizon * self.num_targets * outputs, name="head")(last)
            raw = raw.reshape(batch, self.horizon, self.num_targets, outputs)
        else:
            raw = self._decode(x, targets, outputs, deterministic)
        mean = raw[..., 0].astype(jnp.float32)
        if anchor is not None:
            mean = mean + anchor.astype(jnp.float32)
        if not self.gaussian:
            return mean, None
        return mean, jax.nn.softplus(raw[..., 1].astype(jnp.float32)) + 1e-3

    def _encode(self, x: jax.Array, deterministic: bool) -> jax.Array:
        """The encoder's final output ``[B, H']``: forward at the last step (and backward at the first)."""
        ys = self.rnn(x, deterministic=deterministic)  # [B, L, H']
        if not self.rnn.bidirectional:
            return ys[:, -1]
        half = ys.shape[-1] // 2
        return jnp.concatenate([ys[:, -1, :half], ys[:, 0, half:]], axis=-1)

    def _decode(self, x: jax.Array, targets: jax.Array | None, outputs: int, deterministic: bool) -> jax.Array:
        if self.rnn.bidirectional:
            raise ValueError("model.decoder='autoregressive' needs a unidirectional encoder (model.bidirectional)")
        finals, _ = self.rnn(x, deterministic=deterministic)  # made with return_state=True
        cell, size = self.cell, self.cell.hidden_size
        params = [
            self.param(f"decoder_{i}", lambda key, n: cell.init(key, n), self.num_targets if i == 0 else size)
            for i in range(len(finals))
        ]
        kernel = self.param("output_kernel", nn.initializers.lecun_normal(), (size, self.num_targets * outputs))
        bias = self.param("output_bias", nn.initializers.zeros, (self.num_targets * outputs,))
        previous = x[:, -1, jnp.asarray(self.target_in_inputs)]  # the last observed target values
        teach = jnp.zeros((self.horizon,), bool)
        if targets is not None and not deterministic and self.teacher_forcing > 0:
            teach = jax.random.bernoulli(self.make_rng("dropout"), self.teacher_forcing, (self.horizon,))
        if targets is None:
            truth = jnp.zeros((self.horizon, *previous.shape), previous.dtype)
        else:
            truth = jnp.swapaxes(targets, 0, 1).astype(previous.dtype)  # [H, B, Ct]

        def step(states: list[Any], prev: jax.Array, context: Any) -> tuple[list[Any], jax.Array]:
            states, h = decoding.step_stack(cell, params, states, prev)  # prev [B, Ct]
            return states, (h @ kernel + bias[None]).reshape(h.shape[0], self.num_targets, outputs)

        def choose(out: jax.Array, t: jax.Array, key: Any) -> jax.Array:
            """The next input: the true value at a teacher-forced step, else the forecast mean."""
            return jnp.where(teach[t], truth[t], out[..., 0].astype(previous.dtype))

        return decoding.generate(step, list(finals), previous, self.horizon, choose).outputs  # [B, H, Ct, outputs]


def make_model(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> Forecaster:
    m = config.model
    if m.decoder not in DECODERS:
        raise ValueError(f"model.decoder={m.decoder!r} is not one of {list(DECODERS)}")
    if not 0.0 <= m.teacher_forcing <= 1.0:
        raise ValueError(f"model.teacher_forcing={m.teacher_forcing} must lie in [0, 1]")
    if m.channel_independent and m.decoder != "direct":
        raise ValueError("model.channel_independent needs model.decoder='direct'")
    if m.decoder == "autoregressive" and m.bidirectional:
        raise ValueError("model.decoder='autoregressive' needs model.bidirectional=False")
    p = info.get("prepared")
    targets = tuple(p.targets) if p is not None else tuple(info["target_in_inputs"])
    return Forecaster(
        horizon=config.data.horizon,
        num_targets=info["num_targets"],
        rnn=make_rnn(m).clone(return_state=m.decoder == "autoregressive"),
        cell=dataclasses.replace(make_cell(m), learn_initial_state=False),  # the decoder starts from the encoder
        target_in_inputs=targets,
        decoder=m.decoder,
        gaussian=m.gaussian,
        teacher_forcing=m.teacher_forcing,
        interval_z=config.forecast.interval_z,
        relative=m.relative,
        channel_independent=m.channel_independent,
    )
