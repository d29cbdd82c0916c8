"""Character-level LSTM on one text file (tiny shakespeare by default protocol: 90/10 split).

``--config.data.path=FILE`` (e.g. ``data/tinyshakespeare/input.txt``). Targets
(docs/experiments/lm.md): nanoGPT's CPU transformer reaches 1.88 validation nats/char,
its 10.7M-parameter GPU model 1.4697.

Variants: ``small`` (2x256 LSTM; 2-core CPU, under 15 minutes), ``medium`` (2x512 LSTM with
dropout; 2-core CPU, about an hour), ``large`` (3x512 LSTM with dropout, for a GPU: hours on a
CPU), ``smoke`` (seconds, on the offline stdlib corpus).
"""

from configs.lm import common as lm_common

VARIANTS = ("small", "medium", "large", "smoke")


def get_config(variant: str = "small"):
    config = lm_common.get_config()
    config.data.source = "text"
    config.sample.prime = "ROMEO:\n"
    if variant == "small":
        lm_common.char_lstm(config, **lm_common.SMALL_CHAR_LSTM, num_steps=2400)
        config.train.update(eval_every=400, checkpoint_every=400)
    elif variant == "medium":
        lm_common.char_lstm(
            config,
            hidden_size=512,
            num_layers=2,
            dropout=0.25,
            learning_rate=2e-3,
            min_learning_rate=1e-4,
            num_steps=2500,
        )
        config.train.update(eval_every=250, checkpoint_every=250)
    elif variant == "large":
        lm_common.char_lstm(
            config,
            hidden_size=512,
            num_layers=3,
            dropout=0.25,
            learning_rate=2e-3,
            min_learning_rate=1e-4,
            num_steps=8000,
        )
        config.model.embed_size = 128
        config.data.num_steps = 128
        config.optim.warmup_steps = 200
        config.train.update(eval_every=500, checkpoint_every=500)
    elif variant == "smoke":
        lm_common.smoke(config)
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/lm/char.py (one of {', '.join(VARIANTS)})")
    return config
