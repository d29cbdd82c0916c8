"""Test setup: 8 fake CPU devices, strict numerics and a compilation cache, set before JAX is imported."""

import atexit
import os
import shutil
import tempfile

# Many tests build the same programs again (every train_and_evaluate call jits its own step
# functions, and the launcher tests start a fresh process per run), so XLA's compiled programs
# are kept in a persistent cache for this session: an identical program (same HLO, options and
# devices) is loaded instead of compiled again. The cache is new for each session and removed
# at exit; the launcher subprocesses share it through the environment. A developer's own
# JAX_COMPILATION_CACHE_DIR is respected.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="rnn_research_xla_cache_")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # cache every program

from tests import xla  # noqa: E402 (no JAX import in it)

os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), xla.flags(8)]).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_configure(config):
    """CI sets RNN_RESEARCH_REQUIRE_TORCH=1 so the PyTorch parity tests cannot silently skip."""
    if os.environ.get("RNN_RESEARCH_REQUIRE_TORCH") == "1":
        try:
            import torch  # noqa: F401
        except ImportError as e:
            raise RuntimeError("RNN_RESEARCH_REQUIRE_TORCH=1 but torch is not installed") from e
