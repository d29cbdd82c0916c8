"""Class 3 of issue 27: the whole config is checked before a run writes anything (the generic
fields, each experiment's ``CONFIG_RULES``, the metric names ``best_metric`` and ``stop_when``
use), and a run that failed before its first checkpoint does not block the corrected command."""

import importlib

import pytest

import experiments
from configs.synthetic import adding as synthetic_adding
from experiments.synthetic import task as synthetic
from rnn_research import checkpoint, metrics, train
from rnn_research.train import resume
from tests import toy_evaluator_experiment as toy_evaluator
from tests import toy_experiment as toy
from tests.errors import one_line_error

PRESETS = [
    (path, variant)
    for name in experiments.names()
    for path in experiments.presets(name)
    for variant in experiments.variants(path) or [None]
]


@pytest.mark.parametrize("path,variant", PRESETS, ids=lambda x: str(x))
def test_every_preset_variant_passes(path, variant):
    preset = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    config = preset.get_config(variant) if variant else preset.get_config()
    train.check_config(config, experiments.get(config.experiment))


BAD = {
    "train.checkpoint_every": (-3, r"train\.checkpoint_every=-3 must be an integer >= 0 \(0: once per epoch\)$"),
    "train.log_every": (0, r"train\.log_every=0 must be an integer >= 1$"),
    "train.num_steps": (-5, r"train\.num_steps=-5 must be an integer >= 1 \(or set train\.num_epochs > 0\)$"),
    "optim.learning_rate": (-1.0, r"optim\.learning_rate=-1\.0 must be a finite number >= 0$"),
    "train.nonfinite": ("ignore", r"train\.nonfinite='ignore' must be one of 'halt', 'skip'$"),
    "model.dropout": (1.5, r"model\.dropout=1\.5 must be a number in \[0, 1\)$"),
    "optim.ema_decay": (float("nan"), r"optim\.ema_decay=nan must be a number in \[0, 1\)$"),
    "model.hidden_size": (0, r"model\.hidden_size=0 must be an integer >= 1$"),
    "train.best_mode": ("lowest", r"train\.best_mode='lowest' must be one of 'min', 'max'$"),
}


@pytest.mark.parametrize("key", BAD)
def test_a_value_out_of_range_is_one_line_and_nothing_is_written(tmp_path, key):
    config = synthetic_adding.get_config("smoke")
    section, field = key.split(".")
    value, message = BAD[key]
    with config.unlocked():
        config[section][field] = value
    with one_line_error(ValueError, message):
        train.train_and_evaluate(config, tmp_path / "run", synthetic)
    assert not (tmp_path / "run").exists()  # no config.json to refuse the corrected command


def test_num_steps_may_be_zero_when_epochs_set_the_length():
    config = synthetic_adding.get_config("smoke")
    config.train.update(num_steps=0, num_epochs=2)
    train.check_config(config)
    config.train.num_epochs = -1
    with one_line_error(ValueError, r"train\.num_epochs=-1 must be a finite number >= 0$"):
        train.check_config(config)


def test_a_config_without_some_generic_fields_is_checked_on_those_it_has():
    config = synthetic_adding.get_config("smoke")
    del config.train["nonfinite"]
    del config["optim"]
    train.check_config(config)


EXPERIMENT_BAD = {  # preset -> (key, value, message): fields each experiment's CONFIG_RULES check
    "configs/lm/char.py": ("data.num_steps", 0, r"data\.num_steps=0 must be an integer >= 1$"),
    "configs/lm/stdlib.py": ("data.train_fraction", 1.5, r"data\.train_fraction=1\.5 must be a number in \(0, 1\)$"),
    "configs/classification/synthetic.py": (
        "data.valid_fraction",
        2.0,
        r"data\.valid_fraction=2\.0 must be a number in \[0, 1\) \(0: no held-out valid set\)$",
    ),
    "configs/classification/sst2.py": ("data.num_buckets", 0, r"data\.num_buckets=0 must be an integer >= 1$"),
    "configs/forecasting/sunspots.py": (
        "model.teacher_forcing",
        1.5,
        r"model\.teacher_forcing=1\.5 must be a number in \[0, 1\]$",
    ),
    "configs/forecasting/ett.py": ("data.features", "X", r"data\.features='X' must be one of 'S', 'M', 'MS'$"),
}


@pytest.mark.parametrize("path", EXPERIMENT_BAD)
def test_an_experiments_own_fields_are_checked_by_its_rules(path):
    config = importlib.import_module(path.removesuffix(".py").replace("/", ".")).get_config("smoke")
    key, value, message = EXPERIMENT_BAD[path]
    section, field = key.split(".")
    with config.unlocked():
        config[section][field] = value
    experiment = experiments.get(config.experiment)
    train.check_config(config)  # the generic rules alone do not know the field
    with one_line_error(ValueError, message):
        train.check_config(config, experiment)


