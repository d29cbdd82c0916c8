"""rnn_research.preemption: the first signal is recorded, the second acts, handlers are restored."""

import os
import signal

import pytest

from rnn_research import preemption


def test_first_signal_sets_the_flag_and_handlers_are_restored(capsys):
    before = {sig: signal.getsignal(sig) for sig in preemption.SIGNALS}
    with preemption.StopSignals() as stop:
        assert stop.agreed() is None
        os.kill(os.getpid(), signal.SIGTERM)  # recorded, not fatal
        assert stop.signum == signal.SIGTERM and stop.agreed() == signal.SIGTERM
        assert "received SIGTERM: stopping at the next log step" in capsys.readouterr().err
    assert {sig: signal.getsignal(sig) for sig in preemption.SIGNALS} == before


def test_a_second_signal_acts_at_once():
    with pytest.raises(KeyboardInterrupt):
        with preemption.StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.signum == signal.SIGINT
            os.kill(os.getpid(), signal.SIGINT)  # Python's own handler: KeyboardInterrupt
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_stopped_names_the_signal_step_and_exit_status(tmp_path):
    e = preemption.Stopped(signal.SIGTERM, 40, tmp_path)
    assert e.exit_code == 143 and str(e).startswith("stopped by SIGTERM at step 40: a checkpoint is saved in ")
