"""Per-step resets, learnable initial states and truncated gradients, for every cell and path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_research import cells, layers, recurrent
from tests.test_cells import perturbed_params

B, D, H = 2, 3, 4
# One cell per execution path: the hand-written backward pass (lstm; resets fall back to autodiff),
# JAX's autodiff of the scan (gru with backward="autodiff"; the LN cells always take it) and the
# parallel scan (minGRU).
PATHS = {"lstm": (cells.LSTM(H), "custom"), "gru": (cells.GRU(H), "autodiff"), "mingru": (cells.MinGRU(H), "custom")}


def _params(cell, key=0, input_size=D):
    return perturbed_params(cell, jax.random.key(key), input_size)


@pytest.mark.parametrize("name", ["gru", "mingru"])
def test_a_packed_row_equals_its_segments_run_apart(name):
    """Segments of lengths 3, 4 and 2 packed in one row with resets at their starts give each
    segment's outputs as if it ran alone from the initial state, in both directions, and the
    gradient of a loss on the packed row is the sum of the segments' gradients."""
    cell = type(PATHS[name][0])(**{**PATHS[name][0].__dict__, "learn_initial_state": True})
    params = _params(cell)
    params["initial_state"] = jax.random.normal(jax.random.key(5), params["initial_state"].shape)
    xs = jax.random.normal(jax.random.key(1), (1, 9, D))
    bounds = [(0, 3), (3, 7), (7, 9)]
    resets = jnp.zeros((1, 9), bool).at[0, jnp.array([s for s, _ in bounds])].set(True)
    weights = jax.random.normal(jax.random.key(2), (1, 9, 2 * H))

    def packed(p):
        _, ys = recurrent.bidirectional(cell, {"forward": p, "backward": p}, xs, resets=resets)
        return jnp.sum(ys * weights), ys

    def apart(p):
        total, outs = 0.0, []
        for s, e in bounds:
            _, ys = recurrent.bidirectional(cell, {"forward": p, "backward": p}, xs[:, s:e])
            total, outs = total + jnp.sum(ys * weights[:, s:e]), outs + [ys]
        return total, jnp.concatenate(outs, axis=1)

    (loss_p, ys_p), g_p = jax.jit(jax.value_and_grad(packed, has_aux=True))(params)
    (loss_a, ys_a), g_a = jax.jit(jax.value_and_grad(apart, has_aux=True))(params)
    np.testing.assert_allclose(ys_p, ys_a, atol=1e-5)
    for key in g_p:
        np.testing.assert_allclose(g_p[key], g_a[key], atol=1e-5, err_msg=key)


def test_resets_without_learnable_state_restart_from_the_given_state_and_skip_padding():
    cell = cells.GRU(H)
    params = _params(cell)
    xs = jax.random.normal(jax.random.key(3), (B, 6, D))
    state = cells.GRUState(jax.random.normal(jax.random.key(4), (B, H)))
    resets = jnp.zeros((B, 6), bool).at[:, 2].set(True).at[1, 5].set(True)
    lengths = jnp.array([6, 4])  # the reset at row 1, step 5 is padding: ignored
    _, ys = recurrent.unroll(cell, params, xs, state, resets=resets, lengths=lengths)
    _, tail = recurrent.unroll(cell, params, xs[:, 2:], state, lengths=lengths - 2)
    np.testing.assert_allclose(ys[:, 2:], tail, atol=1e-6)
    with pytest.raises(ValueError, match=r"resets must have shape \(2, 6\) \[B, T\]"):
        recurrent.unroll(cell, params, xs, resets=resets[:, :5])
    with pytest.raises(ValueError, match="resets must be bool"):
        recurrent.unroll(cell, params, xs, resets=resets.astype(jnp.float32))
    nested = [[False] * 6, [True] * 6]  # Python lists are accepted, as for lengths
    np.testing.assert_array_equal(recurrent.unroll(cell, params, xs, resets=nested)[1], _unroll_with(nested))


def _unroll_with(resets):
    cell = cells.GRU(H)
    xs = jax.random.normal(jax.random.key(3), (B, 6, D))
    return recurrent.unroll(cell, _params(cell), xs, resets=jnp.asarray(resets))[1]


def test_learnable_initial_state_is_a_parameter_with_a_gradient():
    cell = cells.LSTM(H, learn_initial_state=True)
    params = cell.init(jax.random.key(0), D)
    assert params["initial_state"].shape == (2, H) and not params["initial_state"].any()
    params["initial_state"] = jnp.arange(2 * H, dtype=jnp.float32).reshape(2, H) / 10
    state = cell.initial_state(B, params=params)
    np.testing.assert_array_equal(state.c[1], params["initial_state"][1])
    xs = jax.random.normal(jax.random.key(1), (B, 5, D))
    explicit = recurrent.unroll(cell, params, xs, state)[1]
    np.testing.assert_allclose(recurrent.unroll(cell, params, xs)[1], explicit, atol=1e-6)
    grad = jax.grad(lambda p: jnp.sum(recurrent.unroll(cell, p, xs)[1] ** 2))(params)
    assert float(jnp.abs(grad["initial_state"]).min()) > 0.0
    with pytest.raises(ValueError, match="initial_state needs params="):
        cell.initial_state(B)
    model = layers.RNN(cell=cell, num_layers=2, bidirectional=True)
    variables = model.init(jax.random.key(0), xs)
    assert variables["params"]["layer_1"]["backward"]["initial_state"].shape == (2, H)
    grads = jax.grad(lambda v: jnp.sum(model.apply(v, xs) ** 2))(variables)
    assert float(jnp.abs(grads["params"]["layer_1"]["forward"]["initial_state"]).sum()) > 0.0


