"""Binary piano rolls: Boulanger-Lewandowski's MATLAB files, MIDI files and folders in, MIDI out.

A roll is ``uint8 [T, keys]`` of 0/1: row ``t`` is a frame, column ``k`` is MIDI pitch
``lowest_pitch + k`` (by default the 88 piano keys, ``21 + k`` = A0 .. C8), 1 where the key sounds.
Readers return :class:`Pieces` (rolls and where each came from); errors are one line naming the
file, and the key or piece where there is one.

* :func:`read_mat`: the ``.mat`` files of Boulanger-Lewandowski, Bengio & Vincent (2012) (JSB
  Chorales, Nottingham, MuseData, Piano-midi.de): ``traindata``, ``validdata`` and ``testdata``,
  each a ``1 x N`` cell array of ``[T_i, 88]`` binary matrices; the file's own split.
* :func:`read_midi`: one MIDI file on a grid of ``frames_per_beat`` frames a quarter note (the
  beat is always a quarter note, whatever the time signature: 2 gives eighth-note frames in 4/4,
  2/2 and 6/8 alike), following tempo changes. Frame ``j`` covers quarter-note positions
  ``[j / fpb, (j + 1) / fpb)``; its time is that of its midpoint on the file's tempo map. A note
  sounds in frame ``j`` iff ``start <= t_mid(j) < end``. Drum tracks are ignored; notes outside
  the keys are dropped and counted; a file with no note on the keys is an empty piece. The roll
  has ``round(end / frame)`` frames for the file's end time (its last event): exactly the frames
  whose midpoint comes before the end.
* :func:`read_midi_folder`: every ``*.mid`` / ``*.midi`` under a folder, sorted by path.
* :func:`write_midi`: a roll at a constant tempo, one note per maximal run of 1s on a key, and a
  control change (CC 123, all notes off) at the roll's end so that trailing silent frames count in
  the file's end time: :func:`read_midi` at the same ``frames_per_beat`` gives the roll back.

scipy and pretty_midi are optional (``pip install 'rnn_research[music]'``) and imported on use.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rnn_research.io import atomic_path, first_line, optional_import, require_file

KEYS = 88  # columns of a roll
LOWEST_PITCH = 21  # column k is MIDI pitch 21 + k (A0 .. C8)
MAT_SPLITS = {"train": "traindata", "valid": "validdata", "test": "testdata"}
MIDI_SUFFIXES = (".mid", ".midi")
ALL_NOTES_OFF = 123  # the control change write_midi puts at a roll's end
TICKS_PER_BEAT = 960  # write_midi's ticks a quarter note, rounded down to a multiple of frames_per_beat


class Pieces(NamedTuple):
    """Piano rolls (``uint8 [T_i, keys]``, 0/1) and where each came from (``file:key[i]`` or a path)."""

    rolls: list[np.ndarray]
    names: list[str]


def _check_grid(frames_per_beat: int, lowest_pitch: int, keys: int) -> None:
    if isinstance(frames_per_beat, bool) or not isinstance(frames_per_beat, int | np.integer) or frames_per_beat < 1:
        raise ValueError(f"frames_per_beat={frames_per_beat!r} must be a positive integer")
    if not 1 <= keys or not 0 <= lowest_pitch or lowest_pitch + keys > 128:
        raise ValueError(f"lowest_pitch={lowest_pitch}, keys={keys}: the keys must lie in MIDI pitches 0 .. 127")


# ---------------------------------------------------------------------------------- .mat
def read_mat(path: str | Path, *, keys: int = KEYS) -> dict[str, Pieces]:
    """``{"train", "valid", "test"}`` of a Boulanger-Lewandowski ``.mat`` file; rolls ``uint8 [T_i, keys]``.

    Names read ``"<file name>:testdata[3]"``. Every piece must be 2-D, ``keys`` wide, 0/1 and at
    least one frame long.
    """
    path = Path(path)
    require_file(path, key="")
    sio = optional_import("scipy.io", "reading .mat piano rolls", "music")
    try:
        mat = sio.loadmat(str(path))
    except Exception as e:  # scipy raises ValueError, TypeError, NotImplementedError (v7.3), ...
        raise ValueError(f"{path}: not a readable MATLAB .mat file ({first_line(e)})") from None
    missing = [k for k in MAT_SPLITS.values() if k not in mat]
    if missing:
        have = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path}: no {', '.join(missing)} (the file has {have}); expected {list(MAT_SPLITS.values())}")
    out = {}
    for split, key in MAT_SPLITS.items():
        cells = mat[key]
        if not isinstance(cells, np.ndarray) or cells.dtype != object:
            raise ValueError(
                f"{path}: {key} is a {getattr(cells, 'dtype', type(cells).__name__)} array of shape "
                f"{getattr(cells, 'shape', '?')}, expected a 1 x N cell array of [T, {keys}] rolls"
            )
        if cells.size == 0:
            raise ValueError(f"{path}: {key} holds no pieces")
        rolls, names = [], []
        for i, m in enumerate(cells.ravel()):
            where = f"{key}[{i}]"
            m = np.asarray(m)
            if m.ndim != 2 or m.shape[1] != keys:
                raise ValueError(
                    f"{path}: {where} has shape {m.shape}, expected [T, {keys}] "
                    f"(column k = MIDI pitch {LOWEST_PITCH} + k)"
                )
            if m.shape[0] == 0:
                raise ValueError(f"{path}: {where} is an empty piece (0 frames)")
            if m.dtype.kind not in "biuf":
                raise ValueError(f"{path}: {where} is a {m.dtype} array, expected 0/1 numbers")
            binary = (m == 0) | (m == 1)
            if not binary.all():
                bad = np.unique(m[~binary])[:3].tolist()
                raise ValueError(f"{path}: {where} has values other than 0 and 1 (e.g. {bad})")
            rolls.append(m.astype(np.uint8))
            names.append(f"{path.name}:{where}")
        out[split] = Pieces(rolls, names)
    return out


# ---------------------------------------------------------------------------------- MIDI in
def _tempo_map(pm: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times [C], quarters [C], seconds per quarter [C])`` at each tempo change of ``pm``: the
    piecewise-linear map between seconds and quarter notes (the time signature plays no part)."""
    times, qpm = (np.asarray(x, dtype=np.float64) for x in pm.get_tempo_changes())
    if not len(times) or times[0] > 0:  # MIDI's default tempo until the first change
        times, qpm = np.concatenate([[0.0], times]), np.concatenate([[120.0], qpm])
    per_quarter = 60.0 / qpm
    quarters = np.concatenate([[0.0], np.cumsum(np.diff(times) / per_quarter[:-1])])
    return times, quarters, per_quarter


