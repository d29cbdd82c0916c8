"""Log-mel filterbank features in NumPy, as the ESPnet/Kaldi-style front ends compute them.

A signal ``x`` is ``[N]`` samples at ``sample_rate`` Hz; features are ``float32 [T, F]``, a row a
frame. :func:`log_mel` computes, in float64:

1. pre-emphasis (when ``a = preemphasis > 0``): ``y[0] = x[0]``, ``y[n] = x[n] - a x[n-1]``;
2. frames of ``W = round(sample_rate window_ms / 1000)`` samples every ``H = round(sample_rate
   hop_ms / 1000)``, no centring: ``T = 1 + (N - W) // H`` (:func:`frame_signal`, :func:`num_frames`);
3. a periodic Hann window ``w[n] = 0.5 - 0.5 cos(2 pi n / W)``, ``n = 0 .. W-1`` (``torch.hann_window``,
   scipy's ``get_window('hann', W)``);
4. the power spectrum ``P[t, k] = |sum_n w[n] y[tH + n] exp(-2 pi i k n / n_fft)|^2``, ``k = 0 ..
   n_fft/2`` (the frame zero-padded to ``n_fft``, by default the next power of two >= ``W``);
5. the mel projection ``M = P B`` with :func:`mel_filterbank` ``B [n_fft/2 + 1, num_mels]``;
6. ``log(max(M, floor))`` (natural log).

:func:`mel_filterbank` uses the HTK mel scale ``mel(f) = 2595 log10(1 + f / 700)``: ``num_mels + 2``
points ``f_0 < .. < f_{M+1}`` equally spaced in mel between ``fmin`` and ``fmax``, and band ``m``
the triangle, linear in Hz, rising from 0 at ``f_m`` to 1 at ``f_{m+1}`` and back to 0 at
``f_{m+2}`` (unnormalised: librosa's ``htk=True, norm=None``).

:func:`add_deltas` appends regression deltas ``d_t = sum_{n=1..W} n (c_{t+n} - c_{t-n}) / (2 sum_n
n^2)``, edge frames repeated (HTK, Kaldi, ``librosa.feature.delta(mode='nearest')``); order 2 is the
delta of the deltas. :class:`Normalizer` holds a global mean and standard deviation per feature,
fitted on training frames (:func:`fit_normalizer`), saved next to checkpoints by ``to_dict``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

MIN_STD = 1e-5  # the floor of a fitted or per-utterance standard deviation


class FeatureError(ValueError):
    """A one-line error about feature arguments or a saved normalizer."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise FeatureError(f"{name}={value!r} must be a positive integer")
    return int(value)


def _matrix(name: str, features: Any) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2 or features.dtype.kind not in "biuf":
        raise FeatureError(f"{name}: expected a numeric [T, F] array, got {features.dtype} {features.shape}")
    return features


# ---------------------------------------------------------------------------------- mel bands
def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel of frequencies in Hz (any shape): ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequencies in Hz of HTK mels (any shape): the inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_centres(num_mels: int, sample_rate: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """``float64 [num_mels]``: the centre frequency in Hz (the peak) of each band of :func:`mel_filterbank`."""
    fmax = sample_rate / 2 if fmax is None else fmax
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), num_mels + 2))[1:-1]


def mel_filterbank(
    num_mels: int, n_fft: int, sample_rate: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """``float64 [n_fft // 2 + 1, num_mels]``: column ``m`` weighs the FFT bins (bin ``k`` at ``k
    sample_rate / n_fft`` Hz) by the HTK-mel triangle ``m``, peak 1 (see the module docstring)."""
    num_mels, n_fft = _positive_int("num_mels", num_mels), _positive_int("n_fft", n_fft)
    sample_rate = _positive_int("sample_rate", sample_rate)
    fmax = sample_rate / 2 if fmax is None else float(fmax)
    if not 0.0 <= fmin < fmax <= sample_rate / 2:
        raise FeatureError(f"fmin={fmin}, fmax={fmax}: need 0 <= fmin < fmax <= sample_rate / 2 = {sample_rate / 2}")
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), num_mels + 2))  # [M + 2]
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)  # [K]
    rising = (bins[:, None] - edges[None, :-2]) / np.diff(edges)[None, :-1]  # [K, M]
    falling = (edges[None, 2:] - bins[:, None]) / np.diff(edges)[None, 1:]  # [K, M]
    return np.maximum(0.0, np.minimum(rising, falling))


