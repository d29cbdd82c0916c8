"""Character-level LSTM on the offline default corpus: Python's own standard library.

Runs on any machine with no download (``experiments/lm_data.py`` defines the corpus: sorted
``.py`` files, every 20th file to valid and to test). Variants ``default`` (2x256 LSTM, about
10 minutes on 2 CPU cores) and ``smoke`` (seconds).
"""

from configs import lm_common


def get_config(variant: str = "default"):
    config = lm_common.get_config()
    config.data.source = "stdlib"
    config.data.level = "char"
    config.model.cell = "lstm"
    config.optim.name = "adam"
    config.optim.clip_norm = 5.0
    config.sample.prime = "def "
    if variant == "default":
        config.data.max_chars = 3_000_000
        config.model.hidden_size = 256
        config.model.embed_size = 64
        config.data.num_steps = 100
        config.train.batch_size = 64
        config.optim.learning_rate = 3e-3
        config.optim.schedule = "warmup_cosine"
        config.optim.warmup_steps = 100
        config.optim.min_learning_rate = 3e-4
        config.train.num_steps = 1500
        config.train.eval_every = 500
        config.train.checkpoint_every = 500
    elif variant == "smoke":
        config.data.max_chars = 60_000
        config.model.hidden_size = 32
        config.model.num_layers = 1
        config.data.num_steps = 16
        config.train.batch_size = 16
        config.optim.learning_rate = 1e-2
        config.train.num_steps = 40
        config.train.eval_every = 20
        config.train.checkpoint_every = 20
        config.train.log_every = 10
        config.sample.length = 40
    else:
        raise ValueError(f"unknown variant {variant!r} of lm_stdlib (default, smoke)")
    return config
