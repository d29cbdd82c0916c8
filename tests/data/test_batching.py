"""Batching: buckets, padding any dict of rows, seeded epoch plans, the step stream, host rows, eval batches."""

import numpy as np
import pytest

from rnn_research.data import batching
from tests.errors import one_line_error


def test_buckets_are_rounded_quantiles_and_hold_the_longest():
    lengths = list(range(1, 101))
    assert batching.bucket_lengths(lengths, 4) == (32, 56, 80, 104)
    assert batching.bucket_lengths([3, 5], 1, multiple=4) == (8,)
    assert batching.fit_bucket(33, (32, 56)) == 56 and batching.round_up(17, 16) == 32
    with one_line_error(ValueError, r"a row of 60 tokens is longer than the largest bucket \(56\)"):
        batching.fit_bucket(60, (32, 56))
    with one_line_error(ValueError, "no sequences to bucket"):
        batching.bucket_lengths([], 2)


def test_pad_batch_pads_every_key_to_one_bucket_with_its_pad_value():
    rows = {"tokens": [np.array([5, 6, 7], np.int32), np.array([8], np.int32)], "feats": [np.ones((2, 2))] * 2}
    batch = batching.pad_batch(
        rows, (4, 8), 3, per_row={"labels": np.array([1, 2], np.int32)}, pad_values={"tokens": -1, "labels": 9}
    )
    assert list(batch) == ["tokens", "feats", "lengths", "labels", "weights"]
    np.testing.assert_array_equal(batch["tokens"], [[5, 6, 7, -1], [8, -1, -1, -1], [-1, -1, -1, -1]])
    assert batch["feats"].shape == (3, 4, 2) and batch["feats"].dtype == np.float64 and batch["feats"][0, 2:].sum() == 0
    np.testing.assert_array_equal(batch["lengths"], [3, 1, 1])  # a padding row reads one pad step
    np.testing.assert_array_equal(batch["labels"], [1, 2, 9])
    np.testing.assert_array_equal(batch["weights"], [1, 1, 0])
    assert batch["weights"].dtype == np.float32 and batch["lengths"].dtype == np.int32
    with one_line_error(ValueError, r"a batch needs 1..1 rows, got 2"):
        batching.pad_batch(rows, (8,), 1)


def test_epoch_plan_uses_every_example_once_and_groups_similar_lengths():
    lengths = list(range(1, 101))
    plan = batching.epoch_plan(lengths, 8, np.random.default_rng(0), pool=4)
    assert sorted(np.concatenate(plan).tolist()) == list(range(100))
    assert sum(len(b) < 8 for b in plan) == 1

    def spread(plan):
        return np.mean([np.ptp(np.asarray(lengths)[b]) for b in plan])

    assert spread(plan) < 0.5 * spread(batching.epoch_plan(lengths, 8, np.random.default_rng(0), pool=1))


def test_step_indices_depend_only_on_seed_and_step():
    lengths = list(range(1, 31))
    at = batching.step_indices(lengths, 8, seed=5, pool=1)
    assert batching.steps_per_epoch(30, 8) == 4
    forward = [at(step).tolist() for step in range(10)]
    fresh = batching.step_indices(lengths, 8, seed=5, pool=1)
    assert [fresh(step).tolist() for step in (9, 3, 7)] == [forward[9], forward[3], forward[7]]  # any order
    first_epoch = batching.epoch_plan(lengths, 8, batching.epoch_rng(5, 0), pool=1)
    assert forward[:4] == [b.tolist() for b in first_epoch] and forward[4:8] != forward[:4]
    assert batching.step_indices(lengths, 8, seed=6, pool=1)(0).tolist() != forward[0]
    stream = batching.step_stream(lambda step: step * 10, 3)
    assert [next(stream) for _ in range(3)] == [30, 40, 50]


def test_host_rows_split_the_global_batch_in_process_order():
    assert [batching.host_rows(32, i, 4) for i in range(4)] == [slice(i * 8, i * 8 + 8) for i in range(4)]
    assert batching.host_rows(6, 0, 1) == slice(0, 6)
    with one_line_error(ValueError, "batch size 6 must be a positive multiple of 4 processes"):
        batching.host_rows(6, 0, 4)
    with one_line_error(ValueError, r"process_index=4 is not in \[0, process_count=4\)"):
        batching.host_rows(8, 4, 4)


def test_eval_batches_cover_every_example_once_sorted_by_length():
    rows = [np.arange(n, dtype=np.int32) + 1 for n in (5, 1, 3, 2, 4)]
    batches = list(batching.eval_batches({"tokens": rows}, (8,), 2, per_row={"labels": [0, 1, 2, 3, 4]}))
    assert len(batches) == 3
    assert [b["labels"].tolist() for b in batches] == [[1, 3], [2, 4], [0, 0]]
    assert [b["lengths"].tolist() for b in batches] == [[1, 2], [3, 4], [5, 1]]
    np.testing.assert_array_equal(batches[-1]["weights"], [1, 0])


@pytest.mark.parametrize("seed", [0, 1])
def test_plans_are_reproducible_from_seed_and_epoch(seed):
    a = batching.epoch_plan(range(20), 4, batching.epoch_rng(seed, 2))
    b = batching.epoch_plan(range(20), 4, batching.epoch_rng(seed, 2))
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
