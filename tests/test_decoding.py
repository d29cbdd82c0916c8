"""Decoding: the generic loop, greedy, sampling and beam search against exhaustive search and each other."""

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_research import decoding
from tests.errors import one_line_error

V, H, D, M = 4, 5, 3, 2  # vocabulary, hidden, embedding, memory slots
EOS, PAD = 1, 0


class State(NamedTuple):
    h: jax.Array  # [B, H]
    steps: jax.Array  # [B] int32


def make_model(seed=0, vocab=V):
    """A random embedding, a GRU-like step and an output head that also attends over a memory."""
    rng = np.random.RandomState(seed)
    p = {
        "embedding": rng.normal(size=(vocab, D)),
        "w": rng.normal(size=(D, 3 * H)),
        "u": rng.normal(size=(H, 3 * H)) * 0.5,
        "out": rng.normal(size=(H, vocab)) * 2.0,
        "mem_out": rng.normal(size=(H, vocab)),
    }
    p = {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}

    def step_fn(state, tokens, context):
        x = p["embedding"][tokens]
        gx, gh = x @ p["w"], state.h @ p["u"]
        z = jax.nn.sigmoid(gx[:, :H] + gh[:, :H])
        r = jax.nn.sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
        n = jnp.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
        h = (1.0 - z) * n + z * state.h
        logits = h @ p["out"]
        if context is not None:
            weights = jax.nn.softmax(jnp.einsum("bh,bmh->bm", h, context["memory"]), axis=-1)
            logits = logits + jnp.einsum("bm,bmh->bh", weights, context["memory"]) @ p["mem_out"]
            boost = (state.steps == context["eos_at"]).astype(jnp.float32) * 30.0  # force eos at a step
            logits = logits + boost[:, None] * jax.nn.one_hot(EOS, vocab)[None, :]
        return State(h, state.steps + 1), logits

    return step_fn


def make_inputs(batch, seed=1, eos_at=None):
    rng = np.random.RandomState(seed)
    state = State(jnp.asarray(rng.normal(size=(batch, H)), jnp.float32), jnp.zeros((batch,), jnp.int32))
    first = jnp.asarray(rng.randint(2, V, size=batch), jnp.int32)
    eos_at = np.full(batch, -1) if eos_at is None else np.asarray(eos_at)
    context = {"memory": jnp.asarray(rng.normal(size=(batch, M, H)), jnp.float32), "eos_at": jnp.asarray(eos_at)}
    return state, first, context


def concat(*trees):
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *trees)


def teacher_forced_logp(step_fn, state, first, context, sequences):
    """``[N]`` log-probs of token ``sequences [N, L]`` (all rows from the same example), by a Python loop."""
    n, length = sequences.shape
    state, context = jax.tree.map(lambda x: jnp.repeat(x, n, axis=0), (state, context))
    tokens, total = jnp.repeat(first, n), []
    for t in range(length):
        state, logits = step_fn(state, tokens, context)
        tokens = jnp.asarray(sequences[:, t], jnp.int32)
        total.append(np.asarray(jnp.take_along_axis(jax.nn.log_softmax(logits), tokens[:, None], axis=-1))[:, 0])
    return np.cumsum(np.stack(total, axis=1), axis=1)  # [N, L]: log p of each prefix


def row(b, *trees):
    """Example ``b`` of each tree, as a batch of one."""
    return jax.tree.map(lambda x: x[b : b + 1], trees)


def all_sequences(length):
    """Every complete hypothesis: ``l-1`` non-eos tokens then eos, or ``length`` tokens with no eos."""
    words = [v for v in range(V) if v != EOS]
    out = [(*prefix, EOS) for n in range(length) for prefix in itertools.product(words, repeat=n)]
    return out + list(itertools.product(words, repeat=length))


