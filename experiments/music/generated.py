"""Generated four-part chorales: the offline default corpus of the music experiment (no download).

Each piece is a binary roll ``uint8 [T, keys]`` (column ``k`` is MIDI pitch ``lowest_pitch + k``)
made by this rule, with ``rng = np.random.default_rng([seed, i])`` for piece ``i``:

1. Key: a major key whose tonic pitch class ``t`` is uniform in ``0 .. 11`` (0 = C).
2. Length: ``N`` chords, uniform in ``min_chords .. max_chords`` (both included; ``N >= 3``).
3. Chords: degrees ``I ii iii IV V vi`` (no vii°), the diatonic triads of the key: root pitch
   class ``t + (0, 2, 4, 5, 7, 9)[d] mod 12``, major (root, +4, +7) for I, IV, V and minor
   (root, +3, +7) for ii, iii, vi. Chord 0 is I; chords ``1 .. N-3`` follow a Markov chain, the
   next chord uniform over the successors of the current one (``TRANSITIONS``)::

       I   -> ii, iii, IV, V, vi        IV -> I, ii, V
       ii  -> IV, V                     V  -> I, vi
       iii -> IV, vi                    vi -> ii, IV, V

   The last two chords are forced to V, I (the cadence) whatever chord ``N-3`` is.
4. Durations: each chord is held for ``d`` frames, ``d`` uniform over the multiset ``{1, 2, 2, 4}``:
   P(1) = 1/4, P(2) = 1/2, P(4) = 1/4 (mean 2.25), so ``N <= T <= 4 N``.
5. Voicing: every frame of a chord sounds exactly four keys. The bass is the root, the unique
   root pitch in MIDI 36 .. 47. The upper voices are the three chord tones in close position:
   the lowest upper note ``u`` is the chord-tone pitch in MIDI 60 .. 71 closest to the previous
   chord's ``u`` (ties to the lower pitch; for chord 0, the root in 60 .. 71), and the other two
   are the next two chord tones above ``u`` (all three within ``u .. u + 9``, so in 60 .. 80).

So every frame sounds 4 keys with 3 distinct pitch classes forming a major or minor triad of the
key, the root in the bass. :func:`rule_fraction` checks the key-free part of this per frame (the
voicing rule: 4 keys; their pitch classes exactly a major or minor triad; the lowest key is its
root, in MIDI 36 .. 47; the other three in 60 .. 83); the generator's own pieces score 1.
:func:`chord_of` names the triad a frame sounds: pitch-class names with sharps, ``C C# D D# E F F#
G G# A A# B``, upper case for major ("C", "F#") and lower case for minor ("a", "c#").
"""

from __future__ import annotations

import numpy as np

DEGREES = ("I", "ii", "iii", "IV", "V", "vi")
ROOT_OFFSETS = (0, 2, 4, 5, 7, 9)  # semitones above the tonic of each degree's root
IS_MAJOR = (True, False, False, True, True, False)
TRANSITIONS = {
    "I": ("ii", "iii", "IV", "V", "vi"),
    "ii": ("IV", "V"),
    "iii": ("IV", "vi"),
    "IV": ("I", "ii", "V"),
    "V": ("I", "vi"),
    "vi": ("ii", "IV", "V"),
}
DURATIONS = (1, 2, 2, 4)  # frames a chord is held: uniform over this multiset
BASS_RANGE = (36, 47)  # MIDI pitches, both included
UPPER_START_RANGE = (60, 71)  # where the lowest upper voice lies
UPPER_RANGE = (60, 83)  # where rule_fraction accepts the upper voices
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _triad(root: int, major: bool) -> tuple[int, int, int]:
    """The pitch classes (root, third, fifth) of a triad."""
    return root % 12, (root + (4 if major else 3)) % 12, (root + 7) % 12


