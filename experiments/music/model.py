"""The piano-roll model: frames of K binary keys in, a stacked RNN of any cell over time, a head
that gives the probability of the next frame (``heads.py``: ``bernoulli`` or ``nade``).

    x_t = roll[t]            [B, T, K]   (frames 0 .. T-1 of a piece)
    h_t = RNN(x_1 .. x_t)    [B, T, H]
    log p(roll[t+1] | roll[..t]) = head(h_t, roll[t+1])

``lengths [B]`` counts each row's valid steps; the RNN freezes its state past them and the loss
masks them, so padding never changes a result. The RNN reads left to right only.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from experiments.music import heads
from rnn_research import layers


class PianoRollModel(nn.Module):
    """``(inputs [B, T, K], lengths [B], targets [B, T, K]) -> logits [B, T, K]`` (see ``heads.py``);
    with ``predict=True``, ``(logits, predicted frames [B, T, K])``."""

    num_keys: int
    rnn: layers.RNN
    head: str = "bernoulli"
    nade_hidden: int = 150
    input_dropout: float = 0.0
    dropout: float = 0.0  # on the RNN's outputs, before the head
    key_log_odds: tuple[float, ...] | None = None

    def _check(self, inputs: jax.Array, lengths: jax.Array, targets: jax.Array) -> None:
        if inputs.ndim != 3 or inputs.shape[-1] != self.num_keys:
            raise ValueError(f"inputs must be [B, T, {self.num_keys}] frames, got shape {inputs.shape}")
        if targets.shape != inputs.shape:
            raise ValueError(f"targets {targets.shape} must have the shape of inputs {inputs.shape}")
        if lengths.shape != inputs.shape[:1]:
            raise ValueError(f"lengths must be [B] = [{inputs.shape[0]}], got shape {lengths.shape}")
        if self.rnn.bidirectional:
            raise ValueError("model.bidirectional: a next-frame model reads left to right only")

    @nn.compact
    def __call__(
        self,
        inputs: jax.Array,
        lengths: jax.Array,
        targets: jax.Array,
        *,
        deterministic: bool = True,
        predict: bool = False,
    ) -> jax.Array | tuple[jax.Array, jax.Array]:
        self._check(inputs, lengths, targets)
        hs = self.hidden(inputs, lengths, deterministic=deterministic).astype(jnp.float32)
        head = heads.Head(self.head, self.num_keys, self.nade_hidden, self.key_log_odds, name="head")
        return head(hs, targets, predict)

    def hidden(self, inputs: jax.Array, lengths: jax.Array, *, deterministic: bool = True) -> jax.Array:
        """The RNN's outputs ``[B, T, H]`` (dropout applied when training)."""
        xs = inputs.astype(jnp.float32)
        xs = nn.Dropout(self.input_dropout)(xs, deterministic=deterministic or not self.input_dropout)
        ys = self.rnn(xs, lengths, deterministic=deterministic)
        dims = (1,) if self.rnn.variational else ()  # one mask per piece, shared by its steps
        return nn.Dropout(self.dropout, broadcast_dims=dims)(ys, deterministic=deterministic or not self.dropout)
