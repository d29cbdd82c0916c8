"""The RNN forecasters: direct, point-autoregressive and segment-recurrent decoders; per-window
normalisation (last value or RevIN); channel independence; a Gaussian head. See ``task.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from experiments.forecasting import normalize
from rnn_research import cells, configured, decoding, layers
from rnn_research.configured import make_cell, make_rnn

DECODERS = ("direct", "autoregressive", "segment")
SEGMENT_DECODERS = ("parallel", "recurrent")
TRAINING_ONLY = (*configured.TRAINING_ONLY, "teacher_forcing", "head_dropout")
# model fields added after forecasting workdirs were written, with the value those runs had
MODEL_ADDED_FIELDS = {
    "model.revin": False,
    "model.revin_affine": False,
    "model.head_dropout": 0.0,
    "model.segment_length": 24,
    "model.segment_decoder": "parallel",
    "model.channel_embedding": True,
}


# ----------------------------------------------------------------------------------- model
class Forecaster(nn.Module):
    """``x [B, L, Ci]`` (z-scored) -> ``(mean [B, H, Ct], sigma [B, H, Ct] or None)``.

    ``decoder``: ``direct`` (the encoder's final output -> all ``H`` steps through one linear
    layer), ``autoregressive`` (a decoder cell stack rolls out one step at a time), ``segment``
    (SegRNN, Lin et al. 2023: the lookback as ``L / S`` segments of ``S = segment_length`` steps,
    each embedded by ``relu(W [x_seg] + b)`` into the encoder's width ``d``; then ``parallel``: every
    horizon segment ``m`` is ONE step of the encoder's own cells from its final state, reading a
    learned position embedding ``p_m`` (joined by a channel embedding ``c_k`` under channel
    independence), all ``ceil(H / S)`` segments at once; or ``recurrent``: each forecast segment
    is embedded like an input segment and fed back).
    """

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
    revin: bool = False  # reversible instance normalisation of every window
    revin_affine: bool = False  # RevIN with a learned weight and bias per input channel
    channel_independent: bool = False  # each target channel alone through shared weights
    segment_length: int = 24
    segment_decoder: str = "parallel"
    channel_embedding: bool = True  # segment, parallel, channel independent: a learned vector per channel
    head_dropout: float = 0.0  # dropout on the features the output layer reads

    @nn.compact
    def __call__(
        self, x: jax.Array, targets: jax.Array | None = None, *, deterministic: bool = True
    ) -> tuple[jax.Array, jax.Array | None]:
        outputs = 2 if self.gaussian else 1
        batch, lookback, channels = x.shape
        stats = weight = bias = None
        if self.relative:  # the change from the last observed values (NLinear's normalisation)
            stats = normalize.last_value_stats(x)
        elif self.revin:
            stats = normalize.revin_stats(x)
            if self.revin_affine:
                weight = self.param("revin_weight", nn.initializers.ones, (channels,))
                bias = self.param("revin_bias", nn.initializers.zeros, (channels,))
        index = jnp.asarray(self.target_in_inputs)
        if stats is not None:
            x = normalize.forward(x, stats, weight, bias)
            stats = normalize.select(stats, self.target_in_inputs)
            weight, bias = (None, None) if weight is None else (weight[index], bias[index])
            if targets is not None:
                targets = normalize.forward(targets, stats, weight, bias)
        if self.channel_independent:  # every target channel is its own univariate series
            count = len(self.target_in_inputs)
            fold = lambda a: jnp.swapaxes(a, 1, 2).reshape(batch * count, a.shape[1], 1)  # noqa: E731
            ids = jnp.tile(jnp.arange(count), batch)
            folded = None if targets is None else fold(targets)
            raw = self._forecast(fold(x[..., index]), folded, (0,), 1, ids, outputs, deterministic)
            raw = jnp.swapaxes(raw.reshape(batch, count, self.horizon, outputs), 1, 2)  # [B, H, Ct, outputs]
        else:
            raw = self._forecast(x, targets, self.target_in_inputs, self.num_targets, None, outputs, deterministic)
        mean = raw[..., 0].astype(jnp.float32)
        if stats is not None:
            mean = normalize.inverse(mean, stats, weight, bias)
        if not self.gaussian:
            return mean, None
        sigma = jax.nn.softplus(raw[..., 1].astype(jnp.float32)) + 1e-3
        if stats is not None:
            sigma = normalize.inverse_sigma(sigma, stats, weight)
        return mean, sigma

    def _forecast(
        self,
        x: jax.Array,
        targets: jax.Array | None,
        columns: tuple[int, ...],
        num_targets: int,
        channel_ids: jax.Array | None,
        outputs: int,
        deterministic: bool,
    ) -> jax.Array:
        """``x [B, L, C]`` -> ``[B, H, num_targets, outputs]`` on the (normalised) input scale."""
        batch = x.shape[0]
        if self.decoder == "direct":
            last = nn.Dropout(self.head_dropout)(self._encode(x, deterministic), deterministic=deterministic)
            raw = nn.Dense(self.horizon * num_targets * outputs, name="head")(last)
            return raw.reshape(batch, self.horizon, num_targets, outputs)
        if self.decoder == "autoregressive":
            return self._decode(x, targets, columns, num_targets, outputs, deterministic)
        return self._segments(x, num_targets, channel_ids, outputs, deterministic)

    def _encode(self, x: jax.Array, deterministic: bool) -> jax.Array:
        """The encoder's final output ``[B, H']``: forward at the last step (and backward at the first)."""
        ys = self.rnn(x, deterministic=deterministic)  # [B, L, H']
        if not self.rnn.bidirectional:
            return ys[:, -1]
        half = ys.shape[-1] // 2
        return jnp.concatenate([ys[:, -1, :half], ys[:, 0, half:]], axis=-1)

    def _decode(
        self,
        x: jax.Array,
        targets: jax.Array | None,
        columns: tuple[int, ...],
        num_targets: int,
        outputs: int,
        deterministic: bool,
    ) -> jax.Array:
        finals, _ = self.rnn(x, deterministic=deterministic)  # made with return_state=True
        cell, size = self.cell, self.cell.hidden_size
        params = [
            self.param(f"decoder_{i}", lambda key, n: cell.init(key, n), num_targets if i == 0 else size)
            for i in range(len(finals))
        ]
        kernel = self.param("output_kernel", nn.initializers.lecun_normal(), (size, num_targets * outputs))
        bias = self.param("output_bias", nn.initializers.zeros, (num_targets * outputs,))
        previous = x[:, -1, jnp.asarray(columns)]  # the last observed target values
        teach = jnp.zeros((self.horizon,), bool)
        if targets is not None and not deterministic and self.teacher_forcing > 0:
            teach = jax.random.bernoulli(self.make_rng("dropout"), self.teacher_forcing, (self.horizon,))
        if targets is None:
            truth = jnp.zeros((self.horizon, *previous.shape), previous.dtype)
        else:
            truth = jnp.swapaxes(targets, 0, 1).astype(previous.dtype)  # [H, B, Ct]

        def step(states: list[Any], prev: jax.Array, context: Any) -> tuple[list[Any], jax.Array]:
            states, h = decoding.step_stack(cell, params, states, prev)  # prev [B, Ct]
            return states, (h @ kernel + bias[None]).reshape(h.shape[0], num_targets, outputs)

        def choose(out: jax.Array, t: jax.Array, key: Any) -> jax.Array:
            """The next input: the true value at a teacher-forced step, else the forecast mean."""
            return jnp.where(teach[t], truth[t], out[..., 0].astype(previous.dtype))

        return decoding.generate(step, list(finals), previous, self.horizon, choose).outputs  # [B, H, Ct, outputs]

    def _segments(
        self, x: jax.Array, num_targets: int, channel_ids: jax.Array | None, outputs: int, deterministic: bool
    ) -> jax.Array:
        """SegRNN: ``x [B, L, C]`` as ``L / S`` segments -> ``[B, H, num_targets, outputs]``."""
        batch, lookback, channels = x.shape
        size, width = self.segment_length, self.cell.hidden_size
        count = -(-self.horizon // size)  # horizon segments; the last one is cut to the horizon
        embed = nn.Dense(width, name="segment_embedding")  # [S * C] -> [d]
        finals, ys = self.rnn(
            nn.relu(embed(x.reshape(batch, lookback // size, size * channels))), deterministic=deterministic
        )
        cell = self.rnn.resolved_cell()
        params = layers.layer_params(self.rnn.variables["params"])  # the decoder steps the encoder's own cells
        head = nn.Dense(size * num_targets * outputs, name="head")
        drop = nn.Dropout(self.head_dropout)
        if self.segment_decoder == "parallel":
            if channel_ids is not None and self.channel_embedding:
                half = width // 2
                position = self.param("position_embedding", nn.initializers.normal(1.0), (count, width - half))
                table = self.param("channel_embedding", nn.initializers.normal(1.0), (len(self.target_in_inputs), half))
                reads = jnp.concatenate(
                    [
                        jnp.broadcast_to(position[None], (batch, count, width - half)),
                        jnp.broadcast_to(table[channel_ids][:, None], (batch, count, half)),
                    ],
                    axis=-1,
                )
            else:
                position = self.param("position_embedding", nn.initializers.normal(1.0), (count, width))
                reads = jnp.broadcast_to(position[None], (batch, count, width))
            states = jax.tree.map(lambda s: jnp.repeat(s, count, axis=0), list(finals))  # [B * M, ...]
            _, h = decoding.step_stack(cell, params, states, reads.reshape(batch * count, width).astype(ys.dtype))
            raw = head(drop(h, deterministic=deterministic)).reshape(batch, count * size, num_targets, outputs)
            return raw[:, : self.horizon]
        states, h, pieces = list(finals), ys[:, -1], []
        for m in range(count):  # recurrent: each forecast segment is read back like an input segment
            piece = head(drop(h, deterministic=deterministic)).reshape(batch, size, num_targets, outputs)
            pieces.append(piece)
            if m + 1 < count:
                fed = nn.relu(embed(piece[..., 0].reshape(batch, size * num_targets).astype(x.dtype)))
                states, h = decoding.step_stack(cell, params, states, fed.astype(ys.dtype))
        return jnp.concatenate(pieces, axis=1)[:, : self.horizon]


def make_model(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> Forecaster:
    m, data = config.model, config.data
    if m.decoder not in DECODERS:
        raise ValueError(f"model.decoder={m.decoder!r} is not one of {list(DECODERS)}")
    if not 0.0 <= m.teacher_forcing <= 1.0:
        raise ValueError(f"model.teacher_forcing={m.teacher_forcing} must lie in [0, 1]")
    if m.decoder in ("autoregressive", "segment") and m.bidirectional:
        raise ValueError(f"model.decoder={m.decoder!r} needs model.bidirectional=False")
    if m.decoder == "autoregressive" and m.head_dropout > 0:
        raise ValueError(
            "model.head_dropout applies to the direct and segment decoders; the autoregressive decoder has none"
        )
    if m.relative and m.revin:
        raise ValueError("model.relative and model.revin are two per-window normalisations; set one of them")
    if m.revin_affine and not m.revin:
        raise ValueError("model.revin_affine needs model.revin=true")
    p = info.get("prepared")
    targets = tuple(p.targets) if p is not None else tuple(info["target_in_inputs"])
    num_inputs = int(info.get("num_inputs", len(p.inputs) if p is not None else 0))
    if m.decoder == "segment":
        if m.segment_decoder not in SEGMENT_DECODERS:
            raise ValueError(f"model.segment_decoder={m.segment_decoder!r} is not one of {list(SEGMENT_DECODERS)}")
        if m.segment_length < 1 or data.lookback % m.segment_length:
            raise ValueError(
                f"data.lookback={data.lookback} is not a multiple of model.segment_length={m.segment_length} "
                "(model.decoder='segment' cuts the lookback into whole segments)"
            )
        joint_targets = targets != tuple(range(num_inputs))
        if m.segment_decoder == "recurrent" and not m.channel_independent and joint_targets:
            raise ValueError(
                "model.segment_decoder='recurrent' reads its forecasts back as inputs, so the targets must be "
                "the inputs (data.features S or M) or model.channel_independent=true"
            )
    return Forecaster(
        horizon=data.horizon,
        num_targets=info["num_targets"],
        rnn=make_rnn(m).clone(return_state=m.decoder != "direct"),
        cell=dataclasses.replace(make_cell(m), learn_initial_state=False),  # the decoder starts from the encoder
        target_in_inputs=targets,
        decoder=m.decoder,
        gaussian=m.gaussian,
        teacher_forcing=m.teacher_forcing,
        interval_z=config.forecast.interval_z,
        relative=m.relative,
        revin=m.revin,
        revin_affine=m.revin_affine,
        channel_independent=m.channel_independent,
        segment_length=m.segment_length,
        segment_decoder=m.segment_decoder,
        channel_embedding=m.channel_embedding,
        head_dropout=m.head_dropout,
    )
