"""Class 1 of issue 27: damaged checkpoints. Each kind of damage (a step whose files are missing,
emptied, truncated, have bytes flipped or garbage metadata, or that holds another model's tree) is
detected, named in one warning line and skipped; resuming moves it aside, evaluation and inference
fall back to the next step and rename nothing; all steps damaged is one line and nothing is moved."""

from __future__ import annotations

import shutil

import jax
import numpy as np
import pytest

from rnn_research import checkpoint, train
from tests import toy_experiment as toy
from tests.errors import one_line_error
from tests.test_train import final_params, records


def _break(step_dir):
    """What a save killed midway left on some orbax versions: the step directory under its final
    name, its array files empty and the tree metadata missing."""
    for f in step_dir.rglob("*"):
        if f.is_file() and f.parent.name == "d":
            f.write_bytes(b"")
    (step_dir / "state" / "_METADATA").unlink()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's abandoned reads
def test_unreadable_newest_checkpoint_is_skipped_with_a_warning(tmp_path, capsys):
    full = toy.get_config()
    train.train_and_evaluate(full, tmp_path / "full", toy)
    first_half = toy.get_config(num_steps=12)
    first_half.train.num_steps = 8
    workdir = tmp_path / "resumed"
    train.train_and_evaluate(first_half, workdir, toy)
    latest = workdir / "checkpoints" / "latest"
    _break(latest / "8")
    capsys.readouterr()
    train.train_and_evaluate(full, workdir, toy)  # resumes from step 4, redoes 5..12
    err = capsys.readouterr().err
    assert f"skipping unreadable checkpoint {latest / '8'}" in err and err.count("\n") == 1, err
    assert records(workdir) == records(tmp_path / "full")
    assert [p.name.split("-")[:2] for p in latest.iterdir() if not p.name.isdigit()] == [["unreadable", "8"]]

    # Evaluation and inference fall back from a damaged best checkpoint to the latest, and say so.
    (best_dir,) = (workdir / "checkpoints" / "best").iterdir()
    _break(best_dir)
    evaluated = train.evaluate_checkpoint(full, workdir, toy)
    assert "evaluating the latest checkpoint instead" in capsys.readouterr().err
    params, step = checkpoint.restore_params(workdir / "checkpoints")
    err = capsys.readouterr().err
    assert step == 12 and "using the latest checkpoint instead of the best" in err and err.count("\n") == 1
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, final_params(full, tmp_path / "full"))
    assert evaluated["test"]["mse"] == pytest.approx(records(tmp_path / "full", "test")[-1]["mse"], rel=1e-5)
    assert best_dir.is_dir()  # evaluation and inference rename nothing


