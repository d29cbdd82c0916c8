"""Optimizers reduce a quadratic; schedules hit their published values; clipping; bad names."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import base
from rnn_research import optim


def optim_config(**overrides):
    config = base.get_config().optim
    config.update(overrides)
    return config


def quadratic(params):
    return jnp.sum((params["w"] - 3.0) ** 2) + jnp.sum((params["b"] + 1.0) ** 2)


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("sgd", {"learning_rate": 0.1}),
        ("sgd", {"learning_rate": 0.05, "momentum": 0.9}),
        ("adam", {"learning_rate": 0.1}),
        ("adamw", {"learning_rate": 0.1, "weight_decay": 1e-4}),
        ("rmsprop", {"learning_rate": 0.05}),
    ],
)
def test_each_optimizer_reduces_a_quadratic(name, overrides):
    config = optim_config(name=name, **overrides)
    tx, schedule = optim.make_optimizer(config, total_steps=50)
    assert float(schedule(7)) == pytest.approx(config.learning_rate)
    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        grads = jax.grad(quadratic)(params)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    initial = float(quadratic(params))
    for _ in range(50):
        params, state = step(params, state)
    assert float(quadratic(params)) < 0.1 * initial


def test_step_decay_matches_zaremba_small():
    config = optim_config(schedule="step_decay", learning_rate=1.0, decay_factor=0.5, decay_after_epochs=4)
    schedule = optim.make_schedule(config, steps_per_epoch=10)
    lrs = np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(60)))
    np.testing.assert_array_equal(lrs[:40], 1.0)
    np.testing.assert_array_equal(lrs[40:50], 0.5)
    np.testing.assert_array_equal(lrs[50:60], 0.25)
    assert optim.learning_rate_at(config, 39, steps_per_epoch=10) == 1.0
    assert optim.learning_rate_at(config, 40, steps_per_epoch=10) == 0.5


def test_step_decay_steps_per_epoch_from_config_wins_over_argument():
    config = optim_config(schedule="step_decay", decay_after_epochs=1, steps_per_epoch=5, learning_rate=1.0)
    schedule = optim.make_schedule(config, steps_per_epoch=1000)
    assert float(schedule(4)) == 1.0
    assert float(schedule(5)) == 0.5


def test_step_decay_without_steps_per_epoch_names_the_key():
    config = optim_config(schedule="step_decay")
    with pytest.raises(ValueError, match=r"optim\.steps_per_epoch"):
        optim.make_schedule(config)


def test_warmup_cosine_values():
    config = optim_config(schedule="warmup_cosine", learning_rate=2.0, warmup_steps=10, min_learning_rate=0.1)
    schedule = optim.make_schedule(config, total_steps=110)
    assert float(schedule(0)) == 0.0
    assert float(schedule(5)) == pytest.approx(1.0)
    assert float(schedule(10)) == pytest.approx(2.0)
    assert float(schedule(60)) == pytest.approx(0.1 + 0.5 * (2.0 - 0.1), rel=1e-5)
    assert float(schedule(110)) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="total_steps"):
        optim.make_schedule(config)


def test_constant_schedule():
    schedule = optim.make_schedule(optim_config(schedule="constant", learning_rate=0.3))
    assert float(schedule(0)) == pytest.approx(0.3)
    assert float(schedule(10_000)) == pytest.approx(0.3)


@pytest.mark.parametrize("clip_norm", [0.0, 5.0])
def test_clipping_caps_the_update_norm(clip_norm):
    config = optim_config(name="sgd", learning_rate=1.0, clip_norm=clip_norm)
    tx, _ = optim.make_optimizer(config, total_steps=1)
    grads = {"w": jnp.full((4,), 100.0), "b": jnp.full((), -50.0)}
    updates, _ = tx.update(grads, tx.init(grads))
    norm = float(optax.tree.norm(updates))
    if clip_norm:
        assert norm == pytest.approx(clip_norm, rel=1e-5)
    else:
        assert norm == pytest.approx(float(optax.tree.norm(grads)), rel=1e-5)


def test_unknown_optimizer_names_the_key():
    with pytest.raises(
        ValueError, match=r"^optim\.name='adagrad' is not one of \['adam', 'adamw', 'rmsprop', 'sgd'\]$"
    ):
        optim.make_optimizer(optim_config(name="adagrad"), total_steps=1)


def test_unknown_schedule_names_the_key():
    with pytest.raises(ValueError, match=r"^optim\.schedule='linear' is not one of"):
        optim.make_optimizer(optim_config(schedule="linear"), total_steps=1)


def test_optimizer_applies_its_schedule():
    config = optim_config(
        name="sgd", schedule="step_decay", learning_rate=1.0, decay_after_epochs=1, steps_per_epoch=1, clip_norm=0.0
    )
    tx, schedule = optim.make_optimizer(config, total_steps=3)
    grads = {"w": jnp.ones((2,))}
    state = tx.init(grads)
    for step in range(3):
        updates, state = tx.update(grads, state)
        np.testing.assert_array_equal(updates["w"], -float(schedule(step)) * np.ones(2))
    assert [float(schedule(s)) for s in range(3)] == [1.0, 0.5, 0.25]


def test_parameter_average_is_the_weighted_mean_of_the_visited_parameters():
    """``ema_decay=d``: after updates giving theta_1..theta_t, the average is
    ``sum_k d^(t-k) theta_k / sum_k d^(t-k)``; the updates themselves are those of the plain
    optimizer, so averaging never changes training."""
    decay = 0.8
    plain, _ = optim.make_optimizer(optim_config(name="sgd", learning_rate=0.1, clip_norm=0.0))
    averaged, _ = optim.make_optimizer(optim_config(name="sgd", learning_rate=0.1, clip_norm=0.0, ema_decay=decay))
    params = {"w": jnp.array([0.5, -2.0]), "b": jnp.array(4.0)}
    np.testing.assert_array_equal(optim.averaged_params(averaged.init(params), params)["w"], params["w"])
    p_plain, s_plain, p_avg, s_avg = params, plain.init(params), params, averaged.init(params)
    visited = []
    for _ in range(6):
        u, s_plain = plain.update(jax.grad(quadratic)(p_plain), s_plain, p_plain)
        p_plain = optax.apply_updates(p_plain, u)
        u, s_avg = averaged.update(jax.grad(quadratic)(p_avg), s_avg, p_avg)
        p_avg = optax.apply_updates(p_avg, u)
        visited.append(p_avg)
        jax.tree_util.tree_map(np.testing.assert_array_equal, p_avg, p_plain)
    weights = np.array([decay ** (len(visited) - 1 - k) for k in range(len(visited))])
    for key in params:
        expected = sum(w * np.asarray(v[key]) for w, v in zip(weights, visited)) / weights.sum()
        np.testing.assert_allclose(optim.averaged_params(s_avg, p_avg)[key], expected, rtol=1e-6)
    # Averaging off: the parameters themselves.
    assert optim.averaged_params(s_plain, p_plain) is p_plain


def test_parameter_average_decay_outside_0_1_names_the_key():
    for bad in (1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match=r"optim.ema_decay=.* must be in \(0, 1\)"):
            optim.make_optimizer(optim_config(ema_decay=bad))
