"""Speech's inference modes, from a run's best checkpoint and its ``speech.json`` (the alphabet,
the feature settings and the normaliser the run trained with):

* ``--mode=transcribe``: one line ``path<TAB>transcript`` per audio file of
  ``transcribe.input`` (comma-separated files, a folder of ``.wav``/``.flac``/``.ogg``, or ``-``
  for paths on stdin, one a line), decoded with ``eval.beam`` (1: greedy best path); also
  written to ``transcribe.output`` when set; with ``transcribe.plot``, a PNG per file under
  ``<workdir>/transcripts/``.
* ``--mode=posteriors``: PNGs of the first ``transcribe.num_utterances`` validation utterances
  under ``<workdir>/posteriors/``: the (normalised) log-mel spectrogram above the CTC posteriors
  over time (the blank grey, each symbol's probability a line labelled at its peak), titled with
  the reference and the decoded transcript.

A file that is not audio, or empty, is one line naming it. Inputs are padded to a multiple of
``PAD_TO`` frames (padding never changes an output), so a folder of clips of many lengths
compiles a few programs, not one per length.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from experiments.speech import ctc, features
from experiments.speech.task import ARTEFACT_FILE, TRAINING_ONLY, log_posteriors, make_model, same_normalizer, text_of
from rnn_research import checkpoint, plots
from rnn_research.configured import check_model_config
from rnn_research.io import atomic_write_text

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
PAD_TO = 64  # RNN steps: inputs are padded to a multiple of this many times model.subsample frames


class Run:
    """What inference needs from a workdir: settings, model, parameters and the jitted posteriors."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path) -> None:
        self.workdir = Path(workdir)
        path = self.workdir / ARTEFACT_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: --workdir must be a finished speech run")
        check_model_config(config, self.workdir, TRAINING_ONLY)
        # The checkpoint first: it refuses a speech.json edited since it was saved.
        self.params, self.step = checkpoint.restore_params(self.workdir / "checkpoints")
        saved = json.loads(path.read_text(encoding="utf-8"))
        self.alphabet: str = saved["alphabet"]
        self.settings = ml_collections.ConfigDict(saved["features"])
        norm = saved["normalizer"]
        self.saved_normalizer = norm
        self.normalizer = features.Normalizer.from_dict(norm) if norm is not None else None
        width = self.settings.num_mels * (1 + self.settings.deltas)
        self.model = make_model(config, {"num_symbols": len(self.alphabet), "num_features": width})
        example = (np.zeros((1, 8, width), np.float32), np.ones(1, np.int32))
        expected = jax.eval_shape(self.model.init, jax.random.key(0), *example)["params"]
        checkpoint.check_params(self.params, expected, self.step, self.workdir / "checkpoints")
        self.run = log_posteriors(self.model)
        self.beam = config.eval.beam
        self.pad_to = PAD_TO * config.model.subsample

    def featurize(self, samples: np.ndarray, where: str) -> np.ndarray:
        """Audio at the run's rate -> the normalised frames the model read in training."""
        from experiments.speech.data import featurize, normalized

        try:
            frames = featurize(samples, self.settings)
        except features.FeatureError as e:
            raise ValueError(f"{where}: {e}") from None
        return normalized(frames, self.settings.normalize, self.normalizer)

    def posteriors(self, frames: np.ndarray) -> np.ndarray:
        """``[T, F]`` frames -> log-probabilities ``[T', V + 1]`` (blank first)."""
        padded = np.zeros((1, -(-len(frames) // self.pad_to) * self.pad_to, frames.shape[1]), np.float32)
        padded[0, : len(frames)] = frames
        log_probs, lengths = self.run(self.params, padded, np.asarray([len(frames)], np.int32))
        return np.asarray(log_probs)[0, : int(lengths[0])]

    def decode(self, log_probs: np.ndarray) -> str:
        ids = ctc.batch_decode(log_probs[None], np.asarray([len(log_probs)]), blank=0, beam=self.beam)[0]
        return text_of(ids, self.alphabet)


def input_paths(source: str) -> list[Path]:
    """The audio files ``transcribe.input`` names (see the module docstring)."""
    if source in ("", "-"):
        if sys.stdin.isatty():
            print(
                "transcribe.input: reading audio paths from the terminal, one per line; end with Ctrl-D",
                file=sys.stderr,
            )
        names = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
    else:
        names = [s.strip() for s in source.split(",") if s.strip()]
    paths: list[Path] = []
    for name in names:
        path = Path(name).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise ValueError(f"transcribe.input: {path} holds no {'/'.join(AUDIO_SUFFIXES)} files")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise FileNotFoundError(f"transcribe.input: no such file: {path}")
    if not paths:
        raise ValueError("transcribe.input names no audio files")
    return paths


def plot_utterance(path: Path, frames: np.ndarray, log_probs: np.ndarray, alphabet: str, title: str) -> Path:
    """Spectrogram ``[T, F]`` above the CTC posteriors ``[T', V + 1]`` on the same time axis."""
    fig = plots.new_figure((max(7.0, min(16.0, len(frames) / 40)), 6.0))
    top = fig.add_subplot(2, 1, 1)
    top.imshow(frames.T, origin="lower", aspect="auto", cmap="magma", interpolation="nearest")
    top.set_ylabel("mel channel")
    top.set_title(title)
    bottom = fig.add_subplot(2, 1, 2, sharex=top)
    step = len(frames) / max(len(log_probs), 1)
    times = (np.arange(len(log_probs)) + 0.5) * step - 0.5
    probs = np.exp(log_probs)
    bottom.fill_between(times, probs[:, 0], color="0.85", label="blank")
    for k in range(1, probs.shape[1]):
        if probs[:, k].max() < 0.2:
            continue
        bottom.plot(times, probs[:, k], lw=1.2)
        peak = int(np.argmax(probs[:, k]))
        bottom.annotate(alphabet[k - 1], (times[peak], probs[peak, k]), ha="center", va="bottom", fontsize=11)
    bottom.set_ylim(0, 1.08)
    bottom.set_ylabel("p(symbol | audio)")
    bottom.set_xlabel("feature frame")
    bottom.legend(loc="upper right")
    return plots.save_png(fig, path)


def transcribe(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """``--mode=transcribe``: see the module docstring."""
    from experiments.speech import audio

    run = Run(config, workdir)
    lines, files = [], []
    for i, path in enumerate(input_paths(config.transcribe.input)):
        samples = audio.read_audio(path, run.settings.sample_rate)
        frames = run.featurize(samples, str(path))
        log_probs = run.posteriors(frames)
        text = run.decode(log_probs)
        lines.append(f"{path}\t{text}")
        print(lines[-1], flush=True)
        if config.transcribe.plot:
            title = f"{path.name}: {text!r} (checkpoint step {run.step})"
            png = run.workdir / "transcripts" / f"{i:04d}_{path.stem}.png"  # the index: a.wav and a.flac differ
            files.append(plot_utterance(png, frames, log_probs, run.alphabet, title))
    if config.transcribe.output:
        atomic_write_text(config.transcribe.output, "\n".join(lines) + "\n")
    return {"transcripts": len(lines), "checkpoint_step": run.step, "files": [str(f) for f in files]}


def posteriors(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """``--mode=posteriors``: see the module docstring."""
    from experiments.speech.data import load

    run = Run(config, workdir)
    splits, alphabet, normalizer, _ = load(config)
    if alphabet != run.alphabet:
        raise ValueError(f"the data's alphabet {alphabet!r} is not the run's {run.alphabet!r}; use the run's --config")
    if not same_normalizer(normalizer.to_dict() if normalizer else None, run.saved_normalizer):
        raise ValueError("the data's training frames are not those the run was normalised by; use the run's --config")
    valid = splits["valid"]
    files = []
    for i in range(min(config.transcribe.num_utterances, len(valid.features))):
        frames = valid.features[i]
        log_probs = run.posteriors(frames)
        decoded = run.decode(log_probs)
        title = f"valid {i} ({valid.names[i]})\nreference {valid.texts[i]!r}, decoded {decoded!r} (checkpoint step {run.step})"
        files.append(plot_utterance(run.workdir / "posteriors" / f"valid_{i}.png", frames, log_probs, alphabet, title))
    print(f"wrote {len(files)} files in {run.workdir / 'posteriors'}", flush=True)
    return {"files": [str(f) for f in files], "checkpoint_step": run.step}
