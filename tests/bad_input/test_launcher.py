"""experiments/launch_checks.py: the launcher's own arguments, each failure one line."""

import os

import pytest

from experiments import launch_checks
from rnn_research import io
from tests.errors import one_line_error
from tests.test_main import run


def test_config_argument_and_missing_presets(tmp_path):
    assert launch_checks.config_argument(["--workdir=w", "--config=a.py:x"]) == "a.py:x"
    assert launch_checks.config_argument(["--config", "b.py"]) == "b.py"
    assert launch_checks.config_argument(["--list"]) is None
    assert launch_checks.missing_preset(["--config=configs/synthetic/adding.py:nosuch"]) is None  # the file is there
    assert "configs/nosuch.py is not a file" in launch_checks.missing_preset(["--config=configs/nosuch.py:x"])
    assert "is a directory, not a preset file" in launch_checks.missing_preset([f"--config={tmp_path}"])


def test_config_parse_reason_is_the_last_error_line_of_the_embedded_traceback():
    text = (
        "Error whilst parsing config file:\n\nTraceback (most recent call last):\n"
        '  File "configs/x.py", line 3, in get_config\n    raise ValueError(...)\n'
        "ValueError: unknown variant 'q' of configs/x.py (one of a, b)\n"
    )
    assert launch_checks.config_parse_reason(text) == "unknown variant 'q' of configs/x.py (one of a, b)"
    assert launch_checks.config_parse_reason("no traceback here") is None


def test_workdir_that_is_a_file_or_under_one_is_refused_and_nothing_is_created(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    with one_line_error(ValueError, r"--workdir=.*afile is a file, not a directory$"):
        launch_checks.check_workdir(str(afile), writes=False)
    with one_line_error(ValueError, r"--workdir=.*afile/run cannot be created: .*afile is a file$"):
        launch_checks.check_workdir(str(afile / "run"), writes=True)
    launch_checks.check_workdir(str(tmp_path / "new" / "run"), writes=True)
    assert not (tmp_path / "new").exists() and afile.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_workdir_without_write_permission_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with one_line_error(ValueError, r"cannot be written: no write permission in .*locked$"):
        launch_checks.check_workdir(str(locked / "run"), writes=True)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--config=configs/nosuch.py"], "error: --config=configs/nosuch.py: configs/nosuch.py is not a file"),
        (
            ["--config=configs/synthetic/adding.py:nosuch"],
            "error: --config=configs/synthetic/adding.py:nosuch: unknown variant 'nosuch' of configs/synthetic/adding.py",
        ),
    ],
)
def test_launcher_names_a_missing_preset_or_variant_in_one_line(tmp_path, args, message):
    code, _, err = run(tmp_path / "run", *args, config=None)
    assert code == 2 and err.strip().startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_launcher_refuses_a_workdir_that_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("keep me")
    code, _, err = run(tmp_path / "afile")
    assert code == 1 and err.strip().endswith("afile is a file, not a directory") and err.count("\n") == 1, err
    assert (tmp_path / "afile").read_text() == "keep me"


def test_a_workdir_that_cannot_be_created_is_one_line_naming_it():
    with one_line_error(ValueError, r"--workdir=/proc/rnn-research-x/run cannot be created: .+ \(/proc/rnn-research-x"):
        launch_checks.check_workdir("/proc/rnn-research-x/run", writes=True)


def test_an_unknown_config_key_is_one_line_with_the_suggestion():
    hinted = AttributeError(KeyError('\'num_step\'\nDid you mean "num_steps" instead of "num_step"?'))
    line = launch_checks.unknown_key(hinted, ["--config.train.num_step=10"])
    assert line == (
        "unknown config key 'num_step' in --config.train.num_step; did you mean \"num_steps\" instead of "
        '"num_step"? (configs/base.py and the preset list the keys)'
    )
    assert launch_checks.unknown_key(KeyError("'nosuch'"), ["--config.nosuch.x=1"]).startswith(
        "unknown config key 'nosuch' in --config.nosuch.x ("
    )


def test_launcher_prints_the_unknown_key_line(tmp_path):
    code, _, err = run(tmp_path / "run", "--config.train.num_step=10")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: unknown config key 'num_step' in --config.train.num_step; did you mean \"num_steps\"")


def test_a_directory_given_as_a_data_file_says_so(tmp_path):
    with one_line_error(FileNotFoundError, rf"data\.path: {tmp_path}: is a directory, not a file$"):
        io.require_file(tmp_path)
    with one_line_error(FileNotFoundError, rf"data\.embeddings: no such file: {tmp_path / 'x'} \(a GloVe file\)$"):
        io.require_file(tmp_path / "x", "data.embeddings", what="(a GloVe file)")
    (tmp_path / "f").write_text("1")
    assert io.require_file(tmp_path / "f", "k") == tmp_path / "f"


def test_a_missing_workdir_is_one_line_not_the_module_docstring():
    code, _, err = run("")  # --workdir= (absl's UsageError printed 30 lines of docstring first)
    assert code == 2 and err == "error: --workdir is required: the directory for checkpoints, metrics and plots\n", err


def test_a_misspelt_preset_file_or_mode_names_the_close_match(tmp_path):
    line = launch_checks.missing_preset(["--config=configs/synthetic/adding_.py:smoke"])
    assert line == (
        "--config=configs/synthetic/adding_.py:smoke: configs/synthetic/adding_.py is not a file; did you mean "
        "configs/synthetic/adding.py? (python -m experiments.main --list shows the presets)"
    )
    assert "did you mean" not in launch_checks.missing_preset(["--config=configs/zzz.py"])
    code, _, err = run(tmp_path / "run", "--mode=evl")
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(
        "error: --mode='evl' is not one of ['eval', 'train'] for synthetic; did you mean --mode=eval?"
    )
    assert not (tmp_path / "run").exists()


def test_a_misspelt_variant_names_the_close_match_in_one_line(tmp_path):
    code, _, err = run(tmp_path / "run", config="configs/synthetic/adding.py:smok")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: --config=configs/synthetic/adding.py:smok: unknown variant 'smok'")
    assert err.rstrip().endswith("; did you mean configs/synthetic/adding.py:smoke?")
    assert launch_checks.variant_hint("configs/synthetic/adding.py:zzzzzz", "unknown variant 'zzzzzz' of ...") == ""
    assert launch_checks.variant_hint("configs/synthetic/adding.py:smok", "some other failure") == ""
    assert not (tmp_path / "run").exists()
