"""XLA flags for the test processes: pytest's own (set in conftest.py) and the launchers they start."""

import os
import subprocess
import sys

# The suite mostly compiles many tiny programs, and XLA's CPU code generation is most of that
# time. Two flags cut it:
# - LLVM's optimisation level 0: tests/test_fused.py and tests/test_parallel.py took 48 s instead
#   of 66 s;
# - the older loop emitters for fusions instead of the MLIR fusion emitters
#   (`xla_cpu_use_fusion_emitters=false`): tests/test_recurrent.py and tests/test_cells.py took
#   56 s instead of 101 s on one core, and the whole suite 478 s instead of 703 s on two.
# The HLO passes (fusion, layout, buffer assignment) still run. Results may differ in the last
# bits (whether a multiply and an add are contracted into one FMA, how a loop is vectorised),
# which the tests' tolerances allow; tests that compare two runs bit for bit run both with the
# same flags. Benchmarks and real runs keep XLA's defaults.
FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")
_KNOWN = "RNN_RESEARCH_TEST_XLA_FLAGS"  # the probe's answer, inherited by the workers and launchers


def fast_compile() -> str:
    """The flags of ``FAST_COMPILE`` that this jaxlib knows (XLA aborts on an unknown flag, and
    one may be renamed or retired): probed once, in a subprocess, then kept in the environment."""
    if _KNOWN not in os.environ:
        all_known = _starts(" ".join(FAST_COMPILE))  # one probe when all are known, as usual
        os.environ[_KNOWN] = " ".join(f for f in FAST_COMPILE if all_known or _starts(f))
    return os.environ[_KNOWN]


def _starts(xla_flags: str) -> bool:
    """Whether a process with these ``XLA_FLAGS`` can start JAX's CPU backend."""
    probe = [sys.executable, "-c", "import jax; jax.devices()"]
    env = dict(os.environ, XLA_FLAGS=xla_flags, JAX_PLATFORMS="cpu")
    return subprocess.run(probe, env=env, capture_output=True, timeout=1800).returncode == 0  # a hang guard only


def flags(devices: int) -> str:
    """``XLA_FLAGS`` for a process with ``devices`` fake CPU devices."""
    return f"--xla_force_host_platform_device_count={devices} {fast_compile()}".strip()