def _quarter_to_time(grid: tuple[np.ndarray, np.ndarray, np.ndarray], positions: np.ndarray) -> np.ndarray:
    """Seconds at quarter-note ``positions`` (``float [n]``, >= 0) of a :func:`_tempo_map`."""
    times, quarters, per_quarter = grid
    i = np.searchsorted(quarters, positions, side="right") - 1
    return times[i] + (positions - quarters[i]) * per_quarter[i]


def _time_to_quarter(grid: tuple[np.ndarray, np.ndarray, np.ndarray], seconds: float) -> float:
    """The quarter-note position of a time: the inverse of :func:`_quarter_to_time`."""
    times, quarters, per_quarter = grid
    i = int(np.searchsorted(times, seconds, side="right")) - 1
    return float(quarters[i] + (seconds - times[i]) / per_quarter[i])


def read_midi(
    path: str | Path, *, frames_per_beat: int, lowest_pitch: int = LOWEST_PITCH, keys: int = KEYS
) -> tuple[np.ndarray, int]:
    """The roll of a MIDI file (``uint8 [T, keys]``) and how many notes fell outside the keys.

    ``T`` is the file's end time in frames, rounded; see the module docstring for the grid.
    """
    path = Path(path)
    _check_grid(frames_per_beat, lowest_pitch, keys)
    require_file(path, key="")
    pretty_midi = optional_import("pretty_midi", "reading MIDI files", "music")
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as e:  # mido and pretty_midi raise OSError, EOFError, KeyError, ValueError, ...
        raise ValueError(f"{path}: not a readable MIDI file ({first_line(e)})") from None
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    grid = _tempo_map(pm)
    end = _time_to_quarter(grid, pm.get_end_time()) * frames_per_beat
    n_frames = math.floor(end + 0.5)  # a written file's end is a whole number of frames, give or take 1e-12
    if not notes or n_frames <= 0:
        raise ValueError(f"{path}: empty piece (no notes outside drum tracks)")
    mids = _quarter_to_time(grid, (np.arange(n_frames) + 0.5) / frames_per_beat)
    roll = np.zeros((n_frames, keys), np.uint8)
    dropped = 0
    for note in notes:
        k = note.pitch - lowest_pitch
        if not 0 <= k < keys:
            dropped += 1
            continue
        first, stop = np.searchsorted(mids, [note.start, note.end], side="left")
        roll[first:stop, k] = 1
    if not roll.any():
        raise ValueError(f"{path}: empty piece (no notes on the {keys} keys; {dropped} outside them)")
    return roll, dropped