def _voicing(root: int, major: bool, previous_upper: int | None) -> tuple[list[int], int]:
    """The four MIDI pitches of a chord (bass first) and its lowest upper note."""
    classes = _triad(root, major)
    bass = BASS_RANGE[0] + (root - BASS_RANGE[0]) % 12
    low = UPPER_START_RANGE[0]
    candidates = sorted(low + (pc - low) % 12 for pc in classes)
    if previous_upper is None:
        upper = low + (root - low) % 12
    else:
        upper = min(candidates, key=lambda p: (abs(p - previous_upper), p))
    start = candidates.index(upper)
    uppers = [candidates[(start + j) % 3] + 12 * ((start + j) // 3) for j in range(3)]
    return [bass, *uppers], upper


def _check_range(keys: int, lowest_pitch: int) -> None:
    """A one-line ValueError unless MIDI 36 .. 83 lie in the roll's keys."""
    if keys < 1:
        raise ValueError(f"keys must be >= 1, got {keys}")
    if lowest_pitch > BASS_RANGE[0] or lowest_pitch + keys - 1 < UPPER_RANGE[1]:
        raise ValueError(
            f"keys={keys}, lowest_pitch={lowest_pitch} cover MIDI {lowest_pitch}..{lowest_pitch + keys - 1}, "
            f"which must include {BASS_RANGE[0]}..{UPPER_RANGE[1]}"
        )


def _piece(rng: np.random.Generator, min_chords: int, max_chords: int, keys: int, lowest_pitch: int) -> np.ndarray:
    """One piece by the module's rule: a roll ``uint8 [T, keys]``."""
    tonic = int(rng.integers(12))
    num_chords = int(rng.integers(min_chords, max_chords + 1))
    chords = ["I"]
    for _ in range(num_chords - 3):
        successors = TRANSITIONS[chords[-1]]
        chords.append(successors[int(rng.integers(len(successors)))])
    chords += ["V", "I"]
    durations = [DURATIONS[int(j)] for j in rng.integers(len(DURATIONS), size=num_chords)]
    roll = np.zeros((sum(durations), keys), np.uint8)
    frame, previous_upper = 0, None
    for chord, duration in zip(chords, durations):
        d = DEGREES.index(chord)
        pitches, previous_upper = _voicing(tonic + ROOT_OFFSETS[d], IS_MAJOR[d], previous_upper)
        roll[frame : frame + duration, [p - lowest_pitch for p in pitches]] = 1
        frame += duration
    return roll


def generate_chorales(
    num_pieces: int, *, seed: int, min_chords: int = 8, max_chords: int = 16, keys: int = 88, lowest_pitch: int = 21
) -> tuple[list[np.ndarray], list[str]]:
    """``num_pieces`` pieces by the module's rule: rolls ``uint8 [T_i, keys]`` and names ``generated[i]``.

    Piece ``i`` depends only on ``(seed, i)`` (and the length and range arguments), so a larger
    corpus starts with the pieces of a smaller one.
    """
    if num_pieces < 1:
        raise ValueError(f"num_pieces must be >= 1, got {num_pieces}")
    if not 3 <= min_chords <= max_chords:
        raise ValueError(
            f"min_chords and max_chords must satisfy 3 <= min_chords <= max_chords, got {min_chords}, {max_chords}"
        )
    _check_range(keys, lowest_pitch)
    rolls = [
        _piece(np.random.default_rng([seed, i]), min_chords, max_chords, keys, lowest_pitch) for i in range(num_pieces)
    ]
    return rolls, [f"generated[{i}]" for i in range(num_pieces)]


def _triad_of(classes: set[int]) -> tuple[int, bool] | None:
    """``(root, major)`` when the pitch classes are exactly a major or minor triad, else None."""
    if len(classes) != 3:
        return None
    for root in classes:
        for major in (True, False):
            if set(_triad(root, major)) == classes:
                return root, major
    return None


def _sounding(frame: np.ndarray, lowest_pitch: int) -> np.ndarray:
    """The MIDI pitches, ascending, of the keys a frame ``[keys]`` sounds."""
    return lowest_pitch + np.flatnonzero(np.asarray(frame))


def chord_of(frame: np.ndarray, *, lowest_pitch: int = 21) -> str | None:
    """The name of the triad a frame ``[keys]`` of 0/1 sounds: "C" (major), "a" (minor), ...

    Only the set of sounding pitch classes counts (not the bass or the doublings); None when it is
    not exactly a major or minor triad (an empty frame included).
    """
    found = _triad_of({int(p) % 12 for p in _sounding(frame, lowest_pitch)})
    if found is None:
        return None
    root, major = found
    return PITCH_NAMES[root] if major else PITCH_NAMES[root].lower()


def _follows_rule(pitches: np.ndarray) -> bool:
    """Whether a frame's sounding MIDI pitches (ascending) follow the voicing rule."""
    if len(pitches) != 4:
        return False
    found = _triad_of({int(p) % 12 for p in pitches})
    if found is None or pitches[0] % 12 != found[0]:
        return False
    bass_ok = BASS_RANGE[0] <= pitches[0] <= BASS_RANGE[1]
    return bass_ok and all(UPPER_RANGE[0] <= p <= UPPER_RANGE[1] for p in pitches[1:])


def rule_fraction(roll: np.ndarray, *, lowest_pitch: int = 21) -> float:
    """The fraction of a roll's ``[T, keys]`` non-empty frames that follow the voicing rule; nan if none.

    The rule: exactly 4 sounding keys; their pitch classes exactly a major or minor triad; the
    lowest key is its root and lies in MIDI 36 .. 47; the other three lie in 60 .. 83.
    """
    roll = np.asarray(roll)
    if roll.ndim != 2:
        raise ValueError(f"roll must be [T, keys], got shape {roll.shape}")
    frames = [_sounding(frame, lowest_pitch) for frame in roll if frame.any()]
    if not frames:
        return float("nan")
    return sum(_follows_rule(p) for p in frames) / len(frames)