@pytest.mark.parametrize(
    "experiment,overrides,message",
    [
        (
            toy,
            {"best_metric": "nosuch"},
            r"train\.best_metric='nosuch': 'nosuch' is not a metric of eval set 'test' \(",
        ),
        (
            toy,
            {"best_metric": "valid/mse"},
            r"train\.best_metric='valid/mse' names split 'valid', not one of \['test'\]",
        ),
        (toy, {"stop_when": "nosuch<1"}, r"train\.stop_when='nosuch': 'nosuch' is not a metric of eval set 'test'"),
        (toy, {"stop_when": "mse<<1"}, r"train\.stop_when='mse<<1' must read '<metric><op><number>'"),
        (toy_evaluator, {"best_metric": "valid/nosuch"}, r"'nosuch' is not a metric of eval set 'valid'"),
    ],
)
def test_a_metric_the_evaluation_does_not_report_is_refused_before_anything_is_written(
    tmp_path, experiment, overrides, message
):
    config = experiment.get_config(**overrides)
    with one_line_error(ValueError, message):
        train.train_and_evaluate(config, tmp_path / "run", experiment)
    assert not (tmp_path / "run").exists()


def test_declared_evaluator_metrics_are_known_and_undeclared_ones_are_left_to_the_evaluation(tmp_path):
    config = toy_evaluator.get_config(num_steps=4)
    h = train.Harness(config, tmp_path, toy_evaluator)
    state = h.init_state(h.shard(next(iter(h.train_batches(0)))))
    eval_step = h.make_eval_step()
    names = h.metric_names(eval_step, state.params)
    assert names["valid"] == names["test"] and {"loss", "mse", "abs_err", "host_abs_err", "score"} == names["valid"]
    config.train.best_metric = "valid/score"
    train.check_metric_names(config, names)
    config.train.best_metric = "valid/scores"
    with one_line_error(ValueError, r"'scores' is not a metric of eval set 'valid' \(\['abs_err', 'host_abs_err'"):
        train.check_metric_names(config, names)
    h.evaluators["schedule"] = lambda model, params, split, batches: {"score": 0.0}  # declares nothing
    assert h.metric_names(eval_step, state.params) == {"test": None, "valid": None}  # unknown: not checked early
    assert not tmp_path.joinpath("config.json").exists()


def test_a_run_that_failed_before_its_first_checkpoint_does_not_block_the_corrected_one(tmp_path, capsys):
    poisoned = toy.get_config(num_steps=8)
    with poisoned.unlocked():
        poisoned.task.poison_step = 2  # a NaN in the batch of step 2: the run halts before step 4's save
    with one_line_error(train.NonFiniteError, r"at step 3 .*no checkpoint was saved before it, so the same --workdir="):
        train.train_and_evaluate(poisoned, tmp_path, toy)
    assert (tmp_path / "config.json").exists() and not checkpoint.saved_any(tmp_path / "checkpoints")
    capsys.readouterr()
    corrected = toy.get_config(num_steps=8)
    final = train.train_and_evaluate(corrected, tmp_path, toy)
    assert "is from a run that saved no checkpoint; starting afresh under this config" in capsys.readouterr().err
    assert final["test"]["mse"] >= 0 and records_steps(tmp_path) == [2, 4, 6, 8]
    assert resume.read_saved(tmp_path / "config.json")["task"]["poison_step"] == -1


def records_steps(workdir):
    return [r["step"] for r in metrics.read_jsonl(workdir / "metrics.jsonl") if r["split"] == "train"]


def test_evaluation_names_another_model_or_experiment_in_one_line(tmp_path):
    config = toy.get_config()
    resume.check_config_for_resume(config, tmp_path)  # writes config.json
    resume.check_model_for_eval(config, tmp_path, toy)
    changed = toy.get_config()
    changed.model.hidden_size = 4
    changed.model.dropout = 0.1  # training-only: may differ
    with one_line_error(ValueError, r"was trained with another model \(model\.hidden_size: 8 -> 4\); use that run's"):
        resume.check_model_for_eval(changed, tmp_path, toy)
    other = toy.get_config()
    other.experiment = "synthetic"
    for check in (resume.check_model_for_eval, resume.check_config_for_resume):
        with one_line_error(ValueError, r"holds a run of experiment 'toy', not 'synthetic'; use a new --workdir$"):
            check(other, tmp_path)
