"""Classification's ``--mode=predict``: the label and probability of each line of
``predict.input`` (a UTF-8 file, or stdin) from a run's best checkpoint, its ``vocab.json`` and
``labels.json``; refuses a model, data config or output that does not fit the run, in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from experiments.classification import text
from rnn_research import checkpoint, configured
from rnn_research.configured import check_model_config
from rnn_research.data import batching
from rnn_research.data.utf8 import decode_utf8
from rnn_research.data.vocab import Vocab
from rnn_research.io import atomic_write_text, read_utf8

VOCAB_FILE, LABELS_FILE = "vocab.json", "labels.json"


def read_lines(source: str) -> list[str]:
    """The lines of ``predict.input``: a UTF-8 file, or stdin for ``-`` or ``""``; bad bytes are one line."""
    if source in ("", "-"):  # bytes, checked like a file (text mode would let binary through)
        if sys.stdin.isatty():  # a person at a terminal, not a pipe: say what the silence waits for
            print(
                "predict.input: reading sentences from the terminal, one per line; end with Ctrl-D "
                "(or pass --config.predict.input=FILE)",
                file=sys.stderr,
                flush=True,
            )
        buffer = getattr(sys.stdin, "buffer", None)  # None: a text stream that a caller put there
        text = sys.stdin.read() if buffer is None else decode_utf8(buffer.read(), "predict.input: <stdin>", "")
        return text.splitlines()
    return read_utf8(source, "predict.input", allow_empty=True).splitlines()


# What a run keeps in its workdir: predict.output may not overwrite it.
RUN_FILES = ("config.json", "metrics.jsonl", "diagnostics.jsonl", VOCAB_FILE, LABELS_FILE)
RUN_FOLDERS = ("checkpoints", "tensorboard")


def check_output(output: str, workdir: Path) -> None:
    """Refuses, before predicting, a ``predict.output`` that cannot be written (its folder missing,
    a directory) or that is one of the run's own files (``config.json``, the vocabulary, a checkpoint)."""
    path = Path(output).absolute()
    if path.is_dir():
        raise ValueError(
            f"predict.output={output!r} is a directory; name a file, e.g. {Path(output) / 'predictions.tsv'}"
        )
    if not path.parent.is_dir():
        raise ValueError(f"predict.output={output!r}: its folder {path.parent} does not exist")
    run = Path(workdir).absolute()
    own = [run / name for name in RUN_FILES] + [run / name for name in RUN_FOLDERS]
    if any(path == p or p in path.parents for p in own):
        raise ValueError(
            f"predict.output={output!r} would overwrite the run's own {path.relative_to(run)}; name another file"
        )


def read_labels(path: Path) -> list[str]:
    """The label names of a run's ``labels.json``; a malformed file is one line naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"no label names at {path} (train first, or check --workdir)")
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))["labels"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a label file ({type(e).__name__}: {e})") from None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{path} is not a label file (labels must be a list of strings)")
    return labels


def predict_texts(
    config: ml_collections.ConfigDict, params: Any, vocab: Vocab, label_names: list[str], texts: list[str]
) -> list[tuple[str, float]]:
    """``(label, probability)`` for each text; batches of 64 padded to multiples of 16 tokens."""
    from experiments.classification.task import make_model, make_subwords  # task imports this module

    model = make_model(config, {"vocab_size": len(vocab), "num_classes": len(label_names)})
    apply = jax.jit(lambda p, tokens, lengths: jax.nn.softmax(model.apply({"params": p}, tokens, lengths)))
    ids = text.encode_all(vocab, texts, config.data.max_length, make_subwords(config.model))
    out: list[tuple[str, float]] = []
    batch = 64
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        padded = text.labelled_batch(chunk, [0] * len(chunk), [batching.round_up(max(map(len, chunk)), 16)], batch)
        probs = np.asarray(apply(params, padded["tokens"], padded["lengths"]))[: len(chunk)]
        if not np.isfinite(probs).all():
            line = start + int(np.argwhere(~np.isfinite(probs))[0][0]) + 1
            raise ValueError(f"the model's probabilities are non-finite for text {line} (its logits overflow)")
        out.extend((label_names[int(np.argmax(p))], float(np.max(p))) for p in probs)
    return out


def predict(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """``--mode=predict``: label and probability per line of ``predict.input`` from the best checkpoint."""
    from experiments.classification.task import (  # task imports this module
        ADDED_FIELDS,
        TRAINING_ONLY,
        VOCAB_FIELDS,
        make_model,
        make_subwords,
    )

    workdir = Path(workdir)
    check_model_config(config, workdir, TRAINING_ONLY, ADDED_FIELDS)
    configured.check_data_config(
        config, workdir, VOCAB_FIELDS, f"prediction reads the run's {VOCAB_FILE} and {LABELS_FILE}, built from its data"
    )
    saved = workdir / "config.json"
    if saved.exists():
        trained_max = json.loads(saved.read_text()).get("data", {}).get("max_length")
        if trained_max is not None and trained_max != config.data.max_length:
            raise ValueError(
                f"{saved} was trained with data.max_length={trained_max}, not {config.data.max_length}; "
                "use that run's --config"
            )
    vocab = Vocab.from_json(workdir / VOCAB_FILE)
    label_names = read_labels(workdir / LABELS_FILE)
    params, step = checkpoint.restore_params(workdir / "checkpoints")
    rows, classes = params["embedding"].shape[0], params["output"]["kernel"].shape[-1]
    if rows != len(vocab):
        raise ValueError(f"{workdir / VOCAB_FILE} has {len(vocab)} words but the checkpoint's embedding has {rows}")
    if classes != len(label_names):
        raise ValueError(
            f"{workdir / LABELS_FILE} has {len(label_names)} labels but the checkpoint has {classes} outputs"
        )
    model = make_model(config, {"vocab_size": len(vocab), "num_classes": len(label_names)})
    ids = text.encode_all(vocab, ["a"], config.data.max_length, make_subwords(config.model))
    example = text.labelled_batch(ids, [0], [16], 1)  # the layout predict_texts feeds (subwords too)
    expected = jax.eval_shape(model.init, jax.random.key(0), example["tokens"], example["lengths"])["params"]
    checkpoint.check_params(params, expected, step, workdir / "checkpoints")
    if config.predict.output:
        check_output(config.predict.output, workdir)
    texts = [line.strip() for line in read_lines(config.predict.input) if line.strip()]
    if not texts:
        where = "stdin" if config.predict.input in ("", "-") else config.predict.input
        print(f"warning: predict.input ({where}) holds no text; nothing to predict", file=sys.stderr)
    results = predict_texts(config, params, vocab, label_names, texts)
    lines = [f"{label}\t{prob:.4f}\t{t}" for (label, prob), t in zip(results, texts)]
    if lines:
        print("\n".join(lines), flush=True)
    if config.predict.output:
        atomic_write_text(config.predict.output, "label\tprobability\ttext\n" + "".join(line + "\n" for line in lines))
    counts = {name: sum(label == name for label, _ in results) for name in label_names}
    return {"predictions": len(results), "counts": counts, "checkpoint_step": step}
