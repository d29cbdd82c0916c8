"""The extra sections of ``benchmarks/rnn_speed.py``'s report: compile time against sequence
length, compiled peak memory with and without remat, and the char-LM preset's training tokens/s."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp


def compile_seconds(time_steps: int, repeats: int = 3) -> float:
    """Median seconds to trace, lower and compile the LSTM gradient afresh (after one warm-up)."""
    from rnn_research import cells, recurrent

    cell = cells.LSTM(256)
    params = cell.init(jax.random.key(0), 128)
    xs = jnp.zeros((32, time_steps, 128))
    times = []
    for _ in range(repeats + 1):
        grad = jax.jit(jax.grad(lambda p, x: jnp.mean(recurrent.unroll(cell, p, x)[1] ** 2), argnums=(0, 1)))
        start = time.perf_counter()
        grad.lower(params, xs).compile()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def memory_table() -> list[str]:
    """XLA's peak temporary memory (buffer assignment of the compiled gradient, no run) of the
    LSTM B32 D128 H256 gradient, with and without remat, for both backward passes."""
    from rnn_research import cells, recurrent

    cell = cells.LSTM(256)
    params = cell.init(jax.random.key(0), 128)
    lines = [
        "Peak temporary memory of the compiled LSTM gradient (B32 D128 H256; arguments and results, i.e. inputs, "
        "parameters and the returned gradients, not counted), MiB:",
        "",
        "| backward | remat | T = 1,000 | T = 10,000 |",
        "|---|---|---|---|",
    ]
    for backward in ("custom", "autodiff"):
        for remat in (False, True):
            mib = []
            for time_steps in (1000, 10000):
                xs = jax.ShapeDtypeStruct((32, time_steps, 128), jnp.float32)

                def loss(p: Any, x: jax.Array, remat: bool = remat, backward: str = backward) -> jax.Array:
                    return jnp.mean(recurrent.unroll(cell, p, x, remat=remat, backward=backward)[1] ** 2)

                compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(params, xs).compile()
                mib.append(compiled.memory_analysis().temp_size_in_bytes / 2**20)
            label = "every ceil(sqrt(T)) steps" if remat else "no"
            lines.append(f"| {backward} | {label} | {mib[0]:,.1f} | {mib[1]:,.1f} |")
    return lines


def lm_tokens_per_second(steps: int, backward: str) -> float:
    """Training tokens/s of configs/lm/char.py:small through the harness's train step."""
    import tempfile

    from configs.lm import char as lm_char
    from experiments.lm import task as lm
    from rnn_research import train

    config = lm_char.get_config("small")
    config.model.backward = backward
    config.data.path = ""  # the offline stdlib corpus: the step's cost does not depend on the text
    config.data.update(source="stdlib", max_chars=1_000_000)
    with tempfile.TemporaryDirectory() as workdir:
        harness = train.Harness(config, Path(workdir), lm)
        batch = harness.shard(next(iter(harness.train_batches(0))))
        state = harness.init_state(batch)
        step = harness.make_train_step()
        state, _ = step(state, batch)  # compile
        jax.block_until_ready(state)
        start = time.perf_counter()
        for _ in range(steps):
            state, _ = step(state, batch)
        jax.block_until_ready(state)
        seconds = time.perf_counter() - start
    tokens = config.train.batch_size * config.data.num_steps
    return tokens * steps / seconds
