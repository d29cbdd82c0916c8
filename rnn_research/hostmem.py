"""Keep freed host memory for reuse, so that XLA:CPU's buffers are not page-faulted in afresh at every call.

XLA:CPU allocates each call's temporary buffer (hundreds of MiB for a recurrent layer's gradient:
the gate activations of every step) and its outputs with ``malloc`` and frees them when the call
ends. With glibc's defaults, blocks this large are ``mmap``-ed and given back to the kernel on
``free`` (and XLA's worker threads, each with its own malloc arena, get theirs ``mmap``-ed
whatever the size), so every call touches fresh pages, and the kernel zeroes each one on first
write. Measured on the development VM (2 cores): first-touch writes run at 0.46 GB/s against
30 GB/s for warm memory; the LSTM gradient at B32 T100 D128 H256 page-faults 51 MiB in at every
call, and takes 53 ms against 41 ms with the memory retained (``benchmarks/rnn_speed.py``; the
README's "Host memory on the CPU" has the table).

:func:`retain_freed_memory` sets glibc's ``mallopt`` so that freed memory stays in the process
for the next call: one malloc arena for every thread, no ``mmap``-ed blocks, no trimming. The
process then keeps its peak heap size (a training loop reaches that peak at every step anyway).
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

SETTINGS = (
    (M_ARENA_MAX, 1),  # every thread allocates from the main (brk) heap, which keeps freed blocks
    (M_MMAP_MAX, 0),  # no block is mmap-ed (munmap-ed blocks come back as fresh pages)
    (M_MMAP_THRESHOLD, 1 << 30),  # and no dynamic threshold
    (M_TRIM_THRESHOLD, (1 << 31) - 1),  # never give the top of the heap back to the kernel
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

    Returns ``True`` when every setting was accepted, ``False`` on another C library (nothing is
    changed there). Logs a warning when JAX's backend is already running: its threads keep the
    arenas they have, so large buffers they allocate are still ``mmap``-ed afresh.
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
    accepted = [libc.mallopt(param, value) == 1 for param, value in SETTINGS]  # every one, even after a refusal
    return all(accepted)
