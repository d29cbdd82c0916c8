"""Audio files in and out: a WAV reader of our own, other formats through soundfile, resampling.

A signal is ``float32 [N]`` (mono) or ``float32 [N, C]`` (``C`` channels), ``N`` samples at a
sample rate in Hz, scaled to ``[-1, 1)``. Errors on bad input are one line naming the file, raised
as :class:`AudioError` (a ``ValueError``).

* :func:`read_wav`: a RIFF/WAVE file, parsed here (the stdlib ``wave`` module reads neither float
  nor extensible files). The chunks are walked in order (``fmt `` and ``data`` kept, the rest
  skipped, each odd-sized chunk followed by one pad byte). Encodings: format tag 1 (PCM: 8-bit
  unsigned, 16/24/32-bit signed little-endian), 3 (IEEE float, 32/64-bit) and ``0xFFFE``
  (``WAVE_FORMAT_EXTENSIBLE`` whose sub-format GUID is PCM or float). A ``b``-bit PCM sample ``x``
  reads ``x / 2**(b-1)``; an 8-bit one ``(x - 128) / 128``; float samples as they are. (32-bit
  codes are rounded to float32's 24-bit mantissa, the top ones up to 1.0, as soundfile does.)
* :func:`read_audio`: any file as mono ``[N]``: WAV by :func:`read_wav`, other suffixes (``.flac``,
  ``.ogg``, ...) through soundfile; the channels mixed down by their mean
  ``y[n] = (1/C) sum_c x[n, c]``; resampled when a ``sample_rate`` is asked for.
* :func:`resample`: band-limited polyphase resampling (``scipy.signal.resample_poly``) by
  ``up / down = to_rate / from_rate`` reduced by their gcd: ``N`` samples become ``ceil(N up / down)``.
* :func:`write_wav`: PCM (8/16/24/32-bit), clipped to ``[-1, 1]``, ``x`` quantised to
  ``round(x 2**(b-1))`` (the top code for ``x = 1``), written atomically: :func:`read_wav` gives the
  samples back within one quantisation step ``2**(1-b)`` (for 32-bit, within float32's rounding, ``2**-24``).

scipy and soundfile are optional (``pip install 'rnn_research[speech]'``) and imported on use.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from rnn_research.io import atomic_write_bytes, first_line, optional_import, require_file

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE  # WAV format tags
GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_* after the tag
BITS = {PCM: (8, 16, 24, 32), FLOAT: (32, 64)}
TAG_NAMES = {2: "MS ADPCM", 6: "A-law", 7: "mu-law", 0x11: "IMA ADPCM", 0x31: "GSM 6.10", 0x55: "MPEG layer 3"}
STREAMING = 0xFFFFFFFF  # a data size written by a streaming writer that did not know the length: to the end
WAV_SUFFIXES = (".wav", ".wave")


class AudioError(ValueError):
    """A one-line error about an audio file (naming it) or an audio argument."""


def _check_rate(name: str, rate: Any) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate < 1:
        raise AudioError(f"{name}={rate!r} must be a positive integer (Hz)")
    return int(rate)


# ---------------------------------------------------------------------------------- WAV in
def _chunks(path: Path, raw: bytes) -> dict[bytes, bytes]:
    """The ``fmt `` and ``data`` chunk bodies of a RIFF/WAVE file's bytes (the first of each)."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        kind = {b"RIFX": " (big-endian RIFX is not supported)", b"RF64": " (RF64 is not supported)"}.get(raw[:4], "")
        raise AudioError(f"{path}: not a WAV file (starts with {raw[:12]!r}){kind}")
    found: dict[bytes, bytes] = {}
    offset = 12
    while offset + 8 <= len(raw) and not (b"fmt " in found and b"data" in found):
        name, size = raw[offset : offset + 4], struct.unpack_from("<I", raw, offset + 4)[0]
        start, end = offset + 8, offset + 8 + size
        if name == b"data" and size == STREAMING:
            end = len(raw)
        if end > len(raw) and name in (b"fmt ", b"data"):
            raise AudioError(
                f"{path}: truncated {name.decode().strip()} chunk (says {size} bytes, the file has {len(raw) - start})"
            )
        if name in (b"fmt ", b"data") and name not in found:
            found[name] = raw[start:end]
        offset = end + (size & 1)  # a pad byte after an odd-sized chunk
    for name in (b"fmt ", b"data"):
        if name not in found:
            raise AudioError(f"{path}: no {name.decode().strip()} chunk")
    return found


