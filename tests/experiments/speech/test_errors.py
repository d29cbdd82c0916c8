"""Error rates: the alignment's counts against a brute-force edit distance, known cases, and Kaldi's line."""

import functools
import math

import numpy as np
import pytest

from experiments.speech import errors


def edit_distance(a: str, b: str) -> int:
    """The recursive definition, memoised (independent of the module's table and backtrace)."""

    @functools.cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j - 1) + (a[i - 1] != b[j - 1]), d(i - 1, j) + 1, d(i, j - 1) + 1)

    return d(len(a), len(b))


def test_counts_sum_to_the_edit_distance_on_random_strings():
    rng = np.random.default_rng(0)
    for _ in range(300):
        ref, hyp = ("".join(rng.choice(list("abc"), size=rng.integers(0, 7))) for _ in range(2))
        s, d, i = errors.align_counts(ref, hyp)
        assert s + d + i == edit_distance(ref, hyp), (ref, hyp)
        assert min(s, d, i) >= 0 and s + d <= len(ref) and s + i <= len(hyp)
        assert d - i == len(ref) - len(hyp)  # n = S + D + matches, m = S + I + matches


def test_known_cases():
    assert sum(errors.align_counts("kitten", "sitting")) == 3
    assert errors.align_counts("kitten", "sitting") == (2, 0, 1)
    assert errors.align_counts("", "") == (0, 0, 0)
    assert errors.align_counts("", "abc") == (0, 0, 3)  # empty reference: all insertions
    assert errors.align_counts("abc", "") == (0, 3, 0)  # empty hypothesis: all deletions
    assert errors.align_counts("the cat sat".split(), "the cat sat".split()) == (0, 0, 0)
    assert errors.align_counts("the cat sat".split(), "a cat sat down".split()) == (1, 0, 1)
    assert errors.align_counts("ab", "ba") == (2, 0, 0)  # tie: substitutions preferred
    assert errors.align_counts([1, 2, 3], (1, 3)) == (0, 1, 0)


def test_counts_add_up_over_utterances():
    refs = ["the cat sat".split(), "on the mat".split(), [], "hello".split()]
    hyps = ["the cat sat".split(), "on a mat today".split(), ["uh"], []]
    counts = errors.error_counts(refs, hyps)
    assert counts == errors.ErrorCounts(substitutions=1, deletions=1, insertions=2, reference_length=7)
    assert counts.errors == 4 and counts.rate == pytest.approx(4 / 7)
    parts = [errors.error_counts([r], [h]) for r, h in zip(refs, hyps)]
    assert sum(parts[1:], parts[0]) == counts
    assert errors.ErrorCounts(1, 2, 3, 4) + errors.ErrorCounts(10, 20, 30, 40) == (11, 22, 33, 44)
    assert math.isnan(errors.error_counts([[]], [["a"]]).rate)
    assert errors.sentence_accuracy(refs, hyps) == 0.25
    assert errors.sentence_accuracy(["ab", "c"], [["a", "b"], "c"]) == 1.0
    assert math.isnan(errors.sentence_accuracy([], []))


def test_format_is_kaldis():
    assert errors.format_counts(errors.ErrorCounts(2, 2, 1, 40)) == "%WER 12.50 [ 5 / 40, 1 ins, 2 del, 2 sub ]"
    assert (
        errors.format_counts(errors.ErrorCounts(0, 1, 0, 3), unit="CER") == "%CER 33.33 [ 1 / 3, 0 ins, 1 del, 0 sub ]"
    )
    assert errors.format_counts(errors.ErrorCounts(0, 0, 2, 0)) == "%WER nan [ 2 / 0, 2 ins, 0 del, 0 sub ]"


def test_mismatched_lists_are_refused():
    with pytest.raises(ValueError, match="^hypotheses:"):
        errors.error_counts(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="^hypotheses:"):
        errors.sentence_accuracy(["a"], [])
