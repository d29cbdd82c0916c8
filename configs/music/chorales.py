"""The offline default: generated four-part chord progressions (no download).

``experiments/music/generated.py`` states the rule: a major key, diatonic triads chained by a
fixed table of functional harmony and ending V-I, each voiced as a bass root and three close
upper voices led smoothly from chord to chord. 400 pieces, split 80/10/10 by ``data.split_seed``.
The notes of a chord are fully determined by each other given the chord, which the ``nade`` head
can model and the ``bernoulli`` head cannot: the gap between the two is the point of the set.

Variants: ``bernoulli`` (default), ``nade``, ``smoke``.
"""

from configs.music import common as music_common

VARIANTS = ("bernoulli", "nade", "smoke")


def get_config(variant: str = "bernoulli"):
    config = music_common.get_config()
    config.data.update(source="generated", frames_per_beat=1)
    config.model.update(hidden_size=128)
    config.train.update(num_epochs=100)
    if variant == "bernoulli":
        pass
    elif variant == "nade":
        config.model.head = "nade"
    elif variant == "smoke":
        music_common.smoke(config)
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/music/chorales.py (one of {', '.join(VARIANTS)})")
    return config