# ------------------------------------------------------------------------------ beam search
@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_full_width_beam_search_is_exhaustive_search(alpha):
    step_fn, length = make_model(), 3
    state, first, context = make_inputs(3)
    candidates = all_sequences(length)
    k = len(candidates)  # 40: as wide as the number of possible outputs
    beams = decoding.beam_search(step_fn, state, first, length, k, eos_id=EOS, alpha=alpha, context=context)
    assert beams.sequences.shape == (3, k, length) and beams.scores.shape == (3, k) and beams.lengths.shape == (3, k)
    padded = np.array([list(c) + [PAD] * (length - len(c)) for c in candidates])
    lengths = np.array([len(c) for c in candidates])
    for b in range(3):
        one = row(b, state, first, context)
        logp = teacher_forced_logp(step_fn, *one, padded)[np.arange(k), lengths - 1]
        scores = logp / ((5.0 + lengths) / 6.0) ** alpha
        order = np.argsort(-scores, kind="stable")
        assert np.min(-np.diff(scores[order])) > 1e-5  # no near-ties, so the ranking is well defined
        np.testing.assert_array_equal(beams.sequences[b], padded[order])
        np.testing.assert_array_equal(beams.lengths[b], lengths[order])
        np.testing.assert_allclose(beams.scores[b], scores[order], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_of_one_is_greedy(alpha):
    step_fn = make_model(seed=3)
    state, first, context = make_inputs(6, seed=4, eos_at=[-1, 1, -1, 0, 2, -1])
    greedy = decoding.greedy(step_fn, state, first, 5, eos_id=EOS, context=context)
    beams = decoding.beam_search(step_fn, state, first, 5, 1, eos_id=EOS, alpha=alpha, context=context)
    np.testing.assert_array_equal(beams.sequences[:, 0], greedy.tokens)
    np.testing.assert_array_equal(beams.lengths[:, 0], greedy.lengths)
    expected = greedy.scores / decoding.length_penalty(greedy.lengths, alpha)
    np.testing.assert_allclose(beams.scores[:, 0], expected, rtol=1e-6)
    assert set(np.asarray(greedy.lengths)) > {1, 2, 3}  # eos at several steps, and some rows never end


def test_beams_are_sorted_and_padded_after_their_end():
    step_fn = make_model(seed=5)
    state, first, context = make_inputs(4, seed=6, eos_at=[0, 2, -1, 1])
    beams = decoding.beam_search(step_fn, state, first, 6, 3, eos_id=EOS, alpha=0.6, context=context)
    seqs, scores, lengths = (np.asarray(x) for x in beams)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for b, k in itertools.product(range(4), range(3)):
        n = lengths[b, k]
        assert np.all(seqs[b, k, n:] == PAD)
        assert n == 6 or seqs[b, k, n - 1] == EOS
        assert EOS not in seqs[b, k, : n - 1]


def test_more_beams_than_hypotheses_leaves_empty_slots():
    step_fn = make_model()
    state, first, context = make_inputs(2)
    beams = decoding.beam_search(step_fn, state, first, 1, 6, eos_id=EOS, context=context)
    assert np.all(np.isfinite(beams.scores[:, :V])) and np.all(beams.scores[:, V:] == -np.inf)
    assert np.all(beams.lengths[:, V:] == 0) and np.all(beams.sequences[:, V:] == PAD)


# ------------------------------------------------------------------------------ padding rows
def garbage(batch, seed):
    rng = np.random.RandomState(seed)
    state = State(jnp.asarray(rng.normal(size=(batch, H)) * 50, jnp.float32), jnp.asarray(rng.randint(-3, 9, batch)))
    first = jnp.asarray(rng.randint(0, V, batch), jnp.int32)
    context = {"memory": jnp.asarray(rng.normal(size=(batch, M, H)) * 50, jnp.float32)}
    context["eos_at"] = jnp.asarray(rng.randint(-1, 4, batch))
    return state, first, context


DECODERS = {
    "greedy": lambda f, s, x, c: decoding.greedy(f, s, x, 5, eos_id=EOS, context=c),
    "sample": lambda f, s, x, c: decoding.sample(
        f, s, x, 5, jax.random.key(7), temperature=1.3, top_p=0.9, eos_id=EOS, context=c
    ),
    "beam": lambda f, s, x, c: decoding.beam_search(f, s, x, 5, 3, eos_id=EOS, alpha=0.6, context=c),
}


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_padding_rows_never_change_real_rows(name):
    decode, step_fn = DECODERS[name], make_model(seed=8)
    real = make_inputs(3, seed=9, eos_at=[-1, 2, -1])
    alone = decode(step_fn, *real)
    first_fill = decode(step_fn, *concat(real, garbage(4, seed=10)))
    other_fill = decode(step_fn, *concat(real, garbage(4, seed=11)))
    for a, b, c in zip(alone, first_fill, other_fill):
        np.testing.assert_array_equal(b[:3], c[:3])  # same shapes: bit for bit
        if jnp.issubdtype(a.dtype, jnp.integer):
            np.testing.assert_array_equal(a, b[:3])
        else:
            np.testing.assert_allclose(a, b[:3], rtol=1e-5, atol=1e-6)  # another batch size may round differently


def test_per_row_keys_make_sampling_independent_of_row_order():
    step_fn, keys = make_model(seed=12), jax.random.split(jax.random.key(3), 5)
    state, first, context = make_inputs(5, seed=13)
    out = decoding.sample(step_fn, state, first, 6, keys, top_k=3, eos_id=EOS, context=context)
    order = jnp.asarray([3, 0, 4, 2, 1])
    moved = jax.tree.map(lambda x: x[order], (state, first, context))
    shuffled = decoding.sample(step_fn, moved[0], moved[1], 6, keys[order], top_k=3, eos_id=EOS, context=moved[2])
    np.testing.assert_array_equal(shuffled.tokens, out.tokens[order])
    np.testing.assert_allclose(shuffled.scores, out.scores[order], rtol=1e-6)


# ------------------------------------------------------------------------------ sampling
def test_sampling_limits_are_greedy_and_a_key_reproduces():
    step_fn = make_model(seed=14)
    state, first, context = make_inputs(8, seed=15)
    greedy = decoding.greedy(step_fn, state, first, 6, eos_id=EOS, context=context)
    for options in ({"temperature": 0.0}, {"temperature": 1e-4}, {"top_k": 1}, {"top_p": 1e-6}):
        out = decoding.sample(step_fn, state, first, 6, jax.random.key(0), eos_id=EOS, context=context, **options)
        np.testing.assert_array_equal(out.tokens, greedy.tokens, err_msg=str(options))
        np.testing.assert_allclose(out.scores, greedy.scores, rtol=1e-6, err_msg=str(options))
    sample = lambda key: decoding.sample(step_fn, state, first, 6, key, context=context)  # noqa: E731
    np.testing.assert_array_equal(sample(jax.random.key(5)).tokens, sample(jax.random.key(5)).tokens)
    assert not np.array_equal(sample(jax.random.key(5)).tokens, sample(jax.random.key(6)).tokens)
    raw = decoding.sample(step_fn, state, first, 6, jax.random.PRNGKey(5), context=context)
    np.testing.assert_array_equal(raw.tokens, sample(jax.random.wrap_key_data(jax.random.PRNGKey(5))).tokens)


def test_samples_follow_the_filtered_distribution():
    vocab, n = 6, 4000
    logits = jnp.asarray([[2.0, 1.0, 0.5, 0.0, -1.0, 0.3]])
    step_fn = lambda s, x, c: (s, jnp.repeat(logits, x.shape[0], axis=0))  # noqa: E731
    first = jnp.zeros((n,), jnp.int32)
    out = decoding.sample(step_fn, jnp.zeros((n,)), first, 1, jax.random.key(1), temperature=0.7, top_k=4)
    expected = np.asarray(jax.nn.softmax(decoding.filter_logits(logits[0], temperature=0.7, top_k=4)))
    counts = np.bincount(np.asarray(out.tokens[:, 0]), minlength=vocab) / n
    assert expected[[4, 3]].sum() == 0 and counts[[4, 3]].sum() == 0
    np.testing.assert_allclose(counts, expected, atol=0.03)


def numpy_top_p(logits, p):
    """The reference nucleus: the smallest most-probable set whose probability reaches ``p``."""
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-probs)
    size = int(np.searchsorted(np.cumsum(probs[order]), p) + 1)  # first prefix with sum >= p
    keep = np.zeros_like(probs, bool)
    keep[order[:size]] = True
    kept = np.where(keep, probs, 0.0)
    return keep, kept / kept.sum()


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.75, 0.9, 0.99])
def test_top_p_keeps_the_smallest_set_reaching_p(p):
    rng = np.random.RandomState(16)
    logits = rng.normal(size=(50, 9)) * 1.5
    filtered = np.asarray(decoding.filter_logits(jnp.asarray(logits, jnp.float32), top_p=p))
    for row, out in zip(logits, filtered):
        probs = np.sort(np.exp(row - row.max()) / np.exp(row - row.max()).sum())[::-1]
        if np.min(np.abs(np.cumsum(probs) - p)) < 1e-5:
            continue  # p on a boundary: float32 may round either way
        keep, reference = numpy_top_p(row, p)
        np.testing.assert_array_equal(np.isfinite(out), keep)
        np.testing.assert_allclose(np.asarray(jax.nn.softmax(out)), reference, atol=1e-6)


