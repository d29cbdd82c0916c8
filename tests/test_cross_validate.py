"""benchmarks/cross_validate.py: fold commands, the best_test records read back, mean ± std and the
pooled confusion matrix, the refusals, and (slow) three folds of the genome smoke preset end to end."""

import json
import os
import pathlib
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from absl import app

from benchmarks import cross_validate as cv
from tests import xla
from tests.paths import HANG

ROOT = pathlib.Path(__file__).resolve().parents[1]
MOTIFS = ROOT / "configs/genome/motifs.py"

# A preset with integer data.folds and data.fold that no test trains: adding's smoke run plus the two keys.
FOLDED = """import ml_collections

from configs.synthetic import adding


def get_config(variant="smoke"):
    config = adding.get_config(variant)
    config.data = ml_collections.ConfigDict({"folds": 10, "fold": 0})
    return config
"""


# ------------------------------------------------------------------------------- commands
def test_fold_command_sets_the_fold_the_folds_and_the_seed_then_the_common_flags(tmp_path):
    cmd = cv.fold_command("configs/genome/splice.py:smoke", tmp_path, 3, 10, 7, ["--config.data.path=x.csv"])
    assert cmd[:3] == [sys.executable, "-m", "experiments.main"]
    assert cmd[3:] == [
        "--config=configs/genome/splice.py:smoke",
        f"--workdir={tmp_path / 'fold_3'}",
        "--config.data.folds=10",
        "--config.data.fold=3",
        "--config.seed=7",
        "--config.data.path=x.csv",
    ]
    assert cv.settings(cmd[1:]) == [a for a in cmd[1:] if not a.startswith("--workdir=")]


def test_common_flags_may_not_set_what_each_fold_sets():
    cv.check_common(["--config.data.path=x.csv", "--config.data.split=folds"])
    for value, name in [
        ("--config.seed=1", "--config.seed"),
        ("--config.data.fold=2", "--config.data.fold"),
        ("--config.data.folds=5", "--config.data.folds"),
        ("--workdir=/tmp/x", "--workdir"),
    ]:
        with pytest.raises(app.UsageError, match=rf"^--common={value}: {name} is set for each fold by cross_validate"):
            cv.check_common([value])
    with pytest.raises(app.UsageError, match="expected a launcher flag"):
        cv.check_common(["config.seed=1"])


def test_only_a_config_with_integer_folds_and_fold_is_foldable():
    cv.check_foldable("p.py", {"data": {"folds": 10, "fold": 0}})
    cv.check_foldable("p.py", {"data": {"folds": 10, "fold": 0, "split": "folds"}})
    for resolved in [{}, {"data": {"folds": 10}}, {"data": {"fold": 0}}, {"data": {"folds": "10", "fold": 0}}]:
        with pytest.raises(app.UsageError) as err:
            cv.check_foldable("p.py:smoke", resolved)
        assert (
            str(err.value) == "p.py:smoke cannot be cross-validated: its config has no integer data.folds and data.fold"
        )
    with pytest.raises(app.UsageError, match=r"data.split='random', .* add --common=--config.data.split=folds$"):
        cv.check_foldable("p.py", {"data": {"folds": 10, "fold": 0, "split": "random"}})


def test_class_names_come_from_label_names_or_labels():
    assert cv.class_names({"data": {"labels": "EI, IE,N"}}) == ["EI", "IE", "N"]
    assert cv.class_names({"data": {"labels": "0,1", "label_names": "negative,positive"}}) == ["negative", "positive"]
    assert cv.class_names({"data": {"labels": ""}}) == [] and cv.class_names({}) == []


def finished(workdir: Path, cmd: list[str], seconds: float = 60.0) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    state = {"seconds": seconds, "status": "done", "command": shlex.join(cmd[1:]), "hardware": "cpu"}
    (workdir / "wall_time.json").write_text(json.dumps(state))


