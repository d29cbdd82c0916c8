"""Markdown table of a forecasting run's best checkpoint against the baselines of the same run.

    python -m benchmarks.forecasting_table --workdir=runs/etth1_s_24 --split=test --metrics=mse,mae

Reads ``metrics.jsonl`` (the ``best_<split>`` record the harness writes after training): one row
for the model and one per in-run baseline (``<metric>_<baseline>`` keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from absl import app, flags

from rnn_research import metrics

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished forecasting run.", required=True)
_SPLIT = flags.DEFINE_string("split", "test", "Which evaluation split.")
_METRICS = flags.DEFINE_list("metrics", ["mse", "mae", "rmse_orig", "mase"], "Columns.")


def best_record(workdir: str | Path, split: str) -> dict:
    """The ``best_<split>`` record of ``workdir/metrics.jsonl`` (the last one, after any resume)."""
    records = [r for r in metrics.read_jsonl(Path(workdir) / "metrics.jsonl") if r["split"] == f"best_{split}"]
    if not records:
        raise ValueError(f"{workdir}/metrics.jsonl has no best_{split} record (did the run finish?)")
    return records[-1]


def table(record: dict, columns: Sequence[str], model_name: str = "model") -> str:
    """Rows: the model, then each baseline found in ``record``, sorted by the first column."""
    baselines = sorted({k[len(columns[0]) + 1 :] for k in record if k.startswith(columns[0] + "_")})
    baselines = [b for b in baselines if all(f"{c}_{b}" in record for c in columns)]
    rows = [(model_name, [record.get(c) for c in columns])]
    rows += [(b, [record[f"{c}_{b}"] for c in columns]) for b in baselines]
    rows = [rows[0], *sorted(rows[1:], key=lambda r: r[1][0])]
    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(f"{v:.4g}" for v in values) + " |" for name, values in rows]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    del argv
    record = best_record(_WORKDIR.value, _SPLIT.value)
    print(f"{_WORKDIR.value}, best checkpoint (step {record['step']}), {_SPLIT.value} split:\n")
    print(table(record, _METRICS.value))


if __name__ == "__main__":
    app.run(main)
