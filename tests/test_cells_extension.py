"""LayerNorm LSTM/GRU and minGRU/minLSTM: parameters, the NumPy reference, gradients, masking."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from rnn_research import cells, recurrent
from tests import reference
from tests.test_cells import perturbed_params, random_state

B, T, D, H = 3, 6, 4, 5
LENGTHS = jnp.array([6, 2, 0])

NEW = {
    "layernorm_lstm": cells.LayerNormLSTM(H),
    "layernorm_gru": cells.LayerNormGRU(H),
    "mingru": cells.MinGRU(H),
    "minlstm": cells.MinLSTM(H),
}


def setup(name, key=0):
    cell = NEW[name]
    k = jax.random.split(jax.random.key(key), 3)
    return cell, perturbed_params(cell, k[0], D), jax.random.normal(k[1], (B, T, D)), random_state(cell, k[2], B)


@pytest.mark.parametrize("name", NEW)
def test_param_shapes_and_registry(name):
    cell = NEW[name]
    assert cells.make(name, H) == cell
    params = cell.init(jax.random.key(0), D)
    assert params.keys() == cell.param_shapes(D).keys()
    assert {k: v.shape for k, v in params.items()} == cell.param_shapes(D)
    g = cell.num_gates
    assert params["input_kernel"].shape == (D, g * H)
    assert ("recurrent_kernel" in params) == (not cell.parallel_scan)
    if "norm" in name:
        np.testing.assert_array_equal(params["input_norm_scale"], 1.0)  # LN starts as the identity map
        np.testing.assert_array_equal(params["recurrent_norm_scale"], 1.0)
    if name in ("layernorm_lstm", "minlstm"):
        forget = slice(H, 2 * H) if name == "layernorm_lstm" else slice(0, H)
        np.testing.assert_array_equal(params["bias"][forget], 1.0)


@pytest.mark.parametrize("name", NEW)
def test_unroll_matches_numpy_reference(name):
    """The unroll (parallel for the minimal cells) against the equations, step by step in NumPy."""
    cell, params, xs, state0 = setup(name)
    final, ys = recurrent.unroll(cell, params, xs, state0)
    ref_final, ref_ys = reference.run(cell, params, xs, tuple(state0))
    np.testing.assert_allclose(ys, ref_ys, atol=1e-5)
    for got, want in zip(final, ref_final):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("name", NEW)
def test_step_gradients_match_finite_differences(name):
    cell = NEW[name]
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda v: v.astype(jnp.float64), perturbed_params(cell, jax.random.key(8), D))
        x = jax.random.normal(jax.random.key(9), (B, D), jnp.float64)
        state = random_state(cell, jax.random.key(10), dtype=jnp.float64)
        check_grads(
            jax.jit(lambda p, s, x: cell(p, s, x)), (params, state, x), order=1, modes=("fwd", "rev"), atol=1e-5
        )


@pytest.mark.parametrize("name", ["mingru", "minlstm"])  # the LN cells share the tested sequential masking
def test_lengths_match_per_sequence_runs_and_padding_is_inert(name):
    cell, params, xs, state0 = setup(name, key=1)
    run = jax.jit(recurrent.unroll, static_argnums=0, static_argnames="reverse")
    for reverse in (False, True):
        final, ys = run(cell, params, xs, state0, lengths=LENGTHS, reverse=reverse)
        for b, n in enumerate(np.asarray(LENGTHS)):
            one = jax.tree_util.tree_map(lambda s, b=b: s[b : b + 1], state0)
            f_b, ys_b = run(cell, params, xs[b : b + 1, :n], one, reverse=reverse)
            np.testing.assert_allclose(ys[b, :n], ys_b[0], atol=1e-5)
            np.testing.assert_array_equal(ys[b, n:], 0.0)
            for got, want in zip(final, f_b):
                np.testing.assert_allclose(got[b], want[0], atol=1e-5)
    garbage = jnp.where((jnp.arange(T)[None, :] >= LENGTHS[:, None])[:, :, None], jnp.nan, xs)

    def loss(p, x):
        return jnp.sum(recurrent.unroll(cell, p, x, state0, lengths=LENGTHS)[1] ** 2)

    clean, dirty = jax.grad(loss)(params, xs), jax.grad(loss)(params, garbage)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), clean, dirty)


@pytest.mark.parametrize("name", NEW)
def test_bf16_compute_stays_close_to_float32(name):
    cell, params, xs, state0 = setup(name, key=2)
    low = type(cell)(**{**cell.__dict__, "dtype": jnp.bfloat16})
    _, ys32 = recurrent.unroll(cell, params, xs, state0)
    final, ys16 = recurrent.unroll(low, params, xs, state0)
    assert final.h.dtype == jnp.float32  # the state keeps its dtype
    np.testing.assert_allclose(ys16.astype(jnp.float32), ys32, atol=0.1)


def test_layer_norm_makes_the_lstm_invariant_to_weight_scale():
    """Ba et al.'s property: rescaling W_x and W_h leaves an LN-LSTM's outputs unchanged (up to
    the epsilon in the variance, hence scales > 1), where a plain LSTM's change completely."""
    cell, params, xs, state0 = setup("layernorm_lstm", key=3)
    scaled = dict(params, input_kernel=7.0 * params["input_kernel"], recurrent_kernel=3.0 * params["recurrent_kernel"])
    ys = recurrent.unroll(cell, params, xs, state0)[1]
    np.testing.assert_allclose(recurrent.unroll(cell, scaled, xs, state0)[1], ys, atol=1e-3)
    plain = {k: scaled[k] for k in ("input_kernel", "recurrent_kernel", "bias")}
    assert float(jnp.abs(recurrent.unroll(cells.LSTM(H), plain, xs, state0)[1] - ys).max()) > 0.1


def test_bad_options_give_one_line_errors():
    with pytest.raises(ValueError, match="LayerNormGRU: only reset_after=True"):
        cells.LayerNormGRU(H, reset_after=False)
    cell = cells.MinGRU(H)
    params = cell.init(jax.random.key(0), D)
    with pytest.raises(ValueError, match=r"unexpected keys \['recurrent_kernel'\]"):
        cell.check_params(dict(params, recurrent_kernel=jnp.zeros((H, 2 * H))))
