"""Child runs of the benchmark drivers (sweeps, cross-validation): stopping them cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence


def stop_groups(procs: Sequence[subprocess.Popen], grace: float = 30.0) -> None:
    """SIGTERM to the process group of every process still running (the harness saves a
    checkpoint and stops), then SIGKILL to those alive ``grace`` seconds later. Each process must
    lead its own group (``start_new_session=True``), so that its children stop with it."""
    alive = [p for p in procs if p.poll() is None]
    for proc in alive:
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.perf_counter() + grace
    for proc in alive:
        try:
            proc.wait(timeout=max(0.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
