"""What a benchmark ran on, for result tables."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def hardware() -> str:
    """``<cpu model>, <n> cores`` (or the accelerator JAX would use), for result tables."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    pinned = f" (this process pinned to {usable})" if usable != os.cpu_count() else ""
    return f"{model}, {os.cpu_count()} cores{pinned}"
