"""Piano rolls: Boulanger-Lewandowski .mat files, MIDI in on a tempo-aware beat grid, MIDI out, round trips."""

import re
import sys

import numpy as np
import pytest

from experiments.music import rolls
from experiments.music.rolls import KEYS, Pieces
from tests.errors import one_line_error
from tests.paths import SHARED_DATA

POLYPHONIC = SHARED_DATA / "polyphonic"


def random_roll(rng: np.random.Generator, frames: int, lead: int = 2, trail: int = 3) -> np.ndarray:
    roll = (rng.random((frames, KEYS)) < 0.1).astype(np.uint8)
    roll[:lead] = 0
    roll[frames - trail :] = 0
    return roll


def save_mat(path, **splits):
    """A .mat file laid out like the real ones: each key a 1 x N object array of matrices."""
    scipy_io = pytest.importorskip("scipy.io")
    cells = {}
    for key, matrices in splits.items():
        cells[key] = np.empty((1, len(matrices)), dtype=object)
        for i, m in enumerate(matrices):
            cells[key][0, i] = m
    scipy_io.savemat(str(path), cells)
    return path


def good_splits(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    return {
        "traindata": [random_roll(rng, 7), random_roll(rng, 5)],
        "validdata": [random_roll(rng, 6)],
        "testdata": [random_roll(rng, 4), random_roll(rng, 9), random_roll(rng, 3, 1, 1)],
    }


# ---------------------------------------------------------------------------------- .mat
def test_read_mat_reads_the_splits_and_names_the_pieces(tmp_path):
    splits = good_splits(np.random.default_rng(0))
    path = save_mat(tmp_path / "tiny.mat", **splits)
    got = rolls.read_mat(path)
    assert list(got) == ["train", "valid", "test"]
    for split, key in rolls.MAT_SPLITS.items():
        assert isinstance(got[split], Pieces)
        assert got[split].names == [f"tiny.mat:{key}[{i}]" for i in range(len(splits[key]))]
        for roll, want in zip(got[split].rolls, splits[key], strict=True):
            assert roll.dtype == np.uint8 and roll.shape == want.shape
            np.testing.assert_array_equal(roll, want)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"testdata": None},
            r"bad\.mat: no testdata \(the file has \['traindata', 'validdata'\]\)",
        ),
        (
            {"testdata": [np.zeros((4, 88)), np.zeros((4, 88)), np.zeros((4, 88)), np.zeros((52, 87))]},
            re.escape("bad.mat: testdata[3] has shape (52, 87), expected [T, 88] (column k = MIDI pitch 21 + k)"),
        ),
        ({"validdata": [np.zeros((2, 3, 88))]}, r"bad\.mat: validdata\[0\] has shape \(2, 3, 88\), expected"),
        ({"traindata": [np.zeros((3, 88)), np.full((3, 88), 2.0)]}, r"bad\.mat: traindata\[1\] has values other"),
        ({"validdata": [np.zeros((0, 88), np.uint8)]}, r"bad\.mat: validdata\[0\] is an empty piece \(0 frames\)"),
    ],
)
def test_read_mat_bad_contents_are_one_line_errors_naming_file_and_entry(tmp_path, change, match):
    splits = good_splits(np.random.default_rng(1))
    for key, value in change.items():
        if value is None:
            del splits[key]
        else:
            splits[key] = value
    path = save_mat(tmp_path / "bad.mat", **splits)
    with one_line_error(ValueError, match):
        rolls.read_mat(path)


def test_read_mat_unreadable_files_are_one_line_errors(tmp_path):
    pytest.importorskip("scipy")
    with one_line_error(FileNotFoundError, r"no such file: .*missing\.mat$"):
        rolls.read_mat(tmp_path / "missing.mat")
    (tmp_path / "text.mat").write_text("this is not a MATLAB file\nat all\n")
    with one_line_error(ValueError, r"text\.mat: not a readable MATLAB \.mat file \("):
        rolls.read_mat(tmp_path / "text.mat")


