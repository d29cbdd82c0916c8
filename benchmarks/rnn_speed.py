"""Speed of one recurrent layer (forward + backward) against torch.nn and flax ``nn.RNN``, in one run.

    python -m benchmarks.rnn_speed --table=docs/results/rnn_speed_cpu.md

Every row times the same work for each implementation: the gradient of ``mean(ys**2)`` with
respect to the layer's parameters and its input ``xs: [B, T, D]`` (one layer, float32, no
padding), median milliseconds of ``--repeats`` calls after two warm-up calls (which compile).
The implementations of a row are timed round-robin: each round calls each of them once, in an
order rotated from round to round, so that a slow stretch of a shared machine falls on all of
them alike. A ratio column is the median of the per-round ratios, with their interquartile
range in brackets.

* ``ours``: :func:`rnn_research.recurrent.unroll` with its hand-written backward pass;
  ``autodiff``: the same with ``backward="autodiff"`` (JAX differentiates the scan).
* ``torch``: ``torch.nn.RNN/LSTM/GRU`` (oneDNN on the CPU with threads = cores; cuDNN on a GPU).
* ``flax``: ``flax.linen.RNN`` over ``OptimizedLSTMCell`` / ``GRUCell`` / ``SimpleCell``.
* ``cudnn-jax`` (GPU only, LSTM only): ``jax.experimental.rnn.lstm``, cuDNN called from JAX.
* ``matmuls``: the layer gradient's matmuls alone, as separate XLA programs with no elementwise
  work (:mod:`benchmarks.matmul_floor`): the floor XLA's matmuls set here, reported in a second
  table with ``matmuls / torch`` (above 1: an implementation built on XLA's matmuls, formulated
  as here, cannot match torch's layer on this device) and ``ours / matmuls`` (our overhead over it).

GFLOP/s counts the matmuls only: ``3 x 2 B T (D + H) G H`` for forward + backward (the
backward pass does two matmuls per forward one), with ``G`` = 4 (LSTM), 3 (GRU), 1 (RNN). The
peak is the best float32 ``N x N`` matmul rate measured in the same process (JAX and torch).
Before timing, each row checks that ``ours`` and ``torch`` agree with the same weights
(outputs and the recurrent-kernel gradient, max abs difference in the table). On a GPU,
"float32" matmuls run at JAX's and cuDNN's default precision, TF32 on recent NVIDIA chips.

``--compile`` times ``jit(...).lower().compile()`` of the LSTM gradient at T = 10 and 1,000;
``--lm_steps`` times training steps of the char-LM small preset through the harness's own
train step (embedding, 2x256 LSTM, softmax, Adam) on random tokens and reports tokens/s.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks import matmul_floor
from benchmarks.machine import hardware
from benchmarks.rnn_speed_extras import compile_seconds, lm_tokens_per_second, memory_table
from experiments import host_flags
from rnn_research import hostmem

_SIZES = flags.DEFINE_list(
    "sizes", ["32x100x128x256", "64x100x256x512", "16x200x64x128", "128x50x512x1024"], "BxTxDxH per row."
)
_CELLS = flags.DEFINE_list("cells", ["lstm", "gru", "simple_rnn"], "Cells to time.")
PEERS = ("torch", "flax", "autodiff", "cudnn-jax", "matmuls")
_PEERS = flags.DEFINE_list("peers", list(PEERS), "Implementations besides ours (any of these).")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed calls per measurement (the median is reported).", lower_bound=1)
_UNROLL = flags.DEFINE_integer("unroll", 1, "Scan steps per loop iteration for ours and autodiff.")
_COMPILE = flags.DEFINE_bool("compile", True, "Also time compilation at T = 10 and T = 1,000.")
_MEMORY = flags.DEFINE_bool("memory", True, "Also report compiled peak temporary memory at T = 1,000 and 10,000.")
_LM_STEPS = flags.DEFINE_integer("lm_steps", 20, "Timed char-LM training steps (0: skip).")
_TABLE = flags.DEFINE_string("table", None, "Write the markdown report here (also printed).")
_RETAIN_HOST_MEMORY = host_flags.RETAIN_HOST_MEMORY

GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
TORCH = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "RNN"}


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    for _ in range(2):  # warm-up: compiles, allocates, lets oneDNN pick its kernels
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_device(torch: Any) -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def matmul_peak(repeats: int) -> float:
    """Best float32 matmul GFLOP/s measured here, over JAX and torch."""
    n = 8192 if jax.default_backend() == "gpu" else 2048
    a = jax.random.normal(jax.random.key(0), (n, n))
    f = jax.jit(lambda x: x @ x)
    best = 2 * n**3 / median_ms(lambda: f(a).block_until_ready(), repeats) / 1e6
    torch = _torch()
    if torch is not None:
        t = torch.randn(n, n, device=torch_device(torch))
        sync = torch.cuda.synchronize if t.is_cuda else (lambda: None)
        best = max(best, 2 * n**3 / median_ms(lambda: (t @ t, sync()), repeats) / 1e6)
    return best


def round_robin_ms(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Milliseconds of ``repeats`` calls of each function, one call of each per round (the order
    rotated each round), after two warm-up calls of each."""
    for fn in fns.values():
        for _ in range(2):
            fn()
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(1e3 * (time.perf_counter() - start))
    return times