def test_top_k_keeps_k_and_top_p_applies_after_it():
    logits = jnp.asarray([[3.0, 1.0, 2.0, -1.0, 0.0]])
    np.testing.assert_array_equal(
        np.isfinite(decoding.filter_logits(logits, top_k=2)), [[True, False, True, False, False]]
    )
    both = decoding.filter_logits(logits, top_k=3, top_p=0.95)  # top 3: 0.665, 0.245, 0.090; 0.91 < 0.95
    np.testing.assert_array_equal(np.isfinite(both), [[True, True, True, False, False]])
    np.testing.assert_allclose(decoding.filter_logits(logits, temperature=2.0), logits / 2.0)


# ------------------------------------------------------------------------------ eos
@pytest.mark.parametrize("name", ["greedy", "sample"])
def test_a_row_stops_at_eos(name):
    step_fn = make_model(seed=17)
    state, first, context = make_inputs(3, seed=18, eos_at=[1, -1, 0])
    out = DECODERS[name](step_fn, state, first, context)  # 5 steps
    tokens, lengths = np.asarray(out.tokens), np.asarray(out.lengths)
    np.testing.assert_array_equal(tokens[[0, 2], [1, 0]], [EOS, EOS])
    assert np.all(tokens[0, 2:] == PAD) and np.all(tokens[2, 1:] == PAD) and list(lengths[[0, 2]]) == [2, 1]
    for b in range(3):
        ends = list(tokens[b]).index(EOS) + 1 if EOS in tokens[b] else 5
        assert lengths[b] == ends and np.all(tokens[b, ends:] == PAD)
        one = row(b, state, first, context)
        logp = teacher_forced_logp(step_fn, *one, tokens[b : b + 1])
        np.testing.assert_allclose(out.scores[b], logp[0, ends - 1], rtol=1e-5)  # the padding adds nothing
    short = decoding.greedy(step_fn, state, first, 2, eos_id=EOS, context=context)
    if name == "greedy":
        assert out.scores[0] == short.scores[0]  # finished at step 1: frozen after it


