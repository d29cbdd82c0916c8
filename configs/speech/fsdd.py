"""The Free Spoken Digit Dataset (github.com/Jakobovski/free-spoken-digit-dataset):
``--config.data.path=DIR/free-spoken-digit-dataset`` (or its ``recordings/``).

``connected`` (default): utterances of 3 to 7 recordings of one split joined with random gaps
and levels (``experiments/speech/fsdd.py`` states the rule), scored by the digit error rate; the
eval set ``isolated`` also scores the test split's single recordings. ``speaker``: the same with
speakers held out (``data.test_speakers``, ``data.valid_speakers``) instead of the official take
split. ``isolated``: one recording an utterance.

Variants: ``connected``, ``speaker``, ``isolated``, ``smoke``.
"""

from configs.speech import common as speech_common

VARIANTS = ("connected", "speaker", "isolated", "smoke")


def get_config(variant: str = "connected"):
    config = speech_common.get_config()
    config.data.update(source="fsdd", num_train=3000, num_valid=300, num_test=600, min_symbols=3, max_symbols=7)
    config.model.subsample = 3  # utterances of ~3 s: 100 RNN steps, not 300
    if variant == "connected":
        pass
    elif variant == "speaker":
        config.data.split = "speaker"
    elif variant == "isolated":
        config.data.task = "isolated"
    elif variant == "smoke":
        speech_common.smoke(config)
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/speech/fsdd.py (one of {', '.join(VARIANTS)})")
    return config