def ratio_quartiles(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """25th, 50th and 75th percentiles of the paired ratios ``num[i] / den[i]``."""
    ratios = [a / b for a, b in zip(num, den)]
    if len(ratios) < 4:
        mid = statistics.median(ratios)
        return mid, mid, mid
    q1, q2, q3 = statistics.quantiles(ratios, n=4)
    return q1, q2, q3


# --------------------------------------------------------------------------- implementations
def ours(name: str, size: tuple[int, ...], backward: str) -> Callable[[], Any]:
    from rnn_research import cells, recurrent

    b, t, d, h = size
    cell = cells.make(name, h)
    params = cell.init(jax.random.key(0), d)
    xs = jax.random.normal(jax.random.key(1), (b, t, d))

    def loss(p: Any, x: jax.Array) -> jax.Array:
        return jnp.mean(recurrent.unroll(cell, p, x, unroll=_UNROLL.value, backward=backward)[1] ** 2)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def flax_rnn(name: str, size: tuple[int, ...]) -> Callable[[], Any]:
    import flax.linen as nn

    b, t, d, h = size
    cell = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell, "simple_rnn": nn.SimpleCell}[name](h)
    model = nn.RNN(cell)
    xs = jax.random.normal(jax.random.key(1), (b, t, d))
    params = model.init(jax.random.key(0), xs)

    grad = jax.jit(jax.grad(lambda p, x: jnp.mean(model.apply(p, x) ** 2), argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def cudnn_jax(name: str, size: tuple[int, ...]) -> Callable[[], Any] | None:
    if name != "lstm" or jax.default_backend() != "gpu":
        return None
    from jax.experimental import rnn

    b, t, d, h = size
    weights = rnn.init_lstm_weight(jax.random.key(0), d, h, 1, False)
    xs = jax.random.normal(jax.random.key(1), (b, t, d))
    zeros = jnp.zeros((1, b, h))
    lengths = jnp.full((b,), t, jnp.int32)

    def loss(w: jax.Array, x: jax.Array) -> jax.Array:
        ys = rnn.lstm(x, zeros, zeros, w, lengths, d, h, 1, 0.0, False)[0]
        return jnp.mean(ys**2)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(weights, xs))


def torch_rnn(torch: Any, name: str, size: tuple[int, ...]) -> tuple[Callable[[], Any], Any, Any]:
    b, t, d, h = size
    device = torch_device(torch)
    torch.manual_seed(0)
    module = getattr(torch.nn, TORCH[name])(d, h, batch_first=True).to(device)
    xs = torch.randn(b, t, d, device=device, requires_grad=True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step() -> None:
        module.zero_grad(set_to_none=True)
        xs.grad = None
        ys, _ = module(xs)
        ys.pow(2).mean().backward()
        sync()

    return step, module, xs


def agreement(torch: Any, name: str, module: Any, xs: Any) -> float:
    """Max abs difference between torch and ours with torch's weights: outputs and gradients."""
    from rnn_research import interop, recurrent

    cell, params = interop.from_torch(module.cpu())
    module.to(torch_device(torch))
    module.zero_grad(set_to_none=True)
    ys_t, _ = module(xs)
    ys_t.pow(2).mean().backward()
    grad_t = module.weight_hh_l0.grad.detach().cpu().numpy().T  # [H, G*H], ours' layout
    x = jnp.asarray(xs.detach().cpu().numpy())

    def loss(p: Any) -> tuple[jax.Array, jax.Array]:
        ys = recurrent.unroll(cell, p, x)[1]
        return jnp.mean(ys**2), ys

    grads, ys = jax.jit(jax.grad(loss, has_aux=True))(params[0])
    diff_y = np.abs(np.asarray(ys) - ys_t.detach().cpu().numpy()).max()
    diff_g = np.abs(np.asarray(grads["recurrent_kernel"]) - grad_t).max()
    return float(max(diff_y, diff_g))


# ------------------------------------------------------------------------------ the report
def row(name: str, size: tuple[int, ...], peak: float, torch: Any) -> dict[str, Any]:
    b, t, d, h = size
    out: dict[str, Any] = {"cell": name, "size": f"B{b} T{t} D{d} H{h}"}
    fns = {"ours": ours(name, size, "custom")}
    peers = _PEERS.value
    if "torch" in peers and torch is not None:
        step, module, xs = torch_rnn(torch, name, size)
        out["check"] = agreement(torch, name, module, xs)
        fns["torch"] = step
    if "flax" in peers:
        fns["flax"] = flax_rnn(name, size)
    if "autodiff" in peers:
        fns["autodiff"] = ours(name, size, "autodiff")
    if "cudnn-jax" in peers and (fn := cudnn_jax(name, size)) is not None:
        fns["cudnn-jax"] = fn
    if "matmuls" in peers:
        fns["matmuls"] = matmul_floor.run_all(matmul_floor.programs((b, t, d, h), GATES[name]))
    times = round_robin_ms(fns, _REPEATS.value)
    out.update({key: statistics.median(ms) for key, ms in times.items()})
    pairs = [("ours", "torch"), ("ours", "flax"), ("matmuls", "torch"), ("matmuls", "flax"), ("ours", "matmuls")]
    for num, den in pairs:
        if num in times and den in times:
            out[f"{num}/{den}"] = ratio_quartiles(times[num], times[den])
    gflop = 3 * 2 * b * t * (d + h) * GATES[name] * h / 1e9
    out["gflops"] = gflop / (out["ours"] / 1e3)
    out["peak_pct"] = 100 * out["gflops"] / peak
    return out


def fmt(value: Any, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def fmt_ratio(quartiles: tuple[float, float, float] | None) -> str:
    """``median (q1-q3)``, or the median alone when the quartiles coincide (too few rounds). Two
    decimals, or two significant digits below 0.1, so that a small ratio does not print as 0.00."""
    if quartiles is None:
        return "-"

    def one(x: float) -> str:
        return f"{x:.2f}" if abs(x) >= 0.095 else f"{x:.2g}"

    q1, q2, q3 = quartiles
    return one(q2) if q1 == q3 else f"{one(q2)} ({one(q1)}-{one(q3)})"


def report(rows: list[dict[str, Any]], peak: float, extras: list[str], retained: bool) -> str:
    torch = _torch()
    device = jax.devices()[0].device_kind if jax.default_backend() == "gpu" else hardware()
    versions = f"jax {jax.__version__}"
    if torch is not None:
        versions += f", torch {torch.__version__}" + (
            f" (cuDNN {torch.backends.cudnn.version()})"
            if torch.cuda.is_available()
            else f" ({torch.get_num_threads()} threads)"
        )
    lines = [
        f"Device: {device}; {versions}; float32 matmul peak measured here: {peak:.0f} GFLOP/s.",
        f"Forward + backward of one layer, median ms of {_REPEATS.value} calls, timed round-robin (one call of "
        "each implementation per round, order rotated); ratios: median of the per-round ratios (interquartile "
        f"range); scan unroll {_UNROLL.value}; "
        + (
            "host memory retained between calls (glibc mallopt, for every implementation in the process)."
            if retained
            else "the C library's default malloc (freed host memory returned to the kernel)."
        ),
        "",
        "| cell | size | ours ms | GFLOP/s | % of peak | torch.nn ms | flax nn.RNN ms | autodiff ms | cudnn-jax ms "
        "| ours / torch | ours / flax | same-weights max diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio_t, ratio_f = fmt_ratio(r.get("ours/torch")), fmt_ratio(r.get("ours/flax"))
        lines.append(
            f"| {r['cell']} | {r['size']} | {r['ours']:.4g} | {r['gflops']:.0f} | {r['peak_pct']:.0f}% "
            f"| {fmt(r.get('torch'))} | {fmt(r.get('flax'))} | {fmt(r.get('autodiff'))} | {fmt(r.get('cudnn-jax'))} "
            f"| {ratio_t} | {ratio_f} | {fmt(r.get('check'), '.1e')} |"
        )
    if any("matmuls" in r for r in rows):
        lines += [
            "",
            "The layer gradient's matmuls alone, as separate XLA programs run one after another "
            "(benchmarks/matmul_floor.py), timed in the same rounds:",
            "",
            "| cell | size | matmuls ms | matmuls / torch | matmuls / flax | ours / matmuls |",
            "|---|---|---|---|---|---|",
        ]
        for r in (r for r in rows if "matmuls" in r):
            lines.append(
                f"| {r['cell']} | {r['size']} | {r['matmuls']:.4g} | {fmt_ratio(r.get('matmuls/torch'))} "
                f"| {fmt_ratio(r.get('matmuls/flax'))} | {fmt_ratio(r.get('ours/matmuls'))} |"
            )
    return "\n".join(lines) + "\n\n" + "\n\n".join(extras) + "\n"


def parse_sizes(texts: list[str]) -> list[tuple[int, int, int, int]]:
    """``--sizes`` entries ``BxTxDxH`` as positive ints; a bad entry is a one-line usage error."""
    sizes = []
    for text in texts:
        try:
            size = tuple(int(v) for v in text.lower().split("x"))
        except ValueError:
            size = ()
        if len(size) != 4 or min(size) < 1:
            raise app.UsageError(f"--sizes: {text!r} is not BxTxDxH with positive integers")
        sizes.append(size)
    return sizes


def main(argv: list[str]) -> None:
    del argv
    # Every flag is checked before anything is timed.
    sizes = parse_sizes(_SIZES.value)
    for name in _CELLS.value:
        if name not in GATES:
            raise app.UsageError(f"--cells: {name!r} is not one of {sorted(GATES)}")
    for peer in _PEERS.value:
        if peer not in PEERS:
            raise app.UsageError(f"--peers: {peer!r} is not one of {list(PEERS)}")
    retained = _RETAIN_HOST_MEMORY.value and hostmem.retain_freed_memory()  # before JAX or torch start threads
    torch = _torch()
    if torch is not None and not torch.cuda.is_available():
        torch.set_num_threads(os.cpu_count() or 1)
    peak = matmul_peak(_REPEATS.value)
    rows = []
    for size in sizes:
        for name in _CELLS.value:
            rows.append(row(name, size, peak, torch))
            print(rows[-1], flush=True)
    extras = []
    if _COMPILE.value:
        short, long = compile_seconds(10), compile_seconds(1000)
        extras.append(
            f"Compile time of the LSTM gradient (B32 D128 H256): T=10 {short:.2f} s, T=1000 {long:.2f} s "
            f"(ratio {long / short:.2f})."
        )
    if _MEMORY.value:
        extras.append("\n".join(memory_table()))
    if _LM_STEPS.value:
        custom, auto = (lm_tokens_per_second(_LM_STEPS.value, bw) for bw in ("custom", "autodiff"))
        extras.append(
            f"Char-LM small preset (2x256 LSTM, batch 64 x 100), {_LM_STEPS.value} training steps through the "
            f"harness: {custom:,.0f} tokens/s (autodiff backward: {auto:,.0f} tokens/s)."
        )
    text = report(rows, peak, extras, retained)
    print(text)
    if _TABLE.value:
        Path(_TABLE.value).parent.mkdir(parents=True, exist_ok=True)
        Path(_TABLE.value).write_text(text)


if __name__ == "__main__":
    app.run(main)