# ------------------------------------------------------------------------------ generic loop and jit
def test_generate_feeds_back_its_own_prediction_and_differentiates():
    kernel = jnp.asarray(np.random.RandomState(19).normal(size=(2, 2)), jnp.float32) * 0.5

    def step_fn(h, x, context):
        h = jnp.tanh(h @ kernel + x + context)
        return h, h.sum(axis=-1, keepdims=True)

    h0, x0, context = jnp.ones((3, 2)), jnp.zeros((3, 1)), jnp.full((3, 2), 0.1)
    out = decoding.generate(step_fn, h0, x0, 4, lambda y, t, key: y * 0.5, context)
    h, x, expected = h0, x0, []
    for _ in range(4):
        h, y = step_fn(h, x, context)
        expected.append(y)
        x = y * 0.5
    np.testing.assert_allclose(out.outputs, jnp.stack(expected, axis=1), rtol=1e-6)
    np.testing.assert_allclose(out.inputs, jnp.stack(expected, axis=1) * 0.5, rtol=1e-6)
    np.testing.assert_allclose(out.state, h, rtol=1e-6)
    grad = jax.grad(lambda k: decoding.generate(step_fn, h0 @ k, x0, 4, lambda y, t, key: y, context).outputs.sum())
    assert np.all(np.isfinite(grad(kernel)))
    noisy = decoding.generate(
        step_fn, h0, x0, 3, lambda y, t, key: y + jax.random.normal(key), context, key=jax.random.key(0)
    )
    assert noisy.outputs.shape == (3, 3, 1)


