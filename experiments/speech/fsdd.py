"""The Free Spoken Digit Dataset (FSDD): index, splits, and connected-digit utterances made from it.

FSDD (``../shared/data/fsdd``, see its PROVENANCE.md) is ``recordings/<digit>_<speaker>_<take>.wav``:
isolated English digits, 8 kHz, 16-bit mono, 6 speakers x 10 digits x 50 takes. :func:`index` lists
it; :func:`split_by_take` gives the official split (takes 0-4 test) with takes 5-9 held out of train
as validation; :func:`split_by_speaker` holds whole speakers out (the harder, speaker-independent split).

THE RULE for connected digits (for CTC). Utterance ``index`` built from ``pool`` (the recordings of
ONE split, so test audio never mixes with train) with ``seed`` draws, in this order, from
``np.random.default_rng([seed, index])`` (so it depends on nothing but those two numbers):

1. ``n``, the number of digits, uniform over the integers ``min_digits..max_digits``; then ``n``
   positions in ``pool``, each uniform and independent (WITH replacement: a recording may repeat).
   The transcript is the recordings' digits in order, as a string such as ``"4071"``.
2. (:func:`connect`) ``n`` gains, each uniform in ``level_db`` dB (clip ``i`` is multiplied by
   ``10 ** (gain_i / 20)``); the ``n - 1`` gaps between clips, each uniform over the whole numbers
   of samples from ``round(gap_ms[0] * sr / 1000)`` to ``round(gap_ms[1] * sr / 1000)``; the
   leading then the trailing silence, drawn the same way from ``edge_ms``.
3. The samples are: lead zeros, clip 1, gap zeros, clip 2, ..., clip n, trail zeros. If ``noise_db``
   is given, white Gaussian noise of RMS ``noise_db`` dBFS (``20 * log10(RMS)``, full scale 1.0) is
   added to every sample (drawn last); by default the silences are exact zeros. The result is
   clipped to [-1, 1] and returned as float32 of length ``lead + sum(clips) + sum(gaps) + trail``.

Clips are loaded by the caller's ``load(path)`` (e.g. :func:`loader`) at the same ``sample_rate``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

NAME = re.compile(r"(\d)_([^_]+)_(\d+)\.wav")
Range = tuple[float, float]


class Recording(NamedTuple):
    """One FSDD file: its path, the digit spoken (0-9), the speaker's name and the take number."""

    path: Path
    digit: int
    speaker: str
    take: int


def parse_name(path: Path) -> Recording:
    """The :class:`Recording` of ``<digit>_<speaker>_<take>.wav``, or a one-line error naming the file."""
    m = NAME.fullmatch(path.name)
    if not m:
        raise ValueError(f"fsdd: {path}: file name is not <digit>_<speaker>_<take>.wav")
    return Recording(path, int(m[1]), m[2], int(m[3]))


