"""Adversarial training on embeddings (``experiments/classification/adversarial.py``, ``model.adversarial_eps``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.classification import synthetic as sentiment_synthetic
from experiments.classification import adversarial, text
from experiments.classification import task as sentiment


def test_directions_have_unit_norm_over_valid_steps_and_none_at_padding():
    grads = jax.random.normal(jax.random.key(0), (3, 6, 4))
    lengths = jnp.array([6, 2, 3])
    grads = grads.at[2].set(0.0)  # no gradient at all: no direction
    d = adversarial.unit_directions(grads, lengths)
    np.testing.assert_allclose(jnp.sqrt(jnp.sum(d[:2] ** 2, axis=(1, 2))), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(d[1, 2:], 0.0)
    np.testing.assert_array_equal(d[2], 0.0)
    np.testing.assert_allclose(d[1, :2], grads[1, :2] / jnp.linalg.norm(grads[1, :2]), rtol=1e-6)

    xs = jax.random.normal(jax.random.key(1), (3, 6, 4))
    moved = adversarial.perturb(xs, lengths, d, 0.1)
    for b, n in enumerate([6, 2, 0]):  # each example moves by 10% of its own embeddings' norm
        expected = 0.1 * float(jnp.linalg.norm(xs[b, : lengths[b]])) if n else 0.0
        assert float(jnp.linalg.norm(moved[b] - xs[b])) == pytest.approx(expected, rel=1e-5)


def setup(eps: float, dropout: float = 0.0):
    config = sentiment_synthetic.get_config("smoke")
    config.model.update(adversarial_eps=eps, dropout=dropout, word_dropout=0.0)
    model = sentiment.make_model(config, {"vocab_size": 30, "num_classes": 2})
    rng = np.random.default_rng(0)
    sentences = [rng.integers(2, 30, n).astype(np.int32) for n in (5, 9, 3, 7)]
    batch = text.labelled_batch(sentences, [0, 1, 1, 0], [12], 4)
    params = model.init(jax.random.key(0), batch["tokens"], batch["lengths"])["params"]
    return model, {"params": params}, dict(batch, weights=np.ones(4, np.float32))


def test_the_direction_found_raises_the_loss_more_than_random_ones():
    model, variables, batch = setup(0.05)
    xent = jax.jit(lambda d: _xent(model, variables, batch, d))

    def loss_at(direction):
        return float(xent(direction))

    clean = float(_xent(model, variables, batch, None))
    zeros = jnp.zeros(batch["tokens"].shape + (model.embed_size,))
    grads = jax.grad(xent)(zeros)
    lengths = jnp.asarray(batch["lengths"])
    worst = loss_at(adversarial.unit_directions(grads, lengths))
    randoms = [
        loss_at(adversarial.unit_directions(jax.random.normal(jax.random.key(k), zeros.shape), lengths))
        for k in range(5)
    ]
    assert worst > clean and worst > max(randoms), (clean, worst, randoms)


def _xent(model, variables, batch, direction):
    logits = model.apply(variables, batch["tokens"], batch["lengths"], adversary=direction)
    return jnp.mean(-jax.nn.log_softmax(logits)[jnp.arange(4), batch["labels"]])


def test_training_loss_adds_the_loss_at_the_worst_direction_with_a_first_order_gradient():
    """With dropout on, the gradient of the training loss equals that of
    ``L(theta, 0) + L(theta, d)`` with the direction ``d`` computed beforehand and held fixed:
    nothing flows back through the search for ``d``. Evaluation ignores ``adversarial_eps``."""
    model, variables, batch = setup(0.05, dropout=0.3)
    key = jax.random.key(3)

    def train_loss(params):
        return sentiment.loss_and_metrics(model, {"params": params}, batch, {}, key, True)

    (loss, (metrics, _)), grads = jax.value_and_grad(train_loss, has_aux=True)(variables["params"])

    def run(params, direction):
        logits = model.apply(
            {"params": params}, batch["tokens"], batch["lengths"], deterministic=False, adversary=direction,
            rngs={"dropout": key},
        )  # fmt: skip
        return jnp.mean(-jax.nn.log_softmax(logits)[jnp.arange(4), batch["labels"]])

    zeros = jnp.zeros(batch["tokens"].shape + (model.embed_size,))
    d = adversarial.unit_directions(jax.grad(lambda d: run(variables["params"], d))(zeros), batch["lengths"])
    expected, expected_grads = jax.value_and_grad(lambda p: run(p, None) + run(p, d))(variables["params"])
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert float(metrics["adversarial_loss"]) == pytest.approx(float(run(variables["params"], d)), rel=1e-5)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7), grads, expected_grads)

    plain_model, _, _ = setup(0.0, dropout=0.3)
    evaluated = sentiment.loss_and_metrics(model, variables, batch, {}, key, False)
    assert float(evaluated[0]) == float(sentiment.loss_and_metrics(plain_model, variables, batch, {}, key, False)[0])
    assert "adversarial_loss" not in evaluated[1][0]


def test_padding_does_not_change_the_adversarial_loss():
    model, variables, batch = setup(0.1)
    longer = text.labelled_batch(
        [batch["tokens"][i, : batch["lengths"][i]] for i in range(4)], batch["labels"].tolist(), [20], 4
    )
    longer["tokens"][longer["tokens"] == 0] = 7  # whatever lies in the padding must not matter
    longer["weights"] = batch["weights"]
    key = jax.random.key(0)
    short = sentiment.loss_and_metrics(model, variables, batch, {}, key, True)[1][0]["adversarial_loss"]
    long = sentiment.loss_and_metrics(model, variables, longer, {}, key, True)[1][0]["adversarial_loss"]
    assert float(short) == pytest.approx(float(long), rel=1e-5)


def test_a_negative_size_is_refused_naming_the_key():
    config = sentiment_synthetic.get_config("smoke")
    config.model.adversarial_eps = -0.1
    with pytest.raises(ValueError, match=r"model.adversarial_eps=-0.1 must be >= 0"):
        sentiment.make_model(config, {"vocab_size": 30, "num_classes": 2})
