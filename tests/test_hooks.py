"""The experiment hooks: a misspelt one is refused in one line at start-up (harness and launcher);
an experiment's ``ADDED_FIELDS`` and ``FORMER_NAMES`` decide resume compatibility, not the harness."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import types

import pytest

import experiments
from configs.classification import synthetic as classification_synthetic
from experiments.classification import task as classification
from experiments.forecasting import model as forecasting_model
from rnn_research import configured, metrics, train
from rnn_research.experiment import HOOKS, REQUIRED_HOOKS, check_hooks, misspelt_hooks
from tests import toy_experiment as toy
from tests import xla

ROOT = pathlib.Path(__file__).resolve().parents[1]


def toy_with(name: str, **extra) -> types.ModuleType:
    """The toy experiment as a module called ``name``, with ``extra`` attributes."""
    module = types.ModuleType(name)
    module.__dict__.update({k: v for k, v in vars(toy).items() if not k.startswith("__")}, **extra)
    return module


@pytest.mark.parametrize(
    ("misspelt", "hook"),
    [("finalise_metrics", "finalize_metrics"), ("init_cary", "init_carry"), ("evaluater", "evaluators"),
     ("modes", "MODES"), ("ADDED_FIELD", "ADDED_FIELDS"), ("FORMER_NAME", "FORMER_NAMES")],
)  # fmt: skip
def test_a_misspelt_hook_is_one_line_before_anything_runs(tmp_path, misspelt, hook):
    value = {"modes": {}, "ADDED_FIELD": {}, "FORMER_NAME": ()}.get(misspelt, lambda *args: None)
    experiment = toy_with("misspelt_task", **{misspelt: value})
    message = rf"^experiment misspelt_task has a name .*: '{misspelt}' \(did you mean '{hook}'\?\)$"
    with pytest.raises(ValueError, match=message):
        train.train_and_evaluate(toy.get_config(), tmp_path / "run", experiment)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match=message):
        train.evaluate_checkpoint(toy.get_config(), tmp_path, experiment)


def test_the_real_experiments_and_the_toys_pass_the_hook_check():
    for name in experiments.names():
        check_hooks(experiments.get(name))
    check_hooks(toy)
    helpers = toy_with("helpers", make_cell=print, prepared_data=print, evaluate_all=print, Evaluator=dict)
    assert misspelt_hooks(helpers) == {}
    with pytest.raises(ValueError, match=r"^experiment no_loss lacks the required hook\(s\) loss_and_metrics$"):
        check_hooks(toy_with("no_loss", loss_and_metrics=None))
    assert set(REQUIRED_HOOKS) < set(HOOKS)


def test_the_launcher_refuses_a_misspelt_hook_in_one_line(tmp_path):
    code = (
        "import experiments, sys; from tests import test_hooks; "
        "experiments.get = lambda name: test_hooks.toy_with('misspelt_task', init_cary=print); "
        "from absl import app; from experiments import main; app.run(main.main, flags_parser=main.parse_flags)"
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=xla.flags(1))
    args = ["--config=configs/synthetic/adding.py:smoke", f"--workdir={tmp_path / 'run'}"]
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == (
        "error: experiment misspelt_task has a name that is not a hook but is spelt like one: "
        "'init_cary' (did you mean 'init_carry'?)"
    )
    assert not (tmp_path / "run").exists()


def test_experiment_fields_live_in_the_experiment_and_extend_the_generic_lists():
    assert not any("subword" in k or "adversarial" in k for k in train.ADDED_FIELDS)
    assert {"model.subword_buckets", "model.adversarial_eps"} <= set(classification.ADDED_FIELDS)
    for specific in (classification.TRAINING_ONLY, forecasting_model.TRAINING_ONLY):
        assert set(configured.TRAINING_ONLY) < set(specific)
    assert {f"model.{k}" for k in train.COMPUTATION_ONLY} <= set(train.RESUMABLE_CHANGES)
    assert set(train.COMPUTATION_ONLY) <= set(configured.TRAINING_ONLY)


def test_resume_fills_in_the_experiments_added_fields(tmp_path):
    experiment = toy_with("toy_v2", ADDED_FIELDS={"model.gate": False})
    config = toy.get_config()
    config.model.gate = False
    old = json.loads(config.to_json_best_effort())
    del old["model"]["gate"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match=r"\(model.gate: None -> False\); use a new --workdir"):
        train.check_config_for_resume(config, tmp_path)  # the harness alone does not know the field
    train.check_config_for_resume(config, tmp_path, experiment)
    config.model.gate = True
    with pytest.raises(ValueError, match=r"model.gate: False -> True"):
        train.check_config_for_resume(config, tmp_path, experiment)


def old_classification_workdir(tmp_path: pathlib.Path) -> tuple[pathlib.Path, object]:
    """A workdir whose config.json predates the rename to "classification" and the subword and
    adversarial fields; and today's config of the same run."""
    config = classification_synthetic.get_config("smoke")
    saved = json.loads(config.to_json_best_effort())
    saved["experiment"] = "sentiment"
    for key in classification.ADDED_FIELDS:
        del saved["model"][key.removeprefix("model.")]
    (tmp_path / "config.json").write_text(json.dumps(saved, indent=2))
    return tmp_path, config


def test_a_workdir_saved_as_sentiment_resumes_and_loads_as_classification(tmp_path):
    workdir, config = old_classification_workdir(tmp_path)
    assert experiments.canonical("sentiment") == "classification"
    assert experiments.former_names() == {"sentiment": "classification"}
    assert experiments.get("sentiment") is classification
    with pytest.raises(ValueError, match=r"holds a run of experiment 'sentiment', not 'classification'"):
        train.check_config_for_resume(config, workdir)  # without the experiment's FORMER_NAMES
    train.check_optimizer_for_restore(config, workdir, classification)
    configured.check_model_config(config, workdir, classification.TRAINING_ONLY, classification.ADDED_FIELDS)
    with pytest.raises(ValueError, match=r"model.subword_buckets: None -> 0"):
        configured.check_model_config(config, workdir, classification.TRAINING_ONLY)
    train.check_config_for_resume(config, workdir, classification)
    assert json.loads((workdir / "config.json").read_text())["experiment"] == "classification"


def test_training_resumes_across_a_rename(tmp_path, capsys):
    renamed = toy_with("toy_renamed", FORMER_NAMES=("toy_v0",))
    old = toy.get_config(num_steps=4, diagnostics_every=0)
    old.experiment = "toy_v0"
    train.train_and_evaluate(old, tmp_path, renamed)
    new = toy.get_config(num_steps=8, diagnostics_every=0)
    new.experiment = "toy_renamed"
    train.train_and_evaluate(new, tmp_path, renamed)
    assert "resumed from step 4" in capsys.readouterr().out
    steps = [r["step"] for r in metrics.read_jsonl(tmp_path / "metrics.jsonl") if r["split"] == "test"]
    assert steps == [4, 8]
    assert "test" in train.evaluate_checkpoint(new, tmp_path, renamed)
