"""Test setup: 8 fake CPU devices and strict numerics, set before JAX is imported."""

import os

os.environ["XLA_FLAGS"] = " ".join(
    [os.environ.get("XLA_FLAGS", ""), "--xla_force_host_platform_device_count=8"]
).strip()
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
