"""The data toolkit every experiment shares, free of JAX so loaders import it cheaply.

* :mod:`rnn_research.data.fields` -- parsers for config values that name data (``comma_list``).
"""
