"""The synthetic sentiment corpus: format, determinism, balance, the labelling rule, and order-dependence."""

import numpy as np
import pytest

from experiments.classification import synthetic as ss
from experiments.classification.synthetic import VOCABULARY, generate, label_of, parse_clauses


@pytest.fixture(scope="module")
def corpus():
    return generate(2000, 3)


def test_generate_is_deterministic_and_seeded():
    assert generate(300, 5) == generate(300, 5)
    assert generate(300, 5)[0] != generate(300, 6)[0]
    assert generate(0, 1) == ([], [])


def test_format_vocabulary_and_lengths(corpus):
    texts, labels = corpus
    assert len(texts) == len(labels) == 2000
    assert list(VOCABULARY) == sorted(set(VOCABULARY)) and 150 <= len(VOCABULARY) <= 600
    vocab = set(VOCABULARY)
    lengths = []
    for text in texts:
        assert text == text.lower() == text.strip() and "  " not in text
        tokens = text.split(" ")
        assert set(tokens) <= vocab, set(tokens) - vocab
        lengths.append(len(tokens))
    assert ss.MIN_TOKENS <= min(lengths) and max(lengths) <= ss.MAX_TOKENS
    assert 15 <= np.mean(lengths) <= 40
    # punctuation is its own token
    assert all(t in (",", ".") or t.isalpha() for text in texts for t in text.split())


def test_labels_are_balanced(corpus):
    _, labels = corpus
    assert set(labels) == {0, 1} and abs(np.mean(labels) - 0.5) <= 0.03
    assert sum(generate(101, 0)[1]) == 50


def test_oracle_rule_reproduces_every_label(corpus):
    texts, labels = corpus
    assert [label_of(t) for t in texts] == labels


@pytest.mark.parametrize(
    "review, label",
    [
        ("the plot was good", 1),
        ("the plot was not good", 0),
        ("the plot was never , to my mind , very bad", 1),
        ("the plot was somewhat good but the acting was extremely bad", 0),
        ("the plot was not good but the acting was hardly bad .", 1),
        ("although the plot was bad , the acting was really good", 1),
        ("the acting was really good , although the plot was bad", 1),
        ("the film , which had never been released , was good", 1),
        ("the film , which had been released , was never good", 0),
    ],
)
def test_label_of_examples(review, label):
    assert label_of(review) == label
    assert label_of(review.split()) == label


def test_phenomena_occur(corpus):
    texts, _ = corpus
    tokenized = [t.split() for t in texts]
    frac = lambda pred: np.mean([pred(tokens) for tokens in tokenized])
    assert frac(lambda tokens: "but" in tokens) >= 0.1
    assert frac(lambda tokens: "although" in tokens) >= 0.1
    assert frac(lambda tokens: any(w in ss.NEGATORS for w in tokens)) >= 0.1
    assert frac(lambda tokens: any(w in ss.INTENSIFIERS for w in tokens)) >= 0.1
    assert frac(lambda tokens: any(w in ss.DOWNTONERS for w in tokens)) >= 0.1
    assert frac(lambda tokens: "which" in tokens) >= 0.1
    # a negator inside a relative clause: present but not governing the adjective
    decoy = lambda tokens: any(tokens[i] == "had" and tokens[i + 1] in ss.NEGATORS for i in range(len(tokens) - 1))
    assert frac(decoy) >= 0.1

    def longest_span(tokens):
        return max((c.adjective - c.negator for c in parse_clauses(tokens) if c.negator is not None), default=0)

    spans = np.array([longest_span(tokens) for tokens in tokenized])
    assert np.mean(spans >= 10) >= 0.1
    assert spans.max() >= 20


def test_swapping_clauses_flips_the_label(corpus):
    """Order matters: 'A but B' and 'B but A' are the same bag of words with opposite labels."""
    texts, labels = corpus
    swapped = 0
    for text, label in zip(texts, labels):
        tokens = text.split()
        if "but" not in tokens:
            continue
        end = tokens[-1:] if tokens[-1] == "." else []
        body = tokens[: len(tokens) - len(end)]
        k = body.index("but")
        other = body[k + 1 :] + ["but"] + body[:k] + end
        assert sorted(other) == sorted(tokens) and label_of(other) == 1 - label
        swapped += 1
    assert swapped >= 200


def _bag_of_words(texts):
    index = {w: i for i, w in enumerate(VOCABULARY)}
    x = np.zeros((len(texts), len(VOCABULARY)))
    for row, text in enumerate(texts):
        for w in text.split():
            x[row, index[w]] += 1.0
    return x


def _features(counts, train_counts):
    """Counts standardized with the training set's statistics, plus a bias column."""
    mean, std = train_counts.mean(0), train_counts.std(0) + 1e-8
    return np.concatenate([(counts - mean) / std, np.ones((len(counts), 1))], axis=1)


def _logistic_regression(x, y, steps=300, lr=0.5, l2=1e-4):
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        w -= lr * (x.T @ (p - y) / len(y) + l2 * w)
    return w


def _accuracy(w, x, y):
    return np.mean(((x @ w) > 0) == (y == 1))


def test_bag_of_words_is_at_chance():
    """Labels carry (almost) no bag-of-words signal; the same probe does learn an order-free target."""
    train_texts, train_labels = generate(4000, 0)
    test_texts, test_labels = generate(2000, 1)
    c_train, c_test = _bag_of_words(train_texts), _bag_of_words(test_texts)
    x_train, x_test = _features(c_train, c_train), _features(c_test, c_train)
    w = _logistic_regression(x_train, np.array(train_labels))
    assert _accuracy(w, x_test, np.array(test_labels)) < 0.65

    # control: "more positive than negative adjectives" is linear in the counts, and the probe finds it
    pos = [i for i, w in enumerate(VOCABULARY) if w in ss.POSITIVE]
    neg = [i for i, w in enumerate(VOCABULARY) if w in ss.NEGATIVE]
    control = lambda counts: (counts[:, pos].sum(1) > counts[:, neg].sum(1)).astype(float)
    w = _logistic_regression(x_train, control(c_train))
    assert _accuracy(w, x_test, control(c_test)) > 0.95
