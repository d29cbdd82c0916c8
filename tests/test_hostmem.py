"""rnn_research.hostmem: with retention, large freed blocks are reused instead of page-faulted in afresh."""

import json
import logging
import os
import pathlib
import subprocess
import sys

import jax
import pytest

from rnn_research import hostmem
from tests import xla
from tests.paths import HANG

# A fresh process: retention must be set before JAX starts its threads.
SCRIPT = """
import ctypes, json, resource, sys
from rnn_research import hostmem
applied = hostmem.retain_freed_memory() if sys.argv[1] == "retain" else None

def faults(call, times):
    counts = []
    for _ in range(times):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        call()
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return counts

# malloc, write and free 64 MiB in this thread: glibc's own behaviour, deterministic.
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, (ctypes.c_size_t,), (ctypes.c_void_p,)
def block():
    p = libc.malloc(64 * 2**20); ctypes.memset(p, 1, 64 * 2**20); libc.free(p)
malloc_faults = faults(block, 4)

# XLA: each call stacks a scan's outputs in a 64 MiB temporary buffer, as the recurrences' gradients do.
import jax, jax.numpy as jnp
f = jax.jit(lambda x: jax.lax.scan(lambda c, _: (c + 1.0, jnp.sin(c)), x, length=64)[1].sum(0))
x = jnp.ones((2**18,), jnp.float32)
f(x).block_until_ready()
xla_faults = faults(lambda: f(x).block_until_ready(), 8)
print(json.dumps({"applied": applied, "malloc": malloc_faults, "xla": xla_faults}))
"""

PAGES_64MIB = 64 * 2**20 // 4096
ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(mode: str) -> dict:
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], env=environ, capture_output=True, text=True, timeout=HANG
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(hostmem.glibc_version() is None, reason="mallopt settings are glibc's")
def test_retained_memory_is_reused_without_page_faults():
    default, retained = run("default"), run("retain")
    assert retained["applied"] is True
    # Without retention a 64 MiB block is mmap-ed, and the kernel zeroes it page by page, at every
    # use; with it, the freed block stays in the heap and the next malloc reuses it.
    assert min(default["malloc"]) > PAGES_64MIB // 2, default
    assert retained["malloc"][0] > PAGES_64MIB // 2 and max(retained["malloc"][1:]) < PAGES_64MIB // 64, retained
    # Under XLA the same holds once the heap has grown to the calls' peak; it may still grow now
    # and then (when a call's buffers overlap the previous call's in time), so compare the totals.
    assert min(default["xla"]) > PAGES_64MIB // 2, default
    assert sum(retained["xla"]) < sum(default["xla"]) / 2, (retained, default)


class FakeGlibc:
    """Records mallopt calls; refuses the given (parameter, value) pairs."""

    def __init__(self, refuse):
        self.calls = []

        def mallopt(param, value):
            self.calls.append((param, value))
            return 0 if (param, value) in refuse else 1

        self.mallopt = mallopt  # a plain function: hostmem sets its argtypes, as on a ctypes function


def test_every_setting_is_tried_and_a_late_call_is_reported(monkeypatch, caplog):
    arena, no_mmap, trim = (-8, 1), (-4, 0), (-1, 2**31 - 1)
    big, small = (-3, 2**30), (-3, 2**25)
    libc = FakeGlibc(refuse={big})  # older glibc (2.31, for one) refuses a threshold above 32 MiB
    monkeypatch.setattr(hostmem, "_glibc", lambda: libc)
    jax.numpy.zeros(1).block_until_ready()  # the backend has started in this process
    with caplog.at_level(logging.WARNING):
        assert hostmem.retain_freed_memory() is True  # 32 MiB was accepted instead
    assert libc.calls == [arena, no_mmap, big, small, trim]
    assert "after JAX started its backend" in caplog.text and "refused" not in caplog.text
    libc = FakeGlibc(refuse={big, small})
    monkeypatch.setattr(hostmem, "_glibc", lambda: libc)
    assert hostmem.retain_freed_memory() is False
    assert libc.calls == [arena, no_mmap, big, small, trim]  # the later setting was still applied
    assert "mallopt refused [(-3, " in caplog.text


def test_the_launcher_and_the_benchmark_share_one_flag():
    # In a fresh process: every benchmark script defines its own --table, so two of them cannot
    # share one; the launcher and rnn_speed share --retain_host_memory, defined once.
    code = (
        "from absl import flags; from experiments import main; from benchmarks import rnn_speed; "
        "from experiments import host_flags; "
        "assert main._RETAIN_HOST_MEMORY.name == rnn_speed._RETAIN_HOST_MEMORY.name == 'retain_host_memory'; "
        "assert flags.FLAGS['retain_host_memory'].default is True; print('shared')"
    )
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=HANG
    )
    assert done.returncode == 0 and done.stdout.strip() == "shared", done.stderr[-2000:]


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert hostmem.retain_freed_memory() is False and hostmem.glibc_version() is None