def _chunked(cell, params, xs, state, k, reverse):
    """The explicit truncated computation: k-step chunks one after another, each starting from
    the previous chunk's final state under stop_gradient (in the order of processing)."""
    time = xs.shape[1]
    order = list(range(0, time, k))
    spans = [(s, min(s + k, time)) for s in order]
    if reverse:
        spans = [(time - e, time - s) for s, e in spans]
    outs = {}
    for i, (s, e) in enumerate(spans):
        if i > 0:
            state = jax.tree_util.tree_map(jax.lax.stop_gradient, state)
        state, ys = recurrent.unroll(cell, params, xs[:, s:e], state, reverse=reverse)
        outs[s] = ys
    return state, jnp.concatenate([outs[s] for s in sorted(outs)], axis=1)


@pytest.mark.parametrize("name", PATHS)
def test_truncated_gradients_equal_the_explicit_chunked_computation(name):
    cell, backward = PATHS[name]
    params = _params(cell, key=6)
    xs = jax.random.normal(jax.random.key(7), (B, 7, D))
    state = cell.initial_state(B)
    weights = jax.random.normal(jax.random.key(8), (B, 7, H))
    cases = [(3, False, False), (2, True, False)]
    if name == "lstm":
        cases.append((3, False, 2))  # the custom backward's remat chunks cut across truncation chunks

    def losses(k, reverse, remat):
        def truncated(p, x):
            final, ys = recurrent.unroll(
                cell, p, x, state, reverse=reverse, truncate_every=k, remat=remat, backward=backward
            )
            return jnp.sum(ys * weights) + jnp.sum(final.h)

        def chunked(p, x):
            final, ys = _chunked(cell, p, x, state, k, reverse)
            return jnp.sum(ys * weights) + jnp.sum(final.h)

        def full(x):
            return jnp.sum(recurrent.unroll(cell, params, x, state, reverse=reverse)[1] * weights)

        return truncated, chunked, full

    for k, reverse, remat in cases:
        truncated, chunked, full = losses(k, reverse, remat)
        g_t = jax.jit(jax.grad(truncated, argnums=(0, 1)))(params, xs)
        g_c = jax.jit(jax.grad(chunked, argnums=(0, 1)))(params, xs)
        for a, b in zip(jax.tree_util.tree_leaves(g_t), jax.tree_util.tree_leaves(g_c)):
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=f"k={k} reverse={reverse} remat={remat}")
        assert not np.allclose(g_t[1], jax.jit(jax.grad(full))(xs), atol=1e-4)  # truncation changed the gradient
    with pytest.raises(ValueError, match="truncate_every must be a positive int"):
        recurrent.unroll(cell, params, xs, truncate_every=-2)


@pytest.mark.parametrize("name", PATHS)
def test_truncation_counts_each_padded_row_from_its_own_first_step(name):
    """With lengths, a padded row gets the truncated gradients it would get alone, in both
    directions: steps are counted from its first valid step and padding never cuts."""
    cell, backward = PATHS[name]
    params = _params(cell, key=9)
    xs = jax.random.normal(jax.random.key(10), (B, 7, D))
    lengths = jnp.array([7, 4])
    weights = jax.random.normal(jax.random.key(11), (B, 7, H))
    run = jax.jit(
        lambda p, x, n, reverse: recurrent.unroll(
            cell, p, x, lengths=n, reverse=reverse, truncate_every=3, backward=backward
        ),
        static_argnums=3,
    )

    def loss(p, x, n, w, reverse):
        final, ys = run(p, x, n, reverse)
        return jnp.sum(ys * w) + jnp.sum(final.h)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=4)
    for reverse in (False, True):
        g_batch = grad(params, xs, lengths, weights, reverse)
        g_rows = [grad(params, xs[b : b + 1, :n], None, weights[b : b + 1, :n], reverse) for b, n in enumerate([7, 4])]
        total = jax.tree_util.tree_map(lambda *g: sum(g), *(g[0] for g in g_rows))
        for key in g_batch[0]:
            np.testing.assert_allclose(g_batch[0][key], total[key], atol=1e-5, err_msg=f"{key} reverse={reverse}")
        np.testing.assert_allclose(g_batch[1][1, :4], g_rows[1][1][0], atol=1e-5)
        np.testing.assert_array_equal(g_batch[1][1, 4:], 0.0)
