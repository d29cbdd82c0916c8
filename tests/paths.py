"""Where the repository and the shared data sets are, for tests at any depth."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Seconds after which a test gives up on a process or a notebook cell. Only a hang guard: the
# tests bound their work in steps, never in time, so a busy machine is slow, not failing.
HANG = 1800