# ---------------------------------------------------------------------------------- frames
def frame_sizes(sample_rate: int, window_ms: float, hop_ms: float) -> tuple[int, int]:
    """``(window, hop)`` in samples: ``round(sample_rate ms / 1000)`` of each, both at least 1."""
    sample_rate = _positive_int("sample_rate", sample_rate)
    window, hop = round(sample_rate * window_ms / 1000), round(sample_rate * hop_ms / 1000)
    if window < 1 or hop < 1:
        raise FeatureError(f"window_ms={window_ms}, hop_ms={hop_ms} at {sample_rate} Hz: under one sample")
    return window, hop


def num_frames(num_samples: int, sample_rate: int, window_ms: float = 25.0, hop_ms: float = 10.0) -> int:
    """Frames :func:`log_mel` gives ``num_samples`` samples: ``1 + (N - W) // H``, and 1 when ``N < W``."""
    num_samples = _positive_int("num_samples", num_samples)
    window, hop = frame_sizes(sample_rate, window_ms, hop_ms)
    return 1 + max(0, num_samples - window) // hop


def frame_signal(samples: np.ndarray, window: int, hop: int) -> np.ndarray:
    """``[T, window]`` frames of ``samples [N]``: row ``t`` is ``samples[t hop : t hop + window]``,
    ``T = 1 + (N - window) // hop`` (no centring; the tail that fills no frame is dropped); a signal
    shorter than one window is zero-padded to one frame."""
    window, hop = _positive_int("window", window), _positive_int("hop", hop)
    samples = np.asarray(samples)
    if samples.ndim != 1 or not samples.size:
        raise FeatureError(f"frame_signal: expected samples [N] with N > 0, got shape {samples.shape}")
    if samples.size < window:
        samples = np.pad(samples, (0, window - samples.size))
    return np.lib.stride_tricks.sliding_window_view(samples, window)[::hop].copy()


