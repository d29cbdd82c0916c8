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
        else:
            raise ValueError(name)
        ys.append(state[0])
    if not ys:
        return state, np.zeros((xs.shape[0], 0, state[0].shape[-1]))
    return state, np.stack(ys, axis=1)
