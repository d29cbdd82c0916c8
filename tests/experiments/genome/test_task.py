"""The genome task: splits and folds, both strands in the batches, metrics, config refusals."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from configs.genome import motifs as motifs_preset
from configs.genome import splice as splice_preset
from experiments.genome import data as gdata
from experiments.genome import sequences as seq
from experiments.genome import task
from tests.errors import one_line_error
from tests.paths import SHARED_DATA

SPLICE = SHARED_DATA / "splice" / "splice.csv"


def small(variant: str = "smoke", **data):
    config = motifs_preset.get_config(variant)
    config.data.update(num_sequences=200, generated_length=30, **data)
    return config


def test_folds_partition_the_data_and_hold_valid_out_of_train():
    config = small(split="folds", folds=5, valid_fraction=0.2)
    tests = []
    for fold in range(5):
        config.data.fold = fold
        parts = gdata.split_indices(200, config.data)
        assert set(parts["train"]).isdisjoint(parts["valid"]) and set(parts["train"]).isdisjoint(parts["test"])
        assert set(parts["valid"]).isdisjoint(parts["test"])
        assert len(parts["train"]) + len(parts["valid"]) + len(parts["test"]) == 200
        assert len(parts["test"]) == 40 and len(parts["valid"]) == 32
        tests.append(parts["test"])
    assert sorted(np.concatenate(tests).tolist()) == list(range(200))  # every example tested exactly once
    config.data.split_seed = 1
    assert not np.array_equal(gdata.split_indices(200, config.data)["test"], tests[-1])


def test_batches_carry_both_strands_and_augmentation_swaps_them():
    config = small()
    config.model.rc_augment = False
    train_batches, eval_sets, info = task.make_data(config)
    batch = next(train_batches(0))
    for x, x_rc, n in zip(batch["inputs"], batch["inputs_rc"], batch["lengths"]):
        np.testing.assert_array_equal(seq.reverse_complement_one_hot(x[None], np.array([n]))[0], x_rc)
    config.model.rc_augment = True
    flipped = next(task.make_data(config)[0](0))
    np.testing.assert_array_equal(flipped["labels"], batch["labels"])  # the same examples...
    swapped = np.all(flipped["inputs"] == batch["inputs_rc"], axis=(1, 2))
    kept = np.all(flipped["inputs"] == batch["inputs"], axis=(1, 2))
    assert np.all(swapped | kept) and 0 < swapped.sum() < len(swapped)  # ...about half read as the other strand
    assert info["label_names"] == ["background", "motif"]
    evals = list(eval_sets["test"]())
    assert sum(b["weights"].sum() for b in evals) == len(info["splits"]["test"].labels)


def test_metrics_give_per_class_error_from_the_confusion_counts():
    values = {"total_count": 10.0, "total_correct": 7.0, "total_xent": 5.0}
    counts = {(0, 0): 4, (0, 1): 1, (1, 0): 2, (1, 1): 3}
    values.update({f"total_confusion_{t}_{p}": float(v) for (t, p), v in counts.items()})
    out = task.finalize_metrics(None, values)
    assert out["accuracy"] == pytest.approx(0.7)
    assert out["error_0"] == pytest.approx(0.2) and out["error_1"] == pytest.approx(0.4)
    assert out["confusion_1_0"] == 2.0


def test_kmer_inputs_and_strand_averaging_through_the_task():
    config = small("kmer")
    config.model.update(hidden_size=8)
    config.train.batch_size = 16
    train_batches, _, info = task.make_data(config)
    batch = next(train_batches(0))
    assert batch["inputs"].dtype == np.int32 and batch["inputs"].shape == (16, 28)
    model = task.make_model(config, info)
    params = model.init(jax.random.key(0), *task.model_inputs(batch, None))
    one = model.apply(params, batch["inputs"], batch["lengths"], batch["inputs_rc"])
    other = model.apply(params, batch["inputs_rc"], batch["lengths"], batch["inputs"])
    np.testing.assert_allclose(one, other, atol=1e-6)


def test_bad_settings_are_one_line():
    config = small(split="folds", folds=5, fold=5)
    with one_line_error(ValueError, r"data\.fold=5 must lie in \[0, data\.folds=5\)"):
        task.make_data(config)
    config = small(split="folds", folds=500)
    with one_line_error(ValueError, r"data\.folds=500 must lie in \[2, 200\]"):
        task.make_data(config)
    config = small(labels="background,gene")
    with one_line_error(ValueError, r"motif"):
        task.make_data(config)
    config = small()
    config.data.source = "table"
    with one_line_error(ValueError, r"data\.path is required with data\.source='table'"):
        task.make_data(config)
    config = small("kmer")
    config.model.k = 40
    with one_line_error(ValueError, r"model\.k=40"):
        task.make_data(config)


@pytest.mark.skipif(not SPLICE.exists(), reason="../shared/data/splice is absent")
def test_splice_preset_reads_the_uci_file_into_ten_folds():
    config = splice_preset.get_config("bigru")
    config.data.path = str(SPLICE)
    splits, names, description = gdata.prepare_splits(config)
    assert names == ["EI", "IE", "N"]
    assert sum(len(s.labels) for s in splits.values()) == 3190 and len(splits["test"].labels) == 319
    assert splits["train"].inputs.shape[1:] == (60, 4)
    assert "classes EI, IE, N" in description


def test_deduplicate_keeps_the_first_copy_and_counts_conflicting_labels():
    codes = [seq.encode(t) for t in ("ACGT", "ACGT", "GGCC", "ACGT", "GGCC")]
    records = gdata.sources.Records(codes, ["a", "a", "b", "c", "b"], list("vwxyz"), list("vwxyz"))
    kept, removed, conflicts = gdata.deduplicate(records)
    assert kept.names == ["v", "x"] and kept.labels == ["a", "b"] and removed == 3 and conflicts == 1


@pytest.mark.skipif(not SPLICE.exists(), reason="../shared/data/splice is absent")
def test_splice_file_repeats_sequences():
    config = splice_preset.get_config("bigru")
    config.data.path = str(SPLICE)
    records, _ = gdata.load_records(config.data)
    kept, removed, conflicts = gdata.deduplicate(records)
    assert (len(kept.labels), removed, conflicts) == (3005, 185, 1)
