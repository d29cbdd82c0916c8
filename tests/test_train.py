"""The harness: the experiment contract, resume, device counts, the non-finite guard, diagnostics."""

from __future__ import annotations

import json
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from rnn_research import checkpoint, diagnostics, metrics, sharding, tensorboard, train
from tests import toy_experiment as toy


def records(workdir, split=None):
    out = metrics.read_jsonl(workdir / "metrics.jsonl")
    return [{k: v for k, v in r.items() if k != "time"} for r in out if split is None or r["split"] == split]


def final_params(config, workdir):
    ckpt = checkpoint.Checkpointer(workdir / "checkpoints", keep=2, best_metric="mse", best_mode="min")
    template = train.Harness(config, workdir, toy)
    state = template.init_state(template.shard(next(iter(template.train_batches(0)))))
    restored = ckpt.restore_latest(state).state
    ckpt.close()
    return jax.device_get(restored.params)


def test_contract_end_to_end_with_a_toy_experiment(tmp_path):
    config = toy.get_config()
    final = train.train_and_evaluate(config, tmp_path, toy)
    assert set(final) == {"test"} and set(final["test"]) >= {"mse", "abs_err", "loss"}
    train_records = records(tmp_path, "train")
    assert [r["step"] for r in train_records] == [2, 4, 6, 8, 10, 12]
    assert {"loss", "mse", "grad_norm", "learning_rate", "nonfinite_steps"} <= set(train_records[0])
    test_records = records(tmp_path, "test")
    assert [r["step"] for r in test_records] == [4, 8, 12]
    best = records(tmp_path, "best_test")
    assert len(best) == 1 and best[0]["mse"] == pytest.approx(min(r["mse"] for r in test_records), rel=1e-5)
    assert train_records[-1]["loss"] < train_records[0]["loss"], "training must reduce the loss"
    assert json.loads((tmp_path / "config.json").read_text())["train"]["num_steps"] == 12
    diag = diagnostics.DiagnosticsLog(tmp_path).read()
    assert [r["step"] for r in diag] == [0, 4, 8, 12]
    assert [k for k in diag[0] if k != "step"] == ["RNN_0/layer_0"]
    norms = np.array([r["RNN_0/layer_0"] for r in diag])
    assert norms.shape == (4, toy.T) and (norms > 0).all()


def test_same_seed_same_metrics(tmp_path):
    config = toy.get_config(num_steps=6)
    train.train_and_evaluate(config, tmp_path / "a", toy)
    train.train_and_evaluate(config, tmp_path / "b", toy)
    assert records(tmp_path / "a") == records(tmp_path / "b")


def test_resume_in_process_equals_uninterrupted(tmp_path):
    full = toy.get_config()
    train.train_and_evaluate(full, tmp_path / "full", toy)
    first_half = toy.get_config(num_steps=12)
    first_half.train.num_steps = 8  # stop at a checkpoint, as a killed run that gets restarted
    train.train_and_evaluate(first_half, tmp_path / "resumed", toy)
    # Records written past the checkpoint (here: the final best-eval of the short run) are dropped.
    train.train_and_evaluate(full, tmp_path / "resumed", toy)
    assert records(tmp_path / "resumed") == records(tmp_path / "full")
    a, b = final_params(full, tmp_path / "full"), final_params(full, tmp_path / "resumed")
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def test_one_and_eight_devices_agree(tmp_path, monkeypatch):
    assert len(jax.devices()) == 8
    config = toy.get_config(num_steps=6)
    train.train_and_evaluate(config, tmp_path / "eight", toy)
    monkeypatch.setattr(sharding, "data_mesh", lambda devices=None: sharding_one_device())
    train.train_and_evaluate(config, tmp_path / "one", toy)
    eight, one = records(tmp_path / "eight"), records(tmp_path / "one")
    assert [r["step"] for r in eight] == [r["step"] for r in one]
    for r8, r1 in zip(eight, one):
        for key in ("loss", "mse"):
            if key in r8:
                assert r8[key] == pytest.approx(r1[key], abs=1e-5), (r8, r1)


