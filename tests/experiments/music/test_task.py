"""The music task's NLL is the papers' quantity, and padding never changes it."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs.music import chorales
from experiments.music import task
from rnn_research.data import batching


def config_for(head: str) -> ml_collections.ConfigDict:
    config = chorales.get_config("smoke")
    config.model.head = head
    return config


def random_pieces(n: int, keys: int = 88, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.random((int(rng.integers(2, 30)), keys)) < 0.05).astype(np.uint8) for _ in range(n)]


def split_metrics(model, variables, pieces, buckets, batch_size) -> dict[str, float]:
    """A split's metrics as the harness reduces them: ``total_*`` summed over batches, then finalised."""
    sums: dict[str, float] = {}
    sequences = {"inputs": [r[:-1] for r in pieces], "targets": [r[1:] for r in pieces]}
    metrics_of = jax.jit(lambda b: task.loss_and_metrics(model, variables, b, None, jax.random.key(0), False)[1][0])
    for batch in batching.eval_batches(sequences, buckets, batch_size):
        for k, v in metrics_of(batch).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    return task.finalize_metrics(None, sums)


@pytest.mark.parametrize("head", ["bernoulli", "nade"])
def test_padding_steps_and_padded_pieces_never_change_a_splits_nll(head):
    pieces = random_pieces(7)
    model = task.make_model(config_for(head), {"num_keys": 88})
    batch = batching.pad_batch({"inputs": [pieces[0][:-1]], "targets": [pieces[0][1:]]}, (32,), 1)
    variables = model.init(jax.random.key(0), *task.model_inputs(batch, None))
    tight = split_metrics(model, variables, pieces, (32,), 7)  # one batch, each piece padded to 32 steps
    loose = split_metrics(model, variables, pieces, (16, 48, 64), 3)  # three batches, padded rows and steps
    steps = sum(len(r) - 1 for r in pieces)
    assert tight["total_steps"] == loose["total_steps"] == steps
    assert loose["nll"] == pytest.approx(tight["nll"], rel=1e-5)
    assert loose["frame_accuracy"] == pytest.approx(tight["frame_accuracy"], rel=1e-5)
    one_by_one = [split_metrics(model, variables, [r], (32,), 1) for r in pieces]  # no padding rows at all
    total = sum(m["total_nll"] for m in one_by_one)
    assert tight["nll"] == pytest.approx(total / steps, rel=1e-5)


def test_a_model_that_says_one_half_for_every_key_scores_88_ln_2():
    pieces = random_pieces(5, seed=1)
    model = task.make_model(config_for("bernoulli"), {"num_keys": 88})
    batch = batching.pad_batch({"inputs": [pieces[0][:-1]], "targets": [pieces[0][1:]]}, (32,), 1)
    variables = model.init(jax.random.key(0), *task.model_inputs(batch, None))
    params = jax.tree_util.tree_map(jnp.asarray, variables["params"])
    params["head"] = {"kernel": jnp.zeros_like(params["head"]["kernel"]), "bias": jnp.zeros(88)}
    metrics = split_metrics(model, {"params": params}, pieces, (16, 32), 2)
    assert metrics["total_steps"] == sum(len(r) - 1 for r in pieces)  # padded steps are not counted
    assert metrics["nll"] == pytest.approx(88 * math.log(2), rel=1e-6)
    assert metrics["nll"] == pytest.approx(60.997, abs=1e-3)


def test_frame_accuracy_counts_keys_of_the_predicted_frame_against_numpy():
    """A head that always predicts keys 10 and 20 on: TP, FP and FN counted by hand over the real steps."""
    pieces = random_pieces(5, seed=2)
    for piece in pieces:
        piece[::2, 10] = 1
    model = task.make_model(config_for("bernoulli"), {"num_keys": 88})
    batch = batching.pad_batch({"inputs": [pieces[0][:-1]], "targets": [pieces[0][1:]]}, (32,), 1)
    variables = model.init(jax.random.key(0), *task.model_inputs(batch, None))
    bias = -10.0 * np.ones(88, np.float32)
    bias[[10, 20]] = 10.0
    params = dict(
        variables["params"], head={"kernel": jnp.zeros_like(variables["params"]["head"]["kernel"]), "bias": bias}
    )
    metrics = split_metrics(model, {"params": params}, pieces, (16, 32), 2)
    truth = np.concatenate([p[1:] for p in pieces]).astype(bool)
    predicted = np.zeros_like(truth)
    predicted[:, [10, 20]] = True
    tp, fp, fn = (truth & predicted).sum(), (~truth & predicted).sum(), (truth & ~predicted).sum()
    assert (metrics["total_true_positives"], metrics["total_false_positives"]) == (tp, fp)
    assert metrics["total_false_negatives"] == fn
    assert metrics["frame_accuracy"] == pytest.approx(tp / (tp + fp + fn))
    values = {"total_true_positives": 6.0, "total_false_positives": 2.0, "total_false_negatives": 4.0}
    assert task.finalize_metrics(None, values)["frame_accuracy"] == pytest.approx(0.5)


def test_a_bidirectional_model_is_refused():
    config = config_for("bernoulli")
    config.model.bidirectional = True
    with pytest.raises(ValueError, match="left to right"):
        task.make_model(config, {"num_keys": 88})