def index(folder: str | Path) -> list[Recording]:
    """Every recording in the dataset root or its ``recordings/`` folder, sorted by (speaker, digit, take)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"fsdd: no such folder: {folder}")
    if (folder / "recordings").is_dir():
        folder = folder / "recordings"
    found = [parse_name(p) for p in folder.iterdir() if p.suffix.lower() == ".wav"]
    if not found:
        raise ValueError(f"fsdd: {folder} holds no <digit>_<speaker>_<take>.wav recordings")
    return sorted(found, key=lambda r: (r.speaker, r.digit, r.take))


def split_by_take(
    recordings: Sequence[Recording], test_takes: Sequence[int] = range(0, 5), valid_takes: Sequence[int] = range(5, 10)
) -> dict[str, list[Recording]]:
    """``{"train", "valid", "test"}``: test and valid by take number (default: official test, takes 5-9 valid)."""
    test, valid = set(test_takes), set(valid_takes)
    if test & valid:
        raise ValueError(f"fsdd: takes {sorted(test & valid)} are both test and valid")
    return {
        "train": [r for r in recordings if r.take not in test | valid],
        "valid": [r for r in recordings if r.take in valid],
        "test": [r for r in recordings if r.take in test],
    }


def split_by_speaker(
    recordings: Sequence[Recording], test_speakers: Sequence[str], valid_speakers: Sequence[str] = ()
) -> dict[str, list[Recording]]:
    """``{"train", "valid", "test"}`` holding out whole speakers; the rest of them train."""
    present = sorted({r.speaker for r in recordings})
    for name in (*test_speakers, *valid_speakers):
        if name not in present:
            raise ValueError(f"fsdd: unknown speaker {name!r}; the speakers are {', '.join(present)}")
    test, valid = set(test_speakers), set(valid_speakers)
    if test & valid:
        raise ValueError(f"fsdd: speakers {sorted(test & valid)} are both test and valid")
    if not set(present) - test - valid:
        raise ValueError(f"fsdd: no speaker is left for training (speakers: {', '.join(present)})")
    return {
        "train": [r for r in recordings if r.speaker not in test | valid],
        "valid": [r for r in recordings if r.speaker in valid],
        "test": [r for r in recordings if r.speaker in test],
    }


def _samples(name: str, ms: Range, sample_rate: int) -> tuple[int, int]:
    """A duration range in ms as the inclusive range of whole samples, or a one-line error."""
    lo, hi = float(ms[0]), float(ms[1])
    if not 0 <= lo <= hi:
        raise ValueError(f"fsdd: {name} must be (low, high) with 0 <= low <= high, got {ms!r}")
    return round(lo * sample_rate / 1000), round(hi * sample_rate / 1000)


def connect(
    clips: Sequence[np.ndarray],
    digits: Sequence[int],
    rng: np.random.Generator,
    sample_rate: int,
    *,
    gap_ms: Range = (50, 300),
    level_db: Range = (-6, 6),
    edge_ms: Range = (0, 150),
    noise_db: float | None = None,
) -> tuple[np.ndarray, str]:
    """Clips [N_i] joined by silent gaps, gains and edges drawn from ``rng``: float32 [N] and the digit string.

    Steps 2-3 of the module docstring's rule.
    """
    if len(clips) != len(digits) or not clips:
        raise ValueError(
            f"fsdd: connect needs as many clips as digits (at least one), got {len(clips)} and {len(digits)}"
        )
    for d in digits:
        if not 0 <= int(d) <= 9:
            raise ValueError(f"fsdd: digit {d!r} is not 0-9")
    for i, c in enumerate(clips):
        if np.ndim(c) != 1:
            raise ValueError(f"fsdd: clip {i} must be one-dimensional [N], got shape {np.shape(c)}")
    if not level_db[0] <= level_db[1]:
        raise ValueError(f"fsdd: level_db must be (low, high) with low <= high, got {level_db!r}")
    gap_n, edge_n = _samples("gap_ms", gap_ms, sample_rate), _samples("edge_ms", edge_ms, sample_rate)
    n = len(clips)
    gains = 10 ** (rng.uniform(level_db[0], level_db[1], size=n) / 20)
    gaps = rng.integers(gap_n[0], gap_n[1] + 1, size=n - 1)
    lead, trail = rng.integers(edge_n[0], edge_n[1] + 1, size=2)
    parts = [np.zeros(lead)]
    for i, clip in enumerate(clips):
        parts += [np.asarray(clip, np.float64) * gains[i], np.zeros(gaps[i] if i < n - 1 else trail)]
    out = np.concatenate(parts)
    if noise_db is not None:
        out += rng.standard_normal(out.shape[0]) * 10 ** (noise_db / 20)
    return np.clip(out, -1.0, 1.0).astype(np.float32), "".join(str(int(d)) for d in digits)


def connected_utterance(
    pool: Sequence[Recording],
    index: int,
    seed: int,
    load: Callable[[Path], np.ndarray],
    sample_rate: int = 8000,
    min_digits: int = 3,
    max_digits: int = 7,
    **kwargs,
) -> tuple[np.ndarray, str]:
    """Utterance ``index`` of the connected digits made from ``pool`` with ``seed``: float32 [N] and its digits.

    The module docstring states the rule; ``kwargs`` go to :func:`connect`.
    """
    if not pool:
        raise ValueError("fsdd: the pool of recordings is empty")
    if index < 0:
        raise ValueError(f"fsdd: index must be >= 0, got {index}")
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"fsdd: need 1 <= min_digits <= max_digits, got {min_digits} and {max_digits}")
    rng = np.random.default_rng([seed, index])
    n = int(rng.integers(min_digits, max_digits + 1))
    chosen = [pool[i] for i in rng.integers(0, len(pool), size=n)]
    clips = [load(r.path) for r in chosen]
    return connect(clips, [r.digit for r in chosen], rng, sample_rate, **kwargs)


def connected_corpus(
    pool: Sequence[Recording], count: int, seed: int, load: Callable[[Path], np.ndarray], sample_rate: int = 8000, **kw
) -> list[tuple[np.ndarray, str]]:
    """Utterances ``0 .. count - 1`` (each as :func:`connected_utterance` gives it)."""
    return [connected_utterance(pool, i, seed, load, sample_rate, **kw) for i in range(count)]


def loader(sample_rate: int = 8000, cache: int = 4096) -> Callable[[Path], np.ndarray]:
    """``load(path) -> float32 [N]``: :func:`experiments.speech.audio.read_audio` at ``sample_rate``, cached."""

    @lru_cache(maxsize=cache)
    def load(path: Path) -> np.ndarray:
        from experiments.speech.audio import read_audio  # lazily: fsdd imports without the audio module

        clip = read_audio(path, sample_rate)
        clip.setflags(write=False)  # shared by every utterance that draws it
        return clip

    return load
