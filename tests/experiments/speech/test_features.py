"""Log-mel features: librosa where installed, and always plain-loop references (triangles, a direct
DFT, deltas), a pure tone's band, frame counts and the normalizer."""

import cmath
import json
import math

import numpy as np
import pytest

from experiments.speech import features as F
from experiments.speech.features import FeatureError, Normalizer
from tests.errors import one_line_error

SR = 16000
# log_mel against librosa: 1e-4 absolute on log energies. Both compute the spectrum in float64, so
# they differ by FFT rounding (~1e-12 relative) and by our float32 output (half an ulp of |log| <
# 32 is < 2e-6); 1e-4 leaves room for either library's float32 filterbank (librosa's is float32,
# ~3e-8 relative). Only log energies above -20 are compared: below, rounding of near-zero power
# could dominate (none are that low on the noise used here; the mask guards other signals).
LIBROSA_LOG_ATOL = 1e-4
LOG_FLOOR_COMPARED = -20.0


def noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


# ---------------------------------------------------------------------------------- plain-Python references
def loop_filterbank(num_mels, n_fft, sample_rate, fmin=0.0, fmax=None):
    """The triangle formula, one bin and one band at a time."""
    fmax = sample_rate / 2 if fmax is None else fmax
    lo, hi = 2595 * math.log10(1 + fmin / 700), 2595 * math.log10(1 + fmax / 700)
    edges = [700 * (10 ** ((lo + (hi - lo) * i / (num_mels + 1)) / 2595) - 1) for i in range(num_mels + 2)]
    out = np.zeros((n_fft // 2 + 1, num_mels))
    for k in range(n_fft // 2 + 1):
        f = k * sample_rate / n_fft
        for m in range(num_mels):
            left, centre, right = edges[m], edges[m + 1], edges[m + 2]
            if left <= f <= centre:
                out[k, m] = (f - left) / (centre - left)
            elif centre < f <= right:
                out[k, m] = (right - f) / (right - centre)
    return out


def loop_deltas(c: np.ndarray, width: int) -> np.ndarray:
    t_max, out = len(c), np.zeros_like(c, dtype=np.float64)
    norm = 2 * sum(n * n for n in range(1, width + 1))
    for t in range(t_max):
        for n in range(1, width + 1):
            out[t] += n * (c[min(t + n, t_max - 1)] - c[max(t - n, 0)]) / norm
    return out


# ---------------------------------------------------------------------------------- filterbank
CONFIGS = [(40, 512, 16000, 0.0, None), (80, 400, 16000, 20.0, 7600.0), (23, 1024, 8000, 300.0, 3400.0)]


@pytest.mark.parametrize("num_mels, n_fft, sample_rate, fmin, fmax", CONFIGS)
def test_filterbank_matches_the_triangle_formula(num_mels, n_fft, sample_rate, fmin, fmax):
    bank = F.mel_filterbank(num_mels, n_fft, sample_rate, fmin, fmax)
    assert bank.shape == (n_fft // 2 + 1, num_mels)
    np.testing.assert_allclose(bank, loop_filterbank(num_mels, n_fft, sample_rate, fmin, fmax), atol=1e-12)
    assert bank.max() <= 1.0 and (bank.max(axis=0) > 0).all()  # at most 1 (at a centre); no band is empty


@pytest.mark.parametrize("num_mels, n_fft, sample_rate, fmin, fmax", CONFIGS)
def test_filterbank_matches_librosa(num_mels, n_fft, sample_rate, fmin, fmax):
    librosa = pytest.importorskip("librosa")
    theirs = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=num_mels, fmin=fmin, fmax=fmax, htk=True, norm=None
    )
    np.testing.assert_allclose(F.mel_filterbank(num_mels, n_fft, sample_rate, fmin, fmax), theirs.T, atol=1e-5)


# ---------------------------------------------------------------------------------- frames and log-mel
@pytest.mark.parametrize("n", [1, 399, 400, 401, 559, 560, 4000])
def test_frames_and_their_count(n):
    x = np.arange(n, dtype=np.float64) + 1
    frames = F.frame_signal(x, 400, 160)
    assert frames.shape == (F.num_frames(n, SR, 25.0, 10.0), 400) == (1 + max(0, n - 400) // 160, 400)
    np.testing.assert_array_equal(frames[-1][: min(n, 400)], x[(len(frames) - 1) * 160 :][:400])
    if n < 400:
        assert (frames[0, n:] == 0).all()  # zero-padded to one frame
    assert F.log_mel(x, SR).shape == (len(frames), 40)


def test_one_frame_against_a_direct_dft():
    """Frame 3 by hand: the periodic Hann window and every DFT bin as a sum of exponentials."""
    x, window, hop, n_fft, t = noise(1200), 400, 160, 512, 3
    ours = F.log_mel(x, SR, num_mels=24, fmin=60.0, preemphasis=0.97)
    emphasised = [x[0]] + [x[i] - 0.97 * x[i - 1] for i in range(1, len(x))]
    frame = [emphasised[t * hop + n] * (0.5 - 0.5 * math.cos(2 * math.pi * n / window)) for n in range(window)]
    power = [
        abs(sum(v * cmath.exp(-2j * math.pi * k * n / n_fft) for n, v in enumerate(frame))) ** 2 for k in range(257)
    ]
    expected = np.log(np.array(power) @ loop_filterbank(24, n_fft, SR, 60.0))
    np.testing.assert_allclose(ours[t], expected, atol=1e-5)  # float32 output: |log| < 20 rounds within 1e-6


@pytest.mark.parametrize("window_ms, offset", [(32.0, 0), (25.0, 56)])
def test_log_mel_matches_librosa(window_ms, offset):
    """librosa puts a window shorter than n_fft in the middle of an n_fft-sample frame, so its frame
    t starts (n_fft - window) // 2 = 56 samples after ours; |rfft|^2 is the same for either placement."""
    librosa = pytest.importorskip("librosa")
    x, window = noise(8000, 1), round(SR * window_ms / 1000)
    theirs = librosa.feature.melspectrogram(
        y=x, sr=SR, n_fft=512, hop_length=160, win_length=window, window="hann", center=False, power=2.0,
        n_mels=40, htk=True, norm=None,
    ).T  # fmt: skip
    ours = F.log_mel(x[offset:], SR, window_ms=window_ms, n_fft=512)
    assert ours.dtype == np.float32 and len(ours) >= len(theirs) > 40
    reference = np.log(np.maximum(theirs, 1e-10))
    compared = reference > LOG_FLOOR_COMPARED
    assert compared.mean() > 0.99
    np.testing.assert_allclose(ours[: len(theirs)][compared], reference[compared], atol=LIBROSA_LOG_ATOL, rtol=0)


def test_a_tone_peaks_in_the_band_centred_nearest_it():
    centres = F.mel_centres(40, SR)
    t = np.arange(SR // 4) / SR
    for m, between in [(8, 0.0), (15, 0.2), (22, 0.0), (30, 0.3), (36, 0.0)]:
        f = centres[m] + between * (centres[m + 1] - centres[m])
        energy = F.log_mel(np.sin(2 * np.pi * f * t), SR).mean(axis=0)
        assert energy.argmax() == np.abs(centres - f).argmin() == m, f


def test_floor_and_silence():
    assert np.all(F.log_mel(np.zeros(1000), SR) == np.float32(np.log(1e-10)))
    assert np.all(F.log_mel(np.zeros(1000), SR, floor=1e-5) == np.float32(np.log(1e-5)))


# ---------------------------------------------------------------------------------- deltas
@pytest.mark.parametrize("width", [1, 2, 3])
def test_deltas_against_a_loop(width):
    c = noise(40, width).reshape(8, 5)
    out = F.add_deltas(c, order=2, width=width)
    assert out.shape == (8, 15) and out.dtype == np.float32
    first = loop_deltas(c, width)
    np.testing.assert_allclose(out[:, :5], c, atol=1e-6)
    np.testing.assert_allclose(out[:, 5:10], first, atol=1e-6)
    np.testing.assert_allclose(out[:, 10:], loop_deltas(first, width), atol=1e-6)  # delta of the deltas
    np.testing.assert_array_equal(F.add_deltas(c, order=0), c.astype(np.float32))


def test_deltas_match_librosa():
    librosa = pytest.importorskip("librosa")
    c = noise(300, 3).reshape(30, 10)
    theirs = librosa.feature.delta(c, width=5, order=1, mode="nearest", axis=0)
    np.testing.assert_allclose(F.add_deltas(c, order=1, width=2)[:, 10:], theirs, atol=1e-6)


# ---------------------------------------------------------------------------------- normalizer
def test_normalizer_fits_the_concatenation():
    rng = np.random.default_rng(4)
    train = [rng.normal(5.0, 3.0, size=(n, 6)) + np.arange(6) * 100 for n in (17, 1, 40, 0, 9)]
    norm = F.fit_normalizer(iter(train))  # one pass over a stream
    everything = np.concatenate(train)
    np.testing.assert_allclose(norm.mean, everything.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.std, everything.std(axis=0), rtol=1e-10)
    normalized = np.concatenate([F.normalize(u, norm) for u in train])
    np.testing.assert_allclose(normalized.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(axis=0), 1, atol=1e-5)
    constant = F.fit_normalizer([np.ones((4, 2))])
    assert (constant.std == 1e-5).all()  # floored


def test_normalizer_dict_round_trip():
    norm = F.fit_normalizer([noise(60, 5).reshape(12, 5)])
    back = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())), num_features=5)
    np.testing.assert_array_equal(back.mean, norm.mean)
    np.testing.assert_array_equal(back.std, norm.std)
    with one_line_error(FeatureError, r"normalizer: 5 features wide, the features are 80"):
        Normalizer.from_dict(norm.to_dict(), num_features=80)
    with one_line_error(FeatureError, r"'mean' \[2\] and 'std' \[3\] must be equal-length"):
        Normalizer.from_dict({"mean": [0, 0], "std": [1, 1, 1]})
    with one_line_error(FeatureError, r"expected a dict with 'mean' and 'std'"):
        Normalizer.from_dict({"mean": [0]})
    with one_line_error(FeatureError, r"'std' finite and positive"):
        Normalizer.from_dict({"mean": [0], "std": [0]})
    with one_line_error(FeatureError, r"normalize: 4 features, the normalizer has 5"):
        F.normalize(np.zeros((3, 4)), norm)


def test_utterance_normalization():
    c = noise(200, 6).reshape(40, 5) * 7 + 3
    out = F.normalize_utterance(c)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)


# ---------------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: F.log_mel(np.zeros((10, 2)), SR), r"log_mel: expected numeric mono samples \[N\]"),
        (lambda: F.log_mel(np.array([0.0, np.nan]), SR), r"log_mel: 1 non-finite samples"),
        (lambda: F.log_mel(np.zeros(800), SR, n_fft=256), r"n_fft=256 is shorter than the 400-sample window"),
        (lambda: F.mel_filterbank(40, 512, SR, fmax=9000.0), r"fmax=9000.0: need 0 <= fmin < fmax"),
        (lambda: F.mel_filterbank(0, 512, SR), r"num_mels=0 must be a positive integer"),
        (lambda: F.frame_signal(np.zeros(0), 400, 160), r"frame_signal: expected samples \[N\] with N > 0"),
        (lambda: F.num_frames(100, SR, 0.01, 10.0), r"window_ms=0.01, hop_ms=10.0 at 16000 Hz: under one sample"),
        (lambda: F.add_deltas(np.zeros((3, 2)), order=-1), r"order=-1 must be a non-negative integer"),
        (lambda: F.fit_normalizer([]), r"fit_normalizer: no frames to fit"),
        (
            lambda: F.fit_normalizer([np.zeros((2, 3)), np.zeros((2, 4))]),
            r"utterance 1 has 4 features, the first had 3",
        ),
    ],
)
def test_bad_arguments_are_one_line(call, message):
    with one_line_error(FeatureError, message):
        call()
