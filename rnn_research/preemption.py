"""Stopping a training run cleanly on SIGTERM or SIGINT (preemption, ``kill``, Ctrl-C).

Cloud TPU VMs and batch schedulers send SIGTERM some seconds before they take a machine. Inside
:class:`StopSignals` (the harness's training loop), the first SIGTERM or SIGINT only sets a flag:
the loop goes on to the next log step (``train.log_every``, so that the logged averages of a
resumed run equal an uninterrupted run's), saves a checkpoint there and raises :class:`Stopped`,
which the launcher reports in one line with exit status ``128 + signal`` (143 for SIGTERM, 130
for SIGINT). Running the same command resumes exactly. A second signal stops at once, as
without the handler. With several processes, they agree at each log step (one small all-gather)
so that every host stops at the same step.

Handlers can only be installed from the main thread; elsewhere (a training loop in a worker
thread) signals keep their usual effect.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

import jax
import numpy as np

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
    """Training stopped at ``step`` on signal ``signum`` after saving a checkpoint there."""

    def __init__(self, signum: int, step: int, workdir: Any) -> None:
        self.signum, self.step, self.exit_code = signum, step, 128 + signum
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name} at step {step}: a checkpoint is saved in {workdir}; run the same command to resume"
        )


class StopSignals:
    """Context manager: the first SIGTERM/SIGINT is recorded in :attr:`signum`; a second acts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second signal: the usual effect, now
            previous = self._previous.get(signum, signal.SIG_DFL)
            self._restore()
            if callable(previous):
                previous(signum, frame)
            else:
                signal.raise_signal(signum)
            return
        self.signum = signum
        print(
            f"received {signal.Signals(signum).name}: stopping at the next log step with a checkpoint "
            "(send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def agreed(self) -> int | None:
        """The signal to stop on, the same on every process (a collective: call it on all of them)."""
        if jax.process_count() == 1:
            return self.signum
        from jax.experimental import multihost_utils

        mine = np.int32(self.signum or 0)
        every = np.asarray(multihost_utils.process_allgather(mine))
        return int(every.max()) or None
