"""The DNA sequence classifier: one-hot nucleotides or embedded k-mers, a (Bi)RNN over the valid
positions, pooling, an MLP head; optionally strand-invariant by averaging the logits of a
sequence and of its reverse complement.

Inputs (``inputs``):

* ``onehot``: ``x [B, L, 4]`` float over (A, C, G, T), an ambiguity code as the mean of the bases
  it stands for (``sequences.PROBS``; N = 1/4 each); no embedding.
* ``kmer``: ``x [B, N]`` int32 k-mer ids (``sequences.kmers``), embedded by a learned table of
  ``vocab_size = 4**k + 2`` rows (the ambiguous k-mer and the padding id included).

``lengths [B]`` counts the valid positions of each row (a fixed-length data set gives every row
the full length); padding never changes a prediction (the encoder freezes its state there and
the pooling masks it). With ``strand_average`` the model also reads ``x_rc``, the reverse
complement in the same layout and with the same lengths, and returns
``(f(x) + f(x_rc)) / 2``: a sequence and its reverse complement get the same logits.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from experiments.classification.model import POOLINGS, pool
from rnn_research import layers

INPUTS = ("onehot", "kmer")
__all__ = ["INPUTS", "POOLINGS", "DNAClassifier"]


class DNAClassifier(nn.Module):
    """``x`` (one-hot ``[B, L, 4]`` or k-mer ids ``[B, N]``), ``lengths [B]`` -> ``logits [B, K]``."""

    num_classes: int
    rnn: layers.RNN
    inputs: str = "onehot"
    vocab_size: int = 0  # kmer: 4**k + 2
    embed_size: int = 32  # kmer
    pooling: str = "max"
    head_hidden: int = 0
    dropout: float = 0.0
    strand_average: bool = False

    @nn.compact
    def __call__(
        self, x: jax.Array, lengths: jax.Array, x_rc: jax.Array | None = None, *, deterministic: bool = True
    ) -> jax.Array:
        self._check(x, lengths)
        if not self.strand_average:
            return self._logits(x, lengths, deterministic)
        if x_rc is None or x_rc.shape != x.shape:
            raise ValueError(
                f"strand_average needs x_rc, the reverse complement of x in the same layout ({x.shape}), "
                f"got {None if x_rc is None else x_rc.shape}"
            )
        batch = x.shape[0]  # both strands in one pass of the same weights
        logits = self._logits(jnp.concatenate([x, x_rc]), jnp.concatenate([lengths, lengths]), deterministic)
        return 0.5 * (logits[:batch] + logits[batch:])

    def _check(self, x: jax.Array, lengths: jax.Array) -> None:
        if self.inputs not in INPUTS:
            raise ValueError(f"model.inputs={self.inputs!r} is not one of {list(INPUTS)}")
        if self.inputs == "onehot" and (x.ndim != 3 or x.shape[-1] != 4):
            raise ValueError(f"model.inputs='onehot' reads x [B, L, 4], got shape {x.shape}")
        if self.inputs == "kmer" and x.ndim != 2:
            raise ValueError(f"model.inputs='kmer' reads k-mer ids x [B, N], got shape {x.shape}")
        if lengths.shape != x.shape[:1]:
            raise ValueError(f"lengths must be [B] = [{x.shape[0]}], got shape {lengths.shape}")

    def _logits(self, x: jax.Array, lengths: jax.Array, deterministic: bool) -> jax.Array:
        if self.inputs == "kmer":
            table = self.param("embedding", nn.initializers.normal(0.1), (self.vocab_size, self.embed_size))
            xs = jnp.take(table, x, axis=0)
        else:
            xs = x.astype(jnp.float32)
        xs = nn.Dropout(self.dropout)(xs, deterministic=deterministic)
        ys = self.rnn(xs, lengths, deterministic=deterministic)
        scores = None
        if self.pooling == "attention":
            scores = nn.Dense(1, name="attention_score")(jnp.tanh(nn.Dense(ys.shape[-1], name="attention")(ys)))[..., 0]
        pooled = pool(ys, lengths, self.pooling, self.rnn.bidirectional, scores)
        pooled = nn.Dropout(self.dropout)(pooled, deterministic=deterministic)
        if self.head_hidden:
            pooled = nn.relu(nn.Dense(self.head_hidden, name="hidden")(pooled))
            pooled = nn.Dropout(self.dropout)(pooled, deterministic=deterministic)
        return nn.Dense(self.num_classes, name="output")(pooled).astype(jnp.float32)
