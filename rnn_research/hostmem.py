"""Keep freed host memory for reuse, so that XLA:CPU's buffers are not page-faulted in afresh at every call.

XLA:CPU allocates each call's temporary buffer (hundreds of MiB for a recurrent layer's gradient:
the gate activations of every step) and its outputs with ``malloc`` and frees them when the call
ends. With glibc's defaults, blocks this large are ``mmap``-ed and given back to the kernel on
``free`` (in XLA's worker threads' arenas, large blocks are ``mmap``-ed whatever the threshold),
so every call touches fresh pages, and the kernel zeroes each one on first write. Measured on the
development VM (2 cores): first-touch writes run at 0.46 GB/s against 30 GB/s for warm memory;
the LSTM gradient at B32 T100 D128 H256 page-faults 51 MiB in at every call, and took 47.4 ms
against 36.4 ms with the memory retained (``benchmarks/rnn_speed.py``, one run each; 58.7 against
35.5 ms in an earlier pair; the README's "Host memory on the CPU" has the table).

:func:`retain_freed_memory` sets glibc's ``mallopt`` so that freed memory stays in the process
for the next call: one malloc arena for every thread, no ``mmap``-ed blocks, and no trimming
while less than 2 GiB is free at the top of the heap (``mallopt`` takes an ``int``). The costs:
the process keeps its peak heap, one-off peaks included (a training loop reaches the same peak at
every step anyway); every thread takes the same arena's lock; ``calloc`` can no longer hand out
fresh zero pages, so it writes the zeros.

It must run before JAX starts its backend (XLA's threads pick their arena on their first
allocation): ``python -m experiments.main`` and the benchmarks call it first thing
(``--noretain_host_memory`` turns it off); in a notebook, call it before the first JAX
computation. It changes nothing on other C libraries (macOS, musl), where it returns ``False``.
"""

from __future__ import annotations

import ctypes
import sys

from absl import logging

# glibc's <malloc.h> parameter numbers
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
M_ARENA_MAX = -8

SETTINGS = (  # (parameter, values tried in turn until one is accepted)
    (M_ARENA_MAX, (1,)),  # every thread allocates from the main (brk) heap, which keeps freed blocks
    (M_MMAP_MAX, (0,)),  # no block is mmap-ed (munmap-ed blocks come back as fresh pages)
    # A fixed threshold above any buffer instead of the dynamic one: with 32 MiB, the B128 LSTM
    # gradient still faulted 80 MiB in per call. Older glibc (2.31, for one) accepts 32 MiB at most.
    (M_MMAP_THRESHOLD, (1 << 30, 32 << 20)),
    (M_TRIM_THRESHOLD, ((1 << 31) - 1,)),  # keep up to 2 GiB free at the top of the heap
)


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it)
        return libc
    except (OSError, AttributeError):
        return None


def glibc_version() -> str | None:
    """The running glibc's version, or ``None`` under another C library."""
    libc = _glibc()
    if libc is None:
        return None
    libc.gnu_get_libc_version.restype = ctypes.c_char_p
    return libc.gnu_get_libc_version().decode()


def _backend_started() -> bool:
    """Whether JAX has started a backend (a private API: ``False`` where it is missing)."""
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):
        return False


def retain_freed_memory() -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse (see the module docstring).

    Returns ``True`` when every setting was accepted; ``False`` on another C library (nothing is
    changed there) or when glibc refused one (the others still apply; a warning names it). Logs a
    warning when JAX's backend is already running: its threads keep the arenas they have, so large
    buffers they allocate are still ``mmap``-ed afresh.
    """
    libc = _glibc()
    if libc is None:
        return False
    if _backend_started():
        logging.warning(
            "retain_freed_memory() called after JAX started its backend; call it before the first JAX "
            "computation for the full effect"
        )
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    refused = [(param, values) for param, values in SETTINGS if not any(libc.mallopt(param, v) == 1 for v in values)]
    if refused:
        logging.warning("glibc's mallopt refused %s; freed host memory is only partly retained", refused)
    return not refused
