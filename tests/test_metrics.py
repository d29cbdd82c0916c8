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


def _event_tags(directory: Path) -> dict[str, list[int]]:
    """Scalar tags -> steps of every event file under ``directory``, parsed from the TFRecord framing."""
    from tensorboardX.proto.event_pb2 import Event

    tags: dict[str, list[int]] = {}
    files = sorted(directory.glob("events.out.tfevents.*"))
    assert files, f"no event file in {directory}"
    for path in files:
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4  # length, its crc, payload, payload crc
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
