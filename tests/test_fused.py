"""The hand-written backward pass (rnn_research.fused) against JAX's autodiff of the scan."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rnn_research import cells, layers, recurrent
from tests.test_cells import perturbed_params, random_state
from tests.test_recurrent import CELLS_H, LENGTHS, B, D, H, T, assert_tree_close

# (reverse, lengths, perturbation, remat): every option of unroll that the custom pass handles.
OPTIONS = [
    (False, True, True, True),  # remat=True: chunks of ceil(sqrt(7)) = 3 steps, the last padded
    (True, True, False, 3),  # reverse with lengths and padded chunks (no remat: tests/test_recurrent.py)
    (True, False, True, 2),
]


def loss_fn(cell, lengths, reverse, remat, backward):
    def loss(params, state, xs, pert):
        final, ys = recurrent.unroll(
            cell, params, xs, state, lengths=lengths, reverse=reverse, remat=remat, perturbation=pert, backward=backward
        )
        weights = jnp.linspace(-1.0, 1.0, ys.size).reshape(ys.shape)
        return jnp.sum(ys * weights) + sum(jnp.sum(jnp.sin(leaf)) for leaf in final)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))


@pytest.mark.parametrize("name", ["simple_tanh", "simple_relu", "lstm", "gru", "gru_cho"])
def test_custom_backward_matches_autodiff(name):
    cell = CELLS_H[name]
    k = jax.random.split(jax.random.key(20), 4)
    params, state = perturbed_params(cell, k[0], D), random_state(cell, k[1], B)
    xs = jax.random.normal(k[2], (B, T, D))
    for reverse, use_lengths, use_pert, remat in OPTIONS if name != "simple_relu" else OPTIONS[1:2]:
        lengths = LENGTHS if use_lengths else None
        pert = 0.3 * jax.random.normal(k[3], (B, T, H)) if use_pert else None
        ours = loss_fn(cell, lengths, reverse, remat, "custom")(params, state, xs, pert)
        ref = loss_fn(cell, lengths, reverse, False, "autodiff")(params, state, xs, pert)
        assert_tree_close(ours, ref, atol=1e-5)
        # Every gradient must be live, or agreement could be two zeros.
        assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree_util.tree_leaves(ours[1]))


def test_stacked_bidirectional_layer_and_vmap_agree():
    model = {
        bw: layers.RNN(cell="lstm", hidden_size=H, num_layers=2, bidirectional=True, backward=bw)
        for bw in ("custom", "autodiff")
    }
    xs = jax.random.normal(jax.random.key(1), (B, T, D))
    variables = model["custom"].init(jax.random.key(0), xs, LENGTHS)

    def grads(bw):
        return jax.jit(jax.grad(lambda v, x: jnp.sum(jnp.tanh(model[bw].apply(v, x, LENGTHS)) ** 2), argnums=(0, 1)))(
            variables, xs
        )

    assert_tree_close(grads("custom"), grads("autodiff"), atol=1e-5)

    cell = cells.GRU(H)
    params = cell.init(jax.random.key(2), D)
    many = jax.random.normal(jax.random.key(3), (3, B, T, D))

    def per_slice(x):
        return jax.grad(lambda p: jnp.sum(recurrent.unroll(cell, p, x, lengths=LENGTHS, reverse=True)[1] ** 2))(params)

    batched = jax.vmap(per_slice)(many)
    for i in range(3):
        assert_tree_close(jax.tree_util.tree_map(lambda g, i=i: g[i], batched), per_slice(many[i]), atol=1e-5)


@pytest.mark.parametrize("backward", ["custom", "autodiff"])
def test_sharded_batch_stays_sharded_and_gives_the_same_gradients(backward):
    """With the batch split over 8 devices, each device runs its own rows: the compiled gradient
    has no all-gather (only the all-reduce of the weight gradients), and equals the unsharded
    gradient of the other backward pass."""
    cell = cells.LSTM(H)
    params = cell.init(jax.random.key(0), D)
    xs = jax.random.normal(jax.random.key(1), (8, T, D))
    lengths = jnp.array([7, 6, 5, 4, 3, 2, 1, 0])
    mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
    rows = NamedSharding(mesh, PartitionSpec("data"))
    xs_sharded, lengths_sharded = jax.device_put(xs, rows), jax.device_put(lengths, rows)

    def grad(bw):
        loss = lambda p, x, n: jnp.mean(recurrent.unroll(cell, p, x, lengths=n, backward=bw)[1] ** 2)  # noqa: E731
        return jax.jit(jax.grad(loss))

    hlo = grad(backward).lower(params, xs_sharded, lengths_sharded).compile().as_text()
    assert "all-gather" not in hlo and "all-reduce" in hlo
    other = "autodiff" if backward == "custom" else "custom"
    assert_tree_close(grad(backward)(params, xs_sharded, lengths_sharded), grad(other)(params, xs, lengths), atol=1e-6)


def test_bf16_compute_gradients_close_to_autodiff():
    cell = cells.LSTM(16, dtype=jnp.bfloat16)
    params = cell.init(jax.random.key(0), D)
    xs = jax.random.normal(jax.random.key(1), (2, 50, D))

    def grads(bw):
        loss = lambda p: jnp.sum(recurrent.unroll(cell, p, xs, backward=bw)[1].astype(jnp.float32) ** 2)  # noqa: E731
        return jax.jit(jax.grad(loss))(params)

    ours, ref = grads("custom"), grads("autodiff")
    for key in ours:
        assert ours[key].dtype == jnp.float32
        err = float(jnp.linalg.norm(ours[key] - ref[key]) / jnp.linalg.norm(ref[key]))
        assert err < 3e-2, (key, err)


def test_default_is_custom_and_other_cells_fall_back():
    cell, xs = cells.GRU(H), jnp.ones((B, T, D))
    params = cell.init(jax.random.key(0), D)

    def jaxpr(c, p, **kw):
        return str(jax.make_jaxpr(lambda q: recurrent.unroll(c, q, xs, **kw)[1])(p))

    assert "custom_vjp" in jaxpr(cell, params)
    assert "custom_vjp" not in jaxpr(cell, params, backward="autodiff")

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class DoubledGRU(cells.GRU):  # a subclass may change the step, so it must not use GRU's rule
        def step(self, params, state, projected_x_t):
            new, h = super().step(params, state, projected_x_t)
            return new._replace(h=2 * h), 2 * h

    doubled = DoubledGRU(H)
    assert "custom_vjp" not in jaxpr(doubled, params)
    np.testing.assert_allclose(
        recurrent.unroll(doubled, params, xs)[1][:, 0], 2 * recurrent.unroll(cell, params, xs)[1][:, 0], rtol=1e-6
    )
    with pytest.raises(ValueError, match=r"backward must be one of \('custom', 'autodiff'\), got 'manual'"):
        recurrent.unroll(cell, params, xs, backward="manual")
    with pytest.raises(ValueError, match=r"remat must be a bool or a positive int"):
        recurrent.unroll(cell, params, xs, remat=0)


def test_forward_mode_runs_with_autodiff_backward():
    cell = CELLS_H["lstm"]
    params, xs = cell.init(jax.random.key(0), D), jnp.ones((B, T, D))
    f = lambda x, bw: recurrent.unroll(cell, params, x, backward=bw)[1]  # noqa: E731
    _, tangent = jax.jvp(lambda x: f(x, "autodiff"), (xs,), (jnp.ones_like(xs),))
    assert tangent.shape == (B, T, H) and float(jnp.abs(tangent).max()) > 0
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda x: f(x, "custom"), (xs,), (jnp.ones_like(xs),))


@pytest.mark.parametrize("backward", ["custom", "autodiff"])
def test_remat_keeps_saved_activations_sublinear(backward):
    """Temporary memory of the compiled gradient at T = 400 and 1,600: without remat it grows
    with T like the saved activations (4x); with remat like sqrt(T) (2x, plus a little)."""
    cell = cells.LSTM(32)
    params = cell.init(jax.random.key(0), 8)

    def temp_bytes(time, remat):
        xs = jnp.zeros((4, time, 8))
        loss = lambda p: jnp.sum(recurrent.unroll(cell, p, xs, remat=remat, backward=backward)[0].h)  # noqa: E731
        return jax.jit(jax.grad(loss)).lower(params).compile().memory_analysis().temp_size_in_bytes

    plain = [temp_bytes(t, False) for t in (400, 1600)]
    remat = [temp_bytes(t, True) for t in (400, 1600)]
    assert plain[1] > 3.5 * plain[0]
    assert remat[1] < 2.5 * remat[0]
    assert remat[1] < 0.1 * plain[1]
