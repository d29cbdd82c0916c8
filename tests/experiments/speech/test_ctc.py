"""CTC: the loss against a sum over every path, padding invariance, the decoders against brute force,
and when a one-prefix beam search agrees with best path."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.speech import ctc

loss_fn = jax.jit(ctc.ctc_loss, static_argnames="blank")


def collapse(path, blank: int) -> tuple[int, ...]:
    """B(path): merge runs, drop blanks."""
    return tuple(s for k, s in enumerate(path) if s != blank and (k == 0 or path[k - 1] != s))


def brute_force(log_probs: np.ndarray, blank: int) -> dict[tuple[int, ...], float]:
    """log p(l) of every labelling with p(l) > 0, by summing the V^T paths of ``log_probs [T, V]``."""
    frames, vocab = log_probs.shape
    out: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(vocab), repeat=frames):
        label = collapse(path, blank)
        out[label] = np.logaddexp(out.get(label, -np.inf), log_probs[np.arange(frames), list(path)].sum())
    return out


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


def pad_labels(labels, width: int, fill) -> tuple[np.ndarray, np.ndarray]:
    rows = [list(label) + list(fill[len(label) : width]) for label in labels]
    return np.array(rows, np.int32), np.array([len(label) for label in labels], np.int32)


# T = 4 frames, V = 3 (two symbols and the blank): "a a" needs a blank between; the last two need
# more than 4 frames (6 and 5) and are infeasible.
LABELS = [(), (1,), (2,), (1, 2), (1, 1), (2, 1, 2), (1, 2, 1, 2), (1, 1, 2, 2), (1, 1, 1)]


@pytest.mark.parametrize("blank", [0, 2])
def test_loss_is_minus_log_of_the_sum_over_paths(blank):
    rng = np.random.default_rng(blank)
    symbols = [s for s in range(3) if s != blank]
    labels = [tuple(symbols[s - 1] for s in label) for label in LABELS]
    logits = rng.normal(size=(len(labels), 4, 3)).astype(np.float32) * 2
    padded, lengths = pad_labels(labels, 4, [symbols[0]] * 4)
    loss = np.asarray(loss_fn(logits, np.full(len(labels), 4), padded, lengths, blank=blank))
    for row, label in enumerate(labels):
        feasible = bool(ctc.feasible(len(label), ctc.min_frames(label) - len(label), 4))
        exact = brute_force(log_softmax(logits[row]), blank)
        assert feasible == (label in exact), label
        if feasible:
            np.testing.assert_allclose(loss[row], -exact[label], atol=1e-4, err_msg=str(label))
        else:
            assert loss[row] > 1e4, label  # optax's stand-in for -log 0: huge, finite


def test_padding_never_changes_the_loss():
    """Padded frames hold garbage (inf and nan among it), padded labels random ids (one repeats the
    last label); a batch of mixed lengths gives each row the brute-force loss of its own frames."""
    rng = np.random.default_rng(1)
    labels = [(1, 2), (1, 1), (), (2,)]
    frames = np.array([4, 3, 2, 4])
    logits = rng.normal(size=(4, 7, 3)).astype(np.float32)
    for row, n in enumerate(frames):
        logits[row, n:] = rng.normal(size=(7 - n, 3)) * 1e4
    logits[1, 5, 0], logits[2, 3, 1], logits[2, 4, 2] = np.inf, np.nan, -np.inf
    padded, lengths = pad_labels(labels, 5, rng.integers(0, 3, size=5).tolist())
    padded[1, 2] = 1  # equal to the last real label: must not be taken for a repeat
    loss, grad = jax.jit(jax.value_and_grad(lambda x: loss_fn(x, frames, padded, lengths, blank=0).mean()))(logits)
    per_row = np.asarray(loss_fn(logits, frames, padded, lengths, blank=0))
    for row, (label, n) in enumerate(zip(labels, frames)):
        exact = brute_force(log_softmax(logits[row, :n]), 0)[label]
        np.testing.assert_allclose(per_row[row], -exact, atol=1e-4, err_msg=str(label))
    np.testing.assert_allclose(loss, per_row.mean(), rtol=1e-6)
    grad = np.asarray(grad)
    assert np.isfinite(grad).all()
    for row, n in enumerate(frames):
        assert np.abs(grad[row, :n]).sum() > 0
        np.testing.assert_array_equal(grad[row, n:], 0.0)


def test_exhaustive_beam_gives_every_labelling_its_probability():
    """With a beam wider than the number of labellings nothing is pruned, so the search is exact: it
    returns exactly the labellings of nonzero probability, each with its brute-force log-probability,
    best first. Frames past ``length`` (garbage) are not read."""
    rng = np.random.default_rng(2)
    for seed in range(6):
        blank = seed % 3
        log_probs = np.log(rng.dirichlet(np.ones(3), size=5))
        log_probs[-1] = np.nan if seed % 2 else 0.0
        length = 4 if seed < 4 else 3
        exact = brute_force(log_probs[:length], blank)
        found = ctc.prefix_beam_search(log_probs, length, blank, beam=3**4)
        assert {p for p, _ in found} == set(exact)
        for prefix, log_prob in found:
            assert log_prob == pytest.approx(exact[prefix], abs=1e-9)
        assert found[0][0] == max(exact, key=exact.get)
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


def test_a_narrow_beam_keeps_the_best_prefixes():
    log_probs = np.log(np.random.default_rng(3).dirichlet(np.ones(4), size=6))
    found = ctc.prefix_beam_search(log_probs, 6, 0, beam=5)
    assert len(found) == 5 and len({p for p, _ in found}) == 5
    exact = brute_force(log_probs, 0)
    for prefix, log_prob in found:  # a pruned search can only lose paths
        assert log_prob <= exact[prefix] + 1e-9


def test_one_prefix_beam_and_best_path_can_differ():
    """Neither is the most probable labelling in general. Here best path reads "a b"; the one-prefix
    beam keeps "a" (0.24 against "a b"'s 0.16 after frame 2); the most probable labelling is "b"
    (0.345, against 0.315 for "a" and 0.16 for "a b")."""
    log_probs = np.log([[0.25, 0.4, 0.35], [0.3, 0.3, 0.4]])
    assert ctc.greedy_decode(log_probs, 2, 0) == [1, 2]
    assert ctc.prefix_beam_search(log_probs, 2, 0, beam=1)[0][0] == (1,)
    exact = brute_force(log_probs, 0)
    assert max(exact, key=exact.get) == (2,)
    assert ctc.batch_decode(log_probs[None], np.array([2]), 0, beam=1) == [[1, 2]]
    assert ctc.batch_decode(log_probs[None], np.array([2]), 0, beam=9) == [[2]]
    # Even with every frame's top symbol at 0.7: best path "a a", the beam "a" (0.357 against 0.343).
    log_probs = np.log([[0.3, 0.7], [0.7, 0.3], [0.3, 0.7]])
    assert ctc.greedy_decode(log_probs, 3, 0) == [1, 1]
    assert ctc.prefix_beam_search(log_probs, 3, 0, beam=1)[0][0] == (1,)


def test_one_prefix_beam_is_best_path_on_peaked_frames():
    """They agree when every frame's top symbol has probability p > 1/sqrt(2) (here p >= 0.75).

    By induction over frames, the single prefix kept is best path's labelling so far, and the
    probability of the kind of ending best path has (blank, or the prefix's last symbol) is at least
    ``p`` of the prefix's total after a blank frame and ``2 - 1/p`` after a repeated symbol. A top
    symbol that starts a new label then wins with ``p`` against ``1 - p``; a top blank likewise; the
    hard case is the top symbol repeating the prefix's last one after a blank frame: the extension
    (``>= p * p``) beats staying (``<= 1 - p*p``) iff ``p^2 > 1/2``. The 0.7 example above shows the
    bound is tight.
    """
    rng = np.random.default_rng(4)
    for _ in range(200):
        frames, vocab = rng.integers(1, 12), rng.integers(2, 5)
        top = rng.integers(0, vocab, size=frames)
        top[1::3] = top[::3][: len(top[1::3])]  # many repeated top symbols
        rest = rng.dirichlet(np.ones(vocab - 1), size=frames)
        peak = rng.uniform(0.75, 0.99, size=frames)
        probs = np.zeros((frames, vocab))
        for t in range(frames):
            probs[t, top[t]] = peak[t]
            probs[t, np.arange(vocab) != top[t]] = (1 - peak[t]) * rest[t]
        log_probs, blank = np.log(probs), int(rng.integers(0, vocab))
        greedy = ctc.greedy_decode(log_probs, frames, blank)
        assert greedy == list(collapse(top.tolist(), blank))
        assert list(ctc.prefix_beam_search(log_probs, frames, blank, beam=1)[0][0]) == greedy


def test_greedy_decode_merges_runs_and_drops_blanks():
    path = [0, 1, 1, 0, 1, 2, 2, 0, 0, 3, 1, 9, 9]  # blank 0; the two frames after length are not read
    log_probs = np.log(np.full((len(path), 4), 0.1))
    log_probs[np.arange(len(path) - 2), path[:-2]] = np.log(0.7)
    assert ctc.greedy_decode(log_probs, len(path) - 2, 0) == [1, 1, 2, 3, 1]
    assert ctc.greedy_decode(log_probs, 3, 0) == [1]
    assert ctc.greedy_decode(log_probs, 0, 0) == []
    assert ctc.greedy_decode(log_probs, 5, 1) == [0, 0]  # blank 1: "0 1 1 0 1" reads "0 0"
    assert ctc.batch_decode(np.stack([log_probs, log_probs]), np.array([3, 0]), 0, beam=1) == [[1], []]


def test_min_frames_and_feasibility():
    cases = {(): 0, (1,): 1, (1, 1): 3, (1, 1, 1): 5, (1, 2, 1): 3, (1, 2, 2, 3): 5, (4, 4, 5, 5): 6}
    assert {x: ctc.min_frames(list(x)) for x in cases} == cases
    labels = np.array([[1, 1, 2, 2], [1, 2, 3, 3], [3, 3, 0, 0]])
    lengths = np.array([4, 3, 1])
    np.testing.assert_array_equal(ctc.repeats(labels, lengths), [2, 0, 0])
    np.testing.assert_array_equal(ctc.feasible(lengths, ctc.repeats(labels, lengths), [6, 3, 0]), [True, True, False])
    # The bound is exact: with V = 3 and T = 4, the labellings of nonzero probability are those of min_frames <= 4.
    reachable = {collapse(p, 0) for p in itertools.product(range(3), repeat=4)}
    every = {x for n in range(5) for x in itertools.product((1, 2), repeat=n)}
    assert reachable == {x for x in every if ctc.min_frames(x) <= 4}


def test_bad_arguments_name_themselves():
    log_probs = np.zeros((3, 4))
    with pytest.raises(ValueError, match="^length:"):
        ctc.greedy_decode(log_probs, 4, 0)
    with pytest.raises(ValueError, match="^blank:"):
        ctc.prefix_beam_search(log_probs, 3, 4, beam=2)
    with pytest.raises(ValueError, match="^beam:"):
        ctc.batch_decode(log_probs[None], np.array([3]), 0, beam=0)
    with pytest.raises(ValueError, match="^label_lengths:"):
        ctc.ctc_loss(jnp.zeros((2, 3, 4)), jnp.array([3, 3]), jnp.zeros((2, 1), jnp.int32), jnp.array([1]), blank=0)