def test_decoders_run_under_jit_with_static_shapes():
    step_fn = make_model(seed=20)
    inputs = make_inputs(2, seed=21)

    @jax.jit
    def run(state, first, context, key):
        beams = decoding.beam_search(step_fn, state, first, 4, 3, eos_id=EOS, alpha=0.6, context=context)
        sampled = decoding.sample(step_fn, state, first, 4, key, top_k=2, top_p=0.8, eos_id=EOS, context=context)
        return beams, sampled, decoding.greedy(step_fn, state, first, 4, eos_id=EOS, context=context)

    beams, sampled, greedy = run(*inputs, jax.random.key(2))
    assert beams.sequences.shape == (2, 3, 4) and sampled.tokens.shape == greedy.tokens.shape == (2, 4)
    eager = decoding.beam_search(step_fn, *inputs[:2], 4, 3, eos_id=EOS, alpha=0.6, context=inputs[2])
    np.testing.assert_array_equal(beams.sequences, eager.sequences)
    np.testing.assert_allclose(beams.scores, eager.scores, rtol=1e-6)


def test_bad_arguments_are_one_line_errors():
    step_fn = make_model()
    state, first, context = make_inputs(2)
    with one_line_error(ValueError, "num_steps"):
        decoding.greedy(step_fn, state, first, 0)
    with one_line_error(ValueError, "beam_size"):
        decoding.beam_search(step_fn, state, first, 3, 0, eos_id=EOS)
    with one_line_error(ValueError, "alpha"):
        decoding.beam_search(step_fn, state, first, 3, 2, eos_id=EOS, alpha=-1.0)
    with one_line_error(ValueError, "eos_id"):
        decoding.greedy(step_fn, state, first, 3, eos_id=V, context=context)
    with one_line_error(ValueError, "first_token"):
        decoding.greedy(step_fn, state, first[:, None], 3)
    for bad, name in (({"temperature": -1.0}, "temperature"), ({"top_k": -2}, "top_k"), ({"top_p": 0.0}, "top_p")):
        with one_line_error(ValueError, name):
            decoding.sample(step_fn, state, first, 3, jax.random.key(0), **bad)
    with one_line_error(ValueError, "key"):
        decoding.sample(step_fn, state, first, 3, jax.random.split(jax.random.key(0), 3))
    with one_line_error(ValueError, "step_fn"):
        decoding.greedy(lambda s, x, c: (s, jnp.zeros((5, V))), state, first, 3)


def test_step_stack_repeated_equals_the_stacked_unroll():
    from rnn_research import cells, recurrent

    cell = cells.LSTM(hidden_size=H)
    params = recurrent.init_stacked(cell, jax.random.key(0), D, num_layers=2)
    xs = jax.random.normal(jax.random.key(1), (2, 4, D))
    finals, ys = recurrent.stacked(cell, params, xs)
    states = [cell.initial_state(2) for _ in params]
    for t in range(4):
        states, y = decoding.step_stack(cell, params, states, xs[:, t])
        np.testing.assert_allclose(y, ys[:, t], rtol=1e-5, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), states, list(finals))
    with one_line_error(ValueError, "step_stack: 2 layers of params but 1 states"):
        decoding.step_stack(cell, params, states[:1], xs[:, 0])