def sharding_one_device():
    return jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))


def test_nonfinite_skip_leaves_the_update_out_and_counts_it(tmp_path):
    config = toy.get_config(num_steps=4, nonfinite="skip", log_every=1, eval_every=4, checkpoint_every=2)
    config.task.poison_step = 2  # the third batch (steps count from 0)
    train.train_and_evaluate(config, tmp_path, toy)
    rows = records(tmp_path, "train")
    assert [r["nonfinite_steps"] for r in rows] == [0, 0, 1, 1]
    assert not np.isfinite(rows[2]["loss"]) and np.isfinite(rows[3]["loss"])
    params = final_params(config, tmp_path)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(params))


def test_nonfinite_halt_names_the_step_and_keeps_the_last_checkpoint(tmp_path):
    config = toy.get_config(num_steps=8, nonfinite="halt", checkpoint_every=2, eval_every=2)
    config.task.poison_step = 4
    with pytest.raises(train.NonFiniteError, match=r"non-finite loss, gradient or update at step 5 .*step 4\)"):
        train.train_and_evaluate(config, tmp_path, toy)
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints", keep=2, best_metric="mse", best_mode="min")
    assert ckpt.latest_step() == 4
    ckpt.close()
    params = final_params(config, tmp_path)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(params))


def test_resume_under_an_incompatible_config_is_refused(tmp_path):
    train.train_and_evaluate(toy.get_config(num_steps=4), tmp_path, toy)
    changed = toy.get_config(num_steps=4)
    changed.optim.learning_rate = 0.5
    with pytest.raises(ValueError, match=r"different config \(optim.learning_rate: 0.01 -> 0.5\); use a new --workdir"):
        train.train_and_evaluate(changed, tmp_path, toy)
    longer = toy.get_config(num_steps=6)  # more steps is a compatible change
    train.train_and_evaluate(longer, tmp_path, toy)
    assert records(tmp_path, "train")[-1]["step"] == 6


def test_early_stopping(tmp_path):
    config = toy.get_config(num_steps=40, eval_every=2, checkpoint_every=2, early_stopping_evals=1)
    config.optim.learning_rate = 5.0  # diverges: evals stop improving quickly
    config.optim.name = "sgd"
    config.train.nonfinite = "skip"
    train.train_and_evaluate(config, tmp_path, toy)
    last = records(tmp_path, "train")[-1]["step"]
    assert last < 40


def test_partial_checkpoint_is_ignored_on_resume(tmp_path):
    config = toy.get_config(num_steps=8)
    short = toy.get_config(num_steps=8)
    short.train.num_steps = 4
    train.train_and_evaluate(short, tmp_path, toy)
    latest = tmp_path / "checkpoints" / "latest"
    # What a SIGKILL during a save leaves: orbax's unfinished temporary directory.
    shutil.copytree(latest / "4", latest / "8.orbax-checkpoint-tmp-1234")
    train.train_and_evaluate(config, tmp_path, toy)
    reference = tmp_path.parent / (tmp_path.name + "_ref")
    train.train_and_evaluate(config, reference, toy)
    assert records(tmp_path) == records(reference)


