"""Unrolling: against loops and explicit flips, padding invariance, gradients, program size."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from rnn_research import cells, recurrent
from tests import reference
from tests.test_cells import CELLS, perturbed_params, random_state

B, T, D, H = 4, 7, 3, 5
LENGTHS = jnp.array([7, 4, 1, 0])

CELLS_H = {name: type(c)(**{**c.__dict__, "hidden_size": H}) for name, c in CELLS.items()}


def setup(name, key=0):
    cell = CELLS_H[name]
    k = jax.random.split(jax.random.key(key), 3)
    params = perturbed_params(cell, k[0], D)
    xs = jax.random.normal(k[1], (B, T, D))
    return cell, params, xs, random_state(cell, k[2], B)


def with_garbage(xs, lengths, value):
    """``xs`` with every padded step (``t >= lengths[b]``) replaced by ``value``."""
    pad = jnp.arange(xs.shape[1])[None, :] >= lengths[:, None]
    return jnp.where(pad[:, :, None], jnp.full_like(xs, value), xs)


def assert_tree_close(a, b, atol=1e-5):
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, atol=atol, rtol=atol), a, b)


@pytest.mark.parametrize("name", CELLS_H)
def test_unroll_matches_loop_of_call_and_reference(name):
    cell, params, xs, state0 = setup(name)
    final, ys = recurrent.unroll(cell, params, xs, state0)
    state, loop_ys = state0, []
    for t in range(T):
        state, h = cell(params, state, xs[:, t])
        loop_ys.append(h)
    np.testing.assert_allclose(ys, jnp.stack(loop_ys, 1), atol=1e-5)
    assert_tree_close(final, state)
    ref_final, ref_ys = reference.run(cell, params, xs, tuple(state0))
    np.testing.assert_allclose(ys, ref_ys, atol=1e-5)
    assert_tree_close(tuple(final), ref_final)


@pytest.mark.parametrize("name", CELLS_H)
@pytest.mark.parametrize("reverse", [False, True])
def test_lengths_match_per_sequence_runs(name, reverse):
    """Each sequence run alone on its valid prefix gives that row's outputs and final state."""
    cell, params, xs, state0 = setup(name, key=1)
    final, ys = recurrent.unroll(cell, params, xs, state0, lengths=LENGTHS, reverse=reverse)
    for b, n in enumerate(np.asarray(LENGTHS)):
        row_state = tuple(s[b : b + 1] for s in state0)
        prefix = xs[b : b + 1, :n]
        if reverse:
            prefix = prefix[:, ::-1]
        ref_final, ref_ys = reference.run(cell, params, prefix, row_state)
        if reverse:
            ref_ys = ref_ys[:, ::-1]
        np.testing.assert_allclose(ys[b, :n], ref_ys.reshape(n, H), atol=1e-5)
        assert not ys[b, n:].any(), "outputs past the length must be zero"
        for ours, ref in zip(final, ref_final):
            np.testing.assert_allclose(ours[b], ref[0], atol=1e-5)


