"""The acoustic model: padding never changes a valid frame's output, front ends subsample as stated,
SpecAugment masks only valid frames, and the split's CTC loss is exact whatever the batching."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.speech import dtmf as dtmf_config
from experiments.speech import model as speech_model
from experiments.speech import task
from rnn_research.data import batching

FEATURES, SYMBOLS = 6, 4


def make(frontend: str, subsample: int, bidirectional: bool = True):
    config = dtmf_config.get_config("smoke")
    config.model.update(frontend=frontend, subsample=subsample, bidirectional=bidirectional, conv_features=8)
    return config, task.make_model(config, {"num_symbols": SYMBOLS, "num_features": FEATURES})


def utterances(n: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    feats = [rng.normal(size=(int(rng.integers(9, 30)), FEATURES)).astype(np.float32) for _ in range(n)]
    labels = [rng.integers(1, SYMBOLS + 1, size=int(rng.integers(1, 4))).astype(np.int32) for _ in range(n)]
    return feats, labels


def batch_of(feats, labels, buckets, size, pad_value=0.0):
    width = 4
    lab = np.zeros((len(labels), width), np.int32)
    for i, x in enumerate(labels):
        lab[i, : len(x)] = x
    return batching.pad_batch(
        {"features": feats},
        buckets,
        size,
        per_row={"labels": lab, "label_lengths": np.asarray([len(x) for x in labels], np.int32)},
        pad_values={"features": pad_value},
    )


@pytest.mark.parametrize(("frontend", "subsample"), [("stack", 1), ("stack", 3), ("conv", 2)])
def test_padding_never_changes_the_outputs_of_valid_frames(frontend, subsample):
    _, model = make(frontend, subsample)
    feats, labels = utterances(3)
    params = model.init(jax.random.key(0), *task.model_inputs(batch_of(feats[:1], labels[:1], (32,), 1), None))
    apply = jax.jit(model.apply)
    alone = [apply(params, *task.model_inputs(batch_of([f], [x], (32,), 1), None)) for f, x in zip(feats, labels)]
    batch = batch_of(feats, labels, (48,), 5, pad_value=7.0)  # garbage in the padding, padded rows
    logits, lengths = apply(params, batch["features"], batch["lengths"])
    for i, (one, one_len) in enumerate(alone):
        n = int(one_len[0])
        assert n == -(-len(feats[i]) // subsample) == int(lengths[i])
        np.testing.assert_allclose(np.asarray(logits[i, :n]), np.asarray(one[0, :n]), atol=1e-5)


def test_stacking_concatenates_consecutive_frames():
    _, model = make("stack", 3)
    xs = jnp.arange(2 * 7 * 2, dtype=jnp.float32).reshape(2, 7, 2)
    out = model.bind({}).front(xs)
    assert out.shape == (2, 3, 6)
    np.testing.assert_array_equal(np.asarray(out[0, 1]), np.asarray(xs[0, 3:6].reshape(-1)))
    np.testing.assert_array_equal(np.asarray(out[0, 2, 2:]), np.zeros(4))  # frame 7, 8 are zeros past the end


def test_spec_augment_masks_only_valid_frames_and_within_widths():
    xs = jnp.ones((16, 20, 10))
    lengths = jnp.asarray(np.random.default_rng(0).integers(1, 21, size=16), jnp.int32)
    out = speech_model.spec_augment(
        xs, lengths, jax.random.key(3), freq_masks=1, freq_mask_width=3, time_masks=1, time_mask_width=4
    )
    out = np.asarray(out)
    for row, n in zip(out, np.asarray(lengths)):
        zero_frames = np.flatnonzero((row == 0).all(axis=1))
        assert np.all(zero_frames < n)  # never past the row's own end
        assert len(zero_frames) <= 4 or len(zero_frames) == 20  # one span (or a band covering every channel)
        zero_channels = np.flatnonzero((row[:n] == 0).all(axis=0))
        assert len(zero_channels) <= 3 or len(zero_frames) >= n
    assert (out == 0).any() and (out == 1).any()


def test_a_splits_ctc_loss_does_not_depend_on_batching_or_padding():
    _, model = make("stack", 2)
    feats, labels = utterances(5, seed=1)
    params = model.init(jax.random.key(1), *task.model_inputs(batch_of(feats[:1], labels[:1], (32,), 1), None))

    metrics_of = jax.jit(lambda b: task.loss_and_metrics(model, params, b, None, jax.random.key(0), False)[1][0])

    def metrics(size, buckets):
        sums = {}
        for start in range(0, len(feats), size):
            batch = batch_of(feats[start : start + size], labels[start : start + size], buckets, size, pad_value=3.0)
            for k, v in metrics_of(batch).items():
                sums[k] = sums.get(k, 0.0) + float(v)
        return task.finalize_metrics(None, sums)

    tight, loose = metrics(5, (32,)), metrics(2, (48,))
    assert tight["total_utterances"] == loose["total_utterances"] == 5
    assert loose["ctc"] == pytest.approx(tight["ctc"], rel=1e-5)
    assert tight["ctc"] > 0


def test_frequency_masks_cover_the_same_band_of_each_delta_block():
    xs = jnp.ones((8, 6, 12))  # 4 log-mels and two orders of deltas
    out = speech_model.spec_augment(
        xs,
        jnp.full((8,), 6),
        jax.random.key(0),
        freq_masks=1,
        freq_mask_width=2,
        time_masks=0,
        time_mask_width=0,
        blocks=3,
    )
    zero = (np.asarray(out) == 0).all(axis=1)  # [B, 12] channels masked in every frame
    np.testing.assert_array_equal(zero[:, 0:4], zero[:, 4:8])
    np.testing.assert_array_equal(zero[:, 0:4], zero[:, 8:12])
    assert zero.any() and zero.sum(axis=1).max() <= 6
