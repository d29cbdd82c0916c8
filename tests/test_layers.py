"""Flax RNN module: same parameters as the functional core, same results, dropout, errors."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_research import cells, layers, recurrent

B, T, D, H = 3, 6, 4, 5
LENGTHS = jnp.array([6, 2, 0])


def inputs():
    return jax.random.normal(jax.random.key(0), (B, T, D))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell_name", ["lstm", "gru", "simple_rnn"])
def test_module_params_are_cell_init_dicts_and_results_match_stacked(cell_name, bidirectional):
    model = layers.RNN(cell=cell_name, hidden_size=H, num_layers=2, bidirectional=bidirectional)
    xs = inputs()
    variables = model.init(jax.random.key(1), xs, LENGTHS)
    per_layer = layers.layer_params(variables["params"])
    cell = cells.make(cell_name, H)
    expected = recurrent.init_stacked(cell, jax.random.key(9), D, 2, bidirectional=bidirectional)
    assert jax.tree_util.tree_structure(per_layer) == jax.tree_util.tree_structure(expected)
    assert jax.tree_util.tree_map(jnp.shape, per_layer) == jax.tree_util.tree_map(jnp.shape, expected)

    ys = model.apply(variables, xs, LENGTHS)
    _, ref = recurrent.stacked(cell, per_layer, xs, lengths=LENGTHS, bidirectional=bidirectional)
    np.testing.assert_allclose(ys, ref, atol=1e-6)
    assert ys.shape == (B, T, 2 * H if bidirectional else H)

    # And back: functional params dropped into the module give the functional result.
    ys2 = model.apply({"params": layers.module_params(expected)}, xs, LENGTHS)
    _, ref2 = recurrent.stacked(cell, expected, xs, lengths=LENGTHS, bidirectional=bidirectional)
    np.testing.assert_allclose(ys2, ref2, atol=1e-6)


def test_return_state_and_initial_states():
    cell = cells.LSTM(H, forget_bias=0.0)
    model = layers.RNN(cell=cell, num_layers=2, return_state=True)
    xs = inputs()
    variables = model.init(jax.random.key(2), xs)
    finals, ys = model.apply(variables, xs, LENGTHS)
    assert len(finals) == 2 and isinstance(finals[0], cells.LSTMState)
    np.testing.assert_allclose(finals[1].h[0], ys[0, -1], atol=1e-6)
    np.testing.assert_allclose(finals[1].h[1], ys[1, 1], atol=1e-6)  # last valid step
    # Carry the final states into the next window, as a stateful LM does.
    finals2, _ = model.apply(variables, xs, LENGTHS, finals)
    direct, _ = recurrent.stacked(cell, layers.layer_params(variables["params"]), xs, finals, lengths=LENGTHS)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), finals2, direct)


def test_dropout_uses_rng_only_when_not_deterministic():
    model = layers.RNN(cell="gru", hidden_size=H, num_layers=2, dropout=0.5)
    xs = inputs()
    variables = model.init(jax.random.key(3), xs)
    plain = model.apply(variables, xs)
    np.testing.assert_array_equal(plain, model.apply(variables, xs, deterministic=True))
    a = model.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(4)})
    b = model.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(5)})
    assert not np.allclose(a, plain) and not np.allclose(a, b)


def test_every_parameter_gets_a_gradient_inside_a_bigger_model():
    class Classifier(nn.Module):
        @nn.compact
        def __call__(self, xs, lengths):
            ys = layers.RNN(cell="lstm", hidden_size=H, num_layers=2, bidirectional=True)(xs, lengths)
            return nn.Dense(2)(ys.sum(axis=1))

    model = Classifier()
    xs = inputs()
    lengths = jnp.array([6, 3, 1])
    params = model.init(jax.random.key(6), xs, lengths)["params"]
    grads = jax.grad(lambda p: jnp.sum(model.apply({"params": p}, xs, lengths) ** 2))(params)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert float(jnp.abs(g).max()) > 0.0, f"no gradient reaches {jax.tree_util.keystr(path)}"


def test_applies_to_other_batch_sizes_and_lengths_than_init():
    model = layers.RNN(cell="lstm", hidden_size=H, num_layers=2, bidirectional=True)
    variables = model.init(jax.random.key(0), inputs(), LENGTHS)
    assert set(variables) == {"params"}, "init must not create shape-bound collections"
    ys = model.apply(variables, jnp.ones((2, 11, D)), jnp.array([11, 4]))
    assert ys.shape == (2, 11, 2 * H)


def test_perturbations_give_dloss_dh_for_every_layer():
    model = layers.RNN(cell="gru", hidden_size=H, num_layers=2, bidirectional=True)
    xs = inputs()
    params = model.init(jax.random.key(0), xs)["params"]
    ys, made = model.apply({"params": params}, xs, mutable=["perturbations"])
    pert = made["perturbations"]
    assert jax.tree_util.tree_map(jnp.shape, pert) == {
        f"layer_{i}": {"forward": (B, T, H), "backward": (B, T, H)} for i in range(2)
    }
    # Zeros change nothing (to rounding: adding them is another program, which XLA may fuse otherwise).
    np.testing.assert_allclose(ys, model.apply({"params": params}, xs), rtol=1e-6, atol=1e-7)
    loss = lambda p: jnp.sum(model.apply({"params": params, "perturbations": p}, xs)[:, -1] ** 2)
    grads = jax.grad(loss)(jax.tree_util.tree_map(jnp.zeros_like, pert))
    fw = grads["layer_1"]["forward"]
    # The loss reads only the last step: forward gradients reach back to t=0 through the recurrence.
    assert float(jnp.abs(fw[:, 0]).max()) > 0.0 and float(jnp.abs(fw[:, -1]).max()) > 0.0


def test_bad_configuration_and_input():
    xs = inputs()
    with pytest.raises(ValueError, match="hidden_size is required when cell is given by name"):
        layers.RNN(cell="lstm").init(jax.random.key(0), xs)
    with pytest.raises(ValueError, match="hidden_size=3 disagrees with cell.hidden_size=5"):
        layers.RNN(cell=cells.GRU(H), hidden_size=3).init(jax.random.key(0), xs)
    with pytest.raises(ValueError, match=r"RNN: xs must have rank 3 \[B, T, D\], got shape \(3, 4\)"):
        layers.RNN(cell="gru", hidden_size=H).init(jax.random.key(0), xs[:, 0])
    variables = layers.RNN(cell="gru", hidden_size=H).init(jax.random.key(0), xs)
    with pytest.raises(
        ValueError, match=r"RNN: xs has feature size 7 \(shape \(3, 6, 7\)\), but the parameters were made for 4"
    ):
        layers.RNN(cell="gru", hidden_size=H).apply(variables, jnp.ones((B, T, 7)))
    with pytest.raises(ValueError, match="unknown cell 'mamba'"):
        layers.RNN(cell="mamba", hidden_size=H).init(jax.random.key(0), xs)
    with pytest.raises(ValueError, match=r"no 'layer_<i>' entries in params"):
        layers.layer_params({"dense": {}})
