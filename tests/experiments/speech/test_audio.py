"""Audio files: WAV bytes built by hand for every encoding, soundfile's reading, bad files, resampling."""

import struct
import sys

import numpy as np
import pytest

from experiments.speech import audio
from experiments.speech.audio import AudioError
from tests.errors import one_line_error

GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


# ---------------------------------------------------------------------------------- RIFF by hand
def chunk(name: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk: id, little-endian size (``size`` overrides the true one), body, pad byte when odd."""
    return name + struct.pack("<I", len(body) if size is None else size) + body + b"\x00" * (len(body) & 1)


def riff(*chunks: bytes, form: bytes = b"WAVE") -> bytes:
    body = form + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt(tag: int, channels: int, rate: int, bits: int, *, sub: int | None = None, tail: bytes = GUID_TAIL) -> bytes:
    """A ``fmt `` chunk; ``sub`` makes it WAVE_FORMAT_EXTENSIBLE with that sub-format tag."""
    align = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    if sub is not None:
        body += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", sub) + tail
    return chunk(b"fmt ", body)


def pcm_bytes(ints: np.ndarray, bits: int) -> bytes:
    """Little-endian PCM bytes of integer codes (8-bit stored offset by 128), written field by field."""
    out = bytearray()
    for v in ints.ravel().tolist():
        if bits == 8:
            out += struct.pack("<B", v + 128)
        elif bits == 24:
            out += struct.pack("<i", v)[:3]
        else:
            out += struct.pack("<h" if bits == 16 else "<i", v)
    return bytes(out)


def codes(rng: np.random.Generator, bits: int, shape: tuple[int, ...]) -> np.ndarray:
    top = 2 ** (bits - 1)
    ints = rng.integers(-top, top, size=shape)
    ints.flat[:2] = [-top, top - 1]  # the extremes
    return ints


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("bits", [8, 16, 24, 32])
@pytest.mark.parametrize("extensible", [False, True])
def test_pcm(tmp_path, bits, extensible):
    ints = codes(np.random.default_rng(bits), bits, (50, 2))
    header = fmt(0xFFFE, 2, 22050, bits, sub=1) if extensible else fmt(1, 2, 22050, bits)
    path = write(tmp_path, "a.wav", riff(header, chunk(b"data", pcm_bytes(ints, bits))))
    samples, rate = audio.read_wav(path)
    assert rate == 22050 and samples.dtype == np.float32 and samples.shape == (50, 2)
    np.testing.assert_array_equal(samples, (ints / 2 ** (bits - 1)).astype(np.float32))  # one rounding to float32
    assert samples.min() == -1.0 and (samples.max() < 1.0 or bits == 32)  # float32 rounds 2**31 - 1 up to 2**31


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("extensible", [False, True])
def test_float(tmp_path, bits, extensible):
    values = np.random.default_rng(bits).uniform(-1.5, 1.5, size=(40, 1))
    header = fmt(0xFFFE, 1, 8000, bits, sub=3) if extensible else fmt(3, 1, 8000, bits)
    data = b"".join(struct.pack("<f" if bits == 32 else "<d", v) for v in values.ravel())
    samples, rate = audio.read_wav(write(tmp_path, "f.wav", riff(header, chunk(b"data", data))))
    assert rate == 8000 and samples.shape == (40, 1)
    np.testing.assert_array_equal(samples, values.astype(np.float32))  # float samples are not rescaled


def test_odd_chunk_before_data_and_a_pad_byte(tmp_path):
    """A 5-byte LIST chunk (padded to 6) and a trailing odd chunk after data are skipped."""
    ints = codes(np.random.default_rng(1), 16, (7, 1))
    data = riff(
        fmt(1, 1, 16000, 16), chunk(b"LIST", b"abcde"), chunk(b"data", pcm_bytes(ints, 16)), chunk(b"junk", b"x")
    )
    samples, _ = audio.read_wav(write(tmp_path, "odd.wav", data))
    np.testing.assert_array_equal(samples[:, 0], ints[:, 0] / 32768)


def test_data_before_fmt_and_a_streaming_size(tmp_path):
    """Chunks in any order; a data size of 0xFFFFFFFF (a streaming writer's) runs to the end."""
    ints = codes(np.random.default_rng(2), 16, (9, 1))
    reordered = riff(chunk(b"data", pcm_bytes(ints, 16)), fmt(1, 1, 16000, 16))
    np.testing.assert_array_equal(audio.read_wav(write(tmp_path, "r.wav", reordered))[0][:, 0], ints[:, 0] / 32768)
    streamed = riff(fmt(1, 1, 16000, 16)) + b"data" + struct.pack("<I", 0xFFFFFFFF) + pcm_bytes(ints, 16)
    np.testing.assert_array_equal(audio.read_wav(write(tmp_path, "s.wav", streamed))[0][:, 0], ints[:, 0] / 32768)


def test_stereo_is_mixed_down_by_the_mean(tmp_path):
    ints = codes(np.random.default_rng(3), 16, (30, 2))
    path = write(tmp_path, "st.WAV", riff(fmt(1, 2, 16000, 16), chunk(b"data", pcm_bytes(ints, 16))))
    mono = audio.read_audio(path)
    assert mono.shape == (30,) and mono.dtype == np.float32
    np.testing.assert_allclose(mono, ints.mean(axis=1) / 32768, atol=1e-7)


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
def test_write_read_round_trip(tmp_path, bits):
    x = np.random.default_rng(bits).uniform(-1.2, 1.2, size=(101, 3))
    x[:3, 0] = [-1.0, 1.0, 0.0]
    path = audio.write_wav(tmp_path / "out.wav", x, 16000, bits=bits)
    samples, rate = audio.read_wav(path)
    assert rate == 16000 and samples.shape == (101, 3)
    step = max(2.0 ** (1 - bits), 2.0**-24)  # one quantisation step, or float32's rounding for 32-bit
    assert np.abs(samples - np.clip(x, -1, 1)).max() <= step
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary file is left
    mono = audio.write_wav(tmp_path / "mono.wav", x[:, 0], 8000, bits=bits)
    assert audio.read_wav(mono)[0].shape == (101, 1)


@pytest.mark.parametrize(
    "name, header, payload",
    [
        ("u8", fmt(1, 1, 8000, 8), pcm_bytes(np.arange(-128, 128), 8)),
        ("s24", fmt(1, 2, 44100, 24), pcm_bytes(codes(np.random.default_rng(4), 24, (33, 2)), 24)),
        ("ext32", fmt(0xFFFE, 1, 48000, 32, sub=1), pcm_bytes(codes(np.random.default_rng(5), 32, (33,)), 32)),
        ("f32", fmt(3, 1, 16000, 32), np.linspace(-1, 1, 21).astype("<f4").tobytes()),
    ],
)
def test_agrees_with_soundfile(tmp_path, name, header, payload):
    soundfile = pytest.importorskip("soundfile")
    path = write(tmp_path, f"{name}.wav", riff(header, chunk(b"LIST", b"odd"), chunk(b"data", payload)))
    ours, rate = audio.read_wav(path)
    theirs, their_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    assert rate == their_rate
    np.testing.assert_array_equal(ours, theirs)


def test_other_formats_through_soundfile(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    x = np.random.default_rng(6).uniform(-0.9, 0.9, size=(200, 2))
    soundfile.write(str(tmp_path / "a.flac"), x, 8000, subtype="PCM_16")
    mono = audio.read_audio(tmp_path / "a.flac")
    np.testing.assert_allclose(mono, x.mean(axis=1), atol=2**-15)
    assert audio.read_audio(tmp_path / "a.flac", sample_rate=16000).shape == (400,)
    write(tmp_path, "bad.flac", b"fLaC not really")
    with one_line_error(AudioError, r"bad\.flac: not a readable audio file"):
        audio.read_audio(tmp_path / "bad.flac")


def test_without_soundfile_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile now raises ImportError
    with one_line_error(AudioError, r"reading \.ogg audio needs soundfile: pip install 'rnn_research\[speech\]'"):
        audio.read_audio(write(tmp_path, "a.ogg", b"OggS"))


# ---------------------------------------------------------------------------------- bad files
ONE_SAMPLE = chunk(b"data", b"\x00\x00")
BAD = [
    ("text.wav", b"hello, I am not audio", r"not a WAV file \(starts with b'hello, I am '\)"),
    ("short.wav", b"RIFF", r"not a WAV file \(starts with b'RIFF'\)"),
    ("avi.wav", riff(form=b"AVI "), r"not a WAV file"),
    ("rifx.wav", b"RIFX" + riff()[4:], r"not a WAV file .* \(big-endian RIFX is not supported\)"),
    ("alaw.wav", riff(fmt(6, 1, 8000, 8), ONE_SAMPLE), r"unsupported encoding: format tag 0x6 \(A-law\)"),
    ("adpcm.wav", riff(fmt(0x11, 1, 8000, 4), ONE_SAMPLE), r"unsupported encoding: format tag 0x11 \(IMA ADPCM\)"),
    ("ext.wav", riff(fmt(0xFFFE, 1, 8000, 16, sub=1, tail=b"\x01" * 14), ONE_SAMPLE), r"unsupported extensible sub"),
    ("ext7.wav", riff(fmt(0xFFFE, 1, 8000, 8, sub=7), ONE_SAMPLE), r"unsupported extensible sub-format 0700"),
    ("pcm12.wav", riff(fmt(1, 1, 8000, 12), ONE_SAMPLE), r"unsupported bit depth: 12-bit PCM"),
    ("f16.wav", riff(fmt(3, 1, 8000, 16), ONE_SAMPLE), r"unsupported bit depth: 16-bit float"),
    ("nofmt.wav", riff(ONE_SAMPLE), r"no fmt chunk"),
    ("nodata.wav", riff(fmt(1, 1, 8000, 16), chunk(b"LIST", b"x")), r"no data chunk"),
    ("cut.wav", riff(fmt(1, 1, 8000, 16)) + b"data" + struct.pack("<I", 1000) + b"\x00" * 10, r"truncated data chunk"),
    (
        "half.wav",
        riff(fmt(1, 2, 8000, 16), chunk(b"data", b"\x00" * 6)),
        r"truncated data \(6 bytes .* 4-byte frames\)",
    ),
    ("cutfmt.wav", riff(b"fmt " + struct.pack("<I", 16) + b"\x01\x00"), r"truncated fmt chunk"),
    ("zeroch.wav", riff(fmt(1, 0, 8000, 16), ONE_SAMPLE), r"zero channels"),
    ("zerorate.wav", riff(fmt(1, 1, 0, 16), ONE_SAMPLE), r"zero sample rate"),
    ("empty.wav", riff(fmt(1, 1, 8000, 16), chunk(b"data", b"")), r"empty audio \(no samples\)"),
    ("nan.wav", riff(fmt(3, 1, 8000, 32), chunk(b"data", np.float32([0, np.nan]).tobytes())), r"1 non-finite"),
]


@pytest.mark.parametrize("name, data, message", BAD, ids=[b[0] for b in BAD])
def test_bad_files_are_one_line_naming_the_file(tmp_path, name, data, message):
    path = write(tmp_path, name, data)
    with one_line_error(AudioError, f"{name}: {message}"):
        audio.read_wav(path)
    with one_line_error(AudioError, f"{name}: {message}"):
        audio.read_audio(path, sample_rate=16000)


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        audio.read_wav(tmp_path / "missing.wav")
    with one_line_error(AudioError, r"out\.wav: bits=12"):
        audio.write_wav(tmp_path / "out.wav", np.zeros(4), 8000, bits=12)
    with one_line_error(AudioError, r"out\.wav: 1 non-finite samples to write"):
        audio.write_wav(tmp_path / "out.wav", np.array([0.0, np.inf]), 8000)
    with one_line_error(AudioError, r"out\.wav: expected numeric samples"):
        audio.write_wav(tmp_path / "out.wav", np.zeros((0, 2)), 8000)
    with one_line_error(AudioError, r"sample_rate=0 must be a positive integer"):
        audio.write_wav(tmp_path / "out.wav", np.zeros(4), 0)
    with one_line_error(AudioError, r"to_rate=8000.0 must be a positive integer"):
        audio.resample(np.zeros(4), 16000, 8000.0)
    assert not (tmp_path / "out.wav").exists()


# ---------------------------------------------------------------------------------- resampling
def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("to_rate", [8000, 22050, 44100])
def test_resampled_tone_keeps_its_frequency(to_rate):
    n = 3200  # 0.2 s at 16 kHz: a whole number of samples at every rate here
    sine = np.sin(2 * np.pi * 1000 * np.arange(n) / 16000).astype(np.float32)
    out = audio.resample(sine, 16000, to_rate)
    assert out.dtype == np.float32 and out.shape == (n * to_rate // 16000,)
    assert peak_hz(out, to_rate) == pytest.approx(1000, abs=to_rate / len(out))  # within one FFT bin
    middle = out[len(out) // 4 : -len(out) // 4]  # away from the filter's edge effects
    expected = np.sin(2 * np.pi * 1000 * np.arange(len(out)) / to_rate)[len(out) // 4 : -len(out) // 4]
    np.testing.assert_allclose(middle, expected, atol=1e-2)


def test_resampling_is_band_limited_and_keeps_channels():
    n = 3200
    tone = np.sin(2 * np.pi * 6000 * np.arange(n) / 16000)  # above 8 kHz's Nyquist frequency (4 kHz)
    out = audio.resample(np.stack([tone, tone], axis=1), 16000, 8000)
    assert out.shape == (1600, 2)
    assert np.sqrt(np.mean(out[400:-400] ** 2)) < 0.01 * np.sqrt(np.mean(tone**2))  # at least 40 dB down
    same = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(audio.resample(same, 16000, 16000), same)
