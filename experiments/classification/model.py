"""The sentiment classifier (``experiments/classification/task.py`` builds it from the config): embeddings
(plus hashed character n-grams), word dropout, a (Bi)RNN encoder, pooling over the valid steps,
an MLP head. Padding never changes a prediction."""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from experiments.classification import adversarial
from rnn_research import layers
from rnn_research.recurrent import length_mask

POOLINGS = ("last", "mean", "max", "attention")


def pool(
    ys: jax.Array, lengths: jax.Array, how: str, bidirectional: bool, scores: jax.Array | None = None
) -> jax.Array:
    """``ys [B, T, H']`` over the valid steps ``t < lengths[b]`` -> ``[B, H']``.

    ``scores [B, T]`` are the attention logits (``how == "attention"``).
    """
    valid = length_mask(lengths, ys.shape[1])  # [B, T]
    if how == "mean":
        total = jnp.sum(jnp.where(valid[..., None], ys, 0.0), axis=1)
        return total / jnp.maximum(lengths, 1)[:, None].astype(ys.dtype)
    if how == "max":
        return jnp.max(jnp.where(valid[..., None], ys, -jnp.inf), axis=1)
    if how == "attention":
        weights = jax.nn.softmax(jnp.where(valid, scores, -jnp.inf), axis=1)
        return jnp.einsum("bt,bth->bh", weights, ys)
    if how == "last":
        last = jnp.take_along_axis(ys, jnp.maximum(lengths - 1, 0)[:, None, None], axis=1)[:, 0]
        if not bidirectional:
            return last
        half = ys.shape[-1] // 2
        return jnp.concatenate([last[:, :half], ys[:, 0, half:]], axis=-1)
    raise ValueError(f"model.pooling={how!r} is not one of {list(POOLINGS)}")


def drop_words(rng: jax.Array, rate: float, tokens: jax.Array) -> jax.Array:
    """Word dropout: each word of ``tokens [B, T]`` becomes ``<unk>`` (1) with probability
    ``rate``; ``<pad>`` (0) stays."""
    drop = jax.random.bernoulli(rng, rate, tokens.shape)
    return jnp.where(drop & (tokens > 1), jnp.ones((), tokens.dtype), tokens)


class SentimentClassifier(nn.Module):
    """``tokens [B, T]`` (with subwords ``[B, T, 1 + K]``: word id, then n-gram ids), ``lengths [B]`` -> ``logits [B, C]``."""

    vocab_size: int
    embed_size: int
    num_classes: int
    rnn: layers.RNN | None  # None: the order-blind bag-of-words baseline (pooled embeddings)
    pooling: str = "max"
    head_hidden: int = 0
    dropout: float = 0.0
    word_dropout: float = 0.0
    embedding_init: Callable[..., jax.Array] = nn.initializers.normal(0.1)

    subword_buckets: int = 0  # > 0: tokens [B, T, 1 + K] carry hashed n-gram ids (text.Subwords)
    adversarial_eps: float = 0.0  # > 0: training adds the loss at embeddings perturbed this much (relative)

    @nn.compact
    def __call__(
        self,
        tokens: jax.Array,
        lengths: jax.Array,
        *,
        deterministic: bool = True,
        adversary: jax.Array | None = None,
    ) -> jax.Array:
        """``adversary [B, T, E]``: a unit direction per example (:mod:`experiments.classification.adversarial`);
        the embedded words become ``x + adversarial_eps * ||x_b|| * adversary`` before dropout."""
        if (tokens.ndim == 3) != (self.subword_buckets > 0):
            raise ValueError(
                f"tokens of shape {tokens.shape}: expected [B, T, 1 + K] with model.subword_buckets > 0, "
                f"[B, T] without (subword_buckets={self.subword_buckets})"
            )
        words = tokens[..., 0] if tokens.ndim == 3 else tokens
        if not deterministic and self.word_dropout > 0.0:  # the word becomes <unk>, its spelling stays
            words = drop_words(self.make_rng("dropout"), self.word_dropout, words)
        embedding = self.param("embedding", self.embedding_init, (self.vocab_size, self.embed_size))
        xs = jnp.take(embedding, words, axis=0)
        if self.subword_buckets:  # + the mean of the word's n-gram vectors (id 0: no n-gram)
            table = self.param(
                "subword_embedding", nn.initializers.normal(0.1), (self.subword_buckets + 1, self.embed_size)
            )
            grams = tokens[..., 1:]
            present = (grams > 0)[..., None].astype(xs.dtype)
            total = jnp.sum(jnp.take(table, grams, axis=0) * present, axis=2)
            xs = xs + total / jnp.maximum(jnp.sum(present, axis=2), 1.0)
        if adversary is not None:
            xs = adversarial.perturb(xs, lengths, adversary, self.adversarial_eps)
        xs = nn.Dropout(self.dropout)(xs, deterministic=deterministic)
        ys = xs if self.rnn is None else self.rnn(xs, lengths, deterministic=deterministic)
        scores = None
        if self.pooling == "attention":
            scores = nn.Dense(1, name="attention_score")(jnp.tanh(nn.Dense(ys.shape[-1], name="attention")(ys)))
            scores = scores[..., 0]
        pooled = pool(ys, lengths, self.pooling, self.rnn is not None and self.rnn.bidirectional, scores)
        pooled = nn.Dropout(self.dropout)(pooled, deterministic=deterministic)
        if self.head_hidden:
            pooled = nn.relu(nn.Dense(self.head_hidden, name="hidden")(pooled))
            pooled = nn.Dropout(self.dropout)(pooled, deterministic=deterministic)
        return nn.Dense(self.num_classes, name="output")(pooled).astype(jnp.float32)
