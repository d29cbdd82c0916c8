"""Independent NumPy references for the cells: the textbook equations, one step at a time.

Written from the equations in the papers (not from rnn_research code) so that a mistake in
the library cannot be copied into its own reference. Weights are split per gate here.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def gate_blocks(params: dict, num_gates: int) -> tuple[list, list, list]:
    """Per-gate (W_x [D, H], W_h [H, H], b [H]) lists from our fused layout."""
    wx = np.split(np.asarray(params["input_kernel"], np.float64), num_gates, axis=1)
    wh = np.split(np.asarray(params["recurrent_kernel"], np.float64), num_gates, axis=1)
    b = np.split(np.asarray(params["bias"], np.float64), num_gates)
    return wx, wh, b


def simple_rnn_step(params: dict, h: np.ndarray, x: np.ndarray, activation: str = "tanh") -> np.ndarray:
    (wx,), (wh,), (b,) = gate_blocks(params, 1)
    pre = x @ wx + h @ wh + b
    return np.tanh(pre) if activation == "tanh" else np.maximum(pre, 0.0)


def lstm_step(params: dict, h: np.ndarray, c: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wx, wh, b = gate_blocks(params, 4)
    i = sigmoid(x @ wx[0] + h @ wh[0] + b[0])
    f = sigmoid(x @ wx[1] + h @ wh[1] + b[1])
    g = np.tanh(x @ wx[2] + h @ wh[2] + b[2])
    o = sigmoid(x @ wx[3] + h @ wh[3] + b[3])
    c_new = f * c + i * g
    return o * np.tanh(c_new), c_new


def gru_step(params: dict, h: np.ndarray, x: np.ndarray, reset_after: bool = True) -> np.ndarray:
    wx, wh, b = gate_blocks(params, 3)
    r = sigmoid(x @ wx[0] + b[0] + h @ wh[0])
    z = sigmoid(x @ wx[1] + b[1] + h @ wh[1])
    if reset_after:
        b_hn = np.asarray(params["recurrent_bias"], np.float64)
        n = np.tanh(x @ wx[2] + b[2] + r * (h @ wh[2] + b_hn))
    else:
        n = np.tanh(x @ wx[2] + b[2] + (r * h) @ wh[2])
    return (1.0 - z) * n + z * h


def layer_norm(a: np.ndarray, gain: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Ba et al. (2016): normalise over the units of ``a [B, H]``, then scale by ``gain [H]``."""
    mu = a.mean(axis=-1, keepdims=True)
    sigma = np.sqrt(((a - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    return gain * (a - mu) / sigma


def _gains(params: dict, key: str, num_gates: int) -> list:
    return np.split(np.asarray(params[key], np.float64), num_gates)


def layernorm_lstm_step(params: dict, h: np.ndarray, c: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LSTM with each gate's input and recurrent pre-activations layer-normalised apart, and the
    cell normalised before the output tanh (Ba et al. 2016, eqs. 20-22; per-gate statistics)."""
    wx, wh, b = gate_blocks(params, 4)
    gx, gh = _gains(params, "input_norm_scale", 4), _gains(params, "recurrent_norm_scale", 4)
    a = [layer_norm(x @ wx[k], gx[k]) + layer_norm(h @ wh[k], gh[k]) + b[k] for k in range(4)]
    i, f, g, o = sigmoid(a[0]), sigmoid(a[1]), np.tanh(a[2]), sigmoid(a[3])
    c_new = f * c + i * g
    gc, bc = (np.asarray(params[k], np.float64) for k in ("cell_norm_scale", "cell_norm_bias"))
    return o * np.tanh(layer_norm(c_new, gc) + bc), c_new


def layernorm_gru_step(params: dict, h: np.ndarray, x: np.ndarray) -> np.ndarray:
    wx, wh, b = gate_blocks(params, 3)
    gx, gh = _gains(params, "input_norm_scale", 3), _gains(params, "recurrent_norm_scale", 3)
    u = [layer_norm(x @ wx[k], gx[k]) + b[k] for k in range(3)]
    v = [layer_norm(h @ wh[k], gh[k]) for k in range(3)]
    r, z = sigmoid(u[0] + v[0]), sigmoid(u[1] + v[1])
    n = np.tanh(u[2] + r * (v[2] + np.asarray(params["recurrent_bias"], np.float64)))
    return (1.0 - z) * n + z * h


def _input_blocks(params: dict, x: np.ndarray, num_gates: int) -> list:
    wx = np.split(np.asarray(params["input_kernel"], np.float64), num_gates, axis=1)
    b = np.split(np.asarray(params["bias"], np.float64), num_gates)
    return [x @ w + bias for w, bias in zip(wx, b)]


def mingru_step(params: dict, h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Feng et al. (2024), minGRU: z = sigmoid(Linear(x)), h~ = Linear(x), h = (1 - z) h + z h~."""
    k_z, candidate = _input_blocks(params, x, 2)
    z = sigmoid(k_z)
    return (1.0 - z) * h + z * candidate


def minlstm_step(params: dict, h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Feng et al. (2024), minLSTM with normalised gates f / (f + i), i / (f + i)."""
    k_f, k_i, candidate = _input_blocks(params, x, 3)
    f, i = sigmoid(k_f), sigmoid(k_i)
    return f / (f + i) * h + i / (f + i) * candidate


def run(cell, params: dict, xs: np.ndarray, state: tuple) -> tuple[tuple, np.ndarray]:
    """Loops the reference step of ``cell`` over ``xs [B, T, D]``; ``state`` is a tuple of
    ``[B, H]`` arrays in the cell's state order. Returns ``(final_state, ys [B, T, H])``."""
    name = type(cell).__name__
    state = tuple(np.asarray(s, np.float64) for s in state)
    xs = np.asarray(xs, np.float64)
    ys = []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        if name == "SimpleRNN":
            state = (simple_rnn_step(params, state[0], x, cell.activation),)
        elif name == "LSTM":
            state = lstm_step(params, state[0], state[1], x)
        elif name == "GRU":
            state = (gru_step(params, state[0], x, cell.reset_after),)
        elif name == "LayerNormLSTM":
            state = layernorm_lstm_step(params, state[0], state[1], x)
        elif name == "LayerNormGRU":
            state = (layernorm_gru_step(params, state[0], x),)
        elif name == "MinGRU":
            state = (mingru_step(params, state[0], x),)
        elif name == "MinLSTM":
            state = (minlstm_step(params, state[0], x),)
        else:
            raise ValueError(name)
        ys.append(state[0])
    if not ys:
        return state, np.zeros((xs.shape[0], 0, state[0].shape[-1]))
    return state, np.stack(ys, axis=1)