def _format(path: Path, fmt: bytes) -> tuple[int, int, int, int]:
    """``(tag, channels, sample rate, bits)`` of a ``fmt `` chunk; an extensible tag is replaced by
    its sub-format's tag."""
    if len(fmt) < 16:
        raise AudioError(f"{path}: fmt chunk is {len(fmt)} bytes, expected at least 16")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == EXTENSIBLE:
        if len(fmt) < 40:
            raise AudioError(f"{path}: extensible fmt chunk is {len(fmt)} bytes, expected 40")
        sub, tail = struct.unpack_from("<H", fmt, 24)[0], fmt[26:40]
        if tail != GUID_TAIL or sub not in BITS:
            raise AudioError(f"{path}: unsupported extensible sub-format {fmt[24:40].hex()} (PCM and float only)")
        tag = sub
    if tag not in BITS:
        name = TAG_NAMES.get(tag, "unknown")
        raise AudioError(f"{path}: unsupported encoding: format tag {tag:#x} ({name}); PCM and IEEE float only")
    if channels == 0:
        raise AudioError(f"{path}: zero channels")
    if rate == 0:
        raise AudioError(f"{path}: zero sample rate")
    if bits not in BITS[tag]:
        kind = "PCM" if tag == PCM else "float"
        raise AudioError(f"{path}: unsupported bit depth: {bits}-bit {kind} (supported: {BITS[tag]})")
    if block_align not in (0, channels * bits // 8):
        raise AudioError(f"{path}: block align {block_align} is not {channels} channels x {bits // 8} bytes")
    return tag, channels, rate, bits


def _decode(data: bytes, tag: int, bits: int) -> np.ndarray:
    """``float32 [n]`` samples of raw little-endian ``data`` (a whole number of samples)."""
    if tag == FLOAT:
        return np.frombuffer(data, "<f4" if bits == 32 else "<f8").astype(np.float32)
    if bits == 8:
        return (np.frombuffer(data, np.uint8).astype(np.float32) - 128) * np.float32(1 / 128)
    if bits == 24:
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] << 8 | b[:, 1] << 16 | b[:, 2] << 24) >> 8  # sign-extended from the top byte
    else:
        ints = np.frombuffer(data, "<i2" if bits == 16 else "<i4")
    return ints.astype(np.float32) * np.float32(2.0 ** (1 - bits))  # a power of two: exact


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """``(samples float32 [N, C], sample rate)`` of a RIFF/WAVE file, PCM scaled to ``[-1, 1)``.

    PCM 8 (unsigned), 16, 24 and 32-bit, IEEE float 32 and 64-bit, plain or extensible. Anything
    else, a missing or truncated chunk, zero channels or rate, no samples or non-finite ones is a
    one-line :class:`AudioError` naming the file.
    """
    path = Path(path)
    require_file(path, key="")
    chunks = _chunks(path, path.read_bytes())
    tag, channels, rate, bits = _format(path, chunks[b"fmt "])
    data, frame = chunks[b"data"], channels * bits // 8
    if len(data) % frame:
        raise AudioError(f"{path}: truncated data ({len(data)} bytes is not a whole number of {frame}-byte frames)")
    if not data:
        raise AudioError(f"{path}: empty audio (no samples)")
    samples = _decode(data, tag, bits).reshape(-1, channels)
    if tag == FLOAT and not np.isfinite(samples).all():
        raise AudioError(f"{path}: {int((~np.isfinite(samples)).sum())} non-finite samples")
    return samples, rate


