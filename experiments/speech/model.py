"""The acoustic model: feature frames in, per-frame log-probabilities over the symbols and a CTC
blank out (DeepSpeech 2 / ESPnet's CTC encoder, at research scale).

    x          [B, T, F]      log-mel frames (normalised), ``lengths [B]`` valid frames
    x'         [B, T, F]      SpecAugment in training: ``freq_masks`` bands of up to
                              ``freq_mask_width`` channels and ``time_masks`` spans of up to
                              ``time_mask_width`` valid frames set to 0 (the mean, when normalised)
    z          [B, T', D']    the front end, ``T' = ceil(T / subsample)``:
                              ``stack``: each ``subsample`` consecutive frames concatenated
                              (``D' = subsample * F``); ``conv``: a 1-D convolution of width
                              ``2 * subsample - 1`` and stride ``subsample`` (``D' = conv_features``)
                              and a ReLU; ``subsample = 1``: ``z = x'``
    h          [B, T', H']    a stack of (bidirectional) RNNs of any cell over the valid frames
    logits     [B, T', V + 1] a linear layer; column 0 is the blank, column ``i`` symbol ``i``

Padding never changes a result: frames past ``lengths`` are set to 0 first, so the last output
frame of a row whose length is not a multiple of ``subsample`` reads the same zeros past its end
however much padding the batch adds; the RNN freezes its state past ``ceil(lengths / subsample)``
(the backward direction starts at each row's own end); the loss and the decoders ignore the
frames past it; SpecAugment's masks cover valid frames only.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rnn_research import layers

FRONTENDS = ("stack", "conv")


def subsampled_lengths(lengths: jax.Array, subsample: int) -> jax.Array:
    """``ceil(lengths / subsample)``: the frames the RNN reads after the front end."""
    return (lengths + subsample - 1) // subsample


def spec_augment(
    features: jax.Array,
    lengths: jax.Array,
    rng: jax.Array,
    *,
    freq_masks: int,
    freq_mask_width: int,
    time_masks: int,
    time_mask_width: int,
    blocks: int = 1,
) -> jax.Array:
    """SpecAugment's masks (Park et al. 2019, without time warping) on ``features [B, T, F]``.

    The ``F`` channels are ``blocks`` blocks of ``F / blocks`` (the log-mels, then each order of
    deltas); each frequency mask zeroes channels ``[f0, f0 + w)`` of every block, with ``w``
    uniform in ``[0, width]`` and ``f0`` uniform in ``[0, F / blocks - w]``; each time mask zeroes frames ``[t0, t0 + w)`` with ``w``
    uniform in ``[0, min(width, length)]`` and ``t0`` uniform in ``[0, length - w]`` of the row's
    own valid frames. Masks of one row are independent of the other rows'.
    """
    batch, steps, width = features.shape
    if width % blocks:
        raise ValueError(f"spec_augment: {width} channels are not {blocks} equal blocks")
    channels = width // blocks
    keep = jnp.ones((batch, steps, width), features.dtype)
    f_rng, t_rng = jax.random.split(rng)
    chan = jnp.arange(width)[None, :] % channels
    for k in jax.random.split(f_rng, freq_masks):
        w_rng, s_rng = jax.random.split(k)
        width = jax.random.randint(w_rng, (batch, 1), 0, min(freq_mask_width, channels) + 1)
        start = jnp.floor(jax.random.uniform(s_rng, (batch, 1)) * (channels - width + 1)).astype(jnp.int32)
        band = (chan >= start) & (chan < start + width)
        keep = keep * (~band)[:, None, :].astype(features.dtype)
    step = jnp.arange(steps)[None, :]
    for k in jax.random.split(t_rng, time_masks):
        w_rng, s_rng = jax.random.split(k)
        limit = jnp.minimum(time_mask_width, lengths)[:, None]
        width = jnp.floor(jax.random.uniform(w_rng, (batch, 1)) * (limit + 1)).astype(jnp.int32)
        start = jnp.floor(jax.random.uniform(s_rng, (batch, 1)) * (lengths[:, None] - width + 1)).astype(jnp.int32)
        span = (step >= start) & (step < start + width)
        keep = keep * (~span)[:, :, None].astype(features.dtype)
    return features * keep


class SpeechModel(nn.Module):
    """``(features [B, T, F], lengths [B]) -> (logits [B, T', V + 1], lengths' [B])``, blank at 0."""

    num_symbols: int  # V, without the blank
    num_features: int
    rnn: layers.RNN
    frontend: str = "stack"
    subsample: int = 1
    conv_features: int = 128
    dropout: float = 0.0  # on the RNN's outputs, before the output layer
    freq_masks: int = 0
    freq_mask_width: int = 0
    time_masks: int = 0
    time_mask_width: int = 0
    feature_blocks: int = 1  # 1 + data.deltas: frequency masks cover the same band of each block

    def _check(self, features: jax.Array, lengths: jax.Array) -> None:
        if features.ndim != 3 or features.shape[-1] != self.num_features:
            raise ValueError(f"features must be [B, T, {self.num_features}], got shape {features.shape}")
        if lengths.shape != features.shape[:1]:
            raise ValueError(f"lengths must be [B] = [{features.shape[0]}], got shape {lengths.shape}")
        if self.frontend not in FRONTENDS:
            raise ValueError(f"model.frontend={self.frontend!r} is not one of {list(FRONTENDS)}")
        if self.subsample < 1:
            raise ValueError(f"model.subsample={self.subsample} must be at least 1")

    def front(self, xs: jax.Array) -> jax.Array:
        """``[B, T, F] -> [B, ceil(T / subsample), D']`` (see the module docstring)."""
        k = self.subsample
        if k == 1:
            return xs
        batch, steps, channels = xs.shape
        padded = -(-steps // k) * k
        xs = jnp.pad(xs, ((0, 0), (0, padded - steps), (0, 0)))
        if self.frontend == "stack":
            return xs.reshape(batch, padded // k, k * channels)
        conv = nn.Conv(self.conv_features, (2 * k - 1,), strides=(k,), padding=[(k - 1, k - 1)], name="frontend")
        return nn.relu(conv(xs))[:, : padded // k]

    @nn.compact
    def __call__(
        self, features: jax.Array, lengths: jax.Array, *, deterministic: bool = True
    ) -> tuple[jax.Array, jax.Array]:
        self._check(features, lengths)
        valid = jnp.arange(features.shape[1])[None, :] < lengths[:, None]
        xs = features.astype(jnp.float32) * valid[:, :, None].astype(jnp.float32)
        if not deterministic and (self.freq_masks or self.time_masks):
            xs = spec_augment(
                xs,
                lengths,
                self.make_rng("dropout"),
                freq_masks=self.freq_masks,
                freq_mask_width=self.freq_mask_width,
                time_masks=self.time_masks,
                time_mask_width=self.time_mask_width,
                blocks=self.feature_blocks,
            )
        zs = self.front(xs)
        new_lengths = subsampled_lengths(lengths, self.subsample)
        hs = self.rnn(zs, new_lengths, deterministic=deterministic)
        hs = nn.Dropout(self.dropout)(hs, deterministic=deterministic or not self.dropout)
        logits = nn.Dense(self.num_symbols + 1, name="output")(hs.astype(jnp.float32))
        return logits, new_lengths
