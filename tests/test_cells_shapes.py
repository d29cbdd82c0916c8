"""Cells beyond vectors: a convolutional GRU over ``[B, Y, X, C]`` frames through every unroll option.

The cell is defined here, from the public :class:`rnn_research.cells.Cell` contract alone
(inputs ``[B, *F]``, state leaves ``[B, *S]``), and every unroll result is checked against a plain
Python loop over each sequence's valid steps, which knows nothing of masks or scans.
"""

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from rnn_research import cells, recurrent

B, T, Y, X, C, K = 3, 4, 4, 3, 2, 3
LENGTHS = np.array([4, 2, 0])


class ConvGRUState(NamedTuple):
    """``h``: ``[B, Y, X, K]``."""

    h: jax.Array


def conv(x, w):
    """``SAME`` 2-D convolution of ``x: [N, Y, X, C]`` by ``w: [k, k, C, O]`` -> ``[N, Y, X, O]``."""
    return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConvGRU(cells.Cell):
    """Convolutional GRU (Ballas et al. 2016), reset after as :class:`cells.GRU`::

    [u_r, u_z, u_n] = W_x * x_t + b;  [v_r, v_z, v_n] = W_h * h_{t-1}   (* = SAME convolution)
    r = sigmoid(u_r + v_r);  z = sigmoid(u_z + v_z);  n = tanh(u_n + r v_n)
    h_t = (1 - z) n + z h_{t-1}
    """

    spatial_shape: tuple[int, int] = (Y, X)
    kernel_size: int = 3

    num_gates: ClassVar[int] = 3
    state_type: ClassVar[type] = ConvGRUState
    input_axes: ClassVar[tuple[str, ...]] = ("Y", "X", "C")
    state_axes: ClassVar[tuple[str, ...]] = ("Y", "X", "K")

    @property
    def state_shape(self):
        return (*self.spatial_shape, self.hidden_size)

    def param_shapes(self, input_size):
        k, gk = self.kernel_size, self.num_gates * self.hidden_size
        shapes = {
            "input_kernel": (k, k, input_size, gk),
            "recurrent_kernel": (k, k, self.hidden_size, gk),
            "bias": (gk,),
        }
        return self.with_initial_state_shape(shapes)

    def init(self, key, input_size):
        shapes = self.param_shapes(input_size)
        k_in, k_rec, k_b = jax.random.split(key, 3)
        params = {
            "input_kernel": 0.3 * jax.random.normal(k_in, shapes["input_kernel"]),
            "recurrent_kernel": 0.3 * jax.random.normal(k_rec, shapes["recurrent_kernel"]),
            "bias": 0.1 * jax.random.normal(k_b, shapes["bias"]),
        }
        return self.with_initial_state({k: v.astype(self.param_dtype) for k, v in params.items()})

    def project(self, params, xs):
        """``[..., Y, X, C] -> [..., Y, X, 3K]``, any leading dims."""
        self.check_inputs(params, xs)
        dt = self.compute_dtype(xs, params)
        flat = xs.astype(dt).reshape((-1, *xs.shape[-3:]))
        out = conv(flat, params["input_kernel"].astype(dt))
        out = out + cells.expand_to(params["bias"].astype(dt), out.ndim)
        return out.reshape(xs.shape[:-3] + out.shape[1:])

    def step(self, params, state, projected_x_t):
        self.check_step(params, state, projected_x_t)
        acc = cells.accumulation_dtype(projected_x_t, state)
        h_prev = state.h.astype(acc)
        v = conv(h_prev, params["recurrent_kernel"].astype(acc))
        u_r, u_z, u_n = jnp.split(projected_x_t.astype(acc), 3, axis=-1)
        v_r, v_z, v_n = jnp.split(v, 3, axis=-1)
        r, z = jax.nn.sigmoid(u_r + v_r), jax.nn.sigmoid(u_z + v_z)
        n = jnp.tanh(u_n + r * v_n)
        new = cells.cast_state(ConvGRUState((1.0 - z) * n + z * h_prev), state)
        return new, new.h


CELL = ConvGRU(K)


