"""benchmarks/processes.py: the drivers' child runs stop with their process groups."""

import signal
import subprocess
import sys

from benchmarks.processes import stop_groups


def spawn(code: str) -> subprocess.Popen:
    ready = "import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); "
    proc = subprocess.Popen(
        [sys.executable, "-c", ready + code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout.readline() == "ready\n"  # its handlers are installed before it is stopped
    return proc


def test_a_run_stops_on_sigterm_and_one_that_ignores_it_is_killed_after_the_grace():
    polite = spawn("import time; time.sleep(60)")
    stubborn = spawn("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)")
    done = spawn("pass")
    done.wait()
    stop_groups([polite, stubborn, done], grace=0.5)
    assert polite.returncode == -signal.SIGTERM
    assert stubborn.returncode == -signal.SIGKILL
    assert done.returncode == 0
