"""Class 4 of issue 27: nothing silently wrong. ``lengths`` outside ``[0, T]`` are refused eagerly,
and under ``jit`` when asked (:func:`rnn_research.checks.checked`). (Edited vocabularies and label
files: ``tests/experiments/lm/test_sampling.py``, ``tests/experiments/classification/test_task.py``;
a ``data.path`` a source does not read: the experiments' data tests.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_research import cells, checks, recurrent
from tests.errors import one_line_error

CELL = cells.GRU(3)
PARAMS = CELL.init(jax.random.PRNGKey(0), 2)
XS = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 2))


def outputs(xs, lengths):
    return recurrent.unroll(CELL, PARAMS, xs, lengths=lengths)[1]


def test_eager_lengths_out_of_range_are_one_line():
    with one_line_error(ValueError, r"lengths must lie in \[0, 5\] \(T of xs\), got min 2 and max 7$"):
        outputs(XS, jnp.array([7, 2]))


@pytest.mark.parametrize("lengths,low,high", [([7, 2], 2, 7), ([-1, 3], -1, 3)])
def test_checked_refuses_lengths_computed_under_jit(lengths, low, high):
    traced = jax.jit(lambda xs, n: outputs(xs, n + 0))  # n + 0: a traced value, as in a pipeline
    traced(XS, jnp.array(lengths))  # plain jit cannot look at values: no error (hence checked())
    with one_line_error(ValueError, rf"lengths must lie in \[0, 5\] \(T of xs\), got min {low} and max {high}$"):
        checks.checked(traced)(XS, jnp.array(lengths))


def test_checked_passes_good_lengths_through_unchanged_also_under_grad():
    lengths = jnp.array([5, 2])
    np.testing.assert_array_equal(checks.checked(outputs)(XS, lengths), outputs(XS, lengths))
    loss = lambda xs, n: jnp.sum(outputs(xs, n) ** 2)  # noqa: E731
    grad = checks.checked(jax.grad(loss))
    np.testing.assert_allclose(grad(XS, lengths), jax.grad(loss)(XS, lengths), rtol=1e-6)
    with one_line_error(ValueError, r"got min 2 and max 6$"):
        grad(XS, jnp.array([6, 2]))


def test_binary_stdin_is_refused_like_a_binary_file(monkeypatch):
    import io

    from experiments.classification import task as classification

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"a good film\n\xd0\xcf\x11\xe0")))
    with one_line_error(ValueError, r"predict\.input: <stdin>: not valid UTF-8 \(byte 0xd0 at offset 12\)$"):
        classification.read_lines("-")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"un bon film\n")))
    assert classification.read_lines("") == ["un bon film"]


def test_predict_from_a_terminal_says_what_it_waits_for_and_a_pipe_stays_quiet(monkeypatch, capsys):
    import io

    from experiments.classification import task as classification

    class Terminal(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal(io.BytesIO(b"a good film\n")))
    assert classification.read_lines("-") == ["a good film"]
    prompt = capsys.readouterr().err
    assert prompt.startswith("predict.input: reading sentences from the terminal") and "Ctrl-D" in prompt
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"a good film\n")))
    assert classification.read_lines("-") == ["a good film"] and capsys.readouterr().err == ""


def test_predict_output_may_not_overwrite_the_run_or_point_nowhere(tmp_path):
    from experiments.classification import task as classification

    run = tmp_path / "run"
    (run / "checkpoints" / "best").mkdir(parents=True)
    for target, message in [
        (run / "config.json", r"would overwrite the run's own config\.json"),
        (run / "vocab.json", r"would overwrite the run's own vocab\.json"),
        (run / "checkpoints" / "best" / "x", r"would overwrite the run's own checkpoints/best/x"),
        (tmp_path / "nodir" / "x.tsv", r"its folder .*nodir does not exist"),
        (tmp_path, r"is a directory; name a file"),
    ]:
        with one_line_error(ValueError, rf"predict\.output='{target}'.*{message}"):
            classification.check_output(str(target), run)
    classification.check_output(str(run / "predictions.tsv"), run)  # beside the run's files: fine


def test_a_vocabulary_of_nothing_to_predict_is_refused():
    from experiments.classification import text
    from experiments.lm import data as lm_data

    with one_line_error(ValueError, r"the vocabulary would hold 1 symbol \(\['<unk>'\]\): nothing to predict"):
        lm_data.build_vocab(["a", "b", "a"], "word", max_size=1)
    assert len(lm_data.build_vocab(["a", "b", "a"], "word", max_size=2)) == 2
    with one_line_error(ValueError, r"holds no word beyond \['<pad>', '<unk>'\] \(data\.max_vocab=2"):
        text.build_vocab(["good bad"], max_size=2)
