"""Character-level LSTM on the offline default corpus: Python's own standard library.

Runs on any machine with no download (``experiments/lm/data.py`` defines the corpus: sorted
``.py`` files, every 20th file to valid and to test). Variants ``default`` (configs/lm/char.py's small
2x256 LSTM recipe on the first 3M characters, 1,500 steps) and ``smoke`` (seconds).
"""

from configs.lm import common as lm_common

VARIANTS = ("default", "smoke")


def get_config(variant: str = "default"):
    config = lm_common.get_config()
    config.data.source = "stdlib"
    config.sample.prime = "def "
    if variant == "default":
        lm_common.char_lstm(config, **lm_common.SMALL_CHAR_LSTM, num_steps=1500)
        config.data.max_chars = 3_000_000
        config.train.update(eval_every=500, checkpoint_every=500)
    elif variant == "smoke":
        lm_common.smoke(config)
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/lm/stdlib.py (one of {', '.join(VARIANTS)})")
    return config