def test_check_finished_reads_the_same_command_and_refuses_another(tmp_path):
    commands = {i: cv.fold_command("p.py", tmp_path, i, 3, 0, []) for i in range(3)}
    assert cv.check_finished(commands, tmp_path) == {}
    # the same flags, run under another root (the workdir differs): read
    finished(tmp_path / "fold_1", cv.fold_command("p.py", tmp_path / "elsewhere", 1, 3, 0, []))
    assert list(cv.check_finished(commands, tmp_path)) == [1]
    finished(tmp_path / "fold_2", cv.fold_command("p.py", tmp_path, 2, 3, 1, []))  # another seed
    with pytest.raises(app.UsageError) as err:
        cv.check_finished(commands, tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'fold_2'} holds a finished run of another command (")
    assert "--config.seed=1" in message and message.endswith("use another --root for other settings")


# ------------------------------------------------------------------------------- reading
def write_metrics(workdir: Path, records: list[dict]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def best_test(step: int, counts: list[list[int]], **extra) -> dict:
    """A classification ``best_test`` record with the accuracy of ``counts`` ([true][predicted])."""
    m = np.asarray(counts, dtype=float)
    record = {"step": step, "split": "best_test", "time": 1.0, "accuracy": float(np.trace(m) / m.sum())}
    record.update({f"confusion_{t}_{p}": float(m[t, p]) for t in range(len(m)) for p in range(len(m))})
    return {**record, **extra}


TRAIN = [{"step": s, "split": "train", "time": 1.0, "loss": 1.0} for s in (10, 20, 30)]
FOLD0 = best_test(20, [[8, 2, 0], [1, 9, 0], [0, 0, 10]], macro_f1=0.9)  # errors 20%, 10%, 0%
FOLD1 = best_test(30, [[10, 0, 0], [0, 8, 2], [0, 5, 5]], macro_f1=0.7)  # errors 0%, 20%, 50%
FOLD3 = best_test(10, [[6, 4, 0], [0, 10, 0], [0, 0, 10]], macro_f1=0.8)  # errors 40%, 0%, 0%


def test_read_fold_takes_the_last_best_test_record(tmp_path):
    assert cv.read_fold(tmp_path / "never_started") is None
    write_metrics(tmp_path / "training", [*TRAIN, {"step": 20, "split": "test", "time": 1.0, "accuracy": 0.5}])
    assert cv.read_fold(tmp_path / "training") is None
    stale = {**FOLD1, "step": 10, "accuracy": 0.1}  # an earlier best_test (a run continued): not this one
    write_metrics(tmp_path / "done", [*TRAIN, stale, FOLD1])
    assert cv.read_fold(tmp_path / "done") == {"best_test": FOLD1, "last_step": 30}


def test_check_metrics_names_the_fold_and_the_keys_it_has():
    cv.check_metrics(0, FOLD0, ["accuracy", "macro_f1"])
    with pytest.raises(app.UsageError) as err:
        cv.check_metrics(4, FOLD0, ["accuracy", "mse", "mae"])
    assert str(err.value) == (
        "--metrics: fold 4's best_test record has no mse, mae; it has accuracy, macro_f1, confusion_<true>_<pred>"
    )


def test_confusion_and_per_class_error_from_the_counts():
    counts = cv.confusion(FOLD1)
    assert counts.tolist() == [[10, 0, 0], [0, 8, 2], [0, 5, 5]]
    assert cv.class_errors(counts) == pytest.approx([0.0, 0.2, 0.5])
    assert cv.confusion({"step": 1, "split": "best_test", "mse": 0.1}) is None
    assert cv.class_errors(np.array([[3.0, 1.0], [0.0, 0.0]])) == [0.25, None]  # no example of class 1


def entries(*results):
    done = {"seconds": 90.0, "status": "done"}
    out = []
    for fold, res in enumerate(results):
        state = done if res is not None else {"seconds": 12.0, "status": "failed (exit 1); see runs/cv/fold_2.log"}
        out.append((fold, res, state))
    return out


def test_summary_statistics_per_class_error_and_pooled_confusion_with_a_fold_missing():
    folds = entries(
        {"best_test": FOLD0, "last_step": 30},
        {"best_test": FOLD1, "last_step": 30},
        None,  # failed: listed, not in the statistics
        {"best_test": FOLD3, "last_step": 40},
    )
    summary = cv.summarise(folds, ["accuracy", "macro_f1"])
    assert summary["columns"] == ["accuracy", "macro_f1", "error_0", "error_1", "error_2"]
    assert summary["classes"] == 3
    rows = summary["per_fold"]
    assert [r["fold"] for r in rows] == [0, 1, 2, 3] and rows[2]["values"] == dict.fromkeys(summary["columns"])
    assert rows[1]["values"] == pytest.approx(
        {"accuracy": 23 / 30, "macro_f1": 0.7, "error_0": 0.0, "error_1": 0.2, "error_2": 0.5}
    )
    assert rows[3]["step"] == 10 and rows[3]["last_step"] == 40 and rows[2]["step"] is None

    accuracy = summary["summary"]["accuracy"]
    values = [27 / 30, 23 / 30, 26 / 30]
    assert accuracy["n"] == 3 and accuracy["mean"] == pytest.approx(np.mean(values))
    assert accuracy["std"] == pytest.approx(np.std(values, ddof=1))  # the sample standard deviation
    assert accuracy["min"] == pytest.approx(23 / 30) and accuracy["max"] == pytest.approx(0.9)
    error_0 = summary["summary"]["error_0"]
    assert error_0["mean"] == pytest.approx(0.2) and error_0["std"] == pytest.approx(0.2)

    pooled = summary["pooled"]
    assert pooled["confusion"] == [[24, 6, 0], [1, 27, 2], [0, 5, 25]]
    assert pooled["error"] == pytest.approx({"error_0": 0.2, "error_1": 0.1, "error_2": 1 / 6})
    assert pooled["accuracy"] == pytest.approx(76 / 90) and pooled["total"] == 90


def row(text: str, start: str) -> list[str]:
    (line,) = [line for line in text.splitlines() if line.startswith(start)]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_table_rows_mean_std_min_max_and_the_pooled_matrix_in_percent():
    folds = entries(
        {"best_test": FOLD0, "last_step": 30},
        {"best_test": FOLD1, "last_step": 30},
        None,
        {"best_test": FOLD3, "last_step": 40},
    )
    text = cv.table(cv.summarise(folds, ["accuracy", "macro_f1"]), ["EI", "IE", "N"])
    lines = text.splitlines()
    head = row(text, "| fold |")
    assert head == [
        "fold", "accuracy", "macro_f1", "error 0 (EI)", "error 1 (IE)", "error 2 (N)", "best step", "wall", "status",
    ]  # fmt: skip
    assert all(len(line.strip("|").split("|")) == len(head) for line in lines[1:8])
    assert row(text, "| 0 |") == ["0", "90.00%", "0.9000", "20.00%", "10.00%", "0.00%", "20 of 30", "1.5 min", "done"]
    assert row(text, "| 2 |") == [
        "2",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        "0.2 min",
        "failed (exit 1); see runs/cv/fold_2.log",
    ]
    mean = row(text, "| mean ± std |")
    assert (
        mean[1]
        == f"{100 * np.mean([0.9, 23 / 30, 26 / 30]):.2f}% ± {100 * np.std([0.9, 23 / 30, 26 / 30], ddof=1):.2f}%"
    )
    assert mean[2] == "0.8000 ± 0.1000" and mean[3] == "20.00% ± 20.00%" and mean[6] == "3 of 4 folds"
    assert row(text, "| min |")[1:6] == ["76.67%", "0.7000", "0.00%", "0.00%", "0.00%"]
    assert row(text, "| max |")[1:6] == ["90.00%", "0.9000", "40.00%", "20.00%", "50.00%"]

    assert "Pooled confusion matrix" in text
    assert row(text, "| true \\ predicted |") == ["true \\ predicted", "0 (EI)", "1 (IE)", "2 (N)", "total", "error"]
    assert row(text, "| 0 (EI) |") == ["0 (EI)", "24", "6", "0", "30", "20.00%"]
    assert row(text, "| 2 (N) |") == ["2 (N)", "0", "5", "25", "30", "16.67%"]
    assert row(text, "| all |") == ["all", "", "", "", "90", "15.56%"]
    # labels that do not match the classes are left out
    assert "| error 0 | error 1 | error 2 |" in cv.table(cv.summarise(folds, ["accuracy"]), ["a", "b"])


def test_regression_metrics_have_no_class_columns_and_one_fold_has_no_std():
    record = {"step": 5, "split": "best_test", "time": 1.0, "mse": 0.123456, "mae": 0.2}
    summary = cv.summarise(entries({"best_test": record, "last_step": 5}, None), ["mse"])
    assert summary["columns"] == ["mse"] and summary["pooled"] is None
    assert summary["summary"]["mse"] == {"mean": 0.123456, "std": None, "min": 0.123456, "max": 0.123456, "n": 1}
    text = cv.table(summary)
    assert row(text, "| 0 |")[:3] == ["0", "0.1235", "5 of 5"]
    assert row(text, "| mean ± std |")[:3] == ["mean ± std", "0.1235 ± -", "1 of 2 folds"]
    assert "Pooled" not in text


# ------------------------------------------------------------------------------- the command
def cross_validate(tmp_path, *flags):
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    command = [sys.executable, "-m", "benchmarks.cross_validate", f"--root={tmp_path / 'cv'}", *flags]
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=HANG)


def test_fewer_than_two_folds_are_refused(tmp_path):
    done = cross_validate(tmp_path, "--config=configs/synthetic/adding.py:smoke", "--folds=1")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --folds must be at least 2, got 1"
    assert not (tmp_path / "cv").exists()


def test_a_preset_without_data_folds_is_refused_in_one_line(tmp_path):
    done = cross_validate(tmp_path, "--config=configs/synthetic/adding.py:smoke", "--folds=3")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: configs/synthetic/adding.py:smoke cannot be cross-validated: "
        "its config has no integer data.folds and data.fold"
    )
    assert not (tmp_path / "cv").exists() and "$ " not in done.stdout


