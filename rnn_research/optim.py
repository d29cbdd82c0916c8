"""Optax optimizer, learning-rate schedule and gradient clipping, built from ``config.optim``.

:func:`make_optimizer` returns the transformation and the schedule it uses, so the logged
learning rate is the one applied::

    tx, schedule = optim.make_optimizer(config.optim, total_steps=n, steps_per_epoch=spe)
    schedule(step)  # learning rate of the update at 0-based `step` (= optax's update count)

Fields read (see ``configs/base.py``): ``name``, ``learning_rate``, ``momentum``,
``weight_decay``, ``rmsprop_decay``, ``eps``, ``clip_norm``, ``schedule``, ``warmup_steps``,
``min_learning_rate``, ``decay_factor``, ``decay_after_epochs``, ``steps_per_epoch``,
``ema_decay``.

With ``ema_decay > 0`` the optimizer also keeps an exponential moving average of the parameters
(Polyak averaging) in its state; :func:`averaged_params` reads it, and the harness evaluates,
picks the best checkpoint and predicts with it. Kept in the optimizer state, it is checkpointed
and resumed exactly with the rest.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "step_decay", "warmup_cosine")


def _require_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"optim.{key}={value!r} is not one of {sorted(choices)}")


def _steps_per_epoch(optim_config: Any, steps_per_epoch: int | None) -> int:
    """``optim.steps_per_epoch`` when > 0, else the argument (the experiment's data info)."""
    configured = int(optim_config.steps_per_epoch)
    resolved = configured if configured > 0 else steps_per_epoch
    if resolved is None or int(resolved) <= 0:
        raise ValueError(
            f"schedule 'step_decay' needs optim.steps_per_epoch > 0 or a steps_per_epoch argument, "
            f"got optim.steps_per_epoch={configured} and steps_per_epoch={steps_per_epoch}"
        )
    return int(resolved)


def step_decay_schedule(
    learning_rate: float, decay_factor: float, decay_after_epochs: int, steps_per_epoch: int
) -> optax.Schedule:
    """Per-epoch decay of Zaremba et al. 2014, "Recurrent Neural Network Regularization".

    With 0-based epoch ``e = step // steps_per_epoch`` the learning rate is
    ``learning_rate * decay_factor ** max(0, e - decay_after_epochs + 1)``: the first
    ``decay_after_epochs`` epochs run at ``learning_rate``, and every later epoch multiplies it
    by ``decay_factor`` once more.

    Example (Zaremba small, "lr 1, halved each epoch after 4"): ``learning_rate=1``,
    ``decay_factor=0.5``, ``decay_after_epochs=4``, ``steps_per_epoch=10`` gives lr 1 for steps
    0..39 (epochs 1-4, 1-based), 0.5 for steps 40..49 (epoch 5), 0.25 for steps 50..59 (epoch 6).

    The step may be a traced integer; powers of the factor are exact (integer exponent).
    """

    def schedule(step: jax.Array | int) -> jax.Array:
        epoch = jnp.asarray(step) // steps_per_epoch
        exponent = jnp.maximum(epoch - (decay_after_epochs - 1), 0).astype(jnp.int32)
        return learning_rate * jnp.power(jnp.float32(decay_factor), exponent)

    return schedule


def make_schedule(
    optim_config: Any, *, total_steps: int | None = None, steps_per_epoch: int | None = None
) -> optax.Schedule:
    """The learning rate as a function of the 0-based update step, by ``optim.schedule``.

    - ``constant``: ``learning_rate`` throughout.
    - ``warmup_cosine``: linear from 0 to ``learning_rate`` over ``warmup_steps``, then cosine
      down to ``min_learning_rate`` at ``total_steps`` (required), constant after.
    - ``step_decay``: :func:`step_decay_schedule`; ``steps_per_epoch`` comes from
      ``optim.steps_per_epoch`` when > 0, else from the argument.
    """
    name = optim_config.schedule
    _require_choice("schedule", name, SCHEDULES)
    lr = float(optim_config.learning_rate)
    if name == "constant":
        return optax.constant_schedule(lr)
    if name == "warmup_cosine":
        warmup = int(optim_config.warmup_steps)
        if total_steps is None or total_steps <= warmup:
            raise ValueError(
                f"schedule 'warmup_cosine' needs total_steps > optim.warmup_steps={warmup}, got total_steps={total_steps}"
            )
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=lr,
            warmup_steps=warmup,
            decay_steps=int(total_steps),
            end_value=float(optim_config.min_learning_rate),
        )
    return step_decay_schedule(
        lr,
        float(optim_config.decay_factor),
        int(optim_config.decay_after_epochs),
        _steps_per_epoch(optim_config, steps_per_epoch),
    )


