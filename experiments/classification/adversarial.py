"""Adversarial training on word embeddings (Miyato, Dai and Goodfellow 2017, "Adversarial
Training Methods for Semi-Supervised Text Classification").

For each training batch, the loss is ``L(x) + L(x + r_adv)``: ``x [B, T, E]`` the embedded
words the encoder reads, and ``r_adv`` the perturbation of each example's embeddings, of a fixed
size, in the direction that increases its loss most to first order::

    g_b = dL/dx_b (at the current weights, with the batch's dropout masks)
    r_b = eps * ||x_b|| * g_b / ||g_b||        (norms over the example's valid steps)

The size is relative to the example's own embeddings (``eps`` is a fraction, e.g. 0.05): the
paper normalises the embedding table instead, so that the model cannot shrink a fixed
perturbation by growing its embeddings; a relative size does the same without changing the
model. ``r`` is a constant (no gradient flows through its computation): against plain training,
the search for it and the loss at it add two forward and two backward passes to each step (about
twice the time on a CPU). Evaluation and prediction never perturb. The logged train ``loss`` is
the sum of both losses; the clean one is logged as ``nll``, the other as ``adversarial_loss``.

The model takes the unit direction ``d_b = g_b / ||g_b||`` (``[B, T, E]``, zero at padding) and
applies ``x + eps * stop_gradient(||x_b||) * d``, so that ``g`` is also its gradient with respect
to ``d`` at 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from rnn_research.recurrent import length_mask


def unit_directions(grads: jax.Array, lengths: jax.Array) -> jax.Array:
    """``grads [B, T, E]`` -> each example's gradient over its valid steps ``t < lengths[b]``,
    divided by its norm (zero where the gradient is zero, and at padded steps)."""
    valid = length_mask(lengths, grads.shape[1])[..., None]
    grads = jnp.where(valid, grads, 0.0)
    norms = jnp.sqrt(jnp.sum(jnp.square(grads), axis=(1, 2), keepdims=True))
    return jnp.where(norms > 0, grads / jnp.where(norms > 0, norms, 1.0), 0.0)


def perturb(xs: jax.Array, lengths: jax.Array, direction: jax.Array, eps: float) -> jax.Array:
    """``xs + eps * ||xs_b|| * direction`` with the norm over the valid steps, held constant."""
    valid = length_mask(lengths, xs.shape[1])[..., None]
    norms = jnp.sqrt(jnp.sum(jnp.square(jnp.where(valid, xs, 0.0)), axis=(1, 2), keepdims=True))
    return xs + eps * jax.lax.stop_gradient(norms).astype(xs.dtype) * direction.astype(xs.dtype)


def adversarial_loss(
    loss_of: Callable[[Any, jax.Array], jax.Array], variables: Any, zeros: jax.Array, lengths: jax.Array
) -> jax.Array:
    """``loss_of(variables, d_adv)``: the loss at the worst-case direction ``d_adv``, found from
    the gradient of ``loss_of(variables, .)`` at ``zeros`` (``[B, T, E]``) with the weights held
    constant, so that differentiating the result with respect to ``variables`` does not go
    through the search (no second-order terms, nor the cost of differentiating the search)."""
    frozen = jax.lax.stop_gradient(variables)
    grads = jax.grad(lambda d: loss_of(frozen, d))(zeros)
    return loss_of(variables, jax.lax.stop_gradient(unit_directions(grads, lengths)))
