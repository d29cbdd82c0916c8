"""Gradient-flow diagnostics against a plain Python loop, plus the log and its heatmap."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_research import cells, diagnostics, layers

B, T, D, H = 3, 7, 2, 5


class Head(nn.Module):
    rnn: layers.RNN

    @nn.compact
    def __call__(self, xs):
        return jnp.sum(jnp.square(self.rnn(xs)[:, -1]))  # the loss reads only the last step


def loop_grads(params, xs):
    """dLoss/dh_t by differentiating explicit additive zeros e_t in a Python-loop SimpleRNN."""

    def loss(errors):
        h = jnp.zeros((B, H))
        for t in range(T):
            pre = xs[:, t] @ params["input_kernel"] + h @ params["recurrent_kernel"] + params["bias"][None]
            h = jnp.tanh(pre) + errors[t]
        return jnp.sum(jnp.square(h))

    return jax.grad(loss)([jnp.zeros((B, H)) for _ in range(T)])


def test_norms_equal_the_total_derivative_of_a_python_loop():
    xs = jax.random.normal(jax.random.key(0), (B, T, D))
    model = Head(layers.RNN(cell=cells.SimpleRNN(H)))
    params = model.init(jax.random.key(1), xs)["params"]
    _, made = model.apply({"params": params}, xs, mutable=["perturbations"])

    def loss_of(pert):
        return model.apply({"params": params, "perturbations": pert}, xs)

    norms = diagnostics.hidden_gradient_norms(loss_of, made["perturbations"])
    assert list(norms) == ["rnn/layer_0"]
    expected = [np.linalg.norm(g) for g in loop_grads(params["rnn"]["layer_0"], xs)]
    np.testing.assert_allclose(norms["rnn/layer_0"], expected, rtol=1e-5)
    assert expected[0] > 0  # the loss reads h_T only: earlier norms come through the recurrence


def test_bidirectional_layers_sum_both_directions():
    xs = jax.random.normal(jax.random.key(0), (B, T, D))
    model = Head(layers.RNN(cell=cells.GRU(H), num_layers=2, bidirectional=True))
    params = model.init(jax.random.key(1), xs)["params"]
    _, made = model.apply({"params": params}, xs, mutable=["perturbations"])

    def loss_of(pert):
        return model.apply({"params": params, "perturbations": pert}, xs)

    norms = diagnostics.hidden_gradient_norms(loss_of, made["perturbations"])
    grads = jax.grad(loss_of)(made["perturbations"])
    assert sorted(norms) == ["rnn/layer_0", "rnn/layer_1"]
    layer = grads["rnn"]["layer_1"]
    expected = np.sqrt((np.square(layer["forward"]) + np.square(layer["backward"])).sum(axis=(0, 2)))
    np.testing.assert_allclose(norms["rnn/layer_1"], expected, rtol=1e-5)


def test_log_resume_and_plot(tmp_path):
    log = diagnostics.DiagnosticsLog(tmp_path)
    for step in (0, 10, 20):
        log.write(step, {"rnn/layer_0": np.linspace(1e-3, 1.0, T) * (step + 1)})
    log.resume(10)
    records = log.read()
    assert [r["step"] for r in records] == [0, 10]
    assert records[1]["rnn/layer_0"] == pytest.approx(list(np.linspace(1e-3, 1.0, T) * 11))
    (path,) = diagnostics.plot(records, tmp_path / "plots")
    assert path.name == "grad_flow_rnn_layer_0.png" and path.stat().st_size > 1000
