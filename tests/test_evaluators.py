"""Host-side evaluators: their metrics join the split's, are logged and plotted, pick the best
checkpoint (``train.best_metric="valid/score"``), stop early, and come back from ``evaluate_checkpoint``."""

from __future__ import annotations

import pytest

from rnn_research import checkpoint, metrics, train
from tests import toy_evaluator_experiment as toy_eval


def records(workdir, split):
    return [r for r in metrics.read_jsonl(workdir / "metrics.jsonl") if r["split"] == split]


def test_an_evaluator_metric_chooses_the_best_checkpoint(tmp_path):
    config = toy_eval.get_config(best_metric="valid/score", best_mode="max", diagnostics_every=0, plots=True)
    final = train.train_and_evaluate(config, tmp_path, toy_eval)
    valid = records(tmp_path, "valid")
    assert [r["step"] for r in valid] == [4, 8, 12]
    assert [r["score"] for r in valid] == list(toy_eval.SCORES["valid"])
    assert [r["score"] for r in records(tmp_path, "test")] == list(toy_eval.SCORES["test"])
    for r in valid:  # what the evaluator computed from (model, params, split, batches) is the in-graph value
        assert r["host_abs_err"] == pytest.approx(r["abs_err"], rel=1e-4)
    by_loss = min(valid, key=lambda r: r["loss"])["step"]
    assert by_loss != 8, "the test needs the in-graph best elsewhere than the evaluator's"

    (best,) = records(tmp_path, "best_valid")
    assert best["step"] == 8
    ckpt = checkpoint.Checkpointer(tmp_path / "checkpoints", keep=2, best_metric="valid/score", best_mode="max")
    assert ckpt.best_step() == 8
    ckpt.close()
    assert checkpoint.restore_params(tmp_path / "checkpoints")[1] == 8
    assert final["valid"]["mse"] == pytest.approx(valid[1]["mse"], rel=1e-5)
    assert (tmp_path / "plots" / "curves_score.png").is_file()
    assert (tmp_path / "plots" / "curves_host_abs_err.png").is_file()

    evaluated = train.evaluate_checkpoint(config, tmp_path, toy_eval)
    assert evaluated["valid"]["mse"] == pytest.approx(best["mse"], rel=1e-5)
    assert {"score", "host_abs_err"} <= set(evaluated["valid"]) and "score" in evaluated["test"]


def test_a_bare_best_metric_reads_the_first_split_and_drives_early_stopping(tmp_path):
    config = toy_eval.get_config(best_metric="score", best_mode="max", early_stopping_evals=1, diagnostics_every=0)
    train.train_and_evaluate(config, tmp_path, toy_eval)
    assert [r["step"] for r in records(tmp_path, "test")] == [4, 8]  # test's score falls at step 8: stop
    assert records(tmp_path, "best_test")[0]["step"] == 4


def test_stop_when_reads_evaluator_metrics(tmp_path):
    config = toy_eval.get_config(stop_when="score>0.85", diagnostics_every=0)
    train.train_and_evaluate(config, tmp_path, toy_eval)
    assert records(tmp_path, "train")[-1]["step"] == 4


def test_evaluator_and_best_metric_errors_are_one_line():
    def returns(value):
        return {"e": lambda model, params, split, batches: value}

    run = train.run_evaluators
    assert run(returns({"bleu": 1}), None, None, "valid", list, {"loss": 2.0}) == {"loss": 2.0, "bleu": 1.0}
    with pytest.raises(ValueError, match=r"^evaluator 'e' returns 'loss', which split 'valid' already has$"):
        run(returns({"loss": 1.0}), None, None, "valid", list, {"loss": 2.0})
    with pytest.raises(ValueError, match=r"^evaluator 'e': bleu='x' is not a number \(split 'valid'\)$"):
        run(returns({"bleu": "x"}), None, None, "valid", list, {})
    with pytest.raises(ValueError, match=r"^evaluator 'e' returned float, not \{metric: float\}"):
        run(returns(0.5), None, None, "valid", list, {})

    results = {"test": {"loss": 1.0}, "valid": {"loss": 3.0, "bleu": 20.0}}
    assert train.best_metric_value(results, "loss") == 1.0
    assert train.best_metric_value(results, "valid/bleu") == 20.0
    with pytest.raises(ValueError, match=r"train.best_metric='dev/bleu' names split 'dev', not one of"):
        train.best_metric_value(results, "dev/bleu")
    with pytest.raises(ValueError, match=r"train.best_metric='bleu' is not an eval metric \(\['loss'\]\)"):
        train.best_metric_value(results, "bleu")


def test_evaluators_hook_must_return_named_callables():
    class Bad:
        __name__ = "bad_task"

        @staticmethod
        def evaluators(config, info):
            return [lambda *a: {}]

    with pytest.raises(ValueError, match=r"^bad_task.evaluators\(config, info\) must return \{name: callable\}"):
        train.make_evaluators(Bad(), None, {})
    assert train.make_evaluators(object(), None, {}) == {}
