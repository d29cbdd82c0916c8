"""Edit-distance error rates of recognised sequences, as Kaldi's ``compute-wer`` reports them.

A hypothesis ``h`` (``m`` tokens) is aligned to its reference ``r`` (``n`` tokens) by a minimum-edit
(Levenshtein) alignment: each reference token is matched, substituted or deleted, each unmatched
hypothesis token is an insertion. The edit distance is

    d(i, j) = min(d(i-1, j-1) + [r_i != h_j],  d(i-1, j) + 1,  d(i, j-1) + 1),
    d(i, 0) = i,  d(0, j) = j,      distance = d(n, m) = S + D + I

and ``n = S + D + (matches)``, ``m = S + I + (matches)``. Over a corpus the counts are summed and

    error rate = (S + D + I) / (sum of reference lengths)      (can exceed 1; nan for no reference tokens)

Tokens are whatever the sequences hold: ``text.split()`` gives the word error rate (WER),
``list(text)`` the character error rate (CER). :func:`format_counts` prints Kaldi's line,
``%WER 12.50 [ 5 / 40, 1 ins, 2 del, 2 sub ]``; :func:`sentence_accuracy` is the fraction of
utterances recognised exactly (``1 - %SER / 100`` in Kaldi's terms).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import NamedTuple


def align_counts(reference: Sequence[Hashable], hypothesis: Sequence[Hashable]) -> tuple[int, int, int]:
    """``(substitutions, deletions, insertions)`` of a minimum-edit alignment; their sum is the edit distance.

    Several alignments can be minimal (``ab`` / ``ba``: two substitutions, or a deletion and an
    insertion). The backtrace from ``(n, m)`` takes, at each step, the first that stays on a minimal
    path of: the diagonal (match or substitution), a deletion, an insertion; so ``ab`` / ``ba`` gives
    ``(2, 0, 0)``.
    """
    ref, hyp = list(reference), list(hypothesis)
    n, m = len(ref), len(hyp)
    cost = [list(range(m + 1))] + [[i] + [0] * m for i in range(1, n + 1)]  # cost[i][j] = d(i, j)
    for i in range(1, n + 1):
        above, row = cost[i - 1], cost[i]
        for j in range(1, m + 1):
            row[j] = min(above[j - 1] + (ref[i - 1] != hyp[j - 1]), above[j] + 1, row[j - 1] + 1)
    substitutions = deletions = insertions = 0
    i, j = n, m
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            substitutions += ref[i - 1] != hyp[j - 1]
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            deletions, i = deletions + 1, i - 1
        else:
            insertions, j = insertions + 1, j - 1
    return substitutions, deletions, insertions


class ErrorCounts(NamedTuple):
    """Edit counts of one or more utterances and the number of reference tokens they are rated against."""

    substitutions: int
    deletions: int
    insertions: int
    reference_length: int

    @property
    def errors(self) -> int:
        """``S + D + I``."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """``errors / reference_length`` (a fraction, not a percentage); nan with no reference tokens."""
        return self.errors / self.reference_length if self.reference_length else math.nan

    def __add__(self, other: ErrorCounts) -> ErrorCounts:  # type: ignore[override]
        """Field-wise sum (the counts of the utterances of both)."""
        if not isinstance(other, ErrorCounts):
            return NotImplemented
        return ErrorCounts(*(a + b for a, b in zip(self, other)))


def _same_count(references: Sequence, hypotheses: Sequence) -> None:
    """Raises unless there is one hypothesis per reference."""
    if len(references) != len(hypotheses):
        raise ValueError(f"hypotheses: {len(hypotheses)} utterances for {len(references)} references")


def error_counts(references: Sequence[Sequence[Hashable]], hypotheses: Sequence[Sequence[Hashable]]) -> ErrorCounts:
    """The counts of :func:`align_counts` summed over utterances, with the total reference length."""
    _same_count(references, hypotheses)
    total = ErrorCounts(0, 0, 0, 0)
    for reference, hypothesis in zip(references, hypotheses):
        total = total + ErrorCounts(*align_counts(reference, hypothesis), len(reference))
    return total


def format_counts(counts: ErrorCounts, unit: str = "WER") -> str:
    """Kaldi's summary line, ``%WER 12.50 [ 5 / 40, 1 ins, 2 del, 2 sub ]`` (``nan`` rate with no reference)."""
    return (
        f"%{unit} {100 * counts.rate:.2f} [ {counts.errors} / {counts.reference_length}, "
        f"{counts.insertions} ins, {counts.deletions} del, {counts.substitutions} sub ]"
    )


def sentence_accuracy(references: Sequence[Sequence[Hashable]], hypotheses: Sequence[Sequence[Hashable]]) -> float:
    """The fraction of utterances whose hypothesis equals its reference token for token (nan for none)."""
    _same_count(references, hypotheses)
    if not references:
        return math.nan
    return sum(list(r) == list(h) for r, h in zip(references, hypotheses)) / len(references)
