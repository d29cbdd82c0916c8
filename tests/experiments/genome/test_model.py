"""The DNA classifier: strand averaging makes a sequence and its reverse complement agree, padding
changes nothing, both input kinds, one-line refusals."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.genome import sequences as seq
from experiments.genome.model import DNAClassifier
from rnn_research import cells, layers

TEXTS = ["ACGTTGCANNACGTRYAC", "GGGCTATAATCC", "TTTTACGSWKMBDHVA"]


def model(inputs: str = "onehot", strand_average: bool = True, k: int = 3, **kw) -> DNAClassifier:
    rnn = layers.RNN(cell=cells.make("gru", 8), bidirectional=True)
    vocab = seq.kmer_vocab_size(k) if inputs == "kmer" else 0
    return DNAClassifier(num_classes=3, rnn=rnn, inputs=inputs, vocab_size=vocab, strand_average=strand_average, **kw)


def onehot_batch(codes: list[np.ndarray], width: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Right-padded one-hot rows ``[B, width, 4]`` (padding all zeros) and their lengths."""
    x = np.zeros((len(codes), width, 4), np.float32)
    for i, c in enumerate(codes):
        x[i, : len(c)] = seq.one_hot(c)
    return jnp.asarray(x), jnp.asarray([len(c) for c in codes], jnp.int32)


def kmer_batch(codes: list[np.ndarray], k: int, width: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    pad = seq.kmer_vocab_size(k) - 1
    ids = [seq.kmers(c, k, 1) for c in codes]
    x = np.full((len(codes), width), pad, np.int32)
    for i, row in enumerate(ids):
        x[i, : len(row)] = row
    return jnp.asarray(x), jnp.asarray([len(r) for r in ids], jnp.int32)


@pytest.mark.parametrize("inputs", ["onehot", "kmer"])
def test_strand_averaged_prediction_of_a_sequence_equals_that_of_its_reverse_complement(inputs):
    codes = [seq.encode(t) for t in TEXTS]
    rc = [seq.reverse_complement(c) for c in codes]
    batch = onehot_batch if inputs == "onehot" else (lambda c, w: kmer_batch(c, 3, w))
    x, lengths = batch(codes, 20)
    x_rc, lengths_rc = batch(rc, 20)
    np.testing.assert_array_equal(lengths, lengths_rc)
    averaged = model(inputs)
    params = averaged.init(jax.random.key(0), x, lengths, x_rc)
    forward = averaged.apply(params, x, lengths, x_rc)
    backward = averaged.apply(params, x_rc, lengths, x)  # the reverse complement read as the sequence
    np.testing.assert_allclose(forward, backward, rtol=1e-6, atol=1e-6)
    single = model(inputs, strand_average=False)  # the same weights, one strand: not invariant
    assert not np.allclose(single.apply(params, x, lengths), single.apply(params, x_rc, lengths), atol=1e-4)


def test_padding_never_changes_a_prediction():
    codes = [seq.encode(t) for t in TEXTS]
    averaged = model()
    x, lengths = onehot_batch(codes, 18)
    x_rc, _ = onehot_batch([seq.reverse_complement(c) for c in codes], 18)
    params = averaged.init(jax.random.key(1), x, lengths, x_rc)
    wide, _ = onehot_batch(codes, 40)
    wide_rc, _ = onehot_batch([seq.reverse_complement(c) for c in codes], 40)
    np.testing.assert_allclose(
        averaged.apply(params, x, lengths, x_rc), averaged.apply(params, wide, lengths, wide_rc), atol=1e-5
    )
    alone = averaged.apply(params, x[1:2], lengths[1:2], x_rc[1:2])  # the same row in a batch of one
    np.testing.assert_allclose(alone, averaged.apply(params, x, lengths, x_rc)[1:2], atol=1e-5)


def test_refusals_are_one_line():
    codes = [seq.encode(t) for t in TEXTS]
    x, lengths = onehot_batch(codes, 20)
    with pytest.raises(ValueError, match=r"strand_average needs x_rc"):
        model().init(jax.random.key(0), x, lengths)
    with pytest.raises(ValueError, match=r"model.inputs='kmer' reads k-mer ids x \[B, N\]"):
        model("kmer", strand_average=False).init(jax.random.key(0), x, lengths)
    with pytest.raises(ValueError, match=r"model.inputs='onehot' reads x \[B, L, 4\]"):
        model(strand_average=False).init(jax.random.key(0), x[..., :3], lengths)
    with pytest.raises(ValueError, match=r"model.inputs='bytes' is not one of"):
        model("bytes", strand_average=False).init(jax.random.key(0), x, lengths)
