"""The DTMF corpus: determinism, the rule's ranges, a decoder recovering the keys, spectra, bad arguments."""

import numpy as np
import pytest

from experiments.speech import dtmf
from tests.errors import one_line_error

SR = 8000


def test_keypad_layout():
    assert dtmf.key_frequencies("1") == (697, 1209)
    assert dtmf.key_frequencies("5") == (770, 1336)
    assert dtmf.key_frequencies("#") == (941, 1477)
    assert dtmf.key_frequencies("D") == (941, 1633)
    assert dtmf.key_frequencies("0") == (941, 1336)
    assert len({dtmf.key_frequencies(k) for k in dtmf.KEYS}) == 16


def test_deterministic_per_seed_and_index_and_independent_of_count():
    corpus = dtmf.generate_corpus(6, seed=3)
    x, text = dtmf.generate(4, 3)
    assert np.array_equal(corpus[4][0], x) and corpus[4][1] == text
    assert np.array_equal(dtmf.generate_corpus(2, seed=3)[1][0], corpus[1][0])
    assert not np.array_equal(dtmf.generate(4, 4)[0][:100], x[:100])
    assert x.dtype == np.float32 and x.ndim == 1 and np.abs(x).max() <= 1.0


def test_key_counts_and_total_length_within_the_rule():
    kw = dict(min_keys=2, max_keys=5, tone_ms=(40, 80), gap_ms=(30, 60), edge_ms=(0, 50))
    counts = set()
    for x, text in dtmf.generate_corpus(60, seed=1, **kw):
        n = len(text)
        counts.add(n)
        assert 2 <= n <= 5 and set(text) <= set(dtmf.KEYS)
        lo = n * 320 + (n - 1) * 240  # samples at 8 kHz
        hi = n * 640 + (n - 1) * 480 + 2 * 400
        assert lo <= len(x) <= hi
    assert counts == {2, 3, 4, 5}
    fixed = dict(min_keys=4, max_keys=4, tone_ms=(50, 50), gap_ms=(40, 40), edge_ms=(10, 10))
    x, text = dtmf.generate(0, 0, **fixed)
    assert len(text) == 4 and len(x) == 4 * 400 + 3 * 320 + 2 * 80


def test_keys_restricts_the_symbols():
    texts = [t for _, t in dtmf.generate_corpus(20, seed=2, keys="01")]
    assert set("".join(texts)) == {"0", "1"}


def test_detect_keys_recovers_clean_utterances():
    corpus = dtmf.generate_corpus(20, seed=7, snr_db=(40, 40))
    assert [dtmf.detect_keys(x, SR) for x, _ in corpus] == [t for _, t in corpus]
    # repeated keys stay separate, at the shortest gap the decoder resolves
    x, text = dtmf.generate(0, 0, keys="5", min_keys=4, max_keys=4, gap_ms=(30, 30), snr_db=(40, 40))
    assert text == "5555" and dtmf.detect_keys(x, SR) == "5555"
    x, text = dtmf.generate(1, 0, sample_rate=16000)
    assert dtmf.detect_keys(x, 16000) == text


def test_tone_level_and_noise_follow_the_rule():
    kw = dict(min_keys=1, max_keys=1, tone_ms=(100, 100), edge_ms=(100, 100), level_db=(-20, -20), snr_db=(20, 20))
    x, _ = dtmf.generate(0, 5, **kw)
    lead, tone = x[:800].astype(np.float64), x[800:1600].astype(np.float64)
    tone_rms = 10 ** (-20 / 20)
    assert np.sqrt(np.mean(tone**2)) == pytest.approx(tone_rms * np.sqrt(1.01), rel=0.05)
    assert np.sqrt(np.mean(lead**2)) == pytest.approx(tone_rms / 10, rel=0.15)


@pytest.mark.parametrize("key", ["1", "9", "*", "D"])
def test_spectrum_of_one_tone_peaks_at_its_two_frequencies(key):
    kw = dict(min_keys=1, max_keys=1, tone_ms=(120, 120), edge_ms=(0, 0), snr_db=(30, 30), keys=key)
    x, text = dtmf.generate(0, 11, **kw)
    assert text == key and len(x) == 960
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=8000))  # 1 Hz bins
    top = spectrum.argmax()
    second = np.where(np.abs(np.arange(len(spectrum)) - top) > 50, spectrum, 0).argmax()
    assert sorted([top, second]) == pytest.approx(dtmf.key_frequencies(key), abs=2)


def test_clipped_to_full_scale():
    x, _ = dtmf.generate(0, 0, level_db=(6, 6))
    assert np.abs(x).max() == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(min_keys=5, max_keys=3), "min_keys <= max_keys"),
        (dict(min_keys=0), "min_keys"),
        (dict(keys="12X"), "key 'X' is not on the keypad"),
        (dict(keys=""), "keys is empty"),
        (dict(tone_ms=(6, 50)), "tone_ms: low 6 is below the minimum 10"),
        (dict(tone_ms=(80, 40)), "tone_ms: low 80 > high 40"),
        (dict(gap_ms=(0, 50)), "gap_ms: low 0 is below the minimum 10"),
        (dict(snr_db=5), "snr_db must be a .low, high. pair"),
        (dict(sample_rate=3000), "sample_rate 3000 Hz is too low"),
        (dict(index=-1), "index must be >= 0"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, match):
    args = dict(index=0, seed=0) | kwargs
    with one_line_error(ValueError, match):
        dtmf.generate(**args)


def test_bad_key_and_short_tone_helpers():
    with one_line_error(ValueError, "key 'E' is not on the keypad"):
        dtmf.key_frequencies("E")
    with one_line_error(ValueError, "shorter than its two 5 ms ramps"):
        dtmf.tone("1", 50, SR)
    with one_line_error(ValueError, "one-dimensional"):
        dtmf.detect_keys(np.zeros((2, 400)), SR)
    assert dtmf.detect_keys(np.zeros(50), SR) == "" == dtmf.detect_keys(np.zeros(4000), SR)


def test_the_goertzel_decoder_reads_the_default_corpus_exactly():
    """The docs' claim: at the default settings (10-30 dB SNR, 40-120 ms tones) the rule is exact."""
    corpus = dtmf.generate_corpus(60, seed=11)
    assert [dtmf.detect_keys(samples, 8000) for samples, _ in corpus] == [text for _, text in corpus]
