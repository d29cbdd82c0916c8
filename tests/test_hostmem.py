"""rnn_research.hostmem: with retention, XLA's large per-call buffers stop being page-faulted in afresh."""

import json
import os
import statistics
import subprocess
import sys

import pytest

from rnn_research import hostmem
from tests import xla

# Each call stacks a scan's outputs in a 64 MiB temporary buffer (as the recurrences' gradients do).
SCRIPT = """
import json, resource, sys
from rnn_research import hostmem
applied = hostmem.retain_freed_memory() if sys.argv[1] == "retain" else None
import jax, jax.numpy as jnp
f = jax.jit(lambda x: jax.lax.scan(lambda c, _: (c + 1.0, jnp.sin(c)), x, length=64)[1].sum(0))
x = jnp.ones((2**18,), jnp.float32)
f(x).block_until_ready()
faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    f(x).block_until_ready()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "faults": faults}))
"""

PAGES_64MIB = 64 * 2**20 // 4096


def run(mode: str) -> dict:
    environ = dict(os.environ, XLA_FLAGS=xla.flags(1), JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(hostmem.glibc_version() is None, reason="mallopt settings are glibc's")
def test_retained_memory_is_reused_without_page_faults():
    default, retained = run("default"), run("retain")
    # Without retention the 64 MiB buffer is mmap-ed, and zeroed by the kernel page by page, at
    # every call; with it, the freed block is reused (the heap may still grow now and then, when a
    # call's buffers overlap the previous call's in time).
    assert retained["applied"] is True
    assert min(default["faults"]) > PAGES_64MIB // 2, default
    assert statistics.median(retained["faults"]) < PAGES_64MIB // 64, retained


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert hostmem.retain_freed_memory() is False and hostmem.glibc_version() is None
