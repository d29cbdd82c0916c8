"""Stopping a training run cleanly on SIGTERM or SIGINT (preemption, ``kill``, Ctrl-C).

Cloud TPU VMs and batch schedulers send SIGTERM some seconds before they take a machine. The
launcher trains with ``stop_on_signals=True``: inside the training loop (:class:`StopSignals`),
the first SIGTERM or SIGINT only sets a flag, the step in flight finishes, a checkpoint is saved
at that step (with the partial averages of the current log interval, so that a resumed run logs
exactly what an uninterrupted one does) and :class:`Stopped` is raised. The launcher reports it
in one line and ends by that signal (shells see status 143 for SIGTERM, 130 for SIGINT, and a
``for`` loop of runs stops on Ctrl-C). Running the same command resumes exactly. A second signal
acts at once, as without the handler, once Python regains control (a compile or a device wait
in native code finishes first). A signal before the loop starts (data loading, restore) has its
usual effect; one after training ends skips the final evaluation, which the resumed run redoes.

With several processes (``jax.distributed``), JAX's own preemption service catches SIGTERM, and
every process asks :func:`jax.experimental.multihost_utils.reached_preemption_sync_point` at
each log step, so that all of them stop at the same step; no Python handler is installed then.
Called from a notebook or a library (``stop_on_signals=False``, the default of
:func:`rnn_research.train.train_and_evaluate`), signals keep their usual effect.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

import jax

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):
    """Training stopped at ``step`` on signal ``signum`` after saving a checkpoint there.

    A ``BaseException``, like ``KeyboardInterrupt``: ``except Exception`` does not swallow it.
    """

    def __init__(self, signum: int, step: int, workdir: Any) -> None:
        self.signum, self.step, self.exit_code = signum, step, 128 + signum
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name} at step {step}: a checkpoint is saved in {workdir}; run the same command to resume"
        )


class StopSignals:
    """Context manager: the first SIGTERM/SIGINT is recorded in :attr:`signum`; a second acts at once.

    ``enabled=False``, or more than one process: no handler is installed (see the module docstring).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.multiprocess = jax.process_count() > 1
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if self.enabled and not self.multiprocess and threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:  # e.g. SIGINT of a background job
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
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
        note = f"received {signal.Signals(signum).name}: stopping after this step with a checkpoint (send it again to stop at once)\n"
        os.write(2, note.encode())  # not print(): the signal may have interrupted a write to stderr

    def should_stop(self, step: int, log_step: bool) -> int | None:
        """The signal to stop on after ``step``, or None. With several processes, a collective
        at every log step (``log_step``), the same answer on every process."""
        if not self.enabled:
            return None
        if not self.multiprocess:
            return self.signum
        if not log_step:
            return None
        from jax.experimental import multihost_utils

        return signal.SIGTERM if multihost_utils.reached_preemption_sync_point(step) else None


def end_by_signal(signum: int) -> None:
    """Ends the process by ``signum`` with its default action, as if no handler had caught it."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