def test_read_mat_on_the_real_jsb_chorales():
    path = POLYPHONIC / "JSB_Chorales.mat"
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    got = rolls.read_mat(path)
    assert [len(got[k].rolls) for k in ("train", "valid", "test")] == [229, 76, 77]
    assert sum(len(r) for r in got["train"].rolls) == 13_807
    assert got["test"].names[3] == "JSB_Chorales.mat:testdata[3]"
    assert all(r.dtype == np.uint8 and r.shape[1] == KEYS for part in got.values() for r in part.rolls)


# ---------------------------------------------------------------------------------- MIDI round trips
@pytest.mark.parametrize("frames_per_beat", [1, 2, 4])
@pytest.mark.parametrize("bpm", [60.0, 97.0, 120.0])
def test_write_then_read_midi_gives_the_roll_back(tmp_path, frames_per_beat, bpm):
    pytest.importorskip("pretty_midi")
    rng = np.random.default_rng(frames_per_beat * 1000 + int(bpm))
    roll = random_roll(rng, 40, lead=3, trail=5)
    path = rolls.write_midi(roll, tmp_path / "sub" / "dir" / "x.mid", frames_per_beat=frames_per_beat, bpm=bpm)
    assert path == tmp_path / "sub" / "dir" / "x.mid" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["x.mid"]  # no temporary file left behind
    back, dropped = rolls.read_midi(path, frames_per_beat=frames_per_beat)
    assert dropped == 0 and back.dtype == np.uint8
    np.testing.assert_array_equal(back, roll)


@pytest.mark.parametrize(
    "roll",
    [
        np.eye(1, KEYS, 0, dtype=np.uint8),  # one frame, lowest key
        np.eye(1, KEYS, KEYS - 1, dtype=bool).repeat(5, axis=0),  # one long note on the top key
        np.array([[1], [0], [1], [1], [0], [0]], np.uint8) * np.eye(1, KEYS, 40, dtype=np.uint8),  # re-struck
        np.pad(np.ones((1, KEYS), np.uint8), ((6, 9), (0, 0))),  # a full chord amid silence
    ],
    ids=["single-frame", "held-top-key", "re-struck", "chord-in-silence"],
)
def test_hand_made_rolls_round_trip(tmp_path, roll):
    pytest.importorskip("pretty_midi")
    path = rolls.write_midi(roll, tmp_path / "h.mid", frames_per_beat=4, bpm=133.0)
    np.testing.assert_array_equal(rolls.read_midi(path, frames_per_beat=4)[0], roll.astype(np.uint8))


def test_a_real_chorale_round_trips(tmp_path):
    path = POLYPHONIC / "JSB_Chorales.mat"
    if not path.is_file():
        pytest.skip(f"{path} is not there")
    pytest.importorskip("pretty_midi")
    roll = rolls.read_mat(path)["test"].rolls[0]
    out = rolls.write_midi(roll, tmp_path / "chorale.mid", frames_per_beat=2)
    np.testing.assert_array_equal(rolls.read_midi(out, frames_per_beat=2)[0], roll)


# ---------------------------------------------------------------------------------- MIDI in
def test_the_grid_follows_tempo_changes(tmp_path):
    """120 bpm for 4 beats (2 s), then 60 bpm: a note on beats 6..7 (4 s .. 5 s) is frames 12..13 at 2 a beat."""
    mido = pytest.importorskip("mido")
    pytest.importorskip("pretty_midi")
    tpb = 480
    track = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=500_000, time=0),
            mido.Message("note_on", note=60, velocity=90, time=tpb),  # beat 1 .. 2 at 120 bpm
            mido.Message("note_off", note=60, velocity=0, time=tpb),
            mido.MetaMessage("set_tempo", tempo=1_000_000, time=2 * tpb),  # beat 4
            mido.Message("note_on", note=64, velocity=90, time=2 * tpb),  # beat 6 .. 7 at 60 bpm
            mido.Message("note_off", note=64, velocity=0, time=tpb),
            mido.MetaMessage("end_of_track", time=0),
        ]
    )
    path = tmp_path / "tempo.mid"
    mido.MidiFile(type=0, ticks_per_beat=tpb, tracks=[track]).save(str(path))
    roll, dropped = rolls.read_midi(path, frames_per_beat=2)
    assert dropped == 0 and roll.shape == (14, KEYS)  # the file ends on beat 7
    on = {(int(t), int(k) + rolls.LOWEST_PITCH) for t, k in zip(*np.nonzero(roll))}
    assert on == {(2, 60), (3, 60), (12, 64), (13, 64)}