def test_resume_accepts_a_config_written_before_model_backward_existed(tmp_path):
    """A workdir from before ``model.backward`` (or with another unroll/remat) still resumes;
    a change of the function itself is still refused."""
    from configs.synthetic import adding as synthetic_adding

    config = synthetic_adding.get_config("smoke")
    old = json.loads(config.to_json_best_effort())
    del old["model"]["backward"]
    old["model"].update(unroll=4, remat=-1)
    (tmp_path / "config.json").write_text(json.dumps(old))
    train.check_config_for_resume(config, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model"]["backward"] == "custom"
    config.model.hidden_size += 1
    with pytest.raises(ValueError, match=r"model.hidden_size: 16 -> 17"):
        train.check_config_for_resume(config, tmp_path)


def test_stop_when_ends_the_run_once_the_first_eval_set_meets_it(tmp_path):
    config = toy.get_config(num_steps=40, eval_every=4, checkpoint_every=4, stop_when="mse < 1e9")
    train.train_and_evaluate(config, tmp_path, toy)
    assert records(tmp_path, "train")[-1]["step"] == 4 and records(tmp_path, "test")[-1]["step"] == 4
    assert train.parse_stop_when("") is None
    assert train.parse_stop_when("acc>=0.5")({"acc": 0.5}) and not train.parse_stop_when("acc>0.5")({"acc": 0.5})
    for bad, match in [("mse", "must read '<metric><op><number>'"), ("mse<x", "must read"), ("mse=1", "must read"),
                       ("mse<1.2.3", "'1.2.3' is not a number")]:  # fmt: skip
        with pytest.raises(ValueError, match=f"train.stop_when={bad!r}:? {match}"):
            train.parse_stop_when(bad)
    with pytest.raises(ValueError, match="train.stop_when names 'accuracy', which is not an eval metric"):
        train.parse_stop_when("accuracy>0.9")({"mse": 1.0})


def test_resume_accepts_a_config_written_before_the_cell_options_existed(tmp_path):
    from configs.synthetic import adding as synthetic_adding

    config = synthetic_adding.get_config("smoke")
    old = json.loads(config.to_json_best_effort())
    for key in ("learn_initial_state", "truncate_every", "scan_mode"):
        del old["model"][key]
    (tmp_path / "config.json").write_text(json.dumps(old))
    train.check_config_for_resume(config, tmp_path)
    config.model.learn_initial_state = True
    with pytest.raises(ValueError, match=r"model.learn_initial_state: False -> True"):
        train.check_config_for_resume(config, tmp_path)


def test_stop_when_without_an_eval_set_is_refused_in_one_line(tmp_path):
    class NoEvalSets:  # the toy experiment with its eval sets removed
        def __getattr__(self, name):
            return getattr(toy, name)

        @staticmethod
        def make_data(config):
            data = toy.make_data(config)
            return type(data)(data[0], {}, data[2])

    config = toy.get_config(num_steps=4, stop_when="mse<0.1")
    with pytest.raises(ValueError, match=r"train.stop_when='mse<0.1' needs an eval set, and this experiment has none"):
        train.train_and_evaluate(config, tmp_path, NoEvalSets())


def test_weight_average_is_what_is_evaluated_and_kept(tmp_path):
    """``optim.ema_decay``: training is unchanged; every evaluation, the best checkpoint's final
    evaluation, ``evaluate_checkpoint`` and ``restore_params`` use the average of the weights
    visited, computed here independently from the plain run's per-step checkpoints; a resumed
    run continues the average exactly."""
    decay = 0.7
    plain = toy.get_config(num_steps=12, checkpoint_every=1, keep_checkpoints=20, diagnostics_every=0)
    plain.train.num_steps = 8
    train.train_and_evaluate(plain, tmp_path / "plain", toy)
    averaged = toy.get_config(diagnostics_every=0)
    averaged.optim.ema_decay = decay
    train.train_and_evaluate(averaged, tmp_path / "ema", toy)
    assert records(tmp_path / "ema", "train")[:4] == records(tmp_path / "plain", "train")

    # The average after step 8, from the plain run's parameters after steps 1..8.
    manager = ocp.CheckpointManager((tmp_path / "plain" / "checkpoints" / "latest").absolute())
    restore = ocp.args.Composite(state=ocp.args.StandardRestore())
    visited = [manager.restore(step, args=restore).state["params"] for step in range(1, 9)]
    manager.close()
    weights = [decay ** (8 - k) for k in range(1, 9)]
    mean = jax.tree_util.tree_map(lambda *ps: sum(w * p for w, p in zip(weights, ps)) / sum(weights), *visited)
    h = train.Harness(plain, tmp_path / "plain", toy)
    expected = h.evaluate(h.make_eval_step(), mean)["test"]["mse"]
    at_8 = next(r for r in records(tmp_path / "ema", "test") if r["step"] == 8)
    assert at_8["mse"] == pytest.approx(expected, rel=1e-4)
    assert at_8["mse"] != pytest.approx(next(r for r in records(tmp_path / "plain", "test") if r["step"] == 8)["mse"])

    best = records(tmp_path / "ema", "best_test")[0]
    assert train.evaluate_checkpoint(averaged, tmp_path / "ema", toy)["test"]["mse"] == pytest.approx(best["mse"])
    params, step = checkpoint.restore_params(tmp_path / "ema" / "checkpoints")
    assert step == best["step"]
    assert h.evaluate(h.make_eval_step(), params)["test"]["mse"] == pytest.approx(best["mse"], rel=1e-5)
    with pytest.raises(ValueError, match=r"was trained with optim.ema_decay=0.7, not 0.0; use that run's --config"):
        train.evaluate_checkpoint(plain, tmp_path / "ema", toy)  # its state holds an average: one line

    # Resumed from step 8, the average (in the optimizer state) carries on exactly.
    first_part = toy.get_config(diagnostics_every=0)
    first_part.optim.ema_decay = decay
    first_part.train.num_steps = 8
    train.train_and_evaluate(first_part, tmp_path / "resumed", toy)
    train.train_and_evaluate(averaged, tmp_path / "resumed", toy)
    assert records(tmp_path / "resumed") == records(tmp_path / "ema")


def test_the_steps_per_second_clock_starts_after_each_processs_first_step(tmp_path, monkeypatch, capsys):
    """The first step (which compiles) is left out of steps/s and the ETA, on a resume too; an
    experiment's ``CONSOLE_METRICS`` choose what the console shows, metrics.jsonl keeps everything."""
    calls = []
    start_clock = metrics.MetricWriter.start_clock

    def spy(writer, step):
        calls.append((step, len(records(tmp_path, "train"))))
        start_clock(writer, step)

    monkeypatch.setattr(metrics.MetricWriter, "start_clock", spy)
    monkeypatch.setattr(toy, "CONSOLE_METRICS", ("mse", "grad_norm"), raising=False)
    train.train_and_evaluate(toy.get_config(num_steps=8), tmp_path, toy)
    train.train_and_evaluate(toy.get_config(), tmp_path, toy)  # resumed at step 8
    assert calls == [(1, 0), (9, 4)]  # after the step, before that step's record
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[train]")]
    assert len(lines) == 6 and all(" | mse=" in line and "loss=" not in line for line in lines)
    assert all(line.endswith("(+4 in metrics.jsonl)") for line in lines), lines[0]
    assert set(records(tmp_path, "train")[0]) == {
        "step",
        "split",
        "mse",
        "grad_norm",
        "loss",
        "abs_err",
        "learning_rate",
        "nonfinite_steps",
    }


def test_tensorboard_gets_the_config_and_the_gradient_flow_heatmaps(tmp_path):
    train.train_and_evaluate(toy.get_config(num_steps=8, plots=True), tmp_path, toy)
    train.train_and_evaluate(toy.get_config(plots=True), tmp_path, toy)  # resumed at step 8
    found = [(e.step, v) for e in tensorboard.read_events(tmp_path / "tensorboard" / "train") for v in e.summary.value]
    texts = [(step, v) for step, v in found if v.tag == "config"]
    assert [step for step, _ in texts] == [0, 9]  # each process's first step
    for (_, value), num_steps in zip(texts, (8, 12)):
        assert value.metadata.plugin_data.plugin_name == "text"
        text = value.tensor.string_val[0].decode()
        assert text.startswith("```json\n") and text.endswith("\n```")
        assert json.loads(text[len("```json\n") : -len("\n```")])["train"]["num_steps"] == num_steps
    assert json.loads(text[len("```json\n") : -len("\n```")]) == json.loads((tmp_path / "config.json").read_text())
    images = [(step, v.tag, v.image) for step, v in found if v.HasField("image")]
    assert [(step, tag) for step, tag, _ in images] == [(8, "grad_flow/RNN_0_layer_0"), (12, "grad_flow/RNN_0_layer_0")]
    png = (tmp_path / "plots" / "grad_flow_RNN_0_layer_0.png").read_bytes()
    assert images[-1][2].encoded_image_string == png and images[-1][2].colorspace == 4
