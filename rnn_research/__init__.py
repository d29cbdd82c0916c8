"""rnn_research: recurrent networks as pure JAX functions, with Flax layers over them.

Notebook API::

    from rnn_research import cells, recurrent, layers
"""

from rnn_research import cells, layers, recurrent

__all__ = ["cells", "layers", "recurrent"]
__version__ = "0.1.0"
