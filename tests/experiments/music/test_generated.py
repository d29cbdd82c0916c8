"""The generated chorales follow their stated rule, and rule_fraction tells rule from noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.music import generated

NAMES = generated.PITCH_NAMES


def diatonic(tonic: int) -> set[str]:
    """The names of the triads I ii iii IV V vi of the major key on ``tonic``."""
    return {
        NAMES[(tonic + offset) % 12] if major else NAMES[(tonic + offset) % 12].lower()
        for offset, major in zip(generated.ROOT_OFFSETS, generated.IS_MAJOR)
    }


def frame_of(*pitches: int) -> np.ndarray:
    frame = np.zeros(88, np.uint8)
    frame[[p - 21 for p in pitches]] = 1
    return frame


@pytest.fixture(scope="module")
def corpus():
    return generated.generate_chorales(50, seed=3)


def test_determinism_and_prefix():
    a, names = generated.generate_chorales(4, seed=7)
    b, _ = generated.generate_chorales(4, seed=7)
    c, _ = generated.generate_chorales(6, seed=7)
    d, _ = generated.generate_chorales(4, seed=8)
    assert names == [f"generated[{i}]" for i in range(4)]
    assert all(np.array_equal(x, y) and np.array_equal(x, z) for x, y, z in zip(a, b, c))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, d))


def test_every_frame_follows_the_rule(corpus):
    rolls, _ = corpus
    for roll in rolls:
        assert roll.dtype == np.uint8 and roll.shape[1] == 88 and set(np.unique(roll)) <= {0, 1}
        assert (roll.sum(axis=1) == 4).all()
        assert generated.rule_fraction(roll) == 1.0
        chords = [generated.chord_of(frame) for frame in roll]
        tonic = NAMES.index(chords[-1])  # the last chord is I: upper case, the tonic's name
        assert set(chords) <= diatonic(tonic)
        before = [c for c in chords if c != chords[-1]][-1]  # the chord before the final I
        assert before == NAMES[(tonic + 7) % 12]  # V
        assert chords[0] == chords[-1]  # starts on I


def test_lengths_and_keys_cover_the_documented_ranges(corpus):
    rolls, _ = corpus
    lengths = [len(r) for r in rolls]
    assert all(8 <= t <= 64 for t in lengths)
    assert 20 < np.mean(lengths) < 34  # 12 chords of 2.25 frames on average
    tonics = {NAMES.index(generated.chord_of(r[-1])) for r in rolls}
    assert len(tonics) >= 8
    short, _ = generated.generate_chorales(30, seed=0, min_chords=3, max_chords=3)
    assert all(3 <= len(r) <= 12 for r in short)


def test_voice_leading_keeps_upper_voices_close(corpus):
    rolls, _ = corpus
    for roll in rolls:
        lowest_upper = [21 + np.flatnonzero(frame)[1] for frame in roll]
        assert all(60 <= u <= 71 for u in lowest_upper)
        assert max(abs(a - b) for a, b in zip(lowest_upper, lowest_upper[1:])) <= 4  # 2 but at the range edges
        first = np.flatnonzero(roll[0]) + 21
        assert first[1] % 12 == first[0] % 12  # the first chord's upper voices start on the root


def test_other_key_ranges():
    rolls, _ = generated.generate_chorales(3, seed=1, keys=60, lowest_pitch=30)
    reference, _ = generated.generate_chorales(3, seed=1)
    for roll, ref in zip(rolls, reference):
        assert roll.shape == (len(ref), 60)
        assert np.array_equal(roll, ref[:, 9:69])
        assert generated.rule_fraction(roll, lowest_pitch=30) == 1.0


def test_chord_of():
    assert generated.chord_of(frame_of(36, 60, 64, 67)) == "C"
    assert generated.chord_of(frame_of(45, 64, 69, 72)) == "a"
    assert generated.chord_of(frame_of(42, 61, 66, 70)) == "F#"
    assert generated.chord_of(frame_of(61, 64, 68)) == "c#"
    assert generated.chord_of(frame_of(60, 64, 67, 71)) is None  # four pitch classes
    assert generated.chord_of(frame_of(60, 63, 66)) is None  # diminished
    assert generated.chord_of(np.zeros(88, np.uint8)) is None


def test_rule_fraction_on_noise_and_wrong_voicings():
    rng = np.random.default_rng(0)
    assert generated.rule_fraction((rng.random((200, 88)) < 0.5).astype(np.uint8)) < 0.1
    assert generated.rule_fraction((rng.random((200, 88)) < 0.05).astype(np.uint8)) < 0.1
    wrong = [
        frame_of(40, 60, 64, 67),  # first inversion in the bass
        frame_of(48, 60, 64, 67),  # bass above 47
        frame_of(36, 55, 64, 67),  # an upper voice below 60
        frame_of(36, 64, 67, 84),  # an upper voice above 83
        frame_of(36, 60, 64),  # three keys
        frame_of(36, 48, 60, 64, 67),  # five keys
        frame_of(36, 60, 63, 66),  # diminished
    ]
    assert generated.rule_fraction(np.stack(wrong)) == 0.0
    empty = np.zeros((3, 88), np.uint8)
    assert math.isnan(generated.rule_fraction(empty))
    mixed = np.stack([frame_of(36, 64, 67, 72), frame_of(40, 60, 64, 67), empty[0]])
    assert generated.rule_fraction(mixed) == 0.5


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(num_pieces=0), "num_pieces"),
        (dict(min_chords=2), "min_chords"),
        (dict(min_chords=9, max_chords=8), "min_chords"),
        (dict(keys=40), "keys"),
        (dict(lowest_pitch=40), "lowest_pitch"),
        (dict(keys=0), "keys"),
    ],
)
def test_argument_errors(kwargs, name):
    kwargs = {"num_pieces": 2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=name) as info:
        generated.generate_chorales(**kwargs)
    assert "\n" not in str(info.value)