def setup(key=0, input_size=C):
    k_p, k_x, k_s = jax.random.split(jax.random.key(key), 3)
    params = CELL.init(k_p, input_size)
    xs = jax.random.normal(k_x, (B, T, Y, X, input_size))
    state0 = ConvGRUState(0.5 * jax.random.normal(k_s, (B, Y, X, K)))
    return params, xs, state0


def loop(cell, params, xs, state0, lengths, reverse=False, resets=None):
    """The reference: each sequence alone, one ``cell(...)`` call per valid step, in the order of
    processing; a reset restarts from ``state0`` before the step (read backwards: before the last
    step of each segment). Returns ``(final [B, *S] leaves, ys [B, T, *S])`` with zeros at padding."""
    xs, state0 = np.asarray(xs), jax.tree_util.tree_map(np.asarray, state0)
    ys = np.zeros((xs.shape[0], xs.shape[1], *cell.state_shape), np.float32)
    finals = []
    for b, n in enumerate(lengths):
        start = jax.tree_util.tree_map(lambda s, b=b: s[b : b + 1], state0)
        state = start
        for t in reversed(range(n)) if reverse else range(n):
            at = t + 1 if reverse else t  # the reset that starts the segment holding step t
            if resets is not None and at < xs.shape[1] and resets[b, at]:
                state = start
            state, h = cell(params, state, xs[b : b + 1, t])
            ys[b, t] = np.asarray(h[0])
        finals.append(state)
    final = type(state0)(*(np.concatenate(leaves) for leaves in zip(*finals)))
    return final, ys


def assert_close(got, want, atol=1e-5):
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=atol, rtol=atol), got, want)


def test_cell_contract_over_frames():
    params, xs, state0 = setup()
    assert CELL.state_shape == (Y, X, K)
    state = CELL.initial_state(B)
    assert state.h.shape == (B, Y, X, K) and not state.h.any()
    CELL.check_state(state0, batch_size=B)
    new, h = CELL(params, state0, xs[:, 0])
    assert h.shape == (B, Y, X, K) and new.h is h
    with pytest.raises(ValueError, match=r"x_t must have rank 4 \[B, Y, X, C\], got shape \(3, 2\)"):
        CELL(params, state0, jnp.ones((B, C)))
    with pytest.raises(ValueError, match=r"state.h has X size 2 \(shape \(3, 4, 2, 3\)\), expected 3"):
        CELL.check_state(ConvGRUState(jnp.zeros((B, Y, 2, K))))
    with pytest.raises(ValueError, match=r"xs must have rank 5 \[B, T, Y, X, C\], got shape \(3, 4, 2\)"):
        recurrent.unroll(CELL, params, jnp.ones((B, T, C)))
    learned = ConvGRU(K, learn_initial_state=True)
    p = learned.init(jax.random.key(1), C)
    assert p["initial_state"].shape == (1, Y, X, K)
    assert learned.initial_state(B, params=p).h.shape == (B, Y, X, K)