def test_a_finished_fold_of_another_command_is_refused(tmp_path):
    preset = tmp_path / "folded.py"
    preset.write_text(FOLDED)
    config = f"--config={preset}:smoke"
    root = tmp_path / "cv"
    finished(root / "fold_1", cv.fold_command(f"{preset}:smoke", root, 1, 3, 0, ["--config.model.hidden_size=8"]))
    done = cross_validate(tmp_path, config, "--folds=3")
    assert done.returncode == 2
    line = done.stderr.strip()
    assert line.startswith(f"error: {root / 'fold_1'} holds a finished run of another command (")
    assert "--config.model.hidden_size=8" in line and line.endswith("use another --root for other settings")
    assert "$ " not in done.stdout and not (root / "fold_0").exists()


def test_finished_folds_are_read_and_a_failed_fold_is_listed_with_exit_1(tmp_path):
    """Folds 0 and 1 finished earlier (hand-written records); fold 2 is run and fails at once."""
    preset = tmp_path / "folded.py"
    preset.write_text(FOLDED)
    root = tmp_path / "cv"
    common = ["--config.model.cell=nosuch"]  # --print_config passes it; the run refuses it: fold 2 fails in seconds
    for fold, record in ((0, FOLD0), (1, FOLD1)):
        finished(root / f"fold_{fold}", cv.fold_command(f"{preset}:smoke", root, fold, 3, 0, common))
        write_metrics(root / f"fold_{fold}", [*TRAIN, record])
    flags = [f"--config={preset}:smoke", "--folds=3", "--common=--config.model.cell=nosuch"]
    done = cross_validate(tmp_path, *flags, f"--table={tmp_path / 'out' / 'table.md'}")
    assert done.returncode == 1, done.stderr[-2000:]
    log = root / "fold_2.log"
    assert done.stderr.strip().splitlines()[-1] == (f"error: 1 of 3 folds failed: fold 2 (failed (exit 1); see {log})")
    assert "model.cell: unknown cell 'nosuch'" in log.read_text()
    assert done.stdout.count("$ ") == 1 and f"--workdir={root / 'fold_2'} " in done.stdout  # only fold 2 ran
    text = (root / "cv.md").read_text()
    assert (tmp_path / "out" / "table.md").read_text() == text
    assert row(text, "| 0 |")[:3] == ["0", "90.00%", "0.9000"] and row(text, "| 1 |")[:3] == ["1", "76.67%", "0.7000"]
    assert row(text, "| 2 |")[1] == "-" and row(text, "| 2 |")[-1] == f"failed (exit 1); see {log}"
    assert row(text, "| mean ± std |")[1] == "83.33% ± 9.43%"
    assert "| error 0 | error 1 | error 2 |" in text and "over the 2 folds that finished of 3" in text
    assert row(text, "| class 1 |") == ["class 1", "1", "17", "2", "20", "15.00%"]  # no class names in the preset
    saved = json.loads((root / "cv.json").read_text())
    assert saved["folds"] == 3 and saved["failed"] == [f"fold 2 (failed (exit 1); see {log})"]
    assert saved["summary"]["accuracy"]["n"] == 2 and saved["pooled"]["confusion"][1] == [1, 17, 2]
    assert not (root / "fold_2" / "wall_time.json").exists()

    # a metric the records lack: one line naming the fold and its keys, before anything runs
    done = cross_validate(tmp_path, *flags, "--metrics=accuracy,mse")
    assert done.returncode == 2 and "$ " not in done.stdout
    assert done.stderr.strip() == (
        "error: --metrics: fold 0's best_test record has no mse; it has accuracy, macro_f1, confusion_<true>_<pred>"
    )


