"""Gradient flow through time: ``||dLoss/dh_t||`` for every time step ``t`` of every layer.

:class:`rnn_research.layers.RNN` adds zeros ``[B, T, H]`` to each layer's hidden state when it
is given a ``"perturbations"`` collection (see :func:`rnn_research.recurrent.unroll`). The
gradient of the loss with respect to them is the total derivative ``dLoss/dh_t``, through the
output at ``t`` and through every later step. Recorded at intervals on a fixed batch, the norms
show gradients vanishing (SimpleRNN: they decay geometrically away from the loss) or exploding
through time; :func:`plot` draws them as a heatmap of time step x training step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rnn_research import io, metrics

FILENAME = "diagnostics.jsonl"


def hidden_gradient_norms(loss_fn: Callable[[Any], jax.Array], perturbations: dict[str, Any]) -> dict[str, jax.Array]:
    """Per-layer ``[T]`` norms of ``dLoss/dh_t`` over batch, state axes and directions.

    Args:
      loss_fn: maps the perturbation tree (``{"layer_0": [B, T, *S] or {"forward", "backward"}}``,
        possibly nested under module names) to the scalar loss.
      perturbations: the zeros tree from ``model.init(...)["perturbations"]``.
    """
    grads = jax.grad(loss_fn)(perturbations)
    norms: dict[str, jax.Array] = {}
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        keys = [str(getattr(k, "key", k)) for k in path]
        layer = "/".join(k for k in keys if k not in ("forward", "backward"))
        sq = jnp.sum(jnp.square(g.astype(jnp.float32)), axis=(0, *range(2, g.ndim)))  # all but time
        norms[layer] = norms.get(layer, 0.0) + sq
    return {name: jnp.sqrt(sq) for name, sq in norms.items()}


class DiagnosticsLog:
    """``diagnostics.jsonl`` in the workdir: one record ``{"step", "<layer>": [T floats]}`` per call."""

    def __init__(self, workdir: str | Path) -> None:
        self.path = Path(workdir) / FILENAME

    def write(self, step: int, norms: dict[str, Any]) -> None:
        """Appends one record: ``norms`` maps a layer name to its ``[T]`` norms ``||dLoss/dh_t||``;
        a NaN or infinite norm (a diverged model) is written as ``null``, so every line is strict JSON."""
        record = {"step": int(step), **{k: np.asarray(v, np.float64).tolist() for k, v in norms.items()}}
        record, _ = metrics.finite_or_null(record)
        with open(self.path, "a") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")

    def read(self) -> list[dict[str, Any]]:
        """Every complete record, oldest first (``{"step": int, "<layer>": [T floats]}``)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text().split("\n")
        return [json.loads(line) for line in lines[:-1] if line]  # a partial last line is dropped

    def resume(self, step: int) -> None:
        """Keeps only records up to ``step`` (the checkpoint a resumed run starts from)."""
        if not self.path.exists():
            return
        kept = [r for r in self.read() if r["step"] <= step]
        io.atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))


def plot(records: list[dict[str, Any]], out_dir: str | Path, *, title_prefix: str = "") -> list[Path]:
    """One heatmap per layer: ``log10 ||dLoss/dh_t||``, time step on x, training step on y."""
    from rnn_research.metrics import plot_heatmap

    if not records:
        return []
    layers = [k for k in records[0] if k != "step"]
    steps = [r["step"] for r in records]
    paths = []
    for layer in layers:
        matrix = np.array([r[layer] for r in records], dtype=np.float64)
        name = layer.replace("/", "_")
        title = f"{title_prefix}||dLoss/dh_t||, {layer}".strip()
        paths.append(plot_heatmap(matrix, steps, Path(out_dir) / f"grad_flow_{name}.png", title=title))
    return paths
