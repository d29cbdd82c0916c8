"""Cells: parameters, one step against the NumPy reference, gradients, precision, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from rnn_research import cells
from tests import reference

B, D, H = 3, 5, 4

CELLS = {
    "simple_tanh": cells.SimpleRNN(H),
    "simple_relu": cells.SimpleRNN(H, activation="relu"),
    "lstm": cells.LSTM(H),
    "gru": cells.GRU(H),
    "gru_cho": cells.GRU(H, reset_after=False),
}


def random_state(cell, key, batch=B, dtype=jnp.float32):
    keys = jax.random.split(key, len(cell.state_type._fields))
    return cell.state_type(*(jax.random.normal(k, (batch, cell.hidden_size), dtype) for k in keys))


def perturbed_params(cell, key, input_size=D):
    """Parameters with random biases, so that bias handling is exercised."""
    params = cell.init(key, input_size)
    keys = jax.random.split(jax.random.fold_in(key, 1), len(params))
    return {k: v + 0.3 * jax.random.normal(kk, v.shape) for (k, v), kk in zip(sorted(params.items()), keys)}


@pytest.mark.parametrize("name", CELLS)
def test_param_shapes_and_state(name):
    cell = CELLS[name]
    params = cell.init(jax.random.key(0), D)
    g = cell.num_gates
    assert params["input_kernel"].shape == (D, g * H)
    assert params["recurrent_kernel"].shape == (H, g * H)
    assert params["bias"].shape == (g * H,)
    assert ("recurrent_bias" in params) == (name == "gru")
    assert all(v.dtype == jnp.float32 for v in params.values())
    state = cell.initial_state(B)
    assert isinstance(state, cell.state_type)
    assert all(s.shape == (B, H) and not s.any() for s in state)


@pytest.mark.parametrize("name", CELLS)
def test_recurrent_init_is_orthogonal_per_gate(name):
    cell = CELLS[name]
    w = np.asarray(cell.init(jax.random.key(1), D)["recurrent_kernel"])
    for block in np.split(w, cell.num_gates, axis=1):
        np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-5)


def test_lstm_forget_bias_is_added_to_forget_slice_only():
    params = cells.LSTM(H).init(jax.random.key(0), D)
    np.testing.assert_array_equal(params["bias"][H : 2 * H], 1.0)
    assert not params["bias"][:H].any() and not params["bias"][2 * H :].any()
    zaremba = cells.LSTM(H, forget_bias=0.0, bias_init=cells.symmetric_uniform(0.1))
    bias = zaremba.init(jax.random.key(0), D)["bias"]
    assert float(jnp.abs(bias).max()) <= 0.1 and float(jnp.abs(bias).min()) > 0.0


def test_symmetric_uniform_and_custom_initializers():
    cell = cells.GRU(
        H,
        kernel_init=cells.symmetric_uniform(0.05),
        recurrent_init=cells.symmetric_uniform(0.05),
        bias_init=cells.symmetric_uniform(0.05),
    )
    params = cell.init(jax.random.key(0), D)
    for value in params.values():
        assert float(jnp.abs(value).max()) <= 0.05
        assert float(value.min()) < 0.0 < float(value.max())


@pytest.mark.parametrize("name", CELLS)
def test_steps_match_numpy_reference(name):
    cell = CELLS[name]
    params = perturbed_params(cell, jax.random.key(2))
    xs = jax.random.normal(jax.random.key(3), (B, 6, D))
    state = random_state(cell, jax.random.key(4))
    ref_state, ref_ys = reference.run(cell, params, xs, tuple(state))
    for t in range(xs.shape[1]):
        state, h = cell(params, state, xs[:, t])
        np.testing.assert_allclose(h, ref_ys[:, t], atol=1e-5, rtol=1e-5)
    for ours, ref in zip(state, ref_state):
        np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", CELLS)
def test_call_is_step_of_project(name):
    cell = CELLS[name]
    params = perturbed_params(cell, jax.random.key(5))
    x = jax.random.normal(jax.random.key(6), (B, D))
    state = random_state(cell, jax.random.key(7))
    direct = cell(params, state, x)
    split = cell.step(params, state, cell.project(params, x))
    jax.tree_util.tree_map(np.testing.assert_array_equal, direct, split)


@pytest.mark.parametrize("name", CELLS)
def test_step_gradients_match_finite_differences(name):
    cell = CELLS[name]
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda v: v.astype(jnp.float64), perturbed_params(cell, jax.random.key(8)))
        x = jax.random.normal(jax.random.key(9), (B, D), jnp.float64)
        state = random_state(cell, jax.random.key(10), dtype=jnp.float64)

        def f(p, s, x):
            new_state, h = cell(p, s, x)
            return h, new_state

        check_grads(f, (params, state, x), order=2, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", CELLS)
def test_bf16_compute_with_f32_params(name):
    cell = CELLS[name]
    bf16 = type(cell)(**{**cell.__dict__, "dtype": jnp.bfloat16})
    params = cell.init(jax.random.key(0), D)
    x = jax.random.normal(jax.random.key(1), (B, D))
    assert bf16.initial_state(B).h.dtype == jnp.float32  # the state defaults to param_dtype
    state = bf16.initial_state(B, dtype=jnp.bfloat16)
    new_state, h = bf16(params, state, x)
    assert h.dtype == jnp.bfloat16 and bool(jnp.isfinite(h.astype(jnp.float32)).all())
    _, h32 = cell(params, cell.initial_state(B), x)
    np.testing.assert_allclose(h.astype(jnp.float32), h32, atol=5e-2)
    # A float32 state accumulates in float32 while the matmuls run in bf16.
    f32_state, h_mixed = bf16(params, bf16.initial_state(B), x)
    assert h_mixed.dtype == jnp.float32 and f32_state.h.dtype == jnp.float32
    np.testing.assert_allclose(h_mixed, h32, atol=5e-2)
    grads = jax.grad(lambda p: bf16(p, state, x)[1].astype(jnp.float32).sum())(params)
    assert all(g.dtype == jnp.float32 and bool(jnp.isfinite(g).all()) for g in grads.values())


def test_cells_are_hashable_static_arguments():
    cell = cells.LSTM(H)
    assert cell == cells.LSTM(H) and hash(cell) == hash(cells.LSTM(H))
    same = cells.LSTM(np.int64(H), param_dtype=np.dtype("float32"), bias_init=cells.symmetric_uniform(0.1))
    assert (
        same == cells.LSTM(H, bias_init=cells.symmetric_uniform(0.1))
        and len({same, cell.__class__(**{**same.__dict__})}) == 1
    )
    step = jax.jit(lambda c, p, s, x: c(p, s, x), static_argnums=0)
    params = cell.init(jax.random.key(0), D)
    _, h = step(cell, params, cell.initial_state(B), jnp.ones((B, D)))
    assert h.shape == (B, H)


def test_make_by_name():
    assert cells.make("lstm", 7, forget_bias=0.0) == cells.LSTM(7, forget_bias=0.0)
    assert isinstance(cells.make("GRU", 7), cells.GRU)
    assert isinstance(cells.make("simple_rnn", 7), cells.SimpleRNN)
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        cells.make("transformer", 7)


@pytest.mark.parametrize("param_dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("name", ["lstm", "gru", "simple_tanh"])
def test_low_precision_params(name, param_dtype):
    cell = type(CELLS[name])(**{**CELLS[name].__dict__, "param_dtype": param_dtype})
    params = cell.init(jax.random.key(0), D)
    assert all(v.dtype == param_dtype for v in params.values())
    _, h = cell(params, cell.initial_state(B), jnp.ones((B, D)))
    assert h.dtype == param_dtype and bool(jnp.isfinite(h.astype(jnp.float32)).all())


def test_float32_state_accumulates_better_than_bf16_state():
    """With bf16 matmuls, a float32 memory cell drifts less from the float32 run over 1000 steps."""
    from rnn_research import recurrent

    cell = cells.LSTM(16)
    bf16 = cells.LSTM(16, dtype=jnp.bfloat16)
    params = cell.init(jax.random.key(0), D)
    xs = 0.3 * jax.random.normal(jax.random.key(1), (4, 1000, D))
    exact, _ = recurrent.unroll(cell, params, xs)
    mixed, _ = recurrent.unroll(bf16, params, xs)  # float32 state by default
    low, _ = recurrent.unroll(bf16, params, xs, bf16.initial_state(4, dtype=jnp.bfloat16))
    err_mixed = float(jnp.abs(mixed.c - exact.c).max())
    err_low = float(jnp.abs(low.c.astype(jnp.float32) - exact.c).max())
    assert err_mixed < err_low, (err_mixed, err_low)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="hidden_size"):
        cells.LSTM(0)
    with pytest.raises(ValueError, match="activation"):
        cells.SimpleRNN(4, activation="sigmoid")
    with pytest.raises(ValueError, match="input_size"):
        cells.GRU(4).init(jax.random.key(0), 0)
    with pytest.raises(ValueError, match="hidden_size"):
        cells.GRU(True)


@pytest.mark.parametrize(
    "make_args, match",
    [
        (lambda p, s: (p, s, jnp.ones((B, 1, D))), r"x_t must have rank 2 \[B, D\], got shape \(3, 1, 5\)"),
        (lambda p, s: (p, s, jnp.ones((B, D + 1))), r"x_t has feature size 6 \(shape \(3, 6\)\), expected 5"),
        (lambda p, s: (p, s, jnp.ones((B, D), jnp.int32)), r"x_t must be floating point, got dtype int32"),
        (
            lambda p, s: (p, s._replace(c=s.c[:2]), jnp.ones((B, D))),
            r"state.c has batch size 2 \(shape \(2, 4\)\), expected 3",
        ),
        (lambda p, s: (p, (s.h,), jnp.ones((B, D))), r"state must be a LSTMState, got tuple"),
        (lambda p, s: ({"bias": p["bias"]}, s, jnp.ones((B, D))), r"LSTM params is missing \['input_kernel'"),
        (
            lambda p, s: ({**p, "recurrent_bias": p["bias"][:H]}, s, jnp.ones((B, D))),
            r"LSTM params has unexpected keys \['recurrent_bias'\]",
        ),
        (lambda p, s: (p, s, [[1.0] * (D + 1)] * B), r"x_t has feature size 6"),
        (
            lambda p, s: ({**p, "bias": p["bias"][:-1]}, s, jnp.ones((B, D))),
            r"LSTM params\['bias'\] has shape \(15,\), expected \(16,\)",
        ),
    ],
)
def test_bad_input_gives_one_line_value_error(make_args, match):
    cell = cells.LSTM(H)
    params = cell.init(jax.random.key(0), D)
    with pytest.raises(ValueError, match=match) as info:
        cell(*make_args(params, cell.initial_state(B)))
    assert "\n" not in str(info.value)
