"""XLA flags for the test processes: pytest's own (set in conftest.py) and the launchers they start."""

# The suite mostly compiles many tiny programs, and LLVM's optimisation passes are most of that
# time: at level 0 tests/test_fused.py and tests/test_parallel.py take 48 s instead of 66 s. The
# HLO passes (fusion, layout, buffer assignment) still run. Results may differ in the last bits
# (whether a multiply and an add are contracted into one FMA, how a loop is vectorised), which the
# tests' tolerances allow; tests that compare two runs bit for bit run both at the same level.
# Benchmarks and real runs keep the default level.
FAST_COMPILE = "--xla_backend_optimization_level=0"


def flags(devices: int) -> str:
    """``XLA_FLAGS`` for a process with ``devices`` fake CPU devices."""
    return f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}"
