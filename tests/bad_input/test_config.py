"""rnn_research.train.validate: every preset passes; each value out of range is one line, before anything is written."""

import importlib

import pytest

import experiments
from configs.synthetic import adding as synthetic_adding
from experiments.synthetic import task as synthetic
from rnn_research import train
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
    train.check_config(preset.get_config(variant) if variant else preset.get_config())


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
