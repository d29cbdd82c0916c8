"""The speech task end to end on the offline default: a smoke run that reports the error rates,
``--mode=transcribe`` (one transcript per file, from the best checkpoint), ``--mode=posteriors``,
and the one-line refusals of bad input."""

import io
import json
import wave

import jax
import numpy as np
import pytest

from configs.speech import dtmf as dtmf_config
from configs.speech import table as table_config
from experiments.speech import audio, ctc, data, dtmf, errors, task, transcribe
from rnn_research import train
from tests.errors import one_line_error


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One smoke run (a 1 x 16 bidirectional GRU on DTMF) shared by the module: ``(config, workdir, results)``."""
    config = dtmf_config.get_config("smoke")
    config.train.update(plots=False, num_steps=10, eval_every=10, checkpoint_every=10)
    workdir = tmp_path_factory.mktemp("speech")
    results = train.train_and_evaluate(config, workdir, task)
    return config, workdir, results


def test_training_reports_the_error_rates_and_saves_what_inference_reads(trained):
    config, workdir, results = trained
    for split in ("valid", "test"):
        assert results[split]["ctc"] > 0
        assert results[split]["error_rate"] >= 0 and 0 <= results[split]["utterance_accuracy"] <= 1
    saved = json.loads((workdir / task.ARTEFACT_FILE).read_text())
    assert saved["alphabet"] == dtmf.KEYS
    assert len(saved["normalizer"]["mean"]) == config.data.num_mels


def test_the_evaluator_scores_the_decoded_transcripts(trained):
    """``valid/error_rate`` is the edit distance of the greedy decodes, recomputed here by hand."""
    config, workdir, results = trained
    run = transcribe.Run(config, workdir)
    splits, alphabet, _, _ = data.load(config)
    refs, hyps = [], []
    for frames, labels in zip(splits["valid"].features, splits["valid"].labels):
        log_probs = run.posteriors(frames)
        hyps.append(list(ctc.greedy_decode(log_probs, len(log_probs), blank=0)))
        refs.append(list(labels))
    expected = errors.error_counts(refs, hyps).rate
    params = jax.device_put(run.params)
    _, eval_sets, info = task.make_data(config)
    got = task.evaluators(config, info)["decode"](run.model, params, "valid", eval_sets["valid"]())
    assert got["error_rate"] == pytest.approx(expected)
    assert alphabet == dtmf.KEYS


def test_transcribe_prints_one_transcript_per_file(trained, tmp_path, capsys):
    config, workdir, _ = trained
    paths = []
    for i in range(3):
        samples, _ = dtmf.generate(i, seed=42)
        paths.append(audio.write_wav(tmp_path / f"call_{i}.wav", samples, 8000))
    config = config.copy_and_resolve_references()
    config.transcribe.update(input=",".join(str(p) for p in paths), output=str(tmp_path / "out.tsv"), plot=True)
    result = transcribe.transcribe(config, workdir)
    lines = [line for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in paths]
    assert all(set(line.split("\t")[1]) <= set(dtmf.KEYS) for line in lines)
    assert (tmp_path / "out.tsv").read_text().splitlines() == lines
    assert result["transcripts"] == 3 and len(result["files"]) == 3
    config.transcribe.update(input=str(tmp_path), output="", plot=False)  # a folder: every audio file in it
    assert transcribe.transcribe(config, workdir)["transcripts"] == 3


def test_transcribe_reads_the_frames_training_read(trained):
    """Audio through ``Run.featurize`` (the saved normaliser) gives the validation frames training scored."""
    config, workdir, _ = trained
    run = transcribe.Run(config, workdir)
    splits, _, normalizer, _ = data.load(config)
    for i in range(2):
        samples, text = dtmf.generate(i, config.data.generator_seed + 1, config.data.sample_rate, max_keys=4)
        assert text == splits["valid"].texts[i]
        np.testing.assert_allclose(run.featurize(samples, "x"), splits["valid"].features[i], atol=1e-5)
    bigger = task.artefact(config, {"alphabet": dtmf.KEYS, "normalizer": normalizer._replace(mean=normalizer.mean + 1)})
    assert not task.same_normalizer(bigger["normalizer"], run.saved_normalizer)
    info = {"alphabet": dtmf.KEYS, "normalizer": normalizer._replace(std=normalizer.std * 2), "description": "d"}
    with one_line_error(ValueError, r"speech\.json: the training frames' mean and variance differ"):
        task.prepare(config, workdir, info)


def test_transcribe_reads_paths_from_stdin(trained, tmp_path, monkeypatch, capsys):
    config, workdir, _ = trained
    path = audio.write_wav(tmp_path / "a.wav", dtmf.generate(0, seed=7)[0], 8000)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{path}\n\n"))
    config = config.copy_and_resolve_references()
    config.transcribe.input = "-"
    assert transcribe.transcribe(config, workdir)["transcripts"] == 1
    assert capsys.readouterr().out.startswith(f"{path}\t")


def test_posteriors_draws_validation_utterances(trained):
    config, workdir, _ = trained
    result = transcribe.posteriors(config, workdir)
    assert len(result["files"]) == config.transcribe.num_utterances
    assert all(f.endswith(".png") for f in result["files"])


def test_transcribe_refuses_a_file_that_is_not_audio_in_one_line(trained, tmp_path):
    config, workdir, _ = trained
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    config = config.copy_and_resolve_references()
    config.transcribe.input = str(bad)
    with one_line_error(ValueError, r"notes\.wav: not a WAV file"):
        transcribe.transcribe(config, workdir)


def write_table(tmp_path, rows, seconds=0.6):
    """A transcript table of DTMF-like audio (content irrelevant here): ``rows`` of (name, text)."""
    lines = ["path,text"]
    for name, text in rows:
        samples = np.zeros(int(8000 * seconds), np.float32) if seconds else np.zeros(0, np.float32)
        if len(samples):
            samples[::7] = 0.1
            audio.write_wav(tmp_path / name, samples, 8000)
        lines.append(f"{name},{text}")
    (tmp_path / "table.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "table.csv"


def table_run_config(path, **data_fields):
    config = table_config.get_config("smoke")
    config.data.update(path=str(path), sample_rate=8000, **data_fields)
    return config


def test_a_transcript_too_long_for_its_audio_under_ctc_is_one_line_naming_it(tmp_path):
    rows = [(f"u{i}.wav", "ab") for i in range(9)] + [("short.wav", "abababababababababababababababab")]
    path = write_table(tmp_path, rows, seconds=0.3)
    config = table_run_config(path, valid_fraction=0.1, test_fraction=0.1)
    config.model.subsample = 3
    with one_line_error(ValueError, r"short\.wav: its 32 symbols need at least \d+ frames under CTC"):
        data.load(config)


def test_a_transcript_symbol_outside_the_alphabet_is_one_line_naming_file_and_line(tmp_path):
    rows = [(f"u{i}.wav", "ab") for i in range(10)]
    rows[4] = ("u4.wav", "a9")
    path = write_table(tmp_path, rows)
    config = table_run_config(path, alphabet="ab", valid_fraction=0.1, test_fraction=0.1)
    with one_line_error(ValueError, r"table\.csv:6: .*'9'"):
        data.load(config)


def test_an_empty_audio_file_is_one_line_naming_it(tmp_path):
    rows = [(f"u{i}.wav", "ab") for i in range(10)]
    path = write_table(tmp_path, rows)
    with wave.open(str(tmp_path / "u3.wav"), "wb") as f:  # a valid header and no samples
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(8000)
    config = table_run_config(path, valid_fraction=0.1, test_fraction=0.1)
    with one_line_error(ValueError, r"u3\.wav: .*empty"):
        data.load(config)


def test_a_recording_in_two_split_tables_is_one_line_naming_both(tmp_path):
    rows = [(f"u{i}.wav", "ab") for i in range(4)]
    write_table(tmp_path, rows)
    (tmp_path / "train.csv").write_text("path,text\nu0.wav,ab\nu1.wav,ab\n")
    (tmp_path / "valid.csv").write_text("path,text\nu2.wav,ab\n")
    (tmp_path / "test.csv").write_text("path,text\nu3.wav,ab\nu1.wav,ab\n")
    config = table_run_config(tmp_path)
    with one_line_error(ValueError, r"u1\.wav is in both .*train\.csv and .*test\.csv"):
        data.load(config)