# ---------------------------------------------------------------------------------- any file in
def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """``samples`` (``[N]`` or ``[N, C]``) at ``from_rate`` Hz resampled to ``to_rate`` Hz: ``float32
    [ceil(N to / from)]`` (or ``[.., C]``), band-limited polyphase filtering along time; the same
    samples when the rates are equal."""
    from_rate, to_rate = _check_rate("from_rate", from_rate), _check_rate("to_rate", to_rate)
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim not in (1, 2) or not samples.shape[0]:
        raise AudioError(f"resample: expected samples [N] or [N, C] with N > 0, got shape {samples.shape}")
    if from_rate == to_rate:
        return samples
    signal = optional_import("scipy.signal", "resampling audio", "speech", AudioError)
    g = math.gcd(from_rate, to_rate)
    return signal.resample_poly(samples, to_rate // g, from_rate // g, axis=0).astype(np.float32)


def _read_other(path: Path) -> tuple[np.ndarray, int]:
    """``(float32 [N, C], rate)`` of a non-WAV file read by soundfile."""
    soundfile = optional_import("soundfile", f"reading {path.suffix or 'non-WAV'} audio", "speech", AudioError)
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError, ...
        raise AudioError(f"{path}: not a readable audio file ({first_line(e)})") from None
    return samples, int(rate)


def read_audio(path: str | Path, sample_rate: int | None = None) -> np.ndarray:
    """Mono ``float32 [N]`` of an audio file, channels averaged, resampled to ``sample_rate`` Hz
    when given (else at the file's own rate). ``.wav`` files by :func:`read_wav`, others through
    soundfile; a file that cannot be read, or one with no samples, is a one-line :class:`AudioError`."""
    path = Path(path)
    if sample_rate is not None:
        sample_rate = _check_rate("sample_rate", sample_rate)
    require_file(path, key="")
    samples, rate = read_wav(path) if path.suffix.lower() in WAV_SUFFIXES else _read_other(path)
    if not samples.size:
        raise AudioError(f"{path}: empty audio (no samples)")
    mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    return resample(mono, rate, sample_rate) if sample_rate is not None else mono


# ---------------------------------------------------------------------------------- WAV out
def _quantise(samples: np.ndarray, bits: int) -> bytes:
    """Little-endian PCM bytes of ``samples`` in ``[-1, 1]`` (any shape, C order)."""
    top = 2 ** (bits - 1)
    ints = np.clip(np.rint(samples.astype(np.float64) * top), -top, top - 1).astype(np.int64)
    if bits == 8:
        return (ints + 128).astype(np.uint8).tobytes()
    if bits == 24:
        return np.ascontiguousarray(ints.astype("<i4").reshape(-1, 1).view(np.uint8)[:, :3]).tobytes()
    return ints.astype("<i2" if bits == 16 else "<i4").tobytes()


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int, bits: int = 16) -> Path:
    """Writes ``samples`` (``[N]`` mono or ``[N, C]``, clipped to ``[-1, 1]``) to ``path`` as
    ``bits``-bit PCM at ``sample_rate`` Hz, atomically; returns ``path``."""
    path = Path(path)
    sample_rate = _check_rate("sample_rate", sample_rate)
    if bits not in BITS[PCM]:
        raise AudioError(f"{path}: bits={bits!r}, expected one of {BITS[PCM]}")
    samples = np.asarray(samples)
    if samples.ndim not in (1, 2) or 0 in samples.shape or samples.dtype.kind not in "biuf":
        raise AudioError(
            f"{path}: expected numeric samples [N] or [N, C], not empty, got {samples.dtype} {samples.shape}"
        )
    if not np.isfinite(samples).all():
        raise AudioError(f"{path}: {int((~np.isfinite(samples)).sum())} non-finite samples to write")
    frames = samples.reshape(samples.shape[0], -1)
    channels = frames.shape[1]
    data = _quantise(np.clip(frames, -1.0, 1.0), bits)
    if len(data) > 0xFFFFFFFF - 36:
        raise AudioError(f"{path}: {len(data)} bytes of audio do not fit a WAV file (4 GiB at most)")
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", PCM, channels, sample_rate, sample_rate * align, align, bits)
    header = b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data) + (len(data) & 1)) + b"WAVE"
    body = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    atomic_write_bytes(path, header + body + b"\x00" * (len(data) & 1))
    return path
