"""The matmuls of one recurrent layer's gradient, run alone: the floor XLA's matmuls set on a device.

The gradient of a SimpleRNN, LSTM or GRU layer (``G`` = 1, 4 or 3 gate blocks; ``xs: [B, T, D]``,
hidden size ``H``) as :mod:`rnn_research.fused` computes it is six kinds of matmul plus
elementwise work on gates:

1. the input projection ``u = x W_x``: ``[T*B, D] @ [D, G*H]``;
2. the forward scan's ``T`` recurrent products ``h_{t-1} W_h``: ``[B, H] @ [H, G*H]``;
3. the backward scan's ``T`` products ``da_t W_h^T``: ``[B, G*H] @ [G*H, H]``;
4. ``dx = du W_x^T``: ``[T*B, G*H] @ [G*H, D]``;
5. ``dW_x = x^T du``: ``[D, T*B] @ [T*B, G*H]``;
6. ``dW_h = h^T du``: ``[H, T*B] @ [T*B, G*H]``.

:func:`programs` builds each as its own jitted XLA program, with the einsums ``fused`` uses; the
two scans do one matmul per step and carry a ``[B, H]`` state through a slice (forward) or an add
(backward), nothing else. :func:`run_all` calls them one after another. Their time is what this
arithmetic costs with XLA's matmuls on the device and no elementwise work at all, so

* ``ours / matmuls`` is the overhead of everything else in our layer (gates, residual writes,
  loop control, transposes);
* ``matmuls / torch`` above 1 means that an XLA implementation running these matmuls one at a time
  cannot match torch's whole layer on this device, however little else it does.

It is a floor for this formulation, not for every program: six dispatches and two loops of their
own are in it, and other formulations move it. Measured once on the 2-core development VM with
ad hoc scripts (not kept), the recurrent products in a feature-major layout (``W^T h^T``, scans of
matmul and ``tanh`` alone) ran between 16% slower (B16 H128) and 13% faster (B64 H512, forward)
than the batch-major ones used here; inside one program, where XLA runs ``dx`` and ``dW_h``
concurrently, the two took 227 ms at B128 T50 D512 H1024 against 72 + 130 ms apart (but an
ordering that ran them apart was no faster overall).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Program = tuple[str, Callable[..., jax.Array], tuple[jax.Array, ...], int]


def programs(size: tuple[int, int, int, int], gates: int) -> list[Program]:
    """``(label, jitted function, arguments, flops)`` for each matmul kind of the layer's gradient
    at ``size = (B, T, D, H)``; the flops add up to ``3 * 2 B T (D + H) G H``."""
    b, t, d, h = size
    g = gates * h
    keys = jax.random.split(jax.random.key(0), 5)
    x = jax.random.normal(keys[0], (t, b, d))
    w_x = jax.random.normal(keys[1], (d, g)) / d**0.5
    w_h = jax.random.normal(keys[2], (h, g)) / g
    du = jax.random.normal(keys[3], (t, b, g))
    hs = jax.random.normal(keys[4], (t, b, h))

    # The scans carry a [B, H] state so that XLA runs their steps in order, as in the layer: the
    # forward step's product feeds the next step (its values do not matter to a CPU GEMM's speed);
    # the backward step adds its product to the carry.
    def forward(w: jax.Array, h0: jax.Array) -> jax.Array:
        return jax.lax.scan(lambda c, _: ((c @ w)[:, :h], None), h0, None, length=t)[0]

    def backward(w_t: jax.Array, da: jax.Array) -> jax.Array:
        return jax.lax.scan(lambda c, da_t: (c + da_t @ w_t, None), jnp.zeros((b, h)), da, reverse=True)[0]

    per = 2 * t * b  # each kind multiplies over all T*B rows once: 2 T B K N flops for a K x N weight
    return [
        ("input projection", jax.jit(lambda x, w: jnp.einsum("nbd,dg->nbg", x, w)), (x, w_x), per * d * g),
        ("forward scan", jax.jit(forward), (w_h, jnp.zeros((b, h))), per * h * g),
        ("backward scan", jax.jit(backward), (w_h.T + 0.0, du), per * g * h),  # W_h^T as its own array, as fused
        ("dx", jax.jit(lambda da, w: jnp.einsum("nbg,dg->nbd", da, w)), (du, w_x), per * g * d),
        ("dW_x", jax.jit(lambda x, da: jnp.einsum("nbd,nbg->dg", x, da)), (x, du), per * d * g),
        ("dW_h", jax.jit(lambda x, da: jnp.einsum("nbh,nbg->hg", x, da)), (hs, du), per * h * g),
    ]


def run_all(progs: list[Program]) -> Callable[[], None]:
    """One call runs every program once, one after another, each to completion."""

    def call() -> None:
        for _, fn, args, _ in progs:
            jax.block_until_ready(fn(*args))

    return call