@pytest.mark.parametrize("meter", [(4, 4), (2, 2), (6, 8), (3, 8)])
def test_the_beat_is_a_quarter_note_in_every_meter(tmp_path, meter):
    """Eight eighth notes of alternating pitches at 120 qpm read as eight frames at 2 a beat,
    whatever the time signature says the beat is."""
    pretty_midi = pytest.importorskip("pretty_midi")
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
    piano = pretty_midi.Instrument(0)
    for i in range(8):  # an eighth note lasts 0.25 s at 120 quarter notes a minute
        piano.notes.append(pretty_midi.Note(90, 60 + 2 * (i % 2), 0.25 * i, 0.25 * (i + 1)))
    pm.instruments.append(piano)
    pm.write(str(tmp_path / "meter.mid"))
    roll, _ = rolls.read_midi(tmp_path / "meter.mid", frames_per_beat=2)
    assert roll.shape == (8, KEYS)
    assert [int(np.flatnonzero(frame)[0]) + rolls.LOWEST_PITCH for frame in roll] == [60, 62] * 4


def test_notes_all_outside_the_keys_are_an_empty_piece(tmp_path):
    pretty_midi = pytest.importorskip("pretty_midi")
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(0)
    piano.notes.append(pretty_midi.Note(90, 10, 0.0, 1.0))  # below A0
    pm.instruments.append(piano)
    pm.write(str(tmp_path / "low.mid"))
    with pytest.raises(ValueError, match=r"low.mid: empty piece \(no notes on the 88 keys; 1 outside them\)"):
        rolls.read_midi(tmp_path / "low.mid", frames_per_beat=2)


def test_drums_are_ignored_and_notes_outside_the_keys_dropped(tmp_path):
    pretty_midi = pytest.importorskip("pretty_midi")
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano, drums = pretty_midi.Instrument(0), pretty_midi.Instrument(0, is_drum=True)
    piano.notes += [pretty_midi.Note(80, p, 0.0, 1.0) for p in (10, 60, 120)]
    drums.notes.append(pretty_midi.Note(80, 36, 0.0, 2.0))  # 2 s: the file is 4 beats long
    pm.instruments += [piano, drums]
    pm.write(str(tmp_path / "mixed.mid"))
    roll, dropped = rolls.read_midi(tmp_path / "mixed.mid", frames_per_beat=1)
    assert dropped == 2 and roll.shape == (4, KEYS)
    assert roll[:, 60 - 21].tolist() == [1, 1, 0, 0] and roll.sum() == 2

    pm.instruments.remove(piano)
    pm.write(str(tmp_path / "drums.mid"))
    with one_line_error(ValueError, r"drums\.mid: empty piece \(no notes outside drum tracks\)"):
        rolls.read_midi(tmp_path / "drums.mid", frames_per_beat=4)


def test_unreadable_midi_is_a_one_line_error(tmp_path):
    pytest.importorskip("pretty_midi")
    (tmp_path / "junk.mid").write_bytes(b"RIFF\x00\x01 definitely not MIDI\n\nmore lines\n")
    with one_line_error(ValueError, r"junk\.mid: not a readable MIDI file \("):
        rolls.read_midi(tmp_path / "junk.mid", frames_per_beat=4)
    with one_line_error(FileNotFoundError, r"no such file: .*gone\.mid$"):
        rolls.read_midi(tmp_path / "gone.mid", frames_per_beat=4)


