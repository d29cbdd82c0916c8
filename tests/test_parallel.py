"""The parallel scan of minGRU/minLSTM (rnn_research.parallel) against the sequential scan."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_research import cells, parallel, recurrent
from tests.test_cells import perturbed_params, random_state

B, T, D, H = 3, 9, 4, 5
LENGTHS = jnp.array([9, 5, 0])
MINIMAL = {"mingru": cells.MinGRU(H), "minlstm": cells.MinLSTM(H, learn_initial_state=True)}

# (lengths, reverse, perturbation, resets, truncate_every, remat): every option, in a few combinations.
OPTIONS = [
    (True, False, True, True, 2, 3),
    (True, True, False, True, 4, False),
    (False, True, True, False, None, True),
]


def loss_fn(cell, options, mode):
    use_lengths, reverse, _, _, truncate, remat = options

    def loss(params, state, xs, pert, resets):
        final, ys = recurrent.unroll(
            cell,
            params,
            xs,
            state,
            lengths=LENGTHS if use_lengths else None,
            reverse=reverse,
            perturbation=pert,
            resets=resets,
            truncate_every=truncate,
            remat=remat,
            mode=mode,
        )
        weights = jnp.linspace(-1.0, 1.0, ys.size).reshape(ys.shape)
        return jnp.sum(ys * weights) + jnp.sum(jnp.sin(final.h))

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))


@pytest.mark.parametrize("name", MINIMAL)
def test_parallel_matches_sequential_in_values_and_gradients(name):
    cell = MINIMAL[name]
    k = jax.random.split(jax.random.key(3), 5)
    params, state = perturbed_params(cell, k[0], D), random_state(cell, k[1], B)
    xs = jax.random.normal(k[2], (B, T, D))
    resets = jax.random.bernoulli(k[3], 0.3, (B, T))
    for options in OPTIONS:
        pert = jax.random.normal(k[4], (B, T, H)) if options[2] else None
        args = (params, None if cell.learn_initial_state else state, xs, pert, resets if options[3] else None)
        if args[1] is None:
            args = (params, cell.initial_state(B, params=params), *args[2:])
        value_p, grads_p = loss_fn(cell, options, "parallel")(*args)
        value_s, grads_s = loss_fn(cell, options, "sequential")(*args)
        np.testing.assert_allclose(value_p, value_s, rtol=1e-5, atol=1e-5, err_msg=str(options))
        for gp, gs in zip(jax.tree_util.tree_leaves(grads_p), jax.tree_util.tree_leaves(grads_s)):
            np.testing.assert_allclose(gp, gs, rtol=1e-5, atol=1e-5, err_msg=str(options))


def test_auto_mode_is_the_parallel_scan_and_parallel_needs_an_affine_cell():
    cell = MINIMAL["mingru"]
    params = cell.init(jax.random.key(0), D)
    xs = jnp.ones((B, T, D))
    auto = str(jax.make_jaxpr(lambda x: recurrent.unroll(cell, params, x))(xs))
    sequential = str(jax.make_jaxpr(lambda x: recurrent.unroll(cell, params, x, mode="sequential"))(xs))
    assert "scan[" not in auto and "scan[" in sequential
    with pytest.raises(ValueError, match="mode='parallel' needs a cell with an affine recurrence"):
        recurrent.unroll(cells.LSTM(H), cells.LSTM(H).init(jax.random.key(0), D), xs, mode="parallel")
    with pytest.raises(ValueError, match="mode must be one of"):
        recurrent.unroll(cell, params, xs, mode="fast")


def test_long_sequences_with_gates_near_one_are_finite_and_accurate():
    """T = 1,000 with z = sigmoid(-20) ~ 2e-9, so that 1 - z rounds to 1 in float32. The parallel
    scan adds the decays as logs and stays within 1e-6 of a float64 run; the float32 sequential
    scan, which multiplies by the rounded 1 - z at every step, drifts about 3e-6 away. Its
    gradient is finite. A product of decays that underflows gives 0, never NaN."""
    cell = cells.MinGRU(H)
    params = cell.init(jax.random.key(1), D)
    params["bias"] = params["bias"].at[:H].set(-20.0)
    xs = jax.random.normal(jax.random.key(2), (2, 1000, D))

    @functools.partial(jax.jit, static_argnums=2)
    def run(p, x, mode):
        state = cells.MinGRUState(jnp.ones((2, H), x.dtype))
        return recurrent.unroll(cell, p, x, state, mode=mode)[1]

    ys_p, ys_s = run(params, xs, "parallel"), run(params, xs, "sequential")
    with jax.enable_x64(True):
        p64, x64 = jax.tree_util.tree_map(lambda v: v.astype(jnp.float64), (params, xs))
        ys_64 = np.asarray(run(p64, x64, "sequential"))
    error_p, error_s = np.abs(np.asarray(ys_p, np.float64) - ys_64).max(), np.abs(np.asarray(ys_s) - ys_64).max()
    assert error_p < 1e-6 and error_s > 5 * error_p, (error_p, error_s)
    grads = jax.grad(lambda p: jnp.sum(run(p, xs, "parallel")[:, -1]))(params)
    assert all(bool(jnp.isfinite(g).all()) for g in grads.values())
    log_a = jnp.full((3000, 1), -0.5)  # a product of 3,000 decays of e^-0.5 underflows
    hs = parallel.prefix_scan(log_a, jnp.zeros((3000, 1)), jnp.ones((1,)))
    assert bool(jnp.isfinite(hs).all()) and float(hs[-1, 0]) == 0.0


def test_compose_is_associative_and_matches_the_loop():
    k = jax.random.split(jax.random.key(4), 3)
    log_a = -jax.nn.softplus(jax.random.normal(k[0], (6, 2)))
    b = jax.random.normal(k[1], (6, 2))
    h0 = jax.random.normal(k[2], (2,))
    m = [(log_a[i], b[i]) for i in range(3)]
    left = parallel.compose(parallel.compose(m[0], m[1]), m[2])
    right = parallel.compose(m[0], parallel.compose(m[1], m[2]))
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6), left, right)
    h, loop = h0, []
    for i in range(6):
        h = jnp.exp(log_a[i]) * h + b[i]
        loop.append(h)
    np.testing.assert_allclose(parallel.prefix_scan(log_a, b, h0), jnp.stack(loop), rtol=1e-5, atol=1e-6)
