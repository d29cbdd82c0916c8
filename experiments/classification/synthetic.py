"""A SYNTHETIC compositional movie-review corpus: the offline default data of the sentiment experiment.

Nothing here is real text: every review is generated from the small grammar below, so the
experiment runs on a machine with no data. The corpus is built so that word ORDER and COMPOSITION
decide the label: a model that only sees the bag of words (bag-of-words classifiers, the mean of
the word embeddings) is at chance, while a model that reads the sequence (a BiLSTM) can learn it.

Grammar (``[x]`` optional, ``x*`` repeated; tokens are lowercase, punctuation is its own token)::

    review      := body ["."]                               ("." with probability 1/2)
    body        := clause                                   (single,         25%)
                 | clause "but" clause                      (contrast,       35%)
                 | "although" clause "," clause             (concession,     20%)
                 | clause "," "although" clause             (concession,     20%)
    clause      := subject [relative] COPULA [NEGATOR] [aside] [DEGREE] ADJECTIVE
    subject     := DET NOUN ["of" "the" NOUN]                    ("of the NOUN" 30%)
    relative    := "," "which" "had" [NEGATOR] "been" PARTICIPLE [PP] ","        (PP 60%)
    aside       := "," ASIDE PP* ","                              (0, 1 or 2 PPs, uniform)

Optional parts of a clause are drawn independently: the aside and the negator after the copula
with probability 1/2, a degree word 40% (half intensifiers, half downtoners), the relative clause
40% (holding a negator 25% of the time) except in single-clause reviews (see below).

The word classes are disjoint: ``COPULA`` (is, was, seemed, felt, remained) and the sentiment words
(``POSITIVE``, ``NEGATIVE`` adjectives, 25 each) occur only in the roles above; ``NEGATOR`` is
not, never, hardly; ``DEGREE`` holds intensifiers (very, really, extremely, ...) and downtoners
(somewhat, slightly, ...); nouns, participles, prepositional phrases (``PP``: "in the winter of that
year", ...) and asides ("as far as i could tell", ...) are neutral filler; ~250 words in all
(``VOCABULARY``). The relative clause (6-13 tokens) sits between the subject and its copula, the
aside (4-21 tokens) between a negator and the adjective it governs, so the negator-adjective
dependency spans 5-23 tokens when there is an aside (>= 10 in about 30% of reviews); "but" and
"although" reach over a whole clause. Reviews are 9-60 tokens long (mean about 28).

Labelling rule (``label_of`` recomputes it from the tokens alone):

* A clause's polarity is the sign of its ADJECTIVE (+1 positive, -1 negative), flipped iff a
  NEGATOR stands directly after the clause's COPULA ("the plot was not , to my mind , good" is
  -1). Degree words change strength, never sign. A negator inside a relative clause ("which had
  never been released") governs the participle, not the adjective, and is ignored.
* The review's label is the polarity of its deciding clause: the only clause; the clause after
  "but"; the main clause of "although" (the clause that does not follow "although"). 1 = positive,
  0 = negative.

Why the bag of words carries no information: the two clauses of a contrast or concession always
have opposite polarities, are drawn independently given their polarity, and appear in either
order with equal probability, so "A but B" and "B but A" (the same multiset, opposite labels) are
equally likely. Within a clause the negator is present with probability 1/2 and the adjective's
sign is chosen to give the clause its polarity. A single-clause review always has a relative
clause and exactly one negator, placed with equal probability in the relative clause (a decoy) or
after the copula, so again the same words come with either label. Labels are exactly balanced
(``n // 2`` positives after a seeded shuffle), and a review is redrawn (same label) if longer than
60 tokens; length is a function of the multiset, so the redraw keeps P(label | multiset) = 1/2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

POSITIVE = (
    "good great excellent wonderful brilliant superb charming moving gripping clever delightful beautiful "
    "engaging funny memorable fresh compelling stunning solid enjoyable powerful impressive elegant smart touching"
).split()
NEGATIVE = (
    "bad awful terrible boring dull weak clumsy tedious bland messy lifeless forgettable predictable painful "
    "shallow stale silly lazy flat confusing annoying mediocre disappointing poor ugly"
).split()
NEGATORS = ("not", "never", "hardly")
INTENSIFIERS = ("very", "really", "extremely", "truly", "remarkably")
DOWNTONERS = ("somewhat", "fairly", "slightly", "rather", "mildly")
COPULAS = ("is", "was", "seemed", "felt", "remained")
DETERMINERS = ("the", "this")
NOUNS = (
    "plot acting film movie soundtrack script dialogue ending opening cinematography score pacing story editing "
    "premise finale sequel screenplay humour photography remake adaptation lighting casting music narration prologue "
    "epilogue climax setting sequence montage visuals makeup choreography storyline dubbing"
).split()
PARTICIPLES = (
    "shot filmed released edited written screened restored dubbed recut financed produced marketed announced "
    "adapted rehearsed reshot distributed subtitled storyboarded translated previewed photographed animated narrated "
    "staged remastered"
).split()
PPS = (
    "in the winter of that year",
    "in a small town",
    "over two months",
    "by a new studio",
    "on a tight schedule",
    "in black and white",
    "for a festival audience",
    "after a long delay",
    "in three countries",
    "with a small crew",
    "during the summer",
    "at the same studio",
    "for the second time",
    "in the spring",
    "on location",
    "in a single take",
    "on a modest budget",
    "in the late nineties",
    "across the border",
    "near the old harbour",
    "under a different title",
    "with borrowed equipment",
    "in a converted warehouse",
    "before the festival",
    "over the course of a decade",
)
ASIDES = (
    "as far as i could tell",
    "to my mind",
    "in my opinion",
    "according to my friends",
    "despite what the trailer suggested",
    "at least for me",
    "to be honest",
    "if we are fair to it",
    "judging by the reactions of the audience",
    "all things considered",
    "in the view of several critics",
    "from my seat in the back row",
    "as the critics in the local paper noted",
    "at the screening i attended",
    "unlike what my neighbour claimed",
    "speaking as someone who saw it twice",
)
FORMS = ("single", "but", "although_first", "although_last")
FORM_PROBS = (0.25, 0.35, 0.2, 0.2)
MIN_TOKENS, MAX_TOKENS = 8, 60

_STRUCTURE = ("but", "although", ",", ".", "which", "had", "been", "of")
VOCABULARY: tuple[str, ...] = tuple(
    sorted(
        set(POSITIVE)
        | set(NEGATIVE)
        | set(NEGATORS)
        | set(INTENSIFIERS)
        | set(DOWNTONERS)
        | set(COPULAS)
        | set(DETERMINERS)
        | set(NOUNS)
        | set(PARTICIPLES)
        | set(_STRUCTURE)
        | {w for phrase in PPS + ASIDES for w in phrase.split()}
    )
)
_SIGN = {**dict.fromkeys(POSITIVE, 1), **dict.fromkeys(NEGATIVE, -1)}


class Clause(NamedTuple):
    """One parsed clause: token positions of its copula, governing negator (or ``None``) and adjective."""

    copula: int
    negator: int | None
    adjective: int
    polarity: int  # +1 or -1


# ---------------------------------------------------------------------------------- generation
def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _clause(rng: np.random.Generator, polarity: int, negated: bool, relative: bool, decoy: bool) -> list[str]:
    """Tokens of one clause with the given polarity; ``decoy`` puts a negator in the relative clause."""
    tokens = [_pick(rng, DETERMINERS), _pick(rng, NOUNS)]
    if rng.random() < 0.3:
        tokens += ["of", "the", _pick(rng, NOUNS)]
    if relative:
        tokens += [",", "which", "had"] + ([_pick(rng, NEGATORS)] if decoy else []) + ["been", _pick(rng, PARTICIPLES)]
        if rng.random() < 0.6:
            tokens += _pick(rng, PPS).split()
        tokens.append(",")
    tokens.append(_pick(rng, COPULAS))
    if negated:
        tokens.append(_pick(rng, NEGATORS))
    if rng.random() < 0.5:
        tokens += [",", *_pick(rng, ASIDES).split()]
        for _ in range(int(rng.integers(3))):  # 0, 1 or 2 prepositional phrases
            tokens += _pick(rng, PPS).split()
        tokens.append(",")
    if rng.random() < 0.4:
        tokens.append(_pick(rng, INTENSIFIERS if rng.random() < 0.5 else DOWNTONERS))
    sign = -polarity if negated else polarity
    tokens.append(_pick(rng, POSITIVE if sign > 0 else NEGATIVE))
    return tokens


def _free_clause(rng: np.random.Generator, polarity: int) -> list[str]:
    """A clause of a two-clause review: negator, relative clause and decoy drawn independently."""
    relative = rng.random() < 0.4
    return _clause(rng, polarity, negated=rng.random() < 0.5, relative=relative, decoy=relative and rng.random() < 0.25)


def _review(rng: np.random.Generator, label: int) -> list[str]:
    polarity = 1 if label else -1
    form = FORMS[int(rng.choice(len(FORMS), p=FORM_PROBS))]
    if form == "single":
        negated = bool(rng.random() < 0.5)
        tokens = _clause(rng, polarity, negated=negated, relative=True, decoy=not negated)
    else:
        deciding, other = _free_clause(rng, polarity), _free_clause(rng, -polarity)
        if form == "but":
            tokens = [*other, "but", *deciding]
        elif form == "although_first":
            tokens = ["although", *other, ",", *deciding]
        else:
            tokens = [*deciding, ",", "although", *other]
    if rng.random() < 0.5:
        tokens.append(".")
    return tokens


def generate(n: int, seed: int) -> tuple[list[str], list[int]]:
    """``n`` reviews (lowercase, tokens separated by single spaces, punctuation as separate tokens) and
    labels 0=negative, 1=positive; a pure function of ``(n, seed)``, with exactly ``n // 2`` positives."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2)[::-1].copy()  # n odd: one more negative than positive
    rng.shuffle(labels)
    texts = []
    for label in labels:
        while True:
            tokens = _review(rng, int(label))
            if MIN_TOKENS <= len(tokens) <= MAX_TOKENS:
                break
        texts.append(" ".join(tokens))
    return texts, [int(y) for y in labels]