def read_midi_folder(
    folder: str | Path, *, frames_per_beat: int, lowest_pitch: int = LOWEST_PITCH, keys: int = KEYS
) -> tuple[Pieces, int]:
    """The rolls of every ``*.mid`` / ``*.midi`` file under ``folder`` (recursively, sorted by path),
    named by their path relative to ``folder``, and the total of notes dropped outside the keys."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: is a file, not a folder" if folder.exists() else f"no such folder: {folder}"
        )
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"{folder}: no MIDI files (*.mid, *.midi) in the folder or below")
    rolls, names, dropped = [], [], 0
    for file in files:
        roll, lost = read_midi(file, frames_per_beat=frames_per_beat, lowest_pitch=lowest_pitch, keys=keys)
        rolls.append(roll)
        names.append(file.relative_to(folder).as_posix())
        dropped += lost
    return Pieces(rolls, names), dropped


# ---------------------------------------------------------------------------------- MIDI out
def write_midi(
    roll: np.ndarray,
    path: str | Path,
    *,
    frames_per_beat: int,
    bpm: float = 120.0,
    lowest_pitch: int = LOWEST_PITCH,
    velocity: int = 80,
    program: int = 0,
) -> Path:
    """Writes ``roll`` (``uint8``/``bool [T, keys]``, 0/1) as a one-track MIDI file; returns ``path``.

    A frame lasts ``60 / bpm / frames_per_beat`` seconds; each maximal run of 1s on a key is one
    note; a CC 123 at ``T`` frames makes the file end where the roll ends. Written atomically,
    parent folders created.
    """
    path = Path(path)
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] < 1:
        raise ValueError(f"roll has shape {roll.shape}, expected [T, keys] (column k = MIDI pitch lowest_pitch + k)")
    _check_grid(frames_per_beat, lowest_pitch, roll.shape[1])
    if roll.dtype.kind not in "biuf" or not ((roll == 0) | (roll == 1)).all():
        raise ValueError(f"roll ({roll.dtype}, shape {roll.shape}) has values other than 0 and 1")
    if not (math.isfinite(bpm) and bpm > 0):
        raise ValueError(f"bpm={bpm!r} must be a positive number")
    if not 1 <= velocity <= 127 or not 0 <= program <= 127:
        raise ValueError(f"velocity={velocity} must be in 1 .. 127 and program={program} in 0 .. 127")
    pretty_midi = optional_import("pretty_midi", "writing MIDI files", "music")
    ticks_per_frame = max(1, TICKS_PER_BEAT // frames_per_beat)
    if ticks_per_frame * frames_per_beat > 32767:
        raise ValueError(f"frames_per_beat={frames_per_beat} is too fine for MIDI (at most 32767 ticks a beat)")
    pm = pretty_midi.PrettyMIDI(resolution=ticks_per_frame * frames_per_beat, initial_tempo=float(bpm))
    inst = pretty_midi.Instrument(program=int(program))
    frame = 60.0 / bpm / frames_per_beat
    on = np.pad(roll.astype(bool), ((1, 1), (0, 0))).T  # [keys, T + 2], silent before and after
    keys, starts = np.nonzero(on[:, 1:] & ~on[:, :-1])  # first frame of each run, by key then time
    _, stops = np.nonzero(~on[:, 1:] & on[:, :-1])  # the frame after each run, in the same order
    for k, start, stop in zip(keys, starts, stops):
        note = pretty_midi.Note(int(velocity), int(lowest_pitch + k), start * frame, stop * frame)
        inst.notes.append(note)
    inst.control_changes.append(pretty_midi.ControlChange(ALL_NOTES_OFF, 0, len(roll) * frame))
    pm.instruments.append(inst)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pm.write(str(tmp))
    return path
