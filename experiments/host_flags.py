"""``--retain_host_memory``, shared by the launcher and ``benchmarks/rnn_speed.py``: defined once per
process (a program importing both gets one flag), and here rather than in ``rnn_research``, which
reads no flags."""

from absl import flags

RETAIN_HOST_MEMORY = flags.DEFINE_bool(
    "retain_host_memory", True, "Keep freed host memory for XLA's next call (glibc; rnn_research/hostmem.py)."
)