def _flip(step_dir):
    """Flips 16 bytes in the middle of the largest array file: orbax would read it without complaint."""
    biggest = max((f for f in (step_dir / "state").rglob("*") if f.is_file()), key=lambda f: f.stat().st_size)
    data = bytearray(biggest.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    biggest.write_bytes(bytes(data))
    return biggest.relative_to(step_dir)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's abandoned reads
def test_flipped_bytes_and_garbage_metadata_fail_the_checksums_and_are_skipped(tmp_path, capsys):
    config = toy.get_config(num_steps=8)
    train.train_and_evaluate(config, tmp_path, toy)
    latest, best = tmp_path / "checkpoints" / "latest", tmp_path / "checkpoints" / "best"
    (best_dir,) = best.iterdir()
    for step_dir in (latest / "4", latest / "8", best_dir):
        assert (step_dir / checkpoint.CHECKSUMS).is_file() and checkpoint.checksum_problem(step_dir) is None

    flipped = _flip(best_dir)  # evaluation and inference fall back to the latest, and say which file
    capsys.readouterr()
    train.evaluate_checkpoint(config, tmp_path, toy)
    err = capsys.readouterr().err
    assert f"({flipped} does not match its checksum)" in err and "evaluating the latest checkpoint instead" in err
    _, step = checkpoint.restore_params(tmp_path / "checkpoints")
    assert step == 8 and "using the latest checkpoint instead of the best" in capsys.readouterr().err
    assert best_dir.is_dir()  # evaluation and inference rename nothing

    (latest / "8" / "meta" / "metadata").write_text("garbage")  # resuming moves it aside, from step 4
    capsys.readouterr()
    train.train_and_evaluate(toy.get_config(num_steps=12), tmp_path, toy)
    captured = capsys.readouterr()
    assert "resumed from step 4" in captured.out
    (line,) = [x for x in captured.err.splitlines() if "skipping unreadable checkpoint" in x]
    assert f"{latest / '8'} (meta/metadata does not match its checksum); moved to unreadable-8-" in line


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's abandoned reads
def test_only_damage_is_skipped_and_all_damaged_is_refused(tmp_path):
    config = toy.get_config(num_steps=8)
    train.train_and_evaluate(config, tmp_path, toy)
    latest = tmp_path / "checkpoints" / "latest"
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints", keep=2, best_metric="mse", best_mode="min")
    h = train.Harness(config, tmp_path, toy)
    state = h.init_state(h.shard(next(iter(h.train_batches(0)))))
    wrong = state.replace(params=jax.tree_util.tree_map(lambda x: np.zeros((*x.shape, 2), x.dtype), state.params))
    with one_line_error(
        checkpoint.DamagedCheckpointsError, r"steps \[8, 4\] fail their checks \(it holds another model"
    ):
        ckpt.restore_latest(wrong, move_aside=True)  # every step fails: nothing is moved
    assert sorted(p.name for p in latest.iterdir()) == ["4", "8"]
    ckpt.close()

    for step in ("4", "8"):
        _break(latest / step)
    before = records(tmp_path)
    with pytest.raises(checkpoint.DamagedCheckpointsError, match=r"steps \[8, 4\] fail their checks") as err:
        train.train_and_evaluate(toy.get_config(num_steps=12), tmp_path, toy)  # never restarts from scratch
    assert "\n" not in str(err.value) and "move them away to start afresh" in str(err.value)
    assert sorted(p.name for p in latest.iterdir()) == ["4", "8"] and records(tmp_path) == before


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A toy run of 8 steps: latest checkpoints 4 and 8, one best, each with its checksums."""
    workdir = tmp_path_factory.mktemp("trained")
    train.train_and_evaluate(toy.get_config(num_steps=8), workdir, toy)
    return workdir


DAMAGE = {
    "missing": (lambda f: f.unlink(), "is missing"),
    "emptied": (lambda f: f.write_bytes(b""), "does not match its checksum"),
    "truncated": (lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]), "does not match its checksum"),
    "garbage": (lambda f: f.write_bytes(b"{not json"), "does not match its checksum"),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_each_kind_of_damage_to_any_file_fails_the_checksums(trained, tmp_path, kind):
    step_dir = tmp_path / "8"
    shutil.copytree(trained / "checkpoints" / "latest" / "8", step_dir)
    files = sorted(p for p in step_dir.rglob("*") if p.is_file() and p.name != checkpoint.CHECKSUMS)
    damage, reason = DAMAGE[kind]
    for file in (files[0], files[len(files) // 2], files[-1]):  # metadata and array files alike
        original = file.read_bytes()
        damage(file)
        assert checkpoint.checksum_problem(step_dir) == f"{file.relative_to(step_dir)} {reason}"
        file.write_bytes(original)
        assert checkpoint.checksum_problem(step_dir) is None
    (step_dir / checkpoint.CHECKSUMS).write_text("[]")
    assert checkpoint.checksum_problem(step_dir) == f"{checkpoint.CHECKSUMS} is unreadable"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax's abandoned reads
def test_another_models_step_is_skipped_and_moved_aside_on_resume(trained, tmp_path, capsys, monkeypatch):
    workdir = tmp_path / "run"
    shutil.copytree(trained, workdir)
    other = tmp_path / "other"
    with monkeypatch.context() as patch:
        patch.setattr(toy, "H", 4)  # the toy's hidden size: another model, the same config
        train.train_and_evaluate(toy.get_config(num_steps=8), other, toy)
    latest = workdir / "checkpoints" / "latest"
    shutil.rmtree(latest / "8")
    shutil.copytree(other / "checkpoints" / "latest" / "8", latest / "8")  # its checksums pass
    capsys.readouterr()
    train.train_and_evaluate(toy.get_config(num_steps=12), workdir, toy)
    captured = capsys.readouterr()
    assert "resumed from step 4" in captured.out
    (line,) = [x for x in captured.err.splitlines() if "skipping unreadable checkpoint" in x]
    assert "(it holds another model: params/" in line and "in this config's model); moved to unreadable-8-" in line
    assert sorted(p.name.split("-")[0] for p in latest.iterdir()) == ["12", "8", "unreadable"]


def test_a_template_of_the_same_tree_passes_and_differences_are_named(trained):
    config = toy.get_config(num_steps=8)
    h = train.Harness(config, trained, toy)
    state = h.init_state(h.shard(next(iter(h.train_batches(0)))))
    step_dir = trained / "checkpoints" / "latest" / "8"
    assert checkpoint.tree_problem(step_dir, state) is None
    params = dict(state.params)
    name = sorted(params)[0]
    fewer = state.replace(params={k: v for k, v in params.items() if k != name})
    problem = checkpoint.tree_problem(step_dir, fewer)
    assert problem.startswith(f"it holds another model: it has params/{name}/"), problem
    assert problem.endswith(", which this config's model lacks"), problem
    wide = state.replace(params=jax.tree_util.tree_map(lambda x: np.zeros((*x.shape, 2), x.dtype), params))
    assert checkpoint.tree_problem(step_dir, wide).startswith("it holds another model: params/")


def test_saved_any_counts_steps_and_steps_moved_aside_not_temporary_ones(tmp_path):
    root = tmp_path / "checkpoints"
    assert not checkpoint.saved_any(root)
    (root / "latest" / "8.orbax-checkpoint-tmp-1").mkdir(parents=True)
    assert not checkpoint.saved_any(root)
    (root / "latest" / "unreadable-8-1700000000").mkdir()
    assert checkpoint.saved_any(root)
    (root / "latest" / "unreadable-8-1700000000").rmdir()
    (root / "best" / "4").mkdir(parents=True)
    assert checkpoint.saved_any(root)


def test_inference_names_the_first_difference_from_the_configs_model():
    expected = {"embedding": jax.ShapeDtypeStruct((94, 32), np.float32), "rnn": {"kernel": np.zeros((32, 128))}}
    found = {"embedding": np.zeros((94, 24), np.float32), "rnn": {"kernel": np.zeros((32, 128))}}
    with one_line_error(
        ValueError,
        r"checkpoint step 40 in DIR does not fit this config: it holds another model: params/embedding is "
        r"float32\[94, 24\] there, float32\[94, 32\] in this config's model; use that run's --config$",
    ):
        checkpoint.check_params(found, expected, 40, "DIR")
    checkpoint.check_params({**found, "embedding": np.zeros((94, 32), np.float32)}, expected, 40, "DIR")
    assert checkpoint.params_problem({"rnn": found["rnn"]}, expected) == "it holds another model: embedding is missing"
