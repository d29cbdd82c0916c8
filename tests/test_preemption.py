"""rnn_research.preemption: the first signal is recorded, the second acts, handlers are restored."""

import signal

import pytest

from rnn_research import preemption


@pytest.fixture
def python_handlers():
    """SIGINT and SIGTERM as a plain Python process has them, whatever this test process had
    before (pytest-xdist's workers ignore SIGINT), restored afterwards."""
    previous = {sig: signal.getsignal(sig) for sig in preemption.SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def test_first_signal_sets_the_flag_and_handlers_are_restored(python_handlers, capfd):
    before = {sig: signal.getsignal(sig) for sig in preemption.SIGNALS}
    with preemption.StopSignals() as stop:
        assert stop.should_stop(1, log_step=False) is None
        signal.raise_signal(signal.SIGTERM)  # recorded, not fatal
        assert stop.signum == signal.SIGTERM and stop.should_stop(2, log_step=False) == signal.SIGTERM
        assert "received SIGTERM: stopping after this step with a checkpoint" in capfd.readouterr().err
    assert {sig: signal.getsignal(sig) for sig in preemption.SIGNALS} == before


def test_a_second_signal_acts_at_once(python_handlers):
    # raise_signal runs the handler before it returns (os.kill(getpid()) leaves the signal to
    # whichever thread the kernel picks).
    with pytest.raises(KeyboardInterrupt):
        with preemption.StopSignals() as stop:
            signal.raise_signal(signal.SIGINT)
            assert stop.signum == signal.SIGINT
            signal.raise_signal(signal.SIGINT)  # Python's own handler: KeyboardInterrupt
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_disabled_and_ignored_signals_are_left_alone(python_handlers):
    before = signal.getsignal(signal.SIGTERM)
    with preemption.StopSignals(enabled=False) as stop:  # train_and_evaluate's default (notebooks)
        assert signal.getsignal(signal.SIGTERM) is before and stop.should_stop(1, log_step=True) is None
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # e.g. a background job's
    with preemption.StopSignals():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_stopped_is_not_an_exception_and_names_signal_step_and_status(tmp_path):
    e = preemption.Stopped(signal.SIGTERM, 40, tmp_path)
    assert not isinstance(e, Exception) and e.exit_code == 143
    assert str(e).startswith("stopped by SIGTERM at step 40: a checkpoint is saved in ")
