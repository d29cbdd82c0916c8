"""The two output heads of a piano-roll model, as pure functions over plain-dict params: the
probability of the next frame ``v [K]`` (K binary keys) given the RNN's output ``h [H]``.

``bernoulli`` (the benchmark's usual head): K independent sigmoids,

    p(v | h) = prod_k s(l_k)^v_k (1 - s(l_k))^(1 - v_k),   l = h W_o + b_o            [K]

``nade`` (RNN-NADE, Boulanger-Lewandowski, Bengio & Vincent 2012): the keys of a frame are
modelled jointly, low to high, by a NADE (Larochelle & Murray 2011) whose biases are functions of
the RNN's output, so that the notes of a chord are predicted together:

    b_v = h W_v + c_v   [K],   b_h = h W_h + c_h   [N]             (N = ``nade_hidden`` units)
    a_k = b_h + sum_{j<k} v_j U_j                                   (U [K, N]: key j's input weights)
    p(v_k = 1 | v_<k, h) = s(b_v,k + s(a_k) . V_k)                  (V [K, N]: key k's output weights)
    p(v | h) = prod_k p(v_k | v_<k, h)

Its likelihood is exact (a product of K conditionals; the probabilities of all 2^K frames sum to
one), so both heads are scored with the same NLL. Evaluating it on a given frame is parallel over
the keys (the prefix sums ``sum_{j<k} v_j U_j`` of every ``k`` as one masked matmul, ``[K, K] x
[K, N]`` per row, which XLA runs faster on CPU than a cumulative sum over the keys); sampling one is
sequential (:func:`nade_sample`, a scan over keys).

Both heads return ``logits [..., K]``: ``bernoulli``'s are the independent keys' logits; ``nade``'s
(teacher-forced with the true frame ``v``) are those of ``p(v_k = 1 | v_<k, h)``. The frame's
log-probability is ``sum_k log s(+-logit_k)`` in either case (:func:`frame_log_prob`).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
HEADS = ("bernoulli", "nade")
# Rows of ``[..., K, N]`` pre-activations evaluated at once by the NADE (bounds its memory).
NADE_CHUNK = 512


def frame_log_prob(logits: Array, v: Array) -> Array:
    """``log p(v)`` summed over keys: ``logits [..., K]``, ``v [..., K]`` (0/1) -> ``[...]``."""
    v = v.astype(logits.dtype)
    return jnp.sum(v * jax.nn.log_sigmoid(logits) + (1.0 - v) * jax.nn.log_sigmoid(-logits), axis=-1)


def _affine(h: Array, kernel: Array, bias: Array) -> Array:
    """``h [..., H] @ kernel [H, M] + bias [M]`` -> ``[..., M]``."""
    return h @ kernel + bias.reshape((1,) * (h.ndim - 1) + bias.shape)


def bernoulli_logits(params: Any, h: Array) -> Array:
    """``h [..., H]`` -> the keys' independent logits ``[..., K]``."""
    return _affine(h, params["kernel"], params["bias"])


def _nade_biases(params: Any, h: Array) -> tuple[Array, Array]:
    """``(b_v [..., K], b_h [..., N])`` from ``h [..., H]``."""
    b_v = _affine(h, params["visible_kernel"], params["visible_bias"])
    b_h = _affine(h, params["hidden_kernel"], params["hidden_bias"])
    return b_v, b_h


def _nade_rows(params: Any, b_v: Array, b_h: Array, v: Array) -> Array:
    """Teacher-forced conditionals of rows: ``b_v [R, K]``, ``b_h [R, N]``, ``v [R, K]`` -> logits ``[R, K]``."""
    keys = v.shape[-1]
    below = v[:, None, :] * jnp.tril(jnp.ones((keys, keys), v.dtype), -1)[None]  # [R, K, K]: v_j where j < k
    before = jnp.einsum("rkj,jn->rkn", below, params["input_weights"])  # one matmul, not a cumsum over K
    hidden = jax.nn.sigmoid(b_h[:, None, :] + before)
    return b_v + jnp.sum(hidden * params["output_weights"][None], axis=-1)


def nade_logits(params: Any, h: Array, v: Array, *, chunk: int = NADE_CHUNK) -> Array:
    """``p(v_k = 1 | v_<k, h)`` as logits ``[..., K]`` for ``h [..., H]`` and the true frames ``v [..., K]``.

    The ``[rows, K, N]`` pre-activations are formed ``chunk`` rows at a time, and recomputed in
    the backward pass (``jax.checkpoint``), so memory stays ``O(chunk K N)`` at any batch and length.
    """
    lead = h.shape[:-1]
    if v.shape[:-1] != lead:
        raise ValueError(f"nade: h {h.shape} and v {v.shape} must share their leading axes")
    keys = params["input_weights"].shape[0]
    b_v, b_h = _nade_biases(params, h.reshape(-1, h.shape[-1]))
    flat_v = v.reshape(-1, keys).astype(b_v.dtype)
    rows = flat_v.shape[0]
    if rows <= chunk:
        return _nade_rows(params, b_v, b_h, flat_v).reshape(*lead, keys)
    pad = -rows % chunk

    def split(x: Array) -> Array:
        return jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, chunk, x.shape[-1])

    rows_fn = jax.checkpoint(lambda args: _nade_rows(params, *args))
    out = jax.lax.map(rows_fn, (split(b_v), split(b_h), split(flat_v)))
    return out.reshape(-1, keys)[:rows].reshape(*lead, keys)