@pytest.mark.parametrize("name", ["simple_tanh", "lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_garbage_in_padding_changes_no_value_and_no_gradient(name, reverse):
    cell, params, xs, state0 = setup(name, key=2)

    def loss(p, s, x):
        final, ys = recurrent.unroll(cell, p, x, s, lengths=LENGTHS, reverse=reverse)
        weights = jnp.linspace(-1.0, 1.0, ys.size).reshape(ys.shape)
        return jnp.sum(ys * weights) + sum(jnp.sum(leaf**2) for leaf in final), (final, ys)

    grad_fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
    (clean_loss, clean_out), clean_grads = grad_fn(params, state0, with_garbage(xs, LENGTHS, 0.0))
    for garbage in (1e6, jnp.nan, jnp.inf):
        dirty_xs = with_garbage(xs, LENGTHS, garbage)
        (dirty_loss, dirty_out), dirty_grads = grad_fn(params, state0, dirty_xs)
        np.testing.assert_array_equal(clean_loss, dirty_loss)
        jax.tree_util.tree_map(np.testing.assert_array_equal, clean_out, dirty_out)
        jax.tree_util.tree_map(np.testing.assert_array_equal, clean_grads, dirty_grads)
    pad = (jnp.arange(T)[None, :] >= LENGTHS[:, None])[:, :, None]
    assert not jnp.where(pad, dirty_grads[2], 0.0).any(), "padded inputs get zero gradient"


@pytest.mark.parametrize("name", ["lstm", "gru_cho"])
def test_reverse_without_lengths_is_flip(name):
    cell, params, xs, state0 = setup(name, key=3)
    final, ys = recurrent.unroll(cell, params, xs, state0, reverse=True)
    flip_final, flip_ys = recurrent.unroll(cell, params, xs[:, ::-1], state0)
    np.testing.assert_allclose(ys, flip_ys[:, ::-1], atol=1e-6)
    assert_tree_close(final, flip_final, atol=1e-6)


@pytest.mark.parametrize("merge", ["concat", "sum"])
def test_bidirectional_against_explicit_flips(merge):
    cell = CELLS_H["gru"]
    keys = jax.random.split(jax.random.key(4), 3)
    params = {"forward": perturbed_params(cell, keys[0], D), "backward": perturbed_params(cell, keys[1], D)}
    xs = jax.random.normal(keys[2], (B, T, D))
    (fw, bw), ys = recurrent.bidirectional(cell, params, xs, lengths=LENGTHS, merge=merge)
    for b, n in enumerate(np.asarray(LENGTHS)):
        prefix = xs[b : b + 1, :n]
        fw_final, fw_ys = recurrent.unroll(cell, params["forward"], prefix)
        bw_final, bw_ys = recurrent.unroll(cell, params["backward"], prefix[:, ::-1])
        bw_ys = bw_ys[:, ::-1]
        expected = jnp.concatenate([fw_ys, bw_ys], -1) if merge == "concat" else fw_ys + bw_ys
        np.testing.assert_allclose(ys[b : b + 1, :n], expected, atol=1e-5)
        assert not ys[b, n:].any()
        np.testing.assert_allclose(fw.h[b], fw_final.h[0], atol=1e-5)
        np.testing.assert_allclose(bw.h[b], bw_final.h[0], atol=1e-5)
    assert ys.shape == (B, T, 2 * H if merge == "concat" else H)


def test_stacked_matches_layer_by_layer_and_dropout_only_between_layers():
    cell = CELLS_H["lstm"]
    params = recurrent.init_stacked(cell, jax.random.key(5), D, 3, bidirectional=True)
    assert [p["forward"]["input_kernel"].shape[0] for p in params] == [D, 2 * H, 2 * H]
    xs = jax.random.normal(jax.random.key(6), (B, T, D))
    finals, ys = recurrent.stacked(cell, params, xs, lengths=LENGTHS, bidirectional=True)
    manual = xs
    for layer, p in enumerate(params):
        final, manual = recurrent.bidirectional(cell, p, manual, lengths=LENGTHS)
        assert_tree_close(finals[layer], final)
    np.testing.assert_allclose(ys, manual, atol=1e-6)

    rng = jax.random.key(7)
    _, dropped = recurrent.stacked(
        cell, params, xs, lengths=LENGTHS, bidirectional=True, dropout_rate=0.5, dropout_rng=rng
    )
    assert not np.allclose(dropped, ys), "dropout between layers must change the outputs"
    single = params[:1]
    _, one = recurrent.stacked(cell, single, xs, bidirectional=True, dropout_rate=0.5, dropout_rng=rng)
    _, one_plain = recurrent.stacked(cell, single, xs, bidirectional=True)
    np.testing.assert_array_equal(one, one_plain)  # no dropout after the last layer


def test_dropout_keeps_expectation():
    x = jnp.ones((200, 50))
    y = recurrent.dropout(jax.random.key(0), 0.3, x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1.0 / 0.7, rtol=1e-6)
    assert abs(float(kept.mean()) - 0.7) < 0.02


@pytest.mark.parametrize("knob", [dict(unroll=4), dict(unroll=True), dict(remat=True)])
def test_unroll_and_remat_knobs_change_nothing(knob):
    cell, params, xs, state0 = setup("lstm", key=8)

    def loss(p, **kw):
        final, ys = recurrent.unroll(cell, p, xs, state0, lengths=LENGTHS, **kw)
        return jnp.sum(ys**2) + jnp.sum(final.c)

    base_value, base_grads = jax.value_and_grad(loss)(params)
    value, grads = jax.value_and_grad(lambda p: loss(p, **knob))(params)
    np.testing.assert_allclose(value, base_value, rtol=1e-6)
    assert_tree_close(grads, base_grads, atol=1e-5)
    # The knob must reach the program: scans over chunks of ceil(sqrt(7)) = 3 steps, or a
    # scan unrolled as asked.
    jaxpr = str(jax.make_jaxpr(jax.grad(lambda p: loss(p, **knob)))(params))
    if knob.get("remat"):
        assert "length=3" in jaxpr
    elif knob.get("unroll") is True:
        assert "scan" not in jaxpr or f"unroll={T}" in jaxpr
    else:
        assert f"unroll={knob['unroll']}" in jaxpr


@pytest.mark.parametrize("name", ["simple_tanh", "lstm", "gru", "gru_cho"])
def test_unroll_gradients_match_finite_differences(name):
    cell = CELLS_H[name]
    with jax.enable_x64(True):
        _, params, xs, state0 = setup(name, key=9)
        to64 = lambda tree: jax.tree_util.tree_map(lambda v: v.astype(jnp.float64), tree)  # noqa: E731
        params, xs, state0 = to64(params), to64(xs), to64(state0)

        def f(p, s, x, backward="custom"):
            final, ys = recurrent.unroll(cell, p, x, s, lengths=LENGTHS, reverse=True, backward=backward)
            return ys, final

        # The hand-written backward pass in reverse mode; forward mode needs JAX's autodiff.
        check_grads(f, (params, state0, xs), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)
        check_grads(
            partial(f, backward="autodiff"), (params, state0, xs), order=1, modes=("fwd",), atol=1e-5, rtol=1e-5
        )


def test_program_size_does_not_grow_with_sequence_length():
    cell = cells.LSTM(8)
    params = cell.init(jax.random.key(0), 4)

    def hlo_lines(time):
        xs = jnp.zeros((2, time, 4))
        fn = jax.jit(lambda p, x: recurrent.unroll(cell, p, x, lengths=jnp.array([time, 1]))[1].sum())
        return len(fn.lower(params, xs).as_text().splitlines())

    assert hlo_lines(1000) <= hlo_lines(10)


@pytest.mark.parametrize("name", ["simple_tanh", "lstm", "gru"])
def test_bf16_long_run_stays_finite(name):
    base = CELLS_H[name]
    cell = type(base)(**{**base.__dict__, "dtype": jnp.bfloat16})
    params = cell.init(jax.random.key(0), D)
    xs = jax.random.normal(jax.random.key(1), (2, 300, D), jnp.bfloat16)
    final, ys = jax.jit(lambda p, x: recurrent.unroll(cell, p, x, cell.initial_state(2, jnp.bfloat16)))(params, xs)
    assert ys.dtype == jnp.bfloat16
    assert bool(jnp.isfinite(ys.astype(jnp.float32)).all())
    grads = jax.grad(lambda p: recurrent.unroll(cell, p, xs)[1].astype(jnp.float32).mean())(params)
    assert all(bool(jnp.isfinite(g).all()) and g.dtype == jnp.float32 for g in grads.values())


def test_perturbation_gradient_is_total_dloss_dh():
    """dLoss/d(perturbation_t) equals the gradient with respect to h_t in an explicit loop."""
    cell, params, xs, state0 = setup("lstm", key=11)
    target = jax.random.normal(jax.random.key(12), (B, T, H))

    def loss_scan(pert):
        _, ys = recurrent.unroll(cell, params, xs, state0, lengths=LENGTHS, perturbation=pert)
        return jnp.sum((ys - target) ** 2)

    def loss_loop(eps):  # eps[t] added to h_t, explicitly, in a Python loop with masking
        state, total = state0, 0.0
        for t in range(T):
            new, h = cell(params, state, xs[:, t])
            h = h + eps[t]
            valid = (t < LENGTHS)[:, None]
            state = jax.tree_util.tree_map(lambda n, o, v=valid: jnp.where(v, n, o), new._replace(h=h), state)
            total = total + jnp.sum((jnp.where(valid, h, 0.0) - target[:, t]) ** 2)  # outputs past a length are 0
        return total

    zeros = jnp.zeros((B, T, H))
    plain = recurrent.unroll(cell, params, xs, state0, lengths=LENGTHS)
    perturbed = recurrent.unroll(cell, params, xs, state0, lengths=LENGTHS, perturbation=zeros)
    jax.tree_util.tree_map(np.testing.assert_array_equal, plain, perturbed)  # zeros change nothing
    np.testing.assert_allclose(loss_scan(zeros), loss_loop(jnp.zeros((T, B, H))), rtol=1e-5)
    g_scan = jax.grad(loss_scan)(zeros)
    g_loop = jnp.swapaxes(jax.grad(loss_loop)(jnp.zeros((T, B, H))), 0, 1)
    np.testing.assert_allclose(g_scan, g_loop, atol=1e-5)
    assert float(jnp.abs(g_scan[0, 0]).max()) > 0.0
    with pytest.raises(ValueError, match=r"perturbation must have shape \(4, 7, 5\) \[B, T, H\], got \(4, 6, 5\)"):
        recurrent.unroll(cell, params, xs, perturbation=zeros[:, 1:])


def test_python_lists_are_accepted_and_checked():
    cell, params, xs, _ = setup("gru", key=13)
    final, ys = recurrent.unroll(cell, params, np.asarray(xs).tolist(), lengths=[7, 4, 1, 0])
    np.testing.assert_allclose(ys, recurrent.unroll(cell, params, xs, lengths=LENGTHS)[1], atol=1e-6)
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 7\]"):
        recurrent.unroll(cell, params, xs, lengths=[8, 1, 1, 1])


def test_traced_lengths_under_jit():
    cell, params, xs, _ = setup("gru", key=10)
    eager = recurrent.unroll(cell, params, xs, lengths=LENGTHS)
    jitted = jax.jit(lambda n: recurrent.unroll(cell, params, xs, lengths=n))(LENGTHS)
    assert_tree_close(eager, jitted, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(xs=jnp.ones((B, D))), r"xs must have rank 3 \[B, T, D\], got shape \(4, 3\)"),
        (dict(xs=jnp.ones((B, T, D + 2))), r"xs has feature size \(5,\) \(shape \(4, 7, 5\)\), expected 3"),
        (dict(xs=jnp.ones((B, T, D), jnp.int32)), r"xs must be floating point, got dtype int32"),
        (dict(lengths=jnp.array([1, 2])), r"lengths must have shape \(4,\) to match xs batch size, got shape \(2,\)"),
        (dict(lengths=jnp.array([1, 2, 8, 0])), r"lengths must lie in \[0, 7\] \(T of xs\), got min 0 and max 8"),
        (dict(lengths=jnp.array([1, -1, 3, 0])), r"lengths must lie in \[0, 7\].*min -1"),
        (dict(lengths=jnp.array([1.0, 2.0, 3.0, 0.0])), r"lengths must be integer, got dtype float32"),
        (dict(initial_state="bad"), r"initial_state must be a LSTMState, got str"),
    ],
)
def test_bad_input_gives_one_line_value_error(kwargs, match):
    cell = CELLS_H["lstm"]
    params = cell.init(jax.random.key(0), D)
    args = dict(xs=jnp.ones((B, T, D)), initial_state=None)
    args.update(kwargs)
    xs, initial_state = args.pop("xs"), args.pop("initial_state")
    with pytest.raises(ValueError, match=match) as info:
        recurrent.unroll(cell, params, xs, initial_state, **args)
    assert "\n" not in str(info.value)


def test_bad_stack_arguments():
    cell = CELLS_H["gru"]
    xs = jnp.ones((B, T, D))
    params = recurrent.init_stacked(cell, jax.random.key(0), D, 2, bidirectional=True)
    with pytest.raises(ValueError, match="merge must be one of"):
        recurrent.bidirectional(cell, params[0], xs, merge="mean")
    with pytest.raises(ValueError, match=r"bidirectional params is missing \['forward', 'backward'\]"):
        recurrent.bidirectional(cell, params[0]["forward"], xs)
    with pytest.raises(ValueError, match=r"initial_states has 1 entries, expected one per layer \(2\)"):
        recurrent.stacked(cell, params, xs, [None], bidirectional=True)
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        recurrent.init_stacked(cell, jax.random.key(0), D, 0)
    with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\)"):
        recurrent.stacked(cell, params, xs, bidirectional=True, dropout_rate=1.0, dropout_rng=jax.random.key(0))
