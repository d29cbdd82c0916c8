"""The synthetic long-memory tasks: data as specified, baselines, determinism, eval mode."""

import json
import math

import numpy as np
import pytest

from configs.synthetic import adding as synthetic_adding
from configs.synthetic import copy_memory as synthetic_copy
from experiments.synthetic import task as synthetic
from rnn_research import cells, metrics, train


def test_adding_batch_marks_one_step_in_each_half_and_sums_them():
    batch = synthetic.adding_batch(np.random.default_rng(0), 256, 20)
    values, markers = batch["inputs"][..., 0], batch["inputs"][..., 1]
    assert batch["inputs"].shape == (256, 20, 2) and batch["inputs"].dtype == np.float32
    assert (markers[:, :10].sum(1) == 1).all() and (markers[:, 10:].sum(1) == 1).all()
    np.testing.assert_allclose(batch["targets"], (values * markers).sum(1), rtol=1e-6)
    # Answering 1 always: E[(a + b - 1)^2] = Var(a + b) = 1/6.
    big = synthetic.adding_batch(np.random.default_rng(1), 200_000, 4)
    assert np.mean(np.square(big["targets"] - 1.0)) == pytest.approx(1 / 6, abs=2e-3)


def test_copy_batch_layout_and_memoryless_baseline():
    batch = synthetic.copy_batch(np.random.default_rng(0), 4, seq_len=6, copy_length=3)
    inputs, targets = batch["inputs"], batch["targets"]
    assert inputs.shape == targets.shape == (4, 12)
    assert ((inputs[:, :3] >= 1) & (inputs[:, :3] <= 8)).all()
    assert (inputs[:, 3:8] == 0).all() and (inputs[:, 8] == synthetic.COPY_DELIMITER).all()
    assert (inputs[:, 9:] == 0).all()
    assert (targets[:, :9] == 0).all() and (targets[:, 9:] == inputs[:, :3]).all()
    assert synthetic.copy_baseline(100, 10) == pytest.approx(10 * math.log(8) / 120)


@pytest.mark.parametrize(
    "module,key,value,message",
    [
        (synthetic_adding, "seq_len", 0, r"task\.seq_len=0 must be an integer >= 2 \(task\.name='adding'\)$"),
        (synthetic_adding, "seq_len", 1, r"task\.seq_len=1 must be an integer >= 2"),
        (synthetic_copy, "copy_length", 0, r"task\.copy_length=0 must be an integer >= 1 \(task\.name='copy'\)$"),
        (synthetic_copy, "eval_size", -4, r"task\.eval_size=-4 must be an integer >= 1"),
    ],
)
def test_sizes_the_generators_cannot_use_are_one_line(module, key, value, message):
    config = module.get_config("smoke")
    config.task[key] = value
    with pytest.raises(ValueError, match=message) as info:
        synthetic.make_data(config)
    assert "\n" not in str(info.value)


def test_batches_depend_only_on_seed_and_step():
    config = synthetic_adding.get_config("smoke")
    data = synthetic.make_data(config)
    train_batches, eval_sets, _ = data
    first = [next(train_batches(s))["targets"] for s in (0, 5)]
    stream = train_batches(0)
    sequential = [next(stream)["targets"] for _ in range(6)]
    np.testing.assert_array_equal(first[0], sequential[0])
    np.testing.assert_array_equal(first[1], sequential[5])
    assert list(eval_sets) == ["valid", "test"]  # the first chooses the best checkpoint
    valid, test = (np.concatenate([b["targets"] for b in eval_sets[n]()]) for n in ("valid", "test"))
    assert not np.array_equal(valid, test)


@pytest.mark.parametrize("module", [synthetic_adding, synthetic_copy])
def test_presets_build_every_variant(module):
    for variant in (*module.CELLS, "smoke"):
        config = module.get_config(variant)
        assert config.experiment == "synthetic"
        if variant != "smoke":
            assert config.model.cell == variant and cells.make(variant, 4)
    with pytest.raises(ValueError, match="unknown variant"):
        module.get_config("transformer")


def test_eval_mode_reproduces_the_best_checkpoint(tmp_path):
    config = synthetic_adding.get_config("smoke")
    config.train.update(num_steps=10, eval_every=5, checkpoint_every=5, diagnostics_every=0, plots=False)
    final = train.train_and_evaluate(config, tmp_path, synthetic)
    again = train.evaluate_checkpoint(config, tmp_path, synthetic)
    assert set(again) == {"valid", "test"}
    assert again["test"]["mse"] == pytest.approx(final["test"]["mse"], rel=1e-6)


@pytest.mark.parametrize("cell", ["mingru"])
def test_new_cells_train_through_the_config_and_stop_when_solved(tmp_path, cell):
    """``--config.model.cell=<new cell>`` with every new model option; ``train.stop_when`` ends
    the run at the first evaluation that meets it."""
    config = synthetic_copy.get_config("smoke")
    config.model.update(cell=cell, learn_initial_state=True, truncate_every=4)
    config.train.update(num_steps=30, eval_every=5, checkpoint_every=5, diagnostics_every=5, plots=False)
    config.train.stop_when = "xent<100"  # met at the first evaluation
    final = train.train_and_evaluate(config, tmp_path, synthetic)
    steps = [r["step"] for r in metrics.read_jsonl(tmp_path / "metrics.jsonl") if r["split"] == "valid"]
    assert steps == [5] and np.isfinite(final["test"]["xent"])
    diagnostics = [json.loads(line) for line in (tmp_path / "diagnostics.jsonl").read_text().splitlines()]
    assert len(diagnostics[-1]["rnn/layer_0"]) == config.task.seq_len + 2 * config.task.copy_length


def test_eval_mode_without_checkpoints_names_the_workdir(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        train.evaluate_checkpoint(synthetic_adding.get_config("smoke"), tmp_path, synthetic)