def nade_sample(params: Any, h: Array, key: Array | None, temperature: float = 1.0) -> tuple[Array, Array]:
    """One frame per row of ``h [R, H]``, key by key from low to high: ``(v [R, K] float 0/1, log p(v) [R])``.

    Key ``k`` is drawn from ``s(logit_k / temperature)``; ``temperature=0`` (or ``key=None``) takes
    the more likely value of each key in turn (a greedy frame: not always the most likely frame,
    which would need all 2^K). The log-probability is the model's own (temperature 1).
    """
    b_v, b_h = _nade_biases(params, h)
    rows, keys = b_v.shape
    noise = jnp.zeros((keys, rows)) if key is None or temperature == 0 else jax.random.uniform(key, (keys, rows))

    def step(a: Array, inputs: tuple[Array, Array, Array, Array]) -> tuple[Array, tuple[Array, Array]]:
        bias, u_k, w_k, uniform = inputs
        logit = bias + jax.nn.sigmoid(a) @ w_k
        if key is None or temperature == 0:
            on = (logit > 0).astype(a.dtype)
        else:
            on = (uniform < jax.nn.sigmoid(logit / temperature)).astype(a.dtype)
        log_p = on * jax.nn.log_sigmoid(logit) + (1 - on) * jax.nn.log_sigmoid(-logit)
        return a + on[:, None] * u_k[None], (on, log_p)

    scanned = (b_v.T, params["input_weights"], params["output_weights"], noise)
    _, (frame, log_p) = jax.lax.scan(step, b_h, scanned)
    return frame.T, jnp.sum(log_p, axis=0)


def bernoulli_sample(params: Any, h: Array, key: Array | None, temperature: float = 1.0) -> tuple[Array, Array]:
    """One frame per row of ``h [R, H]`` from the independent keys: ``(v [R, K], log p(v) [R])``
    (``temperature=0`` or ``key=None``: each key on iff its probability exceeds 1/2, the most likely frame)."""
    logits = bernoulli_logits(params, h)
    if key is None or temperature == 0:
        frame = (logits > 0).astype(logits.dtype)
    else:
        frame = (jax.random.uniform(key, logits.shape) < jax.nn.sigmoid(logits / temperature)).astype(logits.dtype)
    return frame, frame_log_prob(logits, frame)


SAMPLERS = {"bernoulli": bernoulli_sample, "nade": nade_sample}


class Head(nn.Module):
    """Either head as a Flax module (its params are the plain dicts the functions above read).

    ``__call__(h [..., H], v [..., K]) -> logits [..., K]`` (``v`` is read by ``nade`` only); with
    ``predict=True``, ``(logits, predicted [..., K])``: the most likely frame (``bernoulli``) or the
    greedy one (``nade``, :func:`nade_sample` at temperature 0), for frame-level accuracy.
    ``key_log_odds [K]`` starts the visible biases at the training set's per-key log-odds.
    """

    kind: str
    num_keys: int
    nade_hidden: int = 150
    key_log_odds: tuple[float, ...] | None = None

    def _bias_init(self) -> Any:
        if self.key_log_odds is None:
            return nn.initializers.zeros
        odds = jnp.asarray(self.key_log_odds, jnp.float32)
        return lambda key, shape, dtype=jnp.float32: odds.astype(dtype).reshape(shape)

    @nn.compact
    def __call__(self, h: Array, v: Array, predict: bool = False) -> Array | tuple[Array, Array]:
        if self.kind not in HEADS:
            raise ValueError(f"model.head={self.kind!r} is not one of {list(HEADS)}")
        if v.shape[-1] != self.num_keys:
            raise ValueError(f"the frames have {v.shape[-1]} keys, the head was built for {self.num_keys}")
        size, keys = h.shape[-1], self.num_keys
        dense = nn.initializers.lecun_normal()
        if self.kind == "bernoulli":
            params = {
                "kernel": self.param("kernel", dense, (size, keys)),
                "bias": self.param("bias", self._bias_init(), (keys,)),
            }
            logits = bernoulli_logits(params, h)
            return (logits, (logits > 0).astype(logits.dtype)) if predict else logits
        n = self.nade_hidden
        params = {
            "visible_kernel": self.param("visible_kernel", dense, (size, keys)),
            "visible_bias": self.param("visible_bias", self._bias_init(), (keys,)),
            "hidden_kernel": self.param("hidden_kernel", dense, (size, n)),
            "hidden_bias": self.param("hidden_bias", nn.initializers.zeros, (n,)),
            "input_weights": self.param("input_weights", nn.initializers.normal(0.1), (keys, n)),
            "output_weights": self.param("output_weights", nn.initializers.normal(n**-0.5), (keys, n)),
        }
        logits = nade_logits(params, h, v)
        if not predict:
            return logits
        frame, _ = nade_sample(params, h.reshape(-1, size), None)
        return logits, frame.reshape(logits.shape)
