"""The data toolkit every experiment shares, free of JAX so loaders import it cheaply.

* :mod:`rnn_research.data.fields` -- parsers for config values that name data (``comma_list``).
* :mod:`rnn_research.data.vocab` -- the one vocabulary (pad/unk/bos/eos/blank), one JSON format.
* :mod:`rnn_research.data.tokenize` -- tokenisers by name (chars, words, sst, kmers:K).
* :mod:`rnn_research.data.batching` -- buckets, padding, seeded epoch plans, step streams, host rows.
* :mod:`rnn_research.data.utf8` -- bytes from data sets decoded with one-line errors.
"""
