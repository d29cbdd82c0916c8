"""The heads' likelihoods: exact (summing to one over every frame), chunking-invariant, and
consistent with their samplers; checked against a plain per-key loop."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.music import heads


def nade_params(keys: int, size: int, hidden: int, seed: int = 0) -> dict:
    k = jax.random.split(jax.random.key(seed), 6)
    return {
        "visible_kernel": jax.random.normal(k[0], (size, keys)),
        "visible_bias": jax.random.normal(k[1], (keys,)),
        "hidden_kernel": jax.random.normal(k[2], (size, hidden)),
        "hidden_bias": jax.random.normal(k[3], (hidden,)),
        "input_weights": jax.random.normal(k[4], (keys, hidden)),
        "output_weights": jax.random.normal(k[5], (keys, hidden)),
    }


def all_frames(keys: int) -> jnp.ndarray:
    return jnp.asarray(list(itertools.product([0.0, 1.0], repeat=keys)))


def loop_nade_log_prob(p: dict, h: np.ndarray, v: np.ndarray) -> float:
    """The NADE's definition, one key at a time, in NumPy float64."""
    p = {k: np.asarray(x, np.float64) for k, x in p.items()}
    b_v = h @ p["visible_kernel"] + p["visible_bias"]
    a = h @ p["hidden_kernel"] + p["hidden_bias"]
    total = 0.0
    for k in range(len(v)):
        prob = 1 / (1 + np.exp(-(b_v[k] + (1 / (1 + np.exp(-a))) @ p["output_weights"][k])))
        total += math.log(prob if v[k] else 1 - prob)
        a = a + v[k] * p["input_weights"][k]
    return total


def test_nade_probabilities_of_all_frames_sum_to_one():
    keys = 6
    p = nade_params(keys, size=3, hidden=5)
    h = jax.random.normal(jax.random.key(1), (2, 3))
    frames = all_frames(keys)
    for row in range(2):
        hh = jnp.broadcast_to(h[row], (len(frames), 3))
        log_p = heads.frame_log_prob(heads.nade_logits(p, hh, frames), frames)
        assert float(jnp.sum(jnp.exp(log_p))) == pytest.approx(1.0, abs=1e-5)


def test_nade_equals_a_plain_loop_over_keys():
    keys, size = 7, 4
    p = nade_params(keys, size, hidden=3, seed=2)
    rng = np.random.default_rng(0)
    h = rng.normal(size=(5, size)).astype(np.float32)
    v = (rng.random((5, keys)) < 0.4).astype(np.float32)
    ours = heads.frame_log_prob(heads.nade_logits(p, jnp.asarray(h), jnp.asarray(v)), jnp.asarray(v))
    expected = [loop_nade_log_prob(p, h[i].astype(np.float64), v[i]) for i in range(5)]
    np.testing.assert_allclose(np.asarray(ours), expected, rtol=1e-4)


def test_nade_chunks_change_nothing_values_or_gradients():
    keys, size = 5, 3
    p = nade_params(keys, size, hidden=4, seed=3)
    h = jax.random.normal(jax.random.key(4), (3, 7, size))
    v = (jax.random.uniform(jax.random.key(5), (3, 7, keys)) < 0.5).astype(jnp.float32)

    def loss(params, chunk):
        return jnp.sum(heads.frame_log_prob(heads.nade_logits(params, h, v, chunk=chunk), v))

    whole, chunked = loss(p, 1000), loss(p, 4)  # 21 rows: one pass vs six chunks, the last padded
    assert float(chunked) == pytest.approx(float(whole), rel=1e-6)
    g_whole, g_chunked = jax.grad(loss)(p, 1000), jax.grad(loss)(p, 4)
    for name in p:
        np.testing.assert_allclose(g_chunked[name], g_whole[name], rtol=1e-4, atol=1e-6)


def test_nade_sample_reports_its_own_likelihood_and_greedy_follows_the_conditionals():
    keys = 6
    p = nade_params(keys, size=3, hidden=4, seed=6)
    h = jax.random.normal(jax.random.key(7), (50, 3))
    frames, log_p = heads.nade_sample(p, h, jax.random.key(8))
    assert set(np.unique(frames)) <= {0.0, 1.0}
    np.testing.assert_allclose(log_p, heads.frame_log_prob(heads.nade_logits(p, h, frames), frames), rtol=1e-5)
    greedy, _ = heads.nade_sample(p, h, None)
    logits = heads.nade_logits(p, h, greedy)  # each key on iff its conditional given the keys below > 1/2
    np.testing.assert_array_equal(np.asarray(greedy), np.asarray(logits > 0, np.float32))


def test_nade_samples_follow_its_distribution():
    keys = 3
    p = nade_params(keys, size=2, hidden=3, seed=9)
    h = jnp.broadcast_to(jax.random.normal(jax.random.key(10), (2,)), (20000, 2))
    frames, _ = heads.nade_sample(p, h, jax.random.key(11))
    codes = np.asarray(frames) @ (2 ** np.arange(keys)[::-1])
    observed = np.bincount(codes.astype(int), minlength=2**keys) / len(codes)
    exact = jnp.exp(heads.frame_log_prob(heads.nade_logits(p, h[:8], all_frames(keys)), all_frames(keys)))
    np.testing.assert_allclose(observed, exact, atol=0.015)  # 20,000 draws: about 4 standard errors


def test_bernoulli_half_everywhere_is_k_ln_2():
    p = {"kernel": jnp.zeros((3, 88)), "bias": jnp.zeros(88)}
    v = (jax.random.uniform(jax.random.key(0), (4, 88)) < 0.1).astype(jnp.float32)
    log_p = heads.frame_log_prob(heads.bernoulli_logits(p, jnp.ones((4, 3))), v)
    np.testing.assert_allclose(-log_p, 88 * math.log(2), rtol=1e-6)
    assert 88 * math.log(2) == pytest.approx(60.997, abs=5e-4)