def hann(window: int) -> np.ndarray:
    """``float64 [window]``: the periodic Hann window ``0.5 - 0.5 cos(2 pi n / window)``."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(window) / window)


def log_mel(
    samples: np.ndarray,
    sample_rate: int,
    *,
    window_ms: float = 25.0,
    hop_ms: float = 10.0,
    num_mels: int = 40,
    fmin: float = 0.0,
    fmax: float | None = None,
    n_fft: int | None = None,
    preemphasis: float = 0.0,
    floor: float = 1e-10,
) -> np.ndarray:
    """``float32 [T, num_mels]`` log-mel filterbank energies of mono ``samples [N]`` (steps 1-6 of
    the module docstring), ``T = num_frames(N, sample_rate, window_ms, hop_ms)``."""
    samples = np.asarray(samples)
    if samples.ndim != 1 or not samples.size or samples.dtype.kind not in "biuf":
        raise FeatureError(
            f"log_mel: expected numeric mono samples [N] with N > 0, got {samples.dtype} {samples.shape}"
        )
    if not np.isfinite(samples).all():
        raise FeatureError(f"log_mel: {int((~np.isfinite(samples)).sum())} non-finite samples")
    if not 0.0 <= preemphasis < 1.0 or not floor > 0:
        raise FeatureError(f"preemphasis={preemphasis} must be in [0, 1) and floor={floor} positive")
    window, hop = frame_sizes(sample_rate, window_ms, hop_ms)
    n_fft = 1 << (window - 1).bit_length() if n_fft is None else _positive_int("n_fft", n_fft)
    if n_fft < window:
        raise FeatureError(f"n_fft={n_fft} is shorter than the {window}-sample window ({window_ms} ms)")
    x = samples.astype(np.float64)
    if preemphasis:
        x = np.concatenate([x[:1], x[1:] - preemphasis * x[:-1]])
    frames = frame_signal(x, window, hop) * hann(window)  # [T, W]
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2  # [T, n_fft // 2 + 1]
    mel = power @ mel_filterbank(num_mels, n_fft, sample_rate, fmin, fmax)  # [T, M]
    return np.log(np.maximum(mel, floor)).astype(np.float32)


# ---------------------------------------------------------------------------------- deltas
def delta(features: np.ndarray, width: int = 2) -> np.ndarray:
    """``float32 [T, F]`` regression deltas of ``features [T, F]`` over ``+-width`` frames, edge
    frames repeated: ``d_t = sum_{n=1..W} n (c_{t+n} - c_{t-n}) / (2 sum_n n^2)``."""
    features = _matrix("delta", features).astype(np.float64)
    width = _positive_int("width", width)
    padded = np.pad(features, ((width, width), (0, 0)), mode="edge")  # [T + 2W, F]
    t = len(features)
    out = sum(n * (padded[width + n : width + n + t] - padded[width - n : width - n + t]) for n in range(1, width + 1))
    return (out / (2 * sum(n * n for n in range(1, width + 1)))).astype(np.float32)


def add_deltas(features: np.ndarray, order: int, width: int = 2) -> np.ndarray:
    """``float32 [T, F (1 + order)]``: ``features [T, F]`` followed by its deltas up to ``order``
    (each the :func:`delta` of the one before: deltas, then delta-deltas, ...)."""
    features = _matrix("add_deltas", features)
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 0:
        raise FeatureError(f"order={order!r} must be a non-negative integer")
    blocks = [features.astype(np.float32)]
    for _ in range(order):
        blocks.append(delta(blocks[-1], width))
    return np.concatenate(blocks, axis=1)


# ---------------------------------------------------------------------------------- normalisation
class Normalizer(NamedTuple):
    """Per-feature ``mean [F]`` and ``std [F]`` (float64): features become ``(x - mean) / std``."""

    mean: np.ndarray
    std: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        """``{"mean": [F floats], "std": [F floats]}``, JSON-able."""
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: Any, num_features: int | None = None) -> Normalizer:
        """The normalizer of a :meth:`to_dict` dict; a one-line :class:`FeatureError` when it is not
        one, or (given ``num_features``) when its width is not ``num_features``."""
        if not isinstance(d, dict) or not {"mean", "std"} <= set(d):
            raise FeatureError(f"normalizer: expected a dict with 'mean' and 'std', got {type(d).__name__}")
        try:
            mean, std = (np.asarray(d[k], dtype=np.float64) for k in ("mean", "std"))
        except (TypeError, ValueError):
            raise FeatureError("normalizer: 'mean' and 'std' must be lists of numbers") from None
        if mean.ndim != 1 or mean.shape != std.shape or not mean.size:
            raise FeatureError(
                f"normalizer: 'mean' {list(mean.shape)} and 'std' {list(std.shape)} must be equal-length lists"
            )
        if num_features is not None and mean.size != num_features:
            raise FeatureError(f"normalizer: {mean.size} features wide, the features are {num_features}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise FeatureError("normalizer: 'mean' must be finite and 'std' finite and positive")
        return cls(mean, std)


def fit_normalizer(features: Iterable[np.ndarray]) -> Normalizer:
    """The global mean and (population) std over every frame of ``features`` (utterances ``[T_i,
    F]``), merged utterance by utterance in float64 (Chan et al.'s pairwise update); std floored at
    ``1e-5``."""
    count, mean, m2 = 0, None, None
    for i, block in enumerate(features):
        block = _matrix(f"fit_normalizer: utterance {i}", block).astype(np.float64)
        if mean is not None and block.shape[1] != mean.size:
            raise FeatureError(
                f"fit_normalizer: utterance {i} has {block.shape[1]} features, the first had {mean.size}"
            )
        if not len(block):
            continue
        n, block_mean = len(block), block.mean(axis=0)
        block_m2 = ((block - block_mean) ** 2).sum(axis=0)
        if mean is None:
            count, mean, m2 = n, block_mean, block_m2
            continue
        step = block_mean - mean
        total = count + n
        mean = mean + step * (n / total)
        m2 = m2 + block_m2 + step**2 * (count * n / total)
        count = total
    if mean is None:
        raise FeatureError("fit_normalizer: no frames to fit")
    return Normalizer(mean, np.maximum(np.sqrt(m2 / count), MIN_STD))


def normalize(features: np.ndarray, normalizer: Normalizer) -> np.ndarray:
    """``float32 [T, F]``: ``(features - mean) / std`` of ``features [T, F]``."""
    features = _matrix("normalize", features)
    if features.shape[1] != normalizer.mean.size:
        raise FeatureError(f"normalize: {features.shape[1]} features, the normalizer has {normalizer.mean.size}")
    return ((features - normalizer.mean) / normalizer.std).astype(np.float32)


def normalize_utterance(features: np.ndarray) -> np.ndarray:
    """``float32 [T, F]``: ``features [T, F]`` less its own mean over time, over its own std (floored at 1e-5)."""
    features = _matrix("normalize_utterance", features).astype(np.float64)
    if not len(features):
        raise FeatureError("normalize_utterance: no frames")
    return normalize(features, Normalizer(features.mean(axis=0), np.maximum(features.std(axis=0), MIN_STD)))