def test_read_midi_folder_sorts_recursively_and_sums_the_dropped_notes(tmp_path):
    pytest.importorskip("pretty_midi")
    rng = np.random.default_rng(7)
    made = {"b.MID": random_roll(rng, 6), "a/z.midi": random_roll(rng, 8), "a/c.mid": random_roll(rng, 5, 1, 1)}
    for name, roll in made.items():
        rolls.write_midi(roll, tmp_path / name, frames_per_beat=2)
    (tmp_path / "notes.txt").write_text("not a MIDI file")
    pieces, dropped = rolls.read_midi_folder(tmp_path, frames_per_beat=2)
    assert pieces.names == ["a/c.mid", "a/z.midi", "b.MID"] and dropped == 0
    for name, roll in zip(pieces.names, pieces.rolls, strict=True):
        np.testing.assert_array_equal(roll, made[name])
    # A narrower keyboard, pitches 31 .. 98: runs on pitches 21 and 108 are dropped, one note each.
    edge = np.zeros((6, KEYS), np.uint8)
    edge[1:3, 0] = edge[4:6, 0] = edge[0:6, 87] = edge[2:4, 40] = 1
    rolls.write_midi(edge, tmp_path / "edge" / "edge.mid", frames_per_beat=2)
    pieces, dropped = rolls.read_midi_folder(tmp_path / "edge", frames_per_beat=2, lowest_pitch=31, keys=68)
    assert pieces.names == ["edge.mid"] and pieces.rolls[0].shape == (6, 68) and dropped == 3
    assert pieces.rolls[0][:, 40 - 10].tolist() == [0, 0, 1, 1, 0, 0] and pieces.rolls[0].sum() == 2


def test_read_midi_folder_errors(tmp_path):
    with one_line_error(FileNotFoundError, r"no such folder: .*nowhere$"):
        rolls.read_midi_folder(tmp_path / "nowhere", frames_per_beat=4)
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("no music here")
    with one_line_error(ValueError, r"empty: no MIDI files \(\*\.mid, \*\.midi\)"):
        rolls.read_midi_folder(tmp_path / "empty", frames_per_beat=4)


# ---------------------------------------------------------------------------------- MIDI out
@pytest.mark.parametrize(
    ("roll", "kwargs", "match"),
    [
        (np.zeros(KEYS, np.uint8), {}, r"roll has shape \(88,\), expected \[T, keys\]"),
        (np.zeros((4, 120), np.uint8), {}, r"lowest_pitch=21, keys=120: the keys must lie in MIDI pitches"),
        (np.full((4, KEYS), 3, np.uint8), {}, r"roll \(uint8, shape \(4, 88\)\) has values other than 0 and 1"),
        (np.ones((4, KEYS), np.uint8), {"frames_per_beat": 0}, r"frames_per_beat=0 must be a positive integer"),
        (np.ones((4, KEYS), np.uint8), {"bpm": 0.0}, r"bpm=0\.0 must be a positive number"),
        (np.ones((4, KEYS), np.uint8), {"velocity": 128}, r"velocity=128 must be in 1 \.\. 127"),
    ],
)
def test_write_midi_bad_arguments_are_one_line_errors(tmp_path, roll, kwargs, match):
    kwargs = {"frames_per_beat": 4, **kwargs}
    with one_line_error(ValueError, match):
        rolls.write_midi(roll, tmp_path / "out.mid", **kwargs)
    assert not (tmp_path / "out.mid").exists()


def test_a_missing_optional_dependency_is_a_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "x.mat").write_bytes(b"unused")
    (tmp_path / "x.mid").write_bytes(b"unused")
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    monkeypatch.setitem(sys.modules, "pretty_midi", None)
    with one_line_error(
        ValueError, re.escape("reading .mat piano rolls needs scipy: pip install 'rnn_research[music]'")
    ):
        rolls.read_mat(tmp_path / "x.mat")
    with one_line_error(ValueError, r"reading MIDI files needs pretty_midi: pip install 'rnn_research\[music\]'"):
        rolls.read_midi(tmp_path / "x.mid", frames_per_beat=4)
    with one_line_error(ValueError, r"writing MIDI files needs pretty_midi"):
        rolls.write_midi(np.ones((2, KEYS), np.uint8), tmp_path / "y.mid", frames_per_beat=4)