class AveragedParamsState(NamedTuple):
    """After ``t`` updates: ``ema_params = sum_k (1 - d) d^(t-k) theta_k`` (``theta_k`` the
    parameters after update ``k``) and ``ema_weight = sum_k (1 - d) d^(t-k) = 1 - d^t``, so that
    ``ema_params / ema_weight`` is a weighted mean of the parameters visited (no bias towards the
    zeros it starts from) and needs no ``d`` to read (see :func:`averaged_params`)."""

    ema_weight: jax.Array
    ema_params: Any


def average_params(decay: float) -> optax.GradientTransformation:
    """Tracks an exponential moving average (decay ``d``) of the parameters after each update,
    ``theta_t = params + updates``, so it must come last in a chain. Updates pass unchanged."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"optim.ema_decay={decay!r} must be in (0, 1), e.g. 0.999 (0 turns averaging off)")

    def init(params: Any) -> AveragedParamsState:
        zeros = jax.tree_util.tree_map(lambda p: jnp.zeros(p.shape, jnp.promote_types(p.dtype, jnp.float32)), params)
        return AveragedParamsState(ema_weight=jnp.zeros((), jnp.float32), ema_params=zeros)

    def update(updates: Any, state: AveragedParamsState, params: Any = None) -> tuple[Any, AveragedParamsState]:
        if params is None:
            raise ValueError("average_params needs the parameters: call tx.update(grads, state, params)")
        new = optax.apply_updates(params, updates)
        ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p.astype(e.dtype), state.ema_params, new)
        return updates, AveragedParamsState(ema_weight=decay * state.ema_weight + (1.0 - decay), ema_params=ema)

    return optax.GradientTransformation(init, update)


def averaged_params(opt_state: Any, params: Any) -> Any:
    """The parameters' moving average held in ``opt_state`` (by :func:`average_params`), in the
    dtypes of ``params``; ``params`` when there is none (averaging off) or before any update.
    Also reads a raw restored state, where the average is a dict with the same field names."""

    def is_average(x: Any) -> bool:
        return isinstance(x, AveragedParamsState) or (
            isinstance(x, dict) and set(x) == set(AveragedParamsState._fields)
        )

    found = [s for s in jax.tree_util.tree_leaves(opt_state, is_leaf=is_average) if is_average(s)]
    if not found:
        return params
    if len(found) > 1:
        raise ValueError(f"the optimizer state holds {len(found)} parameter averages; expected one")
    average = found[0] if isinstance(found[0], dict) else found[0]._asdict()
    weight = jnp.asarray(average["ema_weight"])
    return jax.tree_util.tree_map(
        lambda e, p: jnp.where(weight > 0, (e / jnp.maximum(weight, 1e-30)).astype(p.dtype), p),
        average["ema_params"],
        params,
    )


def make_optimizer(
    optim_config: Any, *, total_steps: int | None = None, steps_per_epoch: int | None = None
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """Returns ``(tx, schedule)``: global-norm clipping (when ``clip_norm > 0``), then the optimizer.

    ``sgd`` (heavy-ball ``momentum`` when > 0, no Nesterov), ``adam`` (``eps``), ``adamw``
    (``eps``, decoupled ``weight_decay``), ``rmsprop`` (``decay=rmsprop_decay``, ``eps``); then,
    with ``ema_decay > 0``, :func:`average_params`. The
    learning rate follows :func:`make_schedule` with the same arguments; ``schedule`` is that
    function, for logging.
    """
    name = optim_config.name
    _require_choice("name", name, OPTIMIZERS)
    lr = make_schedule(optim_config, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    eps = float(optim_config.eps)
    if name == "sgd":
        momentum = float(optim_config.momentum)
        tx = optax.sgd(lr, momentum=momentum if momentum > 0 else None)
    elif name == "adam":
        tx = optax.adam(lr, eps=eps)
    elif name == "adamw":
        tx = optax.adamw(lr, eps=eps, weight_decay=float(optim_config.weight_decay))
    else:
        tx = optax.rmsprop(lr, decay=float(optim_config.rmsprop_decay), eps=eps)
    clip_norm = float(optim_config.clip_norm)
    if clip_norm > 0:
        tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)
    ema_decay = float(optim_config.get("ema_decay", 0.0))
    if ema_decay:
        tx = optax.chain(tx, average_params(ema_decay))
    return tx, lr


def learning_rate_at(
    optim_config: Any, step: int, *, total_steps: int | None = None, steps_per_epoch: int | None = None
) -> float:
    """The learning rate of the update at 0-based ``step``, as a Python float (for logging)."""
    schedule = make_schedule(optim_config, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    return float(schedule(step))