@pytest.mark.slow
@pytest.mark.skipif(not MOTIFS.exists(), reason="configs/genome/motifs.py (the genome experiment) is not there yet")
def test_two_folds_of_the_genome_smoke_preset_end_to_end(tmp_path):
    flags = [
        "--config=configs/genome/motifs.py:smoke",
        "--folds=2",
        "--common=--config.data.split=folds",
        "--common=--config.train.plots=false",
        "--common=--config.train.num_steps=10",
        "--common=--config.train.eval_every=5",
        "--common=--config.train.checkpoint_every=5",
        "--common=--config.data.num_sequences=200",  # test folds of 100, not 300
        "--common=--config.data.generated_length=30",
    ]
    done = cross_validate(tmp_path, *flags)
    root = tmp_path / "cv"
    logs = "".join((root / f"fold_{i}.log").read_text()[-1000:] for i in range(2) if (root / f"fold_{i}.log").exists())
    assert done.returncode == 0, done.stderr[-2000:] + logs
    assert done.stdout.count("$ ") == 2
    text = (root / "cv.md").read_text()
    folds = [line for line in text.splitlines() if line.split("|")[1:2] in ([" 0 "], [" 1 "])]
    assert len(folds) == 2 and all(line.rstrip().endswith("| done |") for line in folds)
    mean = row(text, "| mean ± std |")
    assert " ± " in mean[1] and mean[1].endswith("%")
    saved = json.loads((root / "cv.json").read_text())
    assert saved["folds"] == 2 and saved["failed"] == [] and len(saved["per_fold"]) == 2
    for fold in saved["per_fold"]:
        record = cv.read_fold(root / f"fold_{fold['fold']}")["best_test"]
        assert fold["values"]["accuracy"] == record["accuracy"] and fold["step"] == record["step"]
    assert saved["summary"]["accuracy"]["n"] == 2 and saved["summary"]["accuracy"]["std"] is not None
    assert sum(map(sum, saved["pooled"]["confusion"])) == saved["pooled"]["total"]

    # The finished folds are read, not rerun: each fold's wall_time.json holds the command a second
    # run builds, and its records give the same table (the command reading finished folds in a
    # subprocess: test_finished_folds_are_read_and_a_failed_fold_is_listed_with_exit_1).
    common = [flag.removeprefix("--common=") for flag in flags if flag.startswith("--common=")]
    commands = {i: cv.fold_command("configs/genome/motifs.py:smoke", root, i, 2, 0, common) for i in range(2)}
    states = cv.check_finished(commands, root)
    assert sorted(states) == [0, 1] and all(state["status"] == "done" for state in states.values())
    entries = [(i, cv.read_fold(root / f"fold_{i}"), states[i]) for i in range(2)]
    again = cv.table(cv.summarise(entries, ["accuracy", "macro_f1"]), saved["class_names"])
    assert again.split("\n\n")[0] == text.split("\n\n")[0]