def test_cell_step_matches_numpy_convolution():
    """One step against the equations with the convolution written out as shifted sums in NumPy."""
    params, xs, state0 = setup(key=1)
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x, h = np.asarray(xs[:, 0], np.float64), np.asarray(state0.h, np.float64)

    def np_conv(a, w):
        k = w.shape[0]
        padded = np.pad(a, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
        out = np.zeros(a.shape[:3] + (w.shape[-1],))
        for i in range(k):
            for j in range(k):
                out += padded[:, i : i + a.shape[1], j : j + a.shape[2]] @ w[i, j]
        return out

    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    u = np.split(np_conv(x, p["input_kernel"]) + p["bias"], 3, axis=-1)
    v = np.split(np_conv(h, p["recurrent_kernel"]), 3, axis=-1)
    r, z = sigmoid(u[0] + v[0]), sigmoid(u[1] + v[1])
    want = (1 - z) * np.tanh(u[2] + r * v[2]) + z * h
    np.testing.assert_allclose(CELL(params, state0, xs[:, 0])[1], want, atol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
def test_unroll_with_lengths_matches_python_loop(reverse):
    params, xs, state0 = setup(key=2)
    pad = np.arange(T)[None, :] >= LENGTHS[:, None]
    garbage = jnp.where(pad[:, :, None, None, None], jnp.nan, xs)  # padding must not leak
    final, ys = recurrent.unroll(CELL, params, garbage, state0, lengths=LENGTHS, reverse=reverse)
    assert ys.shape == (B, T, Y, X, K)
    ref_final, ref_ys = loop(CELL, params, xs, state0, LENGTHS, reverse=reverse)
    assert_close(ys, ref_ys)
    assert_close(final, ref_final)
    assert not np.asarray(ys)[pad].any()  # padded steps give zero outputs
    np.testing.assert_array_equal(final.h[2], state0.h[2])  # an empty row keeps its initial state


@pytest.mark.parametrize("reverse", [False, True])
def test_unroll_with_resets_matches_python_loop(reverse):
    params, xs, state0 = setup(key=3)
    resets = np.zeros((B, T), bool)
    resets[0, 2] = resets[1, 1] = True
    final, ys = recurrent.unroll(CELL, params, xs, state0, lengths=LENGTHS, reverse=reverse, resets=resets)
    ref_final, ref_ys = loop(CELL, params, xs, state0, LENGTHS, reverse=reverse, resets=resets)
    assert_close(ys, ref_ys)
    assert_close(final, ref_final)


def test_remat_and_truncation_over_frames():
    """``remat`` changes nothing; ``truncate_every=2`` equals two 2-step chunks, the second entered
    under ``stop_gradient``."""
    params, xs, state0 = setup(key=4)
    lengths = np.full((B,), T)

    def loss(p, **kw):
        final, ys = recurrent.unroll(CELL, p, xs, state0, lengths=lengths, **kw)
        return jnp.sum(ys**2) + jnp.sum(final.h)

    plain = jax.value_and_grad(loss)(params)
    assert_close(jax.value_and_grad(lambda p: loss(p, remat=2))(params), plain)

    def chunked(p):
        mid, ys1 = recurrent.unroll(CELL, p, xs[:, :2], state0)
        final, ys2 = recurrent.unroll(CELL, p, xs[:, 2:], jax.lax.stop_gradient(mid))
        return jnp.sum(ys1**2) + jnp.sum(ys2**2) + jnp.sum(final.h)

    assert_close(jax.value_and_grad(lambda p: loss(p, truncate_every=2))(params), jax.value_and_grad(chunked)(params))


def test_fused_backward_is_not_chosen():
    params, xs, _ = setup()
    jaxpr = str(jax.make_jaxpr(lambda p: recurrent.unroll(CELL, p, xs)[1])(params))
    assert "custom_vjp" not in jaxpr


def test_stacked_bidirectional_matches_python_loop():
    """Two bidirectional layers, concatenated along the channel axis: layer 1 reads ``2K`` channels."""
    _, xs, _ = setup(key=5)
    params = recurrent.init_stacked(CELL, jax.random.key(6), C, 2, bidirectional=True)
    assert params[1]["forward"]["input_kernel"].shape == (3, 3, 2 * K, 3 * K)
    finals, ys = recurrent.stacked(CELL, params, xs, lengths=LENGTHS, bidirectional=True)
    assert ys.shape == (B, T, Y, X, 2 * K)
    inputs, zeros = np.asarray(xs), CELL.initial_state(B)
    for layer, layer_params in enumerate(params):
        fw_final, fw = loop(CELL, layer_params["forward"], inputs, zeros, LENGTHS)
        bw_final, bw = loop(CELL, layer_params["backward"], inputs, zeros, LENGTHS, reverse=True)
        assert_close(finals[layer], (fw_final, bw_final))
        inputs = np.concatenate([fw, bw], axis=-1)
    assert_close(ys, inputs)


def test_gradient_through_unroll_matches_finite_differences():
    with jax.enable_x64(True):
        cell = ConvGRU(2, spatial_shape=(3, 3), param_dtype=jnp.float64)
        params = cell.init(jax.random.key(7), 2)
        xs = jax.random.normal(jax.random.key(8), (2, 3, 3, 3, 2), jnp.float64)
        lengths = jnp.array([3, 2])

        def loss(p, x):
            final, ys = recurrent.unroll(cell, p, x, lengths=lengths, reverse=True)
            return jnp.sum(ys**2) + jnp.sum(jnp.sin(final.h))

        check_grads(jax.jit(loss), (params, xs), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)
