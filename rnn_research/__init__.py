"""rnn_research: recurrent networks as pure JAX functions, with Flax layers over them.

Notebook API::

    from rnn_research import cells, recurrent, layers

Submodules load on first use (PEP 562), so ``import rnn_research.io`` or the data toolkit does
not pull in JAX.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["cells", "layers", "recurrent"]
__version__ = "0.1.0"


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        return importlib.import_module(f"rnn_research.{name}")
    raise AttributeError(f"module 'rnn_research' has no attribute {name!r}")