# ---------------------------------------------------------------------------------- the rule
def _tokens(review: str | Sequence[str]) -> list[str]:
    return review.split() if isinstance(review, str) else list(review)


def parse_clauses(review: str | Sequence[str]) -> list[Clause]:
    """The clauses of a review in order, found by their copulas (a copula occurs once per clause)."""
    tokens = _tokens(review)
    clauses = []
    for i, token in enumerate(tokens):
        if token not in COPULAS:
            continue
        negator = i + 1 if i + 1 < len(tokens) and tokens[i + 1] in NEGATORS else None
        adjective = next((j for j in range(i + 1, len(tokens)) if tokens[j] in _SIGN), None)
        if adjective is None:
            raise ValueError(f"no sentiment adjective after the copula at token {i}: {' '.join(tokens)!r}")
        sign = _SIGN[tokens[adjective]]
        clauses.append(Clause(i, negator, adjective, -sign if negator is not None else sign))
    if not clauses:
        raise ValueError(f"no clause (copula) in {' '.join(tokens)!r}")
    return clauses


def label_of(review: str | Sequence[str]) -> int:
    """The label by the grammar's rule: the polarity of the deciding clause (see the module docstring)."""
    tokens = _tokens(review)
    clauses = parse_clauses(tokens)
    if "but" in tokens or (tokens and tokens[0] == "although"):
        deciding = clauses[-1]
    else:  # a single clause, or "main , although subordinate"
        deciding = clauses[0]
    return int(deciding.polarity > 0)
