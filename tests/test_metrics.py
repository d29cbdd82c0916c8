"""Tests of rnn_research.metrics: JSONL records, resume, TensorBoard files, console, plots."""

import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnn_research import metrics
from tests.paths import HANG

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _without_time(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


def events(directory: Path) -> list:
    """Every event of the event files under ``directory``, parsed here from the TFRecord framing
    (not with the reader under test, rnn_research.tensorboard.read_events)."""
    from tensorboardX.proto.event_pb2 import Event

    found = []
    files = sorted(directory.glob("events.out.tfevents.*"))
    assert files, f"no event file in {directory}"
    for path in files:
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            found.append(Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4  # length, its crc, payload, payload crc
    return found


def _event_tags(directory: Path) -> dict[str, list[int]]:
    """Summary tags -> steps of every event file under ``directory``."""
    tags: dict[str, list[int]] = {}
    for event in events(directory):
        for value in event.summary.value:
            tags.setdefault(value.tag, []).append(event.step)
    return tags


def test_jsonl_records_are_flushed_and_readable_while_open(tmp_path):
    import jax.numpy as jnp

    with metrics.MetricWriter(tmp_path, tensorboard=False, console=False) as writer:
        writer.write(1, {"loss": np.float32(2.5), "acc": jnp.asarray(0.25), "count": 3})
        records = metrics.read_jsonl(tmp_path / "metrics.jsonl")
        assert _without_time(records) == [{"step": 1, "split": "train", "loss": 2.5, "acc": 0.25, "count": 3.0}]
        assert isinstance(records[0]["time"], float)
        writer.write(2, {"loss": 1.0}, split="eval")
        assert [r["split"] for r in metrics.read_jsonl(writer.path)] == ["train", "eval"]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]


def test_rejects_reserved_names_and_non_scalars(tmp_path):
    with metrics.MetricWriter(tmp_path, tensorboard=False, console=False) as writer:
        with pytest.raises(ValueError, match="reserved"):
            writer.write(1, {"step": 1.0})
        with pytest.raises(ValueError, match="scalar"):
            writer.write(1, {"loss": np.ones(3)})
    with pytest.raises(ValueError, match="closed"):
        writer.write(1, {"loss": 1.0})


def test_nonfinite_values_round_trip_as_legal_json(tmp_path):
    with metrics.MetricWriter(tmp_path, tensorboard=False, console=False) as writer:
        writer.write(1, {"a": float("nan"), "b": np.inf, "c": -np.inf, "d": 1.5})
    text = (tmp_path / "metrics.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"illegal JSON constant {name}"))
    (record,) = metrics.read_jsonl(tmp_path / "metrics.jsonl")
    assert math.isnan(record["a"]) and record["b"] == math.inf and record["c"] == -math.inf and record["d"] == 1.5


def test_finite_or_null_replaces_and_names_every_nonfinite_number():
    results = {
        "test": {"loss": np.float32("nan"), "mse": 0.5, "n": 3, "ok": True},
        "valid": {"loss": float("inf"), "curve": [1.0, -np.inf, np.array(2.0)]},
        "sample": "text",
    }
    clean, bad = metrics.finite_or_null(results)
    assert clean == {
        "test": {"loss": None, "mse": 0.5, "n": 3, "ok": True},
        "valid": {"loss": None, "curve": [1.0, None, 2.0]},
        "sample": "text",
    }
    assert bad == ["test/loss", "valid/loss", "valid/curve/1"]
    json.dumps(clean, allow_nan=False)  # strict JSON
    assert metrics.finite_or_null({"a": 1.0, "b": [2, "x"]}) == ({"a": 1.0, "b": [2, "x"]}, [])
    assert metrics.finite_or_null(float("nan")) == (None, ["value"])


def test_partial_last_line_is_skipped_and_dropped_on_reopen(tmp_path):
    with metrics.MetricWriter(tmp_path, tensorboard=False, console=False) as writer:
        writer.write(1, {"loss": 1.0})
    path = tmp_path / "metrics.jsonl"
    with open(path, "a") as f:
        f.write('{"step": 2, "split": "tr')  # What a SIGKILL mid-write could leave.
    assert [r["step"] for r in metrics.read_jsonl(path)] == [1]
    with metrics.MetricWriter(tmp_path, tensorboard=False, console=False) as writer:
        writer.write(2, {"loss": 0.5})
    assert [r["step"] for r in metrics.read_jsonl(path)] == [1, 2]
    assert path.read_text().endswith("\n")


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "split": "train"}\n{"step": 2, oops\n{"step": 3, "split": "train"}\n')
    with pytest.raises(ValueError) as info:
        metrics.read_jsonl(path)
    message = str(info.value)
    assert "\n" not in message and f"{path}:2:" in message


def _run(workdir, steps, *, kill_after=None, resume_at=None):
    """Logs train every step and eval every 4 steps; optionally 'dies' and resumes."""
    with metrics.MetricWriter(workdir, console=False) as writer:
        if resume_at is not None:
            writer.resume(resume_at)
        start = 0 if resume_at is None else resume_at
        for step in range(start + 1, steps + 1):
            writer.write(step, {"loss": 1.0 / step})
            if step % 4 == 0:
                writer.write(step, {"loss": 2.0 / step}, split="eval")
            if step == kill_after:
                return


def test_resume_truncation_matches_an_uninterrupted_run(tmp_path):
    _run(tmp_path / "full", 12)
    _run(tmp_path / "killed", 12, kill_after=10)
    _run(tmp_path / "killed", 12, resume_at=8)  # The last checkpoint was at step 8.
    full = metrics.read_jsonl(tmp_path / "full" / "metrics.jsonl")
    resumed = metrics.read_jsonl(tmp_path / "killed" / "metrics.jsonl")
    assert _without_time(resumed) == _without_time(full)
    assert not list((tmp_path / "killed").glob(".*tmp"))


def test_tensorboard_event_files_per_split_with_tags(tmp_path):
    with metrics.MetricWriter(tmp_path, console=False) as writer:
        writer.write(1, {"loss": 1.0, "accuracy": 0.5})
        writer.write(2, {"loss": 0.5}, split="eval")
        train_dir = tmp_path / "tensorboard" / "train"
        assert all(p.stat().st_size > 0 for p in train_dir.glob("events.out.tfevents.*"))
        assert _event_tags(train_dir) == {"loss": [1], "accuracy": [1]}  # Flushed while open.
    assert _event_tags(tmp_path / "tensorboard" / "eval") == {"loss": [2]}


def test_event_files_do_not_import_torch_and_torch_still_imports_after(tmp_path):
    """tensorboardX imports torch when it is installed (seconds of every launch); writing events
    must not, and must not stop torch from importing later in the same process."""
    code = (
        "import sys, pathlib\n"
        "from rnn_research import metrics\n"
        "with metrics.MetricWriter(pathlib.Path(sys.argv[1]), console=False) as w:\n"
        "    w.write(1, {'loss': 1.0})\n"
        "assert 'torch' not in sys.modules, 'writing an event imported torch'\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('torch'):\n"
        "    import torch\n"
        "    assert float(torch.ones(1)) == 1.0\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _event_tags(tmp_path / "tensorboard" / "train") == {"loss": [1]}


def test_resume_keeps_earlier_event_files(tmp_path):
    _run(tmp_path, 6, kill_after=5)
    _run(tmp_path, 6, resume_at=4)
    steps = _event_tags(tmp_path / "tensorboard" / "train")["loss"]
    assert steps == [1, 2, 3, 4, 5, 5, 6]  # TensorBoard hides the stale 5 (purge_step=5).


def test_console_line_has_rate_eta_and_elapsed(tmp_path, capsys):
    with metrics.MetricWriter(tmp_path, tensorboard=False, total_steps=100) as writer:
        writer.write(10, {"loss": 1.234567})
        writer.write(20, {"loss": 1.0})
        writer.write(20, {"loss": 0.9}, split="eval")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("[train] step 10/100") and "loss=1.235" in lines[0]
    assert "steps/s" in lines[1] and "ETA" in lines[1] and "elapsed" in lines[1]
    assert "- steps/s" not in lines[1] and "ETA -" not in lines[1]
    assert lines[2].startswith("[eval] step 20/100") and "loss=0.9" in lines[2]


class FakeClock:
    """``time.time`` under the test's control."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_first_rate_and_eta_leave_the_compiling_step_out(tmp_path, capsys, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(metrics.time, "time", clock)
    with metrics.MetricWriter(tmp_path, tensorboard=False, total_steps=1000) as writer:
        writer.resume(0)
        clock.now += 30.0  # step 1 compiles and runs: 30 s
        writer.start_clock(1)
        clock.now += 4.9  # steps 2..50 at 10 steps/s
        writer.write(50, {"loss": 1.0})
        clock.now += 5.0
        writer.write(100, {"loss": 0.5})
    first, second = capsys.readouterr().out.splitlines()
    assert "| 10 steps/s | ETA 1m35s |" in first  # 950 steps left; with the compilation: 1.43 steps/s
    assert "| 10 steps/s | ETA 1m30s |" in second


def test_rate_is_unknown_until_a_step_after_the_clock_started(tmp_path, capsys, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(metrics.time, "time", clock)
    with metrics.MetricWriter(tmp_path, tensorboard=False, total_steps=100) as writer:
        writer.resume(40)  # resumed; the clock is not started yet
        clock.now += 20.0
        writer.write(50, {"loss": 1.0})  # e.g. a caller that never starts the clock
        writer.resume(50)
        clock.now += 20.0
        writer.start_clock(51)
        clock.now += 1.0
        writer.write(51, {"loss": 1.0})  # train.log_every=1: the clock's own step
        clock.now += 1.0
        writer.write(52, {"loss": 1.0})
    lines = capsys.readouterr().out.splitlines()
    assert ["- steps/s | ETA -" in line for line in lines] == [True, True, False]
    assert "| 1 steps/s | ETA 48s |" in lines[2]


def test_console_shows_the_declared_metrics_and_counts_the_rest(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(metrics.time, "time", FakeClock())
    values = {"grad_norm": 0.5, "loss": 1.0, "mse": 1.0, "mse_ar": 0.3, "mse_linear": 0.4, "mae_ar": 0.2}
    declared = ("mse", "coverage", "loss")  # in this order; coverage is absent
    once = {"baselines": ("mse_ar", "mse_arima", "mse_linear")}
    with metrics.MetricWriter(tmp_path, total_steps=10, console_metrics=declared, console_once=once) as writer:
        writer.write(5, values, split="valid")
        writer.write(10, values, split="valid")
        writer.write(10, {"mse": 2.0}, split="test")
        writer.write(10, {"mse": 2.0, "mse_ar": 0.7}, split="test")
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "[valid] step 5/10 | mse=1 loss=1 | elapsed 0s (+4 in metrics.jsonl)",
        "[valid] baselines: mse_ar=0.3 mse_linear=0.4",
        "[valid] step 10/10 | mse=1 loss=1 | elapsed 0s (+4 in metrics.jsonl)",
        "[test] step 10/10 | mse=2 | elapsed 0s",
        "[test] step 10/10 | mse=2 | elapsed 0s (+1 in metrics.jsonl)",
        "[test] baselines: mse_ar=0.7",
    ]
    (first, *_) = metrics.read_jsonl(tmp_path / "metrics.jsonl")
    assert {k: v for k, v in first.items() if k in values} == values  # the file keeps every metric
    assert set(_event_tags(tmp_path / "tensorboard" / "valid")) == set(values)
    with pytest.raises(ValueError, match="tuple of metric names, not the string 'mse'"):
        metrics.MetricWriter(tmp_path, console_metrics="mse")
    with pytest.raises(ValueError, match="baselines must be a tuple"):
        metrics.MetricWriter(tmp_path, console_once={"baselines": "mse_ar"})


def test_text_and_png_images_go_to_tensorboard(tmp_path):
    png = metrics.plot_heatmap(np.ones((2, 3)), [0, 10], tmp_path / "heat.png", title="x")
    with metrics.MetricWriter(tmp_path, console=False) as writer:
        writer.resume(-1)
        writer.write_text("config", '```json\n{"seed": 0}\n```', 0)
        writer.write(5, {"loss": 1.0})
        writer.write_images(5, {"grad_flow/layer_0": png})
        with pytest.raises(ValueError, match="not a PNG"):
            writer.write_images(6, {"x": tmp_path / "metrics.jsonl"})
    found = [(e.step, v) for e in events(tmp_path / "tensorboard" / "train") for v in e.summary.value]
    assert [(step, v.tag) for step, v in found] == [(0, "config"), (5, "loss"), (5, "grad_flow/layer_0")]
    text, image = found[0][1], found[2][1]
    assert text.metadata.plugin_data.plugin_name == "text"
    assert [d.size for d in text.tensor.tensor_shape.dim] == [1]
    assert text.tensor.string_val == [b'```json\n{"seed": 0}\n```']
    assert image.image.encoded_image_string == png.read_bytes()
    assert (image.image.height, image.image.width, image.image.colorspace) == (450, 700, 4)  # 7 x 4.5 in, 100 dpi, RGBA
    with metrics.MetricWriter(tmp_path / "off", console=False, tensorboard=False) as writer:
        writer.write_text("config", "{}", 0)
        writer.write_images(5, {"grad_flow/layer_0": png})
    assert not (tmp_path / "off" / "tensorboard").exists()


def test_console_can_be_off(tmp_path, capsys):
    with metrics.MetricWriter(tmp_path, tensorboard=False, console=False) as writer:
        writer.write(1, {"loss": 1.0})
    assert capsys.readouterr().out == ""


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 2000


def test_plot_curves_writes_one_png_per_metric(tmp_path):
    records = [{"step": s, "split": "train", "time": 0.0, "loss": 10.0**-s, "acc": s / 10} for s in range(1, 6)]
    records += [{"step": 5, "split": "eval", "time": 0.0, "loss": 1e-4, "acc": math.nan, "note": "x"}]
    paths = metrics.plot_curves(records, tmp_path / "plots")
    assert sorted(p.name for p in paths) == ["curves_acc.png", "curves_loss.png"]
    for path in paths:
        _assert_png(path)


def test_plot_curves_leaves_out_constants_and_draws_identical_series_once(tmp_path, monkeypatch):
    import matplotlib.figure

    def record(step, split, **values):
        return {"step": step, "split": split, "time": 0.0, **values}

    records = []
    for s in range(1, 6):  # float32 loss beside a float64 mse: equal to 1e-8, plotted once
        loss = 1.0 / s
        records.append(record(s, "train", loss=loss * (1 + 1e-8), mse=loss, lr=0.003, nonfinite_steps=0.0, acc=s))
    records.append(record(5, "valid", loss=0.4, mse=0.4, acc=3.0, host_acc=3.0, single=7.0))
    records.append(record(5, "best_valid", loss=0.4, mse=0.4, acc=3.0, host_acc=3.0))
    records.append(record(5, "test", acc=2.0, host_acc=2.0, mae=1.0, mae_twin=1.0))
    records.append(record(6, "test", mae=2.0, mae_twin=2.5))
    paths = metrics.plot_curves(records, tmp_path / "plots")
    # lr, nonfinite_steps, single: one value each; acc and host_acc differ in their splits (train);
    # mae and mae_twin differ at step 6.
    assert [p.name for p in paths] == [
        "curves_loss.png", "curves_acc.png", "curves_host_acc.png", "curves_mae.png", "curves_mae_twin.png"
    ]  # fmt: skip
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {p.name for p in paths}
    for path in paths:
        _assert_png(path)
    titles = {}
    original = matplotlib.figure.Figure.savefig

    def spy(fig, path, **kwargs):
        titles[Path(path).name] = fig.axes[0].get_title()
        return original(fig, path, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    metrics.plot_curves(records, tmp_path / "again")
    assert titles["curves_loss.png"] == "loss = mse" and titles["curves_acc.png"] == "acc"
    assert metrics.plot_curves([record(1, "train", lr=0.1), record(2, "valid", lr=0.1)], tmp_path / "none") == []


def test_plot_heatmap_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    matrix = 10.0 ** rng.uniform(-8, 2, size=(5, 30))
    matrix[0, 0] = 0.0  # Blank cell, not an error.
    path = metrics.plot_heatmap(matrix, [0, 10, 20, 40, 80], tmp_path / "grads.png", title="||dL/dh_t||")
    _assert_png(path)
    with pytest.raises(ValueError, match="increasing"):
        metrics.plot_heatmap(matrix, [0, 10, 10, 40, 80], tmp_path / "bad.png", title="x")
    with pytest.raises(ValueError, match="num_records"):
        metrics.plot_heatmap(matrix, [0, 10], tmp_path / "bad.png", title="x")


def test_plot_curves_draws_a_baseline_as_reference_lines_on_its_metric(tmp_path, monkeypatch):
    import matplotlib.figure

    def record(step, split, **values):
        return {"step": step, "split": split, "time": 0.0, **values}

    records = []
    for step in (10, 20, 30):
        records.append(record(step, "train", mse=1.0 / step, examples=96.0))  # flat per split: no plot
        for split, level in (("valid", 0.5), ("test", 0.7)):  # a baseline: one value per split
            records.append(
                record(step, split, mse=2.0 / step, mae=3.0 / step, mae_orig=4.0 / step, examples=100.0,
                       mse_repeat_last=level, mae_orig_ar=level / 2, mse_model_b=step / 100)
            )  # fmt: skip
    records.append(record(30, "best_valid", mse=0.1, mse_repeat_last=0.5))  # one record: no line
    legends = {}
    original = matplotlib.figure.Figure.savefig

    def spy(fig, path, **kwargs):
        legends[Path(path).name] = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        return original(fig, path, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    paths = metrics.plot_curves(records, tmp_path / "plots")
    # mse_model_b varies: a plot of its own; the two baselines are lines on mse and on mae_orig
    # (the longest plotted prefix), not plots of their own.
    names = [p.name for p in paths]
    assert names == ["curves_mse.png", "curves_mae.png", "curves_mae_orig.png", "curves_mse_model_b.png"]
    assert legends["curves_mse.png"] == [
        "train", "best_valid", "test", "valid", "repeat_last (valid)", "repeat_last (test)"
    ]  # fmt: skip
    assert legends["curves_mae_orig.png"] == ["test", "valid", "ar (valid)", "ar (test)"]
    assert legends["curves_mae.png"] == ["test", "valid"]
    for path in paths:
        _assert_png(path)
