"""Character-level LSTM on one text file (tiny shakespeare by default protocol: 90/10 split).

``--config.data.path=FILE`` (e.g. ``../shared/data/tinyshakespeare/input.txt``). Targets
(``../shared/docs/TARGETS.md``): nanoGPT's CPU transformer reaches 1.88 validation nats/char,
its 10.7M-parameter GPU model 1.4697.

Variants: ``small`` (2x256 LSTM; 2-core CPU, under 15 minutes), ``medium`` (2x512 LSTM with
dropout; 2-core CPU, about an hour), ``large`` (3x512 LSTM with dropout, for a GPU: hours on a
CPU), ``smoke`` (seconds, on the offline stdlib corpus).
"""

from configs import lm_common


def get_config(variant: str = "small"):
    config = lm_common.get_config()
    config.data.source = "text"
    config.data.level = "char"
    config.model.cell = "lstm"
    config.optim.name = "adam"
    config.optim.clip_norm = 5.0
    config.sample.prime = "ROMEO:\n"

    if variant == "small":
        config.model.hidden_size = 256
        config.model.num_layers = 2
        config.model.embed_size = 64
        config.data.num_steps = 100
        config.train.batch_size = 64
        config.optim.learning_rate = 3e-3
        config.optim.schedule = "warmup_cosine"
        config.optim.warmup_steps = 100
        config.optim.min_learning_rate = 3e-4
        config.train.num_steps = 2400
        config.train.eval_every = 400
        config.train.checkpoint_every = 400
        config.train.log_every = 50
    elif variant == "medium":
        config.model.hidden_size = 512
        config.model.num_layers = 2
        config.model.embed_size = 64
        config.model.dropout = 0.25
        config.data.num_steps = 100
        config.train.batch_size = 64
        config.optim.learning_rate = 2e-3
        config.optim.schedule = "warmup_cosine"
        config.optim.warmup_steps = 100
        config.optim.min_learning_rate = 1e-4
        config.train.num_steps = 2500
        config.train.eval_every = 250
        config.train.checkpoint_every = 250
        config.train.log_every = 50
    elif variant == "large":
        config.model.hidden_size = 512
        config.model.num_layers = 3
        config.model.embed_size = 128
        config.model.dropout = 0.25
        config.data.num_steps = 128
        config.train.batch_size = 64
        config.optim.learning_rate = 2e-3
        config.optim.schedule = "warmup_cosine"
        config.optim.warmup_steps = 200
        config.optim.min_learning_rate = 1e-4
        config.train.num_steps = 8000
        config.train.eval_every = 500
        config.train.checkpoint_every = 500
        config.train.log_every = 50
    elif variant == "smoke":
        config.data.source = "stdlib"
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
        raise ValueError(f"unknown variant {variant!r} of lm_char (small, medium, large, smoke)")
    return config
