"""Helpers of the classification data tests: a ``config.data`` and small files on disk."""

from pathlib import Path

from configs.classification import common as sentiment_common


def data_config(**overrides):
    """The presets' own ``config.data`` defaults (configs/classification/common.py) for a GLUE directory, with
    no tfds/HF name and a tiny generated corpus, then ``overrides``."""
    config = sentiment_common.get_config().data
    config.update(format="glue", tfds_name="", hf_name="", synthetic_train=8, synthetic_eval=4)
    config.update(overrides)
    return config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def glue_dir(root: Path, n_train: int = 10) -> Path:
    rows = "".join(f'film {i} , "quoted" \t{i % 2}\n' for i in range(n_train))
    write(root / "train.tsv", "sentence\tlabel\n" + rows)
    write(root / "dev.tsv", "sentence\tlabel\ngood \t1\nbad \t0\n")
    write(root / "test.tsv", "index\tsentence\n0\tunlabelled\n")
    return root
